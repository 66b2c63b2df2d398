//! The supervisor: one actor owning every workload, reconciling desired and actual state.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::manifest::{
    Condition, HealthAction, Manifest, ManifestError, Problem, RestartWhen, RuntimeKind, Workload,
};
use crate::store::{DesiredWorkload, ProcessRecord, Store};

/// Issues the broker token of a workload from its declared access.
pub trait TokenSource: Send + Sync {
    /// A token for `workload` carrying `scope` (KUKSA scope syntax).
    fn token_for(&self, workload: &str, scope: &str) -> Result<String, String>;
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

/// What a workload is doing, as `tomoe ps` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadStatus {
    /// Name.
    pub name: String,
    /// `running`, `waiting`, `backoff`, `succeeded`, `failed`, `crash-looping`, `stopped`, `stopping`.
    pub state: String,
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
    /// `healthy`, `unhealthy`, `unknown` or `none` (no health check).
    pub health: String,
    /// Seconds since the process started.
    pub uptime_s: Option<f64>,
    /// Whether the user wants it running (false after `stop`).
    pub enabled: bool,
    /// Vehicle modes it may run in (empty: all).
    pub modes: Vec<String>,
    /// Resource limits applied, or why not.
    pub limits: String,
    /// The log file.
    pub log: String,
}

