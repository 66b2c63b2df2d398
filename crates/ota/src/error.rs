//! The crate's error type.
//!
//! A refused update names the Uptane attack it stops (rollback, freeze,
//! mix-and-match, arbitrary software, endless data, partial bundle, threshold not
//! met, wrong hardware id, slow retrieval, drop request) at the start of its
//! message, so that a log line says why an update was refused without further
//! context.

use std::io;
use std::path::PathBuf;

use crate::metadata::{Expiry, RoleName};

/// Why metadata or an image was refused, or why repository tooling failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtaError {
    /// A metadata version went down compared with the trusted one.
    #[error("rollback: {repository} {role} version {received} is older than the trusted version {trusted}")]
    MetadataRollback {
        /// The repository, `director` or `image`.
        repository: String,
        /// The role whose version went down.
        role: String,
        /// The version received.
        received: u64,
        /// The version trusted so far.
        trusted: u64,
    },
    /// An image's release counter is lower than the one installed.
    #[error("rollback: release counter {received} of \"{target}\" is lower than the installed release counter {installed}")]
    ReleaseCounterRollback {
        /// The target the director assigned.
        target: String,
        /// Its release counter.
        received: u64,
        /// The release counter of the installed image.
        installed: u64,
    },
    /// Metadata has expired: a freeze attack, or a repository that stopped signing.
    #[error("freeze: {repository} {role} metadata expired at {expires}")]
    Expired {
        /// The repository, `director` or `image`.
        repository: String,
        /// The expired role.
        role: RoleName,
        /// When it expired.
        expires: Expiry,
    },
    /// A delegated targets role's metadata has expired.
    #[error("freeze: {repository} role \"{role}\" metadata expired at {expires}")]
    RoleExpired {
        /// The repository, `director` or `image`.
        repository: String,
        /// The delegated role.
        role: String,
        /// When it expired.
        expires: Expiry,
    },
    /// A delegated targets role is not trusted as it is: missing from the
    /// snapshot, with threshold 0, listing a path it is not trusted for, or
    /// beyond the limit of roles one lookup visits.
    #[error("delegation: {repository} role \"{role}\" {reason}")]
    Delegation {
        /// The repository, `image` (a director does not delegate).
        repository: String,
        /// The delegated role.
        role: String,
        /// What is wrong, such as `is not trusted for "apps/nissan/x"`.
        reason: String,
    },
    /// Fewer distinct trusted keys signed the metadata than the threshold asks.
    #[error("threshold not met: {repository} {role} metadata has {valid} valid signatures of the {threshold} required{by}{rejected}")]
    ThresholdNotMet {
        /// The repository, `director` or `image`.
        repository: String,
        /// The role whose signatures were checked.
        role: String,
        /// The number of distinct keys whose signatures verified.
        valid: usize,
        /// The number required.
        threshold: u32,
        /// Whose keys were counted, for a root rotation (" by the keys of root version 1"), or empty.
        by: String,
        /// The keys of the role whose signatures did not verify (" (the signature
        /// of key <id> does not verify)"), or empty.
        rejected: String,
    },
    /// Metadata's version is not the one the metadata above it lists.
    #[error("partial bundle: {repository} {role} version {received} is not the version {expected} listed in {listed_by}")]
    VersionMismatch {
        /// The repository, `director` or `image`.
        repository: String,
        /// The role fetched.
        role: String,
        /// The version listed by the parent metadata.
        expected: u64,
        /// The version received.
        received: u64,
        /// The metadata that lists it (`timestamp`, `snapshot`, or the file name of a root).
        listed_by: String,
    },
    /// Metadata's bytes do not match the length or hash listed for them.
    #[error("mix-and-match: {repository} {role} does not match the {what} listed in {listed_by}")]
    MetadataMismatch {
        /// The repository, `director` or `image`.
        repository: String,
        /// The role fetched.
        role: String,
        /// What differs, such as `sha256 hash` or `length`.
        what: String,
        /// The metadata that lists it.
        listed_by: String,
    },
    /// Metadata is larger than the limit for it.
    #[error("endless data: {repository} \"{path}\" is larger than the {limit} byte limit")]
    MetadataTooLarge {
        /// The repository, `director` or `image`.
        repository: String,
        /// The file fetched.
        path: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// An image is longer than its metadata declares or than the limit.
    #[error("endless data: image \"{target}\" is longer than {limit} bytes")]
    ImageTooLong {
        /// The target fetched.
        target: String,
        /// The declared length, or the configured limit if that is lower.
        limit: u64,
    },
    /// An image's bytes do not match its metadata.
    #[error("arbitrary software: image \"{target}\" does not match its {what}")]
    ImageMismatch {
        /// The target fetched.
        target: String,
        /// What differs, such as `sha256 hash` or `length 1024`.
        what: String,
    },
    /// The director's target and the image repository's disagree.
    #[error(
        "mix-and-match: director target \"{target}\" differs from the image repository: {what}"
    )]
    DirectorImageMismatch {
        /// The target the director assigned.
        target: String,
        /// What differs.
        what: String,
    },
    /// The director assigned an image the image repository does not list.
    #[error("arbitrary software: director target \"{target}\" is not in the image repository")]
    NotInImageRepository {
        /// The target the director assigned.
        target: String,
    },
    /// The director assigned an image built for other hardware.
    #[error("wrong hardware id: \"{target}\" is for hardware \"{received}\" but ECU \"{ecu}\" is \"{expected}\"")]
    WrongHardwareId {
        /// The target the director assigned.
        target: String,
        /// The ECU it was assigned to.
        ecu: String,
        /// The ECU's hardware id.
        expected: String,
        /// The hardware id in the metadata.
        received: String,
    },
    /// The director's metadata is not valid for this vehicle.
    #[error("invalid director assignment: {reason}")]
    InvalidAssignment {
        /// What is wrong, naming the target or ECU.
        reason: String,
    },
    /// A metadata file needed for the update was not served.
    #[error("missing metadata: {repository} \"{path}\" was not served")]
    MissingMetadata {
        /// The repository, `director` or `image`.
        repository: String,
        /// The file requested.
        path: String,
    },
    /// A file could not be fetched.
    #[error("cannot fetch {repository} \"{path}\"")]
    Fetch {
        /// The repository, `director` or `image`.
        repository: String,
        /// The file requested.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file arrived slower than the minimum transfer rate, or did not arrive in
    /// the time allowed: a slow-retrieval attack, or a very poor link.
    #[error("slow retrieval: {repository} \"{path}\" arrived too slowly")]
    SlowRetrieval {
        /// The repository, `director` or `image`.
        repository: String,
        /// The file requested.
        path: String,
        /// The cause: the rate measured or the time limit exceeded.
        #[source]
        source: io::Error,
    },
    /// A repository did not answer: it is unreachable, it dropped the connection,
    /// or it does not serve the timestamp. A drop-request attack, or an outage;
    /// the vehicle cannot tell them apart and keeps what it trusts.
    #[error("drop request: {repository} \"{path}\" is unavailable")]
    Unavailable {
        /// The repository, `director` or `image`.
        repository: String,
        /// The file requested.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Metadata is not valid TUF JSON of the expected role.
    #[error("invalid metadata \"{path}\": {reason}")]
    InvalidMetadata {
        /// The file or role at fault.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A key could not be used.
    #[error("invalid key{path}: {reason}", path = path.as_ref().map(|path| format!(" \"{}\"", path.display())).unwrap_or_default())]
    InvalidKey {
        /// The key file, if the key came from one.
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// Repository tooling was asked for something it cannot do.
    #[error("repository: {0}")]
    Repository(String),
    /// A vehicle version manifest is malformed or not signed by the primary's key.
    #[error("invalid vehicle manifest: {reason}")]
    InvalidManifest {
        /// What is wrong.
        reason: String,
    },
    /// An HTTP fetcher could not be set up for a base URL.
    #[error("invalid repository URL \"{url}\": {reason}")]
    HttpSetup {
        /// The base URL given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("cannot {action} \"{path}\"")]
    Io {
        /// What was attempted, such as `write metadata`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl OtaError {
    /// The error for a failed fetch of `path`, by the kind of `source`: a timeout
    /// is slow retrieval, a refused, reset or aborted connection is a dropped
    /// request, anything else a plain fetch error.
    pub(crate) fn fetch(repository: &str, path: &str, source: io::Error) -> OtaError {
        let repository = repository.to_string();
        let path = path.to_string();
        match source.kind() {
            io::ErrorKind::TimedOut => OtaError::SlowRetrieval {
                repository,
                path,
                source,
            },
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::UnexpectedEof => OtaError::Unavailable {
                repository,
                path,
                source,
            },
            _ => OtaError::Fetch {
                repository,
                path,
                source,
            },
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> OtaError {
        let path = path.into();
        move |source| OtaError::Io {
            action,
            path,
            source,
        }
    }
}
