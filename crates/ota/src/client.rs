//! The TUF client workflow for one repository: update the root chain, then
//! timestamp, snapshot and targets, each checked for signatures, rollback, freeze,
//! consistency with the metadata above it and size.
//!
//! [`TrustedRepository`] keeps the metadata it trusts. [`TrustedRepository::update`]
//! fetches through a [`Fetcher`] and replaces that state only when every step
//! succeeded, so a refused update leaves the previous state in place.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256, Sha512};

use crate::metadata::{
    tally_signatures, MetaFile, Metadata, PublicKey, RawSigned, RoleKeys, RoleName, Root, Signed,
    Snapshot, Targets, Timestamp,
};
use crate::OtaError;

/// Where metadata and images come from.
///
/// Paths are relative to the repository, such as `timestamp.json` or
/// `targets/ecu/app.bin`. A file that does not exist is an error of kind
/// [`io::ErrorKind::NotFound`]. Implementations need not limit sizes: the client
/// reads no more than it allows.
///
/// The error kind names the refusal: [`io::ErrorKind::TimedOut`] (from opening or
/// reading) is slow retrieval; `NotConnected`, `ConnectionRefused`,
/// `ConnectionReset`, `ConnectionAborted`, `HostUnreachable`, `NetworkUnreachable`
/// and `UnexpectedEof` mean the repository is unavailable (a drop request).
pub trait Fetcher {
    /// Opens the file at `path` for reading.
    fn fetch(&self, path: &str) -> io::Result<Box<dyn Read + '_>>;
}

/// A [`Fetcher`] reading a repository directory, as [`crate::Repository::write_to`] writes it.
#[derive(Debug, Clone)]
pub struct FsFetcher {
    root: PathBuf,
}

impl FsFetcher {
    /// A fetcher for the repository in `root`.
    pub fn new(root: impl Into<PathBuf>) -> FsFetcher {
        FsFetcher { root: root.into() }
    }
}

impl Fetcher for FsFetcher {
    fn fetch(&self, path: &str) -> io::Result<Box<dyn Read + '_>> {
        let relative = Path::new(path);
        if !relative
            .components()
            .all(|component| matches!(component, Component::Normal(_)))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("\"{path}\" is not a relative path inside the repository"),
            ));
        }
        Ok(Box::new(fs::File::open(self.root.join(relative))?))
    }
}

/// Where [`TrustedRepository::save`] keeps delegated roles, in its directory.
const DELEGATED_DIR: &str = "delegated";

/// Size limits against endless-data attacks, and the limit on root rotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest root metadata file; default 512 KiB.
    pub max_root_bytes: u64,
    /// The largest timestamp metadata file; default 16 KiB.
    pub max_timestamp_bytes: u64,
    /// The largest snapshot file when the timestamp does not give its length; default 2 MiB.
    pub max_snapshot_bytes: u64,
    /// The largest targets file when the snapshot does not give its length; default 5 MiB.
    pub max_targets_bytes: u64,
    /// The most new root versions accepted in one update; default 32.
    pub max_root_rotations: u64,
    /// The largest image, whatever its metadata declares; default 4 GiB.
    pub max_image_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_root_bytes: 512 * 1024,
            max_timestamp_bytes: 16 * 1024,
            max_snapshot_bytes: 2 * 1024 * 1024,
            max_targets_bytes: 5 * 1024 * 1024,
            max_root_rotations: 32,
            max_image_bytes: 4 * 1024 * 1024 * 1024,
        }
    }
}

/// The verified metadata of one repository.
#[derive(Debug, Clone)]
pub struct TrustedRepository {
    name: String,
    root: Signed<Root>,
    timestamp: Option<Signed<Timestamp>>,
    snapshot: Option<Signed<Snapshot>>,
    targets: Option<Signed<Targets>>,
    files: TrustedFiles,
    /// Delegated targets roles verified so far, by name, as received; verified
    /// again each time a lookup reaches them ([`crate::delegation`]).
    delegated: BTreeMap<String, Vec<u8>>,
    /// Whether the repository may serve root and targets alone (no timestamp nor
    /// snapshot), as the Uptane reference implementation's director does.
    targets_only_allowed: bool,
}

