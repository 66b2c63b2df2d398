//! The fault memory: one record per (component, code), with UDS status semantics,
//! kept in a redb database so that faults survive a restart.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::dtc::{DtcCode, DtcStatus, Severity};

const FAULTS: TableDefinition<&str, &[u8]> = TableDefinition::new("faults");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const FORMAT_VERSION: &str = "1";

/// The fault memory's file in a data directory.
pub const DATABASE_FILE: &str = "diag.redb";

/// Most faults the memory keeps. A new fault beyond it displaces the oldest one that
/// is not failing now; when every stored fault is failing, the new one is dropped
/// with a warning (UDS calls this DTC displacement).
pub const MAX_STORED_FAULTS: usize = 1000;

/// Operation cycles without a failure after which a confirmed fault that passes its
/// test is forgotten (the UDS aging threshold most OEMs use).
pub const AGING_CYCLES: u32 = 40;

/// Longest text kept for one environment value; longer ones are cut.
pub const MAX_ENVIRONMENT_VALUE_BYTES: usize = 1024;

/// The SOVD entity a fault is stored under: a component (an ECU or a part of the
/// platform) or an app. Its text form is the entity's path below `/sovd/v1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Entity {
    /// `components/<id>`.
    Component(String),
    /// `apps/<id>`.
    App(String),
}

impl Entity {
    /// The entity's id within its collection.
    pub fn id(&self) -> &str {
        match self {
            Entity::Component(id) | Entity::App(id) => id,
        }
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entity::Component(id) => write!(f, "components/{id}"),
            Entity::App(id) => write!(f, "apps/{id}"),
        }
    }
}

impl TryFrom<String> for Entity {
    type Error = String;

    fn try_from(text: String) -> Result<Entity, String> {
        match text.split_once('/') {
            Some(("components", id)) => Ok(Entity::Component(id.to_owned())),
            Some(("apps", id)) => Ok(Entity::App(id.to_owned())),
            _ => Err(format!("\"{text}\" is not components/ID or apps/ID")),
        }
    }
}

impl From<Entity> for String {
    fn from(entity: Entity) -> String {
        entity.to_string()
    }
}

/// Where a fault comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultSource {
    /// A fault rule of the vehicle profile, over VSS signals.
    Rule,
    /// The CAN supervision: a missing message, a bad rolling counter.
    CanSupervision,
    /// The platform's own self-diagnosis (runtime, update agent, broker, store).
    Platform,
}

/// Values captured when a fault occurred: a UDS snapshot (freeze frame) record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// 1 for the first occurrence, 2 for the most recent one.
    pub record: u8,
    /// When it was taken, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// VSS path to value (JSON; `null` where no value was available).
    pub values: BTreeMap<String, serde_json::Value>,
}

/// One stored fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// The SOVD entity it belongs to (`components/bms`, `apps/range-estimator`).
    pub entity: Entity,
    /// Its trouble code.
    pub code: DtcCode,
    /// What it means, in words.
    pub name: String,
    /// How serious it is.
    pub severity: Severity,
    /// Its UDS status byte.
    pub status: DtcStatus,
    /// What raised it.
    pub source: FaultSource,
    /// How often the test went from passing to failing.
    pub occurrences: u32,
    /// Operation cycles completed without a failure since the last one.
    pub aging_counter: u32,
    /// First failure since the last clear, ms since the Unix epoch.
    pub first_failure_ms: u64,
    /// Most recent failure, ms since the Unix epoch.
    pub last_failure_ms: u64,
    /// Freeze frames: the first occurrence's and the most recent one's.
    pub snapshots: Vec<Snapshot>,
    /// Extended data: what the reporter said about the failure (app, version, error).
    pub environment: BTreeMap<String, String>,
}

impl Fault {
    /// Whether the fault is confirmed (it goes into `Vehicle.OBD.DTCList`).
    pub fn is_confirmed(&self) -> bool {
        self.status.has(DtcStatus::CONFIRMED_DTC)
    }

    fn key(&self) -> String {
        key(&self.entity, &self.code)
    }
}

fn key(entity: &Entity, code: &DtcCode) -> String {
    format!("{entity}\u{1f}{code}")
}

/// The result of one run of a test (a rule evaluated, a message checked).
#[derive(Debug, Clone, PartialEq)]
pub enum TestResult {
    /// The debounced test failed.
    Failed {
        /// The freeze frame: VSS path to value.
        snapshot: BTreeMap<String, serde_json::Value>,
        /// Extended data (app, version, error, ...).
        environment: BTreeMap<String, String>,
    },
    /// The debounced test passed.
    Passed,
}

