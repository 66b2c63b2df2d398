//! Parts: battery packs, e-axles and chargers, read from `parts/*.toml`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Serialize;
use toml::Table;

use crate::error::PartsError;
use crate::quantity::{
    format_number, AngularSpeed, Charge, Current, Energy, Length, Mass, Power, Quantity, Ratio,
    Resistance, Temperature, Torque, Voltage,
};
use crate::reader::{choice_enum, join, Reader};

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

choice_enum!(
    /// The cathode chemistry of a pack's cells.
    Chemistry, "cell chemistry" {
        /// Nickel manganese cobalt oxide.
        Nmc = "NMC",
        /// Nickel cobalt aluminium oxide.
        Nca = "NCA",
        /// Nickel cobalt manganese aluminium oxide.
        Ncma = "NCMA",
        /// Lithium iron phosphate.
        Lfp = "LFP",
        /// Lithium manganese oxide.
        Lmo = "LMO",
        /// A blend of LMO and NMC.
        LmoNmc = "LMO-NMC",
        /// Lithium titanate anode.
        Lto = "LTO",
    }
);

choice_enum!(
    /// How a pack is cooled, and so what it needs from the vehicle.
    Cooling, "cooling interface" {
        /// A coolant loop: the vehicle must provide coolant connections.
        Liquid = "liquid",
        /// Fans and ducts: the vehicle must provide forced air.
        AirForced = "air-forced",
        /// Passive air: the pack needs nothing from the vehicle.
        AirPassive = "air-passive",
    }
);

choice_enum!(
    /// The motor technology of an e-axle.
    MotorType, "motor type" {
        /// Permanent-magnet synchronous motor.
        Pmsm = "pmsm",
        /// Interior-permanent-magnet synchronous reluctance motor.
        IpmSynrm = "ipm-synrm",
        /// Induction (asynchronous) motor.
        Induction = "induction",
        /// Electrically excited (wound-rotor) synchronous motor.
        Eesm = "eesm" | "wound-rotor",
    }
);

choice_enum!(
    /// A vehicle axle.
    Axle, "axle" {
        /// The front axle.
        Front = "front",
        /// The rear axle.
        Rear = "rear",
    }
);

choice_enum!(
    /// A charging connector standard, as found on a vehicle inlet.
    ChargeConnector, "charging connector standard" {
        /// SAE J1772 (AC, North America, Japan).
        Type1 = "Type1" | "J1772",
        /// IEC 62196-2 Type 2 (AC, Europe).
        Type2 = "Type2",
        /// Combined Charging System with a Type 1 inlet (DC).
        Ccs1 = "CCS1",
        /// Combined Charging System with a Type 2 inlet (DC).
        Ccs2 = "CCS2",
        /// CHAdeMO (DC).
        Chademo = "CHAdeMO",
        /// North American Charging Standard, SAE J3400 (AC and DC on one inlet).
        Nacs = "NACS" | "J3400",
        /// GB/T 20234.2 (AC, China).
        GbtAc = "GB/T-AC",
        /// GB/T 20234.3 (DC, China).
        GbtDc = "GB/T-DC",
    }
);

impl ChargeConnector {
    /// Whether the standard carries AC charging.
    pub fn carries_ac(self) -> bool {
        matches!(
            self,
            ChargeConnector::Type1
                | ChargeConnector::Type2
                | ChargeConnector::Nacs
                | ChargeConnector::GbtAc
        )
    }

    /// Whether the standard carries DC charging.
    pub fn carries_dc(self) -> bool {
        matches!(
            self,
            ChargeConnector::Ccs1
                | ChargeConnector::Ccs2
                | ChargeConnector::Chademo
                | ChargeConnector::Nacs
                | ChargeConnector::GbtDc
        )
    }

    /// Whether a DC standard can sit beside this AC standard on one vehicle (CCS2 extends
    /// Type 2, CCS1 extends Type 1, NACS is one inlet for both, CHAdeMO is a second inlet).
    pub fn pairs_with_dc(self, dc: ChargeConnector) -> bool {
        match dc {
            ChargeConnector::Ccs1 => self == ChargeConnector::Type1,
            ChargeConnector::Ccs2 => self == ChargeConnector::Type2,
            ChargeConnector::Nacs => self == ChargeConnector::Nacs,
            ChargeConnector::GbtDc => self == ChargeConnector::GbtAc,
            ChargeConnector::Chademo => {
                matches!(self, ChargeConnector::Type1 | ChargeConnector::Type2)
            }
            _ => false,
        }
    }
}

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

