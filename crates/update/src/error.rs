//! Why the update agent could not do something.

use std::path::PathBuf;

use tomoe_ota::{InstallError, OtaError};

use crate::host::HostError;

/// An error of the update agent; the message names what and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The director or image repository was refused (an attack, or unreachable).
    #[error("update refused: {0}")]
    Refused(#[source] OtaError),
    /// The installer failed (slots, install state, download).
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The app host (the runtime) failed.
    #[error("the app host: {0}")]
    Host(#[from] HostError),
    /// A file of the agent could not be read or written.
    #[error("cannot {action} \"{}\": {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The primary's key could not be made, read or used.
    #[error("the primary's key: {0}")]
    Key(#[source] OtaError),
    /// The vehicle version manifest could not be reported.
    #[error("cannot report the vehicle version manifest: {0}")]
    Report(String),
    /// The root metadata given to the agent is not valid.
    #[error("invalid OTA root metadata: {0}")]
    Roots(#[source] OtaError),
    /// A blocking step was cancelled (the process is stopping).
    #[error("the {0} stopped before it finished")]
    Stopped(&'static str),
}

impl UpdateError {
    /// A closure that turns an I/O error about `path` into an [`UpdateError::Io`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> UpdateError {
        let path = path.into();
        move |source| UpdateError::Io {
            action,
            path,
            source,
        }
    }
}
