//! The actor: owns every workload, answers requests, asks [`reconcile`] and [`exits`]
//! what to do and does it through [`process`].

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tomoe_types::{VehicleMode, WorkloadHealth, WorkloadState};
use tracing::Instrument;

use super::action::Action;
use super::process;
use super::slot::{Process, Slot};
use super::{exits, reconcile};
use super::{Request, RuntimeConfig, RuntimeError, WorkloadStatus};
use crate::manifest::{HealthAction, Manifest, ManifestError, Problem, RuntimeKind};
use crate::store::{DesiredWorkload, ProcessRecord, Store, StoreError};

/// How often the actor reconciles without a request.
const TICK: Duration = Duration::from_millis(50);
/// How often the actor checks the size of the logs.
const ROTATION: Duration = Duration::from_secs(1);
/// How often the runtime checks `memoryMax` itself where cgroup v2 cannot.
const MEMORY_CHECK: Duration = Duration::from_millis(250);

pub(super) struct Actor {
    config: RuntimeConfig,
    store: Store,
    slots: BTreeMap<String, Slot>,
    /// Names in dependency order (dependencies first).
    order: Vec<String>,
    mode: VehicleMode,
    requests: mpsc::Sender<Request>,
    logs_dir: PathBuf,
    issued: HashMap<String, String>,
    shutdown: Option<(Instant, oneshot::Sender<()>)>,
}

impl Actor {
    /// Opens the store, adopts the recorded processes, and runs the actor in a task
    /// named `runtime-actor`. Returns the logs directory.
    pub(super) fn spawn(
        config: RuntimeConfig,
        mode: VehicleMode,
        requests: mpsc::Sender<Request>,
        receiver: mpsc::Receiver<Request>,
    ) -> Result<PathBuf, RuntimeError> {
        let store = Store::open(&config.data_dir)?;
        let logs_dir = config.data_dir.join("logs");
        std::fs::create_dir_all(&logs_dir)
            .map_err(|e| StoreError::new(&logs_dir, e.to_string()))?;
        let mut actor = Actor {
            config,
            store,
            slots: BTreeMap::new(),
            order: Vec::new(),
            mode,
            requests,
            logs_dir: logs_dir.clone(),
            issued: HashMap::new(),
            shutdown: None,
        };
        actor.load()?;
        tokio::spawn(
            actor
                .run(receiver)
                .instrument(tracing::info_span!("runtime-actor")),
        );
        Ok(logs_dir)
    }

    fn load(&mut self) -> Result<(), RuntimeError> {
        for desired in self.store.workloads()? {
            let mut slot = Slot::new(desired);
            slot.state = match slot.desired.terminal {
                Some(state) if state.is_final() => state,
                _ if !slot.desired.enabled => WorkloadState::Stopped,
                _ => WorkloadState::Waiting,
            };
            self.slots.insert(slot.desired.spec.name.clone(), slot);
        }
        self.reorder();
        for (name, record) in self.store.processes()? {
            let alive = process::start_ticks(record.pid) == Some(record.start_ticks);
            match self.slots.get_mut(&name) {
                Some(slot) if alive => {
                    tracing::info!(workload = %name, pid = record.pid, "adopted a running workload");
                    let now = Instant::now();
                    slot.process = Some(Process::new(record.pid, now, true));
                    slot.state = WorkloadState::Running;
                    slot.last_heartbeat = Some(now);
                    // It ran healthy before the runtime went away; the next check decides.
                    slot.healthy = Some(true);
                }
                _ => {
                    if alive {
                        // A process of a workload that no longer exists: stop it.
                        process::signal_group(record.pid, nix::sys::signal::Signal::SIGTERM);
                    }
                    self.store.set_process(&name, None)?;
                }
            }
        }
        Ok(())
    }

    fn reorder(&mut self) {
        self.order = reconcile::dependency_order(&self.slots);
    }

