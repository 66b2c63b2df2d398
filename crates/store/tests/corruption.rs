//! What a damaged database does to a start: refused with a clear error and left
//! byte for byte as it was, or opened with exactly the values that were stored;
//! never a panic, never different values.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use tomoe_broker::{Field, Persistence, StoredDatapoint};
use tomoe_store::{Store, StoreError, DATABASE_FILE};
use tomoe_vss::Value;

const VALUES: TableDefinition<&str, &[u8]> = TableDefinition::new("values");
const META: TableDefinition<&str, u32> = TableDefinition::new("meta");

fn datapoints() -> Vec<StoredDatapoint> {
    (0..40)
        .map(|i| StoredDatapoint {
            path: format!("Vehicle.Test.Signal{i:02}"),
            field: if i % 2 == 0 {
                Field::Current
            } else {
                Field::Target
            },
            value: Some(Value::String(format!("value number {i}"))),
            timestamp: UNIX_EPOCH + Duration::from_secs(1_700_000_000 + i),
        })
        .collect()
}

fn sorted(mut values: Vec<StoredDatapoint>) -> Vec<StoredDatapoint> {
    values.sort_by(|a, b| (&a.path, a.field as u8).cmp(&(&b.path, b.field as u8)));
    values
}

/// A closed database holding `datapoints()`; its bytes.
fn good_database(dir: &Path) -> Vec<u8> {
    let store = Store::open(dir).unwrap();
    store.save(&datapoints()).unwrap();
    drop(store);
    std::fs::read(dir.join(DATABASE_FILE)).unwrap()
}

/// Opens `bytes` as the database: either a refusal that left the file untouched,
/// or the stored values exactly.
fn open_damaged(bytes: &[u8], what: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(DATABASE_FILE);
    std::fs::write(&file, bytes).unwrap();
    match Store::open(dir.path()) {
        Err(error) => {
            let after = std::fs::read(&file).unwrap();
            assert!(after == bytes, "{what}: a refused start modified the file");
            assert!(
                error.to_string().contains(DATABASE_FILE),
                "{what}: the error does not name the file: {error}"
            );
            let leftovers: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                leftovers.len(),
                1,
                "{what}: files left behind: {leftovers:?}"
            );
            Err(error.to_string())
        }
        Ok(store) => match store.load() {
            Ok(loaded) => {
                assert_eq!(
                    sorted(loaded),
                    sorted(datapoints()),
                    "{what}: opened with other values than stored"
                );
                Ok(())
            }
            Err(error) => {
                // A damaged record is reported, never served.
                let text = error.to_string();
                assert!(text.contains("corrupt"), "{what}: {text}");
                Err(text)
            }
        },
    }
}

/// A small deterministic generator, so that a failing trial can be repeated.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound
    }
}

#[test]
fn an_empty_file_is_refused_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(DATABASE_FILE);
    std::fs::write(&file, b"").unwrap();
    let error = Store::open(dir.path()).unwrap_err();
    assert!(matches!(error, StoreError::Empty { .. }), "{error}");
    assert!(error.to_string().contains("is empty (0 bytes)"), "{error}");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 0);
}

#[test]
fn a_file_of_another_kind_is_refused() {
    let error = open_damaged(b"SQLite format 3\0 and more", "sqlite").unwrap_err();
    assert!(error.contains("is not a redb database"), "{error}");
    let error = open_damaged(b"red", "three bytes").unwrap_err();
    assert!(error.contains("is not a redb database"), "{error}");
}

#[test]
fn truncated_databases_are_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_database(dir.path());
    let mut lengths: Vec<usize> = vec![9, 64, 512, 4096, good.len() / 2, good.len() - 1];
    lengths.retain(|&n| n < good.len());
    let mut random = Lcg(7);
    lengths.extend((0..10).map(|_| 1 + random.next(good.len() - 1)));
    for length in lengths {
        // Refused, or (when only unused space was cut) the same values.
        let _ = open_damaged(&good[..length], &format!("truncated to {length} bytes"));
    }
}

#[test]
fn bit_flips_are_refused_or_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_database(dir.path());
    let mut random = Lcg(42);
    let mut refused = 0;
    for trial in 0..60 {
        let mut bytes = good.clone();
        let offset = random.next(bytes.len());
        let bit = random.next(8);
        bytes[offset] ^= 1 << bit;
        if open_damaged(
            &bytes,
            &format!("trial {trial}: bit {bit} of byte {offset}"),
        )
        .is_err()
        {
            refused += 1;
        }
    }
    // Flips in unused space are harmless; the rest must have been caught.
    println!("{refused} of 60 flipped files refused");
}

#[test]
fn a_damaged_record_is_reported_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    good_database(dir.path());
    // Damage one record's contents while keeping redb's own structure valid,
    // as a bug or a bit flip before redb checksummed the page would.
    {
        let database = redb::Database::create(dir.path().join(DATABASE_FILE)).unwrap();
        let txn = database.begin_write().unwrap();
        {
            let mut table = txn.open_table(VALUES).unwrap();
            let key = "current/Vehicle.Test.Signal04";
            let mut bytes = table.get(key).unwrap().unwrap().value().to_vec();
            let last = bytes.len() - 3;
            bytes[last] ^= 0x01;
            table.insert(key, bytes.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let before = std::fs::read(dir.path().join(DATABASE_FILE)).unwrap();
    let error = Store::open(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("record \"current/Vehicle.Test.Signal04\" is corrupt: checksum mismatch"),
        "{error}"
    );
    assert_eq!(
        std::fs::read(dir.path().join(DATABASE_FILE)).unwrap(),
        before
    );
}

#[test]
fn a_version_1_database_is_upgraded_with_checksums() {
    let dir = tempfile::tempdir().unwrap();
    {
        let database = redb::Database::create(dir.path().join(DATABASE_FILE)).unwrap();
        let txn = database.begin_write().unwrap();
        {
            txn.open_table(META)
                .unwrap()
                .insert("format_version", 1)
                .unwrap();
            let record =
                br#"{"type":"string","value":"JN1TEST","timestamp_ns":1700000000000000000}"#;
            txn.open_table(VALUES)
                .unwrap()
                .insert(
                    "current/Vehicle.VehicleIdentification.VIN",
                    record.as_slice(),
                )
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].value, Some(Value::String("JN1TEST".into())));
    drop(store);
    let database = redb::Database::create(dir.path().join(DATABASE_FILE)).unwrap();
    let txn = database.begin_read().unwrap();
    let version = txn
        .open_table(META)
        .unwrap()
        .get("format_version")
        .unwrap()
        .unwrap()
        .value();
    assert_eq!(version, 2);
}
