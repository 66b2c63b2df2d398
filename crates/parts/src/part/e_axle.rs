//! E-axles (drive units): motor limits, gear ratio, inverter voltage and the
//! efficiency map, with the checks between them.

use serde::Serialize;
use toml::Table;

use super::{read_mounting, read_voltage_range, Mounting, VoltageRange};
use crate::quantity::{format_number, AngularSpeed, Power, Quantity, Ratio, Torque};
use crate::reader::{choice_enum, join, Reader};

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

pub(super) const E_AXLE_KEYS: &[&str] = &[
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

pub(super) fn read_e_axle(reader: &mut Reader, table: &Table) -> Option<EAxle> {
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

#[cfg(test)]
mod tests {
    use crate::part::tests::{parse, problems};
    use crate::part::PartSpec;

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
}