/// What a test reports to the memory.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultReport {
    /// The entity the fault belongs to.
    pub entity: Entity,
    /// Its code.
    pub code: DtcCode,
    /// What it means.
    pub name: String,
    /// How serious it is.
    pub severity: Severity,
    /// What raised it.
    pub source: FaultSource,
    /// Whether a failure lights the warning indicator.
    pub warning_indicator: bool,
    /// The test's outcome.
    pub result: TestResult,
}

/// A change of the memory, for subscribers (SSE, the DTC list publisher).
#[derive(Debug, Clone, PartialEq)]
pub enum FaultEvent {
    /// A fault was stored or its status changed.
    Changed(Fault),
    /// A new operation cycle started: tests are to run again.
    NewOperationCycle,
    /// A fault was cleared, aged out or displaced.
    Removed {
        /// Its entity.
        entity: Entity,
        /// Its code.
        code: DtcCode,
    },
}

/// Errors of the fault memory.
#[derive(Debug, thiserror::Error)]
#[error("fault memory {}: {message}", .path.display())]
pub struct MemoryError {
    path: PathBuf,
    message: String,
}

/// Which faults a clear removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClearScope {
    /// Only faults of this entity; `None`: every entity.
    pub entity: Option<Entity>,
    /// Only this code; `None`: every code.
    pub code: Option<DtcCode>,
}

/// The fault memory. Cheap to clone: clones share one memory.
#[derive(Clone)]
pub struct FaultMemory {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    database: Database,
    faults: Mutex<BTreeMap<String, Fault>>,
    events: broadcast::Sender<FaultEvent>,
}

