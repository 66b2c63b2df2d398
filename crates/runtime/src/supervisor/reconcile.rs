//! Reconcile decisions: what the supervisor does next, as a pure function of the desired
//! workloads, what it observed of their processes, the vehicle mode and the time.
//!
//! Nothing here does IO or reads a clock: the actor passes the time in and carries out
//! the [`Action`]s it gets back.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use tomoe_types::{VehicleMode, WorkloadState};

use super::action::{Action, Probe};
use super::slot::Slot;
use crate::manifest::{mode_names, Condition};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::action::fixtures::show;
    use crate::supervisor::slot::fixtures::{idle, in_state, running, Seen};
    use VehicleMode::{Driving, Parked};
    use WorkloadState::{CrashLooping, Failed, Stopped, Succeeded};

    const STOP_TIMEOUT: Duration = Duration::from_millis(2_000);

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
}
