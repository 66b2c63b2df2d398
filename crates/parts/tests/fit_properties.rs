//! Properties of the fit check: a part always fits the vehicle built around it, and
//! taking any margin away below the part's own figure makes exactly that check fail.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tomoe_parts::fit::{CHARGER_CHECKS, E_AXLE_CHECKS, PACK_CHECKS};
use tomoe_parts::{
    check_fit, AngularSpeed, Axle, BatteryBay, BatteryPack, CellArrangement, ChargeConnector,
    ChargeInlet, Charger, Check, Chemistry, Cooling, Drivetrain, EAxle, EfficiencyPoint,
    ElectricSystems, Envelope, InstalledParts, MotorType, Mounting, Outcome, Part, PartSpec,
    Physics, Powertrain, Quantity, TemperatureRange, VehiclePlatform, VoltageRange,
};

fn pattern() -> impl Strategy<Value = Mounting> {
    ("[a-z]{3,8}-[a-z0-9]{2,6}", 1u32..40).prop_map(|(pattern, bolts)| Mounting { pattern, bolts })
}

fn cooling() -> impl Strategy<Value = Cooling> {
    prop::sample::select(Cooling::ALL.to_vec())
}

fn axle() -> impl Strategy<Value = Axle> {
    prop::sample::select(Axle::ALL.to_vec())
}

/// A random but self-consistent battery pack.
fn pack() -> impl Strategy<Value = BatteryPack> {
    (
        (40u32..200, 1u32..80, 3.2f64..3.8, 2.0f64..200.0),
        (2.5f64..3.0, 4.0f64..4.25),
        (5.0f64..400.0, 0.3f64..3.0, 0.3f64..2.0, 0.05f64..0.6),
        (cooling(), pattern(), "[a-z]{2,6}-hv", "[a-z]{2,6}-bms"),
    )
        .prop_map(
            |(
                (series, parallel, cell_voltage, capacity),
                (cell_min, cell_max),
                (power_kw, length, width, height),
                (cooling, mounting, hv_connector, bms_protocol),
            )| {
                let s = f64::from(series);
                let gross = f64::from(series * parallel) * cell_voltage * capacity;
                let power = Quantity::new(power_kw * 1000.0);
                BatteryPack {
                    chemistry: Chemistry::Nmc,
                    cells: CellArrangement {
                        series,
                        parallel,
                        nominal_voltage: Quantity::new(cell_voltage),
                        capacity: Quantity::new(capacity),
                    },
                    nominal_voltage: Quantity::new(s * cell_voltage),
                    voltage: VoltageRange {
                        min: Quantity::new(s * cell_min),
                        max: Quantity::new(s * cell_max),
                    },
                    usable_energy: Quantity::new(gross * 0.93),
                    gross_energy: Quantity::new(gross),
                    max_charge_power: power * 0.5,
                    max_discharge_power: power,
                    max_charge_current: Quantity::new(power_kw * 1000.0 / (s * cell_min)),
                    max_discharge_current: Quantity::new(power_kw * 1000.0 / (s * cell_min)),
                    internal_resistance: Quantity::new(0.05),
                    thermal: TemperatureRange {
                        min: Quantity::new(-25.0),
                        max: Quantity::new(55.0),
                    },
                    cooling,
                    mass: Quantity::new(gross / 150.0),
                    envelope: Envelope {
                        length: Quantity::new(length),
                        width: Quantity::new(width),
                        height: Quantity::new(height),
                    },
                    mounting,
                    hv_connector,
                    bms_protocol,
                }
            },
        )
}