impl std::fmt::Debug for FaultMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultMemory")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl FaultMemory {
    /// Opens (or creates) [`DATABASE_FILE`] in `dir` and loads the stored faults. A
    /// file that cannot be read (corrupt, locked, of another format) is an error and
    /// left untouched. A record that does not parse is skipped with a warning.
    pub fn open(dir: &Path) -> Result<FaultMemory, MemoryError> {
        let path = dir.join(DATABASE_FILE);
        let error = |message: String| MemoryError {
            path: path.clone(),
            message,
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| error(format!("cannot create the directory: {e}")))?;
        let database = Database::create(&path)
            .map_err(|e| error(format!("cannot open (left untouched): {e}")))?;
        let txn = database.begin_write().map_err(|e| error(e.to_string()))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| error(e.to_string()))?;
            let version = meta
                .get("format_version")
                .map_err(|e| error(e.to_string()))?
                .map(|v| v.value().to_owned());
            match version {
                None => {
                    meta.insert("format_version", FORMAT_VERSION)
                        .map_err(|e| error(e.to_string()))?;
                }
                Some(version) if version == FORMAT_VERSION => {}
                Some(version) => {
                    return Err(error(format!(
                    "format version {version}, this build reads {FORMAT_VERSION} (left untouched)"
                )))
                }
            }
            txn.open_table(FAULTS).map_err(|e| error(e.to_string()))?;
        }
        txn.commit().map_err(|e| error(e.to_string()))?;
        let mut faults = BTreeMap::new();
        {
            let txn = database.begin_read().map_err(|e| error(e.to_string()))?;
            let table = txn.open_table(FAULTS).map_err(|e| error(e.to_string()))?;
            for entry in table.iter().map_err(|e| error(e.to_string()))? {
                let (key, value) = entry.map_err(|e| error(e.to_string()))?;
                match serde_json::from_slice::<Fault>(value.value()) {
                    Ok(fault) => {
                        faults.insert(key.value().to_owned(), fault);
                    }
                    Err(e) => tracing::warn!(
                        key = key.value(),
                        error = %e,
                        file = %path.display(),
                        "stored fault skipped: it does not parse"
                    ),
                }
            }
        }
        let (events, _) = broadcast::channel(1024);
        Ok(FaultMemory {
            inner: Arc::new(Inner {
                path,
                database,
                faults: Mutex::new(faults),
                events,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Subscribes to changes.
    pub fn subscribe(&self) -> broadcast::Receiver<FaultEvent> {
        self.inner.events.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Fault>> {
        self.inner
            .faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every stored fault, ordered by component and code.
    pub fn faults(&self) -> Vec<Fault> {
        self.lock().values().cloned().collect()
    }

    /// The faults of `entity`.
    pub fn faults_of(&self, entity: &Entity) -> Vec<Fault> {
        self.lock()
            .values()
            .filter(|fault| fault.entity == *entity)
            .cloned()
            .collect()
    }

    /// One fault.
    pub fn fault(&self, entity: &Entity, code: &DtcCode) -> Option<Fault> {
        self.lock().get(&key(entity, code)).cloned()
    }

    /// The confirmed codes, sorted and without repeats: what `Vehicle.OBD.DTCList` holds.
    pub fn confirmed_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = self
            .lock()
            .values()
            .filter(|fault| fault.is_confirmed())
            .map(|fault| fault.code.to_string())
            .collect();
        codes.sort();
        codes.dedup();
        codes
    }

    /// Records a test result. A failure stores the fault (or a new occurrence of it);
    /// a pass updates a stored fault's status and never creates one. A result that
    /// changes nothing writes nothing. The change is on disk before it is visible.
    pub fn report(&self, report: FaultReport) -> Result<(), MemoryError> {
        let mut faults = self.lock();
        let key = key(&report.entity, &report.code);
        let existing = faults.get(&key);
        let mut displaced = None;
        let updated = match (&report.result, existing) {
            (TestResult::Passed, None) => return Ok(()),
            (TestResult::Passed, Some(fault)) => {
                let status = fault.status.without(
                    DtcStatus::TEST_FAILED
                        | DtcStatus::TEST_NOT_COMPLETED_THIS_OPERATION_CYCLE
                        | DtcStatus::TEST_NOT_COMPLETED_SINCE_LAST_CLEAR
                        | DtcStatus::WARNING_INDICATOR_REQUESTED,
                );
                if status == fault.status {
                    return Ok(());
                }
                Fault {
                    status,
                    ..fault.clone()
                }
            }
            (
                TestResult::Failed {
                    snapshot,
                    environment,
                },
                existing,
            ) => {
                // A failure that goes on into a new operation cycle is no new
                // occurrence, but it is a failure of this cycle.
                let continuing = existing.is_some_and(|f| f.status.has(DtcStatus::TEST_FAILED));
                if existing.is_some_and(|f| {
                    f.status
                        .has(DtcStatus::TEST_FAILED | DtcStatus::TEST_FAILED_THIS_OPERATION_CYCLE)
                }) {
                    return Ok(());
                }
                if existing.is_none() && faults.len() >= MAX_STORED_FAULTS {
                    match faults
                        .values()
                        .filter(|f| !f.status.has(DtcStatus::TEST_FAILED))
                        .min_by_key(|f| (std::cmp::Reverse(f.severity), f.last_failure_ms))
                    {
                        Some(victim) => displaced = Some(victim.key()),
                        None => {
                            tracing::warn!(entity = %report.entity, code = %report.code, "fault memory full of failing faults; new fault dropped");
                            return Ok(());
                        }
                    }
                }
                let now = now_ms();
                let environment = environment
                    .iter()
                    .map(|(k, v)| (k.clone(), cut(v)))
                    .collect();
                let snapshot = Snapshot {
                    record: 1,
                    timestamp_ms: now,
                    values: snapshot.clone(),
                };
                let mut fault = existing.cloned().unwrap_or_else(|| Fault {
                    entity: report.entity.clone(),
                    code: report.code.clone(),
                    name: report.name.clone(),
                    severity: report.severity,
                    status: DtcStatus::CLEARED,
                    source: report.source,
                    occurrences: 0,
                    aging_counter: 0,
                    first_failure_ms: now,
                    last_failure_ms: now,
                    snapshots: Vec::new(),
                    environment: BTreeMap::new(),
                });
                let mut flags = DtcStatus::TEST_FAILED
                    | DtcStatus::TEST_FAILED_THIS_OPERATION_CYCLE
                    | DtcStatus::PENDING_DTC
                    | DtcStatus::CONFIRMED_DTC
                    | DtcStatus::TEST_FAILED_SINCE_LAST_CLEAR;
                if report.warning_indicator {
                    flags |= DtcStatus::WARNING_INDICATOR_REQUESTED;
                }
                fault.status = fault.status.with(flags).without(
                    DtcStatus::TEST_NOT_COMPLETED_THIS_OPERATION_CYCLE
                        | DtcStatus::TEST_NOT_COMPLETED_SINCE_LAST_CLEAR,
                );
                fault.name = report.name.clone();
                fault.severity = report.severity;
                fault.aging_counter = 0;
                if continuing {
                    fault
                } else {
                    fault.occurrences = fault.occurrences.saturating_add(1);
                    fault.last_failure_ms = now;
                    fault.environment = environment;
                    if fault.snapshots.is_empty() {
                        fault.snapshots.push(snapshot);
                    } else {
                        fault.snapshots.truncate(1);
                        fault.snapshots.push(Snapshot {
                            record: 2,
                            ..snapshot
                        });
                    }
                    fault
                }
            }
        };
        self.write(std::slice::from_ref(&updated), displaced.as_slice())?;
        if let Some(victim) = displaced {
            if let Some(fault) = faults.remove(&victim) {
                let _ = self.inner.events.send(FaultEvent::Removed {
                    entity: fault.entity,
                    code: fault.code,
                });
            }
        }
        faults.insert(key, updated.clone());
        let _ = self.inner.events.send(FaultEvent::Changed(updated));
        Ok(())
    }

    /// Removes the faults `scope` selects (UDS `ClearDiagnosticInformation`) and
    /// returns them.
    pub fn clear(&self, scope: &ClearScope) -> Result<Vec<Fault>, MemoryError> {
        let mut faults = self.lock();
        let removed: Vec<String> = faults
            .values()
            .filter(|f| scope.entity.as_ref().is_none_or(|e| *e == f.entity))
            .filter(|f| scope.code.as_ref().is_none_or(|c| *c == f.code))
            .map(Fault::key)
            .collect();
        if removed.is_empty() {
            return Ok(Vec::new());
        }
        self.write(&[], &removed)?;
        let mut cleared = Vec::with_capacity(removed.len());
        for key in removed {
            if let Some(fault) = faults.remove(&key) {
                let _ = self.inner.events.send(FaultEvent::Removed {
                    entity: fault.entity.clone(),
                    code: fault.code.clone(),
                });
                cleared.push(fault);
            }
        }
        Ok(cleared)
    }

    /// Starts a new operation cycle (a power cycle of the vehicle): faults that were
    /// tested and did not fail in the cycle that ends lose `pendingDTC` and age by
    /// one; a fault that aged [`AGING_CYCLES`] times is forgotten. Every fault's
    /// tests count as not completed in the new cycle.
    pub fn new_operation_cycle(&self) -> Result<(), MemoryError> {
        let mut faults = self.lock();
        let mut changed = Vec::new();
        let mut aged_out = Vec::new();
        for fault in faults.values() {
            let mut next = fault.clone();
            let failed = fault
                .status
                .has(DtcStatus::TEST_FAILED_THIS_OPERATION_CYCLE);
            let tested = !fault
                .status
                .has(DtcStatus::TEST_NOT_COMPLETED_THIS_OPERATION_CYCLE);
            if tested && !failed {
                next.status = next.status.without(DtcStatus::PENDING_DTC);
                next.aging_counter = next.aging_counter.saturating_add(1);
                if next.aging_counter >= AGING_CYCLES && !next.status.has(DtcStatus::TEST_FAILED) {
                    aged_out.push(fault.key());
                    continue;
                }
            }
            next.status = next
                .status
                .without(DtcStatus::TEST_FAILED_THIS_OPERATION_CYCLE)
                .with(DtcStatus::TEST_NOT_COMPLETED_THIS_OPERATION_CYCLE);
            if next != *fault {
                changed.push(next);
            }
        }
        self.write(&changed, &aged_out)?;
        for key in aged_out {
            if let Some(fault) = faults.remove(&key) {
                let _ = self.inner.events.send(FaultEvent::Removed {
                    entity: fault.entity,
                    code: fault.code,
                });
            }
        }
        for fault in changed {
            faults.insert(fault.key(), fault.clone());
            let _ = self.inner.events.send(FaultEvent::Changed(fault));
        }
        let _ = self.inner.events.send(FaultEvent::NewOperationCycle);
        Ok(())
    }

    /// Writes `put` and deletes `delete` in one transaction.
    fn write(&self, put: &[Fault], delete: &[String]) -> Result<(), MemoryError> {
        let error = |message: String| MemoryError {
            path: self.inner.path.clone(),
            message,
        };
        let txn = self
            .inner
            .database
            .begin_write()
            .map_err(|e| error(e.to_string()))?;
        {
            let mut table = txn.open_table(FAULTS).map_err(|e| error(e.to_string()))?;
            let mut seen = HashSet::new();
            for fault in put {
                let key = fault.key();
                seen.insert(key.clone());
                let bytes = serde_json::to_vec(fault).map_err(|e| error(e.to_string()))?;
                table
                    .insert(key.as_str(), bytes.as_slice())
                    .map_err(|e| error(e.to_string()))?;
            }
            for key in delete {
                if !seen.contains(key) {
                    table
                        .remove(key.as_str())
                        .map_err(|e| error(e.to_string()))?;
                }
            }
        }
        txn.commit().map_err(|e| error(e.to_string()))
    }
}

/// `value` cut to [`MAX_ENVIRONMENT_VALUE_BYTES`] at a character boundary.
fn cut(value: &str) -> String {
    if value.len() <= MAX_ENVIRONMENT_VALUE_BYTES {
        return value.to_owned();
    }
    let mut end = MAX_ENVIRONMENT_VALUE_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &value[..end])
}
