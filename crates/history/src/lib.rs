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
//! # Durable history
//!
//! The signals the [`HistoryConfig::durable`] rules select are also written to a
//! [`tomoe_store::SampleStore`] in the data directory ([`History::start_in`]):
//! their pending samples go to disk every [`FLUSH_INTERVAL`] and on
//! [`History::flush`], samples past their durable rule's retention are dropped
//! every [`DURABLE_PRUNE_INTERVAL`], and a query of such a signal reads the store
//! for what is older than its memory holds. The durable rules keep at most
//! [`MAX_DURABLE_SAMPLES`] samples together, which bounds the file; a signal no
//! durable rule selects any longer loses its stored samples at the next start.
//! Every other signal's history starts empty on every start of the platform.
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

mod config;

pub use config::{
    HistoryConfig, RetentionRule, DEFAULT_DURABLE_MAX_AGE, DEFAULT_DURABLE_MAX_SAMPLES,
    DEFAULT_MAX_AGE, DEFAULT_MAX_SAMPLES, DEFAULT_MEMORY_BUDGET_BYTES, MAX_AGE_LIMIT,
    MAX_CONFIG_BYTES, MAX_DURABLE_AGE_LIMIT, MAX_DURABLE_SAMPLES, MAX_MEMORY_BUDGET_BYTES,
    MAX_SAMPLES_PER_SIGNAL,
};

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tomoe_broker::{Broker, Field, Permissions, SubscriptionEvent, MAX_QUEUE_CAPACITY};
use tomoe_store::{Retention, Sample, SampleStore};
use tomoe_vss::{Catalog, LeafId, Value};

/// What one sample costs besides its value's heap bytes: the `(SystemTime, Value)`
/// slot itself.
pub const SAMPLE_OVERHEAD_BYTES: usize = std::mem::size_of::<(SystemTime, Value)>();
/// The most samples [`History::history`] answers with; [`History::history_limited`]
/// takes a limit of its own.
pub const MAX_QUERY_SAMPLES: usize = 1_000_000;
/// How often samples of durable signals are written to the store: a crash loses
/// at most this much of their history (a clean stop [`History::flush`]es).
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Samples of durable signals waiting for the store, at most; when the store
/// cannot be written, the oldest are dropped and counted.
pub const MAX_PENDING_SAMPLES: usize = 100_000;
/// How often the store's samples past their retention are dropped.
pub const DURABLE_PRUNE_INTERVAL: Duration = Duration::from_secs(60);

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
    /// The window holds more samples than the query may answer with.
    #[error("the history of \"{path}\" asked for holds more than {limit} samples; ask for a shorter period")]
    TooManySamples {
        /// The path asked for.
        path: String,
        /// The most samples the query may answer with.
        limit: usize,
    },
    /// The configuration is out of bounds.
    #[error("invalid history configuration: {0}")]
    InvalidConfig(String),
    /// The feed could not subscribe to the broker.
    #[error("cannot subscribe to the broker: {0}")]
    Subscribe(String),
    /// The durable history's store failed (its message names the file).
    #[error("durable history: {0}")]
    Store(String),
}

impl From<tomoe_store::StoreError> for HistoryError {
    fn from(error: tomoe_store::StoreError) -> HistoryError {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        HistoryError::Store(text)
    }
}

/// What the history holds and what it had to drop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryStats {
    /// Recorded signals.
    pub signals: usize,
    /// Samples held in memory, all signals together.
    pub samples: usize,
    /// Bytes the samples in memory are counted as.
    pub bytes: usize,
    /// The memory budget.
    pub budget_bytes: usize,
    /// Samples dropped before their time to stay within the memory budget.
    pub dropped_for_budget: u64,
    /// Broker batches the feed missed because its subscription lagged.
    pub lagged_batches: u64,
    /// Signals whose history is also kept in the store.
    pub durable_signals: usize,
    /// Samples written to the store since the start.
    pub durable_written: u64,
    /// Samples waiting to be written to the store.
    pub durable_pending: usize,
    /// Samples never written because the store failed for too long.
    pub durable_dropped: u64,
    /// Writes to the store that failed.
    pub durable_write_errors: u64,
}

