//! Errors of the Zenoh bridge.

use std::path::PathBuf;

use crate::keys::NameKind;

/// Why a bridge could not be configured or started.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// A vehicle id or ECU name that is not one plain key segment.
    #[error("{kind} {name:?} is not valid: use 1 to 64 ASCII letters, digits, '-' or '_'")]
    BadName {
        /// What the name names.
        kind: NameKind,
        /// The name (shortened).
        name: String,
    },
    /// A configuration file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A configuration file is malformed.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A listen endpoint off loopback without `--insecure-zenoh`: the bridge's keys
    /// carry no token, so anyone reaching it could read signals and actuate.
    #[error("refusing to listen on Zenoh endpoint {endpoint} (--zenoh-listen or the bridge file's listen): Zenoh links are not authenticated yet, so anyone reaching it could read signals and actuate; listen on loopback (behind a Zenoh router with TLS and access control), or give --insecure-zenoh on a network you trust")]
    InsecureListen {
        /// The endpoint.
        endpoint: String,
    },
    /// Zenoh refused the configuration or could not open the session.
    #[error("Zenoh: {context}: {message}")]
    Zenoh {
        /// What was being done.
        context: String,
        /// Zenoh's message.
        message: String,
    },
}

impl BridgeError {
    pub(crate) fn zenoh(context: impl Into<String>, error: impl std::fmt::Display) -> BridgeError {
        BridgeError::Zenoh {
            context: context.into(),
            message: error.to_string(),
        }
    }
}