/// A closed temperature interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TemperatureRange {
    /// The lowest temperature.
    pub min: Quantity<Temperature>,
    /// The highest temperature.
    pub max: Quantity<Temperature>,
}

/// How a pack's cells are connected.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CellArrangement {
    /// Cells (or parallel groups) in series.
    pub series: u32,
    /// Cells in parallel in each group.
    pub parallel: u32,
    /// One cell's nominal voltage.
    pub nominal_voltage: Quantity<Voltage>,
    /// One cell's capacity.
    pub capacity: Quantity<Charge>,
}

impl CellArrangement {
    /// The number of cells.
    pub fn count(&self) -> u32 {
        self.series * self.parallel
    }
}

/// A traction battery pack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatteryPack {
    /// Cell chemistry.
    pub chemistry: Chemistry,
    /// Cell arrangement.
    pub cells: CellArrangement,
    /// Nominal pack voltage.
    pub nominal_voltage: Quantity<Voltage>,
    /// Operating voltage range (empty to full, as the BMS allows).
    pub voltage: VoltageRange,
    /// Energy the vehicle may use.
    pub usable_energy: Quantity<Energy>,
    /// Energy of all cells at nominal voltage.
    pub gross_energy: Quantity<Energy>,
    /// Highest charging power accepted.
    pub max_charge_power: Quantity<Power>,
    /// Highest power delivered to the drive.
    pub max_discharge_power: Quantity<Power>,
    /// Highest charging current.
    pub max_charge_current: Quantity<Current>,
    /// Highest discharge current.
    pub max_discharge_current: Quantity<Current>,
    /// Pack internal resistance.
    pub internal_resistance: Quantity<Resistance>,
    /// Operating temperature range.
    pub thermal: TemperatureRange,
    /// Cooling interface it needs.
    pub cooling: Cooling,
    /// Mass.
    pub mass: Quantity<Mass>,
    /// Outside dimensions.
    pub envelope: Envelope,
    /// Bolt pattern.
    pub mounting: Mounting,
    /// High-voltage connector id.
    pub hv_connector: String,
    /// The CAN protocol its BMS speaks.
    pub bms_protocol: String,
}

/// One measured (or estimated) point of an e-axle's efficiency map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EfficiencyPoint {
    /// Motor speed.
    pub speed: Quantity<AngularSpeed>,
    /// Motor torque.
    pub torque: Quantity<Torque>,
    /// Battery-to-shaft efficiency, 0..1.
    pub efficiency: Quantity<Ratio>,
}

/// A drive unit: motor, inverter and reduction gear on one axle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EAxle {
    /// Motor technology.
    pub motor_type: MotorType,
    /// Peak shaft power.
    pub peak_power: Quantity<Power>,
    /// Continuous shaft power.
    pub continuous_power: Quantity<Power>,
    /// Peak motor torque.
    pub peak_torque: Quantity<Torque>,
    /// Continuous motor torque.
    pub continuous_torque: Quantity<Torque>,
    /// Highest motor speed.
    pub max_speed: Quantity<AngularSpeed>,
    /// Reduction ratio, motor turns per wheel turn.
    pub gear_ratio: f64,
    /// Points of the efficiency map.
    pub efficiency: Vec<EfficiencyPoint>,
    /// DC voltages the inverter accepts.
    pub inverter_voltage: VoltageRange,
    /// The axle it drives.
    pub driven_axle: Axle,
    /// Bolt pattern of its mounts.
    pub mounting: Mounting,
}

/// Charging equipment: the on-board charger and the DC path, with their standards.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Charger {
    /// AC charging power.
    pub ac_power: Quantity<Power>,
    /// AC connector standard.
    pub ac_connector: ChargeConnector,
    /// DC charging power, if the part charges on DC.
    pub dc_power: Option<Quantity<Power>>,
    /// DC connector standard, if the part charges on DC.
    pub dc_connector: Option<ChargeConnector>,
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