/// The signal history. Cheap to clone: clones share the buffers.
#[derive(Clone)]
pub struct History {
    catalog: Arc<Catalog>,
    inner: Arc<Mutex<Inner>>,
    store: Option<Arc<SampleStore>>,
    /// One flush at a time, so that samples reach the store in order.
    flushing: Arc<Mutex<()>>,
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

/// A signal whose history is also kept in the store.
struct Durable {
    path: String,
    max_age: Duration,
    max_samples: usize,
    /// The time of its last sample sent to the store (kept strictly increasing,
    /// since the store keys samples by time).
    last: Option<SystemTime>,
}

struct Inner {
    rings: HashMap<LeafId, Ring>,
    durable: HashMap<LeafId, Durable>,
    pending: VecDeque<Sample>,
    budget: usize,
    bytes: usize,
    samples: usize,
    newest: Option<SystemTime>,
    dropped_for_budget: u64,
    lagged_batches: u64,
    durable_written: u64,
    durable_dropped: u64,
    durable_write_errors: u64,
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
    /// An empty history over `catalog`, in memory only: every leaf a rule selects
    /// gets a buffer. Durable rules need a store ([`History::with_store`]).
    pub fn new(catalog: Arc<Catalog>, config: HistoryConfig) -> Result<History, HistoryError> {
        if !config.durable.is_empty() {
            return Err(HistoryError::InvalidConfig(
                "durable rules need a store to write to".into(),
            ));
        }
        History::build(catalog, config, None)
    }

    /// An empty history over `catalog` whose durable signals are also kept in
    /// `store`. Samples the store holds for signals no durable rule selects are
    /// dropped.
    pub fn with_store(
        catalog: Arc<Catalog>,
        config: HistoryConfig,
        store: Arc<SampleStore>,
    ) -> Result<History, HistoryError> {
        let history = History::build(catalog, config, Some(store.clone()))?;
        let kept = history.lock();
        let forgotten: Vec<Retention> = store
            .paths()?
            .into_iter()
            .filter(|path| !kept.durable.values().any(|d| &d.path == path))
            .map(|path| Retention {
                path,
                older_than: SystemTime::UNIX_EPOCH,
                keep_at_most: 0,
            })
            .collect();
        drop(kept);
        if !forgotten.is_empty() {
            let dropped = store.prune(&forgotten)?;
            tracing::info!(
                signals = forgotten.len(),
                dropped,
                "durable history of signals no rule selects any longer dropped"
            );
        }
        history.prune_store(SystemTime::now())?;
        Ok(history)
    }

    fn build(
        catalog: Arc<Catalog>,
        config: HistoryConfig,
        store: Option<Arc<SampleStore>>,
    ) -> Result<History, HistoryError> {
        let mut rings = HashMap::new();
        let mut durable = HashMap::new();
        let mut durable_samples: u64 = 0;
        let default_memory = config::RetentionRule::new(
            tomoe_vss::PathPattern::parse("**").expect("a valid pattern"),
        );
        for leaf in catalog.leaves() {
            let durable_rule = config
                .durable
                .iter()
                .find(|r| r.pattern.selects(&leaf.path));
            let memory_rule = config
                .rules
                .iter()
                .find(|r| r.pattern.selects(&leaf.path))
                .or(durable_rule.map(|_| &default_memory));
            if let Some(rule) = memory_rule {
                rings.insert(
                    leaf.id,
                    Ring {
                        samples: VecDeque::new(),
                        max_age: rule.max_age,
                        max_samples: rule.max_samples,
                    },
                );
            }
            if let Some(rule) = durable_rule {
                durable_samples += rule.max_samples as u64;
                durable.insert(
                    leaf.id,
                    Durable {
                        path: leaf.path.clone(),
                        max_age: rule.max_age,
                        max_samples: rule.max_samples,
                        last: None,
                    },
                );
            }
        }
        config.check(durable_samples)?;
        Ok(History {
            catalog,
            inner: Arc::new(Mutex::new(Inner {
                rings,
                durable,
                pending: VecDeque::new(),
                budget: config.memory_budget_bytes,
                bytes: 0,
                samples: 0,
                newest: None,
                dropped_for_budget: 0,
                lagged_batches: 0,
                durable_written: 0,
                durable_dropped: 0,
                durable_write_errors: 0,
            })),
            store,
            flushing: Arc::new(Mutex::new(())),
        })
    }

