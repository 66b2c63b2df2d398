//! Parts: battery packs, e-axles and chargers, read from `parts/*.toml`.
//!
//! This module holds what every part has (id, name, sources, notes, a kind) and the
//! figures kinds share (envelope, mounting, voltage range); each kind's figures and
//! their consistency checks live in a submodule: [`battery`], [`e_axle`],
//! [`charger`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Serialize;
use toml::Table;

use crate::error::PartsError;
use crate::quantity::{format_number, Length, Quantity, Voltage};
use crate::reader::{choice_enum, join, Reader};

mod battery;
mod charger;
mod e_axle;

pub use battery::{BatteryPack, CellArrangement, Chemistry, Cooling, TemperatureRange};
pub(crate) use charger::check_connectors;
pub use charger::{ChargeConnector, Charger};
pub use e_axle::{Axle, EAxle, EfficiencyPoint, MotorType};

use battery::{read_battery, BATTERY_KEYS};
use charger::{read_charger, CHARGER_KEYS};
use e_axle::{read_e_axle, E_AXLE_KEYS};

choice_enum!(
    /// What a part is.
    PartKind, "part kind" {
        /// A traction battery pack.
        BatteryPack = "battery-pack" | "battery",
        /// A drive unit: motor, inverter and reduction gear.
        EAxle = "e-axle" | "eaxle",
        /// The charging equipment: on-board charger and the standards of its inlet.
        Charger = "charger",
    }
);

/// Length, width and height of a box: a pack's outside or a bay's free space. Length
/// runs along the vehicle, width across it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Envelope {
    /// Along the vehicle.
    pub length: Quantity<Length>,
    /// Across the vehicle.
    pub width: Quantity<Length>,
    /// Vertical.
    pub height: Quantity<Length>,
}

impl fmt::Display for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mm = |q: Quantity<Length>| format_number(q.in_unit("mm").unwrap_or(q.value()));
        write!(
            f,
            "{} x {} x {} mm",
            mm(self.length),
            mm(self.width),
            mm(self.height)
        )
    }
}

/// A named bolt pattern and its bolt count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mounting {
    /// The pattern's id, for example `nissan-leaf-ze`.
    pub pattern: String,
    /// How many bolts it has.
    pub bolts: u32,
}

impl fmt::Display for Mounting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} bolts)", self.pattern, self.bolts)
    }
}

/// A closed voltage interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VoltageRange {
    /// The lowest voltage.
    pub min: Quantity<Voltage>,
    /// The highest voltage.
    pub max: Quantity<Voltage>,
}

impl VoltageRange {
    /// Whether `other` lies wholly within this range.
    pub fn contains(&self, other: &VoltageRange) -> bool {
        self.min <= other.min && other.max <= self.max
    }
}

impl fmt::Display for VoltageRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}..{} V",
            format_number(self.min.value()),
            format_number(self.max.value())
        )
    }
}

/// What a part is, with its kind's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PartSpec {
    /// A traction battery pack.
    BatteryPack(BatteryPack),
    /// A drive unit.
    EAxle(EAxle),
    /// Charging equipment.
    Charger(Charger),
}

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Part {
    /// The id, equal to the file name without `.toml`.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Who makes it.
    pub manufacturer: String,
    /// Where the figures come from (URLs or document names).
    pub sources: Vec<String>,
    /// Whether some figures are estimates (then `notes` say which and how).
    pub estimated: bool,
    /// Notes by field: what is estimated, and how.
    pub notes: BTreeMap<String, String>,
    /// The kind and its figures (flattened into the part in JSON, with a `kind` field).
    #[serde(flatten)]
    pub spec: PartSpec,
}

const COMMON_KEYS: &[&str] = &[
    "id",
    "kind",
    "name",
    "manufacturer",
    "source",
    "estimated",
    "notes",
];

impl Part {
    /// The part's kind.
    pub fn kind(&self) -> PartKind {
        match self.spec {
            PartSpec::BatteryPack(_) => PartKind::BatteryPack,
            PartSpec::EAxle(_) => PartKind::EAxle,
            PartSpec::Charger(_) => PartKind::Charger,
        }
    }

