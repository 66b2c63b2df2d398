//! Repository tooling: create a TUF repository, add targets, re-sign snapshot and
//! timestamp, rotate role keys through new root versions, and write it all to a
//! directory.
//!
//! The same code makes an image repository and a director repository; they differ
//! only in what their targets carry (see [`crate::uptane`]). A [`Repository`] signs
//! with the keys in its keyring: each document gets a signature from every keyring
//! key its role lists. A keyring may hold fewer keys than a role's threshold, so
//! that several people can each add their signature; the client refuses the
//! document until the threshold is met.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path};
use std::time::{Duration, SystemTime};

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::delegation::{role_is_trusted_for, valid_role_name, TOP_LEVEL_TARGETS};
use crate::keys::key_id;
use crate::metadata::RawSigned;
use crate::metadata::{
    DelegatedRole, Delegations, Expiry, KeyId, MetaFile, Metadata, PublicKey, RoleKeys, RoleName,
    Root, Signed, Snapshot, TargetFile, Targets, Timestamp, UptaneCustom, SPEC_VERSION,
};
use crate::OtaError;

/// The directory target files are published in, under the repository directory.
pub const TARGETS_DIR: &str = "targets";

/// The keys and threshold of one top-level role in a new repository.
#[derive(Debug, Clone)]
pub struct RoleConfig {
    /// The public keys allowed to sign the role.
    pub keys: Vec<VerifyingKey>,
    /// How many of them must sign.
    pub threshold: u32,
}

/// The keys and thresholds of the four top-level roles of a new repository.
#[derive(Debug, Clone)]
pub struct RepositoryConfig {
    /// Root: signs the key configuration.
    pub root: RoleConfig,
    /// Targets: signs the list of images.
    pub targets: RoleConfig,
    /// Snapshot: signs the versions of targets metadata.
    pub snapshot: RoleConfig,
    /// Timestamp: signs the current snapshot.
    pub timestamp: RoleConfig,
}

/// How long each role's metadata stays valid after it is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Root; the default is a year.
    pub root: Duration,
    /// Targets; the default is 90 days.
    pub targets: Duration,
    /// Snapshot; the default is a week.
    pub snapshot: Duration,
    /// Timestamp; the default is a day, re-signed with [`Repository::refresh_timestamp`].
    pub timestamp: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        const DAY: u64 = 24 * 60 * 60;
        Lifetimes {
            root: Duration::from_secs(365 * DAY),
            targets: Duration::from_secs(90 * DAY),
            snapshot: Duration::from_secs(7 * DAY),
            timestamp: Duration::from_secs(DAY),
        }
    }
}

/// A TUF repository being edited in memory; [`Repository::write_to`] publishes it.
#[derive(Debug)]
pub struct Repository {
    roots: Vec<Signed<Root>>,
    targets: Signed<Targets>,
    snapshot: Signed<Snapshot>,
    timestamp: Signed<Timestamp>,
    lifetimes: Lifetimes,
    keyring: Vec<SigningKey>,
    new_target_files: BTreeMap<String, Vec<u8>>,
    /// Delegated targets roles by name, as last signed (version 0: never).
    delegated: BTreeMap<String, Signed<Targets>>,
    /// Delegated roles changed since they were last signed.
    changed_roles: BTreeSet<String>,
}