/// The trusted metadata files as received, so that they can be stored and
/// verified again (signatures cover the `signed` object exactly as received).
#[derive(Debug, Clone, Default)]
struct TrustedFiles {
    /// Every root version accepted after the one trusted out of band, in order.
    roots: Vec<(u64, Vec<u8>)>,
    timestamp: Option<Vec<u8>>,
    snapshot: Option<Vec<u8>>,
    targets: Option<Vec<u8>>,
}

impl TrustedRepository {
    /// Starts from a root trusted out of band, such as one provisioned at the
    /// factory. `name` (`director` or `image`) appears in error messages. The root
    /// must be signed by a threshold of its own root keys; it may have expired, as
    /// a newer root is looked for first.
    pub fn new(name: &str, root: &[u8]) -> Result<TrustedRepository, OtaError> {
        let path = "trusted root";
        let raw = RawSigned::parse(path, root)?;
        let root: Signed<Root> = raw.metadata(path)?;
        check_threshold(
            name,
            "root",
            &raw,
            &root.signed,
            root.signed.role(RoleName::Root)?,
            "",
        )?;
        Ok(TrustedRepository {
            name: name.to_string(),
            root,
            timestamp: None,
            snapshot: None,
            targets: None,
            files: TrustedFiles::default(),
            delegated: BTreeMap::new(),
            targets_only_allowed: false,
        })
    }

    /// Starts from the root trusted out of band, as [`TrustedRepository::new`],
    /// then loads the metadata [`TrustedRepository::save`] stored in `dir`,
    /// verifying it again: the root chain from `root` on (each version signed by
    /// the previous one and by itself), then the timestamp, snapshot and targets,
    /// each signed by the keys of the latest root and matching the version,
    /// length and hashes listed above it. Expiry is not checked: expired metadata
    /// still bounds what the next update accepts, and the next update checks it.
    ///
    /// A missing `dir` or file is no error (nothing was stored yet). A stored root
    /// that does not verify is an error; a stored timestamp, snapshot or targets
    /// file that does not verify is dropped with the files below it, with a
    /// warning, so that a save interrupted between two files still loads what is
    /// consistent.
    pub fn load(
        name: &str,
        root: &[u8],
        dir: &Path,
        limits: &Limits,
    ) -> Result<TrustedRepository, OtaError> {
        let mut trusted = TrustedRepository::new(name, root)?;
        trusted.load_from(dir, limits)?;
        Ok(trusted)
    }

    /// Loads what [`TrustedRepository::save`] stored in `dir` into a repository
    /// that trusts nothing but its root yet, as [`TrustedRepository::load`] does.
    pub fn load_from(&mut self, dir: &Path, limits: &Limits) -> Result<(), OtaError> {
        let stored = FsFetcher::new(dir);
        self.follow_roots(&stored, limits)?;
        if let Err(error) = self.load_roles(&stored, limits) {
            tracing::warn!(repository = self.name, dir = %dir.display(), %error, "stored trusted metadata dropped");
        }
        Ok(())
    }

    /// Loads the stored timestamp, snapshot and targets in that order, keeping
    /// each one that verifies; stops at the first missing or refused file.
    fn load_roles(&mut self, stored: &FsFetcher, limits: &Limits) -> Result<(), OtaError> {
        let path = RoleName::Timestamp.file_name();
        let Some(bytes) =
            fetch_metadata(&self.name, stored, &path, limits.max_timestamp_bytes, true)?
        else {
            if self.targets_only_allowed {
                return self.load_targets_only(stored, limits);
            }
            return Ok(());
        };
        let raw = RawSigned::parse(&path, &bytes)?;
        let timestamp: Signed<Timestamp> = raw.metadata(&path)?;
        self.check_role_signatures(&raw)?;
        let listed = snapshot_meta(&path, &timestamp.signed)?.clone();
        self.timestamp = Some(timestamp);
        self.files.timestamp = Some(bytes);

        let path = RoleName::Snapshot.file_name();
        let limit = listed.length.unwrap_or(limits.max_snapshot_bytes);
        let Some(bytes) = fetch_metadata(&self.name, stored, &path, limit, true)? else {
            return Ok(());
        };
        let raw = RawSigned::parse(&path, &bytes)?;
        let snapshot: Signed<Snapshot> = raw.metadata(&path)?;
        self.check_listed(
            "snapshot",
            snapshot.signed.version,
            &bytes,
            &listed,
            "timestamp",
        )?;
        self.check_role_signatures(&raw)?;
        let targets_path = RoleName::Targets.file_name();
        let listed = snapshot.signed.meta.get(&targets_path).cloned();
        self.snapshot = Some(snapshot);
        self.files.snapshot = Some(bytes);

        let Some(listed) = listed else {
            return Ok(());
        };
        let path = targets_path;
        let limit = listed.length.unwrap_or(limits.max_targets_bytes);
        let Some(bytes) = fetch_metadata(&self.name, stored, &path, limit, true)? else {
            return Ok(());
        };
        let raw = RawSigned::parse(&path, &bytes)?;
        let targets: Signed<Targets> = raw.metadata(&path)?;
        self.check_listed(
            "targets",
            targets.signed.version,
            &bytes,
            &listed,
            "snapshot",
        )?;
        self.check_role_signatures(&raw)?;
        self.targets = Some(targets);
        self.files.targets = Some(bytes);
        self.load_delegated(stored, limits);
        Ok(())
    }

