//! A/B slots of one ECU on disk.
//!
//! ```text
//! <root>/<ecu>/
//!   slot-a/<image file>   the image
//!   slot-a/slot.json      its name, length, SHA-256 and release counter
//!   slot-b/...            the same for the other slot
//!   active                "slot-a" or "slot-b": the slot the ECU boots
//! ```
//!
//! `active` is never edited in place: the new content goes to `active.tmp`, which
//! is synced and then renamed over `active`, so a reader sees the old pointer or the
//! new one, never a torn one. A slot's `slot.json` is removed first when the slot is
//! rewritten and written last (through `slot.json.tmp`), so a half-written slot
//! never looks complete. Reading a slot hashes its image and compares it with
//! `slot.json`: a corrupt slot is an error, never an image to boot.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::InstallError;

/// The name of the file in each slot that describes its image.
pub const SLOT_RECORD_FILE: &str = "slot.json";
/// The name of the pointer to the active slot.
pub const ACTIVE_FILE: &str = "active";
const ACTIVE_TEMP_FILE: &str = "active.tmp";
const SLOT_RECORD_TEMP_FILE: &str = "slot.json.tmp";

/// One of the two slots of an ECU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Slot {
    /// `slot-a`.
    #[serde(rename = "slot-a")]
    A,
    /// `slot-b`.
    #[serde(rename = "slot-b")]
    B,
}

impl Slot {
    /// The slot's directory name, `slot-a` or `slot-b`.
    pub fn name(self) -> &'static str {
        match self {
            Slot::A => "slot-a",
            Slot::B => "slot-b",
        }
    }

    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    fn parse(text: &str) -> Option<Slot> {
        match text.trim() {
            "slot-a" => Some(Slot::A),
            "slot-b" => Some(Slot::B),
            _ => None,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// What a slot holds, as its `slot.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    /// The image's target name in the repositories.
    pub image: String,
    /// The image's file name inside the slot (the last part of the target name).
    pub file: String,
    /// Its length in bytes.
    pub length: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
    /// Its release counter.
    pub release_counter: u64,
}

impl SlotRecord {
    /// A record for target `image`; its file name is the last `/`-separated part
    /// of the name, which must be a plain file name.
    pub fn new(
        image: &str,
        length: u64,
        sha256: &str,
        release_counter: u64,
    ) -> Result<SlotRecord, InstallError> {
        let file = image.rsplit('/').next().unwrap_or(image);
        check_name(file, "image file name")?;
        if file == SLOT_RECORD_FILE || file == SLOT_RECORD_TEMP_FILE {
            return Err(InstallError::InvalidName {
                name: image.to_string(),
                reason: format!("an image may not be called \"{file}\""),
            });
        }
        Ok(SlotRecord {
            image: image.to_string(),
            file: file.to_string(),
            length,
            sha256: sha256.to_ascii_lowercase(),
            release_counter,
        })
    }

    /// Whether `other` describes the same bytes.
    pub fn same_image(&self, other: &SlotRecord) -> bool {
        self.image == other.image
            && self.file == other.file
            && self.length == other.length
            && self.sha256.eq_ignore_ascii_case(&other.sha256)
    }
}

/// A slot whose image matched its record when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSlot {
    /// Which slot.
    pub slot: Slot,
    /// The slot's directory.
    pub dir: PathBuf,
    /// What it holds.
    pub record: SlotRecord,
}

impl VerifiedSlot {
    /// The image file: for an app, the binary to run.
    pub fn image_path(&self) -> PathBuf {
        self.dir.join(&self.record.file)
    }
}

/// Checks that `name` can be one path component: ASCII letters, digits, `.`, `_`
/// and `-`, not starting with `.`.
pub(crate) fn check_name(name: &str, what: &str) -> Result<(), InstallError> {
    let valid = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(InstallError::InvalidName {
            name: name.to_string(),
            reason: format!(
                "a {what} has ASCII letters, digits, '.', '_' and '-' only and does not start with '.'"
            ),
        })
    }
}

/// The slots of one ECU: `<root>/<ecu>`.
#[derive(Debug, Clone)]
pub struct EcuSlots {
    ecu: String,
    dir: PathBuf,
}

impl EcuSlots {
    /// The slots of `ecu` under the device root `root`.
    pub fn new(root: &Path, ecu: &str) -> Result<EcuSlots, InstallError> {
        check_name(ecu, "ECU identifier")?;
        Ok(EcuSlots {
            ecu: ecu.to_string(),
            dir: root.join(ecu),
        })
    }

