//! Interchangeability: does a part fit a vehicle, and why (not)?
//!
//! [`check_fit`] runs every check that applies to the part's kind and reports each one,
//! passed or failed, so that a tool can show the whole picture. The rules:
//!
//! | check | battery pack | e-axle | charger |
//! |---|---|---|---|
//! | `powertrain` | the vehicle is battery-electric | same | same |
//! | `voltage` | the pack's min..max lies within the vehicle's DC bus window | the inverter's range covers the whole DC bus window | |
//! | `power` | the pack's max discharge power covers the drivetrain's peak draw | the vehicle's battery power covers the e-axle's peak power | |
//! | `length`, `width`, `height` | each pack dimension is at most the bay's; no rotation | | |
//! | `mounting` | same bay bolt pattern and count | same drive-unit bolt pattern and count | |
//! | `driven-axle` | | drives the vehicle's driven axle | |
//! | `hv-connector` | same high-voltage connector | | |
//! | `cooling` | passive air needs nothing; liquid or forced air need that interface in the bay | | |
//! | `bms-protocol` | the BMS speaks the protocol the vehicle expects | | |
//! | `ac-inlet`, `dc-inlet` | | | the standards equal the vehicle's inlet |
//!
//! Packs are not rotated: a floor pack's long side runs along the vehicle, and its
//! mounting points, connector and coolant ports are placed for that orientation.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::part::{BatteryPack, Charger, Cooling, EAxle, Part, PartSpec};
use crate::platform::{ElectricSystems, VehiclePlatform};
use crate::quantity::{Length, Quantity};

/// One aspect of a fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The vehicle has the high-voltage system the part belongs to.
    Powertrain,
    /// Voltage ranges.
    Voltage,
    /// Power supply and demand.
    Power,
    /// Pack length against the bay (along the vehicle).
    Length,
    /// Pack width against the bay (across the vehicle).
    Width,
    /// Pack height against the bay.
    Height,
    /// Bolt pattern.
    Mounting,
    /// Which axle an e-axle drives.
    DrivenAxle,
    /// High-voltage connector.
    HvConnector,
    /// Cooling interface.
    Cooling,
    /// BMS CAN protocol.
    BmsProtocol,
    /// AC charging standard against the inlet.
    AcInlet,
    /// DC charging standard against the inlet.
    DcInlet,
}

impl Check {
    /// The check's name in output, for example `hv-connector`.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Powertrain => "powertrain",
            Check::Voltage => "voltage",
            Check::Power => "power",
            Check::Length => "length",
            Check::Width => "width",
            Check::Height => "height",
            Check::Mounting => "mounting",
            Check::DrivenAxle => "driven-axle",
            Check::HvConnector => "hv-connector",
            Check::Cooling => "cooling",
            Check::BmsProtocol => "bms-protocol",
            Check::AcInlet => "ac-inlet",
            Check::DcInlet => "dc-inlet",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The part meets the vehicle's requirement.
    Pass,
    /// It does not: the part does not fit.
    Fail,
    /// The check cannot apply (the vehicle lacks the system it concerns).
    NotApplicable,
}

impl Outcome {
    /// `pass`, `FAIL` or `n/a`, for text output.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::NotApplicable => "n/a",
        }
    }
}

/// One check's result and its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// What was checked.
    pub check: Check,
    /// How it went.
    pub outcome: Outcome,
    /// The figures compared, in words.
    pub detail: String,
}

impl Reason {
    fn new(check: Check, passed: bool, detail: String) -> Reason {
        Reason {
            check,
            outcome: if passed { Outcome::Pass } else { Outcome::Fail },
            detail,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<4} {}: {}",
            self.outcome.label(),
            self.check,
            self.detail
        )
    }
}

/// Whether a part fits a vehicle, with every check that was made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitReport {
    /// True when no check failed.
    pub fits: bool,
    /// Every check, in a fixed order per part kind, passed or failed.
    pub reasons: Vec<Reason>,
}

