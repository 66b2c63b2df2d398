//! The shared-data rule: real public data beside the repository, skipped or required.
//!
//! The data (VSS releases, DBC files, CAN logs, KUKSA mappings) is too large, or
//! licensed too differently, to live in the repository. It lives in `shared/data` in
//! the parent folder of the repository root. A test asks for what it needs with
//! [`shared`] (a path inside the folder), [`shared_data`] (the folder itself) or
//! [`shared_path`] (a path that points into the folder from elsewhere, such as a
//! vehicle profile's replay log) and returns early on `None`:
//!
//! ```
//! let Some(dbc) = tomoe_test_support::shared("dbc/kona-ev-dbc/pcan.dbc") else {
//!     return; // absent here: skipped, with a note on stderr
//! };
//! assert!(dbc.is_file());
//! ```
//!
//! When the path is absent the test is skipped, unless [`REQUIRE_SHARED_VARIABLE`]
//! (`TOMOE_REQUIRE_SHARED`) is set to any value, as in CI: then the lookup panics and
//! the test fails.

use std::path::{Path, PathBuf};

/// The environment variable that turns a skip into a failure: set (to any value),
/// shared data must be present.
pub const REQUIRE_SHARED_VARIABLE: &str = "TOMOE_REQUIRE_SHARED";

/// The shared data folder: `shared/data` in the parent folder of the repository
/// root. It may not exist.
pub fn shared_data_dir() -> PathBuf {
    // This crate lives in `<repository>/crates/test-support`.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// Whether shared data is required: [`REQUIRE_SHARED_VARIABLE`] is set.
pub fn shared_data_required() -> bool {
    std::env::var_os(REQUIRE_SHARED_VARIABLE).is_some()
}

/// The shared data folder, or `None` (and a note on stderr) when it is absent.
///
/// # Panics
///
/// When the folder is absent and shared data is required.
pub fn shared_data() -> Option<PathBuf> {
    shared_path(shared_data_dir())
}

/// `relative` (a file or a folder) inside the shared data folder, or `None` (and a
/// note on stderr) when it is absent.
///
/// # Panics
///
/// When the path is absent and shared data is required.
pub fn shared(relative: impl AsRef<Path>) -> Option<PathBuf> {
    shared_path(shared_data_dir().join(relative))
}

/// The rule for a path into the shared data that the test found elsewhere (a vehicle
/// profile names its replay log relative to the profile): `Some(path)` when it
/// exists, else `None` (and a note on stderr).
///
/// # Panics
///
/// When the path is absent and shared data is required.
pub fn shared_path(path: impl Into<PathBuf>) -> Option<PathBuf> {
    match lookup(path.into(), shared_data_required()) {
        Lookup::Present(path) => Some(path),
        Lookup::Skip(path) => {
            eprintln!("skipping: shared data {} is absent", path.display());
            None
        }
        Lookup::Missing(path) => panic!(
            "shared data {} is required ({REQUIRE_SHARED_VARIABLE} is set) but missing",
            path.display()
        ),
    }
}

/// What the rule decides for one path.
#[derive(Debug, PartialEq, Eq)]
enum Lookup {
    /// The path exists: use it.
    Present(PathBuf),
    /// Absent and not required: skip the test.
    Skip(PathBuf),
    /// Absent and required: fail the test.
    Missing(PathBuf),
}

fn lookup(path: PathBuf, required: bool) -> Lookup {
    if path.exists() {
        Lookup::Present(path)
    } else if required {
        Lookup::Missing(path)
    } else {
        Lookup::Skip(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(exists: bool, required: bool, expected: fn(PathBuf) -> Lookup) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        if exists {
            std::fs::write(&path, "x").unwrap();
        }
        assert_eq!(
            lookup(path.clone(), required),
            expected(path),
            "exists {exists}, required {required}"
        );
    }

    #[test]
    fn lookup_uses_present_paths_and_skips_or_fails_on_absent_ones() {
        check(true, false, Lookup::Present);
        check(true, true, Lookup::Present);
        check(false, false, Lookup::Skip);
        check(false, true, Lookup::Missing);
    }

    #[test]
    fn the_shared_data_folder_is_in_the_parent_of_the_repository() {
        let repository = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .unwrap();
        let name = repository.file_name().unwrap();
        let dir = shared_data_dir();
        assert!(dir.ends_with("shared/data"), "{}", dir.display());
        // Lexically: `shared` may be a symbolic link, and `..` would follow it.
        let parent = dir.parent().and_then(Path::parent).unwrap();
        assert!(
            parent.join(name).join("Cargo.lock").is_file(),
            "{}",
            dir.display()
        );
    }

    #[test]
    fn a_present_path_is_returned_whatever_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(shared_path(dir.path()), Some(dir.path().to_owned()));
    }
}