impl Repository {
    /// Creates a repository: root, empty targets, snapshot and timestamp, all version 1,
    /// signed at `now` with the keys in `keyring`.
    pub fn create(
        config: &RepositoryConfig,
        lifetimes: Lifetimes,
        keyring: Vec<SigningKey>,
        now: SystemTime,
    ) -> Result<Repository, OtaError> {
        let mut keys = BTreeMap::new();
        let mut roles = BTreeMap::new();
        for (role, role_config) in [
            (RoleName::Root, &config.root),
            (RoleName::Targets, &config.targets),
            (RoleName::Snapshot, &config.snapshot),
            (RoleName::Timestamp, &config.timestamp),
        ] {
            if role_config.threshold == 0
                || (role_config.keys.len() as u64) < u64::from(role_config.threshold)
            {
                return Err(OtaError::Repository(format!(
                    "role {role} has {} keys but threshold {}: the threshold must be between 1 and the number of keys",
                    role_config.keys.len(),
                    role_config.threshold
                )));
            }
            let mut keyids = Vec::new();
            for key in &role_config.keys {
                let public = PublicKey::ed25519(key);
                let id = public.key_id();
                if !keyids.contains(&id) {
                    keyids.push(id.clone());
                }
                keys.insert(id, public);
            }
            roles.insert(
                role,
                RoleKeys {
                    keyids,
                    threshold: role_config.threshold,
                },
            );
        }
        let root = Root {
            spec_version: SPEC_VERSION.into(),
            consistent_snapshot: false,
            version: 1,
            expires: Expiry::after(now, lifetimes.root),
            keys,
            roles,
        };
        let targets = Targets {
            spec_version: SPEC_VERSION.into(),
            version: 1,
            expires: Expiry::after(now, lifetimes.targets),
            targets: BTreeMap::new(),
            delegations: None,
        };
        let mut repository = Repository {
            roots: Vec::new(),
            targets: Signed::unsigned(targets),
            snapshot: Signed::unsigned(Snapshot {
                spec_version: SPEC_VERSION.into(),
                version: 0,
                expires: Expiry::after(now, lifetimes.snapshot),
                meta: BTreeMap::new(),
            }),
            timestamp: Signed::unsigned(Timestamp {
                spec_version: SPEC_VERSION.into(),
                version: 0,
                expires: Expiry::after(now, lifetimes.timestamp),
                meta: BTreeMap::new(),
            }),
            lifetimes,
            keyring,
            new_target_files: BTreeMap::new(),
            delegated: BTreeMap::new(),
            changed_roles: BTreeSet::new(),
        };
        let signed_root = repository.sign_root(root, None)?;
        repository.roots.push(signed_root);
        repository.targets = repository.sign(repository.targets.signed.clone())?;
        repository.sign_snapshot(now)?;
        repository.sign_timestamp(now)?;
        Ok(repository)
    }

    /// Opens a repository [`Repository::write_to`] wrote, to edit it further with
    /// the keys in `keyring`. Target files already published stay where they are.
    pub fn open(
        dir: &Path,
        lifetimes: Lifetimes,
        keyring: Vec<SigningKey>,
    ) -> Result<Repository, OtaError> {
        let mut roots = Vec::new();
        loop {
            let path = dir.join(format!("{}.root.json", roots.len() + 1));
            if !path.exists() {
                break;
            }
            roots.push(read_metadata::<Root>(&path)?);
        }
        if roots.is_empty() {
            return Err(OtaError::Repository(format!(
                "no \"1.root.json\" in \"{}\": not a repository",
                dir.display()
            )));
        }
        let targets: Signed<Targets> = read_metadata(&dir.join(RoleName::Targets.file_name()))?;
        // Every delegated role reachable from the top-level targets, each once.
        let mut delegated = BTreeMap::new();
        let mut pending: Vec<String> = delegated_names(&targets.signed);
        while let Some(name) = pending.pop() {
            if delegated.contains_key(&name) || !valid_role_name(&name) {
                continue;
            }
            let path = dir.join(format!("{name}.json"));
            let role: Signed<Targets> = if path.exists() {
                read_metadata(&path)?
            } else {
                Signed::unsigned(Targets {
                    spec_version: SPEC_VERSION.into(),
                    version: 0,
                    expires: Expiry::after(SystemTime::UNIX_EPOCH, Duration::ZERO),
                    targets: BTreeMap::new(),
                    delegations: None,
                })
            };
            pending.extend(delegated_names(&role.signed));
            delegated.insert(name, role);
        }
        Ok(Repository {
            roots,
            targets,
            snapshot: read_metadata(&dir.join(RoleName::Snapshot.file_name()))?,
            timestamp: read_metadata(&dir.join(RoleName::Timestamp.file_name()))?,
            lifetimes,
            keyring,
            new_target_files: BTreeMap::new(),
            delegated,
            changed_roles: BTreeSet::new(),
        })
    }

