//! The broker's own health counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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
}

/// The counters behind [`BrokerHealth`].
#[derive(Debug, Default)]
pub(crate) struct HealthCounters {
    lagged: AtomicU64,
    storage_failures: AtomicU64,
    last_storage_error: Mutex<Option<String>>,
}

impl HealthCounters {
    /// Counts `count` subscribers dropped for lagging.
    pub(crate) fn lagged(&self, count: u64) {
        if count > 0 {
            self.lagged.fetch_add(count, Ordering::Relaxed);
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
        }
    }
}
