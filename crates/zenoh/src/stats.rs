//! What a bridge counted.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Why an incoming sample was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// The sample does not say which ECU sent it.
    NoSender,
    /// The key names no signal of this vehicle's catalog.
    UnknownPath,
    /// No import rule lets the sender provide this signal here.
    NotPermitted,
    /// The payload is not a value (not JSON, too large, too deep).
    Malformed,
    /// The value does not fit the signal (type, range, allowed values).
    InvalidValue,
}

impl RefusalReason {
    /// Every reason, in a fixed order.
    pub const ALL: [RefusalReason; 5] = [
        RefusalReason::NoSender,
        RefusalReason::UnknownPath,
        RefusalReason::NotPermitted,
        RefusalReason::Malformed,
        RefusalReason::InvalidValue,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The reason's name, as in the JSON form (`unknown_path`).
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::NoSender => "no_sender",
            RefusalReason::UnknownPath => "unknown_path",
            RefusalReason::NotPermitted => "not_permitted",
            RefusalReason::Malformed => "malformed",
            RefusalReason::InvalidValue => "invalid_value",
        }
    }
}

/// Reads a running bridge's counters ([`crate::Bridge::stats_reader`]); cheap to
/// clone, and it keeps reading the last figures after the bridge stopped.
#[derive(Debug, Clone)]
pub struct StatsReader(pub(crate) Arc<Counters>);

impl StatsReader {
    /// What the bridge counted so far.
    pub fn read(&self) -> BridgeStats {
        self.0.snapshot()
    }
}

/// Counters of a running bridge.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub exported: AtomicU64,
    pub imported: AtomicU64,
    refused: [AtomicU64; 5],
    pub actuations_forwarded: AtomicU64,
    pub actuations_served: AtomicU64,
    pub claim_conflicts: AtomicU64,
    pub telemetry_sent: AtomicU64,
    pub telemetry_bytes: AtomicU64,
    pub commands_served: AtomicU64,
    pub commands_refused: AtomicU64,
    pub peers: Mutex<BTreeSet<String>>,
}

impl Counters {
    /// Counts a refusal; the first few of each kind are logged as warnings.
    pub fn refuse(&self, reason: RefusalReason, key: &str, detail: &str) {
        let before = self.refused[reason.index()].fetch_add(1, Ordering::Relaxed);
        if before < 10 {
            tracing::warn!(?reason, key, detail, "refused a sample from Zenoh");
        } else {
            tracing::debug!(?reason, key, detail, "refused a sample from Zenoh");
        }
    }

    pub fn snapshot(&self) -> BridgeStats {
        BridgeStats {
            exported: self.exported.load(Ordering::Relaxed),
            imported: self.imported.load(Ordering::Relaxed),
            refused: RefusalReason::ALL
                .iter()
                .map(|r| (*r, self.refused[r.index()].load(Ordering::Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            actuations_forwarded: self.actuations_forwarded.load(Ordering::Relaxed),
            actuations_served: self.actuations_served.load(Ordering::Relaxed),
            claim_conflicts: self.claim_conflicts.load(Ordering::Relaxed),
            telemetry_sent: self.telemetry_sent.load(Ordering::Relaxed),
            telemetry_bytes: self.telemetry_bytes.load(Ordering::Relaxed),
            commands_served: self.commands_served.load(Ordering::Relaxed),
            commands_refused: self.commands_refused.load(Ordering::Relaxed),
            peers: self
                .peers
                .lock()
                .map(|p| p.iter().cloned().collect())
                .unwrap_or_default(),
        }
    }
}

/// A snapshot of a bridge's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BridgeStats {
    /// Signal values sent.
    pub exported: u64,
    /// Signal values received and published into the local broker.
    pub imported: u64,
    /// Samples refused, by reason (only reasons that occurred).
    pub refused: Vec<(RefusalReason, u64)>,
    /// Actuation requests passed on to another ECU.
    pub actuations_forwarded: u64,
    /// Actuation requests from other ECUs carried out here.
    pub actuations_served: u64,
    /// Actuators that two ECUs both claimed to provide.
    pub claim_conflicts: u64,
    /// Telemetry samples sent to the backend.
    pub telemetry_sent: u64,
    /// Their key and payload bytes (Zenoh's framing not counted).
    pub telemetry_bytes: u64,
    /// Backend commands carried out.
    pub commands_served: u64,
    /// Backend commands refused (token, scope, payload, provider).
    pub commands_refused: u64,
    /// The ECUs whose bridges are reachable now.
    pub peers: Vec<String>,
}

impl BridgeStats {
    /// How many samples were refused for `reason`.
    pub fn refused(&self, reason: RefusalReason) -> u64 {
        self.refused
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_are_their_json_names() {
        for reason in RefusalReason::ALL {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
    }
}