/// A random e-axle.
fn e_axle() -> impl Strategy<Value = EAxle> {
    (
        (
            10.0f64..400.0,
            100.0f64..600.0,
            6000.0f64..20000.0,
            5.0f64..12.0,
        ),
        (150.0f64..400.0, 1.0f64..1.6),
        (axle(), pattern()),
    )
        .prop_map(
            |((power_kw, torque, rpm, gear_ratio), (min_v, span), (driven_axle, mounting))| {
                let peak_power = Quantity::new(power_kw * 1000.0);
                let peak_torque = Quantity::new(torque);
                let max_speed = Quantity::<AngularSpeed>::from_unit(rpm, "rpm").unwrap();
                EAxle {
                    motor_type: MotorType::Pmsm,
                    peak_power,
                    continuous_power: peak_power * 0.5,
                    peak_torque,
                    continuous_torque: peak_torque * 0.5,
                    max_speed,
                    gear_ratio,
                    efficiency: vec![EfficiencyPoint {
                        speed: max_speed * 0.3,
                        torque: peak_torque * 0.2,
                        efficiency: Quantity::new(0.93),
                    }],
                    inverter_voltage: VoltageRange {
                        min: Quantity::new(min_v),
                        max: Quantity::new(min_v * span),
                    },
                    driven_axle,
                    mounting,
                }
            },
        )
}

/// A random charger with a valid AC/DC pair.
fn charger() -> impl Strategy<Value = Charger> {
    let pairs = vec![
        (ChargeConnector::Type2, Some(ChargeConnector::Ccs2)),
        (ChargeConnector::Type2, Some(ChargeConnector::Chademo)),
        (ChargeConnector::Type1, Some(ChargeConnector::Ccs1)),
        (ChargeConnector::Type1, Some(ChargeConnector::Chademo)),
        (ChargeConnector::Nacs, Some(ChargeConnector::Nacs)),
        (ChargeConnector::Type2, None),
    ];
    (prop::sample::select(pairs), 3.0f64..22.0, 20.0f64..350.0).prop_map(
        |((ac_connector, dc_connector), ac_kw, dc_kw)| Charger {
            ac_power: Quantity::new(ac_kw * 1000.0),
            ac_connector,
            dc_power: dc_connector.map(|_| Quantity::new(dc_kw * 1000.0)),
            dc_connector,
        },
    )
}

fn part(spec: PartSpec) -> Part {
    Part {
        id: "generated".into(),
        name: "generated".into(),
        manufacturer: "proptest".into(),
        sources: vec!["generated".into()],
        estimated: false,
        notes: BTreeMap::new(),
        spec,
    }
}

/// Non-negative margins, zero included.
fn margin(max: f64) -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), 0.0..max]
}

/// The margins a platform built around a part adds to the part's own figures.
#[derive(Debug, Clone)]
struct Margins {
    length: f64,
    width: f64,
    height: f64,
    below_min: f64,
    above_max: f64,
    /// The drivetrain draws this fraction of the pack's power (at most all of it).
    demand: f64,
    /// Extra battery power beyond the e-axle's peak, in watts.
    supply: f64,
    /// Extra cooling interfaces the bay offers.
    extra_cooling: Vec<Cooling>,
}

fn margins() -> impl Strategy<Value = Margins> {
    (
        (margin(0.3), margin(0.3), margin(0.1)),
        (margin(60.0), margin(60.0)),
        (prop_oneof![Just(1.0), 0.05f64..1.0], margin(100_000.0)),
        prop::collection::vec(cooling(), 0..3),
    )
        .prop_map(
            |((length, width, height), (below_min, above_max), (demand, supply), extra_cooling)| {
                Margins {
                    length,
                    width,
                    height,
                    below_min,
                    above_max,
                    demand,
                    supply,
                    extra_cooling,
                }
            },
        )
}

fn physics() -> Physics {
    Physics {
        curb_mass: Quantity::new(1600.0),
        drag_coefficient: 0.3,
        frontal_area: Quantity::new(2.3),
        rolling_resistance: 0.01,
        wheel_radius: Quantity::new(0.33),
        sources: vec!["generated".into()],
    }
}

