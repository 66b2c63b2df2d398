//! Durable storage of broker values in an embedded [redb] database.
//!
//! [`Store`] implements [`tomoe_broker::Persistence`]: attribute values, actuator
//! targets and opted-in sensor values are written here before the broker accepts
//! them, and read back when the broker starts. [`SampleStore`] keeps the durable
//! signal history, [`PackHistory`] the battery pack swaps, each in a file of its own.
//!
//! A database that cannot be opened (empty, not a redb file, damaged, locked by
//! another process, written by an incompatible version) is reported as an error and
//! never replaced or modified: the caller decides what to do with the file. Before
//! the file itself is opened, a copy of it is opened, checked page by page
//! (`check_integrity`) and read record by record; only a copy that passes all of
//! this lets the real file be opened, so a failed start leaves the file as it was.
//! Each record carries a CRC-32 of its key and contents, so a damaged value is
//! reported, never served.
//!
//! # Example
//!
//! ```
//! use tomoe_broker::{Field, Persistence, StoredDatapoint};
//! use tomoe_vss::Value;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = tomoe_store::Store::open(dir.path()).unwrap();
//! let datapoint = StoredDatapoint {
//!     path: "Vehicle.VehicleIdentification.VIN".into(),
//!     field: Field::Current,
//!     value: Some(Value::String("JN1TEST".into())),
//!     timestamp: std::time::SystemTime::now(),
//! };
//! store.save(&[datapoint.clone()]).unwrap();
//! assert_eq!(store.load().unwrap(), vec![datapoint]);
//! ```

mod samples;
mod swaps;

pub use samples::{Retention, Sample, SampleStore, SAMPLES_FILE};
pub use swaps::{PackHistory, PackSwap, PACK_HISTORY_FILE};

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tomoe_broker::{Field, Persistence, PersistenceError, StoredDatapoint};
use tomoe_vss::{DataType, Value};

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "tomoe.redb";

/// Version of the stored record layout; a database of another version is refused,
/// except version 1 (records without checksums), which is upgraded.
const FORMAT_VERSION: u32 = 2;

/// The first bytes of every redb file.
const REDB_SIGNATURE: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// Suffix of the copy that is checked before the database itself is opened.
const CHECK_COPY_SUFFIX: &str = "check";

const VALUES: TableDefinition<&str, &[u8]> = TableDefinition::new("values");
const META: TableDefinition<&str, u32> = TableDefinition::new("meta");

