//! The history of battery pack swaps: which pack a vehicle carries now that a
//! service operation replaced the one it was built with, and who swapped what when.
//!
//! Kept in its own database file of the data directory, [`PACK_HISTORY_FILE`], so a
//! swap is recorded whether or not the broker's store runs (and is read at start,
//! before the broker is built). Records carry a CRC-32 like the values' records; a
//! damaged one is reported, never used.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::{checksum, io_error, open_in, StoreError};

/// File name of the swap history inside the data directory.
pub const PACK_HISTORY_FILE: &str = "parts.redb";

/// Swaps in the order they were made (key: sequence number from 1).
const SWAPS: TableDefinition<u64, &[u8]> = TableDefinition::new("pack_swaps");

/// One battery pack swap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackSwap {
    /// When, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The vehicle profile it was made on.
    pub vehicle: String,
    /// The parts-catalog id of the pack taken out.
    pub old_pack: String,
    /// The parts-catalog id of the pack put in.
    pub new_pack: String,
    /// Who asked for it (the SOVD caller: `token:SUBJECT` or `anonymous:NAME`).
    pub who: String,
    /// The new pack's state of charge when it was put in, percent.
    pub soc_percent: f64,
}

/// The swap history of a data directory.
#[derive(Debug)]
pub struct PackHistory {
    path: PathBuf,
    database: Mutex<Database>,
}

impl PackHistory {
    /// Opens (or creates) `<data_dir>/parts.redb`. A file that is not a redb
    /// database is refused and left as it is.
    pub fn open(data_dir: &Path) -> Result<PackHistory, StoreError> {
        let (path, database) = open_in(data_dir, PACK_HISTORY_FILE)?;
        let history = PackHistory {
            path,
            database: Mutex::new(database),
        };
        // Create the table, so that reading an empty history works.
        history.write(|_| Ok(()))?;
        history.all()?;
        Ok(history)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
        io_error(&self.path, source)
    }

    fn write(
        &self,
        change: impl FnOnce(&mut redb::Table<'_, u64, &[u8]>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let database = self.database.lock().unwrap_or_else(|p| p.into_inner());
        let txn = database.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = txn.open_table(SWAPS).map_err(|e| self.io(e))?;
            change(&mut table)?;
        }
        txn.commit().map_err(|e| self.io(e))
    }

    /// Appends `swap` to the history; it is on disk when this returns.
    pub fn record(&self, swap: &PackSwap) -> Result<(), StoreError> {
        let json = serde_json::to_vec(swap).map_err(|e| self.io(e))?;
        self.write(|table| {
            let next = table
                .last()
                .map_err(|e| self.io(e))?
                .map(|(key, _)| key.value() + 1)
                .unwrap_or(1);
            let mut bytes = checksum(&next.to_string(), &json).to_le_bytes().to_vec();
            bytes.extend_from_slice(&json);
            table
                .insert(next, bytes.as_slice())
                .map_err(|e| self.io(e))?;
            Ok(())
        })
    }

    /// Every swap, oldest first.
    pub fn all(&self) -> Result<Vec<PackSwap>, StoreError> {
        let database = self.database.lock().unwrap_or_else(|p| p.into_inner());
        let txn = database.begin_read().map_err(|e| self.io(e))?;
        let table = txn.open_table(SWAPS).map_err(|e| self.io(e))?;
        let mut swaps = Vec::new();
        for entry in table.iter().map_err(|e| self.io(e))? {
            let (key, bytes) = entry.map_err(|e| self.io(e))?;
            let key = key.value().to_string();
            let corrupt = |reason: String| StoreError::CorruptRecord {
                path: self.path.clone(),
                key: format!("pack swap {key}"),
                reason,
            };
            let bytes = bytes.value();
            let (sum, json) = bytes
                .split_first_chunk::<4>()
                .ok_or_else(|| corrupt(format!("{} bytes, too short for a record", bytes.len())))?;
            if u32::from_le_bytes(*sum) != checksum(&key, json) {
                return Err(corrupt("checksum mismatch: the record was damaged".into()));
            }
            swaps.push(serde_json::from_slice(json).map_err(|e| corrupt(e.to_string()))?);
        }
        Ok(swaps)
    }

    /// The swaps made on `vehicle`, oldest first.
    pub fn of_vehicle(&self, vehicle: &str) -> Result<Vec<PackSwap>, StoreError> {
        let mut swaps = self.all()?;
        swaps.retain(|swap| swap.vehicle == vehicle);
        Ok(swaps)
    }

    /// The pack `vehicle` carries after its last swap (`None`: never swapped, it
    /// carries the pack its profile names).
    pub fn installed(&self, vehicle: &str) -> Result<Option<String>, StoreError> {
        Ok(self.of_vehicle(vehicle)?.pop().map(|swap| swap.new_pack))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swap(vehicle: &str, old: &str, new: &str) -> PackSwap {
        PackSwap {
            time_ms: 1_700_000_000_000,
            vehicle: vehicle.into(),
            old_pack: old.into(),
            new_pack: new.into(),
            who: "anonymous:test".into(),
            soc_percent: 50.0,
        }
    }

    #[test]
    fn swaps_survive_reopening_and_the_last_one_is_installed() {
        let dir = tempfile::tempdir().unwrap();
        let history = PackHistory::open(dir.path()).unwrap();
        assert_eq!(history.all().unwrap(), []);
        assert_eq!(history.installed("kona").unwrap(), None);
        history
            .record(&swap("kona", "kona-pack", "niro-pack"))
            .unwrap();
        history.record(&swap("leaf", "leaf-40", "leaf-62")).unwrap();
        history
            .record(&swap("kona", "niro-pack", "kona-pack-2"))
            .unwrap();
        drop(history);
        let history = PackHistory::open(dir.path()).unwrap();
        assert_eq!(history.all().unwrap().len(), 3);
        assert_eq!(history.of_vehicle("kona").unwrap().len(), 2);
        assert_eq!(
            history.installed("kona").unwrap().as_deref(),
            Some("kona-pack-2")
        );
        assert_eq!(
            history.installed("leaf").unwrap().as_deref(),
            Some("leaf-62")
        );
        assert_eq!(
            history.of_vehicle("kona").unwrap()[0],
            swap("kona", "kona-pack", "niro-pack")
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PACK_HISTORY_FILE);
        std::fs::write(&path, b"not redb").unwrap();
        let error = PackHistory::open(dir.path()).unwrap_err();
        assert!(error.to_string().contains("parts.redb"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), b"not redb");
    }
}
