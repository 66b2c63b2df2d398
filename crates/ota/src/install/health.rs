//! The health window's probe, and updates of vehicle apps run by the runtime.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::slots::VerifiedSlot;

/// Reports whether a freshly switched image works. The installer polls it during
/// the health window: `Some(true)` commits, `Some(false)` rolls back at once, and
/// `None` (no verdict yet) keeps waiting until the window ends, then rolls back.
///
/// Closures `Fn() -> Option<bool>` are health checks.
pub trait HealthCheck {
    /// The verdict so far, if there is one.
    fn healthy(&self) -> Option<bool>;
}

impl<F: Fn() -> Option<bool>> HealthCheck for F {
    fn healthy(&self) -> Option<bool> {
        self()
    }
}

/// A health verdict that another thread or task reports, for example a task that
/// watches the runtime's workload status. Clones share the verdict.
#[derive(Debug, Clone, Default)]
pub struct SharedHealth {
    verdict: Arc<Mutex<Option<bool>>>,
}

impl SharedHealth {
    /// A shared verdict with no report yet.
    pub fn new() -> SharedHealth {
        SharedHealth::default()
    }

    /// Records a verdict (the last one counts).
    pub fn report(&self, healthy: bool) {
        *self
            .verdict
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(healthy);
    }
}

impl HealthCheck for SharedHealth {
    fn healthy(&self) -> Option<bool> {
        *self
            .verdict
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The verdict on a workload from the runtime's status strings (`state` and
/// `health` of its `WorkloadStatus`): `failed`, `crash-looping` or `unhealthy`
/// are a failure, `healthy` a success. Anything else, including a workload
/// without a health check (`none`), is no verdict: an app updated over the air
/// needs a health probe to be committed.
pub fn workload_verdict(state: &str, health: &str) -> Option<bool> {
    match (state, health) {
        ("failed" | "crash-looping", _) | (_, "unhealthy") => Some(false),
        ("running", "healthy") => Some(true),
        _ => None,
    }
}

/// The runtime change for an app installed through a slot: run `workload` from
/// `command_path`, the app binary inside the active slot.
///
/// `tomoe-ota` does not depend on the runtime; the caller writes `command_path`
/// into the workload's manifest `command` and applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUpdate {
    /// The workload to change.
    pub workload: String,
    /// The new `command`: the image file of the active slot.
    pub command_path: PathBuf,
}

impl AppUpdate {
    /// The update that makes `workload` run the image in `active`.
    pub fn new(workload: &str, active: &VerifiedSlot) -> AppUpdate {
        AppUpdate {
            workload: workload.to_string(),
            command_path: active.image_path(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_shared_verdict_and_workload_status() {
        let shared = SharedHealth::new();
        let view = shared.clone();
        assert_eq!(view.healthy(), None);
        shared.report(false);
        shared.report(true);
        assert_eq!(view.healthy(), Some(true));

        assert_eq!(workload_verdict("running", "healthy"), Some(true));
        assert_eq!(workload_verdict("running", "unhealthy"), Some(false));
        assert_eq!(workload_verdict("crash-looping", "unknown"), Some(false));
        assert_eq!(workload_verdict("running", "unknown"), None);
        assert_eq!(workload_verdict("running", "none"), None);
        assert_eq!(workload_verdict("backoff", "unknown"), None);
    }
}
