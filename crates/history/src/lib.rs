//! Signal history: the recent values of chosen signals, kept in memory.
//!
//! A [`History`] keeps one ring buffer of `(time, value)` samples per recorded
//! signal. [`History::start`] feeds it from a broker subscription (every current
//! value the broker accepts for a leaf that one of the configured
//! [`RetentionRule`]s selects); [`History::record`] feeds it directly.
//!
//! # Retention and memory
//!
//! - Each signal keeps the samples of its rule's `max_age` (measured back from the
//!   newest sample of any signal, and pruned once a second while the feed runs) and
//!   at most its rule's `max_samples`; older samples go first.
//! - All buffers together stay within [`HistoryConfig::memory_budget_bytes`]
//!   (at most [`MAX_MEMORY_BUDGET_BYTES`]). A sample costs [`SAMPLE_OVERHEAD_BYTES`]
//!   plus the heap bytes of its value (a string's or an array's contents). When a
//!   new sample would exceed the budget, the oldest samples of all signals are
//!   dropped first; [`HistoryStats::dropped_for_budget`] counts them.
//! - A feed that falls behind the broker (its subscription lagged) resubscribes;
//!   [`HistoryStats::lagged_batches`] counts the batches it missed.
//!
//! History is not durable: it starts empty on every start of the platform.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use tomoe_history::{History, HistoryConfig};
//! use tomoe_vss::Value;
//!
//! let catalog = std::sync::Arc::new(tomoe_vss::default_catalog().unwrap());
//! let history = History::new(catalog, HistoryConfig::default()).unwrap();
//! let now = SystemTime::now();
//! history.record("Vehicle.Speed", now, Value::Float(42.0)).unwrap();
//! let samples = history.history("Vehicle.Speed", now - Duration::from_secs(1), now).unwrap();
//! assert_eq!(samples, vec![(now, Value::Float(42.0))]);
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tomoe_broker::{Broker, Field, Permissions, SubscriptionEvent, MAX_QUEUE_CAPACITY};
use tomoe_vss::{Catalog, LeafId, PathPattern, Value};

/// How long a signal's samples are kept when its rule says nothing else.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// How many samples a signal keeps when its rule says nothing else.
pub const DEFAULT_MAX_SAMPLES: usize = 6_000;
/// The default memory budget of all buffers together.
pub const DEFAULT_MEMORY_BUDGET_BYTES: usize = 64 * 1024 * 1024;
/// The largest memory budget accepted.
pub const MAX_MEMORY_BUDGET_BYTES: usize = 4 * 1024 * 1024 * 1024;
/// The most samples one signal may be configured to keep.
pub const MAX_SAMPLES_PER_SIGNAL: usize = 10_000_000;
/// The longest retention one rule may ask for.
pub const MAX_AGE_LIMIT: Duration = Duration::from_secs(7 * 24 * 3600);
/// What one sample costs besides its value's heap bytes: the `(SystemTime, Value)`
/// slot itself.
pub const SAMPLE_OVERHEAD_BYTES: usize = std::mem::size_of::<(SystemTime, Value)>();

/// How long the signals a pattern selects are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionRule {
    /// The signals (a path, a branch or a wildcard pattern).
    pub pattern: PathPattern,
    /// Samples older than this are dropped.
    pub max_age: Duration,
    /// At most this many samples per signal are kept.
    pub max_samples: usize,
}

impl RetentionRule {
    /// A rule with the default retention ([`DEFAULT_MAX_AGE`], [`DEFAULT_MAX_SAMPLES`]).
    pub fn new(pattern: PathPattern) -> RetentionRule {
        RetentionRule {
            pattern,
            max_age: DEFAULT_MAX_AGE,
            max_samples: DEFAULT_MAX_SAMPLES,
        }
    }
}

/// What is recorded, for how long, within how much memory.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryConfig {
    /// The recorded signals; a signal follows the first rule that selects it.
    pub rules: Vec<RetentionRule>,
    /// All buffers together stay within this many bytes.
    pub memory_budget_bytes: usize,
}