fn platform(electric: ElectricSystems) -> VehiclePlatform {
    VehiclePlatform {
        powertrain: Powertrain::BatteryElectric,
        market: None,
        sources: vec!["generated".into()],
        estimated: false,
        notes: BTreeMap::new(),
        installed: InstalledParts::default(),
        electric: Some(electric),
        physics: physics(),
    }
}

/// A vehicle whose bay, bus and interfaces are the pack's own figures plus margins.
fn vehicle_around_pack(pack: &BatteryPack, m: &Margins) -> VehiclePlatform {
    let mut cooling = m.extra_cooling.clone();
    if pack.cooling != Cooling::AirPassive {
        cooling.push(pack.cooling);
    }
    platform(ElectricSystems {
        battery_bay: BatteryBay {
            envelope: Envelope {
                length: pack.envelope.length + Quantity::new(m.length),
                width: pack.envelope.width + Quantity::new(m.width),
                height: pack.envelope.height + Quantity::new(m.height),
            },
            mounting: pack.mounting.clone(),
            hv_connector: pack.hv_connector.clone(),
            bms_protocol: pack.bms_protocol.clone(),
            cooling,
        },
        drivetrain: Drivetrain {
            voltage: VoltageRange {
                min: pack.voltage.min - Quantity::new(m.below_min),
                max: pack.voltage.max + Quantity::new(m.above_max),
            },
            peak_power: pack.max_discharge_power * m.demand,
            battery_power: pack.max_discharge_power,
            driven_axle: Axle::Front,
            mounting: Mounting {
                pattern: "any-drive".into(),
                bolts: 4,
            },
        },
        charge_inlet: ChargeInlet {
            ac: ChargeConnector::Type2,
            dc: Some(ChargeConnector::Ccs2),
        },
    })
}

/// A vehicle whose bus, power and drive mounts are the e-axle's own figures, with margins.
fn vehicle_around_e_axle(axle: &EAxle, m: &Margins) -> VehiclePlatform {
    let range = axle.inverter_voltage;
    // The bus window lies inside the inverter's range: margins move its ends inwards.
    let span = range.max.value() - range.min.value();
    let inset = |x: f64| x.min(span / 4.0);
    platform(ElectricSystems {
        battery_bay: BatteryBay {
            envelope: Envelope {
                length: Quantity::new(2.0),
                width: Quantity::new(1.5),
                height: Quantity::new(0.3),
            },
            mounting: Mounting {
                pattern: "any-bay".into(),
                bolts: 10,
            },
            hv_connector: "any-hv".into(),
            bms_protocol: "any-bms".into(),
            cooling: vec![Cooling::Liquid],
        },
        drivetrain: Drivetrain {
            voltage: VoltageRange {
                min: range.min + Quantity::new(inset(m.below_min)),
                max: range.max - Quantity::new(inset(m.above_max)),
            },
            peak_power: axle.peak_power,
            battery_power: axle.peak_power + Quantity::new(m.supply),
            driven_axle: axle.driven_axle,
            mounting: axle.mounting.clone(),
        },
        charge_inlet: ChargeInlet {
            ac: ChargeConnector::Type2,
            dc: None,
        },
    })
}

fn vehicle_around_charger(charger: &Charger) -> VehiclePlatform {
    let mut vehicle = vehicle_around_e_axle(
        &EAxle {
            motor_type: MotorType::Pmsm,
            peak_power: Quantity::new(100_000.0),
            continuous_power: Quantity::new(50_000.0),
            peak_torque: Quantity::new(300.0),
            continuous_torque: Quantity::new(150.0),
            max_speed: Quantity::new(1000.0),
            gear_ratio: 9.0,
            efficiency: Vec::new(),
            inverter_voltage: VoltageRange {
                min: Quantity::new(250.0),
                max: Quantity::new(420.0),
            },
            driven_axle: Axle::Rear,
            mounting: Mounting {
                pattern: "any-drive".into(),
                bolts: 4,
            },
        },
        &Margins {
            length: 0.0,
            width: 0.0,
            height: 0.0,
            below_min: 0.0,
            above_max: 0.0,
            demand: 1.0,
            supply: 0.0,
            extra_cooling: Vec::new(),
        },
    );
    if let Some(electric) = vehicle.electric.as_mut() {
        electric.charge_inlet = ChargeInlet {
            ac: charger.ac_connector,
            dc: charger.dc_connector,
        };
    }
    vehicle
}