/// Errors of the store. Messages name the database file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create data directory {}", .path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database file could not be opened: corrupt, locked, or unreadable.
    #[error("cannot open database {} (it was left untouched)", .path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: redb::DatabaseError,
    },
    /// The database file exists but is empty: it is refused rather than silently
    /// recreated, which would lose every stored value without a word.
    #[error("database {} is empty (0 bytes); move it away to start with an empty store (it was left untouched)", .path.display())]
    Empty {
        /// The database file.
        path: PathBuf,
    },
    /// The file does not start with redb's signature.
    #[error("{} is not a redb database: {reason} (it was left untouched)", .path.display())]
    NotADatabase {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The database's pages failed redb's integrity check.
    #[error("database {} is damaged: {reason} (it was left untouched)", .path.display())]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// What the check found.
        reason: String,
    },
    /// The database was written by an incompatible version of Tomoe.
    #[error("database {} has format version {found}, this Tomoe reads version {expected} (it was left untouched)", .path.display())]
    Version {
        /// The database file.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// A read or write failed.
    #[error("database {} failed", .path.display())]
    Io {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A record could not be decoded.
    #[error("database {}: record \"{key}\" is corrupt: {reason}", .path.display())]
    CorruptRecord {
        /// The database file.
        path: PathBuf,
        /// The record's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A redb database in a data directory.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    /// `None` after a failed write closed it (see [`Store::with_database`]).
    database: std::sync::Mutex<Option<Database>>,
}

#[derive(Serialize, Deserialize)]
struct Record {
    /// Wire type name of the value (`Value::type_name`), absent when the value was reset.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    wire_type: Option<String>,
    #[serde(default)]
    value: serde_json::Value,
    /// Nanoseconds since the Unix epoch.
    timestamp_ns: u64,
}

impl Store {
    /// Opens the database in `data_dir`, creating the directory and an empty database
    /// when they do not exist yet.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        if path.exists() {
            check_signature(&path)?;
            check_copy(&path)?;
        }
        let store = open_unwinding(&path)?;
        store.check_version()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
        io_error(&self.path, source)
    }

    /// Runs `operation` on the open database, opening it again first if a failed
    /// write closed it. After an I/O error (a full disk, say) redb refuses every
    /// further transaction until the database is closed and opened again; so a
    /// failed operation closes it, and the next one reopens it: writes work again
    /// as soon as the cause is gone, without a restart.
    fn with_database<T>(
        &self,
        operation: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut slot = self
            .database
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(open_database(&self.path)?);
            tracing::info!(path = %self.path.display(), "database opened again after a failed write");
        }
        let database = slot.as_ref().expect("opened above");
        let result = operation(database);
        if result.is_err() {
            // Dropped before the next attempt opens it again (redb locks the file).
            *slot = None;
        }
        result
    }

    fn check_version(&self) -> Result<(), StoreError> {
        self.with_database(|database| self.check_version_in(database))
    }

    fn check_version_in(&self, database: &Database) -> Result<(), StoreError> {
        let txn = database.begin_write().map_err(|e| self.io(e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.io(e))?;
            let found = meta
                .get("format_version")
                .map_err(|e| self.io(e))?
                .map(|v| v.value());
            match found {
                Some(1) => {
                    upgrade_v1(&txn, &self.path)?;
                    meta.insert("format_version", FORMAT_VERSION)
                        .map_err(|e| self.io(e))?;
                }
                Some(found) if found != FORMAT_VERSION => {
                    return Err(StoreError::Version {
                        path: self.path.clone(),
                        found,
                        expected: FORMAT_VERSION,
                    })
                }
                Some(_) => {}
                None => {
                    meta.insert("format_version", FORMAT_VERSION)
                        .map_err(|e| self.io(e))?;
                }
            }
            txn.open_table(VALUES).map_err(|e| self.io(e))?;
        }
        txn.commit().map_err(|e| self.io(e))
    }

    fn load_records(&self) -> Result<Vec<StoredDatapoint>, StoreError> {
        self.with_database(|database| self.load_records_in(database))
    }

    fn load_records_in(&self, database: &Database) -> Result<Vec<StoredDatapoint>, StoreError> {
        let txn = database.begin_read().map_err(|e| self.io(e))?;
        let table = txn.open_table(VALUES).map_err(|e| self.io(e))?;
        let mut datapoints = Vec::new();
        for entry in table.iter().map_err(|e| self.io(e))? {
            let (key, bytes) = entry.map_err(|e| self.io(e))?;
            let key = key.value().to_owned();
            let corrupt = |reason: String| StoreError::CorruptRecord {
                path: self.path.clone(),
                key: key.clone(),
                reason,
            };
            let (field, path) =
                split_key(&key).ok_or_else(|| corrupt("unknown key layout".into()))?;
            let record = decode_record(&key, bytes.value()).map_err(corrupt)?;
            let value = match &record.wire_type {
                None => None,
                Some(wire_type) => {
                    let datatype = datatype_of_wire_type(wire_type)
                        .ok_or_else(|| corrupt(format!("unknown value type \"{wire_type}\"")))?;
                    Some(Value::from_json(&record.value, datatype).map_err(corrupt)?)
                }
            };
            datapoints.push(StoredDatapoint {
                path: path.to_owned(),
                field,
                value,
                timestamp: UNIX_EPOCH + Duration::from_nanos(record.timestamp_ns),
            });
        }
        Ok(datapoints)
    }

    fn save_records(&self, datapoints: &[StoredDatapoint]) -> Result<(), StoreError> {
        self.with_database(|database| self.save_records_in(database, datapoints))
    }

    fn save_records_in(
        &self,
        database: &Database,
        datapoints: &[StoredDatapoint],
    ) -> Result<(), StoreError> {
        let txn = database.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = txn.open_table(VALUES).map_err(|e| self.io(e))?;
            for datapoint in datapoints {
                let record = Record {
                    wire_type: datapoint.value.as_ref().map(|v| v.type_name().to_owned()),
                    value: datapoint
                        .value
                        .as_ref()
                        .map(Value::to_json)
                        .unwrap_or_default(),
                    timestamp_ns: datapoint
                        .timestamp
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_nanos() as u64,
                };
                let key = make_key(datapoint.field, &datapoint.path);
                let bytes = encode_record(&key, &record).map_err(|e| self.io(e))?;
                table
                    .insert(key.as_str(), bytes.as_slice())
                    .map_err(|e| self.io(e))?;
            }
        }
        txn.commit().map_err(|e| self.io(e))
    }
}