impl Default for HistoryConfig {
    /// Every signal, 10 minutes or 6,000 samples each, within 64 MiB.
    fn default() -> HistoryConfig {
        HistoryConfig {
            rules: vec![RetentionRule::new(
                PathPattern::parse("**").expect("a valid pattern"),
            )],
            memory_budget_bytes: DEFAULT_MEMORY_BUDGET_BYTES,
        }
    }
}

/// Why history could not be configured or queried.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// No signal has this path.
    #[error("path not found: \"{path}\"")]
    UnknownPath {
        /// The path asked for.
        path: String,
    },
    /// The signal exists but no retention rule records it.
    #[error("\"{path}\" is not recorded: no history rule selects it")]
    NotRecorded {
        /// The path asked for.
        path: String,
    },
    /// The configuration is out of bounds.
    #[error("invalid history configuration: {0}")]
    InvalidConfig(String),
    /// The feed could not subscribe to the broker.
    #[error("cannot subscribe to the broker: {0}")]
    Subscribe(String),
}

/// What the history holds and what it had to drop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryStats {
    /// Recorded signals.
    pub signals: usize,
    /// Samples held, all signals together.
    pub samples: usize,
    /// Bytes the samples are counted as.
    pub bytes: usize,
    /// The memory budget.
    pub budget_bytes: usize,
    /// Samples dropped before their time to stay within the memory budget.
    pub dropped_for_budget: u64,
    /// Broker batches the feed missed because its subscription lagged.
    pub lagged_batches: u64,
}

/// The signal history. Cheap to clone: clones share the buffers.
#[derive(Clone)]
pub struct History {
    catalog: Arc<Catalog>,
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

struct Ring {
    samples: VecDeque<(SystemTime, Value)>,
    max_age: Duration,
    max_samples: usize,
}

struct Inner {
    rings: HashMap<LeafId, Ring>,
    budget: usize,
    bytes: usize,
    samples: usize,
    newest: Option<SystemTime>,
    dropped_for_budget: u64,
    lagged_batches: u64,
}

fn sample_bytes(value: &Value) -> usize {
    let heap = match value {
        Value::String(_)
        | Value::StringArray(_)
        | Value::BoolArray(_)
        | Value::Int32Array(_)
        | Value::Uint32Array(_)
        | Value::FloatArray(_)
        | Value::Int64Array(_)
        | Value::Uint64Array(_)
        | Value::DoubleArray(_) => value.approx_bytes(),
        _ => 0,
    };
    SAMPLE_OVERHEAD_BYTES + heap
}

impl History {
    /// An empty history over `catalog`: every leaf a rule selects gets a buffer.
    pub fn new(catalog: Arc<Catalog>, config: HistoryConfig) -> Result<History, HistoryError> {
        if config.memory_budget_bytes == 0 || config.memory_budget_bytes > MAX_MEMORY_BUDGET_BYTES {
            return Err(HistoryError::InvalidConfig(format!(
                "the memory budget must be between 1 and {MAX_MEMORY_BUDGET_BYTES} bytes, not {}",
                config.memory_budget_bytes
            )));
        }
        for rule in &config.rules {
            if rule.max_samples == 0 || rule.max_samples > MAX_SAMPLES_PER_SIGNAL {
                return Err(HistoryError::InvalidConfig(format!(
                    "{}: max_samples must be between 1 and {MAX_SAMPLES_PER_SIGNAL}, not {}",
                    rule.pattern.as_str(),
                    rule.max_samples
                )));
            }
            if rule.max_age.is_zero() || rule.max_age > MAX_AGE_LIMIT {
                return Err(HistoryError::InvalidConfig(format!(
                    "{}: max_age must be between 1 ns and {MAX_AGE_LIMIT:?}, not {:?}",
                    rule.pattern.as_str(),
                    rule.max_age
                )));
            }
        }
        let mut rings = HashMap::new();
        for leaf in catalog.leaves() {
            if let Some(rule) = config.rules.iter().find(|r| r.pattern.selects(&leaf.path)) {
                rings.insert(
                    leaf.id,
                    Ring {
                        samples: VecDeque::new(),
                        max_age: rule.max_age,
                        max_samples: rule.max_samples,
                    },
                );
            }
        }
        Ok(History {
            catalog,
            inner: Arc::new(Mutex::new(Inner {
                rings,
                budget: config.memory_budget_bytes,
                bytes: 0,
                samples: 0,
                newest: None,
                dropped_for_budget: 0,
                lagged_batches: 0,
            })),
        })
    }