impl FitReport {
    fn new(reasons: Vec<Reason>) -> FitReport {
        FitReport {
            fits: reasons.iter().all(|r| r.outcome != Outcome::Fail),
            reasons,
        }
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Reason> {
        self.reasons.iter().filter(|r| r.outcome == Outcome::Fail)
    }

    /// The short text of a fit-matrix cell: `fits`, `fits (installed)`,
    /// `no: height` or `no: voltage +3` (the first failed check and how many
    /// more failed).
    pub fn cell(&self, installed: bool) -> String {
        let mut failed = self.failures();
        match failed.next() {
            None if installed => "fits (installed)".to_owned(),
            None => "fits".to_owned(),
            Some(first) => match failed.count() {
                0 => format!("no: {}", first.check),
                more => format!("no: {} +{more}", first.check),
            },
        }
    }
}

/// Checks whether `part` fits `vehicle`, giving every reason, passed and failed.
pub fn check_fit(vehicle: &VehiclePlatform, part: &Part) -> FitReport {
    let checks = match &part.spec {
        PartSpec::BatteryPack(_) => PACK_CHECKS,
        PartSpec::EAxle(_) => E_AXLE_CHECKS,
        PartSpec::Charger(_) => CHARGER_CHECKS,
    };
    let Some(electric) = &vehicle.electric else {
        let mut reasons = vec![Reason::new(
            Check::Powertrain,
            false,
            format!(
                "the vehicle is {}: it has no traction battery, high-voltage bus or charge inlet",
                vehicle.powertrain
            ),
        )];
        reasons.extend(checks.iter().skip(1).map(|check| Reason {
            check: *check,
            outcome: Outcome::NotApplicable,
            detail: "no high-voltage system".to_owned(),
        }));
        return FitReport::new(reasons);
    };
    let mut reasons = vec![Reason::new(
        Check::Powertrain,
        true,
        format!("the vehicle is {}", vehicle.powertrain),
    )];
    match &part.spec {
        PartSpec::BatteryPack(pack) => check_pack(electric, pack, &mut reasons),
        PartSpec::EAxle(axle) => check_e_axle(electric, axle, &mut reasons),
        PartSpec::Charger(charger) => check_charger(electric, charger, &mut reasons),
    }
    debug_assert_eq!(
        reasons.iter().map(|r| r.check).collect::<Vec<_>>(),
        checks,
        "every check of the kind is reported, in order"
    );
    FitReport::new(reasons)
}

/// The checks made for a battery pack, in report order.
pub const PACK_CHECKS: &[Check] = &[
    Check::Powertrain,
    Check::Voltage,
    Check::Power,
    Check::Length,
    Check::Width,
    Check::Height,
    Check::Mounting,
    Check::HvConnector,
    Check::Cooling,
    Check::BmsProtocol,
];

/// The checks made for an e-axle, in report order.
pub const E_AXLE_CHECKS: &[Check] = &[
    Check::Powertrain,
    Check::Voltage,
    Check::Power,
    Check::DrivenAxle,
    Check::Mounting,
];

/// The checks made for a charger, in report order.
pub const CHARGER_CHECKS: &[Check] = &[Check::Powertrain, Check::AcInlet, Check::DcInlet];

fn same(check: Check, what: &str, part: &str, vehicle: &str) -> Reason {
    if part == vehicle {
        Reason::new(check, true, format!("{what} {part} on both"))
    } else {
        Reason::new(
            check,
            false,
            format!("the part has {what} {part}, the vehicle {vehicle}"),
        )
    }
}

fn dimension(check: Check, part: Quantity<Length>, bay: Quantity<Length>) -> Reason {
    let passed = part <= bay;
    let relation = if passed { "<=" } else { ">" };
    Reason::new(check, passed, format!("pack {part} {relation} bay {bay}"))
}

fn check_pack(vehicle: &ElectricSystems, pack: &BatteryPack, reasons: &mut Vec<Reason>) {
    let bus = vehicle.drivetrain.voltage;
    let voltage = if bus.contains(&pack.voltage) {
        Reason::new(
            Check::Voltage,
            true,
            format!(
                "pack {} lies within the vehicle's {} window",
                pack.voltage, bus
            ),
        )
    } else {
        let mut out = Vec::new();
        if pack.voltage.min < bus.min {
            out.push(format!(
                "pack minimum {} is below the vehicle's {}",
                pack.voltage.min, bus.min
            ));
        }
        if pack.voltage.max > bus.max {
            out.push(format!(
                "pack maximum {} is above the vehicle's {}",
                pack.voltage.max, bus.max
            ));
        }
        Reason::new(Check::Voltage, false, out.join("; "))
    };
    reasons.push(voltage);

    let demand = vehicle.drivetrain.peak_power;
    let supply = pack.max_discharge_power;
    reasons.push(Reason::new(
        Check::Power,
        supply >= demand,
        format!(
            "pack delivers {supply}, the drivetrain draws up to {demand}{}",
            if supply >= demand {
                ""
            } else {
                " (too little)"
            }
        ),
    ));

    let bay = &vehicle.battery_bay;
    reasons.push(dimension(
        Check::Length,
        pack.envelope.length,
        bay.envelope.length,
    ));
    reasons.push(dimension(
        Check::Width,
        pack.envelope.width,
        bay.envelope.width,
    ));
    reasons.push(dimension(
        Check::Height,
        pack.envelope.height,
        bay.envelope.height,
    ));
    reasons.push(same(
        Check::Mounting,
        "mounting pattern",
        &pack.mounting.to_string(),
        &bay.mounting.to_string(),
    ));
    reasons.push(same(
        Check::HvConnector,
        "HV connector",
        &pack.hv_connector,
        &bay.hv_connector,
    ));
    let cooling = match pack.cooling {
        Cooling::AirPassive => Reason::new(
            Check::Cooling,
            true,
            "the pack is passively air-cooled and needs no cooling interface".to_owned(),
        ),
        needed if bay.cooling.contains(&needed) => Reason::new(
            Check::Cooling,
            true,
            format!("the pack needs {needed} cooling, which the bay offers"),
        ),
        needed => Reason::new(
            Check::Cooling,
            false,
            format!(
                "the pack needs {needed} cooling; the bay offers {}",
                if bay.cooling.is_empty() {
                    "none".to_owned()
                } else {
                    bay.cooling
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        ),
    };
    reasons.push(cooling);
    reasons.push(same(
        Check::BmsProtocol,
        "BMS protocol",
        &pack.bms_protocol,
        &bay.bms_protocol,
    ));
}

fn check_e_axle(vehicle: &ElectricSystems, axle: &EAxle, reasons: &mut Vec<Reason>) {
    let bus = vehicle.drivetrain.voltage;
    let covers = axle.inverter_voltage.contains(&bus);
    reasons.push(Reason::new(
        Check::Voltage,
        covers,
        if covers {
            format!(
                "the inverter accepts {}, covering the vehicle's {} bus",
                axle.inverter_voltage, bus
            )
        } else {
            format!(
                "the inverter accepts only {}; the vehicle's bus spans {}",
                axle.inverter_voltage, bus
            )
        },
    ));
    let supply = vehicle.drivetrain.battery_power;
    let demand = axle.peak_power;
    reasons.push(Reason::new(
        Check::Power,
        supply >= demand,
        format!(
            "the e-axle peaks at {demand}, the vehicle's battery delivers {supply}{}",
            if supply >= demand {
                ""
            } else {
                " (too little)"
            }
        ),
    ));
    let driven = vehicle.drivetrain.driven_axle;
    reasons.push(if axle.driven_axle == driven {
        Reason::new(
            Check::DrivenAxle,
            true,
            format!("drives the {driven} axle, as the vehicle does"),
        )
    } else {
        Reason::new(
            Check::DrivenAxle,
            false,
            format!(
                "the part drives the {} axle, the vehicle its {driven} axle",
                axle.driven_axle
            ),
        )
    });
    reasons.push(same(
        Check::Mounting,
        "drive-unit mounting",
        &axle.mounting.to_string(),
        &vehicle.drivetrain.mounting.to_string(),
    ));
}

fn check_charger(vehicle: &ElectricSystems, charger: &Charger, reasons: &mut Vec<Reason>) {
    let inlet = vehicle.charge_inlet;
    reasons.push(same(
        Check::AcInlet,
        "AC standard",
        charger.ac_connector.as_str(),
        inlet.ac.as_str(),
    ));
    let name = |c: Option<crate::ChargeConnector>| c.map_or("none", |c| c.as_str());
    reasons.push(same(
        Check::DcInlet,
        "DC standard",
        name(charger.dc_connector),
        name(inlet.dc),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::part::tests::PACK;
    use crate::platform::tests::{platform, PLATFORM};

    fn pack(text: &str) -> Part {
        Part::from_table(&toml::from_str(text).unwrap(), "test").unwrap()
    }

    fn report(platform_text: &str, part_text: &str) -> FitReport {
        check_fit(&platform(platform_text).unwrap(), &pack(part_text))
    }

    /// The failed checks with their details.
    fn failures(platform_text: &str, part_text: &str) -> Vec<String> {
        report(platform_text, part_text)
            .failures()
            .map(|r| format!("{}: {}", r.check, r.detail))
            .collect()
    }

    #[test]
    fn the_reference_pack_fits_the_reference_platform_with_every_check_reported() {
        let report = report(PLATFORM, PACK);
        assert!(report.fits, "{report:?}");
        let checks: Vec<Check> = report.reasons.iter().map(|r| r.check).collect();
        assert_eq!(checks, PACK_CHECKS);
        assert!(report.reasons.iter().all(|r| r.outcome == Outcome::Pass));
        assert_eq!(
            report.reasons[1].to_string(),
            "pass voltage: pack 240..403 V lies within the vehicle's 240..405 V window"
        );
    }

    #[test]
    fn voltage_misfit() {
        let text = PLATFORM.replace("min_voltage = \"240 V\"", "min_voltage = \"300 V\"");
        assert_eq!(
            failures(&text, PACK),
            ["voltage: pack minimum 240 V is below the vehicle's 300 V"]
        );
        let text = PLATFORM.replace("max_voltage = \"405 V\"", "max_voltage = \"400 V\"");
        assert_eq!(
            failures(&text, PACK),
            ["voltage: pack maximum 403 V is above the vehicle's 400 V"]
        );
    }

    #[test]
    fn power_misfit() {
        let text = PLATFORM
            .replace("peak_power = \"110 kW\"", "peak_power = \"150 kW\"")
            .replace("battery_power = \"110 kW\"", "battery_power = \"150 kW\"");
        assert_eq!(
            failures(&text, PACK),
            ["power: pack delivers 110 kW, the drivetrain draws up to 150 kW (too little)"]
        );
    }

    #[test]
    fn envelope_misfit_names_each_dimension_and_does_not_rotate() {
        let text = PLATFORM
            .replace("length = \"1570 mm\"", "length = \"1188 mm\"")
            .replace("width = \"1188 mm\"", "width = \"1570 mm\"")
            .replace("height = \"265 mm\"", "height = \"260 mm\"");
        assert_eq!(
            failures(&text, PACK),
            [
                "length: pack 1570 mm > bay 1188 mm",
                "height: pack 265 mm > bay 260 mm",
            ]
        );
    }

    #[test]
    fn mounting_misfit_by_pattern_or_bolt_count() {
        let text = PLATFORM.replace("bolts = 8", "bolts = 10");
        assert_eq!(
            failures(&text, PACK),
            ["mounting: the part has mounting pattern test-pattern (8 bolts), the vehicle test-pattern (10 bolts)"]
        );
        let text = PLATFORM.replace("\"test-pattern\"", "\"other-pattern\"");
        assert_eq!(failures(&text, PACK).len(), 1);
    }

    #[test]
    fn hv_connector_and_bms_protocol_misfits() {
        let text = PLATFORM
            .replace("\"test-hv\"", "\"other-hv\"")
            .replace("\"test-bms\"", "\"other-bms\"");
        assert_eq!(
            failures(&text, PACK),
            [
                "hv-connector: the part has HV connector test-hv, the vehicle other-hv",
                "bms-protocol: the part has BMS protocol test-bms, the vehicle other-bms",
            ]
        );
    }

    #[test]
    fn cooling_misfit_and_passive_packs_fit_anywhere() {
        let liquid = PACK.replace("cooling = \"air-passive\"", "cooling = \"liquid\"");
        assert_eq!(
            failures(PLATFORM, &liquid),
            ["cooling: the pack needs liquid cooling; the bay offers none"]
        );
        let with_loop = PLATFORM.replace("cooling = []", "cooling = [\"liquid\"]");
        assert!(report(&with_loop, &liquid).fits);
        assert!(report(&with_loop, PACK).fits);
    }

    #[test]
    fn a_combustion_vehicle_takes_no_pack() {
        let text = "powertrain = \"combustion\"\nsource = \"x\"\n[physics]\ncurb_mass = \"1550 kg\"\ndrag_coefficient = 0.33\nfrontal_area = \"2.6 m^2\"\nrolling_resistance = 0.01\nwheel_radius = \"362 mm\"\nsource = \"x\"\n";
        let report = report(text, PACK);
        assert!(!report.fits);
        assert_eq!(report.reasons.len(), PACK_CHECKS.len());
        assert_eq!(report.failures().count(), 1);
        assert_eq!(
            report.reasons[0].detail,
            "the vehicle is combustion: it has no traction battery, high-voltage bus or charge inlet"
        );
        assert!(report.reasons[1..]
            .iter()
            .all(|r| r.outcome == Outcome::NotApplicable));
    }

    const AXLE: &str = r#"
id = "test-axle"
kind = "e-axle"
name = "Test axle"
manufacturer = "Test"
source = "unit test"
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
efficiency = [{ speed = "3000 rpm", torque = "100 N*m", efficiency = "94 %" }]
"#;

    #[test]
    fn e_axle_misfits() {
        assert!(report(PLATFORM, AXLE).fits);
        let axle = AXLE
            .replace("min_voltage = \"240 V\"", "min_voltage = \"300 V\"")
            .replace("peak_power = \"110 kW\"", "peak_power = \"150 kW\"")
            .replace("driven_axle = \"front\"", "driven_axle = \"rear\"")
            .replace("bolts = 3", "bolts = 4");
        assert_eq!(
            failures(PLATFORM, &axle),
            [
                "voltage: the inverter accepts only 300..405 V; the vehicle's bus spans 240..405 V",
                "power: the e-axle peaks at 150 kW, the vehicle's battery delivers 110 kW (too little)",
                "driven-axle: the part drives the rear axle, the vehicle its front axle",
                "mounting: the part has drive-unit mounting test-drive (4 bolts), the vehicle test-drive (3 bolts)",
            ]
        );
    }

    #[test]
    fn charger_inlet_misfits() {
        let charger = "id = \"c\"\nkind = \"charger\"\nname = \"c\"\nmanufacturer = \"m\"\nsource = \"s\"\nac_power = \"7.4 kW\"\nac_connector = \"Type2\"\ndc_power = \"50 kW\"\ndc_connector = \"CHAdeMO\"\n";
        assert!(report(PLATFORM, charger).fits);
        let ccs = charger.replace("CHAdeMO", "CCS2");
        assert_eq!(
            failures(PLATFORM, &ccs),
            ["dc-inlet: the part has DC standard CCS2, the vehicle CHAdeMO"]
        );
        let nacs = PLATFORM
            .replace("ac = \"Type2\"", "ac = \"NACS\"")
            .replace("dc = \"CHAdeMO\"", "dc = \"NACS\"");
        assert_eq!(
            failures(&nacs, charger),
            [
                "ac-inlet: the part has AC standard Type2, the vehicle NACS",
                "dc-inlet: the part has DC standard CHAdeMO, the vehicle NACS",
            ]
        );
    }
}
