//! Durable signal history: time-stamped samples of chosen signals, kept across
//! restarts for as long as their retention says.
//!
//! Kept in its own database file of the data directory, [`SAMPLES_FILE`], so that
//! a large history never slows the start of the broker's store (whose file is
//! copied and checked on every start). Samples are keyed by `(path, time in ns)`,
//! so a time-window query is one range scan; a per-signal count kept in the same
//! transaction makes retention by count cheap. Records carry a CRC-32 like the
//! values' records: a damaged one is reported, never served.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tomoe_vss::Value;

use crate::{checksum, datatype_of_wire_type, io_error, open_in, StoreError};

/// File name of the durable history inside the data directory.
pub const SAMPLES_FILE: &str = "history.redb";

/// Samples: `(path, nanoseconds since the Unix epoch)` to a checked record.
const SAMPLES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("samples");
/// Samples held per path.
const COUNTS: TableDefinition<&str, u64> = TableDefinition::new("counts");

/// One sample of one signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The signal's VSS path.
    pub path: String,
    /// When it was taken.
    pub time: SystemTime,
    /// Its value.
    pub value: Value,
}

/// How long one signal's samples are kept: what [`SampleStore::prune`] enforces.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    /// The signal's VSS path.
    pub path: String,
    /// Samples taken before this are dropped.
    pub older_than: SystemTime,
    /// At most this many of the newest samples are kept.
    pub keep_at_most: u64,
}

#[derive(Serialize, Deserialize)]
struct Record {
    #[serde(rename = "type")]
    wire_type: String,
    value: serde_json::Value,
}

/// The durable history of a data directory.
#[derive(Debug)]
pub struct SampleStore {
    path: PathBuf,
    database: Mutex<Database>,
}

