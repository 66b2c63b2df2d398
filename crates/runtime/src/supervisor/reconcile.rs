//! Reconcile decisions: what the supervisor does next, as a pure function of the desired
//! workloads, what it observed of their processes, the vehicle mode and the time.
//!
//! Nothing here does IO or reads a clock: the actor passes the time in and applies the
//! [`Action`]s it gets back.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use tomoe_types::{VehicleMode, WorkloadState};

use crate::manifest::{
    mode_names, Condition, ExecProbe, HealthAction, HttpProbe, RestartPolicy, RestartWhen, Workload,
};
use crate::store::DesiredWorkload;

/// A process of a workload, as the supervisor knows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Process {
    /// Process id (and process group id).
    pub(crate) pid: u32,
    /// When it started (or was adopted).
    pub(crate) started: Instant,
    /// When SIGTERM was sent, to escalate to SIGKILL.
    pub(crate) terminating_since: Option<Instant>,
    /// Whether SIGKILL was sent.
    pub(crate) killed: bool,
    /// Adopted from a previous runtime: not our child, watched through /proc.
    pub(crate) adopted: bool,
    /// Why the runtime killed it (health), so that the exit is judged accordingly.
    pub(crate) killed_for: Option<String>,
}

impl Process {
    /// A process that has just started (or been adopted) at `now`.
    pub(crate) fn new(pid: u32, now: Instant, adopted: bool) -> Process {
        Process {
            pid,
            started: now,
            terminating_since: None,
            killed: false,
            adopted,
            killed_for: None,
        }
    }
}

/// One workload: what is desired of it and what the supervisor observed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Slot {
    /// The spec and whether the user wants it running.
    pub(crate) desired: DesiredWorkload,
    /// Its lifecycle state.
    pub(crate) state: WorkloadState,
    /// Why it is in that state.
    pub(crate) reason: String,
    /// Its process, while there is one.
    pub(crate) process: Option<Process>,
    /// Starts after the first.
    pub(crate) restarts: u32,
    /// Failed runs in a row.
    pub(crate) consecutive_failures: u32,
    /// The end of its backoff delay.
    pub(crate) next_start: Option<Instant>,
    /// How its last run ended.
    pub(crate) last_exit: Option<String>,
    /// Its last heartbeat (or passed probe).
    pub(crate) last_heartbeat: Option<Instant>,
    /// The last health verdict; `None` before the first.
    pub(crate) healthy: Option<bool>,
    /// When the next probe is due.
    pub(crate) next_probe: Option<Instant>,
    /// Resource limits applied, or why not.
    pub(crate) limits: String,
}

impl Slot {
    /// A workload not started yet.
    pub(crate) fn new(desired: DesiredWorkload) -> Slot {
        Slot {
            desired,
            state: WorkloadState::Waiting,
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

    /// The spec as last applied.
    pub(crate) fn spec(&self) -> &Workload {
        &self.desired.spec
    }

    fn mode_allows(&self, mode: VehicleMode) -> bool {
        self.spec().modes.is_empty() || self.spec().modes.contains(&mode)
    }
}

/// A health probe to run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Probe {
    /// Run a command.
    Exec(ExecProbe),
    /// Send an HTTP GET.
    Http(HttpProbe),
}

/// What the supervisor does to one workload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Send SIGTERM to its process group; it is `stopping`, for `reason`.
    Stop { workload: String, reason: String },
    /// It outlived the stop timeout after SIGTERM: send SIGKILL.
    Kill { workload: String },
    /// Its health check failed (`why`): act as its `onFailure` says.
    Unhealthy {
        workload: String,
        why: String,
        action: HealthAction,
    },
    /// Run a health probe now; the next is due at `next`.
    Probe {
        workload: String,
        probe: Probe,
        next: Instant,
    },
    /// It may not start yet, for `reason`: it is `waiting`.
    Wait { workload: String, reason: String },
    /// Start its process.
    Start { workload: String },
    /// Its process ended as the runtime asked: `waiting` (enabled) or `stopped`.
    Rest {
        workload: String,
        state: WorkloadState,
    },
    /// Start it again at `at`, after `failures` failures in a row: `backoff`.
    Backoff {
        workload: String,
        at: Instant,
        failures: u32,
    },
    /// It failed `failures` times in a row, the limit: `crash-looping`, not restarted.
    CrashLoop { workload: String, failures: u32 },
    /// It is done and not restarted: `succeeded` or `failed`; `disable` after a health
    /// stop.
    Finish {
        workload: String,
        state: WorkloadState,
        failures: u32,
        disable: bool,
    },
}

