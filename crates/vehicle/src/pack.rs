//! Battery pack swaps: a service operation registers a new traction battery by its
//! parts-catalog id. The pack is checked against the vehicle's platform with
//! [`tomoe_parts::check_fit`] (every reason is reported); a pack that fits is
//! recorded in the data directory's swap history ([`tomoe_store::PackHistory`]),
//! its attributes are published in VSS and the simulated vehicle drives on with
//! it. A refused pack changes nothing and records nothing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::watch;
use tomoe_broker::{Broker, Permissions};
use tomoe_parts::{BatteryPack, Catalog, PartKind, PartSpec, Reason, VehiclePlatform};
use tomoe_sim::BatteryParameters;
use tomoe_store::{PackHistory, PackSwap};
use tomoe_vss::{LeafId, Value};

use crate::LoadedProfile;

/// The state of charge a swapped-in pack arrives at when the request names none,
/// percent: a pack is shipped and stored part-charged.
pub const DEFAULT_SWAP_SOC_PERCENT: f64 = 50.0;

/// The VSS leaves describing the installed pack, in the order of [`attribute_values`].
const ATTRIBUTES: &[&str] = &[
    "Vehicle.Powertrain.TractionBattery.Id",
    "Vehicle.Powertrain.TractionBattery.GrossCapacity",
    "Vehicle.Powertrain.TractionBattery.NetCapacity",
    "Vehicle.Powertrain.TractionBattery.NominalVoltage",
    "Vehicle.Powertrain.TractionBattery.MaxVoltage",
];

/// Why a pack cannot be checked or swapped in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// The id names no part of the catalog.
    #[error("battery pack \"{pack}\" is not in the parts catalog {dir}")]
    UnknownPart {
        /// The id asked for (at most 64 characters of it).
        pack: String,
        /// The catalog directory.
        dir: String,
    },
    /// The id names a part of another kind.
    #[error("part \"{pack}\" of the parts catalog {dir} is a {kind}, not a battery pack")]
    NotAPack {
        /// The part id.
        pack: String,
        /// Its kind.
        kind: &'static str,
        /// The catalog directory.
        dir: String,
    },
    /// The state of charge asked for is not a percentage.
    #[error("soc must be a percentage from 0 to 100, not {0}")]
    Soc(f64),
    /// The pack does not fit; the verdict lists every check.
    #[error("battery pack \"{}\" does not fit vehicle {}: {}", .0.pack, .0.vehicle, .0.failed().join("; "))]
    Refused(Box<SwapVerdict>),
    /// The swap history records a pack the catalog does not have.
    #[error("{history} records battery pack \"{pack}\" in vehicle {vehicle}, which is not a battery pack of the parts catalog {dir}")]
    UnknownInstalled {
        /// The history file.
        history: String,
        /// The pack.
        pack: String,
        /// The vehicle.
        vehicle: String,
        /// The catalog directory.
        dir: String,
    },
    /// The simulator refuses the pack's figures.
    #[error("the simulator cannot run battery pack \"{pack}\": {reason}")]
    Simulator {
        /// The pack.
        pack: String,
        /// Why.
        reason: String,
    },
    /// The swap history cannot be read or written.
    #[error(transparent)]
    Store(#[from] tomoe_store::StoreError),
    /// The parts catalog cannot be read.
    #[error(transparent)]
    Parts(#[from] tomoe_parts::PartsError),
    /// The profile's platform section is invalid.
    #[error(transparent)]
    Profile(#[from] crate::ProfileError),
}

impl PackError {
    /// Whether the request was at fault (an unknown id, a part that is not a
    /// pack, a bad state of charge), not the platform.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            PackError::UnknownPart { .. } | PackError::NotAPack { .. } | PackError::Soc(_)
        )
    }
}

/// A pack checked against the vehicle: the fit verdict with every check, and the
/// swap record when it was swapped in.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SwapVerdict {
    /// The vehicle profile.
    pub vehicle: String,
    /// The pack installed before (the catalog id).
    pub installed: String,
    /// The pack checked.
    pub pack: String,
    /// True when no check failed.
    pub fits: bool,
    /// Every check of [`tomoe_parts::check_fit`], passed or failed.
    pub reasons: Vec<Reason>,
    /// The swap made (absent for a check only or a refused pack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<PackSwap>,
}

/// The verdict for people: `PACK in VEHICLE (installed: OLD): fits`, then every
/// check on its own line as `tomoe parts check` prints it.
impl std::fmt::Display for SwapVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fit = if self.fits { "fits" } else { "does not fit" };
        write!(
            f,
            "{} in {} (installed: {}): {fit}",
            self.pack, self.vehicle, self.installed
        )?;
        for reason in &self.reasons {
            write!(f, "\n  {reason}")?;
        }
        Ok(())
    }
}

