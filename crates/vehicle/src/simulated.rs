//! A simulated vehicle: the longitudinal EV model driving a cycle, its outputs
//! encoded into the brand's CAN frames (so they travel through the same decoder and
//! mapping as a real car's) and, for what the brand's buses do not carry, published
//! directly as a virtual ECU would.

use tomoe_can::Frame;
use tomoe_sim::{Charger, Cycle, Gear, Sample, Simulator, VehicleParameters};
use tomoe_vss::{Catalog, LeafId, Value};

use crate::{FrameSynthesizer, LoadedProfile};

/// Which simulator preset models which profile's drivetrain and body; other
/// battery-electric profiles borrow the Kona's.
const PRESETS: &[(&str, &str)] = &[
    ("hyundai-kona-ev-2019", "hyundai-kona-electric-2019"),
    ("nissan-leaf-2018", "nissan-leaf-2018"),
    ("honda-e-2020", "honda-e-2020"),
    ("tesla-model3", "tesla-model3-sr-plus-2020"),
];

/// Why a profile's vehicle cannot be simulated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulationError {
    /// The simulator models battery-electric vehicles only.
    #[error("vehicle profile \"{0}\" has a combustion engine, and the simulator models battery-electric vehicles only: give it --replay LOG or --idle")]
    NotElectric(String),
    /// The profile installs a battery pack the parts catalog does not have.
    #[error("vehicle profile \"{profile}\" installs battery pack \"{part}\", which is not a battery pack of the parts catalog in {dir}")]
    UnknownPack {
        /// The profile.
        profile: String,
        /// The part id.
        part: String,
        /// The parts catalog.
        dir: String,
    },
    /// The profile's platform specification is invalid.
    #[error(transparent)]
    Profile(#[from] crate::ProfileError),
    /// The parts catalog cannot be read.
    #[error(transparent)]
    Parts(#[from] tomoe_parts::PartsError),
    /// The resulting parameters are not a vehicle the simulator accepts.
    #[error(transparent)]
    Simulator(#[from] tomoe_sim::SimError),
}

/// The simulator parameters for a profile's model: its preset, or the Kona's.
pub fn parameters_for(profile_id: &str) -> VehicleParameters {
    let preset = PRESETS
        .iter()
        .find(|(profile, _)| *profile == profile_id)
        .map(|(_, preset)| *preset)
        .unwrap_or("hyundai-kona-electric-2019");
    tomoe_sim::presets::preset(preset).expect("every listed preset exists")
}

/// The simulator parameters of a profile's vehicle as the platform data says it
/// is built: its model's preset ([`parameters_for`]) with the traction battery of
/// the pack its `[platform.installed]` names, from the parts catalog in
/// `parts_dir` (cells, capacity, usable energy, resistance, current limits; the
/// cell chemistry's voltage window stays the preset's). A profile whose platform is a combustion vehicle is refused; one
/// without a `[platform]` keeps the preset.
pub fn vehicle_parameters(
    profile: &LoadedProfile,
    parts_dir: &std::path::Path,
) -> Result<VehicleParameters, SimulationError> {
    let id = &profile.profile.id;
    let mut parameters = parameters_for(id);
    let Some(platform) = profile.profile.platform_spec(&profile.dir)? else {
        return Ok(parameters);
    };
    if platform.powertrain == tomoe_parts::Powertrain::Combustion {
        return Err(SimulationError::NotElectric(id.clone()));
    }
    let Some(pack_id) = platform.installed(tomoe_parts::PartKind::BatteryPack) else {
        return Ok(parameters);
    };
    let catalog = tomoe_parts::Catalog::load(parts_dir)?;
    let unknown = || SimulationError::UnknownPack {
        profile: id.clone(),
        part: pack_id.to_string(),
        dir: parts_dir.display().to_string(),
    };
    let part = catalog.get(pack_id).ok_or_else(unknown)?;
    let tomoe_parts::PartSpec::BatteryPack(pack) = &part.spec else {
        return Err(unknown());
    };
    crate::apply_pack(&mut parameters.battery, pack);
    parameters.name = format!("{} with {}", parameters.name, part.name);
    Ok(parameters)
}

/// What the simulated vehicle does.
#[derive(Debug, Clone)]
pub enum Scenario {
    /// Drive a cycle over and over; charge (DC) when the battery runs low.
    Cycle(Cycle),
}

struct Outputs {
    speed: Option<LeafId>,
    wheel_speeds: Vec<LeafId>,
    soc_displayed: Option<LeafId>,
    soc_current: Option<LeafId>,
    voltage: Option<LeafId>,
    current: Option<LeafId>,
    power: Option<LeafId>,
    temperatures: Vec<LeafId>,
    is_charging: Option<LeafId>,
    motor_speed: Option<LeafId>,
    accelerator: Option<LeafId>,
    brake: Option<LeafId>,
    current_gear: Option<LeafId>,
    selected_gear: Option<LeafId>,
    park_lock: Option<LeafId>,
    odometer: Option<LeafId>,
    acceleration: Option<LeafId>,
    net_capacity: Option<LeafId>,
    simulation_active: Option<LeafId>,
    simulation_cycle: Option<LeafId>,
}

/// How long the simulated driver parks after each cycle by default, in seconds of
/// vehicle time.
pub const DEFAULT_PARK_S: f64 = 120.0;

/// The simulator, the profile's frame synthesizer and the VSS leaves it drives.
pub struct SimulatedVehicle {
    simulator: Simulator,
    scenario: Scenario,
    cycle_time: f64,
    charging: bool,
    /// How long the driver parks after each cycle, seconds of vehicle time.
    park_s: f64,
    /// Seconds of parking left (0 while driving).
    parked_left: f64,
    odometer_km: f64,
    synthesizer: FrameSynthesizer,
    outputs: Outputs,
    usable_kwh: f64,
    /// Packs swapped in by the battery pack service.
    packs: Option<crate::PackChanges>,
}

impl std::fmt::Debug for SimulatedVehicle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedVehicle")
            .field("cycle_time", &self.cycle_time)
            .finish_non_exhaustive()
    }
}

