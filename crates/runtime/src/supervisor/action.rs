//! What the supervisor does to a workload: the decisions of [`super::reconcile`] and
//! [`super::exits`], which the actor carries out.

use std::time::Instant;

use tomoe_types::WorkloadState;

use crate::manifest::{ExecProbe, HealthAction, HttpProbe};

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

/// Actions as test tables write them.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// One line per action, times in ms after `t0`.
    pub(crate) fn show(action: &Action, t0: Instant) -> String {
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
}
