//! What the update agent is doing.

use std::fmt;

/// The state of the update agent, as published to `Vehicle.Tomoe.Ota.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateStatus {
    /// Nothing to install.
    Idle,
    /// An install waits for the install policy to admit the vehicle's condition.
    Waiting,
    /// An image is being downloaded into the inactive slot.
    Downloading,
    /// The slot is switched and the app is handed to the app host.
    Installing,
    /// The new app runs its health window.
    VerifyingHealth,
    /// The new image passed its health window and is committed.
    Committed,
    /// The new image failed its health window; the previous one runs again.
    RolledBack,
    /// A check or install failed; it is tried again at the next check.
    Failed,
}

impl UpdateStatus {
    /// Every status, in the order of a cycle.
    pub const ALL: [UpdateStatus; 8] = [
        UpdateStatus::Idle,
        UpdateStatus::Waiting,
        UpdateStatus::Downloading,
        UpdateStatus::Installing,
        UpdateStatus::VerifyingHealth,
        UpdateStatus::Committed,
        UpdateStatus::RolledBack,
        UpdateStatus::Failed,
    ];

    /// The name published in the broker (`VERIFYING_HEALTH`).
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::Idle => "IDLE",
            UpdateStatus::Waiting => "WAITING",
            UpdateStatus::Downloading => "DOWNLOADING",
            UpdateStatus::Installing => "INSTALLING",
            UpdateStatus::VerifyingHealth => "VERIFYING_HEALTH",
            UpdateStatus::Committed => "COMMITTED",
            UpdateStatus::RolledBack => "ROLLED_BACK",
            UpdateStatus::Failed => "FAILED",
        }
    }
}

impl fmt::Display for UpdateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change of the agent's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The new status.
    pub status: UpdateStatus,
    /// What it concerns or why (`range-estimator-2 for range-estimator`,
    /// `waiting: vehicle is driving; ...`); empty when there is nothing to say.
    pub reason: String,
    /// What the change concerns, where the agent knows it.
    pub detail: Detail,
}

/// What a status change concerns: the app, the version and whether the
/// repositories' metadata was refused, for the self-diagnosis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// The app (workload) concerned.
    pub app: Option<String>,
    /// The target's version concerned.
    pub version: Option<u64>,
    /// Whether a failure is the repositories' metadata failing verification.
    pub metadata_refused: bool,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{}", self.status)
        } else {
            write!(f, "{}: {}", self.status, self.reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_those_of_the_vss_overlay() {
        let overlay = tomoe_vss::TOMOE_OVERLAY_VSPEC;
        let allowed = overlay
            .lines()
            .skip_while(|line| !line.starts_with("Vehicle.Tomoe.Ota.Status:"))
            .find(|line| line.trim_start().starts_with("allowed:"))
            .expect("the status leaf lists its allowed values");
        for status in UpdateStatus::ALL {
            assert!(
                allowed.contains(status.as_str()),
                "{status} not in {allowed}"
            );
        }
        assert_eq!(
            Progress {
                status: UpdateStatus::Waiting,
                reason: "waiting: vehicle is driving".into(),
                detail: Detail::default(),
            }
            .to_string(),
            "WAITING: waiting: vehicle is driving"
        );
    }
}