impl Persistence for Store {
    fn load(&self) -> Result<Vec<StoredDatapoint>, PersistenceError> {
        Ok(self.load_records()?)
    }

    fn save(&self, datapoints: &[StoredDatapoint]) -> Result<(), PersistenceError> {
        Ok(self.save_records(datapoints)?)
    }
}

/// `crc32(key, json)` as 4 little-endian bytes, then the record as JSON.
fn encode_record(key: &str, record: &Record) -> Result<Vec<u8>, serde_json::Error> {
    let json = serde_json::to_vec(record)?;
    let mut bytes = checksum(key, &json).to_le_bytes().to_vec();
    bytes.extend_from_slice(&json);
    Ok(bytes)
}

fn decode_record(key: &str, bytes: &[u8]) -> Result<Record, String> {
    let (sum, json) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| format!("{} bytes, too short for a record", bytes.len()))?;
    if u32::from_le_bytes(*sum) != checksum(key, json) {
        return Err("checksum mismatch: the record was damaged".into());
    }
    serde_json::from_slice(json).map_err(|e| e.to_string())
}

fn checksum(key: &str, json: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(key.as_bytes());
    hasher.update(&[0]);
    hasher.update(json);
    hasher.finalize()
}

/// Rewrites the records of a version 1 database (plain JSON) with checksums.
fn upgrade_v1(txn: &redb::WriteTransaction, path: &Path) -> Result<(), StoreError> {
    let io = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let mut table = txn.open_table(VALUES).map_err(|e| io(e.into()))?;
    let mut records = Vec::new();
    for entry in table.iter().map_err(|e| io(e.into()))? {
        let (key, bytes) = entry.map_err(|e| io(e.into()))?;
        let key = key.value().to_owned();
        let record: Record =
            serde_json::from_slice(bytes.value()).map_err(|e| StoreError::CorruptRecord {
                path: path.to_owned(),
                key: key.clone(),
                reason: e.to_string(),
            })?;
        records.push((key, record));
    }
    for (key, record) in records {
        let bytes = encode_record(&key, &record).map_err(|e| io(e.into()))?;
        table
            .insert(key.as_str(), bytes.as_slice())
            .map_err(|e| io(e.into()))?;
    }
    tracing::info!(path = %path.display(), "database upgraded to format version {FORMAT_VERSION}");
    Ok(())
}

