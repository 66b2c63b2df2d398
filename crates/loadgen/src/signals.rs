//! The signals under load, how a sequence number travels inside their values, and
//! the table of send instants that turns a received value into a latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use kuksa_rust_sdk::v2_proto as proto;
use proto::value::TypedValue;
use tonic::transport::Channel;

/// Sequence numbers travel modulo this value: every integer below 2^24 is exact as an `f32`.
pub(crate) const SEQ_MODULUS: u64 = 1 << 24;

/// Bits of a [`SendLog`] slot that hold the send time (microseconds, ~12 days).
const TIME_BITS: u32 = 40;

/// Slots of the [`SendLog`] ring; divides [`SEQ_MODULUS`], so a sequence number
/// always maps to the same slot.
const SLOTS: usize = 1 << 20;

/// A signal the provider publishes and the subscribers watch.
#[derive(Debug, Clone)]
pub(crate) struct Signal {
    /// The VSS path.
    pub(crate) path: String,
    /// The broker's numeric id.
    pub(crate) id: i32,
    /// Whether the signal is a `double` (else a `float`).
    pub(crate) double: bool,
}

impl Signal {
    /// The datapoint carrying sequence number `seq`.
    pub(crate) fn datapoint(&self, seq: u64) -> proto::Datapoint {
        let encoded = seq % SEQ_MODULUS;
        let typed = if self.double {
            TypedValue::Double(encoded as f64)
        } else {
            TypedValue::Float(encoded as f32)
        };
        proto::Datapoint {
            timestamp: None,
            value: Some(proto::Value {
                typed_value: Some(typed),
            }),
        }
    }
}

/// The sequence number (modulo [`SEQ_MODULUS`]) a received datapoint carries, if it
/// carries one.
pub(crate) fn decode(datapoint: &proto::Datapoint) -> Option<u32> {
    let value = match datapoint.value.as_ref()?.typed_value.as_ref()? {
        TypedValue::Float(v) => f64::from(*v),
        TypedValue::Double(v) => *v,
        _ => return None,
    };
    (value >= 0.0 && value < SEQ_MODULUS as f64 && value.fract() == 0.0).then_some(value as u32)
}

/// Lists the sensors under `Vehicle` and picks the first `count` of type `float`
/// or `double` whose min/max (if any) can hold every sequence value.
pub(crate) async fn choose(channel: Channel, count: usize) -> anyhow::Result<Vec<Signal>> {
    let mut client = proto::val_client::ValClient::new(channel);
    let metadata = client
        .list_metadata(proto::ListMetadataRequest {
            root: "Vehicle".to_owned(),
            filter: String::new(),
        })
        .await
        .context("ListMetadata(\"Vehicle\") failed")?
        .into_inner()
        .metadata;
    let float = proto::DataType::Float as i32;
    let double = proto::DataType::Double as i32;
    let mut candidates = 0usize;
    let chosen: Vec<Signal> = metadata
        .into_iter()
        .filter(|m| m.entry_type == proto::EntryType::Sensor as i32)
        .filter(|m| m.data_type == float || m.data_type == double)
        .inspect(|_| candidates += 1)
        .filter(holds_sequence_range)
        .map(|m| Signal {
            path: m.path,
            id: m.id,
            double: m.data_type == double,
        })
        .take(count)
        .collect();
    if chosen.len() < count {
        bail!(
            "the broker has only {} float/double sensors under Vehicle whose min/max admit 0..{} \
             ({candidates} float/double sensors in all); asked for --signals {count}",
            chosen.len(),
            SEQ_MODULUS - 1,
        );
    }
    Ok(chosen)
}

/// Whether a signal's bounds admit every value `0..SEQ_MODULUS`.
fn holds_sequence_range(metadata: &proto::Metadata) -> bool {
    let bound =
        |value: &Option<proto::Value>| match value.as_ref().and_then(|v| v.typed_value.as_ref()) {
            None => None,
            Some(TypedValue::Float(v)) => Some(f64::from(*v)),
            Some(TypedValue::Double(v)) => Some(*v),
            Some(TypedValue::Int32(v)) => Some(f64::from(*v)),
            Some(TypedValue::Int64(v)) => Some(*v as f64),
            Some(TypedValue::Uint32(v)) => Some(f64::from(*v)),
            Some(TypedValue::Uint64(v)) => Some(*v as f64),
            // A bound of an unexpected type: treat the signal as unusable.
            Some(_) => Some(f64::NAN),
        };
    let min_ok = bound(&metadata.min).is_none_or(|min| min <= 0.0);
    let max_ok = bound(&metadata.max).is_none_or(|max| max >= (SEQ_MODULUS - 1) as f64);
    min_ok && max_ok
}