impl SwapVerdict {
    /// The failed checks as `check: detail`.
    pub fn failed(&self) -> Vec<String> {
        self.reasons
            .iter()
            .filter(|r| r.outcome == tomoe_parts::Outcome::Fail)
            .map(|r| format!("{}: {}", r.check, r.detail))
            .collect()
    }
}

/// A pack for the simulated vehicle to carry from now on.
#[derive(Debug, Clone)]
pub struct PackChange {
    /// The pack's catalog id.
    pub id: String,
    /// The pack.
    pub pack: BatteryPack,
    /// Its state of charge, 0 to 1; `None` keeps the vehicle's (at start, when the
    /// recorded pack replaces the profile's).
    pub soc: Option<f64>,
}

/// Where the simulated vehicle learns of swapped packs.
#[derive(Debug, Clone)]
pub struct PackChanges(pub(crate) watch::Receiver<Option<PackChange>>);

/// The battery pack service of a running vehicle; cheap to clone.
#[derive(Debug, Clone)]
pub struct PackService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    vehicle: String,
    platform: VehiclePlatform,
    catalog: Catalog,
    parts_dir: PathBuf,
    history: PackHistory,
    broker: Option<Broker>,
    /// The pack installed now; the lock also serialises swaps.
    installed: Mutex<String>,
    changes: watch::Sender<Option<PackChange>>,
}

/// Overwrites the battery figures the parts catalog has for `pack`: cells,
/// capacity, usable energy, resistance, current limits (the cell chemistry's
/// voltage window and the thermal model stay as they are).
pub fn apply_pack(battery: &mut BatteryParameters, pack: &BatteryPack) {
    let nominal = pack.nominal_voltage.value();
    battery.cells_series = pack.cells.series;
    battery.cells_parallel = pack.cells.parallel;
    battery.cell_capacity_ah = pack.cells.capacity.value();
    battery.nominal_voltage_v = nominal;
    battery.usable_capacity_ah = pack.usable_energy.value() / nominal;
    battery.internal_resistance_ohm = pack.internal_resistance.value();
    battery.max_discharge_current_a = pack.max_discharge_current.value();
    battery.max_charge_current_a = pack.max_charge_current.value();
}

impl PackService {
    /// The service for `profile`, with the parts catalog in `parts_dir` and the
    /// swap history in `data_dir`; `None` for a profile without a `[platform]`
    /// section (nothing to check a pack against). The installed pack is the last
    /// one the history records for this profile, else the profile's own. With a
    /// `broker`, the installed pack's attributes are published at once, and again
    /// after every swap.
    pub fn open(
        profile: &LoadedProfile,
        parts_dir: &Path,
        data_dir: &Path,
        broker: Option<Broker>,
    ) -> Result<Option<PackService>, PackError> {
        let Some(platform) = profile.profile.platform_spec(&profile.dir)? else {
            return Ok(None);
        };
        let catalog = Catalog::load(parts_dir)?;
        let history = PackHistory::open(data_dir)?;
        let vehicle = profile.profile.id.clone();
        let recorded = history.installed(&vehicle)?;
        let change = match &recorded {
            Some(id) => match catalog.get(id).map(|p| &p.spec) {
                Some(PartSpec::BatteryPack(pack)) => Some(PackChange {
                    id: id.clone(),
                    pack: pack.clone(),
                    soc: None,
                }),
                _ => {
                    return Err(PackError::UnknownInstalled {
                        history: history.path().display().to_string(),
                        pack: id.clone(),
                        vehicle,
                        dir: parts_dir.display().to_string(),
                    })
                }
            },
            None => None,
        };
        let installed = recorded
            .or_else(|| platform.installed(PartKind::BatteryPack).map(str::to_owned))
            .unwrap_or_default();
        let (changes, _) = watch::channel(change);
        let service = PackService {
            inner: Arc::new(Inner {
                vehicle,
                platform,
                catalog,
                parts_dir: parts_dir.to_owned(),
                history,
                broker,
                installed: Mutex::new(installed.clone()),
                changes,
            }),
        };
        if let Some(PartSpec::BatteryPack(pack)) =
            service.inner.catalog.get(&installed).map(|p| &p.spec)
        {
            service.publish(&installed, pack);
        }
        Ok(Some(service))
    }

    /// The vehicle profile's id.
    pub fn vehicle(&self) -> &str {
        &self.inner.vehicle
    }

    /// The catalog id of the pack installed now.
    pub fn installed(&self) -> String {
        self.inner.installed()
    }

    /// Where the simulated vehicle learns of swaps ([`crate::VehicleInput::with_packs`]).
    pub fn changes(&self) -> PackChanges {
        PackChanges(self.inner.changes.subscribe())
    }

    /// The swaps made on this vehicle, oldest first.
    pub fn history(&self) -> Result<Vec<PackSwap>, PackError> {
        Ok(self.inner.history.of_vehicle(&self.inner.vehicle)?)
    }