    /// Loads the stored delegated roles the trusted snapshot lists at the version
    /// stored; their signatures are checked when a lookup reaches them.
    fn load_delegated(&mut self, stored: &FsFetcher, limits: &Limits) {
        let Some(snapshot) = self.snapshot.as_ref() else {
            return;
        };
        let listed: Vec<(String, MetaFile)> = snapshot
            .signed
            .meta
            .iter()
            .filter_map(|(file, meta)| {
                let role = file.strip_suffix(".json")?;
                (role != RoleName::Targets.as_str() && crate::delegation::valid_role_name(role))
                    .then(|| (role.to_string(), meta.clone()))
            })
            .collect();
        for (role, meta) in listed {
            let path = format!("{DELEGATED_DIR}/{role}.json");
            let limit = meta.length.unwrap_or(limits.max_targets_bytes);
            let loaded = fetch_metadata(&self.name, stored, &path, limit, true).and_then(|bytes| {
                let Some(bytes) = bytes else { return Ok(None) };
                let raw = RawSigned::parse(&path, &bytes)?;
                let targets: Signed<Targets> = raw.metadata(&path)?;
                let label = format!("role \"{role}\"");
                self.check_listed(&label, targets.signed.version, &bytes, &meta, "snapshot")?;
                Ok(Some(bytes))
            });
            match loaded {
                Ok(Some(bytes)) => {
                    self.delegated.insert(role, bytes);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(repository = self.name, %role, %error, "stored delegated role dropped");
                }
            }
        }
    }

    /// Loads a stored targets file of a repository that serves no timestamp.
    fn load_targets_only(&mut self, stored: &FsFetcher, limits: &Limits) -> Result<(), OtaError> {
        let path = RoleName::Targets.file_name();
        let Some(bytes) =
            fetch_metadata(&self.name, stored, &path, limits.max_targets_bytes, true)?
        else {
            return Ok(());
        };
        let raw = RawSigned::parse(&path, &bytes)?;
        let targets: Signed<Targets> = raw.metadata(&path)?;
        self.check_role_signatures(&raw)?;
        self.targets = Some(targets);
        self.files.targets = Some(bytes);
        Ok(())
    }