fn assert_all_pass(report: &tomoe_parts::FitReport, checks: &[Check]) {
    assert!(report.fits, "{report:#?}");
    let reported: Vec<Check> = report.reasons.iter().map(|r| r.check).collect();
    assert_eq!(reported, checks);
    assert!(report.reasons.iter().all(|r| r.outcome == Outcome::Pass));
}

proptest! {
    #[test]
    fn a_pack_fits_the_vehicle_built_around_it(pack in pack(), m in margins()) {
        let vehicle = vehicle_around_pack(&pack, &m);
        assert_all_pass(&check_fit(&vehicle, &part(PartSpec::BatteryPack(pack))), PACK_CHECKS);
    }

    #[test]
    fn an_e_axle_fits_the_vehicle_built_around_it(axle in e_axle(), m in margins()) {
        let vehicle = vehicle_around_e_axle(&axle, &m);
        assert_all_pass(&check_fit(&vehicle, &part(PartSpec::EAxle(axle))), E_AXLE_CHECKS);
    }

    #[test]
    fn a_charger_fits_the_vehicle_built_around_it(charger in charger()) {
        let vehicle = vehicle_around_charger(&charger);
        assert_all_pass(&check_fit(&vehicle, &part(PartSpec::Charger(charger))), CHARGER_CHECKS);
    }

    #[test]
    fn a_bay_smaller_than_the_pack_fails_on_that_dimension_only(
        pack in pack(),
        m in margins(),
        which in 0usize..3,
        shortfall in 0.001f64..0.2,
    ) {
        let mut vehicle = vehicle_around_pack(&pack, &m);
        let electric = vehicle.electric.as_mut().unwrap();
        let envelope = &mut electric.battery_bay.envelope;
        let (dimension, check) = match which {
            0 => (&mut envelope.length, Check::Length),
            1 => (&mut envelope.width, Check::Width),
            _ => (&mut envelope.height, Check::Height),
        };
        let own = [pack.envelope.length, pack.envelope.width, pack.envelope.height][which];
        *dimension = own - Quantity::new(shortfall);
        let report = check_fit(&vehicle, &part(PartSpec::BatteryPack(pack)));
        let failed: Vec<Check> = report.failures().map(|r| r.check).collect();
        prop_assert!(!report.fits);
        prop_assert_eq!(failed, vec![check]);
    }

    #[test]
    fn a_drivetrain_hungrier_than_the_pack_fails_on_power_only(
        pack in pack(),
        m in margins(),
        excess in 1.0f64..50_000.0,
    ) {
        let mut vehicle = vehicle_around_pack(&pack, &m);
        let electric = vehicle.electric.as_mut().unwrap();
        electric.drivetrain.peak_power = pack.max_discharge_power + Quantity::new(excess);
        electric.drivetrain.battery_power = electric.drivetrain.peak_power;
        let report = check_fit(&vehicle, &part(PartSpec::BatteryPack(pack)));
        let failed: Vec<Check> = report.failures().map(|r| r.check).collect();
        prop_assert_eq!(failed, vec![Check::Power]);
    }

    #[test]
    fn quantities_read_back_what_they_show(value in -1.0e6f64..1.0e6) {
        let shown = Quantity::<tomoe_parts::Voltage>::new(value).to_string();
        let read = Quantity::<tomoe_parts::Voltage>::parse(&shown).unwrap();
        // Shown with five significant digits.
        prop_assert!((read.value() - value).abs() <= value.abs() * 1e-4 + 1e-9, "{} -> {}", value, shown);
    }
}