/// Refuses an empty file and one that does not start with redb's signature.
fn check_signature(path: &Path) -> Result<(), StoreError> {
    use std::io::Read as _;
    let io = |source: std::io::Error| StoreError::Io {
        path: path.to_owned(),
        source: source.into(),
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let length = file.metadata().map_err(io)?.len();
    if length == 0 {
        return Err(StoreError::Empty {
            path: path.to_owned(),
        });
    }
    let mut start = [0u8; REDB_SIGNATURE.len()];
    let read = file.read(&mut start).map_err(io)?;
    if read < start.len() || start != REDB_SIGNATURE {
        return Err(StoreError::NotADatabase {
            path: path.to_owned(),
            reason: format!("{length} bytes that do not start with redb's signature"),
        });
    }
    Ok(())
}

/// Opens, checks and reads a copy of the database, so that whatever redb has to
/// repair or refuses happens to the copy, never to the file.
fn check_copy(path: &Path) -> Result<(), StoreError> {
    let copy = path.with_extension(format!("redb.{CHECK_COPY_SUFFIX}"));
    std::fs::copy(path, &copy).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        source: source.into(),
    })?;
    let damaged = |reason: &str| StoreError::Damaged {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    // Everything that touches the copy, its drop included, may meet a redb
    // assertion on a damaged file: a panic there is a refusal, not a crash.
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut database = open_database(&copy)?;
        match database.check_integrity() {
            Ok(true) => {}
            Ok(false) => return Err(damaged("pages fail their checksums")),
            Err(error) => return Err(damaged(&error.to_string())),
        }
        let store = Store {
            path: copy.clone(),
            database: std::sync::Mutex::new(Some(database)),
        };
        store.check_version()?;
        store.load_records().map(drop)
    }));
    let result = checked.unwrap_or_else(|_| Err(damaged("redb panicked while checking it")));
    // The copy's errors name the copy; name the real file instead.
    let result = result.map_err(|error| rename_path(error, path));
    if let Err(error) = std::fs::remove_file(&copy) {
        tracing::warn!(%error, copy = %copy.display(), "cannot remove the checked copy of the database");
    }
    result
}

/// Makes a panic inside redb print one line instead of a backtrace. The store
/// catches redb's panics on damaged files and reports them as errors naming the
/// file, so the backtrace only frightens; a panic anywhere else prints as before.
/// Call it once, early, from a binary (the panic hook is process-wide).
pub fn quiet_redb_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        match info.location().filter(|l| l.file().contains("/redb-")) {
            Some(location) => {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("a check failed");
                // The place inside redb's sources, without the registry's path.
                let file = location.file();
                let file = file.find("/redb-").map_or(file, |at| &file[at + 1..]);
                eprintln!(
                    "note: the database engine (redb) refused a damaged file at {file}:{}: {message}",
                    location.line()
                );
            }
            None => previous(info),
        }
    }));
}

/// Opens (or creates) the redb file `file` of `data_dir`, creating the directory
/// first; a file that is not a redb database is refused and left as it is.
fn open_in(data_dir: &Path, file: &str) -> Result<(PathBuf, Database), StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
        path: data_dir.to_owned(),
        source,
    })?;
    let path = data_dir.join(file);
    if path.exists() {
        check_signature(&path)?;
    }
    let database = open_database(&path)?;
    Ok((path, database))
}

/// An I/O error of the database file at `path`.
fn io_error(
    path: &Path,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        source: source.into(),
    }
}

/// Opens (or creates) a database; a panic inside redb becomes an error.
fn open_unwinding(path: &Path) -> Result<Store, StoreError> {
    Ok(Store {
        path: path.to_owned(),
        database: std::sync::Mutex::new(Some(open_database(path)?)),
    })
}

/// Opens (or creates) the redb database at `path`; a panic inside redb becomes an error.
fn open_database(path: &Path) -> Result<Database, StoreError> {
    let opened = std::panic::catch_unwind(|| Database::create(path));
    let database = match opened {
        Ok(result) => result.map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?,
        Err(_) => {
            return Err(StoreError::Damaged {
                path: path.to_owned(),
                reason: "redb panicked while opening it".into(),
            })
        }
    };
    Ok(database)
}