    /// Stores the trusted metadata in `dir` (created if needed), for
    /// [`TrustedRepository::load`]: every root version accepted after the one
    /// trusted out of band as `<version>.root.json`, and `timestamp.json`,
    /// `snapshot.json` and `targets.json`, each written to a temporary file and
    /// renamed over the previous one. A role not trusted (yet) has its file removed.
    /// Delegated roles verified by [`TrustedRepository::resolve_target`] are kept
    /// in `delegated/<role>.json`.
    pub fn save(&self, dir: &Path) -> Result<(), OtaError> {
        fs::create_dir_all(dir).map_err(OtaError::io("create trusted metadata directory", dir))?;
        for (version, bytes) in &self.files.roots {
            write_atomically(&dir.join(format!("{version}.root.json")), bytes)?;
        }
        // Top down, so that an interrupted save leaves a consistent prefix.
        let roles = [
            (RoleName::Timestamp, &self.files.timestamp),
            (RoleName::Snapshot, &self.files.snapshot),
            (RoleName::Targets, &self.files.targets),
        ];
        for (role, bytes) in roles {
            let path = dir.join(role.file_name());
            match bytes {
                Some(bytes) => write_atomically(&path, bytes)?,
                None => match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                    Err(error) => {
                        return Err(OtaError::io("remove trusted metadata", &path)(error))
                    }
                },
            }
        }
        if !self.delegated.is_empty() {
            let delegated = dir.join(DELEGATED_DIR);
            fs::create_dir_all(&delegated).map_err(OtaError::io(
                "create trusted metadata directory",
                &delegated,
            ))?;
            for (role, bytes) in &self.delegated {
                write_atomically(&delegated.join(format!("{role}.json")), bytes)?;
            }
        }
        Ok(())
    }

    /// The repository's name, `director` or `image`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Accepts a repository that serves root and targets only, no timestamp nor
    /// snapshot, as the Uptane reference implementation's director does; for the
    /// director only: the image repository must serve all four roles. Once a
    /// timestamp was trusted, one is required again.
    pub fn allow_targets_only(&mut self) {
        self.targets_only_allowed = true;
    }

    /// The delegated role `name` as last verified, as received.
    pub(crate) fn delegated_bytes(&self, name: &str) -> Option<&[u8]> {
        self.delegated.get(name).map(Vec::as_slice)
    }

    /// Keeps the verified delegated role `name`, to be saved with the rest.
    pub(crate) fn keep_delegated(&mut self, name: &str, bytes: Vec<u8>) {
        self.delegated.insert(name.to_string(), bytes);
    }

    /// The trusted root.
    pub fn root(&self) -> &Root {
        &self.root.signed
    }

    /// The trusted timestamp, once an update succeeded.
    pub fn timestamp(&self) -> Option<&Timestamp> {
        self.timestamp.as_ref().map(|signed| &signed.signed)
    }

    /// The trusted snapshot, once an update succeeded.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref().map(|signed| &signed.signed)
    }

    /// The trusted targets, once an update succeeded.
    pub fn targets(&self) -> Option<&Targets> {
        self.targets.as_ref().map(|signed| &signed.signed)
    }

    /// Runs the TUF client workflow against `fetcher` at time `now`. On success the
    /// fetched metadata becomes trusted; on failure nothing changes.
    pub fn update(
        &mut self,
        fetcher: &dyn Fetcher,
        limits: &Limits,
        now: SystemTime,
    ) -> Result<(), OtaError> {
        let mut next = self.clone();
        next.update_root(fetcher, limits, now)?;
        if next.targets_only_allowed && next.timestamp.is_none() {
            let path = RoleName::Timestamp.file_name();
            let served =
                fetch_metadata(&next.name, fetcher, &path, limits.max_timestamp_bytes, true)?;
            // No timestamp, and none ever trusted: root and targets only.
            if served.is_none() {
                next.update_targets_only(fetcher, limits, now)?;
                *self = next;
                return Ok(());
            }
        }
        next.update_timestamp(fetcher, limits, now)?;
        next.update_snapshot(fetcher, limits, now)?;
        next.update_targets(fetcher, limits, now)?;
        *self = next;
        Ok(())
    }

    /// Targets straight after the root, for a repository that serves no timestamp
    /// nor snapshot ([`TrustedRepository::allow_targets_only`]): signed by the
    /// targets keys, not older than the trusted targets, not expired.
    fn update_targets_only(
        &mut self,
        fetcher: &dyn Fetcher,
        limits: &Limits,
        now: SystemTime,
    ) -> Result<(), OtaError> {
        let path = RoleName::Targets.file_name();
        let bytes = fetch_required(&self.name, fetcher, &path, limits.max_targets_bytes)?;
        let raw = RawSigned::parse(&path, &bytes)?;
        let targets: Signed<Targets> = raw.metadata(&path)?;
        self.check_role_signatures(&raw)?;
        if let Some(trusted) = &self.targets {
            self.check_not_older("targets", targets.signed.version, trusted.signed.version)?;
        }
        self.check_not_expired(&targets.signed, now)?;
        self.targets = Some(targets);
        self.files.targets = Some(bytes);
        Ok(())
    }

    /// Steps 5.3.2 to 5.3.11: follow `<version>.root.json` while it exists.
    fn update_root(
        &mut self,
        fetcher: &dyn Fetcher,
        limits: &Limits,
        now: SystemTime,
    ) -> Result<(), OtaError> {
        let first = self.root.signed.clone();
        self.follow_roots(fetcher, limits)?;
        let root = &self.root.signed;
        if root.expires.is_expired(now) {
            return Err(self.expired(RoleName::Root, root.expires));
        }
        // A rotated timestamp or snapshot key must be able to recover from a
        // fast-forward attack: forget what the old keys signed.
        let rotated = [RoleName::Timestamp, RoleName::Snapshot]
            .into_iter()
            .any(|role| role_keys_changed(&first, root, role));
        if rotated {
            self.timestamp = None;
            self.snapshot = None;
            self.files.timestamp = None;
            self.files.snapshot = None;
        }
        Ok(())
    }

    /// Follows `<version>.root.json` while it exists, each new version signed by
    /// a threshold of the previous version's root keys and of its own.
    /// Follows the root chain only (`<N+1>.root.json` while there is one), each new
    /// root signed by a threshold of the previous root's keys and of its own: what a
    /// server that publishes roots checks before it signs under the newest.
    pub fn follow_root_chain(
        &mut self,
        fetcher: &dyn Fetcher,
        limits: &Limits,
    ) -> Result<(), OtaError> {
        self.follow_roots(fetcher, limits)
    }

    fn follow_roots(&mut self, fetcher: &dyn Fetcher, limits: &Limits) -> Result<(), OtaError> {
        for _ in 0..limits.max_root_rotations {
            let trusted = &self.root.signed;
            let version = trusted.version + 1;
            let path = format!("{version}.root.json");
            let Some(bytes) =
                fetch_metadata(&self.name, fetcher, &path, limits.max_root_bytes, true)?
            else {
                break;
            };
            let raw = RawSigned::parse(&path, &bytes)?;
            let root: Signed<Root> = raw.metadata(&path)?;
            let by_previous = format!(" by the keys of root version {}", trusted.version);
            check_threshold(
                &self.name,
                "root",
                &raw,
                trusted,
                trusted.role(RoleName::Root)?,
                &by_previous,
            )?;
            let by_own = format!(" by its own keys (root version {version})");
            check_threshold(
                &self.name,
                "root",
                &raw,
                &root.signed,
                root.signed.role(RoleName::Root)?,
                &by_own,
            )?;
            if root.signed.version != version {
                return Err(OtaError::VersionMismatch {
                    repository: self.name.clone(),
                    role: "root".into(),
                    expected: version,
                    received: root.signed.version,
                    listed_by: format!("the file name \"{path}\""),
                });
            }
            self.root = root;
            self.files.roots.push((version, bytes));
        }
        Ok(())
    }

    /// Step 5.4: the timestamp.
    fn update_timestamp(
        &mut self,
        fetcher: &dyn Fetcher,
        limits: &Limits,
        now: SystemTime,
    ) -> Result<(), OtaError> {
        let path = RoleName::Timestamp.file_name();
        let bytes = fetch_required(&self.name, fetcher, &path, limits.max_timestamp_bytes)?;
        let raw = RawSigned::parse(&path, &bytes)?;
        let timestamp: Signed<Timestamp> = raw.metadata(&path)?;
        self.check_role_signatures(&raw)?;
        let listed = snapshot_meta(&path, &timestamp.signed)?;
        if let Some(trusted) = &self.timestamp {
            self.check_not_older(
                "timestamp",
                timestamp.signed.version,
                trusted.signed.version,
            )?;
            let trusted_listed = snapshot_meta(&path, &trusted.signed)?;
            self.check_not_older("snapshot", listed.version, trusted_listed.version)?;
        }
        self.check_not_expired(&timestamp.signed, now)?;
        self.timestamp = Some(timestamp);
        self.files.timestamp = Some(bytes);
        Ok(())
    }

    /// Step 5.5: the snapshot the timestamp names.
    fn update_snapshot(
        &mut self,
        fetcher: &dyn Fetcher,
        limits: &Limits,
        now: SystemTime,
    ) -> Result<(), OtaError> {
        let path = RoleName::Snapshot.file_name();
        let timestamp = self
            .timestamp
            .as_ref()
            .expect("the timestamp is updated first");
        let listed = snapshot_meta(&RoleName::Timestamp.file_name(), &timestamp.signed)?.clone();
        let limit = listed.length.unwrap_or(limits.max_snapshot_bytes);
        let bytes = fetch_required(&self.name, fetcher, &path, limit)?;
        let raw = RawSigned::parse(&path, &bytes)?;
        let snapshot: Signed<Snapshot> = raw.metadata(&path)?;
        self.check_listed(
            "snapshot",
            snapshot.signed.version,
            &bytes,
            &listed,
            "timestamp",
        )?;
        self.check_role_signatures(&raw)?;
        if let Some(trusted) = &self.snapshot {
            for (file, trusted_meta) in &trusted.signed.meta {
                let Some(meta) = snapshot.signed.meta.get(file) else {
                    return Err(OtaError::InvalidMetadata {
                        path: path.clone(),
                        reason: format!("snapshot no longer lists \"{file}\""),
                    });
                };
                let role = match file.strip_suffix(".json").unwrap_or(file) {
                    "targets" => "targets".to_string(),
                    delegated => format!("role \"{delegated}\""),
                };
                self.check_not_older(&role, meta.version, trusted_meta.version)?;
            }
        }
        self.check_not_expired(&snapshot.signed, now)?;
        self.snapshot = Some(snapshot);
        self.files.snapshot = Some(bytes);
        Ok(())
    }

    /// Step 5.6: the top-level targets the snapshot names.
    fn update_targets(
        &mut self,
        fetcher: &dyn Fetcher,
        limits: &Limits,
        now: SystemTime,
    ) -> Result<(), OtaError> {
        let path = RoleName::Targets.file_name();
        let snapshot = self
            .snapshot
            .as_ref()
            .expect("the snapshot is updated first");
        let listed =
            snapshot
                .signed
                .meta
                .get(&path)
                .cloned()
                .ok_or_else(|| OtaError::InvalidMetadata {
                    path: RoleName::Snapshot.file_name(),
                    reason: format!("snapshot does not list \"{path}\""),
                })?;
        let limit = listed.length.unwrap_or(limits.max_targets_bytes);
        let bytes = fetch_required(&self.name, fetcher, &path, limit)?;
        let raw = RawSigned::parse(&path, &bytes)?;
        let targets: Signed<Targets> = raw.metadata(&path)?;
        self.check_listed(
            "targets",
            targets.signed.version,
            &bytes,
            &listed,
            "snapshot",
        )?;
        self.check_role_signatures(&raw)?;
        self.check_not_expired(&targets.signed, now)?;
        self.targets = Some(targets);
        self.files.targets = Some(bytes);
        Ok(())
    }

    /// Checks a top-level role's signatures against the trusted root.
    fn check_role_signatures(&self, raw: &RawSigned) -> Result<(), OtaError> {
        let role = role_of(raw)?;
        let keys = self.root.signed.role(role)?;
        check_threshold(&self.name, role.as_str(), raw, &self.root.signed, keys, "")
    }

    /// Checks that metadata has the version, length and hashes its parent lists.
    /// The version is compared first, so that a stale file reads as a partial bundle.
    pub(crate) fn check_listed(
        &self,
        role: &str,
        version: u64,
        bytes: &[u8],
        listed: &MetaFile,
        listed_by: &str,
    ) -> Result<(), OtaError> {
        if version != listed.version {
            return Err(OtaError::VersionMismatch {
                repository: self.name.clone(),
                role: role.into(),
                expected: listed.version,
                received: version,
                listed_by: listed_by.into(),
            });
        }
        let mismatch = |what: String| OtaError::MetadataMismatch {
            repository: self.name.clone(),
            role: role.into(),
            what,
            listed_by: listed_by.into(),
        };
        if let Some(length) = listed.length {
            if length != bytes.len() as u64 {
                return Err(mismatch(format!("length {length}")));
            }
        }
        for (algorithm, expected) in listed.hashes.iter().flatten() {
            match hash(algorithm, bytes) {
                Some(actual) if actual.eq_ignore_ascii_case(expected) => {}
                Some(_) => return Err(mismatch(format!("{algorithm} hash"))),
                None => {}
            }
        }
        Ok(())
    }

    pub(crate) fn check_not_older(
        &self,
        role: &str,
        received: u64,
        trusted: u64,
    ) -> Result<(), OtaError> {
        if received < trusted {
            return Err(OtaError::MetadataRollback {
                repository: self.name.clone(),
                role: role.into(),
                received,
                trusted,
            });
        }
        Ok(())
    }

    fn check_not_expired<T: Metadata>(
        &self,
        metadata: &T,
        now: SystemTime,
    ) -> Result<(), OtaError> {
        if metadata.expires().is_expired(now) {
            return Err(self.expired(T::ROLE, metadata.expires()));
        }
        Ok(())
    }

    fn expired(&self, role: RoleName, expires: crate::metadata::Expiry) -> OtaError {
        OtaError::Expired {
            repository: self.name.clone(),
            role,
            expires,
        }
    }
}