/// One step's results: frames for the buses, and values for the leaves no bus carries.
#[derive(Debug, Default)]
pub struct SimulationOutput {
    /// Frames carrying the values the profile's DBCs can carry.
    pub frames: Vec<Frame>,
    /// Values published directly (the profile's buses do not carry them).
    pub direct: Vec<(LeafId, Option<Value>)>,
    /// The simulator's sample.
    pub sample: Option<Sample>,
}

impl SimulatedVehicle {
    /// A simulated vehicle for `profile` running `scenario`, starting at
    /// `initial_soc` (0..1), built as its platform data says
    /// ([`vehicle_parameters`], parts from `tomoe_parts::default_parts_dir`).
    pub fn new(
        profile: &LoadedProfile,
        catalog: &Catalog,
        scenario: Scenario,
        initial_soc: f64,
    ) -> Result<SimulatedVehicle, SimulationError> {
        let parameters = vehicle_parameters(profile, &tomoe_parts::default_parts_dir())?;
        let usable_kwh =
            parameters.battery.usable_capacity_ah * parameters.battery.nominal_voltage_v / 1000.0;
        let simulator = Simulator::new(parameters, initial_soc, 20.0)?;
        let leaf = |path: &str| catalog.leaf(path).map(|l| l.id);
        let outputs = Outputs {
            speed: leaf("Vehicle.Speed"),
            wheel_speeds: [
                "Row1.Wheel.Left",
                "Row1.Wheel.Right",
                "Row2.Wheel.Left",
                "Row2.Wheel.Right",
            ]
            .iter()
            .filter_map(|w| leaf(&format!("Vehicle.Chassis.Axle.{w}.Speed")))
            .collect(),
            soc_displayed: leaf("Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed"),
            soc_current: leaf("Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"),
            voltage: leaf("Vehicle.Powertrain.TractionBattery.CurrentVoltage"),
            current: leaf("Vehicle.Powertrain.TractionBattery.CurrentCurrent"),
            power: leaf("Vehicle.Powertrain.TractionBattery.CurrentPower"),
            temperatures: ["Average", "Max", "Min"]
                .iter()
                .filter_map(|t| {
                    leaf(&format!(
                        "Vehicle.Powertrain.TractionBattery.Temperature.{t}"
                    ))
                })
                .collect(),
            is_charging: leaf("Vehicle.Powertrain.TractionBattery.Charging.IsCharging"),
            motor_speed: leaf("Vehicle.Powertrain.ElectricMotor.Speed"),
            accelerator: leaf("Vehicle.Chassis.Accelerator.PedalPosition"),
            brake: leaf("Vehicle.Chassis.Brake.PedalPosition"),
            current_gear: leaf("Vehicle.Powertrain.Transmission.CurrentGear"),
            selected_gear: leaf("Vehicle.Powertrain.Transmission.SelectedGear"),
            park_lock: leaf("Vehicle.Powertrain.Transmission.IsParkLockEngaged"),
            odometer: leaf("Vehicle.TraveledDistance"),
            acceleration: leaf("Vehicle.Acceleration.Longitudinal"),
            net_capacity: leaf("Vehicle.Powertrain.TractionBattery.NetCapacity"),
            simulation_active: leaf("Vehicle.Tomoe.Simulation.IsActive"),
            simulation_cycle: leaf("Vehicle.Tomoe.Simulation.Cycle"),
        };
        Ok(SimulatedVehicle {
            simulator,
            scenario,
            cycle_time: 0.0,
            charging: false,
            park_s: DEFAULT_PARK_S,
            parked_left: 0.0,
            odometer_km: 12_000.0,
            synthesizer: FrameSynthesizer::new(profile, catalog),
            outputs,
            usable_kwh,
            packs: None,
        })
    }

