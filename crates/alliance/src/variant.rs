//! Variants: one vehicle sold under a badge, on a hardware profile.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tomoe_runtime::{Manifest, Workload};
use tomoe_types::Tenant;
use tomoe_vehicle::{LoadedProfile, Profile};
use tomoe_vss::{Catalog, CatalogBuilder, EntryType, PathPattern};

use crate::{Alliance, AllianceError};

/// The demo variants' directory: `$TOMOE_VARIANTS`, else `./variants` when it
/// exists, else the repository's `variants/`.
pub fn default_variants_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TOMOE_VARIANTS") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("variants");
    if local.is_dir() {
        return local;
    }
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../variants");
    std::fs::canonicalize(&shipped).unwrap_or(shipped)
}

/// A vehicle as one brand sells it: a badge on a hardware profile
/// (`variants/<id>.toml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Identifier, also the file's name.
    pub id: String,
    /// The badge, such as `Mitsubishi`; written to `Vehicle.VehicleIdentification.Brand`.
    pub brand: String,
    /// The model name under that badge; written to `...VehicleIdentification.Model`.
    pub model: String,
    /// The model year; written to `...VehicleIdentification.Year`.
    pub year: u16,
    /// One line for people.
    pub description: String,
    /// The hardware profile (the CAN side): a directory of `profiles/`.
    pub hardware_profile: String,
    /// The OTA channel the vehicle's updates come from.
    pub ota_channel: String,
    /// The tenants present besides the alliance.
    pub tenants: VariantTenants,
    /// More VSS attributes of the badge (identification, default settings):
    /// path to value, in the attribute's datatype.
    #[serde(default)]
    pub attributes: BTreeMap<String, toml::Value>,
    /// The apps it ships.
    #[serde(default, rename = "app")]
    pub apps: Vec<VariantApp>,
}

/// Who is present in a variant besides the alliance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantTenants {
    /// The badge's brand.
    pub brand: Tenant,
    /// The maker of the hardware.
    pub maker: Tenant,
}

/// An app a variant ships.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantApp {
    /// Its runtime manifest, relative to the variant file.
    pub manifest: PathBuf,
    /// The tenant it belongs to (whose delegated role signs its image).
    pub tenant: Tenant,
}

/// One problem [`Variant::check`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariantProblem {
    /// What it is about, such as `app range-estimator` or `attribute Vehicle.X`.
    pub subject: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for VariantProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.problem)
    }
}

/// The variant for people: badge, hardware, tenants, channel, attributes, apps.
impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} {} {}",
            self.id, self.brand, self.model, self.year
        )?;
        writeln!(f, "  {}", self.description)?;
        writeln!(f, "  hardware     {}", self.hardware_profile)?;
        writeln!(
            f,
            "  tenants      {} (brand {}, maker {})",
            names(&self.tenants_present()),
            self.tenants.brand,
            self.tenants.maker
        )?;
        writeln!(f, "  ota channel  {}", self.ota_channel)?;
        for (path, value) in &self.attributes {
            writeln!(f, "  attribute    {path} = {value}")?;
        }
        if self.apps.is_empty() {
            writeln!(f, "  apps         none")?;
        }
        for app in &self.apps {
            writeln!(
                f,
                "  app          {} (tenant {})",
                app.manifest.display(),
                app.tenant
            )?;
        }
        Ok(())
    }
}

/// What [`Variant::install_apps`] did with one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInstall {
    /// The workload's name.
    pub name: String,
    /// Its tenant.
    pub tenant: Option<Tenant>,
    /// What happened.
    pub outcome: AppOutcome,
}

/// The outcome of installing one app of a variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppOutcome {
    /// Applied to the runtime now.
    Applied,
    /// The runtime already had it (an app an update replaced keeps its image).
    AlreadyInstalled,
    /// Its executable does not exist: build it first.
    NotBuilt {
        /// The missing executable.
        command: String,
    },
}

