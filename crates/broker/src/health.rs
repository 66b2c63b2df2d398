//! The broker's own health counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::BrokerError;

/// The kinds of refusal [`BrokerHealth::refusals`] counts, as
/// [`BrokerError::kind`] names them.
pub const REFUSAL_KINDS: [&str; 17] = [
    "not_found",
    "unknown_id",
    "invalid_pattern",
    "invalid_value",
    "not_an_actuator",
    "no_provider",
    "provider_overloaded",
    "provider_failed",
    "already_claimed",
    "permission_denied",
    "private_branch",
    "permission_expired",
    "buffer_too_large",
    "empty",
    "answer_too_large",
    "restore",
    "storage",
];

/// What the broker has counted about its own health since it started, for the
/// platform's self-diagnosis and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerHealth {
    /// Subscribers disconnected because they lagged behind.
    pub lagged_subscribers: u64,
    /// Writes refused because the durable store failed.
    pub storage_failures: u64,
    /// The store's last error, if any.
    pub last_storage_error: Option<String>,
    /// Current values published (one per signal value, not per batch).
    pub published_values: u64,
    /// Actuation requests accepted (a KUKSA v1 target `Set`, a v2 `Actuate` or
    /// `BatchActuate`, an SOVD data write), one per request.
    pub actuation_requests: u64,
    /// Entries of writes (publish, set target, actuate) refused, by the kind of
    /// reason, in the order of [`REFUSAL_KINDS`].
    pub refusals: Vec<(&'static str, u64)>,
}

/// The counters behind [`BrokerHealth`].
#[derive(Debug, Default)]
pub(crate) struct HealthCounters {
    lagged: AtomicU64,
    storage_failures: AtomicU64,
    last_storage_error: Mutex<Option<String>>,
    published: AtomicU64,
    actuations: AtomicU64,
    refusals: [AtomicU64; REFUSAL_KINDS.len()],
}

impl HealthCounters {
    /// Counts `count` subscribers dropped for lagging.
    pub(crate) fn lagged(&self, count: u64) {
        if count > 0 {
            self.lagged.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// Counts `count` current values published.
    pub(crate) fn published(&self, count: u64) {
        if count > 0 {
            self.published.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// Counts an accepted actuation request.
    pub(crate) fn actuated(&self) {
        self.actuations.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refused entry by the kind of its reason.
    pub(crate) fn refused(&self, reason: &BrokerError) {
        let kind = reason.kind();
        if let Some(index) = REFUSAL_KINDS.iter().position(|k| *k == kind) {
            self.refusals[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a failed write of the store.
    pub(crate) fn storage_failed(&self, error: &dyn std::fmt::Display) {
        self.storage_failures.fetch_add(1, Ordering::Relaxed);
        *self
            .last_storage_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
    }

    /// The counters now.
    pub(crate) fn snapshot(&self) -> BrokerHealth {
        BrokerHealth {
            lagged_subscribers: self.lagged.load(Ordering::Relaxed),
            storage_failures: self.storage_failures.load(Ordering::Relaxed),
            last_storage_error: self
                .last_storage_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            published_values: self.published.load(Ordering::Relaxed),
            actuation_requests: self.actuations.load(Ordering::Relaxed),
            refusals: REFUSAL_KINDS
                .iter()
                .zip(&self.refusals)
                .map(|(kind, count)| (*kind, count.load(Ordering::Relaxed)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_reason_is_counted_under_its_name() {
        let counters = HealthCounters::default();
        counters.refused(&BrokerError::Empty);
        counters.refused(&BrokerError::PermissionExpired);
        counters.refused(&BrokerError::PermissionExpired);
        let refusals = counters.snapshot().refusals;
        assert_eq!(refusals.len(), REFUSAL_KINDS.len());
        assert!(refusals.contains(&("empty", 1)));
        assert!(refusals.contains(&("permission_expired", 2)));
        assert_eq!(refusals.iter().map(|(_, n)| n).sum::<u64>(), 3);
    }
}