/// Checks that a threshold of `role`'s keys in `root` signed `raw`.
fn check_threshold(
    repository: &str,
    role_name: &str,
    raw: &RawSigned,
    root: &Root,
    role: &RoleKeys,
    by: &str,
) -> Result<(), OtaError> {
    let tally = tally_signatures(&raw.signed, &raw.signatures, &root.keys, role)?;
    if role.threshold == 0 || tally.valid < role.threshold as usize {
        return Err(OtaError::ThresholdNotMet {
            repository: repository.into(),
            role: role_name.into(),
            valid: tally.valid,
            threshold: role.threshold,
            by: by.into(),
            rejected: tally.rejected_text(),
        });
    }
    Ok(())
}

/// The top-level role `raw` is for; `_type` without case, as the Uptane reference
/// implementation writes `Targets`.
fn role_of(raw: &RawSigned) -> Result<RoleName, OtaError> {
    let kind = raw.signed["_type"]
        .as_str()
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    serde_json::from_value(serde_json::Value::from(kind)).map_err(|_| OtaError::InvalidMetadata {
        path: "metadata".into(),
        reason: "\"_type\" is not a top-level role".into(),
    })
}

/// Whether `role` has other keys or another threshold in `after` than in `before`.
fn role_keys_changed(before: &Root, after: &Root, role: RoleName) -> bool {
    let keys = |root: &Root| {
        root.roles.get(&role).map(|keys| {
            let public: Vec<Option<PublicKey>> = keys
                .keyids
                .iter()
                .map(|id| root.keys.get(id).cloned())
                .collect();
            (keys.threshold, public)
        })
    };
    keys(before) != keys(after)
}