    /// A history in memory only over `broker`'s catalog, fed by a subscription
    /// to the current values of every recorded leaf (with the present values
    /// first). The feed runs on the current tokio runtime until the broker goes
    /// away or the last clone of the history is dropped.
    pub fn start(broker: &Broker, config: HistoryConfig) -> Result<History, HistoryError> {
        let history = History::new(broker.catalog_arc(), config)?;
        history.feed(broker)?;
        Ok(history)
    }

    /// [`History::start`] with the durable rules' samples kept in the store of
    /// `data_dir` ([`tomoe_store::SAMPLES_FILE`]), opened only when there are
    /// durable rules.
    pub fn start_in(
        broker: &Broker,
        config: HistoryConfig,
        data_dir: &Path,
    ) -> Result<History, HistoryError> {
        let history = if config.durable.is_empty() {
            History::new(broker.catalog_arc(), config)?
        } else {
            let store = Arc::new(SampleStore::open(data_dir)?);
            History::with_store(broker.catalog_arc(), config, store)?
        };
        history.feed(broker)?;
        Ok(history)
    }

    fn feed(&self, broker: &Broker) -> Result<(), HistoryError> {
        let ids = self.recorded();
        if ids.is_empty() {
            return Ok(());
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
        let feed = self.clone();
        let broker = broker.clone();
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut prune = tokio::time::interval(Duration::from_secs(1));
            let mut flush = tokio::time::interval(FLUSH_INTERVAL);
            let mut prune_store = tokio::time::interval(DURABLE_PRUNE_INTERVAL);
            prune_store.tick().await; // `with_store` pruned at the start.
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
                                    feed.flush_in_background().await;
                                    return;
                                }
                            }
                        }
                        None => {
                            feed.flush_in_background().await;
                            return;
                        }
                    },
                    _ = prune.tick() => {
                        if weak.strong_count() <= 1 {
                            feed.flush_in_background().await;
                            return;
                        }
                        feed.prune(SystemTime::now());
                    }
                    _ = flush.tick(), if feed.store.is_some() => {
                        feed.flush_in_background().await;
                    }
                    _ = prune_store.tick(), if feed.store.is_some() => {
                        let history = feed.clone();
                        let pruned = tokio::task::spawn_blocking(move || history.prune_store(SystemTime::now())).await;
                        if let Ok(Err(error)) = pruned {
                            tracing::warn!(%error, "cannot drop durable history past its retention");
                        }
                    }
                }
            }
        });
        Ok(())
    }

    /// [`History::flush`] on a blocking thread; failures are logged and counted.
    async fn flush_in_background(&self) {
        let history = self.clone();
        if let Ok(Err(error)) = tokio::task::spawn_blocking(move || history.flush()).await {
            tracing::warn!(%error, "cannot write durable history; retrying");
        }
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

    /// Writes the samples of durable signals not yet in the store; they are on
    /// disk when this returns. Returns how many were written. When the write
    /// fails, they stay pending (at most [`MAX_PENDING_SAMPLES`]) for the next
    /// flush. Without a store, does nothing.
    pub fn flush(&self) -> Result<usize, HistoryError> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let _one_at_a_time = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        let batch: Vec<Sample> = self.lock().pending.drain(..).collect();
        if batch.is_empty() {
            return Ok(0);
        }
        match store.append(&batch) {
            Ok(()) => {
                self.lock().durable_written += batch.len() as u64;
                Ok(batch.len())
            }
            Err(error) => {
                let mut inner = self.lock();
                inner.durable_write_errors += 1;
                let newer = std::mem::take(&mut inner.pending);
                inner.pending = batch.into_iter().chain(newer).collect();
                inner.trim_pending();
                Err(error.into())
            }
        }
    }

    /// Drops the store's samples past their durable rule's retention, measured
    /// back from `now`.
    fn prune_store(&self, now: SystemTime) -> Result<u64, HistoryError> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let retention: Vec<Retention> = self
            .lock()
            .durable
            .values()
            .map(|d| Retention {
                path: d.path.clone(),
                older_than: now.checked_sub(d.max_age).unwrap_or(SystemTime::UNIX_EPOCH),
                keep_at_most: d.max_samples as u64,
            })
            .collect();
        Ok(store.prune(&retention)?)
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

    /// Whether the leaf at `path` is also kept in the store.
    pub fn is_durable(&self, path: &str) -> bool {
        self.catalog
            .leaf(path)
            .is_some_and(|leaf| self.lock().durable.contains_key(&leaf.id))
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
    /// oldest first, within the signal's retention; at most [`MAX_QUERY_SAMPLES`].
    pub fn history(
        &self,
        path: &str,
        from: SystemTime,
        to: SystemTime,
    ) -> Result<Vec<(SystemTime, Value)>, HistoryError> {
        self.history_limited(path, from, to, MAX_QUERY_SAMPLES)
    }

    /// [`History::history`] answering with at most `limit` samples: a window
    /// holding more is refused with [`HistoryError::TooManySamples`]. A durable
    /// signal's samples older than its memory holds come from the store.
    pub fn history_limited(
        &self,
        path: &str,
        from: SystemTime,
        to: SystemTime,
        limit: usize,
    ) -> Result<Vec<(SystemTime, Value)>, HistoryError> {
        let id = self.id(path)?;
        let too_many = || HistoryError::TooManySamples {
            path: path.to_owned(),
            limit,
        };
        let (memory, stored_window) = {
            let inner = self.lock();
            let ring = inner
                .rings
                .get(&id)
                .ok_or_else(|| HistoryError::NotRecorded {
                    path: path.to_owned(),
                })?;
            let durable = inner.durable.get(&id).filter(|_| self.store.is_some());
            let max_age = durable.map_or(ring.max_age, |d| d.max_age);
            let oldest_kept = inner.newest.map(|newest| {
                newest
                    .checked_sub(max_age)
                    .unwrap_or(SystemTime::UNIX_EPOCH)
            });
            let from = match oldest_kept {
                Some(oldest) if oldest > from => oldest,
                _ => from,
            };
            let start = ring.samples.partition_point(|(t, _)| *t < from);
            let end = ring.samples.partition_point(|(t, _)| *t <= to);
            if end.saturating_sub(start) > limit {
                return Err(too_many());
            }
            let memory: Vec<_> = ring.samples.range(start..end.max(start)).cloned().collect();
            // The store answers for what is older than the memory holds.
            let stored_window = durable.map(|_| {
                let before = match ring.samples.front() {
                    Some((first, _)) => first
                        .checked_sub(Duration::from_nanos(1))
                        .unwrap_or(SystemTime::UNIX_EPOCH),
                    None => to,
                };
                (from, before.min(to))
            });
            (memory, stored_window)
        };
        let (Some(store), Some((from, to))) = (&self.store, stored_window) else {
            return Ok(memory);
        };
        if from > to {
            return Ok(memory);
        }
        let mut samples = store.query(path, from, to, limit.saturating_add(1))?;
        if samples.len() + memory.len() > limit {
            return Err(too_many());
        }
        samples.extend(memory);
        Ok(samples)
    }

    /// Drops the memory's samples past their signal's `max_age`, measured back
    /// from `now`.
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
            durable_signals: inner.durable.len(),
            durable_written: inner.durable_written,
            durable_pending: inner.pending.len(),
            durable_dropped: inner.durable_dropped,
            durable_write_errors: inner.durable_write_errors,
        }
    }

    /// One line on what is recorded, for a banner.
    pub fn describe(&self) -> String {
        let stats = self.stats();
        let mut line = format!("history of {} signals in memory", stats.signals);
        if stats.durable_signals > 0 {
            line.push_str(&format!(
                ", {} also kept across restarts",
                stats.durable_signals
            ));
        }
        line
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
        if let Some(durable) = self.durable.get_mut(&id) {
            let time = match durable.last {
                Some(last) if last >= time => last + Duration::from_nanos(1),
                _ => time,
            };
            durable.last = Some(time);
            self.pending.push_back(Sample {
                path: durable.path.clone(),
                time,
                value: value.clone(),
            });
            while self.pending.len() > MAX_PENDING_SAMPLES {
                self.pending.pop_front();
                self.durable_dropped += 1;
            }
        }
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

    /// Keeps at most [`MAX_PENDING_SAMPLES`] waiting for the store, dropping the
    /// oldest.
    fn trim_pending(&mut self) {
        while self.pending.len() > MAX_PENDING_SAMPLES {
            self.pending.pop_front();
            self.durable_dropped += 1;
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