const BATTERY_KEYS: &[&str] = &[
    "chemistry",
    "cells",
    "nominal_voltage",
    "min_voltage",
    "max_voltage",
    "usable_energy",
    "gross_energy",
    "max_charge_power",
    "max_discharge_power",
    "max_charge_current",
    "max_discharge_current",
    "internal_resistance",
    "thermal",
    "cooling",
    "mass",
    "envelope",
    "mounting",
    "hv_connector",
    "bms_protocol",
];

const E_AXLE_KEYS: &[&str] = &[
    "motor_type",
    "peak_power",
    "continuous_power",
    "peak_torque",
    "continuous_torque",
    "max_speed",
    "gear_ratio",
    "efficiency",
    "inverter",
    "driven_axle",
    "mounting",
];

const CHARGER_KEYS: &[&str] = &["ac_power", "ac_connector", "dc_power", "dc_connector"];

/// How far a derived figure may differ from the stated one.
const CONSISTENCY_TOLERANCE: f64 = 0.15;

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

fn percent(fraction: f64) -> String {
    let text = format!("{:.1}", fraction * 100.0);
    format!("{} %", text.trim_end_matches(".0"))
}

fn read_cells(reader: &mut Reader, table: &Table) -> Option<CellArrangement> {
    let inner = reader.table(table, "", "cells")?;
    reader.known_keys(
        inner,
        "cells",
        &["series", "parallel", "nominal_voltage", "capacity"],
    );
    let series = reader.count(inner, "cells", "series");
    let parallel = reader.count(inner, "cells", "parallel");
    let nominal_voltage = reader.positive::<Voltage>(inner, "cells", "nominal_voltage");
    let capacity = reader.positive::<Charge>(inner, "cells", "capacity");
    Some(CellArrangement {
        series: series?,
        parallel: parallel?,
        nominal_voltage: nominal_voltage?,
        capacity: capacity?,
    })
}

fn read_temperature_range(reader: &mut Reader, table: &Table) -> Option<TemperatureRange> {
    let inner = reader.table(table, "", "thermal")?;
    reader.known_keys(inner, "thermal", &["min_operating", "max_operating"]);
    let min = reader.quantity::<Temperature>(inner, "thermal", "min_operating");
    let max = reader.quantity::<Temperature>(inner, "thermal", "max_operating");
    let (min, max) = (min?, max?);
    if min >= max {
        reader.problem(
            "thermal.min_operating",
            format!("{min} is not below max_operating {max}"),
        );
        return None;
    }
    Some(TemperatureRange { min, max })
}