fn snapshot_meta<'a>(path: &str, timestamp: &'a Timestamp) -> Result<&'a MetaFile, OtaError> {
    timestamp
        .meta
        .get(&RoleName::Snapshot.file_name())
        .ok_or_else(|| OtaError::InvalidMetadata {
            path: path.into(),
            reason: "timestamp does not list \"snapshot.json\"".into(),
        })
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it
/// over `path`, so that `path` holds either the old or the new content.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), OtaError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let temporary = path.with_file_name(name);
    let mut file =
        fs::File::create(&temporary).map_err(OtaError::io("write trusted metadata", &temporary))?;
    io::Write::write_all(&mut file, bytes)
        .and_then(|()| file.sync_all())
        .map_err(OtaError::io("write trusted metadata", &temporary))?;
    fs::rename(&temporary, path).map_err(OtaError::io("store trusted metadata", path))
}

/// The hex digest of `bytes` with `algorithm`, if it is one this crate knows.
pub(crate) fn hash(algorithm: &str, bytes: &[u8]) -> Option<String> {
    match algorithm {
        "sha256" => Some(hex::encode(Sha256::digest(bytes))),
        "sha512" => Some(hex::encode(Sha512::digest(bytes))),
        _ => None,
    }
}

fn fetch_required(
    repository: &str,
    fetcher: &dyn Fetcher,
    path: &str,
    limit: u64,
) -> Result<Vec<u8>, OtaError> {
    fetch_metadata(repository, fetcher, path, limit, false)?.ok_or_else(|| {
        OtaError::MissingMetadata {
            repository: repository.into(),
            path: path.into(),
        }
    })
}

