//! The runtime's durable state: the desired workloads and the processes it started.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use tomoe_types::WorkloadState;

use crate::manifest::Workload;

const WORKLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("workloads");
const PROCESSES: TableDefinition<&str, &[u8]> = TableDefinition::new("processes");

/// A desired workload: its spec and whether the user wants it running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredWorkload {
    /// The spec from the manifest.
    pub spec: Workload,
    /// False after `tomoe stop`, true after `apply` or `start`.
    pub enabled: bool,
    /// A final state reached (`succeeded`, `failed`, `crash-looping`), kept across
    /// restarts of the runtime until the next `apply` or `start`. Stored as its string
    /// form, as earlier versions wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal: Option<WorkloadState>,
}

/// A process the runtime started, to adopt it after a restart of the runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// Process id (and process group id).
    pub pid: u32,
    /// The kernel's start time of the process, to tell it from a later one with the same id.
    pub start_ticks: u64,
}

/// Errors of the runtime store.
#[derive(Debug, thiserror::Error)]
#[error("runtime database {}: {message}", .path.display())]
pub struct StoreError {
    path: PathBuf,
    message: String,
}

impl StoreError {
    pub(crate) fn new(path: &Path, message: String) -> StoreError {
        StoreError {
            path: path.to_owned(),
            message,
        }
    }
}

/// The runtime's redb database.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    /// `None` after a failed operation closed it (see [`Store::with_database`]).
    database: std::sync::Mutex<Option<Database>>,
}

impl Store {
    /// Opens (or creates) `runtime.redb` in `dir`; a corrupt file is an error and kept.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join("runtime.redb");
        let error = |message: String| StoreError {
            path: path.clone(),
            message,
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| error(format!("cannot create the directory: {e}")))?;
        let database = Database::create(&path)
            .map_err(|e| error(format!("cannot open (left untouched): {e}")))?;
        let txn = database.begin_write().map_err(|e| error(e.to_string()))?;
        txn.open_table(WORKLOADS)
            .map_err(|e| error(e.to_string()))?;
        txn.open_table(PROCESSES)
            .map_err(|e| error(e.to_string()))?;
        txn.commit().map_err(|e| error(e.to_string()))?;
        Ok(Store {
            path,
            database: std::sync::Mutex::new(Some(database)),
        })
    }

    /// Runs `operation` on the open database, opening it again first if a failed
    /// operation closed it: after an I/O error (a full disk) redb refuses every
    /// further transaction until the database is opened again, so the runtime
    /// recovers as soon as the cause is gone, without a restart.
    fn with_database<T>(
        &self,
        operation: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut slot = self
            .database
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            let database = Database::create(&self.path)
                .map_err(|e| self.error(format!("cannot open again after a failed write: {e}")))?;
            *slot = Some(database);
        }
        let result = operation(slot.as_ref().expect("opened above"));
        if result.is_err() {
            *slot = None;
        }
        result
    }

    fn error(&self, message: impl ToString) -> StoreError {
        StoreError {
            path: self.path.clone(),
            message: message.to_string(),
        }
    }

    /// Every desired workload.
    pub fn workloads(&self) -> Result<Vec<DesiredWorkload>, StoreError> {
        self.read_all(WORKLOADS)
    }

    /// Every process record, by workload name.
    pub fn processes(&self) -> Result<Vec<(String, ProcessRecord)>, StoreError> {
        self.with_database(|database| {
            let txn = database.begin_read().map_err(|e| self.error(e))?;
            let table = txn.open_table(PROCESSES).map_err(|e| self.error(e))?;
            let mut records = Vec::new();
            for entry in table.iter().map_err(|e| self.error(e))? {
                let (key, value) = entry.map_err(|e| self.error(e))?;
                let record = serde_json::from_slice(value.value())
                    .map_err(|e| self.error(format!("record \"{}\": {e}", key.value())))?;
                records.push((key.value().to_owned(), record));
            }
            Ok(records)
        })
    }

    fn read_all<T: for<'de> Deserialize<'de>>(
        &self,
        table: TableDefinition<&str, &[u8]>,
    ) -> Result<Vec<T>, StoreError> {
        self.with_database(|database| {
            let txn = database.begin_read().map_err(|e| self.error(e))?;
            let table = txn.open_table(table).map_err(|e| self.error(e))?;
            let mut items = Vec::new();
            for entry in table.iter().map_err(|e| self.error(e))? {
                let (key, value) = entry.map_err(|e| self.error(e))?;
                items.push(
                    serde_json::from_slice(value.value())
                        .map_err(|e| self.error(format!("record \"{}\": {e}", key.value())))?,
                );
            }
            Ok(items)
        })
    }

    /// Stores desired workloads (all in one transaction).
    pub fn put_workloads(&self, workloads: &[DesiredWorkload]) -> Result<(), StoreError> {
        self.with_database(|database| {
            let txn = database.begin_write().map_err(|e| self.error(e))?;
            {
                let mut table = txn.open_table(WORKLOADS).map_err(|e| self.error(e))?;
                for workload in workloads {
                    let bytes = serde_json::to_vec(workload).map_err(|e| self.error(e))?;
                    table
                        .insert(workload.spec.name.as_str(), bytes.as_slice())
                        .map_err(|e| self.error(e))?;
                }
            }
            txn.commit().map_err(|e| self.error(e))
        })
    }

    /// Removes a workload and its process record.
    pub fn delete_workload(&self, name: &str) -> Result<(), StoreError> {
        self.with_database(|database| {
            let txn = database.begin_write().map_err(|e| self.error(e))?;
            {
                txn.open_table(WORKLOADS)
                    .map_err(|e| self.error(e))?
                    .remove(name)
                    .map_err(|e| self.error(e))?;
                txn.open_table(PROCESSES)
                    .map_err(|e| self.error(e))?
                    .remove(name)
                    .map_err(|e| self.error(e))?;
            }
            txn.commit().map_err(|e| self.error(e))
        })
    }

    /// Records (or, with `None`, forgets) the process of a workload.
    pub fn set_process(
        &self,
        name: &str,
        record: Option<&ProcessRecord>,
    ) -> Result<(), StoreError> {
        self.with_database(|database| {
            let txn = database.begin_write().map_err(|e| self.error(e))?;
            {
                let mut table = txn.open_table(PROCESSES).map_err(|e| self.error(e))?;
                match record {
                    Some(record) => {
                        let bytes = serde_json::to_vec(record).map_err(|e| self.error(e))?;
                        table
                            .insert(name, bytes.as_slice())
                            .map_err(|e| self.error(e))?;
                    }
                    None => {
                        table.remove(name).map_err(|e| self.error(e))?;
                    }
                }
            }
            txn.commit().map_err(|e| self.error(e))
        })
    }
}

