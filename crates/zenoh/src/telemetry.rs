//! Telemetry for the backend: which signals leave the vehicle, how often and on
//! what change. A [`TelemetryPolicy`] (a TOML file per vehicle) selects them; a
//! [`TelemetryFilter`] decides, value by value, what is sent.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use tomoe_vss::{Catalog, LeafId, PathPattern, Value};

use crate::BridgeError;

/// Largest telemetry policy file read.
pub const MAX_POLICY_BYTES: u64 = 64 * 1024;

/// Most rules a policy may have.
pub const MAX_POLICY_RULES: usize = 1000;

/// Longest minimum interval a rule may ask for: one day.
pub const MAX_INTERVAL_MS: u64 = 86_400_000;

/// What leaves the vehicle for the backend.
#[derive(Debug, Clone, Default)]
pub struct TelemetryPolicy {
    rules: Vec<TelemetryRule>,
}

/// How one group of signals is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryRule {
    /// The signals the rule selects.
    pub paths: Vec<PathPattern>,
    /// At most one sample per signal per interval; a value held back is sent when
    /// the interval ends, so the backend always ends with the latest.
    pub min_interval: Duration,
    /// For numeric signals: a value is sent only once it moved at least this much
    /// from the last value sent. Other signals are sent when they change.
    pub deadband: Option<f64>,
}