/// Reads at most `limit` bytes of `path`; more is an endless-data attack. A missing
/// file is `None` if `optional`.
pub(crate) fn fetch_metadata(
    repository: &str,
    fetcher: &dyn Fetcher,
    path: &str,
    limit: u64,
    optional: bool,
) -> Result<Option<Vec<u8>>, OtaError> {
    let fetch_error = |source| OtaError::fetch(repository, path, source);
    let reader = match fetcher.fetch(path) {
        Ok(reader) => reader,
        Err(error) if optional && error.kind() == io::ErrorKind::NotFound => return Ok(None),
        // The timestamp is where every update starts: a repository that does not
        // serve it withholds updates altogether.
        Err(error)
            if error.kind() == io::ErrorKind::NotFound
                && path == RoleName::Timestamp.file_name() =>
        {
            return Err(OtaError::Unavailable {
                repository: repository.into(),
                path: path.into(),
                source: error,
            })
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(OtaError::MissingMetadata {
                repository: repository.into(),
                path: path.into(),
            })
        }
        Err(error) => return Err(fetch_error(error)),
    };
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(fetch_error)?;
    if bytes.len() as u64 > limit {
        return Err(OtaError::MetadataTooLarge {
            repository: repository.into(),
            path: path.into(),
            limit,
        });
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_metadata_still_refuses_an_older_timestamp_after_loading() {
        use std::time::{Duration, UNIX_EPOCH};

        use crate::{generate_key, Lifetimes, Repository, RepositoryConfig, RoleConfig};

        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let key = generate_key();
        let role = RoleConfig {
            keys: vec![key.verifying_key()],
            threshold: 1,
        };
        let config = RepositoryConfig {
            root: role.clone(),
            targets: role.clone(),
            snapshot: role.clone(),
            timestamp: role,
        };
        let mut repository =
            Repository::create(&config, Lifetimes::default(), vec![key], now).unwrap();
        repository.add_target("app.bin", b"one", None).unwrap();
        repository.publish(now).unwrap();
        let temp = tempfile::tempdir().unwrap();
        let old = temp.path().join("old");
        repository.write_to(&old).unwrap();
        repository.add_target("app.bin", b"two", None).unwrap();
        repository.publish(now).unwrap();
        let served = temp.path().join("served");
        repository.write_to(&served).unwrap();

        let root = repository.root_file();
        let mut client = TrustedRepository::new("image", &root).unwrap();
        client
            .update(&FsFetcher::new(&served), &Limits::default(), now)
            .unwrap();
        let trusted = temp.path().join("trusted");
        client.save(&trusted).unwrap();

        let mut loaded =
            TrustedRepository::load("image", &root, &trusted, &Limits::default()).unwrap();
        let version = client.timestamp().unwrap().version;
        assert_eq!(loaded.timestamp().unwrap().version, version);
        assert_eq!(loaded.targets(), client.targets());
        let error = loaded
            .update(&FsFetcher::new(&old), &Limits::default(), now)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "rollback: image timestamp version {} is older than the trusted version {version}",
                version - 1
            )
        );
        // Nothing stored: the same old files are accepted.
        let mut fresh = TrustedRepository::load(
            "image",
            &root,
            &temp.path().join("none"),
            &Limits::default(),
        )
        .unwrap();
        fresh
            .update(&FsFetcher::new(&old), &Limits::default(), now)
            .unwrap();
    }

    #[test]
    fn fs_fetcher_refuses_paths_leaving_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = FsFetcher::new(dir.path());
        for path in ["../secret", "/etc/passwd", "a/../../b"] {
            let error = fetcher.fetch(path).err().unwrap();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{path}");
        }
        let error = fetcher.fetch("timestamp.json").err().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn metadata_over_the_limit_is_endless_data() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("timestamp.json"), vec![b' '; 101]).unwrap();
        let fetcher = FsFetcher::new(dir.path());
        let error = fetch_required("image", &fetcher, "timestamp.json", 100).unwrap_err();
        assert_eq!(
            error.to_string(),
            "endless data: image \"timestamp.json\" is larger than the 100 byte limit"
        );
        assert_eq!(
            fetch_required("image", &fetcher, "timestamp.json", 101)
                .unwrap()
                .len(),
            101
        );
    }
}
