//! Vehicle platform specifications: the `[platform]` section of a vehicle profile.

use std::collections::BTreeMap;

use serde::Serialize;
use toml::Table;

use crate::error::PartsError;
use crate::part::{
    check_connectors, check_id, read_envelope, read_mounting, read_voltage_range, Axle,
    ChargeConnector, Cooling, Envelope, Mounting, VoltageRange,
};
use crate::quantity::{format_number, Area, Length, Mass, Power, Quantity};
use crate::reader::{choice_enum, join, Reader};

choice_enum!(
    /// What moves the vehicle.
    Powertrain, "powertrain" {
        /// A battery-electric vehicle: traction battery, e-axle(s), charge inlet.
        BatteryElectric = "battery-electric",
        /// A combustion-engine vehicle: no traction battery, nothing electric to fit.
        Combustion = "combustion",
    }
);

/// The parts a vehicle leaves the factory with, by catalog id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InstalledParts {
    /// The traction battery pack.
    pub battery_pack: Option<String>,
    /// The e-axle.
    pub e_axle: Option<String>,
    /// The charging equipment.
    pub charger: Option<String>,
}

/// The space and interfaces a vehicle offers a traction battery pack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatteryBay {
    /// The largest pack that fits, as length (along the vehicle), width and height.
    pub envelope: Envelope,
    /// The bolt pattern of the bay.
    pub mounting: Mounting,
    /// The vehicle-side high-voltage connector.
    pub hv_connector: String,
    /// The BMS CAN protocol the vehicle expects.
    pub bms_protocol: String,
    /// The cooling interfaces the bay offers (empty: none, only passive packs fit).
    pub cooling: Vec<Cooling>,
}

/// The high-voltage drivetrain: DC bus, power and the e-axle's place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drivetrain {
    /// The DC bus voltages the vehicle's inverter and high-voltage loads accept.
    pub voltage: VoltageRange,
    /// The peak power the drivetrain draws from the battery.
    pub peak_power: Quantity<Power>,
    /// The peak power the installed battery delivers to the drivetrain.
    pub battery_power: Quantity<Power>,
    /// The driven axle.
    pub driven_axle: Axle,
    /// The bolt pattern of the drive unit mounts.
    pub mounting: Mounting,
}

/// The vehicle's charge inlet.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChargeInlet {
    /// The AC standard.
    pub ac: ChargeConnector,
    /// The DC standard, if the vehicle charges on DC.
    pub dc: Option<ChargeConnector>,
}

/// Everything a battery-electric vehicle offers its high-voltage parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElectricSystems {
    /// Where the pack goes.
    pub battery_bay: BatteryBay,
    /// The DC bus and the e-axle's place.
    pub drivetrain: Drivetrain,
    /// The charge inlet.
    pub charge_inlet: ChargeInlet,
}

/// What the simulator needs to move the vehicle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Physics {
    /// Mass ready to drive, without occupants.
    pub curb_mass: Quantity<Mass>,
    /// Aerodynamic drag coefficient Cd.
    pub drag_coefficient: f64,
    /// Frontal area A (drag force is 0.5 rho Cd A v^2).
    pub frontal_area: Quantity<Area>,
    /// Rolling resistance coefficient Crr (force is Crr m g).
    pub rolling_resistance: f64,
    /// Dynamic rolling radius of the driven wheels (about 97 % of the unloaded radius).
    pub wheel_radius: Quantity<Length>,
    /// Where the figures come from.
    pub sources: Vec<String>,
}

/// A vehicle's platform specification, read from the `[platform]` table of its profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VehiclePlatform {
    /// The powertrain.
    pub powertrain: Powertrain,
    /// The market the figures describe (`EU`, `US`), when given.
    pub market: Option<String>,
    /// Where the figures come from.
    pub sources: Vec<String>,
    /// Whether some figures are estimates (then `notes` say which and how).
    pub estimated: bool,
    /// Notes by field.
    pub notes: BTreeMap<String, String>,
    /// The parts it is built with.
    pub installed: InstalledParts,
    /// Battery bay, drivetrain and charge inlet; `None` for a combustion vehicle.
    pub electric: Option<ElectricSystems>,
    /// Vehicle physics.
    pub physics: Physics,
}