    /// Checks `pack` against the vehicle's platform without changing anything.
    pub fn check(&self, pack: &str) -> Result<SwapVerdict, PackError> {
        let installed = self.installed();
        self.verdict(pack, installed).map(|(verdict, _)| verdict)
    }

    fn verdict(
        &self,
        id: &str,
        installed: String,
    ) -> Result<(SwapVerdict, &BatteryPack), PackError> {
        let dir = self.inner.parts_dir.display().to_string();
        let shown: String = id.chars().take(64).collect();
        let part = self
            .inner
            .catalog
            .get(id)
            .ok_or_else(|| PackError::UnknownPart {
                pack: shown.clone(),
                dir: dir.clone(),
            })?;
        let PartSpec::BatteryPack(pack) = &part.spec else {
            return Err(PackError::NotAPack {
                pack: shown,
                kind: part.kind().as_str(),
                dir,
            });
        };
        let report = tomoe_parts::check_fit(&self.inner.platform, part);
        Ok((
            SwapVerdict {
                vehicle: self.inner.vehicle.clone(),
                installed,
                pack: part.id.clone(),
                fits: report.fits,
                reasons: report.reasons,
                swap: None,
            },
            pack,
        ))
    }

    /// Swaps `pack` in, arriving at `soc_percent` (default
    /// [`DEFAULT_SWAP_SOC_PERCENT`]), asked for by `who`: when it fits, the swap is
    /// recorded (on disk when this returns), the pack's attributes are published
    /// and the simulated vehicle carries it from its next step. A pack that does
    /// not fit is [`PackError::Refused`] with every reason, and changes nothing.
    pub fn swap(
        &self,
        pack: &str,
        soc_percent: Option<f64>,
        who: &str,
    ) -> Result<SwapVerdict, PackError> {
        let soc_percent = soc_percent.unwrap_or(DEFAULT_SWAP_SOC_PERCENT);
        if !(0.0..=100.0).contains(&soc_percent) {
            return Err(PackError::Soc(soc_percent));
        }
        let mut installed = self
            .inner
            .installed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (mut verdict, battery) = self.verdict(pack, installed.clone())?;
        if !verdict.fits {
            return Err(PackError::Refused(Box::new(verdict)));
        }
        // The simulator must accept the pack's figures before anything is recorded.
        let mut parameters = crate::parameters_for(&self.inner.vehicle).battery;
        apply_pack(&mut parameters, battery);
        let mut check = crate::parameters_for(&self.inner.vehicle);
        check.battery = parameters;
        check.validate().map_err(|e| PackError::Simulator {
            pack: verdict.pack.clone(),
            reason: e.to_string(),
        })?;
        let record = PackSwap {
            time_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64,
            vehicle: self.inner.vehicle.clone(),
            old_pack: installed.clone(),
            new_pack: verdict.pack.clone(),
            who: who.to_owned(),
            soc_percent,
        };
        self.inner.history.record(&record)?;
        installed.clone_from(&verdict.pack);
        self.publish(&verdict.pack, battery);
        self.inner.changes.send_replace(Some(PackChange {
            id: verdict.pack.clone(),
            pack: battery.clone(),
            soc: Some(soc_percent / 100.0),
        }));
        verdict.swap = Some(record);
        Ok(verdict)
    }

    /// Publishes the attributes of `pack` (catalog id `id`) that the broker's
    /// catalog has; refusals are logged.
    fn publish(&self, id: &str, pack: &BatteryPack) {
        let Some(broker) = &self.inner.broker else {
            return;
        };
        let values = attribute_values(broker.catalog(), id, pack);
        if let Err(error) = broker.publish(&Permissions::allow_all(), &values) {
            tracing::warn!(%error, pack = id, "cannot publish the battery pack's attributes");
        }
    }
}

impl Inner {
    fn installed(&self) -> String {
        self.installed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The VSS values describing `pack`: its id, gross and usable energy (kWh),
/// nominal and maximum voltage (V), for the leaves `catalog` has.
pub fn attribute_values(
    catalog: &tomoe_vss::Catalog,
    id: &str,
    pack: &BatteryPack,
) -> Vec<(LeafId, Option<Value>)> {
    let figures = [
        serde_json::json!(id),
        serde_json::json!((pack.gross_energy.value() / 1000.0).round() as u64),
        serde_json::json!((pack.usable_energy.value() / 1000.0).round() as u64),
        serde_json::json!(pack.nominal_voltage.value().round() as u64),
        serde_json::json!(pack.voltage.max.value().round() as u64),
    ];
    ATTRIBUTES
        .iter()
        .zip(figures)
        .filter_map(|(path, figure)| {
            let leaf = catalog.leaf(path)?;
            let value = Value::from_json(&figure, leaf.datatype).ok()?;
            Some((leaf.id, Some(value)))
        })
        .collect()
}