    /// Adds `key` to the keyring, to sign the roles that list it.
    pub fn add_key(&mut self, key: SigningKey) {
        if !self
            .keyring
            .iter()
            .any(|known| known.verifying_key() == key.verifying_key())
        {
            self.keyring.push(key);
        }
    }

    /// Delegates `role.paths` from `parent` (`targets` for the top-level targets
    /// role, or a delegated role) to the delegated targets role `role.name`,
    /// signed by a threshold of `keys`. A new role starts with no targets; the
    /// parent's change is signed by [`Repository::publish`] (top level) or
    /// [`Repository::publish_role`] (a delegated parent), the new role with it.
    /// Refuses an invalid or top-level role name, a role `parent` already
    /// delegates to, a threshold of 0 or above the number of keys, and no paths.
    pub fn add_delegated_role(
        &mut self,
        parent: &str,
        role: DelegatedRole,
        keys: &[VerifyingKey],
    ) -> Result<(), OtaError> {
        let name = role.name.clone();
        if !valid_role_name(&name) {
            return Err(OtaError::Repository(format!(
                "invalid role name \"{name}\": letters, digits, '-', '_' and '.', not a top-level role"
            )));
        }
        let key_count = keys
            .iter()
            .map(|key| key.as_bytes())
            .collect::<BTreeSet<_>>()
            .len();
        if role.threshold == 0 || key_count < role.threshold as usize {
            return Err(OtaError::Repository(format!(
                "role {name} has {key_count} keys but threshold {}: the threshold must be between 1 and the number of keys",
                role.threshold
            )));
        }
        if role.paths.iter().flatten().next().is_none() && role.path_hash_prefixes.is_none() {
            return Err(OtaError::Repository(format!(
                "role {name} needs at least one path pattern"
            )));
        }
        for pattern in role.paths.iter().flatten() {
            check_target_name(&pattern.replace(['*', '?', '[', ']', '!'], "x"))?;
        }
        let mut role = role;
        role.keyids.clear();
        let mut public_keys = BTreeMap::new();
        for key in keys {
            let public = PublicKey::ed25519(key);
            let id = public.key_id();
            if !role.keyids.contains(&id) {
                role.keyids.push(id.clone());
            }
            public_keys.insert(id, public);
        }
        let parent_targets = self.role_targets_mut(parent)?;
        let delegations = parent_targets
            .delegations
            .get_or_insert_with(|| Delegations {
                keys: BTreeMap::new(),
                roles: Vec::new(),
            });
        if delegations.roles.iter().any(|known| known.name == name) {
            return Err(OtaError::Repository(format!(
                "{parent} already delegates to role {name}"
            )));
        }
        delegations.keys.extend(public_keys);
        delegations.roles.push(role);
        if parent != TOP_LEVEL_TARGETS {
            self.changed_roles.insert(parent.to_string());
        }
        if !self.delegated.contains_key(&name) {
            let targets = Targets {
                spec_version: SPEC_VERSION.into(),
                version: 0,
                expires: Expiry::after(SystemTime::UNIX_EPOCH, Duration::ZERO),
                targets: BTreeMap::new(),
                delegations: None,
            };
            self.delegated
                .insert(name.clone(), Signed::unsigned(targets));
            self.changed_roles.insert(name);
        }
        Ok(())
    }

    /// The delegated roles by name, as last signed (or not yet signed: version 0).
    pub fn delegated_roles(&self) -> &BTreeMap<String, Signed<Targets>> {
        &self.delegated
    }