/// When each recent sequence number was handed to the provider stream: a lock-free
/// ring shared by the provider (writer) and the subscribers (readers).
///
/// A slot packs the sequence number (modulo [`SEQ_MODULUS`]) with the send time,
/// so a reader can tell a live entry from one already overwritten.
pub(crate) struct SendLog {
    base: Instant,
    slots: Box<[AtomicU64]>,
}

impl std::fmt::Debug for SendLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendLog")
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl SendLog {
    /// An empty log whose clock starts now.
    pub(crate) fn new() -> SendLog {
        SendLog {
            base: Instant::now(),
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Records that sequence number `seq` was sent at `at`.
    pub(crate) fn record(&self, seq: u64, at: Instant) {
        let seq = seq % SEQ_MODULUS;
        // +1 so that a zero slot always means "empty".
        let time = self.micros(at) + 1;
        let packed = (seq << TIME_BITS) | (time & ((1 << TIME_BITS) - 1));
        self.slots[seq as usize % SLOTS].store(packed, Ordering::Release);
    }

    /// When sequence number `seq` (as decoded from a value) was sent, if still known.
    pub(crate) fn sent_at(&self, seq: u32) -> Option<Instant> {
        let packed = self.slots[seq as usize % SLOTS].load(Ordering::Acquire);
        if packed == 0 || packed >> TIME_BITS != u64::from(seq) {
            return None;
        }
        let micros = (packed & ((1 << TIME_BITS) - 1)) - 1;
        Some(self.base + Duration::from_micros(micros))
    }

    /// The latency in microseconds of sequence number `seq` received at `now`.
    pub(crate) fn latency_micros(&self, seq: u32, now: Instant) -> Option<u64> {
        self.sent_at(seq)
            .map(|sent| now.saturating_duration_since(sent).as_micros() as u64)
    }

    fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.base).as_micros() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_survive_float_and_double() {
        let float = Signal {
            path: "A".into(),
            id: 1,
            double: false,
        };
        let double = Signal {
            path: "B".into(),
            id: 2,
            double: true,
        };
        for seq in [0, 1, 12_345, SEQ_MODULUS - 1, SEQ_MODULUS, SEQ_MODULUS + 7] {
            assert_eq!(
                decode(&float.datapoint(seq)),
                Some((seq % SEQ_MODULUS) as u32)
            );
            assert_eq!(
                decode(&double.datapoint(seq)),
                Some((seq % SEQ_MODULUS) as u32)
            );
        }
        let foreign = proto::Datapoint {
            timestamp: None,
            value: Some(proto::Value {
                typed_value: Some(TypedValue::Float(1.5)),
            }),
        };
        assert_eq!(decode(&foreign), None);
    }

    #[test]
    fn send_log_matches_only_live_entries() {
        let log = SendLog::new();
        let at = Instant::now() + Duration::from_millis(3);
        assert_eq!(log.sent_at(5), None);
        log.record(5, at);
        let sent = log.sent_at(5).expect("recorded");
        assert!(sent <= at && at - sent < Duration::from_micros(2));
        assert_eq!(
            log.latency_micros(5, at + Duration::from_millis(2)),
            Some(2_000)
        );
        // Overwritten by a later sequence number that maps to the same slot.
        log.record(5 + SLOTS as u64, at);
        assert_eq!(log.sent_at(5), None);
    }

    #[test]
    fn bounded_signals_are_skipped() {
        let bounded = |min: Option<f32>, max: Option<f32>| proto::Metadata {
            min: min.map(|v| proto::Value {
                typed_value: Some(TypedValue::Float(v)),
            }),
            max: max.map(|v| proto::Value {
                typed_value: Some(TypedValue::Float(v)),
            }),
            ..Default::default()
        };
        assert!(holds_sequence_range(&bounded(None, None)));
        assert!(holds_sequence_range(&bounded(Some(-100.0), None)));
        assert!(!holds_sequence_range(&bounded(Some(0.0), Some(100.0))));
        assert!(!holds_sequence_range(&bounded(Some(1.0), None)));
    }
}