const PLATFORM_KEYS: &[&str] = &[
    "powertrain",
    "market",
    "source",
    "estimated",
    "notes",
    "installed",
    "battery_bay",
    "drivetrain",
    "charge_inlet",
    "physics",
];
const ELECTRIC_ONLY: &[&str] = &["installed", "battery_bay", "drivetrain", "charge_inlet"];

impl VehiclePlatform {
    /// Reads the `[platform]` table of a profile; `origin` names the profile file in
    /// errors, whose fields are written `platform.<field>`. Every problem is reported.
    pub fn from_table(table: &Table, origin: &str) -> Result<VehiclePlatform, PartsError> {
        let at = "platform";
        let mut reader = Reader::new();
        reader.known_keys(table, at, PLATFORM_KEYS);
        let powertrain = reader.choice::<Powertrain>(table, at, "powertrain");
        let market = reader.optional_string(table, at, "market");
        let sources = reader.strings(table, at, "source");
        let estimated = reader.boolean(table, at, "estimated", false);
        let notes = reader.notes(table, at, "notes");
        if estimated && notes.is_empty() {
            reader.problem(
                join(at, "notes"),
                "estimated = true needs a [platform.notes] table saying what is estimated and how",
            );
        }
        let physics = read_physics(&mut reader, table, at);
        let mut installed = InstalledParts::default();
        let electric = match powertrain {
            Some(Powertrain::BatteryElectric) => {
                installed = read_installed(&mut reader, table, at);
                read_electric(&mut reader, table, at)
            }
            Some(Powertrain::Combustion) => {
                for key in ELECTRIC_ONLY {
                    if table.contains_key(*key) {
                        reader.problem(
                            join(at, key),
                            "a combustion vehicle has no high-voltage parts to describe",
                        );
                    }
                }
                None
            }
            None => None,
        };
        let (Some(powertrain), Some(sources), Some(physics), false) =
            (powertrain, sources, physics, reader.has_problems())
        else {
            return Err(PartsError::Invalid {
                path: origin.to_owned(),
                problems: reader.into_problems(),
            });
        };
        Ok(VehiclePlatform {
            powertrain,
            market,
            sources,
            estimated,
            notes,
            installed,
            electric,
            physics,
        })
    }

    /// The installed part id of `kind`, if any.
    pub fn installed(&self, kind: crate::PartKind) -> Option<&str> {
        match kind {
            crate::PartKind::BatteryPack => self.installed.battery_pack.as_deref(),
            crate::PartKind::EAxle => self.installed.e_axle.as_deref(),
            crate::PartKind::Charger => self.installed.charger.as_deref(),
        }
    }
}

fn read_installed(reader: &mut Reader, table: &Table, at: &str) -> InstalledParts {
    let mut installed = InstalledParts::default();
    let Some(inner) = reader.optional_table(table, at, "installed") else {
        return installed;
    };
    let at = join(at, "installed");
    reader.known_keys(inner, &at, &["battery_pack", "e_axle", "charger"]);
    for (key, slot) in [
        ("battery_pack", &mut installed.battery_pack),
        ("e_axle", &mut installed.e_axle),
        ("charger", &mut installed.charger),
    ] {
        *slot = reader.optional_string(inner, &at, key);
        if let Some(id) = slot.as_deref() {
            check_id(reader, &join(&at, key), id);
        }
    }
    installed
}

