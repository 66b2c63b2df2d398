//! Traction battery packs: chemistry, cells, voltages, energies, power and current
//! limits, and the checks that keep those figures consistent with each other.

use serde::Serialize;
use toml::Table;

use super::{read_envelope, read_mounting, read_voltage_range, Envelope, Mounting, VoltageRange};
use crate::quantity::{
    Charge, Current, Energy, Mass, Power, Quantity, Resistance, Temperature, Voltage,
};
use crate::reader::{choice_enum, Reader};

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

pub(super) const BATTERY_KEYS: &[&str] = &[
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

/// How far a derived figure may differ from the stated one.
pub(super) const CONSISTENCY_TOLERANCE: f64 = 0.15;

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

pub(super) fn read_battery(reader: &mut Reader, table: &Table) -> Option<BatteryPack> {
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

#[cfg(test)]
mod tests {
    use crate::part::tests::{parse, problems, replace, PACK};
    use crate::part::{PartKind, PartSpec};

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
}
