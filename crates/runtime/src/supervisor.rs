//! The supervisor: one actor owning every workload, reconciling desired and actual state.
//!
//! This module is the actor's handle ([`Runtime`]) and its requests. The actor itself is
//! in [`actor`]. It keeps a [`slot::Slot`] per workload, asks [`reconcile`] (each pass)
//! and [`exits`] (after an exit) what to do, pure decisions returned as
//! [`action::Action`]s, and does it through [`process`] (spawning, signals, `/proc`, exit
//! watching, probes, logs).

mod action;
mod actor;
mod exits;
mod process;
mod reconcile;
mod slot;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tomoe_types::{VehicleMode, WorkloadHealth, WorkloadState};

use crate::manifest::{Manifest, ManifestError, Workload};
use tracing::Instrument;

/// Issues the broker token of a workload from its declared access.
pub trait TokenSource: Send + Sync {
    /// A token for `workload` carrying `scope` (KUKSA scope syntax), of `tenant`
    /// when the workload belongs to one.
    fn token_for(
        &self,
        workload: &str,
        scope: &str,
        tenant: Option<&tomoe_types::Tenant>,
    ) -> Result<String, String>;
}

/// How long a workload's token is valid; it is renewed at every start.
pub const TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A token issuer signs each workload's token, valid for [`TOKEN_LIFETIME`].
impl TokenSource for tomoe_auth::TokenIssuer {
    fn token_for(
        &self,
        workload: &str,
        scope: &str,
        tenant: Option<&tomoe_types::Tenant>,
    ) -> Result<String, String> {
        match tenant {
            Some(tenant) => self.issue_for(tenant, workload, scope, TOKEN_LIFETIME),
            None => self.issue(workload, scope, TOKEN_LIFETIME),
        }
        .map_err(|error| error.to_string())
    }
}

/// Settings of the runtime.
#[derive(Clone)]
pub struct RuntimeConfig {
    /// Directory of the runtime database and the workload logs.
    pub data_dir: PathBuf,
    /// Broker URL given to workloads (`TOMOE_BROKER`).
    pub broker_url: String,
    /// Runtime API URL given to workloads (`TOMOE_RUNTIME`), for heartbeats.
    pub runtime_url: String,
    /// Largest size of a workload's log file before it is rotated (one old file kept).
    pub log_limit_bytes: u64,
    /// Grace period between SIGTERM and SIGKILL.
    pub stop_timeout: Duration,
    /// Issues scoped broker tokens; `None` starts workloads without a token.
    pub tokens: Option<Arc<dyn TokenSource>>,
}

impl std::fmt::Debug for RuntimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeConfig")
            .field("data_dir", &self.data_dir)
            .field("broker_url", &self.broker_url)
            .finish_non_exhaustive()
    }
}

/// Errors of runtime requests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The manifest was refused; nothing changed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// No workload with that name.
    #[error("no workload \"{0}\"")]
    NotFound(String),
    /// A heartbeat did not carry the workload's token.
    #[error("the heartbeat of \"{0}\" does not carry its token")]
    Unauthorized(String),
    /// The runtime database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The runtime has stopped.
    #[error("the runtime has stopped")]
    Stopped,
}

/// What a workload is doing, as `tomoe ps` shows it (and the HTTP API returns it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadStatus {
    /// Name.
    pub name: String,
    /// Its lifecycle state.
    pub state: WorkloadState,
    /// Why it is in that state (waiting for a dependency, not in this mode, ...).
    pub reason: String,
    /// Process id while running.
    pub pid: Option<u32>,
    /// How often it was restarted.
    pub restarts: u32,
    /// Failed runs in a row.
    pub consecutive_failures: u32,
    /// How the last run ended.
    pub last_exit: Option<String>,
    /// What its health check says (`none` without one).
    pub health: WorkloadHealth,
    /// Seconds since the process started.
    pub uptime_s: Option<f64>,
    /// Whether the user wants it running (false after `stop`).
    pub enabled: bool,
    /// Vehicle modes it may run in (empty: all); lowercase in JSON, as in manifests.
    #[serde(serialize_with = "crate::manifest::mode_names::serialize")]
    pub modes: Vec<VehicleMode>,
    /// Resource limits applied, or why not.
    pub limits: String,
    /// The log file.
    pub log: String,
}

