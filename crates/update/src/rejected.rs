//! The images of an app that were rolled back, so that the director's
//! assignment of them is not installed again.

use std::path::{Path, PathBuf};

use crate::error::UpdateError;

/// The rejected images (SHA-256, lowercase hex) of the apps under one OTA root,
/// one file per slot: `<root>/<slot>.rejected`, one hash per line.
#[derive(Debug, Clone)]
pub(crate) struct Rejected {
    root: PathBuf,
}

impl Rejected {
    pub(crate) fn new(root: &Path) -> Rejected {
        Rejected {
            root: root.to_path_buf(),
        }
    }

    fn file(&self, slot: &str) -> PathBuf {
        self.root.join(format!("{slot}.rejected"))
    }

    /// The rejected images of `slot`; a missing file is none.
    pub(crate) fn of(&self, slot: &str) -> Vec<String> {
        std::fs::read_to_string(self.file(slot))
            .map(|text| {
                text.lines()
                    .filter(|line| !line.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether image `sha256` of `slot` was rejected.
    pub(crate) fn contains(&self, slot: &str, sha256: &str) -> bool {
        self.of(slot).iter().any(|hash| hash == sha256)
    }

    /// Rejects image `sha256` of `slot` (written to a temporary file, then renamed).
    pub(crate) fn add(&self, slot: &str, sha256: &str) -> Result<(), UpdateError> {
        let mut rejected = self.of(slot);
        if rejected.iter().any(|hash| hash == sha256) {
            return Ok(());
        }
        rejected.push(sha256.to_string());
        let path = self.file(slot);
        let temporary = path.with_extension("rejected.tmp");
        std::fs::write(&temporary, rejected.join("\n") + "\n")
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(UpdateError::io("write", &path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_persist_per_slot() {
        let dir = tempfile::tempdir().unwrap();
        let rejected = Rejected::new(dir.path());
        assert!(!rejected.contains("app.a", "00"));
        rejected.add("app.a", "00").unwrap();
        rejected.add("app.a", "00").unwrap();
        rejected.add("app.a", "11").unwrap();
        let again = Rejected::new(dir.path());
        assert_eq!(again.of("app.a"), ["00", "11"]);
        assert!(again.contains("app.a", "11"));
        assert!(!again.contains("app.b", "11"));
    }
}