fn read_battery(reader: &mut Reader, table: &Table) -> Option<BatteryPack> {
    let chemistry = reader.choice::<Chemistry>(table, "", "chemistry");
    let cells = read_cells(reader, table);
    let nominal_voltage = reader.positive::<Voltage>(table, "", "nominal_voltage");
    let voltage = read_voltage_range(reader, table, "");
    let usable_energy = reader.positive::<Energy>(table, "", "usable_energy");
    let gross_energy = reader.positive::<Energy>(table, "", "gross_energy");
    let max_charge_power = reader.positive::<Power>(table, "", "max_charge_power");
    let max_discharge_power = reader.positive::<Power>(table, "", "max_discharge_power");
    let max_charge_current = reader.positive::<Current>(table, "", "max_charge_current");
    let max_discharge_current = reader.positive::<Current>(table, "", "max_discharge_current");
    let internal_resistance = reader.positive::<Resistance>(table, "", "internal_resistance");
    let thermal = read_temperature_range(reader, table);
    let cooling = reader.choice::<crate::Cooling>(table, "", "cooling");
    let mass = reader.positive::<Mass>(table, "", "mass");
    let envelope = reader.table(table, "", "envelope").and_then(|inner| {
        reader.known_keys(inner, "envelope", &["length", "width", "height"]);
        read_envelope(reader, inner, "envelope")
    });
    let mounting = read_mounting(reader, table, "", "mounting");
    let hv_connector = reader.string(table, "", "hv_connector");
    let bms_protocol = reader.string(table, "", "bms_protocol");

    if let (Some(nominal), Some(range)) = (nominal_voltage, voltage) {
        if nominal < range.min || nominal > range.max {
            reader.problem(
                "nominal_voltage",
                format!("{nominal} lies outside min_voltage..max_voltage ({range})"),
            );
        }
    }
    if let (Some(cells), Some(nominal)) = (cells, nominal_voltage) {
        let from_cells = cells.nominal_voltage * f64::from(cells.series);
        let deviation = (from_cells.value() - nominal.value()).abs() / nominal.value();
        if deviation > CONSISTENCY_TOLERANCE {
            reader.problem(
                "cells.nominal_voltage",
                format!(
                    "{} cells in series x {} = {from_cells}, which differs from nominal_voltage {nominal} by {} (more than {})",
                    cells.series,
                    cells.nominal_voltage,
                    percent(deviation),
                    percent(CONSISTENCY_TOLERANCE)
                ),
            );
        }
    }
    if let (Some(cells), Some(gross)) = (cells, gross_energy) {
        let from_cells = Quantity::<Energy>::new(
            f64::from(cells.count()) * cells.nominal_voltage.value() * cells.capacity.value(),
        );
        let deviation = (from_cells.value() - gross.value()).abs() / gross.value();
        if deviation > CONSISTENCY_TOLERANCE {
            reader.problem(
                "gross_energy",
                format!(
                    "{gross} differs by {} from the {} cells' {from_cells} (more than {})",
                    percent(deviation),
                    cells.count(),
                    percent(CONSISTENCY_TOLERANCE)
                ),
            );
        }
    }
    if let (Some(usable), Some(gross)) = (usable_energy, gross_energy) {
        if usable > gross {
            reader.problem(
                "usable_energy",
                format!("{usable} exceeds gross_energy {gross}"),
            );
        }
    }
    for (power_key, power, current_key, current) in [
        (
            "max_discharge_power",
            max_discharge_power,
            "max_discharge_current",
            max_discharge_current,
        ),
        (
            "max_charge_power",
            max_charge_power,
            "max_charge_current",
            max_charge_current,
        ),
    ] {
        if let (Some(power), Some(current), Some(range)) = (power, current, voltage) {
            let limit = Quantity::<Power>::new(current.value() * range.max.value());
            if power > limit {
                reader.problem(
                    power_key,
                    format!("{power} cannot be reached: {current_key} {current} x max_voltage {} is only {limit}", range.max),
                );
            }
        }
    }
    if let (Some(current), Some(resistance), Some(range)) =
        (max_discharge_current, internal_resistance, voltage)
    {
        let drop = Quantity::<Voltage>::new(current.value() * resistance.value());
        if drop >= range.min {
            reader.problem(
                "internal_resistance",
                format!(
                    "{resistance} x max_discharge_current {current} drops {drop}, at or above min_voltage {}",
                    range.min
                ),
            );
        }
    }

    Some(BatteryPack {
        chemistry: chemistry?,
        cells: cells?,
        nominal_voltage: nominal_voltage?,
        voltage: voltage?,
        usable_energy: usable_energy?,
        gross_energy: gross_energy?,
        max_charge_power: max_charge_power?,
        max_discharge_power: max_discharge_power?,
        max_charge_current: max_charge_current?,
        max_discharge_current: max_discharge_current?,
        internal_resistance: internal_resistance?,
        thermal: thermal?,
        cooling: cooling?,
        mass: mass?,
        envelope: envelope?,
        mounting: mounting?,
        hv_connector: hv_connector?,
        bms_protocol: bms_protocol?,
    })
}

/// The e-axle figures its efficiency points must stay within.
struct EfficiencyLimits {
    max_speed: Option<Quantity<AngularSpeed>>,
    peak_torque: Option<Quantity<Torque>>,
    peak_power: Option<Quantity<Power>>,
}