/// The actions of one reconcile pass over `slots` (`order`: dependencies first) in
/// `mode` at `now`: stops first, dependents before their dependencies, then health
/// checks, then starts, dependencies before their dependents.
pub(crate) fn decide(
    slots: &BTreeMap<String, Slot>,
    order: &[String],
    mode: VehicleMode,
    stop_timeout: Duration,
    now: Instant,
) -> Vec<Action> {
    let mut actions = Vec::new();
    // What this pass decides changes what the later steps see.
    let mut stopping: HashSet<&str> = HashSet::new();
    let mut unhealthy: HashSet<&str> = HashSet::new();
    for name in order.iter().rev() {
        let Some((slot, process)) = slots
            .get(name)
            .and_then(|slot| Some((slot, slot.process.as_ref()?)))
        else {
            continue;
        };
        // A running workload stops when it is disabled, when the mode forbids it, or when
        // a dependency it needs *running* stops; `succeeded`/`failed` conditions only
        // gate the start.
        if process.terminating_since.is_none() {
            let stop_reason = if !slot.desired.enabled {
                Some("stopped by the user".to_owned())
            } else if !slot.mode_allows(mode) {
                Some(format!("not allowed in mode {}", mode_names::name(mode)))
            } else {
                running_dependencies_met(slots, slot).err()
            };
            if let Some(reason) = stop_reason {
                stopping.insert(name);
                actions.push(Action::Stop {
                    workload: name.clone(),
                    reason,
                });
            }
        } else if let Some(since) = process.terminating_since {
            if !process.killed && now.saturating_duration_since(since) > stop_timeout {
                actions.push(Action::Kill {
                    workload: name.clone(),
                });
            }
        }
    }
    for name in order {
        let Some((slot, process, health)) = slots
            .get(name)
            .and_then(|slot| Some((slot, slot.process.as_ref()?, slot.spec().health.as_ref()?)))
        else {
            continue;
        };
        if process.terminating_since.is_some()
            || stopping.contains(name.as_str())
            || now.saturating_duration_since(process.started)
                < Duration::from_millis(health.startup_grace_ms)
        {
            continue;
        }
        if let Some(heartbeat) = &health.heartbeat {
            let last = slot
                .last_heartbeat
                .unwrap_or(process.started)
                .max(process.started);
            let silent = now.saturating_duration_since(last);
            if silent > Duration::from_millis(heartbeat.deadline_ms) {
                unhealthy.insert(name);
                actions.push(Action::Unhealthy {
                    workload: name.clone(),
                    why: format!("no heartbeat for {} ms", silent.as_millis()),
                    action: health.on_failure,
                });
            }
            continue;
        }
        if slot.next_probe.is_none_or(|at| now >= at) {
            let probe = match (&health.exec, &health.http) {
                (Some(exec), _) => Some((Probe::Exec(exec.clone()), exec.interval_ms)),
                (None, Some(http)) => Some((Probe::Http(http.clone()), http.interval_ms)),
                (None, None) => None,
            };
            if let Some((probe, interval_ms)) = probe {
                actions.push(Action::Probe {
                    workload: name.clone(),
                    probe,
                    next: now + Duration::from_millis(interval_ms),
                });
            }
        }
        if slot.healthy == Some(false) {
            unhealthy.insert(name);
            actions.push(Action::Unhealthy {
                workload: name.clone(),
                why: "the health probe failed".into(),
                action: health.on_failure,
            });
        }
    }
    let changed = Changed {
        stopping,
        unhealthy,
    };
    for name in order {
        let Some(slot) = slots.get(name) else {
            continue;
        };
        if slot.process.is_some() || !slot.desired.enabled {
            continue;
        }
        if matches!(
            slot.state,
            WorkloadState::CrashLooping
                | WorkloadState::Failed
                | WorkloadState::Succeeded
                | WorkloadState::Stopped
        ) {
            continue;
        }
        let waiting = if !slot.mode_allows(mode) {
            Err(format!(
                "not allowed in mode {} (runs in {})",
                mode_names::name(mode),
                mode_names::list(&slot.spec().modes)
            ))
        } else {
            dependencies_met(slots, slot, &changed)
        };
        if let Err(reason) = waiting {
            actions.push(Action::Wait {
                workload: name.clone(),
                reason,
            });
            continue;
        }
        if slot.next_start.is_some_and(|at| now < at) {
            continue;
        }
        actions.push(Action::Start {
            workload: name.clone(),
        });
    }
    actions
}

/// The workloads a pass stops or finds unhealthy, before the actor applies it.
struct Changed<'a> {
    stopping: HashSet<&'a str>,
    unhealthy: HashSet<&'a str>,
}