    /// Reads one part file; its `id` must equal the file name without `.toml`.
    pub fn read(path: &Path) -> Result<Part, PartsError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PartsError::Read {
            path: origin.clone(),
            source,
        })?;
        let table: Table = toml::from_str(&text).map_err(|e| PartsError::Syntax {
            path: origin.clone(),
            message: e.to_string().trim().to_owned(),
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let part = Part::from_table(&table, &origin);
        match part {
            Ok(part) if part.id != stem => Err(PartsError::Invalid {
                path: origin,
                problems: vec![crate::error::Problem {
                    field: "id".into(),
                    reason: format!("\"{}\" must equal the file name \"{stem}\"", part.id),
                }],
            }),
            other => other,
        }
    }

    /// Reads a part from a parsed TOML table; `origin` names the file in errors.
    pub fn from_table(table: &Table, origin: &str) -> Result<Part, PartsError> {
        let mut reader = Reader::new();
        let id = reader.string(table, "", "id");
        if let Some(id) = &id {
            check_id(&mut reader, "id", id);
        }
        let kind = reader.choice::<PartKind>(table, "", "kind");
        let name = reader.string(table, "", "name");
        let manufacturer = reader.string(table, "", "manufacturer");
        let sources = reader.strings(table, "", "source");
        let estimated = reader.boolean(table, "", "estimated", false);
        let notes = reader.notes(table, "", "notes");
        if estimated && notes.is_empty() {
            reader.problem(
                "notes",
                "estimated = true needs a [notes] table saying what is estimated and how",
            );
        }
        let spec = match kind {
            Some(PartKind::BatteryPack) => {
                reader.known_keys(table, "", &[COMMON_KEYS, BATTERY_KEYS].concat());
                read_battery(&mut reader, table).map(PartSpec::BatteryPack)
            }
            Some(PartKind::EAxle) => {
                reader.known_keys(table, "", &[COMMON_KEYS, E_AXLE_KEYS].concat());
                read_e_axle(&mut reader, table).map(PartSpec::EAxle)
            }
            Some(PartKind::Charger) => {
                reader.known_keys(table, "", &[COMMON_KEYS, CHARGER_KEYS].concat());
                read_charger(&mut reader, table).map(PartSpec::Charger)
            }
            None => None,
        };
        let (Some(id), Some(name), Some(manufacturer), Some(sources), Some(spec), false) =
            (id, name, manufacturer, sources, spec, reader.has_problems())
        else {
            return Err(PartsError::Invalid {
                path: origin.to_owned(),
                problems: reader.into_problems(),
            });
        };
        Ok(Part {
            id,
            name,
            manufacturer,
            sources,
            estimated,
            notes,
            spec,
        })
    }

    /// A one-line summary of the key figures, for listings.
    pub fn summary(&self) -> String {
        match &self.spec {
            PartSpec::BatteryPack(pack) => format!(
                "{}s{}p {}, {} nominal ({}), {} usable, {} discharge, {}, {}, {}",
                pack.cells.series,
                pack.cells.parallel,
                pack.chemistry,
                pack.nominal_voltage,
                pack.voltage,
                pack.usable_energy,
                pack.max_discharge_power,
                pack.cooling,
                pack.mass,
                pack.envelope
            ),
            PartSpec::EAxle(axle) => format!(
                "{}, {} / {} peak, {} max, ratio {}, {} axle, inverter {}",
                axle.motor_type,
                axle.peak_power,
                axle.peak_torque,
                axle.max_speed,
                format_number(axle.gear_ratio),
                axle.driven_axle,
                axle.inverter_voltage
            ),
            PartSpec::Charger(charger) => {
                let dc = match (charger.dc_power, charger.dc_connector) {
                    (Some(power), Some(connector)) => format!("DC {power} {connector}"),
                    _ => "no DC".to_owned(),
                };
                format!("AC {} {}, {dc}", charger.ac_power, charger.ac_connector)
            }
        }
    }
}

/// Ids are lowercase words of letters and digits joined by dashes.
pub(crate) fn check_id(reader: &mut Reader, field: &str, id: &str) {
    let valid = !id.is_empty()
        && !id.starts_with('-')
        && !id.ends_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        reader.problem(
            field,
            format!("\"{id}\" is not an id: use lowercase letters, digits and dashes"),
        );
    }
}