    /// The ECU identifier.
    pub fn ecu(&self) -> &str {
        &self.ecu
    }

    /// The ECU's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A slot's directory.
    pub fn slot_dir(&self, slot: Slot) -> PathBuf {
        self.dir.join(slot.name())
    }

    /// The slot `active` points to, without verifying it; `None` if there is no
    /// pointer yet.
    pub fn active_slot(&self) -> Result<Option<Slot>, InstallError> {
        let path = self.dir.join(ACTIVE_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Slot::parse(&text)
                .map(Some)
                .ok_or_else(|| InstallError::CorruptSlot {
                    ecu: self.ecu.clone(),
                    slot: ACTIVE_FILE.to_string(),
                    reason: format!("the pointer holds {:?}, not a slot name", text.trim()),
                }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(InstallError::io("read the active pointer", &path)(source)),
        }
    }

    /// The active slot, verified; `None` if there is no pointer yet.
    pub fn active(&self) -> Result<Option<VerifiedSlot>, InstallError> {
        match self.active_slot()? {
            Some(slot) => self.verify(slot).map(Some),
            None => Ok(None),
        }
    }

    /// Reads `slot`'s record and hashes its image: the slot if they agree, a
    /// [`InstallError::CorruptSlot`] if not.
    pub fn verify(&self, slot: Slot) -> Result<VerifiedSlot, InstallError> {
        let dir = self.slot_dir(slot);
        let corrupt = |reason: String| InstallError::CorruptSlot {
            ecu: self.ecu.clone(),
            slot: slot.name().to_string(),
            reason,
        };
        let record_path = dir.join(SLOT_RECORD_FILE);
        let bytes = match fs::read(&record_path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(corrupt(format!("it has no {SLOT_RECORD_FILE}")))
            }
            Err(source) => {
                return Err(InstallError::io("read the slot record", &record_path)(
                    source,
                ))
            }
        };
        let record: SlotRecord = serde_json::from_slice(&bytes)
            .map_err(|error| corrupt(format!("invalid {SLOT_RECORD_FILE}: {error}")))?;
        check_name(&record.file, "image file name")
            .map_err(|_| corrupt(format!("invalid image file name \"{}\"", record.file)))?;
        let image_path = dir.join(&record.file);
        let mut file = match File::open(&image_path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(corrupt(format!("its image \"{}\" is missing", record.file)))
            }
            Err(source) => {
                return Err(InstallError::io("open the slot image", &image_path)(source))
            }
        };
        let mut hasher = Sha256::new();
        let mut length: u64 = 0;
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let count = match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(count) => count,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(InstallError::io("read the slot image", &image_path)(source))
                }
            };
            length += count as u64;
            hasher.update(&buffer[..count]);
        }
        if length != record.length {
            return Err(corrupt(format!(
                "its image has {length} bytes, its record says {}",
                record.length
            )));
        }
        let sha256 = hex::encode(hasher.finalize());
        if !sha256.eq_ignore_ascii_case(&record.sha256) {
            return Err(corrupt(format!(
                "its image's SHA-256 is {sha256}, its record says {}",
                record.sha256
            )));
        }
        Ok(VerifiedSlot { slot, dir, record })
    }

    /// Empties `slot`: its record goes first, so an interrupted clear never leaves
    /// a slot that looks complete.
    pub fn clear(&self, slot: Slot) -> Result<(), InstallError> {
        let dir = self.slot_dir(slot);
        let record_path = dir.join(SLOT_RECORD_FILE);
        match fs::remove_file(&record_path) {
            Ok(()) => sync_dir(&dir)?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(InstallError::io("remove the slot record", &record_path)(
                    source,
                ))
            }
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => sync_dir(&self.dir),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(InstallError::io("clear the slot", &dir)(source)),
        }
    }

    /// Writes an image into the empty `slot`: `write` fills the image file, which
    /// is then synced, and only then is `record` written. The slot is not verified
    /// here; call [`EcuSlots::verify`].
    pub fn write(
        &self,
        slot: Slot,
        record: &SlotRecord,
        write: impl FnOnce(&mut File) -> Result<(), InstallError>,
    ) -> Result<(), InstallError> {
        let dir = self.slot_dir(slot);
        fs::create_dir_all(&dir).map_err(InstallError::io("create the slot", &dir))?;
        sync_dir(&self.dir)?;
        let image_path = dir.join(&record.file);
        let mut file = File::create(&image_path)
            .map_err(InstallError::io("create the slot image", &image_path))?;
        write(&mut file)?;
        make_executable(&image_path)?;
        file.sync_all()
            .map_err(InstallError::io("sync the slot image", &image_path))?;
        drop(file);
        let bytes = serde_json::to_vec_pretty(record).map_err(|error| InstallError::Database {
            path: dir.join(SLOT_RECORD_FILE),
            message: error.to_string(),
        })?;
        write_atomically(
            &dir,
            SLOT_RECORD_TEMP_FILE,
            SLOT_RECORD_FILE,
            &bytes,
            || Ok(()),
        )
    }

    /// Points `active` at `slot`: `active.tmp` is written and synced, `between`
    /// runs (a crash point for tests), then it is renamed over `active` and the
    /// directory synced.
    pub fn set_active(
        &self,
        slot: Slot,
        between: impl FnOnce() -> Result<(), InstallError>,
    ) -> Result<(), InstallError> {
        fs::create_dir_all(&self.dir)
            .map_err(InstallError::io("create the ECU directory", &self.dir))?;
        let text = format!("{}\n", slot.name());
        write_atomically(
            &self.dir,
            ACTIVE_TEMP_FILE,
            ACTIVE_FILE,
            text.as_bytes(),
            between,
        )
    }

    /// Removes a leftover `active.tmp` (from a crash before its rename).
    pub fn remove_temporary_files(&self) -> Result<(), InstallError> {
        let path = self.dir.join(ACTIVE_TEMP_FILE);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(InstallError::io("remove the temporary pointer", &path)(
                source,
            )),
        }
    }
}