fn read_efficiency(
    reader: &mut Reader,
    table: &Table,
    limits: EfficiencyLimits,
) -> Option<Vec<EfficiencyPoint>> {
    let items = reader.tables(table, "", "efficiency")?;
    if items.is_empty() {
        reader.problem("efficiency", "needs at least one point");
        return None;
    }
    let EfficiencyLimits {
        max_speed,
        peak_torque,
        peak_power,
    } = limits;
    let mut points = Vec::with_capacity(items.len());
    let mut complete = true;
    for (index, item) in items.into_iter().enumerate() {
        let at = format!("efficiency[{index}]");
        reader.known_keys(item, &at, &["speed", "torque", "efficiency"]);
        let speed = reader.positive::<AngularSpeed>(item, &at, "speed");
        let torque = reader.positive::<Torque>(item, &at, "torque");
        let efficiency = reader.positive::<Ratio>(item, &at, "efficiency");
        if let Some(efficiency) = efficiency {
            if efficiency.value() > 1.0 {
                reader.problem(
                    join(&at, "efficiency"),
                    format!("{efficiency} is above 100 %"),
                );
            }
        }
        if let (Some(speed), Some(max)) = (speed, max_speed) {
            if speed > max {
                reader.problem(
                    join(&at, "speed"),
                    format!("{speed} is above max_speed {max}"),
                );
            }
        }
        if let (Some(torque), Some(peak)) = (torque, peak_torque) {
            if torque > peak {
                reader.problem(
                    join(&at, "torque"),
                    format!("{torque} is above peak_torque {peak}"),
                );
            }
        }
        if let (Some(speed), Some(torque), Some(peak)) = (speed, torque, peak_power) {
            let power = Quantity::<Power>::new(speed.value() * torque.value());
            if power.value() > peak.value() * 1.01 {
                reader.problem(
                    at.clone(),
                    format!("{torque} at {speed} is {power}, above peak_power {peak}"),
                );
            }
        }
        match (speed, torque, efficiency) {
            (Some(speed), Some(torque), Some(efficiency)) => points.push(EfficiencyPoint {
                speed,
                torque,
                efficiency,
            }),
            _ => complete = false,
        }
    }
    complete.then_some(points)
}

fn read_e_axle(reader: &mut Reader, table: &Table) -> Option<EAxle> {
    let motor_type = reader.choice::<MotorType>(table, "", "motor_type");
    let peak_power = reader.positive::<Power>(table, "", "peak_power");
    let continuous_power = reader.positive::<Power>(table, "", "continuous_power");
    let peak_torque = reader.positive::<Torque>(table, "", "peak_torque");
    let continuous_torque = reader.positive::<Torque>(table, "", "continuous_torque");
    let max_speed = reader.positive::<AngularSpeed>(table, "", "max_speed");
    let gear_ratio = reader.number(table, "", "gear_ratio");
    if let Some(ratio) = gear_ratio {
        if ratio <= 0.0 {
            reader.problem(
                "gear_ratio",
                format!("must be above zero, found {}", format_number(ratio)),
            );
        }
    }
    let efficiency = read_efficiency(
        reader,
        table,
        EfficiencyLimits {
            max_speed,
            peak_torque,
            peak_power,
        },
    );
    let inverter_voltage = reader.table(table, "", "inverter").and_then(|inner| {
        reader.known_keys(inner, "inverter", &["min_voltage", "max_voltage"]);
        read_voltage_range(reader, inner, "inverter")
    });
    let driven_axle = reader.choice::<Axle>(table, "", "driven_axle");
    let mounting = read_mounting(reader, table, "", "mounting");

    if let (Some(continuous), Some(peak)) = (continuous_power, peak_power) {
        if continuous > peak {
            reader.problem(
                "continuous_power",
                format!("{continuous} exceeds peak_power {peak}"),
            );
        }
    }
    if let (Some(continuous), Some(peak)) = (continuous_torque, peak_torque) {
        if continuous > peak {
            reader.problem(
                "continuous_torque",
                format!("{continuous} exceeds peak_torque {peak}"),
            );
        }
    }
    if let (Some(power), Some(torque), Some(speed)) = (peak_power, peak_torque, max_speed) {
        let limit = Quantity::<Power>::new(torque.value() * speed.value());
        if power > limit {
            reader.problem(
                "peak_power",
                format!("{power} cannot be reached: peak_torque {torque} at max_speed {speed} gives only {limit}"),
            );
        }
    }
    let gear_ratio = gear_ratio.filter(|ratio| *ratio > 0.0);
    Some(EAxle {
        motor_type: motor_type?,
        peak_power: peak_power?,
        continuous_power: continuous_power?,
        peak_torque: peak_torque?,
        continuous_torque: continuous_torque?,
        max_speed: max_speed?,
        gear_ratio: gear_ratio?,
        efficiency: efficiency?,
        inverter_voltage: inverter_voltage?,
        driven_axle: driven_axle?,
        mounting: mounting?,
    })
}