impl TelemetryPolicy {
    /// Reads a policy file (see `docs/distribution.md` for the format).
    pub fn load(path: &Path) -> Result<TelemetryPolicy, BridgeError> {
        let config_error = |message: String| BridgeError::Config {
            path: path.to_owned(),
            message,
        };
        let io_error = |source| BridgeError::Io {
            path: path.to_owned(),
            source,
        };
        let size = std::fs::metadata(path).map_err(io_error)?.len();
        if size > MAX_POLICY_BYTES {
            return Err(config_error(format!(
                "{size} bytes, more than the {MAX_POLICY_BYTES} allowed"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(io_error)?;
        TelemetryPolicy::parse(&text).map_err(config_error)
    }

    /// Parses a policy text.
    pub fn parse(text: &str) -> Result<TelemetryPolicy, String> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if file.signal.len() > MAX_POLICY_RULES {
            return Err(format!(
                "{} [[signal]] rules, more than the {MAX_POLICY_RULES} allowed",
                file.signal.len()
            ));
        }
        let rules = file
            .signal
            .into_iter()
            .enumerate()
            .map(|(index, rule)| {
                let at = format!("[[signal]] rule {}", index + 1);
                if rule.paths.is_empty() {
                    return Err(format!("{at}: paths is empty"));
                }
                let paths = rule
                    .paths
                    .iter()
                    .map(|p| PathPattern::parse(p).map_err(|e| format!("{at}: {p:?}: {e}")))
                    .collect::<Result<Vec<_>, _>>()?;
                if rule.min_interval_ms > MAX_INTERVAL_MS {
                    return Err(format!(
                        "{at}: min_interval_ms = {}: at most {MAX_INTERVAL_MS} (a day)",
                        rule.min_interval_ms
                    ));
                }
                if let Some(deadband) = rule.deadband {
                    if !deadband.is_finite() || deadband < 0.0 {
                        return Err(format!(
                            "{at}: deadband = {deadband}: expected a finite number of at least 0"
                        ));
                    }
                }
                Ok(TelemetryRule {
                    paths,
                    min_interval: Duration::from_millis(rule.min_interval_ms),
                    deadband: rule.deadband,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TelemetryPolicy { rules })
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[TelemetryRule] {
        &self.rules
    }

    /// The rule that applies to `path`: the first in the file that selects it.
    pub fn rule_for(&self, path: &str) -> Option<&TelemetryRule> {
        self.rules
            .iter()
            .find(|rule| rule.paths.iter().any(|p| p.selects(path)))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    signal: Vec<RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    paths: Vec<String>,
    #[serde(default)]
    min_interval_ms: u64,
    deadband: Option<f64>,
}

/// Decides which values of the selected signals are sent, and when. Time is given
/// by the caller (time since some start), so the same filter runs live and over a
/// simulated drive.
#[derive(Debug)]
pub struct TelemetryFilter {
    signals: HashMap<LeafId, SignalState>,
}

#[derive(Debug)]
struct SignalState {
    min_interval: Duration,
    deadband: Option<f64>,
    /// When the last value was sent, and what it was.
    last: Option<(Duration, Option<Value>)>,
    /// The latest value held back by the interval.
    pending: Option<Option<Value>>,
}

impl TelemetryFilter {
    /// A filter for the leaves of `catalog` that `policy` selects.
    pub fn new(policy: &TelemetryPolicy, catalog: &Catalog) -> TelemetryFilter {
        let signals = catalog
            .leaves()
            .filter_map(|leaf| {
                policy.rule_for(&leaf.path).map(|rule| {
                    (
                        leaf.id,
                        SignalState {
                            min_interval: rule.min_interval,
                            deadband: rule.deadband,
                            last: None,
                            pending: None,
                        },
                    )
                })
            })
            .collect();
        TelemetryFilter { signals }
    }

    /// The leaves the policy selects.
    pub fn leaves(&self) -> Vec<LeafId> {
        let mut leaves: Vec<LeafId> = self.signals.keys().copied().collect();
        leaves.sort_unstable();
        leaves
    }

    /// A new value of `leaf` at `now`: returns it when it is to be sent now. A value
    /// that the interval holds back is sent by [`TelemetryFilter::due`] later, unless
    /// a newer one replaces it.
    pub fn offer(
        &mut self,
        leaf: LeafId,
        value: Option<Value>,
        now: Duration,
    ) -> Option<Option<Value>> {
        let state = self.signals.get_mut(&leaf)?;
        if let Some((_, sent)) = &state.last {
            if !differs(sent.as_ref(), value.as_ref(), state.deadband) {
                // Back within the deadband of what the backend has: nothing to send,
                // not even a value held back earlier.
                state.pending = None;
                return None;
            }
        }
        match state.last {
            Some((at, _)) if now < at + state.min_interval => {
                state.pending = Some(value);
                None
            }
            _ => {
                state.pending = None;
                state.last = Some((now, value.clone()));
                Some(value)
            }
        }
    }

    /// The values held back whose interval has ended by `now`; each is recorded as sent.
    pub fn due(&mut self, now: Duration) -> Vec<(LeafId, Option<Value>)> {
        let mut due = Vec::new();
        for (leaf, state) in &mut self.signals {
            let ready = matches!(state.last, Some((at, _)) if now >= at + state.min_interval);
            if ready {
                if let Some(value) = state.pending.take() {
                    state.last = Some((now, value.clone()));
                    due.push((*leaf, value));
                }
            }
        }
        due.sort_unstable_by_key(|(leaf, _)| *leaf);
        due
    }

    /// When the next held-back value becomes due, if any is held back.
    pub fn next_due(&self) -> Option<Duration> {
        self.signals
            .values()
            .filter(|state| state.pending.is_some())
            .filter_map(|state| state.last.as_ref().map(|(at, _)| *at + state.min_interval))
            .min()
    }
}

/// Counts what a policy would send: samples and bytes per signal, for estimates of
/// a vehicle's telemetry bandwidth over a drive (simulated or replayed).
#[derive(Debug)]
pub struct TelemetryMeter {
    filter: TelemetryFilter,
    keys: crate::keys::KeySpace,
    ecu_bytes: u64,
    paths: HashMap<LeafId, String>,
    counts: HashMap<LeafId, (u64, u64)>,
}

/// What a policy sent over a span of time.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TelemetryUsage {
    /// The span, in seconds.
    pub seconds: f64,
    /// Samples sent.
    pub samples: u64,
    /// Their bytes: key, JSON payload and attachment (the sending ECU's name).
    /// Zenoh's framing (a few bytes per sample, less with batching) is not counted,
    /// nor is the key when Zenoh replaces a declared key with a number.
    pub bytes: u64,
    /// Per signal that sent anything: path, samples, bytes; most bytes first.
    pub signals: Vec<(String, u64, u64)>,
}

impl TelemetryMeter {
    /// A meter for `policy` on `catalog`, as vehicle `vehicle`'s ECU `ecu` sends.
    pub fn new(
        policy: &TelemetryPolicy,
        catalog: &Catalog,
        vehicle: &str,
        ecu: &str,
    ) -> TelemetryMeter {
        let filter = TelemetryFilter::new(policy, catalog);
        let paths = filter
            .leaves()
            .into_iter()
            .filter_map(|leaf| catalog.leaf_by_id(leaf).map(|l| (leaf, l.path.clone())))
            .collect();
        TelemetryMeter {
            filter,
            keys: crate::keys::KeySpace::new(vehicle),
            ecu_bytes: ecu.len() as u64,
            paths,
            counts: HashMap::new(),
        }
    }

    /// New values at `now`: counts what the filter sends of them, and what was held
    /// back and is due by then.
    pub fn record(&mut self, values: Vec<(LeafId, Option<Value>)>, now: Duration) {
        let mut sent = self.filter.due(now);
        for (leaf, value) in values {
            if let Some(value) = self.filter.offer(leaf, value, now) {
                sent.push((leaf, value));
            }
        }
        for (leaf, value) in sent {
            let Some(path) = self.paths.get(&leaf) else {
                continue;
            };
            let bytes = crate::codec::encode(value.as_ref()).len() as u64
                + self.keys.telemetry(path).len() as u64
                + self.ecu_bytes;
            let count = self.counts.entry(leaf).or_default();
            count.0 += 1;
            count.1 += bytes;
        }
    }

    /// What was sent in the `elapsed` time recorded so far.
    pub fn usage(&self, elapsed: Duration) -> TelemetryUsage {
        let mut signals: Vec<(String, u64, u64)> = self
            .counts
            .iter()
            .map(|(leaf, (samples, bytes))| (self.paths[leaf].clone(), *samples, *bytes))
            .collect();
        signals.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        TelemetryUsage {
            seconds: elapsed.as_secs_f64(),
            samples: signals.iter().map(|s| s.1).sum(),
            bytes: signals.iter().map(|s| s.2).sum(),
            signals,
        }
    }
}

/// Whether `new` is worth sending after `sent`: availability changed, a numeric value
/// moved by at least the deadband (any change without one), anything else changed.
fn differs(sent: Option<&Value>, new: Option<&Value>, deadband: Option<f64>) -> bool {
    match (sent, new) {
        (Some(sent), Some(new)) => match (deadband, scalar(sent), scalar(new)) {
            (Some(deadband), Some(a), Some(b)) => (a - b).abs() >= deadband && a != b,
            _ => sent != new,
        },
        (None, None) => false,
        _ => true,
    }
}

/// A numeric value as a float.
fn scalar(value: &Value) -> Option<f64> {
    match value {
        Value::Int32(v) => Some(f64::from(*v)),
        Value::Int64(v) => Some(*v as f64),
        Value::Uint32(v) => Some(f64::from(*v)),
        Value::Uint64(v) => Some(*v as f64),
        Value::Float(v) => Some(f64::from(*v)),
        Value::Double(v) => Some(*v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn filter(policy: &str) -> (TelemetryFilter, LeafId, LeafId) {
        let catalog = tomoe_vss::default_catalog().unwrap();
        let policy = TelemetryPolicy::parse(policy).unwrap();
        let speed = catalog.leaf("Vehicle.Speed").unwrap().id;
        let gear = catalog
            .leaf("Vehicle.Powertrain.Transmission.SelectedGear")
            .unwrap()
            .id;
        (TelemetryFilter::new(&policy, &catalog), speed, gear)
    }

    #[test]
    fn the_interval_holds_back_and_the_latest_value_follows() {
        let (mut f, speed, _) =
            filter("[[signal]]\npaths = [\"Vehicle.Speed\"]\nmin_interval_ms = 1000\n");
        let v = |x: f32| Some(Value::Float(x));
        assert_eq!(f.offer(speed, v(1.0), ms(0)), Some(v(1.0)));
        assert_eq!(f.offer(speed, v(2.0), ms(100)), None);
        assert_eq!(f.offer(speed, v(3.0), ms(200)), None);
        assert_eq!(f.next_due(), Some(ms(1000)));
        assert!(f.due(ms(999)).is_empty());
        assert_eq!(f.due(ms(1000)), vec![(speed, v(3.0))]);
        assert_eq!(f.next_due(), None);
        // The next interval starts at the held-back value's sending.
        assert_eq!(f.offer(speed, v(4.0), ms(1500)), None);
        assert_eq!(f.offer(speed, v(5.0), ms(2000)), Some(v(5.0)));
        // Unavailable is a change worth sending.
        assert_eq!(f.offer(speed, None, ms(3000)), Some(None));
    }

    #[test]
    fn the_deadband_drops_small_moves_and_a_return_cancels_what_was_held() {
        let (mut f, speed, gear) = filter(
            "[[signal]]\npaths = [\"Vehicle.Speed\"]\ndeadband = 1.0\nmin_interval_ms = 1000\n\
             [[signal]]\npaths = [\"Vehicle.**\"]\n",
        );
        let v = |x: f32| Some(Value::Float(x));
        assert_eq!(f.offer(speed, v(10.0), ms(0)), Some(v(10.0)));
        assert_eq!(
            f.offer(speed, v(10.5), ms(2000)),
            None,
            "within the deadband"
        );
        assert_eq!(f.offer(speed, v(11.0), ms(2100)), Some(v(11.0)));
        assert_eq!(
            f.offer(speed, v(13.0), ms(2200)),
            None,
            "held by the interval"
        );
        assert_eq!(
            f.offer(speed, v(11.2), ms(2300)),
            None,
            "back near the value sent"
        );
        assert!(f.due(ms(5000)).is_empty());
        // The second rule: no interval, no deadband; only changes go.
        let g = |x: i32| Some(Value::Int32(x));
        assert_eq!(f.offer(gear, g(1), ms(0)), Some(g(1)));
        assert_eq!(f.offer(gear, g(1), ms(1)), None);
        assert_eq!(f.offer(gear, g(2), ms(2)), Some(g(2)));
    }

    #[test]
    fn a_signal_no_rule_selects_is_never_sent() {
        let (mut f, _, gear) = filter("[[signal]]\npaths = [\"Vehicle.Speed\"]\n");
        assert_eq!(f.offer(gear, Some(Value::Int32(1)), ms(0)), None);
        assert_eq!(f.leaves().len(), 1);
    }

    #[test]
    fn bad_policies_say_what_and_where() {
        for (text, expected) in [
            ("[[signal]]\npaths = []\n", "rule 1: paths is empty"),
            (
                "[[signal]]\npaths = [\"Vehicle..X\"]\n",
                "rule 1: \"Vehicle..X\"",
            ),
            (
                "[[signal]]\npaths = [\"Vehicle.Speed\"]\ndeadband = -1\n",
                "deadband = -1",
            ),
            (
                "[[signal]]\npaths = [\"Vehicle.Speed\"]\nmin_interval_ms = 99999999999\n",
                "at most 86400000",
            ),
            (
                "[[signal]]\npaths = [\"Vehicle.Speed\"]\nrate = 1\n",
                "unknown field",
            ),
            ("[[signal]\n", "expected"),
        ] {
            let error = TelemetryPolicy::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        let many = "[[signal]]\npaths = [\"Vehicle.Speed\"]\n".repeat(MAX_POLICY_RULES + 1);
        assert!(TelemetryPolicy::parse(&many)
            .unwrap_err()
            .contains("more than the 1000"));
    }
}
