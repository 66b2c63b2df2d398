//! What a workload is doing.

use crate::names::string_enum;

/// The lifecycle state of a workload under the app runtime, as `tomoe ps` shows it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "&'static str")]
pub enum WorkloadState {
    /// Not started yet: waiting for its mode, a dependency or its first start.
    Waiting,
    /// Its process runs.
    Running,
    /// Asked to stop; the process has not exited yet.
    Stopping,
    /// Exited and waits for its restart delay.
    Backoff,
    /// Ran to completion with exit code 0 and is not restarted.
    Succeeded,
    /// Exited with an error and is not restarted.
    Failed,
    /// Failed too often in a row; left stopped until started again.
    CrashLooping,
    /// Stopped by the user.
    Stopped,
}

impl WorkloadState {
    /// Every state, in declaration order.
    pub const ALL: [WorkloadState; 8] = [
        WorkloadState::Waiting,
        WorkloadState::Running,
        WorkloadState::Stopping,
        WorkloadState::Backoff,
        WorkloadState::Succeeded,
        WorkloadState::Failed,
        WorkloadState::CrashLooping,
        WorkloadState::Stopped,
    ];

    /// The string form (`running`, `crash-looping`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadState::Waiting => "waiting",
            WorkloadState::Running => "running",
            WorkloadState::Stopping => "stopping",
            WorkloadState::Backoff => "backoff",
            WorkloadState::Succeeded => "succeeded",
            WorkloadState::Failed => "failed",
            WorkloadState::CrashLooping => "crash-looping",
            WorkloadState::Stopped => "stopped",
        }
    }

    /// A final state: the runtime will not start the workload again by itself.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            WorkloadState::Succeeded | WorkloadState::Failed | WorkloadState::CrashLooping
        )
    }
}

string_enum!(WorkloadState, "workload state");

/// What a workload's health check says.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "&'static str")]
pub enum WorkloadHealth {
    /// The last check passed.
    Healthy,
    /// The last check failed (or a heartbeat is overdue).
    Unhealthy,
    /// Checked, but no result yet.
    Unknown,
    /// The workload declares no health check.
    None,
}

impl WorkloadHealth {
    /// Every health value, in declaration order.
    pub const ALL: [WorkloadHealth; 4] = [
        WorkloadHealth::Healthy,
        WorkloadHealth::Unhealthy,
        WorkloadHealth::Unknown,
        WorkloadHealth::None,
    ];

    /// The string form (`healthy`, `unhealthy`, `unknown`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadHealth::Healthy => "healthy",
            WorkloadHealth::Unhealthy => "unhealthy",
            WorkloadHealth::Unknown => "unknown",
            WorkloadHealth::None => "none",
        }
    }
}

string_enum!(WorkloadHealth, "workload health");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_json() {
        for state in WorkloadState::ALL {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            assert_eq!(serde_json::from_str::<WorkloadState>(&json).unwrap(), state);
        }
        for health in WorkloadHealth::ALL {
            assert_eq!(health.as_str().parse::<WorkloadHealth>().unwrap(), health);
        }
    }

    #[test]
    fn unknown_state_names_the_choices() {
        let error = "sleeping".parse::<WorkloadState>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown workload state \"sleeping\" (expected waiting, running, stopping, backoff, succeeded, failed, crash-looping or stopped)"
        );
    }

    #[test]
    fn final_states() {
        let finals: Vec<_> = WorkloadState::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(
            finals,
            [
                WorkloadState::Succeeded,
                WorkloadState::Failed,
                WorkloadState::CrashLooping
            ]
        );
    }
}
