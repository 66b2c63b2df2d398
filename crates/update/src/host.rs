//! What the update agent needs from the app runtime.

use std::future::Future;
use std::path::{Path, PathBuf};

use tomoe_types::{Tenant, WorkloadHealth, WorkloadState};

/// An app the host runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The workload name.
    pub name: String,
    /// The executable it runs.
    pub command: PathBuf,
    /// The tenant it runs as (its broker token is that tenant's), if any.
    pub tenant: Option<Tenant>,
}

/// What the host says about one app now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStatus {
    /// Its lifecycle state.
    pub state: WorkloadState,
    /// What its health check says.
    pub health: WorkloadHealth,
    /// Its process, while running.
    pub pid: Option<u32>,
    /// How often it was restarted.
    pub restarts: u32,
    /// Why it is in its state, or how its last run ended.
    pub reason: String,
}

/// An error of the app host, as it describes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostError(pub String);

/// The app runtime as the update agent uses it: the runtime implements it
/// (`tomoe_runtime::Runtime`); tests may script one.
pub trait AppHost: Clone + Send + Sync + 'static {
    /// The apps it runs.
    fn apps(&self) -> impl Future<Output = Result<Vec<App>, HostError>> + Send;

    /// The status of app `name`, if the host knows it.
    fn status(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<AppStatus>, HostError>> + Send;

    /// Runs app `name` from `command` from now on, as `tenant`'s (the tenant that
    /// signed the image; the host restarts it with that tenant's token).
    fn run_from(
        &self,
        name: &str,
        command: &Path,
        tenant: Option<&Tenant>,
    ) -> impl Future<Output = Result<(), HostError>> + Send;
}