fn read_electric(reader: &mut Reader, table: &Table, at: &str) -> Option<ElectricSystems> {
    let battery_bay = reader.table(table, at, "battery_bay").and_then(|inner| {
        let at = join(at, "battery_bay");
        reader.known_keys(
            inner,
            &at,
            &[
                "length",
                "width",
                "height",
                "mounting",
                "hv_connector",
                "bms_protocol",
                "cooling",
            ],
        );
        let envelope = read_envelope(reader, inner, &at);
        let mounting = read_mounting(reader, inner, &at, "mounting");
        let hv_connector = reader.string(inner, &at, "hv_connector");
        let bms_protocol = reader.string(inner, &at, "bms_protocol");
        let cooling = reader.choices::<Cooling>(inner, &at, "cooling");
        Some(BatteryBay {
            envelope: envelope?,
            mounting: mounting?,
            hv_connector: hv_connector?,
            bms_protocol: bms_protocol?,
            cooling: cooling?,
        })
    });
    let drivetrain = reader.table(table, at, "drivetrain").and_then(|inner| {
        let at = join(at, "drivetrain");
        reader.known_keys(
            inner,
            &at,
            &[
                "min_voltage",
                "max_voltage",
                "peak_power",
                "battery_power",
                "driven_axle",
                "mounting",
            ],
        );
        let voltage = read_voltage_range(reader, inner, &at);
        let peak_power = reader.positive::<Power>(inner, &at, "peak_power");
        let battery_power = reader.positive::<Power>(inner, &at, "battery_power");
        let driven_axle = reader.choice::<Axle>(inner, &at, "driven_axle");
        let mounting = read_mounting(reader, inner, &at, "mounting");
        if let (Some(demand), Some(supply)) = (peak_power, battery_power) {
            if supply < demand {
                reader.problem(
                    join(&at, "battery_power"),
                    format!(
                        "{supply} is below peak_power {demand}: the installed battery cannot feed the drivetrain"
                    ),
                );
            }
        }
        Some(Drivetrain {
            voltage: voltage?,
            peak_power: peak_power?,
            battery_power: battery_power?,
            driven_axle: driven_axle?,
            mounting: mounting?,
        })
    });
    let charge_inlet = reader.table(table, at, "charge_inlet").and_then(|inner| {
        let at = join(at, "charge_inlet");
        reader.known_keys(inner, &at, &["ac", "dc"]);
        let ac = reader.choice::<ChargeConnector>(inner, &at, "ac");
        let dc = reader.optional_choice::<ChargeConnector>(inner, &at, "dc");
        check_connectors(reader, &at, ("ac", ac), ("dc", dc));
        Some(ChargeInlet { ac: ac?, dc })
    });
    Some(ElectricSystems {
        battery_bay: battery_bay?,
        drivetrain: drivetrain?,
        charge_inlet: charge_inlet?,
    })
}

fn read_physics(reader: &mut Reader, table: &Table, at: &str) -> Option<Physics> {
    let inner = reader.table(table, at, "physics")?;
    let at = join(at, "physics");
    reader.known_keys(
        inner,
        &at,
        &[
            "curb_mass",
            "drag_coefficient",
            "frontal_area",
            "rolling_resistance",
            "wheel_radius",
            "source",
        ],
    );
    let curb_mass = reader.positive::<Mass>(inner, &at, "curb_mass");
    let drag_coefficient = bounded(reader, inner, &at, "drag_coefficient", 0.05..=1.5);
    let frontal_area = reader.positive::<Area>(inner, &at, "frontal_area");
    let rolling_resistance = bounded(reader, inner, &at, "rolling_resistance", 0.001..=0.1);
    let wheel_radius = reader.positive::<Length>(inner, &at, "wheel_radius");
    let sources = reader.strings(inner, &at, "source");
    if let Some(area) = frontal_area {
        if area.value() > 15.0 {
            reader.problem(
                join(&at, "frontal_area"),
                format!("{area} is not a road vehicle's frontal area"),
            );
        }
    }
    if let Some(radius) = wheel_radius {
        if !(0.1..=1.0).contains(&radius.value()) {
            reader.problem(
                join(&at, "wheel_radius"),
                format!("{radius} is not a road wheel's radius (100..1000 mm)"),
            );
        }
    }
    Some(Physics {
        curb_mass: curb_mass?,
        drag_coefficient: drag_coefficient?,
        frontal_area: frontal_area?,
        rolling_resistance: rolling_resistance?,
        wheel_radius: wheel_radius?,
        sources: sources?,
    })
}