enum Request {
    Apply(Manifest, oneshot::Sender<Result<Vec<String>, RuntimeError>>),
    Start(String, oneshot::Sender<Result<(), RuntimeError>>),
    Stop(String, oneshot::Sender<Result<(), RuntimeError>>),
    Delete(String, oneshot::Sender<Result<(), RuntimeError>>),
    List(oneshot::Sender<Vec<WorkloadStatus>>),
    Spec(String, oneshot::Sender<Option<Workload>>),
    Heartbeat(
        String,
        Option<String>,
        oneshot::Sender<Result<(), RuntimeError>>,
    ),
    Mode(String),
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
    /// running (or restarts them), and starts supervising. `mode` is the vehicle mode
    /// at start (lowercase, for example `parked`).
    pub fn start(config: RuntimeConfig, mode: &str) -> Result<Runtime, RuntimeError> {
        let store = Store::open(&config.data_dir)?;
        let logs_dir = config.data_dir.join("logs");
        std::fs::create_dir_all(&logs_dir)
            .map_err(|e| crate::store::StoreError::io(&logs_dir, e))?;
        let (sender, receiver) = mpsc::channel(256);
        let mut actor = Actor {
            config,
            store,
            slots: BTreeMap::new(),
            order: Vec::new(),
            mode: mode.to_owned(),
            requests: sender.clone(),
            logs_dir: logs_dir.clone(),
            issued: HashMap::new(),
            shutdown: None,
        };
        actor.load()?;
        tokio::spawn(actor.run(receiver));
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

    /// Tells the runtime the vehicle mode changed (lowercase, for example `driving`).
    pub async fn set_mode(&self, mode: &str) -> Result<(), RuntimeError> {
        self.requests
            .send(Request::Mode(mode.to_owned()))
            .await
            .map_err(|_| RuntimeError::Stopped)
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

impl crate::store::StoreError {
    pub(crate) fn io(path: &Path, error: std::io::Error) -> crate::store::StoreError {
        crate::store::StoreError::new(path, error.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Stopping,
    Backoff,
    Succeeded,
    Failed,
    CrashLoop,
    Stopped,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Running => "running",
            State::Stopping => "stopping",
            State::Backoff => "backoff",
            State::Succeeded => "succeeded",
            State::Failed => "failed",
            State::CrashLoop => "crash-looping",
            State::Stopped => "stopped",
        }
    }
}

struct Process {
    pid: u32,
    started: Instant,
    /// When SIGTERM was sent, to escalate to SIGKILL.
    terminating_since: Option<Instant>,
    /// Adopted from a previous runtime: not our child, watched through /proc.
    adopted: bool,
    /// Why the runtime stopped it (health), so the exit is judged accordingly.
    killed_for: Option<String>,
}

struct Slot {
    desired: DesiredWorkload,
    state: State,
    reason: String,
    process: Option<Process>,
    restarts: u32,
    consecutive_failures: u32,
    next_start: Option<Instant>,
    last_exit: Option<String>,
    last_heartbeat: Option<Instant>,
    healthy: Option<bool>,
    next_probe: Option<Instant>,
    limits: String,
}

impl Slot {
    fn new(desired: DesiredWorkload) -> Slot {
        Slot {
            desired,
            state: State::Waiting,
            reason: String::new(),
            process: None,
            restarts: 0,
            consecutive_failures: 0,
            next_start: None,
            last_exit: None,
            last_heartbeat: None,
            healthy: None,
            next_probe: None,
            limits: "none requested".into(),
        }
    }

    fn spec(&self) -> &Workload {
        &self.desired.spec
    }
}

struct Actor {
    config: RuntimeConfig,
    store: Store,
    slots: BTreeMap<String, Slot>,
    /// Names in dependency order (dependencies first).
    order: Vec<String>,
    mode: String,
    requests: mpsc::Sender<Request>,
    logs_dir: PathBuf,
    issued: HashMap<String, String>,
    shutdown: Option<(Instant, oneshot::Sender<()>)>,
}

impl Actor {
    fn load(&mut self) -> Result<(), RuntimeError> {
        for desired in self.store.workloads()? {
            let mut slot = Slot::new(desired);
            slot.state = match slot.desired.terminal.as_deref() {
                Some("succeeded") => State::Succeeded,
                Some("failed") => State::Failed,
                Some("crash-looping") => State::CrashLoop,
                _ if !slot.desired.enabled => State::Stopped,
                _ => State::Waiting,
            };
            self.slots.insert(slot.desired.spec.name.clone(), slot);
        }
        self.reorder();
        for (name, record) in self.store.processes()? {
            let alive = process_start_ticks(record.pid) == Some(record.start_ticks);
            match self.slots.get_mut(&name) {
                Some(slot) if alive => {
                    tracing::info!(workload = %name, pid = record.pid, "adopted a running workload");
                    slot.process = Some(Process {
                        pid: record.pid,
                        started: Instant::now(),
                        terminating_since: None,
                        adopted: true,
                        killed_for: None,
                    });
                    slot.state = State::Running;
                    slot.last_heartbeat = Some(Instant::now());
                    // It ran healthy before the runtime went away; the next check decides.
                    slot.healthy = Some(true);
                }
                _ => {
                    if alive {
                        // A process of a workload that no longer exists: stop it.
                        signal_group(record.pid, nix::sys::signal::Signal::SIGTERM);
                    }
                    self.store.set_process(&name, None)?;
                }
            }
        }
        Ok(())
    }

    fn reorder(&mut self) {
        let mut order = Vec::with_capacity(self.slots.len());
        let mut placed: HashMap<&str, bool> = HashMap::new();
        for _ in 0..=self.slots.len() {
            for (name, slot) in &self.slots {
                if placed.contains_key(name.as_str()) {
                    continue;
                }
                let ready = slot.spec().depends_on.iter().all(|d| {
                    placed.contains_key(d.workload.as_str())
                        || !self.slots.contains_key(&d.workload)
                });
                if ready {
                    placed.insert(name, true);
                    order.push(name.clone());
                }
            }
        }
        self.order = order;
    }

    async fn run(mut self, mut receiver: mpsc::Receiver<Request>) {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_rotation = Instant::now();
        loop {
            tokio::select! {
                request = receiver.recv() => match request {
                    Some(request) => self.handle(request),
                    None => return,
                },
                _ = tick.tick() => {}
            }
            if self.shutdown.is_some() {
                if self.finish_shutdown() {
                    return;
                }
                continue;
            }
            self.reconcile();
            if last_rotation.elapsed() > Duration::from_secs(1) {
                last_rotation = Instant::now();
                self.rotate_logs();
            }
        }
    }

    fn handle(&mut self, request: Request) {
        match request {
            Request::Apply(manifest, reply) => {
                let _ = reply.send(self.apply(manifest));
            }
            Request::Spec(name, reply) => {
                let _ = reply.send(self.slots.get(&name).map(|slot| slot.desired.spec.clone()));
            }
            Request::Start(name, reply) => {
                let _ = reply.send(self.set_enabled(&name, true));
            }
            Request::Stop(name, reply) => {
                let _ = reply.send(self.set_enabled(&name, false));
            }
            Request::Delete(name, reply) => {
                let result = match self.slots.get_mut(&name) {
                    None => Err(RuntimeError::NotFound(name.clone())),
                    Some(slot) => {
                        if let Some(process) = &mut slot.process {
                            terminate(process);
                        }
                        let orphan = slot.process.take();
                        self.slots.remove(&name);
                        self.reorder();
                        if let Some(process) = orphan {
                            // Watch it to the end so that it is killed if it ignores SIGTERM.
                            let timeout = self.config.stop_timeout;
                            tokio::spawn(async move {
                                tokio::time::sleep(timeout).await;
                                signal_group(process.pid, nix::sys::signal::Signal::SIGKILL);
                            });
                        }
                        self.store
                            .delete_workload(&name)
                            .map_err(RuntimeError::from)
                    }
                };
                let _ = reply.send(result);
            }
            Request::List(reply) => {
                let _ = reply.send(
                    self.order
                        .iter()
                        .filter_map(|n| self.slots.get(n))
                        .map(|s| self.status(s))
                        .collect(),
                );
            }
            Request::Heartbeat(name, token, reply) => {
                let result = match self.slots.get_mut(&name) {
                    None => Err(RuntimeError::NotFound(name)),
                    Some(slot) => {
                        let expected = self.issued.get(&name);
                        if expected.is_some() && expected != token.as_ref() {
                            Err(RuntimeError::Unauthorized(name))
                        } else {
                            slot.last_heartbeat = Some(Instant::now());
                            slot.healthy = Some(true);
                            Ok(())
                        }
                    }
                };
                let _ = reply.send(result);
            }
            Request::Mode(mode) => {
                if mode != self.mode {
                    tracing::info!(from = %self.mode, to = %mode, "vehicle mode changed");
                    self.mode = mode;
                }
            }
            Request::Shutdown(reply) => {
                for slot in self.slots.values_mut() {
                    if let Some(process) = &mut slot.process {
                        terminate(process);
                    }
                }
                self.shutdown = Some((Instant::now(), reply));
            }
            Request::Exited(name, pid, description, success) => {
                self.exited(&name, pid, description, success)
            }
            Request::Probe(name, pid, healthy) => {
                if let Some(slot) = self.slots.get_mut(&name) {
                    if slot.process.as_ref().is_some_and(|p| p.pid == pid) {
                        slot.healthy = Some(healthy);
                        if healthy {
                            slot.last_heartbeat = Some(Instant::now());
                        }
                    }
                }
            }
        }
    }

    /// Waits for the stopped processes; kills what outlives the timeout. True when done.
    fn finish_shutdown(&mut self) -> bool {
        let Some(since) = self.shutdown.as_ref().map(|(since, _)| *since) else {
            return false;
        };
        let running: Vec<(String, u32, bool)> = self
            .slots
            .iter()
            .filter_map(|(name, slot)| {
                slot.process
                    .as_ref()
                    .map(|p| (name.clone(), p.pid, p.adopted))
            })
            .collect();
        let gone_adopted: Vec<(String, u32)> = running
            .iter()
            .filter(|(_, pid, adopted)| *adopted && process_start_ticks(*pid).is_none())
            .map(|(name, pid, _)| (name.clone(), *pid))
            .collect();
        for (name, pid) in gone_adopted {
            self.judge_exit(
                &name,
                pid,
                "stopped (adopted process; exit code unknown)".into(),
                true,
            );
        }
        let remaining = self.slots.values().filter(|s| s.process.is_some()).count();
        if remaining > 0 && since.elapsed() <= self.config.stop_timeout {
            return false;
        }
        for (name, slot) in &mut self.slots {
            if let Some(process) = slot.process.take() {
                tracing::warn!(workload = %name, "workload ignored SIGTERM; killing it");
                signal_group(process.pid, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = self.store.set_process(name, None);
        }
        if let Some((_, reply)) = self.shutdown.take() {
            let _ = reply.send(());
        }
        true
    }

    fn apply(&mut self, manifest: Manifest) -> Result<Vec<String>, RuntimeError> {
        manifest.validate()?;
        let mut problems = Vec::new();
        for (index, workload) in manifest.workloads.iter().enumerate() {
            if workload.runtime == RuntimeKind::Podman && which("podman").is_none() {
                problems.push(Problem {
                    location: format!("workloads[{index}].runtime"),
                    message: "podman is not installed on this machine".into(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(ManifestError { problems }.into());
        }
        let desired: Vec<DesiredWorkload> = manifest
            .workloads
            .iter()
            .map(|spec| DesiredWorkload {
                spec: spec.clone(),
                enabled: true,
                terminal: None,
            })
            .collect();
        self.store.put_workloads(&desired)?;
        let mut names = Vec::new();
        for workload in desired {
            let name = workload.spec.name.clone();
            match self.slots.get_mut(&name) {
                Some(slot) if slot.desired.spec == workload.spec => {
                    slot.desired.enabled = true;
                    slot.desired.terminal = None;
                    if matches!(
                        slot.state,
                        State::CrashLoop | State::Stopped | State::Failed
                    ) {
                        slot.state = State::Waiting;
                        slot.consecutive_failures = 0;
                        slot.next_start = None;
                    }
                }
                Some(slot) => {
                    // A changed spec: stop the old process; the new spec starts on the next pass.
                    if let Some(process) = &mut slot.process {
                        terminate(process);
                    }
                    slot.desired = workload;
                    slot.consecutive_failures = 0;
                    slot.next_start = None;
                    if slot.process.is_none() {
                        slot.state = State::Waiting;
                    }
                }
                None => {
                    self.slots.insert(name.clone(), Slot::new(workload));
                }
            }
            names.push(name);
        }
        self.reorder();
        Ok(names)
    }

    fn set_enabled(&mut self, name: &str, enabled: bool) -> Result<(), RuntimeError> {
        let slot = self
            .slots
            .get_mut(name)
            .ok_or_else(|| RuntimeError::NotFound(name.to_owned()))?;
        slot.desired.enabled = enabled;
        slot.desired.terminal = None;
        if enabled {
            if matches!(
                slot.state,
                State::CrashLoop | State::Stopped | State::Failed | State::Succeeded
            ) {
                slot.state = State::Waiting;
                slot.consecutive_failures = 0;
                slot.next_start = None;
            }
        } else if let Some(process) = &mut slot.process {
            terminate(process);
            slot.state = State::Stopping;
            slot.reason = "stopped by the user".into();
        } else {
            slot.state = State::Stopped;
        }
        let desired = slot.desired.clone();
        self.store.put_workloads(&[desired])?;
        Ok(())
    }

    fn exited(&mut self, name: &str, pid: u32, description: String, success: bool) {
        self.judge_exit(name, pid, description, success);
        // Final states and a health-stop survive a restart of the runtime.
        let Some(slot) = self.slots.get_mut(name) else {
            return;
        };
        let terminal = match slot.state {
            State::Succeeded => Some("succeeded"),
            State::Failed => Some("failed"),
            State::CrashLoop => Some("crash-looping"),
            _ => None,
        };
        if terminal.is_some() || !slot.desired.enabled {
            slot.desired.terminal = terminal.map(str::to_owned);
            if let Err(error) = self
                .store
                .put_workloads(std::slice::from_ref(&slot.desired))
            {
                tracing::warn!(workload = %name, %error, "cannot record the final state");
            }
        }
    }

    fn judge_exit(&mut self, name: &str, pid: u32, description: String, success: bool) {
        let Some(slot) = self.slots.get_mut(name) else {
            return;
        };
        let Some(process) = slot.process.take_if(|p| p.pid == pid) else {
            return;
        };
        if let Err(error) = self.store.set_process(name, None) {
            tracing::warn!(workload = %name, %error, "cannot record the exit");
        }
        let ran_for = process.started.elapsed();
        let description = match &process.killed_for {
            Some(reason) => format!("{description} (killed: {reason})"),
            None => description,
        };
        tracing::info!(workload = %name, pid, exit = %description, "workload exited");
        slot.last_exit = Some(description);
        slot.healthy = None;
        if process.terminating_since.is_some() && process.killed_for.is_none() {
            // Stopped on purpose (disabled, mode change, new spec): not a failure.
            slot.state = if slot.desired.enabled {
                State::Waiting
            } else {
                State::Stopped
            };
            return;
        }
        let failed = !success || process.killed_for.is_some();
        let restart = &slot.desired.spec.restart;
        if ran_for >= Duration::from_millis(restart.stable_after_ms) {
            slot.consecutive_failures = 0;
        }
        if process.killed_for.is_some()
            && slot
                .desired
                .spec
                .health
                .as_ref()
                .is_some_and(|h| h.on_failure == HealthAction::Stop)
        {
            slot.state = State::Failed;
            slot.desired.enabled = false;
            return;
        }
        let restart_now = match restart.policy {
            RestartWhen::Never => false,
            RestartWhen::OnFailure => failed,
            RestartWhen::Always => true,
        };
        if failed {
            slot.consecutive_failures += 1;
        }
        if !restart_now {
            slot.state = if failed {
                State::Failed
            } else {
                State::Succeeded
            };
            return;
        }
        if failed && slot.consecutive_failures >= restart.crash_loop_limit {
            tracing::warn!(workload = %name, failures = slot.consecutive_failures, "workload is crash-looping; not restarted");
            slot.state = State::CrashLoop;
            return;
        }
        let exponent = slot.consecutive_failures.saturating_sub(1).min(16);
        let delay =
            (restart.initial_backoff_ms.saturating_mul(1 << exponent)).min(restart.max_backoff_ms);
        slot.state = State::Backoff;
        slot.next_start = Some(Instant::now() + Duration::from_millis(delay));
    }

    fn mode_allows(&self, slot: &Slot) -> bool {
        slot.spec().modes.is_empty() || slot.spec().modes.contains(&self.mode)
    }

    /// Whether the dependencies of `slot` have reached their conditions, or why not.
    fn dependencies_met(&self, slot: &Slot) -> Result<(), String> {
        for dependency in &slot.spec().depends_on {
            let Some(other) = self.slots.get(&dependency.workload) else {
                return Err(format!(
                    "dependency \"{}\" is not deployed",
                    dependency.workload
                ));
            };
            let met = match dependency.condition {
                Condition::Running => {
                    other.state == State::Running
                        && other.process.is_some()
                        && (other.spec().health.is_none() || other.healthy == Some(true))
                }
                Condition::Succeeded => other.state == State::Succeeded,
                Condition::Failed => matches!(other.state, State::Failed | State::CrashLoop),
            };
            if !met {
                let condition = match dependency.condition {
                    Condition::Running => "running",
                    Condition::Succeeded => "succeeded",
                    Condition::Failed => "failed",
                };
                return Err(format!(
                    "waiting for \"{}\" to be {condition}",
                    dependency.workload
                ));
            }
        }
        Ok(())
    }

    /// Like [`Actor::dependencies_met`], for the `running` conditions only.
    fn running_dependencies_met(&self, slot: &Slot) -> Result<(), String> {
        for dependency in slot
            .spec()
            .depends_on
            .iter()
            .filter(|d| d.condition == Condition::Running)
        {
            let running = self.slots.get(&dependency.workload).is_some_and(|other| {
                other.state == State::Running
                    && other.process.is_some()
                    && (other.spec().health.is_none() || other.healthy != Some(false))
            });
            if !running {
                return Err(format!(
                    "dependency \"{}\" stopped running",
                    dependency.workload
                ));
            }
        }
        Ok(())
    }

    fn reconcile(&mut self) {
        let now = Instant::now();
        // Stops first, dependents before their dependencies.
        let order = self.order.clone();
        for name in order.iter().rev() {
            let Some(slot) = self.slots.get(name) else {
                continue;
            };
            // A running workload stops when it is disabled, when the mode forbids it, or
            // when a dependency it needs *running* stops; `succeeded`/`failed`
            // conditions only gate the start.
            let stop_reason = if !slot.desired.enabled {
                Some("stopped by the user".to_owned())
            } else if !self.mode_allows(slot) {
                Some(format!("not allowed in mode {}", self.mode))
            } else {
                self.running_dependencies_met(slot).err()
            };
            let should_run = stop_reason.is_none();
            let slot = self.slots.get_mut(name).expect("listed slot exists");
            if let Some(process) = &mut slot.process {
                if !should_run && process.terminating_since.is_none() {
                    tracing::info!(workload = %name, reason = stop_reason.as_deref().unwrap_or(""), "stopping workload");
                    terminate(process);
                    slot.state = State::Stopping;
                    slot.reason = stop_reason.unwrap_or_default();
                }
                if let Some(since) = process.terminating_since {
                    if since.elapsed() > self.config.stop_timeout {
                        signal_group(process.pid, nix::sys::signal::Signal::SIGKILL);
                    }
                }
                if process.adopted && process_start_ticks(process.pid).is_none() {
                    let pid = process.pid;
                    // Not our child: its exit code is unknown. If we stopped it, it ended as asked.
                    let (text, stopped) = if process.terminating_since.is_some() {
                        ("stopped (adopted process; exit code unknown)", true)
                    } else {
                        ("exited (adopted process; exit code unknown)", false)
                    };
                    let _ = self.requests.try_send(Request::Exited(
                        name.clone(),
                        pid,
                        text.into(),
                        stopped,
                    ));
                }
            }
        }
        // Health checks.
        for name in &order {
            let Some(slot) = self.slots.get_mut(name) else {
                continue;
            };
            let (Some(health), Some(process)) =
                (slot.desired.spec.health.clone(), slot.process.as_mut())
            else {
                continue;
            };
            if process.terminating_since.is_some()
                || process.started.elapsed() < Duration::from_millis(health.startup_grace_ms)
            {
                continue;
            }
            if let Some(heartbeat) = &health.heartbeat {
                let last = slot
                    .last_heartbeat
                    .unwrap_or(process.started)
                    .max(process.started);
                let silent = last.elapsed();
                if silent > Duration::from_millis(heartbeat.deadline_ms) {
                    slot.healthy = Some(false);
                    self::act_on_unhealthy(
                        name,
                        slot,
                        &format!("no heartbeat for {} ms", silent.as_millis()),
                        health.on_failure,
                    );
                }
                continue;
            }
            if slot.next_probe.is_none_or(|at| now >= at) {
                let pid = process.pid;
                let requests = self.requests.clone();
                let workload = name.clone();
                if let Some(exec) = &health.exec {
                    slot.next_probe = Some(now + Duration::from_millis(exec.interval_ms));
                    let exec = exec.clone();
                    tokio::spawn(async move {
                        let run = tokio::process::Command::new(&exec.command[0])
                            .args(&exec.command[1..])
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .status();
                        let healthy = matches!(tokio::time::timeout(Duration::from_millis(exec.timeout_ms), run).await, Ok(Ok(status)) if status.success());
                        let _ = requests.send(Request::Probe(workload, pid, healthy)).await;
                    });
                } else if let Some(http) = &health.http {
                    slot.next_probe = Some(now + Duration::from_millis(http.interval_ms));
                    let http = http.clone();
                    tokio::spawn(async move {
                        let healthy = matches!(
                            tokio::time::timeout(
                                Duration::from_millis(http.timeout_ms),
                                http_ok(&http.url)
                            )
                            .await,
                            Ok(true)
                        );
                        let _ = requests.send(Request::Probe(workload, pid, healthy)).await;
                    });
                }
            }
            if slot.healthy == Some(false) {
                self::act_on_unhealthy(name, slot, "the health probe failed", health.on_failure);
            }
        }
        // Starts, dependencies before their dependents.
        for name in &order {
            let Some(slot) = self.slots.get(name) else {
                continue;
            };
            if slot.process.is_some() || !slot.desired.enabled {
                continue;
            }
            if matches!(
                slot.state,
                State::CrashLoop | State::Failed | State::Succeeded | State::Stopped
            ) {
                continue;
            }
            if !self.mode_allows(slot) {
                let reason = format!(
                    "not allowed in mode {} (runs in {})",
                    self.mode,
                    slot.spec().modes.join(", ")
                );
                let slot = self.slots.get_mut(name).expect("listed slot exists");
                slot.state = State::Waiting;
                slot.reason = reason;
                continue;
            }
            if let Err(reason) = self.dependencies_met(slot) {
                let slot = self.slots.get_mut(name).expect("listed slot exists");
                slot.state = State::Waiting;
                slot.reason = reason;
                continue;
            }
            if slot.next_start.is_some_and(|at| now < at) {
                continue;
            }
            self.spawn(name);
        }
    }

    fn spawn(&mut self, name: &str) {
        let token = self.token_for(name);
        let slot = self.slots.get_mut(name).expect("spawned slot exists");
        let spec = slot.desired.spec.clone();
        let log_path = self.logs_dir.join(format!("{name}.log"));
        let started = spawn_process(&spec, &self.config, token.as_deref(), &log_path);
        match started {
            Ok((mut child, pid)) => {
                let start_ticks = process_start_ticks(pid).unwrap_or(0);
                if let Err(error) = self
                    .store
                    .set_process(name, Some(&ProcessRecord { pid, start_ticks }))
                {
                    tracing::warn!(workload = %name, %error, "cannot record the process");
                }
                slot.limits = crate::limits::apply(name, pid, spec.resources.as_ref());
                if slot.next_start.is_some() || slot.last_exit.is_some() {
                    slot.restarts += 1;
                }
                slot.process = Some(Process {
                    pid,
                    started: Instant::now(),
                    terminating_since: None,
                    adopted: false,
                    killed_for: None,
                });
                slot.state = State::Running;
                slot.reason.clear();
                slot.next_start = None;
                slot.healthy = None;
                slot.last_heartbeat = None;
                slot.next_probe = None;
                tracing::info!(workload = %name, pid, "workload started");
                let requests = self.requests.clone();
                let workload = name.to_owned();
                tokio::spawn(async move {
                    let (description, success) = match child.wait().await {
                        Ok(status) => (describe_exit(status), status.success()),
                        Err(error) => (format!("cannot wait for the process: {error}"), false),
                    };
                    let _ = requests
                        .send(Request::Exited(workload, pid, description, success))
                        .await;
                });
            }
            Err(error) => {
                tracing::warn!(workload = %name, %error, "cannot start workload");
                slot.last_exit = Some(format!("could not start: {error}"));
                slot.consecutive_failures += 1;
                let restart = &spec.restart;
                if restart.policy == RestartWhen::Never {
                    slot.state = State::Failed;
                } else if slot.consecutive_failures >= restart.crash_loop_limit {
                    slot.state = State::CrashLoop;
                } else {
                    let exponent = slot.consecutive_failures.saturating_sub(1).min(16);
                    let delay = restart
                        .initial_backoff_ms
                        .saturating_mul(1 << exponent)
                        .min(restart.max_backoff_ms);
                    slot.state = State::Backoff;
                    slot.next_start = Some(Instant::now() + Duration::from_millis(delay));
                }
            }
        }
    }

    fn token_for(&mut self, name: &str) -> Option<String> {
        let source = self.config.tokens.clone()?;
        let access = &self.slots.get(name)?.spec().access;
        let mut actuate = access.actuate.clone();
        if !access.mode_requests.is_empty() {
            actuate.push("Vehicle.Tomoe.ModeRequest".into());
        }
        let mut scope: Vec<String> = Vec::new();
        scope.extend(access.read.iter().map(|p| format!("read:{p}")));
        scope.extend(actuate.iter().map(|p| format!("actuate:{p}")));
        scope.extend(access.provide.iter().map(|p| format!("provide:{p}")));
        match source.token_for(name, &scope.join(" ")) {
            Ok(token) => {
                self.issued.insert(name.to_owned(), token.clone());
                Some(token)
            }
            Err(error) => {
                tracing::warn!(workload = %name, %error, "cannot issue a broker token; starting without one");
                None
            }
        }
    }

    fn status(&self, slot: &Slot) -> WorkloadStatus {
        let spec = slot.spec();
        let health = match (&spec.health, slot.healthy) {
            (None, _) => "none",
            (Some(_), Some(true)) => "healthy",
            (Some(_), Some(false)) => "unhealthy",
            (Some(_), None) => "unknown",
        };
        WorkloadStatus {
            name: spec.name.clone(),
            state: slot.state.as_str().to_owned(),
            reason: slot.reason.clone(),
            pid: slot.process.as_ref().map(|p| p.pid),
            restarts: slot.restarts,
            consecutive_failures: slot.consecutive_failures,
            last_exit: slot.last_exit.clone(),
            health: health.to_owned(),
            uptime_s: slot
                .process
                .as_ref()
                .map(|p| p.started.elapsed().as_secs_f64()),
            enabled: slot.desired.enabled,
            modes: spec.modes.clone(),
            limits: slot.limits.clone(),
            log: self
                .logs_dir
                .join(format!("{}.log", spec.name))
                .display()
                .to_string(),
        }
    }

    fn rotate_logs(&self) {
        for name in self.slots.keys() {
            let path = self.logs_dir.join(format!("{name}.log"));
            let Ok(metadata) = std::fs::metadata(&path) else {
                continue;
            };
            if metadata.len() <= self.config.log_limit_bytes {
                continue;
            }
            // Copy, then truncate: the process keeps its append-mode descriptor.
            let old = self.logs_dir.join(format!("{name}.log.1"));
            if std::fs::copy(&path, &old).is_ok() {
                if let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) {
                    let _ = file.set_len(0);
                }
            }
        }
    }
}

fn act_on_unhealthy(name: &str, slot: &mut Slot, why: &str, action: HealthAction) {
    let Some(process) = slot.process.as_mut() else {
        return;
    };
    if process.terminating_since.is_some() {
        return;
    }
    match action {
        HealthAction::Report => {
            slot.reason = format!("unhealthy: {why}");
        }
        HealthAction::Restart | HealthAction::Stop => {
            tracing::warn!(workload = %name, reason = why, "workload is unhealthy; killing it");
            process.killed_for = Some(why.to_owned());
            signal_group(process.pid, nix::sys::signal::Signal::SIGKILL);
            process.terminating_since = Some(Instant::now());
        }
    }
}

fn terminate(process: &mut Process) {
    if process.terminating_since.is_none() {
        signal_group(process.pid, nix::sys::signal::Signal::SIGTERM);
        process.terminating_since = Some(Instant::now());
    }
}

fn signal_group(pid: u32, signal: nix::sys::signal::Signal) {
    let group = nix::unistd::Pid::from_raw(-(pid as i32));
    if nix::sys::signal::kill(group, signal).is_err() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "ended".into(),
    }
}

fn spawn_process(
    spec: &Workload,
    config: &RuntimeConfig,
    token: Option<&str>,
    log_path: &Path,
) -> std::io::Result<(tokio::process::Child, u32)> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)?;
    let log_err = log.try_clone()?;
    let mut command = match spec.runtime {
        RuntimeKind::Native => {
            let mut command = tokio::process::Command::new(&spec.command);
            command.args(&spec.args);
            command
        }
        RuntimeKind::Podman => {
            let mut command = tokio::process::Command::new("podman");
            command.args([
                "run",
                "--rm",
                "--network",
                "host",
                "--name",
                &format!("tomoe-{}", spec.name),
            ]);
            // `-e NAME` copies the value from podman's own environment, so secrets such
            // as the token never appear on a command line.
            for (key, _) in workload_env(spec, config, token) {
                command.arg("-e").arg(key);
            }
            command.arg(&spec.command).args(&spec.args);
            command
        }
    };
    command.envs(workload_env(spec, config, token));
    if let Some(dir) = &spec.working_dir {
        command.current_dir(dir);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .process_group(0)
        .kill_on_drop(false);
    let child = command.spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| std::io::Error::other("the process ended before it was watched"))?;
    Ok((child, pid))
}

fn workload_env(
    spec: &Workload,
    config: &RuntimeConfig,
    token: Option<&str>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("TOMOE_BROKER".into(), config.broker_url.clone()),
        ("TOMOE_RUNTIME".into(), config.runtime_url.clone()),
        ("TOMOE_WORKLOAD".into(), spec.name.clone()),
    ];
    if let Some(token) = token {
        env.push(("TOMOE_TOKEN".into(), token.to_owned()));
    }
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// The kernel's start time of a process (field 22 of /proc/PID/stat), if it exists.
fn process_start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields after it are space separated.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let state = after_name.split_whitespace().next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    after_name.split_whitespace().nth(19)?.parse().ok()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

async fn http_ok(url: &str) -> bool {
    reqwest::get(url)
        .await
        .is_ok_and(|response| response.status().is_success())
}