    /// A history over `broker`'s catalog, fed by a subscription to the current
    /// values of every recorded leaf (with the present values first). The feed
    /// runs on the current tokio runtime until the broker goes away.
    pub fn start(broker: &Broker, config: HistoryConfig) -> Result<History, HistoryError> {
        let history = History::new(broker.catalog_arc(), config)?;
        let ids = history.recorded();
        if ids.is_empty() {
            return Ok(history);
        }
        let subscribe = |initial| {
            broker
                .subscribe(
                    &Permissions::allow_all(),
                    &ids,
                    Field::Current,
                    MAX_QUEUE_CAPACITY,
                    initial,
                )
                .map_err(|e| HistoryError::Subscribe(e.to_string()))
        };
        let mut subscription = subscribe(true)?;
        let feed = history.clone();
        let broker = broker.clone();
        let weak = Arc::downgrade(&history.inner);
        tokio::spawn(async move {
            let mut prune = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    event = subscription.next() => match event {
                        Some(SubscriptionEvent::Changes(changes)) => {
                            if weak.strong_count() <= 1 {
                                return; // Only the feed holds the history.
                            }
                            feed.record_changes(&changes);
                        }
                        Some(SubscriptionEvent::Lagged { dropped }) => {
                            feed.lock().lagged_batches += dropped;
                            tracing::warn!(dropped, "history feed lagged behind the broker; resubscribing");
                            match broker.subscribe(&Permissions::allow_all(), &ids, Field::Current, MAX_QUEUE_CAPACITY, false) {
                                Ok(again) => subscription = again,
                                Err(error) => {
                                    tracing::warn!(%error, "history feed stopped");
                                    return;
                                }
                            }
                        }
                        None => return,
                    },
                    _ = prune.tick() => {
                        if weak.strong_count() <= 1 {
                            return;
                        }
                        feed.prune(SystemTime::now());
                    }
                }
            }
        });
        Ok(history)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("history lock poisoned")
    }

    fn record_changes(&self, changes: &[tomoe_broker::Change]) {
        let mut inner = self.lock();
        for change in changes {
            if let Some(value) = &change.datapoint.value {
                inner.push(change.leaf, change.datapoint.timestamp, value.clone());
            }
        }
    }

    /// The leaves a rule selects, in id order.
    pub fn recorded(&self) -> Vec<LeafId> {
        let mut ids: Vec<LeafId> = self.lock().rings.keys().copied().collect();
        ids.sort();
        ids
    }

    /// Whether the leaf at `path` is recorded.
    pub fn is_recorded(&self, path: &str) -> bool {
        self.catalog
            .leaf(path)
            .is_some_and(|leaf| self.lock().rings.contains_key(&leaf.id))
    }

    /// Records one sample of the leaf at `path`. A sample older than the newest one
    /// of its signal is recorded at that newest time, so that samples stay ordered.
    pub fn record(&self, path: &str, time: SystemTime, value: Value) -> Result<(), HistoryError> {
        let id = self.id(path)?;
        self.lock().push(id, time, value);
        Ok(())
    }

    fn id(&self, path: &str) -> Result<LeafId, HistoryError> {
        let leaf = self
            .catalog
            .leaf(path)
            .ok_or_else(|| HistoryError::UnknownPath {
                path: path.to_owned(),
            })?;
        Ok(leaf.id)
    }

    /// The samples of the leaf at `path` taken from `from` to `to` (both included),
    /// oldest first, within the signal's retention.
    pub fn history(
        &self,
        path: &str,
        from: SystemTime,
        to: SystemTime,
    ) -> Result<Vec<(SystemTime, Value)>, HistoryError> {
        let id = self.id(path)?;
        let inner = self.lock();
        let ring = inner
            .rings
            .get(&id)
            .ok_or_else(|| HistoryError::NotRecorded {
                path: path.to_owned(),
            })?;
        let oldest_kept = inner.newest.map(|newest| {
            newest
                .checked_sub(ring.max_age)
                .unwrap_or(SystemTime::UNIX_EPOCH)
        });
        let from = match oldest_kept {
            Some(oldest) if oldest > from => oldest,
            _ => from,
        };
        let start = ring.samples.partition_point(|(t, _)| *t < from);
        let end = ring.samples.partition_point(|(t, _)| *t <= to);
        Ok(ring.samples.range(start..end.max(start)).cloned().collect())
    }

    /// Drops samples past their signal's `max_age`, measured back from `now`.
    pub fn prune(&self, now: SystemTime) {
        let mut inner = self.lock();
        let Inner {
            rings,
            bytes,
            samples,
            ..
        } = &mut *inner;
        for ring in rings.values_mut() {
            let Some(oldest) = now.checked_sub(ring.max_age) else {
                continue;
            };
            while ring.samples.front().is_some_and(|(t, _)| *t < oldest) {
                let (_, value) = ring.samples.pop_front().expect("a front sample");
                *bytes -= sample_bytes(&value);
                *samples -= 1;
            }
        }
    }

    /// What the history holds and what it dropped.
    pub fn stats(&self) -> HistoryStats {
        let inner = self.lock();
        HistoryStats {
            signals: inner.rings.len(),
            samples: inner.samples,
            bytes: inner.bytes,
            budget_bytes: inner.budget,
            dropped_for_budget: inner.dropped_for_budget,
            lagged_batches: inner.lagged_batches,
        }
    }
}

