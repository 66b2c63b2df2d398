//! A repository kept in a directory with its signing keys: the layout `tomoe
//! ota repo` maintains, and key rotation on it.
//!
//! The TUF metadata is at the top of the directory, the images under
//! [`TARGETS_DIR`](crate::TARGETS_DIR) (image repository only), and the keys under
//! `keys/`: `keys/<role>.pem` (PKCS#8 PEM, mode 0600), `keys/repository.json` (its
//! kind and metadata lifetime), `keys/retired/` (keys replaced by a rotation) and
//! `keys/delegated/<role>.pem` (keys of delegated targets roles made here; a
//! tenant may keep its key elsewhere and give it to each command).
//! A server must never serve `keys/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::delegation::TOP_LEVEL_TARGETS;
use crate::keys::{generate_key, key_id, read_key, write_key};
use crate::metadata::{DelegatedRole, KeyId, RoleName, TargetFile, UptaneCustom};
use crate::repository::{Lifetimes, Repository, RepositoryConfig, RoleConfig};
use crate::OtaError;

/// The directory of the keys, in a repository directory.
pub const KEYS_DIR: &str = "keys";
const SETTINGS_FILE: &str = "repository.json";
const ROLES: [RoleName; 4] = [
    RoleName::Root,
    RoleName::Targets,
    RoleName::Snapshot,
    RoleName::Timestamp,
];

/// What a repository is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepositoryKind {
    /// The image repository: every image the vehicles may run.
    Image,
    /// A director repository (one per vehicle): assigns images to its ECUs.
    Director,
}

impl RepositoryKind {
    /// `image` or `director`.
    pub fn as_str(self) -> &'static str {
        match self {
            RepositoryKind::Image => "image",
            RepositoryKind::Director => "director",
        }
    }
}

/// What `init` records next to the keys for the later commands.
#[derive(Debug, Serialize, Deserialize)]
struct Settings {
    kind: RepositoryKind,
    /// The lifetime of every metadata file, if not the defaults.
    expires_days: Option<u64>,
}

impl Settings {
    fn lifetimes(&self) -> Lifetimes {
        match self.expires_days {
            Some(days) => {
                let lifetime = Duration::from_secs(days * 24 * 60 * 60);
                Lifetimes {
                    root: lifetime,
                    targets: lifetime,
                    snapshot: lifetime,
                    timestamp: lifetime,
                }
            }
            None => Lifetimes::default(),
        }
    }
}

/// How a target is described to [`RepositoryDir::add`].
#[derive(Debug, Clone, Default)]
pub struct TargetSpec {
    /// The ECU a director assigns the image to (director repositories only).
    pub ecu: Option<String>,
    /// The hardware the image is built for and its release counter.
    pub uptane: Option<(String, u64)>,
}

/// A key rotation done by [`RepositoryDir::rotate`].
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The key replaced.
    pub old: KeyId,
    /// The key now in use.
    pub new: KeyId,
    /// Where the old key was kept.
    pub retired: PathBuf,
}

/// A repository and its keys in one directory.
#[derive(Debug)]
pub struct RepositoryDir {
    dir: PathBuf,
    settings: Settings,
    repository: Repository,
    keys: Vec<(RoleName, SigningKey)>,
}

impl RepositoryDir {
    /// Creates a repository of `kind` with a fresh Ed25519 key per role in `dir`;
    /// `expires_days` sets every metadata lifetime. A directory that already
    /// holds a repository is refused, never overwritten.
    pub fn init(
        dir: &Path,
        kind: RepositoryKind,
        expires_days: Option<u64>,
        now: SystemTime,
    ) -> Result<RepositoryDir, OtaError> {
        if dir.join("1.root.json").exists() || dir.join(KEYS_DIR).exists() {
            return Err(OtaError::Repository(format!(
                "\"{}\" already holds a repository; it is never overwritten",
                dir.display()
            )));
        }
        let settings = Settings { kind, expires_days };
        let keys: Vec<(RoleName, SigningKey)> =
            ROLES.iter().map(|role| (*role, generate_key())).collect();
        let role_config = |role: RoleName| RoleConfig {
            keys: vec![key_of(&keys, role).verifying_key()],
            threshold: 1,
        };
        let config = RepositoryConfig {
            root: role_config(RoleName::Root),
            targets: role_config(RoleName::Targets),
            snapshot: role_config(RoleName::Snapshot),
            timestamp: role_config(RoleName::Timestamp),
        };
        let keyring = keys.iter().map(|(_, key)| key.clone()).collect();
        let repository = Repository::create(&config, settings.lifetimes(), keyring, now)?;
        // Keys first: a published root must never name a key that was not saved.
        let keys_dir = dir.join(KEYS_DIR);
        fs::create_dir_all(&keys_dir).map_err(OtaError::io("create", &keys_dir))?;
        for (role, key) in &keys {
            write_key(&key_path(dir, *role), key)?;
        }
        let settings_path = keys_dir.join(SETTINGS_FILE);
        let json = serde_json::to_vec_pretty(&settings)
            .map_err(|error| OtaError::Repository(error.to_string()))?;
        fs::write(&settings_path, json).map_err(OtaError::io("write", &settings_path))?;
        repository.write_to(dir)?;
        Ok(RepositoryDir {
            dir: dir.to_path_buf(),
            settings,
            repository,
            keys,
        })
    }