fn bounded(
    reader: &mut Reader,
    table: &Table,
    at: &str,
    key: &str,
    range: std::ops::RangeInclusive<f64>,
) -> Option<f64> {
    let value = reader.number(table, at, key)?;
    if range.contains(&value) {
        Some(value)
    } else {
        reader.problem(
            join(at, key),
            format!(
                "{} is outside {}..{}",
                format_number(value),
                format_number(*range.start()),
                format_number(*range.end())
            ),
        );
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid battery-electric platform; tests replace lines of it.
    pub(crate) const PLATFORM: &str = r#"
powertrain = "battery-electric"
market = "EU"
source = "unit test"

[installed]
battery_pack = "test-pack"

[battery_bay]
length = "1570 mm"
width = "1188 mm"
height = "265 mm"
mounting = { pattern = "test-pattern", bolts = 8 }
hv_connector = "test-hv"
bms_protocol = "test-bms"
cooling = []

[drivetrain]
min_voltage = "240 V"
max_voltage = "405 V"
peak_power = "110 kW"
battery_power = "110 kW"
driven_axle = "front"
mounting = { pattern = "test-drive", bolts = 3 }

[charge_inlet]
ac = "Type2"
dc = "CHAdeMO"

[physics]
curb_mass = "1580 kg"
drag_coefficient = 0.28
frontal_area = "2.28 m^2"
rolling_resistance = 0.01
wheel_radius = "323 mm"
source = "unit test"
"#;

    pub(crate) fn platform(text: &str) -> Result<VehiclePlatform, PartsError> {
        VehiclePlatform::from_table(&toml::from_str(text).unwrap(), "profiles/test/profile.toml")
    }

    fn problems(text: &str) -> Vec<String> {
        platform(text)
            .unwrap_err()
            .problems()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_battery_electric_platform_is_read() {
        let platform = platform(PLATFORM).unwrap();
        let electric = platform.electric.as_ref().unwrap();
        assert_eq!(electric.drivetrain.voltage.max.value(), 405.0);
        assert_eq!(electric.charge_inlet.dc, Some(ChargeConnector::Chademo));
        assert!(electric.battery_bay.cooling.is_empty());
        assert_eq!(platform.physics.wheel_radius.value(), 0.323);
        assert_eq!(
            platform.installed(crate::PartKind::BatteryPack),
            Some("test-pack")
        );
    }

    #[test]
    fn a_combustion_platform_has_physics_only() {
        let text = "powertrain = \"combustion\"\nsource = \"x\"\n[physics]\ncurb_mass = \"1550 kg\"\ndrag_coefficient = 0.33\nfrontal_area = \"2.6 m^2\"\nrolling_resistance = 0.01\nwheel_radius = \"362 mm\"\nsource = \"x\"\n";
        let platform = platform(text).unwrap();
        assert!(platform.electric.is_none());
        let with_bay = format!("{text}[battery_bay]\n");
        assert_eq!(
            problems(&with_bay),
            ["platform.battery_bay: a combustion vehicle has no high-voltage parts to describe"]
        );
    }

    #[test]
    fn every_problem_of_a_platform_names_its_field() {
        let text = PLATFORM
            .replace("max_voltage = \"405 V\"", "max_voltage = \"405 kW\"")
            .replace("battery_power = \"110 kW\"", "battery_power = \"100 kW\"")
            .replace("dc = \"CHAdeMO\"", "dc = \"CCS1\"")
            .replace("drag_coefficient = 0.28", "drag_coefficient = \"0.28\"")
            .replace("wheel_radius = \"323 mm\"", "wheel_radius = \"3 m\"");
        assert_eq!(
            problems(&text),
            [
                "platform.physics.drag_coefficient: expected a number without unit, found the string \"0.28\"",
                "platform.physics.wheel_radius: 3000 mm is not a road wheel's radius (100..1000 mm)",
                "platform.drivetrain.max_voltage: \"kW\" is a unit of power, not of voltage (use V, mV, kV)",
                "platform.drivetrain.battery_power: 100 kW is below peak_power 110 kW: the installed battery cannot feed the drivetrain",
                "platform.charge_inlet.dc: CCS1 does not go with the AC standard Type2 on one vehicle",
            ]
        );
    }
}