impl fmt::Display for AppInstall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenant = self.tenant.as_ref().map_or("none", Tenant::as_str);
        write!(f, "{} (tenant {tenant}): ", self.name)?;
        match &self.outcome {
            AppOutcome::Applied => f.write_str("applied"),
            AppOutcome::AlreadyInstalled => f.write_str("installed"),
            AppOutcome::NotBuilt { command } => write!(f, "not built ({command} missing)"),
        }
    }
}

/// The variants as a table: id, badge, model, year, hardware and tenants.
pub struct VariantTable<'a>(pub &'a [(PathBuf, Variant)]);

impl fmt::Display for VariantTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = |f: &mut fmt::Formatter<'_>, cells: [&str; 6]| {
            let [id, brand, model, year, hardware, tenants] = cells;
            writeln!(
                f,
                "{id:<24} {brand:<11} {model:<14} {year:<5} {hardware:<22} {tenants}"
            )
        };
        row(f, ["id", "brand", "model", "year", "hardware", "tenants"])?;
        for (_, v) in self.0 {
            let year = v.year.to_string();
            let tenants = names(&v.tenants_present());
            row(
                f,
                [
                    &v.id,
                    &v.brand,
                    &v.model,
                    &year,
                    &v.hardware_profile,
                    &tenants,
                ],
            )?;
        }
        Ok(())
    }
}

