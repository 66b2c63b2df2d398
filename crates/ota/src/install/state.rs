//! The install state of each ECU, persisted in `install.redb` under the device root.
//!
//! One record per ECU, stored as JSON under the ECU identifier. Every write is its
//! own redb transaction, committed durably before the installer's next side effect.

use std::fmt;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::slots::{Slot, SlotRecord};
use super::InstallError;

/// The database file in the device root.
pub const DATABASE_FILE: &str = "install.redb";

const INSTALLS: TableDefinition<&str, &[u8]> = TableDefinition::new("installs");

/// Where an ECU is in the install state machine.
///
/// ```text
/// Idle ─► Staging ─► Staged ─► Switched ─► Committed
///   ▲        │                    │
///   └────────┘ (discarded)        └──────► RolledBack
/// ```
///
/// `Idle`, `Committed` and `RolledBack` have no install in progress; a new install
/// may start from any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// No install in progress (none yet, or the last staging was discarded).
    Idle,
    /// The verified image is being written into the inactive slot.
    Staging,
    /// The image is in the inactive slot and its hash was verified there.
    Staged,
    /// `active` points to the new slot (or is about to); the health window runs.
    Switched,
    /// The new image passed its health window and is the committed image.
    Committed,
    /// The new image failed its health window; `active` points back to the previous slot.
    RolledBack,
}

impl Step {
    /// Whether an install is in progress.
    pub fn in_progress(self) -> bool {
        matches!(self, Step::Staging | Step::Staged | Step::Switched)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Step::Idle => "idle",
            Step::Staging => "staging",
            Step::Staged => "staged",
            Step::Switched => "switched",
            Step::Committed => "committed",
            Step::RolledBack => "rolled-back",
        })
    }
}

/// An image in a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotImage {
    /// The slot.
    pub slot: Slot,
    /// What the slot holds (or is to hold).
    pub image: SlotRecord,
}

/// The persisted install state of one ECU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRecord {
    /// The step.
    pub step: Step,
    /// The committed image: what the ECU runs when no install is in progress, and
    /// the previous slot to roll back to while one is.
    pub committed: Option<SlotImage>,
    /// The image being installed (`Staging`, `Staged`, `Switched`), in the slot
    /// other than the committed one.
    pub pending: Option<SlotImage>,
    /// Health windows started for the pending image (a restart during one starts another).
    pub health_windows: u32,
    /// Why the last install was rolled back or discarded.
    pub reason: Option<String>,
}

impl Default for InstallRecord {
    fn default() -> InstallRecord {
        InstallRecord {
            step: Step::Idle,
            committed: None,
            pending: None,
            health_windows: 0,
            reason: None,
        }
    }
}

impl InstallRecord {
    /// The slot `active` must point to in this state: the pending slot while
    /// `Switched`, the committed slot otherwise.
    pub fn expected_active(&self) -> Option<Slot> {
        match self.step {
            Step::Switched => self.pending.as_ref().map(|pending| pending.slot),
            _ => self.committed.as_ref().map(|committed| committed.slot),
        }
    }

    /// The slot to roll back to while `Switched`.
    pub fn previous(&self) -> Option<Slot> {
        match self.step {
            Step::Switched => self.committed.as_ref().map(|committed| committed.slot),
            _ => None,
        }
    }
}

/// The install database.
#[derive(Debug)]
pub(crate) struct StateStore {
    path: PathBuf,
    database: Database,
}

impl StateStore {
    /// Opens or creates `install.redb` in `root`. After a crash redb repairs the
    /// file on open; the last committed transaction is what it holds.
    pub(crate) fn open(root: &Path) -> Result<StateStore, InstallError> {
        let path = root.join(DATABASE_FILE);
        std::fs::create_dir_all(root).map_err(InstallError::io("create the device root", root))?;
        let database = Database::create(&path).map_err(|error| InstallError::Database {
            path: path.clone(),
            message: format!("cannot open: {error}"),
        })?;
        let store = StateStore { path, database };
        let transaction = store.database.begin_write().map_err(|e| store.error(e))?;
        transaction
            .open_table(INSTALLS)
            .map_err(|e| store.error(e))?;
        transaction.commit().map_err(|e| store.error(e))?;
        Ok(store)
    }

    fn error(&self, error: impl ToString) -> InstallError {
        InstallError::Database {
            path: self.path.clone(),
            message: error.to_string(),
        }
    }

    /// The record of `ecu`; the default (idle, nothing committed) if there is none.
    pub(crate) fn get(&self, ecu: &str) -> Result<InstallRecord, InstallError> {
        let transaction = self.database.begin_read().map_err(|e| self.error(e))?;
        let table = transaction
            .open_table(INSTALLS)
            .map_err(|e| self.error(e))?;
        match table.get(ecu).map_err(|e| self.error(e))? {
            Some(value) => serde_json::from_slice(value.value())
                .map_err(|e| self.error(format!("record \"{ecu}\": {e}"))),
            None => Ok(InstallRecord::default()),
        }
    }

    /// Every record, by ECU identifier.
    pub(crate) fn all(&self) -> Result<Vec<(String, InstallRecord)>, InstallError> {
        let transaction = self.database.begin_read().map_err(|e| self.error(e))?;
        let table = transaction
            .open_table(INSTALLS)
            .map_err(|e| self.error(e))?;
        let mut records = Vec::new();
        for entry in table.iter().map_err(|e| self.error(e))? {
            let (key, value) = entry.map_err(|e| self.error(e))?;
            let record = serde_json::from_slice(value.value())
                .map_err(|e| self.error(format!("record \"{}\": {e}", key.value())))?;
            records.push((key.value().to_string(), record));
        }
        Ok(records)
    }

    /// Stores `record` for `ecu` in one durable transaction.
    pub(crate) fn put(&self, ecu: &str, record: &InstallRecord) -> Result<(), InstallError> {
        let bytes = serde_json::to_vec(record).map_err(|e| self.error(e))?;
        let transaction = self.database.begin_write().map_err(|e| self.error(e))?;
        transaction
            .open_table(INSTALLS)
            .map_err(|e| self.error(e))?
            .insert(ecu, bytes.as_slice())
            .map_err(|e| self.error(e))?;
        transaction.commit().map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_records_survive_reopening() {
        let temp = tempfile::tempdir().unwrap();
        let record = InstallRecord {
            step: Step::Switched,
            committed: Some(SlotImage {
                slot: Slot::A,
                image: SlotRecord::new("a.bin", 1, "00", 1).unwrap(),
            }),
            pending: Some(SlotImage {
                slot: Slot::B,
                image: SlotRecord::new("b.bin", 1, "11", 2).unwrap(),
            }),
            health_windows: 1,
            reason: None,
        };
        {
            let store = StateStore::open(temp.path()).unwrap();
            assert_eq!(store.get("ecu").unwrap(), InstallRecord::default());
            store.put("ecu", &record).unwrap();
        }
        let store = StateStore::open(temp.path()).unwrap();
        assert_eq!(store.get("ecu").unwrap(), record);
        assert_eq!(
            store.all().unwrap(),
            vec![("ecu".to_string(), record.clone())]
        );
        assert_eq!(record.expected_active(), Some(Slot::B));
        assert_eq!(record.previous(), Some(Slot::A));
    }
}
