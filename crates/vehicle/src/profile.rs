//! Profile files (`profile.toml`) and loading what they reference.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tomoe_dbc::Database;
use tomoe_mapping::MappingFile;
use tomoe_parts::VehiclePlatform;
use tomoe_vss::{Catalog, CatalogBuilder};

/// A vehicle profile as written in `profile.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Identifier, also the profile's directory name.
    pub id: String,
    /// Brand, for example `Hyundai`.
    pub brand: String,
    /// Model, for example `Kona Electric`.
    pub model: String,
    /// Model year.
    pub year: u16,
    /// One line about the vehicle and its data.
    #[serde(default)]
    pub description: String,
    /// The VSS catalog the mappings target.
    pub catalog: CatalogSpec,
    /// The CAN buses.
    #[serde(rename = "bus", default)]
    pub buses: Vec<BusSpec>,
    /// A real log of this vehicle, for replay.
    #[serde(default)]
    pub replay: Option<ReplaySpec>,
    /// The `[platform]` section (installed parts, battery bay, drivetrain, physics),
    /// kept as a table: tomoe-parts reads it.
    #[serde(default)]
    pub platform: Option<toml::Table>,
}

/// Which VSS catalog a profile uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSpec {
    /// `embedded` for Tomoe's default catalog, or a VSS JSON file relative to the profile.
    pub vss: String,
    /// Overlays applied in order, relative to the profile.
    #[serde(default)]
    pub overlays: Vec<String>,
}

/// One CAN bus of a profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusSpec {
    /// Bus name, for example `pcan`.
    pub name: String,
    /// Channel name in logs and the SocketCAN interface, for example `can0`.
    pub channel: String,
    /// DBC file, relative to the profile.
    pub dbc: String,
    /// KUKSA-format mapping file, relative to the profile.
    pub mapping: String,
    /// Values (physical, by DBC signal name) for the other signals of frames written back.
    #[serde(default)]
    pub defaults: Option<String>,
}

/// A log recorded on this vehicle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaySpec {
    /// The candump -L log, relative to the profile (it may live outside the repository).
    pub log: String,
}

/// A profile that cannot be loaded; names the file and the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// No profile with this name or path.
    #[error("no vehicle profile \"{name}\" (looked in {searched}; the profiles there: {known})")]
    NotFound {
        /// What was asked for.
        name: String,
        /// Where it was looked for.
        searched: String,
        /// The ids of the profiles that are there.
        known: String,
    },
    /// The profile file is unreadable or invalid.
    #[error("{path}: {problem}")]
    Invalid {
        /// The profile file.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// A DBC file of the profile cannot be used.
    #[error(transparent)]
    Dbc(#[from] tomoe_dbc::DbcError),
    /// A mapping file of the profile cannot be used.
    #[error(transparent)]
    Mapping(#[from] tomoe_mapping::MappingError),
    /// The profile's catalog cannot be used.
    #[error(transparent)]
    Catalog(#[from] tomoe_vss::CatalogError),
    /// The profile's platform specification is invalid.
    #[error(transparent)]
    Platform(#[from] tomoe_parts::PartsError),
}

/// A bus with its DBC and mapping loaded.
#[derive(Debug, Clone)]
pub struct LoadedBus {
    /// What the profile says about the bus.
    pub spec: BusSpec,
    /// The compiled DBC.
    pub database: Database,
    /// The mapping rules.
    pub mapping: MappingFile,
    /// Default physical values by DBC signal name, for write-back.
    pub defaults: HashMap<String, f64>,
}

/// A profile with everything it references loaded.
#[derive(Debug, Clone)]
pub struct LoadedProfile {
    /// The profile file's content.
    pub profile: Profile,
    /// The profile's directory.
    pub dir: PathBuf,
    /// The buses.
    pub buses: Vec<LoadedBus>,
}

/// The profiles shipped with Tomoe: `$TOMOE_PROFILES`, else `./profiles`, else the
/// repository's `profiles/` next to the sources this binary was built from.
pub fn default_profiles_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TOMOE_PROFILES") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("profiles");
    if local.is_dir() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../profiles")
}

impl Profile {
    /// Every profile in `dir` (each `<dir>/<id>/profile.toml`), sorted by id.
    pub fn list(dir: &Path) -> Result<Vec<(PathBuf, Profile)>, ProfileError> {
        let entries = std::fs::read_dir(dir).map_err(|e| ProfileError::Invalid {
            path: dir.display().to_string(),
            problem: format!("cannot list profiles: {e}"),
        })?;
        let mut profiles = Vec::new();
        for entry in entries.flatten() {
            let file = entry.path().join("profile.toml");
            if file.is_file() {
                profiles.push((entry.path(), Profile::read(&file)?));
            }
        }
        profiles.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        Ok(profiles)
    }

    /// Finds a profile by id (in `dir`) or by path (a directory or a `profile.toml`).
    pub fn find(name: &str, dir: &Path) -> Result<(PathBuf, Profile), ProfileError> {
        let as_path = PathBuf::from(name);
        let candidates = [
            as_path.join("profile.toml"),
            as_path.clone(),
            dir.join(name).join("profile.toml"),
        ];
        for candidate in candidates {
            if candidate.is_file() {
                let profile = Profile::read(&candidate)?;
                let profile_dir = candidate
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                return Ok((profile_dir, profile));
            }
        }
        let known: Vec<String> = Profile::list(dir)
            .map(|profiles| {
                profiles
                    .into_iter()
                    .map(|(_, profile)| profile.id)
                    .collect()
            })
            .unwrap_or_default();
        Err(ProfileError::NotFound {
            name: name.to_owned(),
            searched: dir.display().to_string(),
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        })
    }

    /// Reads and validates one `profile.toml`.
    pub fn read(path: &Path) -> Result<Profile, ProfileError> {
        let text = tomoe_vss::read_data_file(path).map_err(|problem| ProfileError::Invalid {
            path: path.display().to_string(),
            problem,
        })?;
        Profile::parse(&text, &path.display().to_string())
    }

    /// Parses and validates the text of a `profile.toml`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Profile, ProfileError> {
        let invalid = |problem: String| ProfileError::Invalid {
            path: origin.to_owned(),
            problem,
        };
        let profile: Profile =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim().to_owned()))?;
        if profile.buses.is_empty() {
            return Err(invalid("a profile needs at least one [[bus]]".into()));
        }
        let mut channels: Vec<&str> = profile.buses.iter().map(|b| b.channel.as_str()).collect();
        channels.sort_unstable();
        if channels.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid("two buses use the same channel".into()));
        }
        Ok(profile)
    }

    /// The replay log's path, if the profile names one.
    pub fn replay_log(&self, dir: &Path) -> Option<PathBuf> {
        self.replay.as_ref().map(|r| dir.join(&r.log))
    }

    /// The vehicle's platform specification (its `[platform]` section), which
    /// the parts fit checks read; `None` without one.
    pub fn platform_spec(&self, dir: &Path) -> Result<Option<VehiclePlatform>, ProfileError> {
        let Some(table) = &self.platform else {
            return Ok(None);
        };
        let origin = dir.join("profile.toml").display().to_string();
        Ok(Some(VehiclePlatform::from_table(table, &origin)?))
    }
}

