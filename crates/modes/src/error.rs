//! Errors of the mode crate.

use tomoe_broker::BrokerError;
use tomoe_vss::{DataType, EntryType};

/// Why a mode name, a configuration or the state manager was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModeError {
    /// A threshold or duration of the configuration is out of range.
    #[error("invalid mode configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// A configured input path is not in the broker's catalog.
    #[error("mode input {input}: path \"{path}\" is not in the catalog")]
    UnknownPath {
        /// The input (`speed`, `selected_gear`, ...).
        input: &'static str,
        /// The configured path.
        path: String,
    },
    /// A configured input path has a datatype or entry type the input cannot use.
    #[error(
        "mode input {input}: \"{path}\" is a {entry_type} of type {datatype}, expected {expected}"
    )]
    WrongSignal {
        /// The input (`speed`, `selected_gear`, ...).
        input: &'static str,
        /// The configured path.
        path: String,
        /// The leaf's entry type.
        entry_type: EntryType,
        /// The leaf's datatype.
        datatype: DataType,
        /// What the input needs.
        expected: &'static str,
    },
    /// The mode signal's allowed values leave out one of the modes.
    #[error("\"{path}\" does not allow the vehicle mode {mode}")]
    ModeNotAllowed {
        /// The mode signal.
        path: String,
        /// The mode it leaves out.
        mode: crate::Mode,
    },
    /// The broker refused a subscription, a read, a claim or a publication.
    #[error("{action}")]
    Broker {
        /// What the state manager was doing.
        action: &'static str,
        /// The broker's reason.
        #[source]
        source: BrokerError,
    },
}