    /// The vehicle carrying the packs a [`crate::PackService`] swaps in: the
    /// pack it has now (the last swap recorded, if any, at the vehicle's state
    /// of charge) at once, later ones from the next step on, each at its stated
    /// state of charge. A pack the simulator refuses is logged and not taken.
    pub fn with_packs(mut self, mut packs: crate::PackChanges) -> SimulatedVehicle {
        let current = packs.0.borrow_and_update().clone();
        if let Some(change) = current {
            self.take_pack(&change);
        }
        self.packs = Some(packs);
        self
    }

    /// Puts `change`'s pack in; true if the simulator took it.
    fn take_pack(&mut self, change: &crate::PackChange) -> bool {
        let mut battery = self.simulator.params().battery.clone();
        crate::apply_pack(&mut battery, &change.pack);
        let soc = change.soc.unwrap_or_else(|| self.simulator.soc());
        match self.simulator.replace_battery(battery, soc) {
            Ok(()) => {
                let battery = &self.simulator.params().battery;
                self.usable_kwh = battery.usable_capacity_ah * battery.nominal_voltage_v / 1000.0;
                tracing::info!(pack = %change.id, soc, "battery pack swapped");
                true
            }
            Err(error) => {
                tracing::warn!(%error, pack = %change.id, "the simulator refuses the swapped battery pack");
                false
            }
        }
    }

    /// The simulator (its parameters and battery state).
    pub fn simulator(&self) -> &Simulator {
        &self.simulator
    }

    /// Values that do not change while the simulation runs (publish once at start).
    pub fn static_values(&self) -> Vec<(LeafId, Option<Value>)> {
        let mut values = Vec::new();
        if let Some(leaf) = self.outputs.net_capacity {
            values.push((leaf, Some(Value::Uint32(self.usable_kwh.round() as u32))));
        }
        if let Some(leaf) = self.outputs.simulation_active {
            values.push((leaf, Some(Value::Bool(true))));
        }
        if let Some(leaf) = self.outputs.simulation_cycle {
            let Scenario::Cycle(cycle) = &self.scenario;
            values.push((leaf, Some(Value::String(cycle.name().to_uppercase()))));
        }
        values
    }

    /// How long the driver parks at the end of each cycle before driving it again
    /// (or charging, when the battery is low), in seconds of vehicle time; default
    /// [`DEFAULT_PARK_S`]. Zero drives the cycle again at once, still through Park.
    pub fn with_park_time(mut self, seconds: f64) -> SimulatedVehicle {
        self.park_s = if seconds.is_finite() {
            seconds.max(0.0)
        } else {
            0.0
        };
        self
    }