fn nanos(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

fn record_key(path: &str, time_ns: u64) -> String {
    format!("{path}@{time_ns}")
}

impl SampleStore {
    /// Opens (or creates) `<data_dir>/history.redb`. A file that is not a redb
    /// database, or that redb cannot open, is refused and left as it is.
    pub fn open(data_dir: &Path) -> Result<SampleStore, StoreError> {
        let (path, database) = open_in(data_dir, SAMPLES_FILE)?;
        let store = SampleStore {
            database: Mutex::new(database),
            path,
        };
        store.write(|_, _| Ok(()))?; // Creates the tables.
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
        io_error(&self.path, source)
    }

    fn write<T>(
        &self,
        change: impl FnOnce(
            &mut redb::Table<'_, (&str, u64), &[u8]>,
            &mut redb::Table<'_, &str, u64>,
        ) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let database = self.database.lock().unwrap_or_else(|p| p.into_inner());
        let txn = database.begin_write().map_err(|e| self.io(e))?;
        let result = {
            let mut samples = txn.open_table(SAMPLES).map_err(|e| self.io(e))?;
            let mut counts = txn.open_table(COUNTS).map_err(|e| self.io(e))?;
            change(&mut samples, &mut counts)?
        };
        txn.commit().map_err(|e| self.io(e))?;
        Ok(result)
    }

    /// Writes `samples` in one transaction; they are on disk when this returns. A
    /// sample at the time of one already stored for its signal replaces it.
    pub fn append(&self, samples: &[Sample]) -> Result<(), StoreError> {
        self.write(|table, counts| {
            for sample in samples {
                let time_ns = nanos(sample.time);
                let record = Record {
                    wire_type: sample.value.type_name().to_owned(),
                    value: sample.value.to_json(),
                };
                let json = serde_json::to_vec(&record).map_err(|e| self.io(e))?;
                let key = record_key(&sample.path, time_ns);
                let mut bytes = checksum(&key, &json).to_le_bytes().to_vec();
                bytes.extend_from_slice(&json);
                let replaced = table
                    .insert((sample.path.as_str(), time_ns), bytes.as_slice())
                    .map_err(|e| self.io(e))?
                    .is_some();
                if !replaced {
                    let count = counts
                        .get(sample.path.as_str())
                        .map_err(|e| self.io(e))?
                        .map_or(0, |c| c.value());
                    counts
                        .insert(sample.path.as_str(), count + 1)
                        .map_err(|e| self.io(e))?;
                }
            }
            Ok(())
        })
    }

    /// The samples of `path` taken from `from` to `to` (both included), oldest
    /// first, at most `limit` of them (the oldest ones).
    pub fn query(
        &self,
        path: &str,
        from: SystemTime,
        to: SystemTime,
        limit: usize,
    ) -> Result<Vec<(SystemTime, Value)>, StoreError> {
        let (from, to) = (nanos(from), nanos(to));
        if from > to || limit == 0 {
            return Ok(Vec::new());
        }
        let database = self.database.lock().unwrap_or_else(|p| p.into_inner());
        let txn = database.begin_read().map_err(|e| self.io(e))?;
        let table = txn.open_table(SAMPLES).map_err(|e| self.io(e))?;
        let mut samples = Vec::new();
        for entry in table
            .range((path, from)..=(path, to))
            .map_err(|e| self.io(e))?
        {
            let (key, bytes) = entry.map_err(|e| self.io(e))?;
            let time_ns = key.value().1;
            let key = record_key(path, time_ns);
            let value =
                decode(&key, bytes.value()).map_err(|reason| StoreError::CorruptRecord {
                    path: self.path.clone(),
                    key,
                    reason,
                })?;
            samples.push((UNIX_EPOCH + Duration::from_nanos(time_ns), value));
            if samples.len() == limit {
                break;
            }
        }
        Ok(samples)
    }

    /// Drops, for each signal of `retention`, its samples older than its limit
    /// and its oldest samples beyond its count, in one transaction; returns how
    /// many were dropped.
    pub fn prune(&self, retention: &[Retention]) -> Result<u64, StoreError> {
        self.write(|table, counts| {
            let mut dropped = 0;
            for rule in retention {
                let path = rule.path.as_str();
                let count = counts
                    .get(path)
                    .map_err(|e| self.io(e))?
                    .map_or(0, |c| c.value());
                if count == 0 {
                    continue;
                }
                let mut cutoff = nanos(rule.older_than);
                if count > rule.keep_at_most {
                    // The time of the first sample to keep by count.
                    let excess = usize::try_from(count - rule.keep_at_most).unwrap_or(usize::MAX);
                    let nth = table
                        .range((path, 0)..=(path, u64::MAX))
                        .map_err(|e| self.io(e))?
                        .nth(excess)
                        .transpose()
                        .map_err(|e| self.io(e))?
                        .map_or(u64::MAX, |(key, _)| key.value().1);
                    cutoff = cutoff.max(nth);
                }
                let mut removed = 0;
                for entry in table
                    .extract_from_if((path, 0)..(path, cutoff), |_, _| true)
                    .map_err(|e| self.io(e))?
                {
                    entry.map_err(|e| self.io(e))?;
                    removed += 1;
                }
                if removed > 0 {
                    counts
                        .insert(path, count.saturating_sub(removed))
                        .map_err(|e| self.io(e))?;
                }
                dropped += removed;
            }
            Ok(dropped)
        })
    }

    /// The paths of the signals with samples held.
    pub fn paths(&self) -> Result<Vec<String>, StoreError> {
        let database = self.database.lock().unwrap_or_else(|p| p.into_inner());
        let txn = database.begin_read().map_err(|e| self.io(e))?;
        let counts = txn.open_table(COUNTS).map_err(|e| self.io(e))?;
        let mut paths = Vec::new();
        for entry in counts.iter().map_err(|e| self.io(e))? {
            let (path, count) = entry.map_err(|e| self.io(e))?;
            if count.value() > 0 {
                paths.push(path.value().to_owned());
            }
        }
        Ok(paths)
    }

    /// Samples held, all signals together.
    pub fn len(&self) -> Result<u64, StoreError> {
        let database = self.database.lock().unwrap_or_else(|p| p.into_inner());
        let txn = database.begin_read().map_err(|e| self.io(e))?;
        let counts = txn.open_table(COUNTS).map_err(|e| self.io(e))?;
        let mut total = 0;
        for entry in counts.iter().map_err(|e| self.io(e))? {
            total += entry.map_err(|e| self.io(e))?.1.value();
        }
        Ok(total)
    }

    /// Whether no sample is held.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

fn decode(key: &str, bytes: &[u8]) -> Result<Value, String> {
    let (sum, json) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| format!("{} bytes, too short for a sample", bytes.len()))?;
    if u32::from_le_bytes(*sum) != checksum(key, json) {
        return Err("checksum mismatch: the sample was damaged".into());
    }
    let record: Record = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let datatype = datatype_of_wire_type(&record.wire_type)
        .ok_or_else(|| format!("unknown value type \"{}\"", record.wire_type))?;
    Value::from_json(&record.value, datatype)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
    }

    fn sample(path: &str, s: u64, value: f32) -> Sample {
        Sample {
            path: path.into(),
            time: at(s),
            value: Value::Float(value),
        }
    }

    #[test]
    fn samples_survive_reopening_and_queries_select_one_signal_and_window() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SampleStore::open(dir.path()).unwrap();
            let samples: Vec<Sample> = (0..10)
                .flat_map(|s| {
                    [
                        sample("Vehicle.Speed", s, s as f32),
                        sample("Vehicle.Speed.Extra", s, -(s as f32)),
                    ]
                })
                .collect();
            store.append(&samples).unwrap();
        }
        let store = SampleStore::open(dir.path()).unwrap();
        assert_eq!(store.len().unwrap(), 20);
        let got = store
            .query("Vehicle.Speed", at(3), at(5), usize::MAX)
            .unwrap();
        assert_eq!(
            got,
            vec![
                (at(3), Value::Float(3.0)),
                (at(4), Value::Float(4.0)),
                (at(5), Value::Float(5.0))
            ]
        );
        assert_eq!(
            store.query("Vehicle.Speed", at(0), at(9), 2).unwrap().len(),
            2
        );
        assert!(store
            .query("Vehicle.Spee", at(0), at(9), 10)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn prune_enforces_age_and_count_and_keeps_counts_true() {
        let dir = tempfile::tempdir().unwrap();
        let store = SampleStore::open(dir.path()).unwrap();
        let samples: Vec<Sample> = (0..100).map(|s| sample("A.B", s, s as f32)).collect();
        store.append(&samples).unwrap();
        store.append(&[sample("A.B", 99, 0.5)]).unwrap(); // Replaces, not counted twice.
        assert_eq!(store.len().unwrap(), 100);
        let by_age = Retention {
            path: "A.B".into(),
            older_than: at(40),
            keep_at_most: 1_000,
        };
        assert_eq!(store.prune(&[by_age]).unwrap(), 40);
        let by_count = Retention {
            path: "A.B".into(),
            older_than: at(0),
            keep_at_most: 10,
        };
        assert_eq!(store.prune(std::slice::from_ref(&by_count)).unwrap(), 50);
        assert_eq!(store.prune(&[by_count]).unwrap(), 0);
        assert_eq!(store.len().unwrap(), 10);
        let left = store.query("A.B", at(0), at(200), usize::MAX).unwrap();
        assert_eq!(left.first().unwrap().0, at(90));
        assert_eq!(left.last().unwrap(), &(at(99), Value::Float(0.5)));
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(SAMPLES_FILE);
        std::fs::write(&file, b"not a database").unwrap();
        let error = SampleStore::open(dir.path()).unwrap_err();
        assert!(error.to_string().contains("history.redb"), "{error}");
        assert_eq!(std::fs::read(&file).unwrap(), b"not a database");
    }
}
