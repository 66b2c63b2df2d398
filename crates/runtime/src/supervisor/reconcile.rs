//! Reconcile decisions: what the supervisor does next, as a pure function of the desired
//! workloads, what it observed of their processes, the vehicle mode and the time.
//!
//! Nothing here does IO or reads a clock: the actor passes the time in and applies the
//! [`Action`]s it gets back.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use tomoe_types::{VehicleMode, WorkloadState};

use super::slot::{Process, Slot};
use crate::manifest::{
    mode_names, Condition, ExecProbe, HealthAction, HttpProbe, RestartPolicy, RestartWhen,
};

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

/// The names of `slots` in dependency order: in sweeps by name, each placed once its
/// dependencies are (dependencies first). A
/// dependency that is not deployed does not hold its dependents back.
pub(crate) fn dependency_order(slots: &BTreeMap<String, Slot>) -> Vec<String> {
    let mut order: Vec<String> = Vec::with_capacity(slots.len());
    let mut placed: HashSet<&str> = HashSet::new();
    for _ in 0..=slots.len() {
        for (name, slot) in slots {
            if placed.contains(name.as_str()) {
                continue;
            }
            let ready =
                slot.spec().depends_on.iter().all(|d| {
                    placed.contains(d.workload.as_str()) || !slots.contains_key(&d.workload)
                });
            if ready {
                placed.insert(name);
                order.push(name.clone());
            }
        }
    }
    order
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Workload;
    use crate::store::DesiredWorkload;
    use VehicleMode::{Driving, Parked};
    use WorkloadState::{CrashLooping, Failed, Running, Stopped, Stopping, Succeeded};

    const STOP_TIMEOUT: Duration = Duration::from_millis(2_000);

    /// What a test says the supervisor observed of a workload; times in ms after `t0`.
    #[derive(Clone, Default)]
    struct Seen {
        state: Option<WorkloadState>,
        started: Option<u64>,
        terminating: Option<u64>,
        killed: bool,
        killed_for: Option<&'static str>,
        heartbeat: Option<u64>,
        healthy: Option<bool>,
        next_start: Option<u64>,
        next_probe: Option<u64>,
        disabled: bool,
        failures: u32,
    }

    fn idle() -> Seen {
        Seen::default()
    }

    fn running(started: u64) -> Seen {
        Seen {
            state: Some(Running),
            started: Some(started),
            ..Seen::default()
        }
    }

    fn in_state(state: WorkloadState) -> Seen {
        Seen {
            state: Some(state),
            ..Seen::default()
        }
    }

    impl Seen {
        fn stopping(self, since: u64) -> Seen {
            Seen {
                state: Some(Stopping),
                terminating: Some(since),
                ..self
            }
        }
        fn killed(self) -> Seen {
            Seen {
                killed: true,
                ..self
            }
        }
        fn killed_for(self, why: &'static str) -> Seen {
            Seen {
                killed_for: Some(why),
                terminating: Some(0),
                killed: true,
                ..self
            }
        }
        fn healthy(self, healthy: bool) -> Seen {
            Seen {
                healthy: Some(healthy),
                ..self
            }
        }
        fn heartbeat(self, at: u64) -> Seen {
            Seen {
                heartbeat: Some(at),
                ..self
            }
        }
        fn next_start(self, at: u64) -> Seen {
            Seen {
                next_start: Some(at),
                ..self
            }
        }
        fn next_probe(self, at: u64) -> Seen {
            Seen {
                next_probe: Some(at),
                ..self
            }
        }
        fn disabled(self) -> Seen {
            Seen {
                disabled: true,
                ..self
            }
        }
        fn failures(self, failures: u32) -> Seen {
            Seen { failures, ..self }
        }

        fn slot(&self, spec: &str, t0: Instant) -> Slot {
            let at = |ms: u64| t0 + Duration::from_millis(ms);
            let spec: Workload =
                serde_yaml::from_str(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            let mut slot = Slot::new(DesiredWorkload {
                spec,
                enabled: !self.disabled,
                terminal: None,
            });
            if let Some(state) = self.state {
                slot.state = state;
            }
            slot.process = self.started.map(|started| Process {
                terminating_since: self.terminating.map(at),
                killed: self.killed,
                killed_for: self.killed_for.map(str::to_owned),
                ..Process::new(4242, at(started), false)
            });
            slot.last_heartbeat = self.heartbeat.map(at);
            slot.healthy = self.healthy;
            slot.next_start = self.next_start.map(at);
            slot.next_probe = self.next_probe.map(at);
            slot.consecutive_failures = self.failures;
            slot
        }
    }

    /// One line per action, times in ms after `t0`.
    fn show(action: &Action, t0: Instant) -> String {
        let ms = |at: &Instant| at.duration_since(t0).as_millis();
        match action {
            Action::Stop { workload, reason } => format!("stop {workload}: {reason}"),
            Action::Kill { workload } => format!("kill {workload}"),
            Action::Unhealthy {
                workload,
                why,
                action,
            } => format!("unhealthy {workload} ({action:?}): {why}"),
            Action::Probe {
                workload,
                probe,
                next,
            } => {
                let kind = match probe {
                    Probe::Exec(_) => "exec",
                    Probe::Http(_) => "http",
                };
                format!("probe {workload} {kind}, next at {}", ms(next))
            }
            Action::Wait { workload, reason } => format!("wait {workload}: {reason}"),
            Action::Start { workload } => format!("start {workload}"),
            Action::Rest { workload, state } => format!("rest {workload} {state}"),
            Action::Backoff {
                workload,
                at,
                failures,
            } => format!("backoff {workload} until {} after {failures}", ms(at)),
            Action::CrashLoop { workload, failures } => {
                format!("crash-loop {workload} after {failures}")
            }
            Action::Finish {
                workload,
                state,
                failures,
                disable,
            } => format!(
                "finish {workload} {state} after {failures}{}",
                if *disable { ", disabled" } else { "" }
            ),
        }
    }

    const HEARTBEAT: &str = "health: {heartbeat: {deadlineMs: 300}, startupGraceMs: 200";
    const EXEC: &str =
        "health: {exec: {command: [true], intervalMs: 1000, timeoutMs: 100}, startupGraceMs: 0";

    #[test]
    fn decisions() {
        struct Case {
            what: &'static str,
            workloads: Vec<(String, Seen)>,
            mode: VehicleMode,
            now: u64,
            expect: &'static [&'static str],
        }
        let w = |spec: &str, seen: Seen| (format!("{{command: x, {spec}}}"), seen);
        let hb = |name: &str, on_failure: &str| {
            format!("name: {name}, {HEARTBEAT}, onFailure: {on_failure}}}")
        };
        let exec = |on_failure: &str| format!("name: a, {EXEC}, onFailure: {on_failure}}}");
        let cases = [
            Case {
                what: "dependencies start first",
                workloads: vec![
                    w("name: c, dependsOn: [{workload: b}]", idle()),
                    w("name: b, dependsOn: [{workload: a}]", idle()),
                    w("name: a", idle()),
                ],
                mode: Parked,
                now: 0,
                expect: &[
                    "start a",
                    "wait b: waiting for \"a\" to be running",
                    "wait c: waiting for \"b\" to be running",
                ],
            },
            Case {
                what: "a running dependency lets its dependent start",
                workloads: vec![
                    w("name: a", running(0)),
                    w("name: b, dependsOn: [{workload: a}]", idle()),
                ],
                mode: Parked,
                now: 10,
                expect: &["start b"],
            },
            Case {
                what: "a dependency with a health check counts once healthy",
                workloads: vec![
                    w(&hb("a", "restart"), running(0)),
                    w("name: b, dependsOn: [{workload: a}]", idle()),
                ],
                mode: Parked,
                now: 10,
                expect: &["wait b: waiting for \"a\" to be running"],
            },
            Case {
                what: "succeeded, failed and missing dependencies",
                workloads: vec![
                    w("name: done", in_state(Succeeded)),
                    w("name: broken", in_state(CrashLooping)),
                    w(
                        "name: after-done, dependsOn: [{workload: done, condition: succeeded}]",
                        idle(),
                    ),
                    w(
                        "name: after-broken, dependsOn: [{workload: broken, condition: failed}]",
                        idle(),
                    ),
                    w("name: after-ghost, dependsOn: [{workload: ghost}]", idle()),
                    w(
                        "name: not-yet, dependsOn: [{workload: after-done, condition: succeeded}]",
                        idle(),
                    ),
                ],
                mode: Parked,
                now: 0,
                expect: &[
                    "wait after-ghost: dependency \"ghost\" is not deployed",
                    "start after-broken",
                    "start after-done",
                    "wait not-yet: waiting for \"after-done\" to be succeeded",
                ],
            },
            Case {
                what: "a mode change stops dependents before their dependencies",
                workloads: vec![
                    w("name: a, modes: [parked]", running(0)),
                    w(
                        "name: b, modes: [parked], dependsOn: [{workload: a}]",
                        running(0),
                    ),
                    w("name: free", running(0)),
                ],
                mode: Driving,
                now: 10,
                expect: &[
                    "stop b: not allowed in mode driving",
                    "stop a: not allowed in mode driving",
                ],
            },
            Case {
                what: "a workload excluded by the mode waits; no modes means every mode",
                workloads: vec![
                    w("name: a, modes: [parked, CHARGING]", idle()),
                    w("name: b", idle()),
                ],
                mode: Driving,
                now: 0,
                expect: &[
                    "wait a: not allowed in mode driving (runs in parked, charging)",
                    "start b",
                ],
            },
            Case {
                what: "a dependency stopped in this pass holds its dependent back",
                workloads: vec![
                    w("name: a, modes: [parked]", running(0)),
                    w("name: b, dependsOn: [{workload: a}]", idle()),
                ],
                mode: Driving,
                now: 10,
                expect: &[
                    "stop a: not allowed in mode driving",
                    "wait b: waiting for \"a\" to be running",
                ],
            },
            Case {
                what: "a dependent stops when its dependency stopped running",
                workloads: vec![
                    w("name: a", running(0).stopping(5)),
                    w("name: b, dependsOn: [{workload: a}]", running(0)),
                ],
                mode: Parked,
                now: 10,
                expect: &["stop b: dependency \"a\" stopped running"],
            },
            Case {
                what: "backoff not yet over",
                workloads: vec![w(
                    "name: a",
                    in_state(WorkloadState::Backoff).next_start(500),
                )],
                mode: Parked,
                now: 499,
                expect: &[],
            },
            Case {
                what: "backoff over",
                workloads: vec![w(
                    "name: a",
                    in_state(WorkloadState::Backoff).next_start(500),
                )],
                mode: Parked,
                now: 500,
                expect: &["start a"],
            },
            Case {
                what: "final and stopped workloads are not started",
                workloads: vec![
                    w("name: a", in_state(Succeeded)),
                    w("name: b", in_state(Failed)),
                    w("name: c", in_state(CrashLooping)),
                    w("name: d", in_state(Stopped)),
                ],
                mode: Parked,
                now: 0,
                expect: &[],
            },
            Case {
                what: "disabled workloads are stopped and not started",
                workloads: vec![
                    w("name: a", running(0).disabled()),
                    w("name: b", idle().disabled()),
                ],
                mode: Parked,
                now: 10,
                expect: &["stop a: stopped by the user"],
            },
            Case {
                what: "SIGKILL only after the stop timeout",
                workloads: vec![w("name: a", running(0).stopping(100))],
                mode: Parked,
                now: 2_100,
                expect: &[],
            },
            Case {
                what: "SIGTERM escalates to SIGKILL",
                workloads: vec![w("name: a", running(0).stopping(100))],
                mode: Parked,
                now: 2_101,
                expect: &["kill a"],
            },
            Case {
                what: "SIGKILL is sent once",
                workloads: vec![w("name: a", running(0).stopping(100).killed())],
                mode: Parked,
                now: 5_000,
                expect: &[],
            },
            Case {
                what: "heartbeat silence within the startup grace",
                workloads: vec![w(&hb("a", "restart"), running(0))],
                mode: Parked,
                now: 150,
                expect: &[],
            },
            Case {
                what: "heartbeat within its deadline",
                workloads: vec![w(
                    &hb("a", "restart"),
                    running(0).heartbeat(400).healthy(true),
                )],
                mode: Parked,
                now: 700,
                expect: &[],
            },
            Case {
                what: "missed heartbeat, restart",
                workloads: vec![w(
                    &hb("a", "restart"),
                    running(0).heartbeat(400).healthy(true),
                )],
                mode: Parked,
                now: 701,
                expect: &["unhealthy a (Restart): no heartbeat for 301 ms"],
            },
            Case {
                what: "missed heartbeat holds the dependent back",
                workloads: vec![
                    w(&hb("a", "stop"), running(0).healthy(true)),
                    w("name: b, dependsOn: [{workload: a}]", idle()),
                ],
                mode: Parked,
                now: 400,
                expect: &[
                    "unhealthy a (Stop): no heartbeat for 400 ms",
                    "wait b: waiting for \"a\" to be running",
                ],
            },
            Case {
                what: "a stopping workload is not health checked",
                workloads: vec![w(&hb("a", "restart"), running(0).stopping(300))],
                mode: Parked,
                now: 1_000,
                expect: &[],
            },
            Case {
                what: "a probe is due at start, then at its interval",
                workloads: vec![w(&exec("restart"), running(0))],
                mode: Parked,
                now: 10,
                expect: &["probe a exec, next at 1010"],
            },
            Case {
                what: "a probe is not due",
                workloads: vec![w(
                    &exec("restart"),
                    running(0).next_probe(1_010).healthy(true),
                )],
                mode: Parked,
                now: 1_009,
                expect: &[],
            },
            Case {
                what: "failed probe, restart",
                workloads: vec![w(
                    &exec("restart"),
                    running(0).next_probe(2_000).healthy(false),
                )],
                mode: Parked,
                now: 1_500,
                expect: &["unhealthy a (Restart): the health probe failed"],
            },
            Case {
                what: "failed probe, stop, with the next probe due",
                workloads: vec![w(
                    &exec("stop"),
                    running(0).next_probe(1_000).healthy(false),
                )],
                mode: Parked,
                now: 1_000,
                expect: &[
                    "probe a exec, next at 2000",
                    "unhealthy a (Stop): the health probe failed",
                ],
            },
            Case {
                what: "failed probe, report",
                workloads: vec![w(
                    &exec("report"),
                    running(0).next_probe(2_000).healthy(false),
                )],
                mode: Parked,
                now: 1_500,
                expect: &["unhealthy a (Report): the health probe failed"],
            },
        ];
        for case in cases {
            let t0 = Instant::now();
            let slots: BTreeMap<String, Slot> = case
                .workloads
                .iter()
                .map(|(spec, seen)| {
                    let slot = seen.slot(spec, t0);
                    (slot.spec().name.clone(), slot)
                })
                .collect();
            let order = dependency_order(&slots);
            let now = t0 + Duration::from_millis(case.now);
            let actions: Vec<String> = decide(&slots, &order, case.mode, STOP_TIMEOUT, now)
                .iter()
                .map(|a| show(a, t0))
                .collect();
            assert_eq!(actions, case.expect, "{}", case.what);
        }
    }

    #[test]
    fn dependency_order_puts_dependencies_first() {
        let t0 = Instant::now();
        let slots: BTreeMap<String, Slot> = [
            "{name: c, command: x, dependsOn: [{workload: a}, {workload: b}]}",
            "{name: b, command: x, dependsOn: [{workload: a}]}",
            "{name: a, command: x, dependsOn: [{workload: ghost}]}",
            "{name: z, command: x}",
        ]
        .iter()
        .map(|spec| {
            let slot = idle().slot(spec, t0);
            (slot.spec().name.clone(), slot)
        })
        .collect();
        assert_eq!(dependency_order(&slots), ["a", "b", "c", "z"]);
    }

    #[test]
    fn what_follows_an_exit() {
        let restart = |policy: &str| {
            format!("{{name: a, command: x, restart: {{policy: {policy}, initialBackoffMs: 100, maxBackoffMs: 350, crashLoopLimit: 4, stableAfterMs: 10000}}")
        };
        let on_failure = restart("on-failure") + "}";
        let always = restart("always") + "}";
        let never = restart("never") + "}";
        let health = |action: &str| {
            format!(
                "{}, health: {{heartbeat: {{deadlineMs: 100}}, onFailure: {action}}}}}",
                restart("on-failure")
            )
        };
        // (what, spec, observed, success, ran for ms, expected)
        let cases: [(&str, String, Seen, bool, u64, &str); 14] = [
            (
                "stopped on purpose",
                on_failure.clone(),
                running(0).stopping(50),
                false,
                60,
                "rest a waiting",
            ),
            (
                "stopped by the user",
                on_failure.clone(),
                running(0).stopping(50).disabled(),
                true,
                60,
                "rest a stopped",
            ),
            (
                "first failure",
                on_failure.clone(),
                running(0),
                false,
                50,
                "backoff a until 150 after 1",
            ),
            (
                "second failure doubles",
                on_failure.clone(),
                running(0).failures(1),
                false,
                50,
                "backoff a until 250 after 2",
            ),
            (
                "at most the maximum",
                on_failure.clone(),
                running(0).failures(2),
                false,
                50,
                "backoff a until 400 after 3",
            ),
            (
                "crash loop threshold",
                on_failure.clone(),
                running(0).failures(3),
                false,
                50,
                "crash-loop a after 4",
            ),
            (
                "a stable run resets the count",
                on_failure.clone(),
                running(0).failures(3),
                false,
                10_000,
                "backoff a until 10100 after 1",
            ),
            (
                "success under on-failure",
                on_failure.clone(),
                running(0).failures(2),
                true,
                50,
                "finish a succeeded after 2",
            ),
            (
                "success under always",
                always.clone(),
                running(0),
                true,
                50,
                "backoff a until 150 after 0",
            ),
            (
                "failure under never",
                never.clone(),
                running(0),
                false,
                50,
                "finish a failed after 1",
            ),
            (
                "success under never",
                never,
                running(0),
                true,
                50,
                "finish a succeeded after 0",
            ),
            (
                "health kill, restart",
                health("restart"),
                running(0).killed_for("no heartbeat"),
                false,
                50,
                "backoff a until 150 after 1",
            ),
            (
                "health kill, stop",
                health("stop"),
                running(0).killed_for("no heartbeat").failures(1),
                false,
                50,
                "finish a failed after 1, disabled",
            ),
            (
                "health kill under always counts",
                always,
                running(0).killed_for("probe").failures(3),
                true,
                50,
                "crash-loop a after 4",
            ),
        ];
        for (what, spec, seen, success, ran_for, expected) in cases {
            let t0 = Instant::now();
            let slot = seen.slot(&spec, t0);
            let process = slot.process.clone().expect("a running process");
            let now = t0 + Duration::from_millis(ran_for);
            assert_eq!(
                show(&after_exit(&slot, &process, success, now), t0),
                expected,
                "{what}"
            );
        }
    }

    #[test]
    fn what_follows_a_failed_start() {
        let spec = |policy: &str| {
            format!("{{name: a, command: x, restart: {{policy: {policy}, initialBackoffMs: 100, maxBackoffMs: 1000, crashLoopLimit: 3}}}}")
        };
        for (policy, failures, expected) in [
            ("never", 0, "finish a failed after 1"),
            ("on-failure", 0, "backoff a until 100 after 1"),
            ("always", 1, "backoff a until 200 after 2"),
            ("on-failure", 2, "crash-loop a after 3"),
        ] {
            let t0 = Instant::now();
            let slot = idle().failures(failures).slot(&spec(policy), t0);
            assert_eq!(
                show(&after_failed_start(&slot, t0), t0),
                expected,
                "{policy} {failures}"
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let policy = RestartPolicy {
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
            ..RestartPolicy::default()
        };
        for (failures, ms) in [
            (0, 500),
            (1, 500),
            (2, 1_000),
            (3, 2_000),
            (7, 30_000),
            (100, 30_000),
        ] {
            assert_eq!(
                backoff(&policy, failures),
                Duration::from_millis(ms),
                "{failures}"
            );
        }
    }
}