#[cfg(test)]
mod tests {
    use tomoe_types::VehicleMode;

    use super::*;

    /// A record as the runtime wrote it before states and modes were typed.
    const LEGACY: &str = r#"{"spec":{"name":"once","runtime":"native","command":"sh","args":["-c","exit 1"],"env":{},"restart":{"policy":"on-failure","initialBackoffMs":500,"maxBackoffMs":30000,"crashLoopLimit":5,"stableAfterMs":10000},"dependsOn":[],"modes":["parked","charging"],"access":{"read":[],"actuate":[],"provide":[],"modeRequests":["service"]}},"enabled":true,"terminal":"crash-looping"}"#;

    #[test]
    fn records_of_earlier_versions_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let txn = store
            .database
            .lock()
            .unwrap()
            .as_ref()
            .unwrap()
            .begin_write()
            .unwrap();
        txn.open_table(WORKLOADS)
            .unwrap()
            .insert("once", LEGACY.as_bytes())
            .unwrap();
        txn.commit().unwrap();
        let loaded = store.workloads().unwrap();
        assert_eq!(loaded.len(), 1);
        let workload = &loaded[0];
        assert_eq!(workload.terminal, Some(WorkloadState::CrashLooping));
        assert_eq!(
            workload.spec.modes,
            [VehicleMode::Parked, VehicleMode::Charging]
        );
        assert_eq!(workload.spec.access.mode_requests, [VehicleMode::Service]);
        // Written back, the record is the same text.
        store.put_workloads(&loaded).unwrap();
        let txn = store
            .database
            .lock()
            .unwrap()
            .as_ref()
            .unwrap()
            .begin_read()
            .unwrap();
        let table = txn.open_table(WORKLOADS).unwrap();
        let bytes = table.get("once").unwrap().unwrap();
        assert_eq!(std::str::from_utf8(bytes.value()).unwrap(), LEGACY);
    }

    #[test]
    fn every_final_state_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let spec: Workload = serde_yaml::from_str("{name: a, command: x}").unwrap();
        for terminal in [None].into_iter().chain(
            WorkloadState::ALL
                .into_iter()
                .filter(|s| s.is_final())
                .map(Some),
        ) {
            let desired = DesiredWorkload {
                spec: spec.clone(),
                enabled: terminal.is_none(),
                terminal,
            };
            store.put_workloads(std::slice::from_ref(&desired)).unwrap();
            assert_eq!(store.workloads().unwrap(), [desired]);
        }
    }
}