/// Whether the dependencies of `slot` have reached their conditions, or why not.
fn dependencies_met(
    slots: &BTreeMap<String, Slot>,
    slot: &Slot,
    changed: &Changed<'_>,
) -> Result<(), String> {
    for dependency in &slot.spec().depends_on {
        let name = dependency.workload.as_str();
        let Some(other) = slots.get(name) else {
            return Err(format!("dependency \"{name}\" is not deployed"));
        };
        let (met, condition) = match dependency.condition {
            Condition::Running => (
                other.state == WorkloadState::Running
                    && other.process.is_some()
                    && !changed.stopping.contains(name)
                    && (other.spec().health.is_none()
                        || (other.healthy == Some(true) && !changed.unhealthy.contains(name))),
                "running",
            ),
            Condition::Succeeded => (other.state == WorkloadState::Succeeded, "succeeded"),
            Condition::Failed => (
                matches!(
                    other.state,
                    WorkloadState::Failed | WorkloadState::CrashLooping
                ),
                "failed",
            ),
        };
        if !met {
            return Err(format!("waiting for \"{name}\" to be {condition}"));
        }
    }
    Ok(())
}

/// Like [`dependencies_met`], for the `running` conditions of a running workload only:
/// a dependency counts until it is found unhealthy.
fn running_dependencies_met(slots: &BTreeMap<String, Slot>, slot: &Slot) -> Result<(), String> {
    for dependency in slot
        .spec()
        .depends_on
        .iter()
        .filter(|d| d.condition == Condition::Running)
    {
        let running = slots.get(&dependency.workload).is_some_and(|other| {
            other.state == WorkloadState::Running
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

/// What follows the end of `process`, the process of `slot`, at `now`: `success` is an
/// exit with code 0.
pub(crate) fn after_exit(slot: &Slot, process: &Process, success: bool, now: Instant) -> Action {
    let workload = slot.spec().name.clone();
    if process.terminating_since.is_some() && process.killed_for.is_none() {
        // Stopped on purpose (disabled, mode change, new spec): not a failure.
        let state = if slot.desired.enabled {
            WorkloadState::Waiting
        } else {
            WorkloadState::Stopped
        };
        return Action::Rest { workload, state };
    }
    let failed = !success || process.killed_for.is_some();
    let restart = &slot.spec().restart;
    let mut failures = slot.consecutive_failures;
    if now.saturating_duration_since(process.started)
        >= Duration::from_millis(restart.stable_after_ms)
    {
        failures = 0;
    }
    let health_stop = slot
        .spec()
        .health
        .as_ref()
        .is_some_and(|h| h.on_failure == HealthAction::Stop);
    if process.killed_for.is_some() && health_stop {
        return Action::Finish {
            workload,
            state: WorkloadState::Failed,
            failures,
            disable: true,
        };
    }
    let restart_now = match restart.policy {
        RestartWhen::Never => false,
        RestartWhen::OnFailure => failed,
        RestartWhen::Always => true,
    };
    if failed {
        failures += 1;
    }
    if !restart_now {
        let state = if failed {
            WorkloadState::Failed
        } else {
            WorkloadState::Succeeded
        };
        return Action::Finish {
            workload,
            state,
            failures,
            disable: false,
        };
    }
    if failed && failures >= restart.crash_loop_limit {
        return Action::CrashLoop { workload, failures };
    }
    Action::Backoff {
        workload,
        at: now + backoff(restart, failures),
        failures,
    }
}

/// What follows a failure to start the process of `slot` at `now`: a failure that the
/// policy `never` does not retry.
pub(crate) fn after_failed_start(slot: &Slot, now: Instant) -> Action {
    let workload = slot.spec().name.clone();
    let restart = &slot.spec().restart;
    let failures = slot.consecutive_failures + 1;
    if restart.policy == RestartWhen::Never {
        Action::Finish {
            workload,
            state: WorkloadState::Failed,
            failures,
            disable: false,
        }
    } else if failures >= restart.crash_loop_limit {
        Action::CrashLoop { workload, failures }
    } else {
        Action::Backoff {
            workload,
            at: now + backoff(restart, failures),
            failures,
        }
    }
}

/// The delay before the next start after `failures` failures in a row: the initial
/// backoff doubled for each failure after the first, at most the maximum.
pub(crate) fn backoff(restart: &RestartPolicy, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    Duration::from_millis(
        restart
            .initial_backoff_ms
            .saturating_mul(1 << exponent)
            .min(restart.max_backoff_ms),
    )
}