/// Checks an AC/DC connector pair (of a charger or an inlet); `at` prefixes the fields.
pub(crate) fn check_connectors(
    reader: &mut Reader,
    at: &str,
    (ac_key, ac): (&str, Option<ChargeConnector>),
    (dc_key, dc): (&str, Option<ChargeConnector>),
) {
    if let Some(ac) = ac {
        if !ac.carries_ac() {
            reader.problem(
                join(at, ac_key),
                format!("{ac} is not an AC charging standard"),
            );
        }
    }
    if let Some(dc) = dc {
        if !dc.carries_dc() {
            reader.problem(
                join(at, dc_key),
                format!("{dc} is not a DC charging standard"),
            );
        }
    }
    if let (Some(ac), Some(dc)) = (ac, dc) {
        if ac.carries_ac() && dc.carries_dc() && !ac.pairs_with_dc(dc) {
            reader.problem(
                join(at, dc_key),
                format!("{dc} does not go with the AC standard {ac} on one vehicle"),
            );
        }
    }
}

fn read_charger(reader: &mut Reader, table: &Table) -> Option<Charger> {
    let ac_power = reader.positive::<Power>(table, "", "ac_power");
    let ac_connector = reader.choice::<ChargeConnector>(table, "", "ac_connector");
    let dc_power = reader.optional_positive::<Power>(table, "", "dc_power");
    let dc_connector = reader.optional_choice::<ChargeConnector>(table, "", "dc_connector");
    match (
        table.contains_key("dc_power"),
        table.contains_key("dc_connector"),
    ) {
        (true, false) => reader.problem("dc_connector", "missing (dc_power is given)"),
        (false, true) => reader.problem("dc_power", "missing (dc_connector is given)"),
        _ => {}
    }
    check_connectors(
        reader,
        "",
        ("ac_connector", ac_connector),
        ("dc_connector", dc_connector),
    );
    Some(Charger {
        ac_power: ac_power?,
        ac_connector: ac_connector?,
        dc_power,
        dc_connector,
    })
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

    fn parse(text: &str) -> Result<Part, PartsError> {
        Part::from_table(&toml::from_str(text).unwrap(), "parts/test-pack.toml")
    }

    fn problems(text: &str) -> Vec<String> {
        parse(text)
            .unwrap_err()
            .problems()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn replace(line: &str, with: &str) -> String {
        assert!(PACK.contains(line), "{line}");
        PACK.replacen(line, with, 1)
    }

    #[test]
    fn a_valid_pack_is_read_in_canonical_units() {
        let part = parse(PACK).unwrap();
        let PartSpec::BatteryPack(pack) = &part.spec else {
            panic!("not a pack")
        };
        assert_eq!(pack.usable_energy.value(), 39_000.0);
        assert_eq!(pack.internal_resistance.value(), 0.09);
        assert_eq!(pack.envelope.length.value(), 1.57);
        assert_eq!(pack.cells.count(), 192);
        assert_eq!(part.kind(), PartKind::BatteryPack);
        assert!(part.summary().starts_with("96s2p NMC, 350 V nominal"));
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
    fn every_problem_of_a_file_is_reported() {
        let text = replace("mass = \"303 kg\"\n", "")
            .replace("min_voltage = \"240 V\"", "min_voltage = \"410 V\"")
            .replace("usable_energy = \"39 kWh\"", "usable_energy = \"0 kWh\"")
            .replace("cooling = \"air-passive\"", "cooling = \"water\"")
            .replace("series = 96", "series = 80");
        assert_eq!(
            problems(&text),
            [
                "min_voltage: 410 V is not below max_voltage 403 V",
                "usable_energy: must be above zero, found 0 kWh",
                "cooling: unknown cooling interface \"water\" (expected one of liquid, air-forced, air-passive)",
                "mass: missing",
                "cells.nominal_voltage: 80 cells in series x 3.65 V = 292 V, which differs from nominal_voltage 350 V by 16.6 % (more than 15 %)",
                "gross_energy: 40 kWh differs by 17.8 % from the 160 cells' 32.879 kWh (more than 15 %)",
            ]
        );
    }

    #[test]
    fn impossible_values_are_refused() {
        assert_eq!(
            problems(&replace("nominal_voltage = \"350 V\"", "nominal_voltage = \"230 V\"")),
            [
                "nominal_voltage: 230 V lies outside min_voltage..max_voltage (240..403 V)",
                "cells.nominal_voltage: 96 cells in series x 3.65 V = 350.4 V, which differs from nominal_voltage 230 V by 52.3 % (more than 15 %)",
            ]
        );
        assert_eq!(
            problems(&replace(
                "usable_energy = \"39 kWh\"",
                "usable_energy = \"41 kWh\""
            )),
            ["usable_energy: 41 kWh exceeds gross_energy 40 kWh"]
        );
        assert_eq!(
            problems(&replace("max_discharge_current = \"400 A\"", "max_discharge_current = \"200 A\"")),
            ["max_discharge_power: 110 kW cannot be reached: max_discharge_current 200 A x max_voltage 403 V is only 80.6 kW"]
        );
        assert_eq!(
            problems(&replace("internal_resistance = \"90 mOhm\"", "internal_resistance = \"1 Ohm\"")),
            ["internal_resistance: 1000 mOhm x max_discharge_current 400 A drops 400 V, at or above min_voltage 240 V"]
        );
        assert_eq!(
            problems(&replace(
                "min_operating = \"-25 degC\"",
                "min_operating = \"70 degC\""
            )),
            ["thermal.min_operating: 70 degC is not below max_operating 60 degC"]
        );
        assert_eq!(
            problems(&replace("bolts = 8", "bolts = 0")),
            ["mounting.bolts: must be at least 1, found 0"]
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

    const AXLE: &str = r#"
id = "test-axle"
kind = "e-axle"
name = "Test axle"
manufacturer = "Test"
source = ["a", "b"]
motor_type = "pmsm"
peak_power = "110 kW"
continuous_power = "60 kW"
peak_torque = "320 N*m"
continuous_torque = "150 N*m"
max_speed = "10390 rpm"
gear_ratio = 8.19
driven_axle = "front"
mounting = { pattern = "test-drive", bolts = 3 }
inverter = { min_voltage = "240 V", max_voltage = "405 V" }
efficiency = [
    { speed = "3000 rpm", torque = "100 N*m", efficiency = "94 %" },
]
"#;

    #[test]
    fn an_e_axle_is_read_and_checked() {
        let part = parse(AXLE).unwrap();
        let PartSpec::EAxle(axle) = &part.spec else {
            panic!("not an e-axle")
        };
        assert_eq!(axle.efficiency[0].efficiency.value(), 0.94);
        assert_eq!(part.sources, ["a", "b"]);
        let bad = AXLE
            .replace(
                "continuous_power = \"60 kW\"",
                "continuous_power = \"120 kW\"",
            )
            .replace("max_speed = \"10390 rpm\"", "max_speed = \"3000 rpm\"")
            .replace("efficiency = \"94 %\"", "efficiency = \"104 %\"")
            .replace("max_voltage = \"405 V\"", "max_voltage = \"200 V\"");
        assert_eq!(
            problems(&bad),
            [
                "efficiency[0].efficiency: 104 % is above 100 %",
                "inverter.min_voltage: 240 V is not below max_voltage 200 V",
                "continuous_power: 120 kW exceeds peak_power 110 kW",
                "peak_power: 110 kW cannot be reached: peak_torque 320 N*m at max_speed 3000 rpm gives only 100.53 kW",
            ]
        );
    }

    #[test]
    fn charger_connectors_must_be_real_pairs() {
        let charger = r#"
id = "test-charger"
kind = "charger"
name = "Test charger"
manufacturer = "Test"
source = "unit test"
ac_power = "7.4 kW"
ac_connector = "Type2"
dc_power = "56 kW"
dc_connector = "CCS1"
"#;
        assert_eq!(
            problems(charger),
            ["dc_connector: CCS1 does not go with the AC standard Type2 on one vehicle"]
        );
        let ok = parse(&charger.replace("CCS1", "ccs2")).unwrap();
        assert_eq!(ok.summary(), "AC 7.4 kW Type2, DC 56 kW CCS2");
        assert_eq!(
            problems(
                &charger
                    .replace("CCS1", "CCS2")
                    .replace("dc_power = \"56 kW\"\n", "")
            ),
            ["dc_power: missing (dc_connector is given)"]
        );
    }
}