/// A request to the actor, from the handle or from the tasks watching processes.
enum Request {
    Apply(Manifest, oneshot::Sender<Result<Vec<String>, RuntimeError>>),
    Start(String, oneshot::Sender<Result<(), RuntimeError>>),
    Stop(String, oneshot::Sender<Result<(), RuntimeError>>),
    Restart(String, oneshot::Sender<Result<(), RuntimeError>>),
    Delete(String, oneshot::Sender<Result<(), RuntimeError>>),
    List(oneshot::Sender<Vec<WorkloadStatus>>),
    Spec(String, oneshot::Sender<Option<Workload>>),
    Heartbeat(
        String,
        Option<String>,
        oneshot::Sender<Result<(), RuntimeError>>,
    ),
    Mode(VehicleMode),
    Shutdown(oneshot::Sender<()>),
    Exited(String, u32, String, bool),
    Probe(String, u32, bool),
}

/// A handle to the runtime; cheap to clone.
#[derive(Clone, Debug)]
pub struct Runtime {
    requests: mpsc::Sender<Request>,
    logs_dir: PathBuf,
}

impl Runtime {
    /// Opens the runtime's database, adopts the processes a previous runtime left
    /// running (or restarts them), and starts supervising in a task of its own (span
    /// `runtime-actor`). `mode` is the vehicle mode at start. Must be called within a
    /// tokio runtime.
    pub fn start(config: RuntimeConfig, mode: VehicleMode) -> Result<Runtime, RuntimeError> {
        let (sender, receiver) = mpsc::channel(256);
        let logs_dir = actor::Actor::spawn(config, mode, sender.clone(), receiver)?;
        Ok(Runtime {
            requests: sender,
            logs_dir,
        })
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, RuntimeError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(make(reply))
            .await
            .map_err(|_| RuntimeError::Stopped)?;
        answer.await.map_err(|_| RuntimeError::Stopped)
    }

    /// Applies a manifest: its workloads are created or updated (a changed workload is
    /// restarted) and enabled. Returns the names applied.
    pub async fn apply(&self, manifest: Manifest) -> Result<Vec<String>, RuntimeError> {
        self.ask(|reply| Request::Apply(manifest, reply)).await?
    }

    /// Enables a workload.
    pub async fn start_workload(&self, name: &str) -> Result<(), RuntimeError> {
        self.ask(|reply| Request::Start(name.to_owned(), reply))
            .await?
    }

    /// Disables a workload and stops its process.
    pub async fn stop_workload(&self, name: &str) -> Result<(), RuntimeError> {
        self.ask(|reply| Request::Stop(name.to_owned(), reply))
            .await?
    }

    /// Restarts a workload's process with its spec unchanged: for a new executable
    /// at the same path (an update installed into the slot it ran from), which a
    /// re-apply of the same spec would not start.
    pub async fn restart_workload(&self, name: &str) -> Result<(), RuntimeError> {
        self.ask(|reply| Request::Restart(name.to_owned(), reply))
            .await?
    }

    /// Stops and forgets a workload.
    pub async fn delete_workload(&self, name: &str) -> Result<(), RuntimeError> {
        self.ask(|reply| Request::Delete(name.to_owned(), reply))
            .await?
    }

    /// The status of every workload.
    pub async fn list(&self) -> Result<Vec<WorkloadStatus>, RuntimeError> {
        self.ask(Request::List).await
    }

    /// The spec of a workload as last applied, or `None` if there is no such workload.
    pub async fn workload_spec(&self, name: &str) -> Result<Option<Workload>, RuntimeError> {
        self.ask(|reply| Request::Spec(name.to_owned(), reply))
            .await
    }

    /// Records a heartbeat; `token` must be the workload's when tokens are issued.
    pub async fn heartbeat(&self, name: &str, token: Option<String>) -> Result<(), RuntimeError> {
        self.ask(|reply| Request::Heartbeat(name.to_owned(), token, reply))
            .await?
    }

    /// Tells the runtime the vehicle mode changed.
    pub async fn set_mode(&self, mode: VehicleMode) -> Result<(), RuntimeError> {
        self.requests
            .send(Request::Mode(mode))
            .await
            .map_err(|_| RuntimeError::Stopped)
    }

    /// Follows the vehicle mode of `mode` from now on, in a task that ends when the
    /// mode's sender or the runtime is gone.
    pub fn follow_modes(&self, mut mode: tokio::sync::watch::Receiver<VehicleMode>) {
        let runtime = self.clone();
        tokio::spawn(
            async move {
                while mode.changed().await.is_ok() {
                    let current = *mode.borrow();
                    if runtime.set_mode(current).await.is_err() {
                        return;
                    }
                }
            }
            .instrument(tracing::info_span!("runtime mode follower")),
        );
    }

    /// Stops every workload (SIGTERM, then SIGKILL after the stop timeout) and ends
    /// the supervisor. The desired state is kept: the next start runs them again.
    pub async fn shutdown(&self) -> Result<(), RuntimeError> {
        self.ask(Request::Shutdown).await
    }

    /// The log file of a workload.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.logs_dir.join(format!("{name}.log"))
    }
}