fn write_atomically(
    dir: &Path,
    temporary: &str,
    name: &str,
    bytes: &[u8],
    between: impl FnOnce() -> Result<(), InstallError>,
) -> Result<(), InstallError> {
    let temporary = dir.join(temporary);
    let mut file = File::create(&temporary)
        .map_err(InstallError::io("create a temporary file", &temporary))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(InstallError::io("write a temporary file", &temporary))?;
    drop(file);
    between()?;
    let path = dir.join(name);
    fs::rename(&temporary, &path).map_err(InstallError::io("rename into place", &path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), InstallError> {
    File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(InstallError::io("sync the directory", dir))
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), InstallError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(InstallError::io("make the slot image executable", path))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<(), InstallError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(bytes: &[u8]) -> SlotRecord {
        SlotRecord::new(
            "apps/demo.bin",
            bytes.len() as u64,
            &hex::encode(Sha256::digest(bytes)),
            1,
        )
        .unwrap()
    }

    fn written(bytes: &[u8]) -> (tempfile::TempDir, EcuSlots) {
        let temp = tempfile::tempdir().unwrap();
        let slots = EcuSlots::new(temp.path(), "ecu-1").unwrap();
        slots
            .write(Slot::A, &record(bytes), |file| {
                file.write_all(bytes).unwrap();
                Ok(())
            })
            .unwrap();
        (temp, slots)
    }

    #[test]
    fn slots_write_then_verify_and_activate() {
        let (_temp, slots) = written(b"image one");
        assert_eq!(slots.active().unwrap(), None);
        slots.set_active(Slot::A, || Ok(())).unwrap();
        let active = slots.active().unwrap().unwrap();
        assert_eq!(active.slot, Slot::A);
        assert_eq!(active.record.file, "demo.bin");
        assert_eq!(fs::read(active.image_path()).unwrap(), b"image one");
        assert!(!slots.dir().join(ACTIVE_TEMP_FILE).exists());
    }

    #[test]
    fn slots_altered_image_is_corrupt() {
        let (_temp, slots) = written(b"image one");
        fs::write(slots.slot_dir(Slot::A).join("demo.bin"), b"image 0ne").unwrap();
        let error = slots.verify(Slot::A).unwrap_err();
        assert!(error.to_string().contains("SHA-256"), "{error}");
    }

    #[test]
    fn slots_missing_record_is_corrupt_and_clear_empties() {
        let (_temp, slots) = written(b"image one");
        slots.clear(Slot::A).unwrap();
        assert!(!slots.slot_dir(Slot::A).exists());
        let error = slots.verify(Slot::A).unwrap_err();
        assert!(error.to_string().contains("no slot.json"), "{error}");
    }

    #[test]
    fn slots_names_are_single_path_components() {
        let temp = tempfile::tempdir().unwrap();
        assert!(EcuSlots::new(temp.path(), "../escape").is_err());
        assert!(EcuSlots::new(temp.path(), ".hidden").is_err());
        assert!(SlotRecord::new("dir/slot.json", 1, "00", 1).is_err());
        assert!(SlotRecord::new("dir/", 1, "00", 1).is_err());
    }
}