/// The same error, naming `path` as the database file.
fn rename_path(error: StoreError, path: &Path) -> StoreError {
    let path = path.to_owned();
    match error {
        StoreError::Open { source, .. } => StoreError::Open { path, source },
        StoreError::Damaged { reason, .. } => StoreError::Damaged { path, reason },
        StoreError::Version {
            found, expected, ..
        } => StoreError::Version {
            path,
            found,
            expected,
        },
        StoreError::Io { source, .. } => StoreError::Io { path, source },
        StoreError::CorruptRecord { key, reason, .. } => {
            StoreError::CorruptRecord { path, key, reason }
        }
        other => other,
    }
}

fn make_key(field: Field, path: &str) -> String {
    match field {
        Field::Current => format!("current/{path}"),
        Field::Target => format!("target/{path}"),
    }
}

fn split_key(key: &str) -> Option<(Field, &str)> {
    let (field, path) = key.split_once('/')?;
    match field {
        "current" => Some((Field::Current, path)),
        "target" => Some((Field::Target, path)),
        _ => None,
    }
}

/// The datatype whose wire variant is `wire_type`, so that `Value::from_json`
/// rebuilds the same variant.
fn datatype_of_wire_type(wire_type: &str) -> Option<DataType> {
    Some(match wire_type {
        "string" => DataType::String,
        "bool" => DataType::Boolean,
        "int32" => DataType::Int32,
        "int64" => DataType::Int64,
        "uint32" => DataType::Uint32,
        "uint64" => DataType::Uint64,
        "float" => DataType::Float,
        "double" => DataType::Double,
        "string[]" => DataType::StringArray,
        "bool[]" => DataType::BooleanArray,
        "int32[]" => DataType::Int32Array,
        "int64[]" => DataType::Int64Array,
        "uint32[]" => DataType::Uint32Array,
        "uint64[]" => DataType::Uint64Array,
        "float[]" => DataType::FloatArray,
        "double[]" => DataType::DoubleArray,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datapoint(path: &str, field: Field, value: Option<Value>) -> StoredDatapoint {
        StoredDatapoint {
            path: path.into(),
            field,
            value,
            timestamp: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
        }
    }

    #[test]
    fn every_wire_type_round_trips_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let values = vec![
            datapoint("A.String", Field::Current, Some(Value::String("x".into()))),
            datapoint("A.Bool", Field::Target, Some(Value::Bool(true))),
            datapoint("A.I32", Field::Current, Some(Value::Int32(-3))),
            datapoint("A.I64", Field::Current, Some(Value::Int64(-3_000_000_000))),
            datapoint("A.U32", Field::Current, Some(Value::Uint32(3))),
            datapoint("A.U64", Field::Current, Some(Value::Uint64(u64::MAX))),
            datapoint("A.F32", Field::Current, Some(Value::Float(1.5))),
            datapoint("A.F64", Field::Current, Some(Value::Double(0.1))),
            datapoint(
                "A.U8s",
                Field::Current,
                Some(Value::Uint32Array(vec![2, 3])),
            ),
            datapoint(
                "A.Strs",
                Field::Current,
                Some(Value::StringArray(vec!["a".into()])),
            ),
            datapoint("A.Reset", Field::Target, None),
        ];
        Store::open(dir.path())
            .unwrap()
            .save_records(&values)
            .unwrap();
        let mut loaded = Store::open(dir.path()).unwrap().load_records().unwrap();
        loaded.sort_by(|a, b| a.path.cmp(&b.path));
        let mut expected = values;
        expected.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(loaded, expected);
    }

    #[test]
    fn corrupt_database_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(DATABASE_FILE);
        let garbage = b"this is not a redb database, but it is somebody's data".repeat(100);
        std::fs::write(&file, &garbage).unwrap();
        let error = Store::open(dir.path()).unwrap_err();
        assert!(matches!(error, StoreError::NotADatabase { .. }), "{error}");
        assert!(error.to_string().contains("tomoe.redb"), "{error}");
        assert_eq!(std::fs::read(&file).unwrap(), garbage);
    }

    #[test]
    fn database_in_use_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let error = Store::open(dir.path()).unwrap_err();
        assert!(matches!(error, StoreError::Open { .. }), "{error}");
    }
}