    /// How `role` is delegated: the first delegation to it, from the top-level
    /// targets role or else any delegated role.
    pub fn delegation(&self, role: &str) -> Option<&DelegatedRole> {
        std::iter::once(&self.targets.signed)
            .chain(self.delegated.values().map(|signed| &signed.signed))
            .filter_map(|targets| targets.delegations.as_ref())
            .flat_map(|delegations| delegations.roles.iter())
            .find(|delegated| delegated.name == role)
    }

    /// Adds or replaces the target `name` with content `bytes` in delegated
    /// `role`; signed by [`Repository::publish_role`]. Refuses a path the role is
    /// not trusted for: a tenant's key never signs another tenant's paths.
    pub fn add_delegated_target(
        &mut self,
        role: &str,
        name: &str,
        bytes: &[u8],
        custom: Option<&UptaneCustom>,
    ) -> Result<(), OtaError> {
        check_target_name(name)?;
        let delegation = self
            .delegation(role)
            .ok_or_else(|| OtaError::Repository(format!("no delegated role \"{role}\"")))?;
        if !role_is_trusted_for(delegation, name) {
            return Err(OtaError::Repository(format!(
                "\"{name}\" is outside the paths of role {role} ({}): its key may not sign it",
                delegation
                    .paths
                    .iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        self.role_targets_mut(role)?
            .targets
            .insert(name.to_string(), TargetFile::describe(bytes, custom));
        self.changed_roles.insert(role.to_string());
        self.new_target_files
            .insert(name.to_string(), bytes.to_vec());
        Ok(())
    }

    /// Signs delegated `role` (and any other changed delegated role) with its
    /// keyring keys, version raised by one, then a new snapshot and timestamp:
    /// the top-level targets key is not needed. Refuses a role whose keys the
    /// keyring lacks.
    pub fn publish_role(&mut self, role: &str, now: SystemTime) -> Result<(), OtaError> {
        self.changed_roles.insert(role.to_string());
        self.sign_changed_roles(now)?;
        self.sign_snapshot(now)?;
        self.sign_timestamp(now)
    }

    fn sign_changed_roles(&mut self, now: SystemTime) -> Result<(), OtaError> {
        for role in std::mem::take(&mut self.changed_roles) {
            let keys = self
                .delegation(&role)
                .map(|delegation| RoleKeys {
                    keyids: delegation.keyids.clone(),
                    threshold: delegation.threshold,
                })
                .ok_or_else(|| OtaError::Repository(format!("no delegated role \"{role}\"")))?;
            let mut targets = self.role_targets_mut(&role)?.clone();
            targets.version += 1;
            targets.expires = Expiry::after(now, self.lifetimes.targets);
            let signed = self.sign_with(targets, &[&keys])?;
            if signed.signatures.is_empty() {
                return Err(OtaError::Repository(format!(
                    "no key of role {role} to sign it with (give the role's key)"
                )));
            }
            self.delegated.insert(role, signed);
        }
        Ok(())
    }

    fn role_targets_mut(&mut self, role: &str) -> Result<&mut Targets, OtaError> {
        if role == TOP_LEVEL_TARGETS {
            return Ok(&mut self.targets.signed);
        }
        self.delegated
            .get_mut(role)
            .map(|signed| &mut signed.signed)
            .ok_or_else(|| OtaError::Repository(format!("no delegated role \"{role}\"")))
    }

    /// The newest root.
    pub fn root(&self) -> &Signed<Root> {
        self.roots
            .last()
            .expect("a repository has at least one root")
    }

    /// The published file of the newest root: what a client is given to trust first.
    pub fn root_file(&self) -> Vec<u8> {
        self.root().to_file_bytes()
    }

    /// Every root version, oldest first.
    pub fn roots(&self) -> &[Signed<Root>] {
        &self.roots
    }

    /// The targets metadata, including changes not yet published.
    pub fn targets(&self) -> &Signed<Targets> {
        &self.targets
    }

    /// The snapshot metadata.
    pub fn snapshot(&self) -> &Signed<Snapshot> {
        &self.snapshot
    }

    /// The timestamp metadata.
    pub fn timestamp(&self) -> &Signed<Timestamp> {
        &self.timestamp
    }

    /// Adds or replaces the target `name` (a relative path under `targets/`) with
    /// content `bytes`: its length, SHA-256, SHA-512 and Uptane fields. The change
    /// is signed by [`Repository::publish`].
    pub fn add_target(
        &mut self,
        name: &str,
        bytes: &[u8],
        custom: Option<&UptaneCustom>,
    ) -> Result<(), OtaError> {
        self.add_target_description(name, TargetFile::describe(bytes, custom))?;
        self.new_target_files
            .insert(name.to_string(), bytes.to_vec());
        Ok(())
    }

    /// Adds or replaces the target `name` by description alone, for a director,
    /// which assigns images but does not serve them.
    pub fn add_target_description(
        &mut self,
        name: &str,
        target: TargetFile,
    ) -> Result<(), OtaError> {
        check_target_name(name)?;
        self.targets.signed.targets.insert(name.to_string(), target);
        Ok(())
    }

    /// Sets the roles this repository's targets delegate paths to (none: `None`);
    /// signed by [`Repository::publish`].
    pub fn set_delegations(&mut self, delegations: Option<crate::metadata::Delegations>) {
        self.targets.signed.delegations = delegations;
    }

    /// Removes the target `name`; signed by [`Repository::publish`].
    pub fn remove_target(&mut self, name: &str) -> Result<(), OtaError> {
        self.new_target_files.remove(name);
        self.targets
            .signed
            .targets
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| OtaError::Repository(format!("no target \"{name}\"")))
    }

    /// Signs the targets, then a new snapshot and a new timestamp, each with its
    /// version raised by one and its expiry renewed from `now`.
    pub fn publish(&mut self, now: SystemTime) -> Result<(), OtaError> {
        let mut targets = self.targets.signed.clone();
        targets.version += 1;
        targets.expires = Expiry::after(now, self.lifetimes.targets);
        self.targets = self.sign(targets)?;
        self.sign_changed_roles(now)?;
        self.sign_snapshot(now)?;
        self.sign_timestamp(now)
    }

    /// Signs a new snapshot of the current targets, then a new timestamp.
    pub fn refresh_snapshot(&mut self, now: SystemTime) -> Result<(), OtaError> {
        self.sign_snapshot(now)?;
        self.sign_timestamp(now)
    }

    /// Signs a new timestamp for the current snapshot: what a repository does
    /// regularly so that clients can tell a live repository from a frozen one.
    pub fn refresh_timestamp(&mut self, now: SystemTime) -> Result<(), OtaError> {
        self.sign_timestamp(now)
    }

    /// Replaces `old` with `new` among the keys of `role` by issuing the next root
    /// version, signed by the keyring keys of the previous root's root role and of
    /// the new root's root role; a client accepts it only if both thresholds are
    /// met. `new` joins the keyring. Unless `role` is root, the role's metadata (and
    /// what lists it) is re-signed with the new key.
    pub fn rotate_key(
        &mut self,
        role: RoleName,
        old: &KeyId,
        new: SigningKey,
        now: SystemTime,
    ) -> Result<(), OtaError> {
        let previous = self.root().signed.clone();
        let mut root = previous.clone();
        let new_public = PublicKey::ed25519(&new.verifying_key());
        let new_id = new_public.key_id();
        let role_keys = root
            .roles
            .get_mut(&role)
            .ok_or_else(|| OtaError::Repository(format!("the root names no role {role}")))?;
        let position = role_keys
            .keyids
            .iter()
            .position(|id| id == old)
            .ok_or_else(|| OtaError::Repository(format!("key \"{old}\" is not a {role} key")))?;
        if role_keys.keyids.contains(&new_id) {
            return Err(OtaError::Repository(format!(
                "key \"{new_id}\" is already a {role} key"
            )));
        }
        role_keys.keyids[position] = new_id.clone();
        root.keys.insert(new_id, new_public);
        let still_used: Vec<KeyId> = root
            .roles
            .values()
            .flat_map(|keys| keys.keyids.clone())
            .collect();
        root.keys.retain(|id, _| still_used.contains(id));
        root.version += 1;
        root.expires = Expiry::after(now, self.lifetimes.root);
        if !self
            .keyring
            .iter()
            .any(|key| key.verifying_key() == new.verifying_key())
        {
            self.keyring.push(new);
        }
        let signed_root = self.sign_root(root, Some(&previous))?;
        self.roots.push(signed_root);
        match role {
            RoleName::Root => Ok(()),
            RoleName::Targets => self.publish(now),
            RoleName::Snapshot => self.refresh_snapshot(now),
            RoleName::Timestamp => self.refresh_timestamp(now),
        }
    }

    /// Writes the repository to `dir`: every root as `<version>.root.json`, the
    /// newest also as `root.json`, then new target files under `targets/`, then
    /// `targets.json`, `snapshot.json` and last `timestamp.json`, so that a client
    /// reading meanwhile sees the old timestamp until everything it names exists.
    /// Each file is written to a temporary name and renamed into place.
    pub fn write_to(&self, dir: &Path) -> Result<(), OtaError> {
        fs::create_dir_all(dir).map_err(OtaError::io("create repository directory", dir))?;
        for root in &self.roots {
            write_file(
                &dir.join(format!("{}.root.json", root.signed.version)),
                &root.to_file_bytes(),
            )?;
        }
        write_file(&dir.join("root.json"), &self.root_file())?;
        for (name, bytes) in &self.new_target_files {
            write_file(&dir.join(TARGETS_DIR).join(name), bytes)?;
        }
        for (name, role) in &self.delegated {
            if role.signed.version > 0 {
                write_file(&dir.join(format!("{name}.json")), &role.to_file_bytes())?;
            }
        }
        write_file(
            &dir.join(RoleName::Targets.file_name()),
            &self.targets.to_file_bytes(),
        )?;
        write_file(
            &dir.join(RoleName::Snapshot.file_name()),
            &self.snapshot.to_file_bytes(),
        )?;
        write_file(
            &dir.join(RoleName::Timestamp.file_name()),
            &self.timestamp.to_file_bytes(),
        )
    }

    fn sign_snapshot(&mut self, now: SystemTime) -> Result<(), OtaError> {
        let mut snapshot = self.snapshot.signed.clone();
        snapshot.version += 1;
        snapshot.expires = Expiry::after(now, self.lifetimes.snapshot);
        snapshot.meta = BTreeMap::from([(
            RoleName::Targets.file_name(),
            MetaFile::describe(self.targets.signed.version, &self.targets.to_file_bytes()),
        )]);
        for (name, role) in &self.delegated {
            if role.signed.version > 0 {
                snapshot.meta.insert(
                    format!("{name}.json"),
                    MetaFile::describe(role.signed.version, &role.to_file_bytes()),
                );
            }
        }
        self.snapshot = self.sign(snapshot)?;
        Ok(())
    }

    fn sign_timestamp(&mut self, now: SystemTime) -> Result<(), OtaError> {
        let mut timestamp = self.timestamp.signed.clone();
        timestamp.version += 1;
        timestamp.expires = Expiry::after(now, self.lifetimes.timestamp);
        timestamp.meta = BTreeMap::from([(
            RoleName::Snapshot.file_name(),
            MetaFile::describe(self.snapshot.signed.version, &self.snapshot.to_file_bytes()),
        )]);
        self.timestamp = self.sign(timestamp)?;
        Ok(())
    }

    /// Signs `metadata` with every keyring key the newest root lists for its role.
    fn sign<T: Metadata>(&self, metadata: T) -> Result<Signed<T>, OtaError> {
        let role = self.root().signed.role(T::ROLE)?.clone();
        self.sign_with(metadata, &[&role])
    }

    /// Signs a root with the keyring keys of its own root role and of `previous`'s.
    fn sign_root(&self, root: Root, previous: Option<&Root>) -> Result<Signed<Root>, OtaError> {
        let mut roles = vec![root.role(RoleName::Root)?.clone()];
        if let Some(previous) = previous {
            roles.push(previous.role(RoleName::Root)?.clone());
        }
        let roles: Vec<&RoleKeys> = roles.iter().collect();
        self.sign_with(root, &roles)
    }

    fn sign_with<T: Metadata>(
        &self,
        metadata: T,
        roles: &[&RoleKeys],
    ) -> Result<Signed<T>, OtaError> {
        let mut signed = Signed::unsigned(metadata);
        for key in &self.keyring {
            let id = key_id(key);
            if roles.iter().any(|role| role.keyids.contains(&id)) {
                signed.sign(key)?;
            }
        }
        Ok(signed)
    }
}

/// The roles `targets` delegates to, in order.
fn delegated_names(targets: &Targets) -> Vec<String> {
    targets
        .delegations
        .iter()
        .flat_map(|delegations| delegations.roles.iter().map(|role| role.name.clone()))
        .collect()
}

/// A target name must be a relative path of normal components, so that it stays
/// under `targets/` on the repository and on the client.
fn check_target_name(name: &str) -> Result<(), OtaError> {
    let path = Path::new(name);
    let valid = !name.is_empty()
        && !name.contains('\\')
        && path
            .components()
            .all(|component| matches!(component, Component::Normal(_)));
    if valid {
        Ok(())
    } else {
        Err(OtaError::Repository(format!(
            "invalid target name \"{name}\": it must be a relative path without \"..\""
        )))
    }
}

fn read_metadata<T: Metadata>(path: &Path) -> Result<Signed<T>, OtaError> {
    let bytes = fs::read(path).map_err(OtaError::io("read metadata", path))?;
    let name = path.display().to_string();
    RawSigned::parse(&name, &bytes)?.metadata(&name)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), OtaError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(OtaError::io("create directory", parent))?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    fs::write(&temporary, bytes).map_err(OtaError::io("write", &temporary))?;
    fs::rename(&temporary, path).map_err(OtaError::io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_key;
    use std::time::UNIX_EPOCH;

    const NOW: Duration = Duration::from_secs(1_800_000_000);

    fn now() -> SystemTime {
        UNIX_EPOCH + NOW
    }

    fn repository() -> (Repository, Vec<SigningKey>) {
        let keys: Vec<SigningKey> = (0..4).map(|_| generate_key()).collect();
        let role = |key: &SigningKey| RoleConfig {
            keys: vec![key.verifying_key()],
            threshold: 1,
        };
        let config = RepositoryConfig {
            root: role(&keys[0]),
            targets: role(&keys[1]),
            snapshot: role(&keys[2]),
            timestamp: role(&keys[3]),
        };
        let repository =
            Repository::create(&config, Lifetimes::default(), keys.clone(), now()).unwrap();
        (repository, keys)
    }

    #[test]
    fn create_signs_version_one_of_every_role() {
        let (repository, keys) = repository();
        assert_eq!(repository.root().signed.version, 1);
        assert_eq!(repository.targets().signed.version, 1);
        assert_eq!(repository.snapshot().signed.version, 1);
        assert_eq!(repository.timestamp().signed.version, 1);
        assert_eq!(repository.root().signatures[0].keyid, key_id(&keys[0]));
        assert_eq!(repository.timestamp().signatures[0].keyid, key_id(&keys[3]));
        assert_eq!(
            repository.root().signed.expires.to_string(),
            "2028-01-15T08:00:00Z"
        );
    }

    #[test]
    fn publish_raises_versions_and_lists_hashes() {
        let (mut repository, _) = repository();
        repository
            .add_target("ecu/app-1.0.bin", b"image", None)
            .unwrap();
        repository.publish(now()).unwrap();
        assert_eq!(repository.targets().signed.version, 2);
        assert_eq!(repository.snapshot().signed.meta["targets.json"].version, 2);
        assert_eq!(
            repository.timestamp().signed.meta["snapshot.json"].version,
            2
        );
        let target = &repository.targets().signed.targets["ecu/app-1.0.bin"];
        assert_eq!(target.length, 5);
        assert_eq!(
            target.hashes.keys().collect::<Vec<_>>(),
            ["sha256", "sha512"]
        );
        repository.refresh_timestamp(now()).unwrap();
        assert_eq!(repository.timestamp().signed.version, 3);
        assert_eq!(repository.snapshot().signed.version, 2);
    }

    #[test]
    fn target_names_stay_under_the_targets_directory() {
        let (mut repository, _) = repository();
        for name in ["", "../escape", "/etc/passwd", "a/../../b", "a\\b"] {
            let error = repository.add_target(name, b"x", None).unwrap_err();
            assert!(
                error.to_string().contains("invalid target name"),
                "{name}: {error}"
            );
        }
    }

    #[test]
    fn write_then_open_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let (mut repository, keys) = repository();
        repository.add_target("app.bin", b"image", None).unwrap();
        repository.publish(now()).unwrap();
        repository
            .rotate_key(
                RoleName::Timestamp,
                &key_id(&keys[3]),
                generate_key(),
                now(),
            )
            .unwrap();
        repository.write_to(dir.path()).unwrap();
        for file in [
            "1.root.json",
            "2.root.json",
            "root.json",
            "targets.json",
            "snapshot.json",
            "timestamp.json",
        ] {
            assert!(dir.path().join(file).is_file(), "{file}");
        }
        assert_eq!(
            fs::read(dir.path().join("targets/app.bin")).unwrap(),
            b"image"
        );
        let opened = Repository::open(dir.path(), Lifetimes::default(), keys).unwrap();
        assert_eq!(opened.roots().len(), 2);
        assert_eq!(opened.timestamp(), repository.timestamp());
        assert_eq!(opened.targets(), repository.targets());
    }

    #[test]
    fn rotation_signs_new_root_with_old_and_new_root_keys() {
        let (mut repository, keys) = repository();
        let new_root_key = generate_key();
        repository
            .rotate_key(
                RoleName::Root,
                &key_id(&keys[0]),
                new_root_key.clone(),
                now(),
            )
            .unwrap();
        let root = repository.root();
        assert_eq!(root.signed.version, 2);
        let signers: Vec<&KeyId> = root
            .signatures
            .iter()
            .map(|signature| &signature.keyid)
            .collect();
        assert_eq!(signers.len(), 2);
        assert!(signers.contains(&&key_id(&keys[0])));
        assert!(signers.contains(&&key_id(&new_root_key)));
        assert!(!root.signed.keys.contains_key(&key_id(&keys[0])));
    }

    #[test]
    fn threshold_above_key_count_is_refused() {
        let key = generate_key();
        let role = RoleConfig {
            keys: vec![key.verifying_key()],
            threshold: 2,
        };
        let config = RepositoryConfig {
            root: role.clone(),
            targets: role.clone(),
            snapshot: role.clone(),
            timestamp: role,
        };
        let error =
            Repository::create(&config, Lifetimes::default(), vec![key], now()).unwrap_err();
        assert!(error.to_string().contains("threshold 2"), "{error}");
    }
}