impl Variant {
    /// One line: badge, hardware, tenants and OTA channel.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} {} {} on {}; tenants {}; OTA channel {}",
            self.id,
            self.brand,
            self.model,
            self.year,
            self.hardware_profile,
            names(&self.tenants_present()),
            self.ota_channel
        )
    }

    /// Applies to `runtime` each app this variant ships that it does not run yet
    /// and whose executable exists, as its tenant's.
    pub async fn install_apps(
        &self,
        runtime: &tomoe_runtime::Runtime,
        variant_file: &Path,
    ) -> Result<Vec<AppInstall>, AllianceError> {
        let runtime_error = |error: tomoe_runtime::RuntimeError| AllianceError::Invalid {
            path: variant_file.to_owned(),
            problem: format!("cannot install its apps: {error}"),
        };
        let mut installs = Vec::new();
        for workload in self.workloads(variant_file)? {
            let (name, tenant) = (workload.name.clone(), workload.tenant.clone());
            let outcome = if runtime
                .workload_spec(&name)
                .await
                .map_err(runtime_error)?
                .is_some()
            {
                AppOutcome::AlreadyInstalled
            } else if workload.command.contains('/') && !Path::new(&workload.command).is_file() {
                AppOutcome::NotBuilt {
                    command: workload.command.clone(),
                }
            } else {
                let manifest = Manifest {
                    api_version: tomoe_runtime::manifest::API_VERSION.to_owned(),
                    kind: None,
                    workloads: vec![workload],
                };
                runtime.apply(manifest).await.map_err(runtime_error)?;
                AppOutcome::Applied
            };
            installs.push(AppInstall {
                name,
                tenant,
                outcome,
            });
        }
        Ok(installs)
    }

    /// Reads a variant file.
    pub fn read(path: &Path) -> Result<Variant, AllianceError> {
        let invalid = |problem: String| AllianceError::Invalid {
            path: path.to_owned(),
            problem,
        };
        let text = tomoe_vss::read_data_file(path).map_err(invalid)?;
        let variant: Variant = toml::from_str(&text).map_err(|error| invalid(error.to_string()))?;
        let stem = path.file_stem().and_then(|stem| stem.to_str());
        if stem != Some(variant.id.as_str()) {
            return Err(invalid(format!(
                "id \"{}\" must be the file's name (\"{}\")",
                variant.id,
                stem.unwrap_or_default()
            )));
        }
        Ok(variant)
    }

    /// Every variant in `dir` (`<dir>/<id>.toml`), sorted by id.
    pub fn list(dir: &Path) -> Result<Vec<(PathBuf, Variant)>, AllianceError> {
        let entries = std::fs::read_dir(dir).map_err(|error| AllianceError::Invalid {
            path: dir.to_owned(),
            problem: format!("cannot list variants: {error}"),
        })?;
        let mut variants = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let variant = Variant::read(&path)?;
                variants.push((path, variant));
            }
        }
        variants.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        Ok(variants)
    }

    /// The variant `name`: an id in `dir`, or a path to a variant file.
    pub fn find(name: &str, dir: &Path) -> Result<(PathBuf, Variant), AllianceError> {
        let as_path = PathBuf::from(name);
        if as_path.extension().is_some_and(|e| e == "toml") && as_path.is_file() {
            return Ok((as_path.clone(), Variant::read(&as_path)?));
        }
        let file = dir.join(format!("{name}.toml"));
        if file.is_file() {
            return Ok((file.clone(), Variant::read(&file)?));
        }
        let known = Variant::list(dir)
            .map(|all| {
                all.into_iter()
                    .map(|(_, variant)| variant.id)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        Err(AllianceError::UnknownVariant {
            id: name.to_owned(),
            dir: dir.to_owned(),
            known,
        })
    }

    /// The tenants present: the badge's brand, the hardware maker and the alliance.
    pub fn tenants_present(&self) -> BTreeSet<Tenant> {
        let alliance = Tenant::new(Tenant::ALLIANCE).expect("a valid name");
        [
            alliance,
            self.tenants.brand.clone(),
            self.tenants.maker.clone(),
        ]
        .into_iter()
        .collect()
    }

    /// The hardware profile, from `profiles`.
    pub fn load_profile(&self, profiles: &Path) -> Result<LoadedProfile, AllianceError> {
        let invalid = |problem: String| AllianceError::Invalid {
            path: profiles.join(&self.hardware_profile),
            problem,
        };
        let (dir, profile) = Profile::find(&self.hardware_profile, profiles)
            .map_err(|error| invalid(error.to_string()))?;
        LoadedProfile::load(&dir, profile).map_err(|error| invalid(error.to_string()))
    }

    /// The badge as a `.vspec` overlay: brand, model, year and the other
    /// attributes as defaults of existing VSS attributes.
    pub fn badge_overlay(&self) -> String {
        let mut nodes = serde_yaml::Mapping::new();
        let mut set = |path: &str, value: serde_yaml::Value| {
            let mut node = serde_yaml::Mapping::new();
            node.insert("default".into(), value);
            nodes.insert(path.into(), serde_yaml::Value::Mapping(node));
        };
        set(
            "Vehicle.VehicleIdentification.Brand",
            self.brand.clone().into(),
        );
        set(
            "Vehicle.VehicleIdentification.Model",
            self.model.clone().into(),
        );
        set(
            "Vehicle.VehicleIdentification.Year",
            u64::from(self.year).into(),
        );
        for (path, value) in &self.attributes {
            set(path, toml_to_yaml(value));
        }
        serde_yaml::to_string(&nodes).expect("a mapping serializes")
    }

    /// The catalog of this variant: the profile's, the alliance's private
    /// branches and the badge. Checks that every badge attribute is an existing
    /// attribute first (an overlay would otherwise create it).
    pub fn catalog(
        &self,
        profile: &LoadedProfile,
        alliance: &Alliance,
    ) -> Result<Catalog, AllianceError> {
        let (builder, unbadged) = self.unbadged(profile, alliance)?;
        if let Some(problem) = self.attribute_problems(&unbadged).into_iter().next() {
            return Err(AllianceError::Invalid {
                path: PathBuf::from(format!("variant {}", self.id)),
                problem: problem.to_string(),
            });
        }
        self.badge(builder)
    }

    /// The builder of the profile's catalog with the alliance's private branches
    /// (its files read once), and that catalog built.
    fn unbadged(
        &self,
        profile: &LoadedProfile,
        alliance: &Alliance,
    ) -> Result<(CatalogBuilder, Catalog), AllianceError> {
        let builder = profile
            .catalog_builder()
            .map_err(|error| AllianceError::Invalid {
                path: profile.dir.clone(),
                problem: error.to_string(),
            })?;
        let builder = alliance.add_overlays(builder)?;
        let catalog = builder
            .clone()
            .build()
            .map_err(|source| AllianceError::Overlay {
                origin: format!("hardware profile {}", self.hardware_profile),
                source,
            })?;
        Ok((builder, catalog))
    }

    /// `builder`'s catalog with the badge applied.
    fn badge(&self, builder: CatalogBuilder) -> Result<Catalog, AllianceError> {
        builder
            .vspec_str(&self.badge_overlay(), &format!("variant {}", self.id))
            .and_then(CatalogBuilder::build)
            .map_err(|source| AllianceError::Overlay {
                origin: format!("variant {}", self.id),
                source,
            })
    }

    fn attribute_problems(&self, catalog: &Catalog) -> Vec<VariantProblem> {
        let mut problems = Vec::new();
        let paths = [
            "Vehicle.VehicleIdentification.Brand",
            "Vehicle.VehicleIdentification.Model",
            "Vehicle.VehicleIdentification.Year",
        ];
        for path in paths
            .iter()
            .copied()
            .chain(self.attributes.keys().map(String::as_str))
        {
            let problem = match catalog.leaf(path) {
                None => "no such signal in the catalog".to_owned(),
                Some(leaf) if leaf.entry_type != EntryType::Attribute => format!(
                    "a badge sets attributes only, and this is a {}",
                    leaf.entry_type
                ),
                Some(_) => continue,
            };
            problems.push(VariantProblem {
                subject: format!("attribute {path}"),
                problem,
            });
        }
        problems
    }

    /// The workloads of the apps this variant ships, each of its app's tenant,
    /// with paths resolved relative to its manifest.
    pub fn workloads(&self, variant_file: &Path) -> Result<Vec<Workload>, AllianceError> {
        let mut workloads = Vec::new();
        for app in &self.apps {
            for workload in read_app(variant_file, app)? {
                workloads.push(workload);
            }
        }
        Ok(workloads)
    }

    /// Every problem of this variant: unknown tenants, a profile that does not
    /// load, a badge that does not apply, and apps of tenants not present, with
    /// unreadable manifests, or declaring paths that do not exist or lie in the
    /// private branch of a tenant other than their own. Empty when it is sound.
    pub fn check(
        &self,
        variant_file: &Path,
        alliance: &Alliance,
        profiles: &Path,
    ) -> Vec<VariantProblem> {
        let mut problems = Vec::new();
        let present = self.tenants_present();
        for tenant in &present {
            if alliance.tenant(tenant).is_none() {
                problems.push(VariantProblem {
                    subject: format!("tenant {tenant}"),
                    problem: format!("not declared in {}", alliance.file().display()),
                });
            }
        }
        let profile = match self.load_profile(profiles) {
            Ok(profile) => profile,
            Err(error) => {
                problems.push(VariantProblem {
                    subject: format!("hardware profile {}", self.hardware_profile),
                    problem: error.to_string(),
                });
                return problems;
            }
        };
        let (builder, catalog) = match self.unbadged(&profile, alliance) {
            Ok(built) => built,
            Err(error) => {
                problems.push(VariantProblem {
                    subject: "catalog".into(),
                    problem: error.to_string(),
                });
                return problems;
            }
        };
        let attribute_problems = self.attribute_problems(&catalog);
        if attribute_problems.is_empty() {
            if let Err(error) = self.badge(builder) {
                problems.push(VariantProblem {
                    subject: "badge".into(),
                    problem: error.to_string(),
                });
            }
        }
        problems.extend(attribute_problems);
        for app in &self.apps {
            let subject = format!("app {}", app.manifest.display());
            if !present.contains(&app.tenant) {
                problems.push(VariantProblem {
                    subject: subject.clone(),
                    problem: format!(
                        "its tenant {} is not present in this variant (present: {})",
                        app.tenant,
                        names(&present)
                    ),
                });
            }
            match read_app(variant_file, app) {
                Ok(workloads) => {
                    for workload in workloads {
                        problems.extend(path_problems(&workload, &catalog, alliance));
                    }
                }
                Err(error) => problems.push(VariantProblem {
                    subject,
                    problem: error.to_string(),
                }),
            }
        }
        problems
    }
}

fn names(tenants: &BTreeSet<Tenant>) -> String {
    tenants
        .iter()
        .map(Tenant::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The workloads of `app`'s manifest, each given the app's tenant; a workload
/// naming another tenant is refused.
fn read_app(variant_file: &Path, app: &VariantApp) -> Result<Vec<Workload>, AllianceError> {
    let base = variant_file.parent().unwrap_or(Path::new("."));
    let path = base.join(&app.manifest);
    let invalid = |problem: String| AllianceError::Invalid {
        path: path.clone(),
        problem,
    };
    let text = tomoe_vss::read_data_file(&path).map_err(invalid)?;
    let mut manifest = Manifest::parse(&text).map_err(|error| invalid(error.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    manifest.resolve_paths(&std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned()));
    let mut workloads = Vec::new();
    for mut workload in manifest.workloads {
        match &workload.tenant {
            Some(declared) if *declared != app.tenant => {
                return Err(invalid(format!(
                "workload {} declares tenant {declared}, but the variant ships it as tenant {}'s",
                workload.name, app.tenant
            )))
            }
            _ => workload.tenant = Some(app.tenant.clone()),
        }
        workloads.push(workload);
    }
    Ok(workloads)
}

/// The declared paths of `workload` that select nothing or reach into another
/// tenant's private branch.
fn path_problems(
    workload: &Workload,
    catalog: &Catalog,
    alliance: &Alliance,
) -> Vec<VariantProblem> {
    let mut problems = Vec::new();
    let subject = format!("app {}", workload.name);
    let access = &workload.access;
    let declared = [
        ("read", &access.read),
        ("actuate", &access.actuate),
        ("provide", &access.provide),
    ];
    for (action, patterns) in declared {
        for text in patterns.iter() {
            let pattern = match PathPattern::parse(text) {
                Ok(pattern) => pattern,
                Err(error) => {
                    problems.push(VariantProblem {
                        subject: subject.clone(),
                        problem: format!("{action} \"{text}\": {error}"),
                    });
                    continue;
                }
            };
            let mut selected = 0usize;
            let mut foreign: BTreeSet<&Tenant> = BTreeSet::new();
            for leaf in catalog.matching(&pattern) {
                selected += 1;
                if let Some(owner) = alliance.owner_of(&leaf.path) {
                    if workload.tenant.as_ref() != Some(owner) {
                        foreign.insert(owner);
                    }
                }
            }
            if selected == 0 {
                problems.push(VariantProblem {
                    subject: subject.clone(),
                    problem: format!(
                        "{action} \"{text}\" selects no signal of this variant's catalog"
                    ),
                });
            }
            for owner in foreign {
                problems.push(VariantProblem {
                    subject: subject.clone(),
                    problem: format!(
                        "{action} \"{text}\" reaches tenant {owner}'s private branch, but the app is {}",
                        workload
                            .tenant
                            .as_ref()
                            .map_or("of no tenant".to_owned(), |tenant| format!("tenant {tenant}'s"))
                    ),
                });
            }
        }
    }
    problems
}

fn toml_to_yaml(value: &toml::Value) -> serde_yaml::Value {
    match value {
        toml::Value::String(text) => text.clone().into(),
        toml::Value::Integer(number) => (*number).into(),
        toml::Value::Float(number) => (*number).into(),
        toml::Value::Boolean(flag) => (*flag).into(),
        toml::Value::Datetime(at) => at.to_string().into(),
        toml::Value::Array(items) => {
            serde_yaml::Value::Sequence(items.iter().map(toml_to_yaml).collect())
        }
        toml::Value::Table(table) => serde_yaml::Value::Mapping(
            table
                .iter()
                .map(|(key, value)| (key.clone().into(), toml_to_yaml(value)))
                .collect(),
        ),
    }
}