impl Inner {
    fn push(&mut self, id: LeafId, time: SystemTime, value: Value) {
        let cost = sample_bytes(&value);
        let Some(ring) = self.rings.get_mut(&id) else {
            return;
        };
        let time = match ring.samples.back() {
            Some((last, _)) if *last > time => *last,
            _ => time,
        };
        let mut freed = 0;
        let mut removed = 0;
        if let Some(oldest) = time.checked_sub(ring.max_age) {
            while ring.samples.front().is_some_and(|(t, _)| *t < oldest) {
                let (_, old) = ring.samples.pop_front().expect("a front sample");
                freed += sample_bytes(&old);
                removed += 1;
            }
        }
        while ring.samples.len() >= ring.max_samples {
            let (_, old) = ring.samples.pop_front().expect("a front sample");
            freed += sample_bytes(&old);
            removed += 1;
        }
        ring.samples.push_back((time, value));
        self.bytes = self.bytes - freed + cost;
        self.samples = self.samples - removed + 1;
        if self.newest.is_none_or(|newest| newest < time) {
            self.newest = Some(time);
        }
        while self.bytes > self.budget && self.samples > 0 {
            self.drop_oldest();
        }
    }

    /// Drops the oldest sample of all signals.
    fn drop_oldest(&mut self) {
        let oldest = self
            .rings
            .values_mut()
            .filter(|ring| !ring.samples.is_empty())
            .min_by_key(|ring| ring.samples.front().map(|(t, _)| *t));
        if let Some(ring) = oldest {
            let (_, value) = ring.samples.pop_front().expect("a front sample");
            self.bytes -= sample_bytes(&value);
            self.samples -= 1;
            self.dropped_for_budget += 1;
        }
    }
}

#[cfg(test)]
mod tests;
