//! The health window's probe.

use std::sync::{Arc, Mutex};

use super::slots::VerifiedSlot;

/// Starts a freshly switched image and reports whether it works.
///
/// The installer calls [`start`](HealthCheck::start) once the new slot is active
/// (for an app: run it from the slot), then polls [`healthy`](HealthCheck::healthy)
/// for the whole health window. `Some(false)` at any poll rolls back at once; the
/// image is committed only when the window has passed and the last verdict is
/// `Some(true)`; no verdict (`None`) when the window ends rolls back.
///
/// Closures `Fn() -> Option<bool>` are health checks of images that need no start.
pub trait HealthCheck {
    /// Starts the image in `active`; an error rolls the install back.
    fn start(&self, active: &VerifiedSlot) -> Result<(), String> {
        let _ = active;
        Ok(())
    }

    /// The verdict so far, if there is one.
    fn healthy(&self) -> Option<bool>;

    /// Why the image is unhealthy, once [`healthy`](HealthCheck::healthy) said so.
    fn failure(&self) -> Option<String> {
        None
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_shared_verdict() {
        let shared = SharedHealth::new();
        let view = shared.clone();
        assert_eq!(view.healthy(), None);
        shared.report(false);
        shared.report(true);
        assert_eq!(view.healthy(), Some(true));
    }
}
