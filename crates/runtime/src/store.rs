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
    database: Database,
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
        let store = Store {
            path: path.clone(),
            database,
        };
        let txn = store
            .database
            .begin_write()
            .map_err(|e| error(e.to_string()))?;
        txn.open_table(WORKLOADS)
            .map_err(|e| error(e.to_string()))?;
        txn.open_table(PROCESSES)
            .map_err(|e| error(e.to_string()))?;
        txn.commit().map_err(|e| error(e.to_string()))?;
        Ok(store)
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
        let txn = self.database.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(PROCESSES).map_err(|e| self.error(e))?;
        let mut records = Vec::new();
        for entry in table.iter().map_err(|e| self.error(e))? {
            let (key, value) = entry.map_err(|e| self.error(e))?;
            let record = serde_json::from_slice(value.value())
                .map_err(|e| self.error(format!("record \"{}\": {e}", key.value())))?;
            records.push((key.value().to_owned(), record));
        }
        Ok(records)
    }

    fn read_all<T: for<'de> Deserialize<'de>>(
        &self,
        table: TableDefinition<&str, &[u8]>,
    ) -> Result<Vec<T>, StoreError> {
        let txn = self.database.begin_read().map_err(|e| self.error(e))?;
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
    }

    /// Stores desired workloads (all in one transaction).
    pub fn put_workloads(&self, workloads: &[DesiredWorkload]) -> Result<(), StoreError> {
        let txn = self.database.begin_write().map_err(|e| self.error(e))?;
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
    }

    /// Removes a workload and its process record.
    pub fn delete_workload(&self, name: &str) -> Result<(), StoreError> {
        let txn = self.database.begin_write().map_err(|e| self.error(e))?;
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
    }

    /// Records (or, with `None`, forgets) the process of a workload.
    pub fn set_process(
        &self,
        name: &str,
        record: Option<&ProcessRecord>,
    ) -> Result<(), StoreError> {
        let txn = self.database.begin_write().map_err(|e| self.error(e))?;
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
    }
}