    /// Advances the simulation by `dt` seconds; `timestamp` stamps the frames.
    ///
    /// The driver follows the cycle, shifts to Park at its end and parks for the
    /// park time (the vehicle mode becomes PARKED, so parked-only apps and
    /// updates run), then drives the cycle again; below 12 % state of charge it
    /// charges (DC, to 80 %) instead, parked.
    pub fn step(&mut self, dt: f64, timestamp: f64) -> SimulationOutput {
        let mut swapped = false;
        if let Some(packs) = &mut self.packs {
            if packs.0.has_changed().unwrap_or(false) {
                let change = packs.0.borrow_and_update().clone();
                if let Some(change) = change {
                    swapped = self.take_pack(&change);
                }
            }
        }
        let Scenario::Cycle(cycle) = &self.scenario;
        let sample = if self.charging {
            let sample = self.simulator.charge(dt, &Charger::dc(50_000.0, 125.0));
            if sample.soc >= 0.8 {
                self.charging = false;
                self.cycle_time = 0.0;
            }
            sample
        } else if self.parked_left > 0.0 {
            self.parked_left -= dt;
            let sample = self.simulator.step(dt, 0.0, 0.0);
            if self.parked_left <= 0.0 && sample.soc < 0.12 {
                self.charging = true;
            }
            sample
        } else {
            self.cycle_time += dt;
            if self.cycle_time > cycle.duration_s() {
                // The end of the trip: shift to Park and stand.
                self.cycle_time = 0.0;
                self.simulator.park();
                self.parked_left = self.park_s.max(dt);
                self.simulator.step(dt, 0.0, 0.0)
            } else {
                let sample = self.simulator.step(
                    dt,
                    cycle.speed_at(self.cycle_time),
                    cycle.grade_at(self.cycle_time),
                );
                if sample.soc < 0.12 && sample.speed_mps < 0.1 {
                    self.charging = true;
                }
                sample
            }
        };
        self.odometer_km += sample.speed_mps * dt / 1000.0;
        let mut output = SimulationOutput::default();
        let speed_kmh = sample.speed_mps * 3.6;
        let o = &self.outputs;
        let mut values: Vec<(Option<LeafId>, Value)> = vec![
            (o.speed, Value::Float(speed_kmh as f32)),
            (
                o.soc_displayed,
                Value::Float((sample.soc * 100.0).clamp(0.0, 100.0) as f32),
            ),
            (
                o.soc_current,
                Value::Float((sample.soc * 100.0).clamp(0.0, 100.0) as f32),
            ),
            (o.voltage, Value::Float(sample.battery_voltage_v as f32)),
            // VSS: positive current and power flow into the battery.
            (o.current, Value::Float(-sample.battery_current_a as f32)),
            (o.power, Value::Float(-sample.battery_power_w as f32)),
            (o.is_charging, Value::Bool(sample.charging)),
            (
                o.motor_speed,
                Value::Int32(sample.motor_speed_rpm.round() as i32),
            ),
            (
                o.accelerator,
                Value::Uint32(sample.accelerator_pedal_pct.round().clamp(0.0, 100.0) as u32),
            ),
            (
                o.brake,
                Value::Uint32(sample.brake_pedal_pct.round().clamp(0.0, 100.0) as u32),
            ),
            (
                o.current_gear,
                Value::Int32(if sample.gear == Gear::Drive { 1 } else { 0 }),
            ),
            (
                o.selected_gear,
                Value::Int32(if sample.gear == Gear::Drive { 127 } else { 126 }),
            ),
            (o.park_lock, Value::Bool(sample.gear == Gear::Park)),
            (o.odometer, Value::Float(self.odometer_km as f32)),
            (o.acceleration, Value::Float(sample.accel as f32)),
        ];
        values.extend(
            o.wheel_speeds
                .iter()
                .map(|leaf| (Some(*leaf), Value::Float(speed_kmh as f32))),
        );
        values.extend(
            o.temperatures
                .iter()
                .map(|leaf| (Some(*leaf), Value::Float(sample.battery_temp_c as f32))),
        );
        for (leaf, value) in values {
            let Some(leaf) = leaf else { continue };
            if self.synthesizer.carries(leaf) {
                self.synthesizer.set(leaf, value);
            } else {
                output.direct.push((leaf, Some(value)));
            }
        }
        if swapped {
            // The new pack's usable energy, as at start.
            if let Some(leaf) = self.outputs.net_capacity {
                let kwh = Value::Uint32(self.usable_kwh.round() as u32);
                output.direct.push((leaf, Some(kwh)));
            }
        }
        output.frames = self.synthesizer.frames(timestamp);
        output.sample = Some(sample);
        output
    }
}