    /// Opens a repository made by [`init`](RepositoryDir::init) with all its keys.
    pub fn open(dir: &Path) -> Result<RepositoryDir, OtaError> {
        let settings_path = dir.join(KEYS_DIR).join(SETTINGS_FILE);
        let bytes = fs::read(&settings_path).map_err(|_| {
            OtaError::Repository(format!(
                "\"{}\" is not a repository made by `tomoe ota repo init`",
                dir.display()
            ))
        })?;
        let settings: Settings =
            serde_json::from_slice(&bytes).map_err(|error| OtaError::InvalidMetadata {
                path: settings_path.display().to_string(),
                reason: error.to_string(),
            })?;
        let mut keys = Vec::new();
        for role in ROLES {
            keys.push((role, read_key(&key_path(dir, role))?));
        }
        let mut keyring: Vec<SigningKey> = keys.iter().map(|(_, key)| key.clone()).collect();
        let delegated_keys = dir.join(KEYS_DIR).join(DELEGATED_KEYS_DIR);
        if let Ok(entries) = fs::read_dir(&delegated_keys) {
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "pem"))
                .collect();
            paths.sort();
            for path in paths {
                keyring.push(read_key(&path)?);
            }
        }
        let repository = Repository::open(dir, settings.lifetimes(), keyring)?;
        Ok(RepositoryDir {
            dir: dir.to_path_buf(),
            settings,
            repository,
            keys,
        })
    }

    /// What the repository is for.
    pub fn kind(&self) -> RepositoryKind {
        self.settings.kind
    }

    /// The repository.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The directory of the keys.
    pub fn keys_dir(&self) -> PathBuf {
        self.dir.join(KEYS_DIR)
    }

    /// The id of each role's key.
    pub fn key_ids(&self) -> Vec<(RoleName, KeyId)> {
        self.keys
            .iter()
            .map(|(role, key)| (*role, key_id(key)))
            .collect()
    }

    /// Adds (or replaces) target `name` and publishes new targets, snapshot and
    /// timestamp. A director target needs an ECU, hardware id and release counter
    /// and stores only the description; an image target stores the bytes and
    /// takes no ECU.
    pub fn add(
        &mut self,
        name: &str,
        bytes: &[u8],
        spec: &TargetSpec,
        now: SystemTime,
    ) -> Result<&TargetFile, OtaError> {
        let custom = spec
            .uptane
            .as_ref()
            .map(|(hardware, release_counter)| UptaneCustom {
                ecu_identifier: spec.ecu.clone(),
                hardware_identifier: hardware.clone(),
                release_counter: *release_counter,
            });
        match self.settings.kind {
            RepositoryKind::Director => {
                if spec.ecu.is_none() || spec.uptane.is_none() {
                    return Err(OtaError::Repository(
                        "a director target needs --ecu, --hardware-id and --release-counter".into(),
                    ));
                }
                self.repository
                    .add_target_description(name, TargetFile::describe(bytes, custom.as_ref()))?;
            }
            RepositoryKind::Image => {
                if spec.ecu.is_some() {
                    return Err(OtaError::Repository(
                        "--ecu is for director repositories; the image repository does not assign images".into(),
                    ));
                }
                self.repository.add_target(name, bytes, custom.as_ref())?;
            }
        }
        self.repository.publish(now)?;
        self.repository.write_to(&self.dir)?;
        Ok(&self.repository.targets().signed.targets[name])
    }

    /// Delegates the target paths matching `paths` (shell-style patterns, `*`
    /// within one path part) from the top-level targets role to a new delegated
    /// role `role`, signed by `key` (the tenant's, used for this call only and
    /// never stored; with `None`, a fresh key saved as
    /// `keys/delegated/<role>.pem`) with threshold `threshold`; `terminating`
    /// stops a client's search for those paths at this role. The top-level
    /// targets key signs the delegation; the new role is published empty.
    /// Image repositories only: a director assigns images itself.
    pub fn delegate(
        &mut self,
        role: &str,
        paths: Vec<String>,
        threshold: u32,
        key: Option<&SigningKey>,
        terminating: bool,
        now: SystemTime,
    ) -> Result<KeyId, OtaError> {
        if self.settings.kind != RepositoryKind::Image {
            return Err(OtaError::Repository(
                "only the image repository delegates; a director assigns images itself".into(),
            ));
        }
        let delegation = DelegatedRole {
            name: role.to_string(),
            keyids: Vec::new(),
            threshold,
            terminating,
            paths: Some(paths),
            path_hash_prefixes: None,
        };
        let (public, generated) = match key {
            Some(key) => (key.verifying_key(), None),
            None => {
                let key = generate_key();
                (key.verifying_key(), Some(key))
            }
        };
        // Checked before a generated key is saved, so that a refusal leaves nothing.
        let mut trial = Repository::open(&self.dir, self.settings.lifetimes(), Vec::new())?;
        trial.add_delegated_role(TOP_LEVEL_TARGETS, delegation.clone(), &[public])?;
        if let Some(key) = generated {
            let dir = self.keys_dir().join(DELEGATED_KEYS_DIR);
            fs::create_dir_all(&dir).map_err(OtaError::io("create", &dir))?;
            write_key(&dir.join(format!("{role}.pem")), &key)?;
            self.repository.add_key(key);
        } else if let Some(key) = key {
            // The tenant's key signs the role's first (empty) metadata; it is kept
            // in memory for this call only, never written to the repository.
            self.repository.add_key(key.clone());
        }
        self.repository
            .add_delegated_role(TOP_LEVEL_TARGETS, delegation, &[public])?;
        self.repository.publish(now)?;
        self.repository.write_to(&self.dir)?;
        Ok(crate::metadata::PublicKey::ed25519(&public).key_id())
    }

    /// Adds (or replaces) target `name` in delegated `role`, signed with `key`
    /// (or the role's key in `keys/delegated/`), and publishes the role, snapshot
    /// and timestamp: the top-level targets key is not used. Refuses a path
    /// outside the role's patterns and a key that is not one of the role's.
    pub fn add_to_role(
        &mut self,
        role: &str,
        name: &str,
        bytes: &[u8],
        spec: &TargetSpec,
        key: Option<SigningKey>,
        now: SystemTime,
    ) -> Result<&TargetFile, OtaError> {
        if spec.ecu.is_some() {
            return Err(OtaError::Repository(
                "--ecu is for director repositories; the image repository does not assign images"
                    .into(),
            ));
        }
        let delegation = self
            .repository
            .delegation(role)
            .ok_or_else(|| OtaError::Repository(format!("no delegated role \"{role}\"")))?;
        if let Some(key) = key {
            let id = key_id(&key);
            if !delegation.keyids.contains(&id) {
                return Err(OtaError::Repository(format!(
                    "key {id} is not a key of role {role}: a role's targets are signed by its own keys"
                )));
            }
            self.repository.add_key(key);
        }
        let custom = spec
            .uptane
            .as_ref()
            .map(|(hardware, release_counter)| UptaneCustom {
                ecu_identifier: None,
                hardware_identifier: hardware.clone(),
                release_counter: *release_counter,
            });
        self.repository
            .add_delegated_target(role, name, bytes, custom.as_ref())?;
        self.repository.publish_role(role, now)?;
        self.repository.write_to(&self.dir)?;
        Ok(&self.repository.delegated_roles()[role].signed.targets[name])
    }

    /// [`add`](RepositoryDir::add) to the top-level targets role (`role` `None`)
    /// or [`add_to_role`](RepositoryDir::add_to_role) to a delegated one: the
    /// target, the role that signed it and the role's new version.
    pub fn add_as(
        &mut self,
        role: Option<&str>,
        key: Option<SigningKey>,
        name: &str,
        bytes: &[u8],
        spec: &TargetSpec,
        now: SystemTime,
    ) -> Result<(TargetFile, String, u64), OtaError> {
        match role {
            Some(role) => {
                let target = self.add_to_role(role, name, bytes, spec, key, now)?.clone();
                let version = self.repository.delegated_roles()[role].signed.version;
                Ok((target, role.to_string(), version))
            }
            None => {
                let target = self.add(name, bytes, spec, now)?.clone();
                let version = self.repository.targets().signed.version;
                Ok((target, TOP_LEVEL_TARGETS.to_string(), version))
            }
        }
    }

    /// Re-signs snapshot and timestamp with fresh expiry dates.
    pub fn sign(&mut self, now: SystemTime) -> Result<(), OtaError> {
        self.repository.refresh_snapshot(now)?;
        self.repository.write_to(&self.dir)
    }

    /// Replaces `role`'s key by a fresh one: a new root version signed by the old
    /// and the new root keys. The new key is saved before the root naming it is
    /// published; the old one is kept in `keys/retired/`.
    pub fn rotate(&mut self, role: RoleName, now: SystemTime) -> Result<Rotation, OtaError> {
        let old = key_id(key_of(&self.keys, role));
        let new_key = generate_key();
        let new = key_id(&new_key);
        let current = key_path(&self.dir, role);
        let pending = self.keys_dir().join(format!("{role}.new.pem"));
        write_key(&pending, &new_key)?;
        let rotated = self
            .repository
            .rotate_key(role, &old, new_key.clone(), now)
            .and_then(|()| self.repository.write_to(&self.dir));
        if let Err(error) = rotated {
            let _ = fs::remove_file(&pending);
            return Err(error);
        }
        let retired_dir = self.keys_dir().join("retired");
        fs::create_dir_all(&retired_dir).map_err(OtaError::io("create", &retired_dir))?;
        let retired = retired_dir.join(format!("{role}-{}.pem", &old.0[..16.min(old.0.len())]));
        fs::rename(&current, &retired).map_err(OtaError::io("retire", &current))?;
        fs::rename(&pending, &current).map_err(OtaError::io("install the new key", &current))?;
        for (name, key) in &mut self.keys {
            if *name == role {
                *key = new_key.clone();
            }
        }
        Ok(Rotation { old, new, retired })
    }
}

