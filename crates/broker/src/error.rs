//! Broker errors.

use std::fmt;

use tomoe_vss::{EntryType, LeafId, ValueError};

/// The kind of access a permission check was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading values, metadata or subscribing.
    Read,
    /// Setting actuator targets or requesting actuation, and claiming actuators as a provider.
    Actuate,
    /// Publishing current values as a provider.
    Provide,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Actuate => "actuate",
            Access::Provide => "provide",
        })
    }
}

/// Why the broker refused a request. Messages are lowercase and name the signal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// No leaf has this path (or no leaf matches this pattern).
    #[error("path not found: \"{path}\"")]
    NotFound {
        /// The requested path or pattern.
        path: String,
    },
    /// No leaf has this numeric id.
    #[error("signal id {id} not found")]
    UnknownId {
        /// The requested id.
        id: i64,
    },
    /// The pattern is malformed.
    #[error(transparent)]
    InvalidPattern(#[from] tomoe_vss::PatternError),
    /// The value does not fit the leaf's metadata.
    #[error(transparent)]
    InvalidValue(#[from] ValueError),
    /// A target value or actuation was requested for a sensor or attribute.
    #[error("\"{path}\" is a {entry_type}, not an actuator: it has no target value")]
    NotAnActuator {
        /// The leaf.
        path: String,
        /// Its entry type.
        entry_type: EntryType,
    },
    /// No provider has claimed the actuator.
    #[error("provider for \"{path}\" (id {id}) does not exist")]
    NoProvider {
        /// The actuator.
        path: String,
        /// Its numeric id.
        id: u32,
    },
    /// The provider's queue is full; the request was not delivered.
    #[error("provider for \"{path}\" is not keeping up; actuation request not delivered")]
    ProviderOverloaded {
        /// The actuator.
        path: String,
    },
    /// The provider took the request but could not carry it out (a provider on
    /// another ECU, or the link to it, failed).
    #[error("provider for \"{path}\" failed: {reason}")]
    ProviderFailed {
        /// The actuator.
        path: String,
        /// What the provider reported.
        reason: String,
    },
    /// Another provider has already claimed these actuators.
    #[error("providers for the following signals are already registered: {}", .paths.join(", "))]
    AlreadyClaimed {
        /// The contested paths.
        paths: Vec<String>,
    },
    /// The caller's permissions do not cover this access.
    #[error("permission denied: no {access} access to \"{path}\"")]
    PermissionDenied {
        /// The leaf.
        path: String,
        /// The access that was refused.
        access: Access,
    },
    /// The path lies in another tenant's private branch: no scope grants it.
    #[error(
        "permission denied: \"{path}\" is private to tenant {owner} and {}; no scope grants another tenant's private branch",
        match tenant { Some(tenant) => format!("the token's tenant is {tenant}"), None => "the token names no tenant".to_owned() }
    )]
    PrivateBranch {
        /// The leaf (or branch) asked for.
        path: String,
        /// The tenant the branch belongs to.
        owner: tomoe_types::Tenant,
        /// The caller's tenant, if its token named one.
        tenant: Option<tomoe_types::Tenant>,
    },
    /// The caller's token has expired.
    #[error("permission expired")]
    PermissionExpired,
    /// A subscription queue capacity outside the supported range.
    #[error("subscription buffer size {requested} is above the maximum of {max}")]
    BufferTooLarge {
        /// The requested capacity.
        requested: usize,
        /// The largest supported capacity.
        max: usize,
    },
    /// The request names no signal at all.
    #[error("no signals requested")]
    Empty,
    /// The answer would be larger than a request may ask for.
    #[error("the answer would hold about {bytes} bytes, more than the {limit} a request may ask for; ask for fewer signals")]
    AnswerTooLarge {
        /// About how large the answer would be.
        bytes: usize,
        /// The largest answer.
        limit: usize,
    },
    /// The stored values could not be read when the broker started.
    #[error("cannot restore stored values")]
    Restore(#[source] crate::PersistenceError),
    /// The durable store failed; nothing was changed.
    #[error("storage failed, nothing was changed")]
    Storage(#[source] crate::PersistenceError),
    /// One entry of a batch was refused, so the whole batch was: the entry says which
    /// and why ([`RefusedEntry::reason`]).
    #[error(transparent)]
    Refused(Box<RefusedEntry>),
}

impl BrokerError {
    /// The reason itself: for [`BrokerError::Refused`] the refused entry's reason,
    /// otherwise the error. Front ends map this to their status codes.
    pub fn reason(&self) -> &BrokerError {
        match self {
            BrokerError::Refused(entry) => entry.reason.reason(),
            other => other,
        }
    }

    /// The kind of the reason, in `snake_case` (`permission_denied`): one of
    /// [`crate::REFUSAL_KINDS`], for counting refusals without their details.
    pub fn kind(&self) -> &'static str {
        match self.reason() {
            BrokerError::NotFound { .. } => "not_found",
            BrokerError::UnknownId { .. } => "unknown_id",
            BrokerError::InvalidPattern(_) => "invalid_pattern",
            BrokerError::InvalidValue(_) => "invalid_value",
            BrokerError::NotAnActuator { .. } => "not_an_actuator",
            BrokerError::NoProvider { .. } => "no_provider",
            BrokerError::ProviderOverloaded { .. } => "provider_overloaded",
            BrokerError::ProviderFailed { .. } => "provider_failed",
            BrokerError::AlreadyClaimed { .. } => "already_claimed",
            BrokerError::PermissionDenied { .. } => "permission_denied",
            BrokerError::PrivateBranch { .. } => "private_branch",
            BrokerError::PermissionExpired => "permission_expired",
            BrokerError::BufferTooLarge { .. } => "buffer_too_large",
            BrokerError::Empty => "empty",
            BrokerError::AnswerTooLarge { .. } => "answer_too_large",
            BrokerError::Restore(_) => "restore",
            BrokerError::Storage(_) => "storage",
            BrokerError::Refused(entry) => entry.reason.kind(),
        }
    }
}

impl From<RefusedEntry> for BrokerError {
    fn from(entry: RefusedEntry) -> BrokerError {
        BrokerError::Refused(Box::new(entry))
    }
}

/// One entry of a batch (publish, set targets, actuate) that the broker refused.
#[derive(Debug)]
pub struct RefusedEntry {
    /// The entry's position in the batch, from 0.
    pub index: usize,
    /// The entry's leaf, as the caller gave it.
    pub leaf: LeafId,
    /// The leaf's path; empty when no leaf has the id.
    pub path: String,
    /// Why it was refused.
    pub reason: BrokerError,
}

impl fmt::Display for RefusedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(
                f,
                "entry {} of the batch (signal id {}) refused",
                self.index, self.leaf.0
            )
        } else {
            write!(
                f,
                "entry {} of the batch (\"{}\") refused",
                self.index, self.path
            )
        }
    }
}

impl std::error::Error for RefusedEntry {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.reason)
    }
}
