//! What follows the end of a workload's process, or a failure to start it: a pure
//! function of the workload, how its process ended and the time.

use std::time::{Duration, Instant};

use tomoe_types::WorkloadState;

use super::action::Action;
use super::slot::{Process, Slot};
use crate::manifest::{HealthAction, RestartPolicy, RestartWhen};

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
    let stable = now.saturating_duration_since(process.started)
        >= Duration::from_millis(restart.stable_after_ms);
    if stable {
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
    let mut delay = backoff(restart, failures);
    if !failed && !stable {
        // `always` on a program that exits at once: at most one start a second.
        delay = delay.max(QUICK_CLEAN_EXIT_DELAY);
    }
    Action::Backoff {
        workload,
        at: now + delay,
        failures,
    }
}

/// The least delay before restarting a workload that exited cleanly before its run
/// counted as stable (`restart: always`).
pub(crate) const QUICK_CLEAN_EXIT_DELAY: Duration = Duration::from_secs(1);

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
    use crate::supervisor::action::fixtures::show;
    use crate::supervisor::slot::fixtures::{idle, running, Seen};

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
        let cases: [(&str, String, Seen, bool, u64, &str); 15] = [
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
                "a quick clean exit under always waits a second",
                always.clone(),
                running(0),
                true,
                50,
                "backoff a until 1050 after 0",
            ),
            (
                "a stable clean exit under always restarts after the backoff",
                always.clone(),
                running(0),
                true,
                10_000,
                "backoff a until 10100 after 0",
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
