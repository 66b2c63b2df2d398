//! The crate's error type.

use std::io;

/// Errors of the CAN layer. Messages name the file, line or interface at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CanError {
    /// A candump line given to [`parse_line`](crate::parse_line) is malformed.
    #[error("malformed candump line: {reason}")]
    Malformed {
        /// What is wrong with the line.
        reason: String,
    },
    /// A line of a candump log is malformed.
    #[error("malformed candump line {line} in \"{file}\": {reason}")]
    MalformedLine {
        /// Name of the log, usually its path.
        file: String,
        /// Line number, counted from 1.
        line: u64,
        /// What is wrong with the line.
        reason: String,
    },
    /// A frame cannot be built from the given parts.
    #[error("invalid frame: {reason}")]
    InvalidFrame {
        /// What is wrong with the parts.
        reason: String,
    },
    /// A file could not be opened or created.
    #[error("cannot open \"{file}\"")]
    Open {
        /// The file.
        file: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading a log failed.
    #[error("cannot read \"{file}\"")]
    Read {
        /// Name of the log, usually its path.
        file: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing a log failed.
    #[error("cannot write \"{file}\"")]
    Write {
        /// Name of the log, usually its path.
        file: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Replay options were refused.
    #[error("invalid replay speed {speed}: must be a positive finite factor")]
    InvalidSpeed {
        /// The speed factor given.
        speed: f64,
    },
    /// A bus receiver fell behind; the oldest frames were dropped for it.
    /// The receiver stays usable and continues with the oldest frame still held.
    #[error("bus receiver fell behind and skipped {skipped} frames")]
    Lagged {
        /// Number of frames this receiver missed.
        skipped: u64,
    },
    /// No network interface of that name exists.
    #[error("can interface \"{interface}\" not found")]
    InterfaceNotFound {
        /// The interface name.
        interface: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A socket operation on a CAN interface failed.
    #[error("cannot {action} can interface \"{interface}\"")]
    Socket {
        /// The interface name.
        interface: String,
        /// What was attempted: "open", "read from" or "send to".
        action: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
}