pub(crate) fn read_envelope(reader: &mut Reader, table: &Table, at: &str) -> Option<Envelope> {
    let length = reader.positive::<Length>(table, at, "length");
    let width = reader.positive::<Length>(table, at, "width");
    let height = reader.positive::<Length>(table, at, "height");
    Some(Envelope {
        length: length?,
        width: width?,
        height: height?,
    })
}

pub(crate) fn read_mounting(
    reader: &mut Reader,
    table: &Table,
    at: &str,
    key: &str,
) -> Option<Mounting> {
    let inner = reader.table(table, at, key)?;
    let at = join(at, key);
    reader.known_keys(inner, &at, &["pattern", "bolts"]);
    let pattern = reader.string(inner, &at, "pattern");
    if let Some(pattern) = &pattern {
        check_id(reader, &join(&at, "pattern"), pattern);
    }
    let bolts = reader.count(inner, &at, "bolts");
    Some(Mounting {
        pattern: pattern?,
        bolts: bolts?,
    })
}

/// Reads `min_voltage` and `max_voltage` of `table` and checks that min < max.
pub(crate) fn read_voltage_range(
    reader: &mut Reader,
    table: &Table,
    at: &str,
) -> Option<VoltageRange> {
    let min = reader.positive::<Voltage>(table, at, "min_voltage");
    let max = reader.positive::<Voltage>(table, at, "max_voltage");
    let (min, max) = (min?, max?);
    if min >= max {
        reader.problem(
            join(at, "min_voltage"),
            format!("{min} is not below max_voltage {max}"),
        );
        return None;
    }
    Some(VoltageRange { min, max })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid battery pack file; tests replace lines of it.
    pub(crate) const PACK: &str = r#"
id = "test-pack"
kind = "battery-pack"
name = "Test pack"
manufacturer = "Test"
source = "unit test"
chemistry = "NMC"
nominal_voltage = "350 V"
min_voltage = "240 V"
max_voltage = "403 V"
usable_energy = "39 kWh"
gross_energy = "40 kWh"
max_charge_power = "50 kW"
max_discharge_power = "110 kW"
max_charge_current = "125 A"
max_discharge_current = "400 A"
internal_resistance = "90 mOhm"
cooling = "air-passive"
mass = "303 kg"
hv_connector = "test-hv"
bms_protocol = "test-bms"
mounting = { pattern = "test-pattern", bolts = 8 }

[cells]
series = 96
parallel = 2
nominal_voltage = "3.65 V"
capacity = "56.3 Ah"

[thermal]
min_operating = "-25 degC"
max_operating = "60 degC"

[envelope]
length = "1570 mm"
width = "1188 mm"
height = "265 mm"
"#;

    pub(crate) fn parse(text: &str) -> Result<Part, PartsError> {
        Part::from_table(&toml::from_str(text).unwrap(), "parts/test-pack.toml")
    }

    pub(crate) fn problems(text: &str) -> Vec<String> {
        parse(text)
            .unwrap_err()
            .problems()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    pub(crate) fn replace(line: &str, with: &str) -> String {
        assert!(PACK.contains(line), "{line}");
        PACK.replacen(line, with, 1)
    }

    #[test]
    fn a_wrong_unit_names_file_field_and_reason() {
        let error = parse(&replace(
            "nominal_voltage = \"350 V\"",
            "nominal_voltage = \"360 kg\"",
        ))
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "parts/test-pack.toml: nominal_voltage: \"kg\" is a unit of mass, not of voltage (use V, mV, kV)"
        );
    }

    #[test]
    fn unknown_fields_and_unexplained_estimates_are_refused() {
        let text = replace(
            "mass = \"303 kg\"",
            "mass = \"303 kg\"\nweight = \"303 kg\"\nestimated = true",
        );
        let found = problems(&text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            found[0],
            "notes: estimated = true needs a [notes] table saying what is estimated and how"
        );
        assert!(found[1].starts_with("weight: unknown field"), "{found:?}");
    }
}
