//! The SDK's error type.

use std::time::Duration;

pub use tonic::Code;

/// Why an SDK call failed. Messages are lowercase and name the signal path (or the
/// URL) they are about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// The broker URL cannot be parsed.
    #[error("invalid broker URL \"{url}\"")]
    InvalidUrl {
        /// The URL as given.
        url: String,
    },
    /// The token cannot travel in an `authorization` header.
    #[error("the token contains characters not allowed in a header")]
    InvalidToken,
    /// The broker could not be reached.
    #[error("cannot connect to the broker at {url}")]
    Connect {
        /// The broker URL.
        url: String,
        /// The transport's error.
        #[source]
        source: tonic::transport::Error,
    },
    /// No signal has this path.
    #[error("path not found: \"{0}\"")]
    NotFound(String),
    /// The broker refused the request, or ended a stream, with a gRPC status.
    #[error("broker refused \"{path}\" ({code:?}): {message}")]
    Refused {
        /// The path (or paths, comma-separated) the request was about.
        path: String,
        /// The gRPC status code, for example [`Code::PermissionDenied`].
        code: Code,
        /// The broker's message.
        message: String,
    },
    /// A value does not convert to the type asked for, or to the leaf's datatype.
    #[error("wrong type for \"{path}\": expected {expected}, got {found}")]
    Type {
        /// The signal path.
        path: String,
        /// The type asked for, or the leaf's datatype.
        expected: String,
        /// The value's type and the value.
        found: String,
    },
    /// A heartbeat did not reach the runtime or was not accepted.
    #[error("heartbeat to {url} failed")]
    Heartbeat {
        /// The heartbeat URL.
        url: String,
        /// What went wrong.
        #[source]
        source: HeartbeatError,
    },
}

impl SdkError {
    /// The error for a gRPC `status` about `paths`: [`SdkError::NotFound`] for a
    /// `NOT_FOUND` naming one of the paths, [`SdkError::Refused`] otherwise.
    pub(crate) fn from_status(paths: &[&str], status: tonic::Status) -> SdkError {
        if status.code() == Code::NotFound {
            let named = match paths {
                [path] => Some(*path),
                _ => paths
                    .iter()
                    .find(|path| status.message().contains(&format!("\"{path}\"")))
                    .copied(),
            };
            if let Some(path) = named {
                return SdkError::NotFound(path.to_owned());
            }
        }
        SdkError::Refused {
            path: paths.join(", "),
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}

/// Why a heartbeat failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeartbeatError {
    /// The runtime URL (with the workload name) is not a valid `http://` URL.
    #[error("invalid runtime URL: {0}")]
    InvalidUrl(String),
    /// The runtime could not be reached.
    #[error("cannot reach the runtime")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The runtime did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The runtime answered with a status other than 204 No Content.
    #[error("the runtime answered {status}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Rejected {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
}