/// The directory of delegated roles' keys, under `keys/`.
pub const DELEGATED_KEYS_DIR: &str = "delegated";

fn key_path(dir: &Path, role: RoleName) -> PathBuf {
    dir.join(KEYS_DIR).join(format!("{role}.pem"))
}

fn key_of(keys: &[(RoleName, SigningKey)], role: RoleName) -> &SigningKey {
    &keys
        .iter()
        .find(|(name, _)| *name == role)
        .expect("every role has a key")
        .1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FsFetcher, Limits, TrustedRepository};

    #[test]
    fn init_add_sign_rotate_stay_verifiable() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let path = dir.path().join("image");
        let made = RepositoryDir::init(&path, RepositoryKind::Image, Some(30), now).unwrap();
        let root = made.repository().root_file();
        let error = RepositoryDir::init(&path, RepositoryKind::Image, None, now).unwrap_err();
        assert!(
            error.to_string().contains("already holds a repository"),
            "{error}"
        );

        let mut opened = RepositoryDir::open(&path).unwrap();
        assert_eq!(opened.kind(), RepositoryKind::Image);
        let spec = TargetSpec {
            ecu: Some("brake".into()),
            uptane: Some(("hw".into(), 1)),
        };
        let error = opened.add("app", b"bytes", &spec, now).unwrap_err();
        assert!(
            error.to_string().contains("--ecu is for director"),
            "{error}"
        );
        let spec = TargetSpec { ecu: None, ..spec };
        assert_eq!(opened.add("app", b"bytes", &spec, now).unwrap().length, 5);
        opened.sign(now).unwrap();
        let rotation = opened.rotate(RoleName::Root, now).unwrap();
        assert_ne!(rotation.old, rotation.new);
        assert!(rotation.retired.is_file());

        // A client that trusts the first root follows the rotation.
        let mut client = TrustedRepository::new("image", &root).unwrap();
        client
            .update(&FsFetcher::new(&path), &Limits::default(), now)
            .unwrap();
        assert_eq!(client.root().version, 2);
        assert!(client.targets().unwrap().targets.contains_key("app"));
        // The rotated key is the one on disk: the next change still verifies.
        let mut reopened = RepositoryDir::open(&path).unwrap();
        reopened.sign(now).unwrap();

        let error = RepositoryDir::open(dir.path()).unwrap_err();
        assert!(error.to_string().contains("is not a repository"), "{error}");
        let director = dir.path().join("director");
        let mut director =
            RepositoryDir::init(&director, RepositoryKind::Director, None, now).unwrap();
        let error = director
            .add("app", b"bytes", &TargetSpec::default(), now)
            .unwrap_err();
        assert!(error.to_string().contains("needs --ecu"), "{error}");
    }
}
