//! The parts catalog: every `*.toml` file of a directory, one part per file.

use std::path::{Path, PathBuf};

use crate::error::{PartsError, Problem};
use crate::fit::check_fit;
use crate::part::{Part, PartKind};
use crate::platform::VehiclePlatform;

/// The parts of a catalog directory, sorted by id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    parts: Vec<Part>,
}

/// The shipped catalog: `$TOMOE_PARTS`, else `./parts`, else the repository's `parts/`
/// next to the sources this library was built from.
pub fn default_parts_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TOMOE_PARTS") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("parts");
    if local.is_dir() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../parts")
}

impl Catalog {
    /// Reads every `*.toml` file of `dir` (not its subdirectories). All invalid files
    /// are reported together, each with all its problems.
    pub fn load(dir: &Path) -> Result<Catalog, PartsError> {
        let entries = std::fs::read_dir(dir).map_err(|source| PartsError::Read {
            path: dir.display().to_string(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.is_file() && path.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        let mut parts: Vec<(Part, String)> = Vec::with_capacity(files.len());
        let mut errors = Vec::new();
        for file in &files {
            match Part::read(file) {
                Ok(part) => {
                    let origin = file.display().to_string();
                    if let Some((_, first)) = parts.iter().find(|(p, _)| p.id == part.id) {
                        errors.push(PartsError::DuplicateId {
                            id: part.id.clone(),
                            path: origin,
                            first: first.clone(),
                        });
                    } else {
                        parts.push((part, origin));
                    }
                }
                Err(error) => errors.push(error),
            }
        }
        match errors.len() {
            0 => Ok(Catalog::from_sorted(parts.into_iter().map(|(p, _)| p))),
            1 => Err(errors.remove(0)),
            _ => Err(PartsError::Catalog { errors }),
        }
    }

    /// A catalog of parts given in memory; ids must be unique.
    pub fn from_parts(parts: Vec<Part>) -> Result<Catalog, PartsError> {
        for (index, part) in parts.iter().enumerate() {
            if parts[..index].iter().any(|p| p.id == part.id) {
                return Err(PartsError::DuplicateId {
                    id: part.id.clone(),
                    path: "(in memory)".to_owned(),
                    first: "(in memory)".to_owned(),
                });
            }
        }
        Ok(Catalog::from_sorted(parts))
    }

    fn from_sorted(parts: impl IntoIterator<Item = Part>) -> Catalog {
        let mut parts: Vec<Part> = parts.into_iter().collect();
        parts.sort_by(|a, b| a.id.cmp(&b.id));
        Catalog { parts }
    }

    /// Every part, sorted by id.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The part with this id.
    pub fn get(&self, id: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.id == id)
    }

    /// The parts of one kind, sorted by id.
    pub fn of_kind(&self, kind: PartKind) -> impl Iterator<Item = &Part> {
        self.parts.iter().filter(move |p| p.kind() == kind)
    }

    /// Checks a platform's `installed` parts: each must exist, be of its slot's kind and
    /// fit the vehicle. Returns the problems, with fields written `platform.installed.*`.
    pub fn check_installed(&self, platform: &VehiclePlatform) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (slot, kind) in [
            ("battery_pack", PartKind::BatteryPack),
            ("e_axle", PartKind::EAxle),
            ("charger", PartKind::Charger),
        ] {
            let Some(id) = platform.installed(kind) else {
                continue;
            };
            let field = format!("platform.installed.{slot}");
            let reason = match self.get(id) {
                None => format!("no part \"{id}\" in the catalog"),
                Some(part) if part.kind() != kind => {
                    format!("\"{id}\" is a {}, not a {kind}", part.kind())
                }
                Some(part) => {
                    let report = check_fit(platform, part);
                    if report.fits {
                        continue;
                    }
                    let failed: Vec<String> = report
                        .failures()
                        .map(|r| format!("{}: {}", r.check, r.detail))
                        .collect();
                    format!(
                        "\"{id}\" does not fit its own vehicle ({})",
                        failed.join("; ")
                    )
                }
            };
            problems.push(Problem { field, reason });
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_reports_every_invalid_file_and_duplicate_ids() {
        let dir = std::env::temp_dir().join(format!("tomoe-parts-catalog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let charger = |id: &str| {
            format!("id = \"{id}\"\nkind = \"charger\"\nname = \"c\"\nmanufacturer = \"m\"\nsource = \"s\"\nac_power = \"7 kW\"\nac_connector = \"Type2\"\n")
        };
        std::fs::write(dir.join("a.toml"), charger("a")).unwrap();
        std::fs::write(dir.join("b.toml"), charger("a")).unwrap();
        std::fs::write(dir.join("c.toml"), "id = \"c\"\nkind = \"charger\"\n").unwrap();
        std::fs::write(dir.join("d.toml"), "id = ").unwrap();
        std::fs::write(dir.join("readme.md"), "not a part").unwrap();
        let error = Catalog::load(&dir).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).ok();
        let lines: Vec<&str> = error.lines().collect();
        assert!(
            lines[0].ends_with("b.toml: id: \"a\" must equal the file name \"b\""),
            "{error}"
        );
        assert!(lines[1].ends_with("c.toml: name: missing"), "{error}");
        assert!(error.contains("c.toml: ac_connector: missing"), "{error}");
        assert!(error.contains("d.toml: "), "{error}");
    }

    #[test]
    fn in_memory_catalogs_refuse_duplicate_ids() {
        let part = Part::from_table(
            &toml::from_str("id = \"a\"\nkind = \"charger\"\nname = \"c\"\nmanufacturer = \"m\"\nsource = \"s\"\nac_power = \"7 kW\"\nac_connector = \"Type2\"\n").unwrap(),
            "a.toml",
        )
        .unwrap();
        assert!(Catalog::from_parts(vec![part.clone(), part.clone()]).is_err());
        let catalog = Catalog::from_parts(vec![part]).unwrap();
        assert_eq!(catalog.of_kind(PartKind::Charger).count(), 1);
        assert!(catalog.get("a").is_some());
    }
}