impl LoadedProfile {
    /// Loads the DBCs, mappings and defaults a profile references.
    pub fn load(dir: &Path, profile: Profile) -> Result<LoadedProfile, ProfileError> {
        let mut buses = Vec::with_capacity(profile.buses.len());
        for spec in &profile.buses {
            let database = Database::from_file(&dir.join(&spec.dbc))?;
            let mapping = MappingFile::from_file(&dir.join(&spec.mapping))?;
            let defaults = match &spec.defaults {
                None => HashMap::new(),
                Some(file) => {
                    let path = dir.join(file);
                    let invalid = |problem: String| ProfileError::Invalid {
                        path: path.display().to_string(),
                        problem,
                    };
                    let text = tomoe_vss::read_data_file(&path).map_err(invalid)?;
                    serde_json::from_str::<HashMap<String, f64>>(&text).map_err(|e| {
                        invalid(format!(
                            "expected a JSON object of signal names to numbers: {e}"
                        ))
                    })?
                }
            };
            buses.push(LoadedBus {
                spec: spec.clone(),
                database,
                mapping,
                defaults,
            });
        }
        Ok(LoadedProfile {
            profile,
            dir: dir.to_owned(),
            buses,
        })
    }

    /// The catalog the profile targets (the embedded one, or its own), with overlays.
    pub fn catalog(&self) -> Result<Catalog, ProfileError> {
        Ok(self.catalog_builder()?.build()?)
    }

    /// [`catalog`](LoadedProfile::catalog) before it is built, for more overlays
    /// (a tenant's private branch, a variant's badge).
    pub fn catalog_builder(&self) -> Result<CatalogBuilder, ProfileError> {
        let mut builder = if self.profile.catalog.vss == "embedded" {
            tomoe_vss::default_builder()?
        } else {
            CatalogBuilder::new()
                .json_file(&self.dir.join(&self.profile.catalog.vss))?
                .vspec_str(
                    tomoe_vss::TOMOE_OVERLAY_VSPEC,
                    tomoe_vss::TOMOE_OVERLAY_NAME,
                )?
        };
        for overlay in &self.profile.catalog.overlays {
            let path = self.dir.join(overlay);
            let is_vspec = path
                .extension()
                .is_some_and(|e| e == "vspec" || e == "yaml" || e == "yml");
            builder = if is_vspec {
                builder.vspec_file(&path)?
            } else {
                builder.json_file(&path)?
            };
        }
        Ok(builder)
    }
}