    async fn run(mut self, mut receiver: mpsc::Receiver<Request>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_rotation = Instant::now();
        let mut last_memory_check = Instant::now();
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
            if last_memory_check.elapsed() > MEMORY_CHECK {
                last_memory_check = Instant::now();
                self.enforce_memory();
            }
            if last_rotation.elapsed() > ROTATION {
                last_rotation = Instant::now();
                for name in self.slots.keys() {
                    process::rotate_log(&self.log_path(name), self.config.log_limit_bytes);
                }
            }
        }
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.logs_dir.join(format!("{name}.log"))
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
            Request::Restart(name, reply) => {
                let _ = reply.send(self.restart(&name));
            }
            Request::Delete(name, reply) => {
                let _ = reply.send(self.delete(name));
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
                let now = Instant::now();
                for slot in self.slots.values_mut() {
                    if let Some(process) = &mut slot.process {
                        process::terminate(process, now);
                    }
                }
                self.shutdown = Some((now, reply));
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

    fn delete(&mut self, name: String) -> Result<(), RuntimeError> {
        let mut slot = self
            .slots
            .remove(&name)
            .ok_or_else(|| RuntimeError::NotFound(name.clone()))?;
        self.reorder();
        if let Some(process) = &mut slot.process {
            process::terminate(process, Instant::now());
            // Watch it to the end so that it is killed if it ignores SIGTERM.
            process::kill_after(&name, process.pid, self.config.stop_timeout);
        }
        self.store
            .delete_workload(&name)
            .map_err(RuntimeError::from)
    }

    /// Waits for the stopped processes; kills what outlives the timeout. True when done.
    fn finish_shutdown(&mut self) -> bool {
        let Some(since) = self.shutdown.as_ref().map(|(since, _)| *since) else {
            return false;
        };
        let gone_adopted: Vec<(String, u32)> = self
            .slots
            .iter()
            .filter_map(|(name, slot)| {
                let process = slot.process.as_ref()?;
                (process.adopted && !process::is_alive(process.pid))
                    .then(|| (name.clone(), process.pid))
            })
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
            if let Some(mut process) = slot.process.take() {
                tracing::warn!(workload = %name, "workload ignored SIGTERM; killing it");
                process::kill(&mut process);
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
            if workload.runtime == RuntimeKind::Podman && process::which("podman").is_none() {
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
        let now = Instant::now();
        let mut names = Vec::new();
        for workload in desired {
            let name = workload.spec.name.clone();
            match self.slots.get_mut(&name) {
                Some(slot) if slot.desired.spec == workload.spec => {
                    slot.desired.enabled = true;
                    slot.desired.terminal = None;
                    if matches!(
                        slot.state,
                        WorkloadState::CrashLooping
                            | WorkloadState::Stopped
                            | WorkloadState::Failed
                    ) {
                        slot.state = WorkloadState::Waiting;
                        slot.consecutive_failures = 0;
                        slot.next_start = None;
                    }
                }
                Some(slot) => {
                    // A changed spec: stop the old process; the new spec starts on the next pass.
                    if let Some(process) = &mut slot.process {
                        process::terminate(process, now);
                    }
                    slot.desired = workload;
                    slot.consecutive_failures = 0;
                    slot.next_start = None;
                    if slot.process.is_none() {
                        slot.state = WorkloadState::Waiting;
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

    /// Stops the process of `name` as a changed spec does; the next pass starts it again.
    fn restart(&mut self, name: &str) -> Result<(), RuntimeError> {
        let slot = self
            .slots
            .get_mut(name)
            .ok_or_else(|| RuntimeError::NotFound(name.to_owned()))?;
        slot.desired.enabled = true;
        slot.desired.terminal = None;
        slot.consecutive_failures = 0;
        slot.next_start = None;
        match &mut slot.process {
            Some(process) => process::terminate(process, Instant::now()),
            None => slot.state = WorkloadState::Waiting,
        }
        let desired = slot.desired.clone();
        self.store.put_workloads(&[desired])?;
        Ok(())
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
                WorkloadState::CrashLooping
                    | WorkloadState::Stopped
                    | WorkloadState::Failed
                    | WorkloadState::Succeeded
            ) {
                slot.state = WorkloadState::Waiting;
                slot.consecutive_failures = 0;
                slot.next_start = None;
            }
        } else if let Some(process) = &mut slot.process {
            process::terminate(process, Instant::now());
            slot.state = WorkloadState::Stopping;
            slot.reason = "stopped by the user".into();
        } else {
            slot.state = WorkloadState::Stopped;
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
        let terminal = slot.state.is_final().then_some(slot.state);
        if terminal.is_some() || !slot.desired.enabled {
            slot.desired.terminal = terminal;
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
        let description = match &process.killed_for {
            Some(reason) => format!("{description} (killed: {reason})"),
            None => description,
        };
        tracing::info!(workload = %name, pid, exit = %description, "workload exited");
        slot.last_exit = Some(description);
        slot.healthy = None;
        let action = exits::after_exit(slot, &process, success, Instant::now());
        self.perform(action);
    }

    /// One reconcile pass: decide, act, and decide again while workloads start (so that
    /// a dependent starts in the same pass as the dependency it waits for).
    fn reconcile(&mut self) {
        let now = Instant::now();
        self.watch_adopted();
        for _ in 0..=self.slots.len() {
            let actions = reconcile::decide(
                &self.slots,
                &self.order,
                self.mode,
                self.config.stop_timeout,
                now,
            );
            let started = actions.iter().any(|a| matches!(a, Action::Start { .. }));
            for action in actions {
                self.perform(action);
            }
            if !started {
                break;
            }
        }
    }

    /// Where cgroup v2 does not enforce `memoryMax`, the runtime does: a workload
    /// whose process group holds more resident memory than its limit is killed,
    /// which counts as a failure (its restart policy applies).
    fn enforce_memory(&mut self) {
        let limited: Vec<(&String, &mut Slot, u64, String)> = self
            .slots
            .iter_mut()
            .filter(|(_, slot)| !slot.limits.starts_with("cgroup")) // the kernel enforces it
            .filter_map(|(name, slot)| {
                let text = slot.spec().resources.as_ref()?.memory_max.clone()?;
                let limit = crate::manifest::parse_memory(&text).ok()?;
                let running = slot
                    .process
                    .as_ref()
                    .is_some_and(|p| p.terminating_since.is_none());
                running.then_some((name, slot, limit, text))
            })
            .collect();
        if limited.is_empty() {
            return;
        }
        let resident = process::resident_bytes_by_group();
        let now = Instant::now();
        for (name, slot, limit, text) in limited {
            let Some(process) = slot.process.as_mut() else {
                continue;
            };
            let bytes = resident.get(&process.pid).copied().unwrap_or(0);
            if bytes > limit {
                let why = format!(
                    "memory: {} MiB resident is over its memoryMax of {text}",
                    bytes >> 20
                );
                tracing::warn!(workload = %name, reason = %why, "workload over its memory limit; killing it");
                process::kill_for(process, why, now);
            }
        }
    }

    /// Adopted processes are not our children: their exits are found in `/proc`.
    fn watch_adopted(&mut self) {
        let gone: Vec<(String, u32, bool)> = self
            .slots
            .iter()
            .filter_map(|(name, slot)| {
                let process = slot.process.as_ref()?;
                (process.adopted && !process::is_alive(process.pid)).then(|| {
                    (
                        name.clone(),
                        process.pid,
                        process.terminating_since.is_some(),
                    )
                })
            })
            .collect();
        for (name, pid, stopped) in gone {
            // Its exit code is unknown. If we stopped it, it ended as asked.
            let text = if stopped {
                "stopped (adopted process; exit code unknown)"
            } else {
                "exited (adopted process; exit code unknown)"
            };
            self.exited(&name, pid, text.into(), stopped);
        }
    }

    /// Does what `action` says.
    fn perform(&mut self, action: Action) {
        let now = Instant::now();
        let workload = match &action {
            Action::Stop { workload, .. }
            | Action::Kill { workload }
            | Action::Unhealthy { workload, .. }
            | Action::Probe { workload, .. }
            | Action::Wait { workload, .. }
            | Action::Start { workload }
            | Action::Rest { workload, .. }
            | Action::Backoff { workload, .. }
            | Action::CrashLoop { workload, .. }
            | Action::Finish { workload, .. } => workload.clone(),
        };
        if let Action::Start { .. } = action {
            self.start_process(&workload);
            return;
        }
        let Some(slot) = self.slots.get_mut(&workload) else {
            return;
        };
        match action {
            Action::Start { .. } => {}
            Action::Stop { reason, .. } => {
                if let Some(process) = &mut slot.process {
                    tracing::info!(workload = %workload, reason = %reason, "stopping workload");
                    process::terminate(process, now);
                    slot.state = WorkloadState::Stopping;
                    slot.reason = reason;
                }
            }
            Action::Kill { .. } => {
                if let Some(process) = &mut slot.process {
                    process::kill(process);
                }
            }
            Action::Unhealthy { why, action, .. } => {
                slot.healthy = Some(false);
                let Some(process) = slot.process.as_mut() else {
                    return;
                };
                match action {
                    HealthAction::Report => slot.reason = format!("unhealthy: {why}"),
                    HealthAction::Restart | HealthAction::Stop => {
                        tracing::warn!(workload = %workload, reason = %why, "workload is unhealthy; killing it");
                        process::kill_for(process, why, now);
                    }
                }
            }
            Action::Probe { probe, next, .. } => {
                slot.next_probe = Some(next);
                if let Some(process) = &slot.process {
                    process::run_probe(probe, workload, process.pid, self.requests.clone());
                }
            }
            Action::Wait { reason, .. } => {
                slot.state = WorkloadState::Waiting;
                slot.reason = reason;
            }
            Action::Rest { state, .. } => slot.state = state,
            Action::Backoff { at, failures, .. } => {
                slot.state = WorkloadState::Backoff;
                slot.next_start = Some(at);
                slot.consecutive_failures = failures;
            }
            Action::CrashLoop { failures, .. } => {
                tracing::warn!(workload = %workload, failures, "workload is crash-looping; not restarted");
                slot.state = WorkloadState::CrashLooping;
                slot.consecutive_failures = failures;
                slot.reason = match &slot.last_exit {
                    Some(exit) => format!("{failures} failed runs in a row, the last: {exit}; `tomoe start` tries again"),
                    None => format!("{failures} failed runs in a row; `tomoe start` tries again"),
                };
            }
            Action::Finish {
                state,
                failures,
                disable,
                ..
            } => {
                slot.state = state;
                slot.consecutive_failures = failures;
                if disable {
                    slot.desired.enabled = false;
                }
            }
        }
    }

    fn start_process(&mut self, name: &str) {
        let token = self.token_for(name);
        let log_path = self.log_path(name);
        let Some(slot) = self.slots.get_mut(name) else {
            return;
        };
        let spec = slot.desired.spec.clone();
        match process::spawn(&spec, &self.config, token.as_deref(), &log_path) {
            Ok((child, pid)) => {
                let start_ticks = process::start_ticks(pid).unwrap_or(0);
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
                slot.process = Some(Process::new(pid, Instant::now(), false));
                slot.state = WorkloadState::Running;
                slot.reason.clear();
                slot.next_start = None;
                slot.healthy = None;
                slot.last_heartbeat = None;
                slot.next_probe = None;
                tracing::info!(workload = %name, pid, "workload started");
                process::watch_exit(child, name.to_owned(), pid, self.requests.clone());
            }
            Err(error) => {
                tracing::warn!(workload = %name, command = %spec.command, %error, "cannot start workload");
                slot.last_exit = Some(format!("could not start \"{}\": {error}", spec.command));
                let action = exits::after_failed_start(slot, Instant::now());
                self.perform(action);
            }
        }
    }

    fn token_for(&mut self, name: &str) -> Option<String> {
        let source = self.config.tokens.clone()?;
        let spec = self.slots.get(name)?.spec();
        let (access, tenant) = (&spec.access, spec.tenant.as_ref());
        let mut actuate = access.actuate.clone();
        if !access.mode_requests.is_empty() {
            actuate.push("Vehicle.Tomoe.ModeRequest".into());
        }
        let mut scope: Vec<String> = Vec::new();
        scope.extend(access.read.iter().map(|p| format!("read:{p}")));
        scope.extend(actuate.iter().map(|p| format!("actuate:{p}")));
        scope.extend(access.provide.iter().map(|p| format!("provide:{p}")));
        match source.token_for(name, &scope.join(" "), tenant) {
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
            (None, _) => WorkloadHealth::None,
            (Some(_), Some(true)) => WorkloadHealth::Healthy,
            (Some(_), Some(false)) => WorkloadHealth::Unhealthy,
            (Some(_), None) => WorkloadHealth::Unknown,
        };
        WorkloadStatus {
            name: spec.name.clone(),
            state: slot.state,
            reason: slot.reason.clone(),
            pid: slot.process.as_ref().map(|p| p.pid),
            restarts: slot.restarts,
            consecutive_failures: slot.consecutive_failures,
            last_exit: slot.last_exit.clone(),
            health,
            uptime_s: slot
                .process
                .as_ref()
                .map(|p| p.started.elapsed().as_secs_f64()),
            enabled: slot.desired.enabled,
            modes: spec.modes.clone(),
            limits: slot.limits.clone(),
            log: self.log_path(&spec.name).display().to_string(),
        }
    }
}
