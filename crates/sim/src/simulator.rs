//! The longitudinal model and its time stepping.
//!
//! # Equations
//!
//! Each step of length Δt goes from speed v₀ to speed v₁; forces are evaluated at
//! the mean speed v̄ = (v₀ + v₁)/2, which makes the kinetic-energy term exact.
//!
//! **Road load.** With m = curb mass + payload, f_r the rotational inertia factor,
//! θ = atan(grade):
//!
//! ```text
//! F_aero  = ½ ρ Cd A v̄²
//! F_roll  = Crr m g cos θ
//! F_grade = m g sin θ
//! F_inert = f_r m (v₁ − v₀)/Δt
//! F_wheel = F_inert + F_aero + F_roll + F_grade      (tractive force at the tyres)
//! P_wheel = F_wheel v̄
//! ```
//!
//! When measured coast-down coefficients are given, F_aero + F_roll is replaced by
//! A + B·v̄ + C·v̄² (see [`CoastdownCoefficients`](crate::CoastdownCoefficients)).
//!
//! A vehicle standing still with a zero target stays still (brakes hold it on a
//! grade) and draws only the auxiliary load.
//!
//! **Driver.** The driver asks for v₁ = the cycle's target speed at the end of the
//! step. If the required F_wheel is within the limits below, the vehicle follows
//! the target exactly. Otherwise it applies the largest available force and v₁
//! follows from F_wheel = F_max(v̄) (solved by fixed-point iteration, since F_max
//! and the road load depend on v̄); it never rolls backwards.
//!
//! **Drivetrain.** Motor speed ω = v̄·G/r (G gear ratio, r wheel radius), motor
//! torque T = F_wheel·r/(G·η_g) when driving. The force is limited by the peak
//! torque and the peak power, F ≤ min(T_peak·G·η_g/r, P_peak·η_g/v̄), and by the
//! battery (below). Electrical power into the inverter:
//!
//! ```text
//! driving:     P_motor = P_wheel / (η_g · η_m(ω, T))
//! regenerating: P_motor = −P_regen,wheel · η_g · η_m(ω, T)
//! ```
//!
//! η_g is the gearbox efficiency and η_m the motor-and-inverter efficiency (a
//! constant or a table over speed and torque).
//!
//! **Regenerative braking.** When F_wheel < 0 the braking power P_brake = −F_wheel·v̄
//! is split: the motor takes `regen.fraction` of it, times a fade factor
//! min(1, v̄/`regen.fade_speed_mps`), capped by `regen.max_power_w` and the peak
//! torque at the shaft and by what the battery accepts; the friction brakes take the
//! rest. The vehicle therefore always follows a deceleration.
//!
//! **Battery.** Terminal power P_batt = P_motor + P_aux. The pack is an open-circuit
//! voltage E(SoC) behind a resistance R0 (and optionally an RC pair whose voltage
//! V_rc is subtracted from E). The current solves P = (E − V_rc − I·R0)·I; the
//! physical root is
//!
//! ```text
//! I = (E' − √(E'² − 4·R0·P)) / (2·R0),   E' = E − V_rc
//! ```
//!
//! The deliverable power is bounded by the current limit, the minimum cell voltage
//! and the matched-load maximum E'²/(4·R0); a request beyond it is clamped and the
//! sample says so (`battery_limited`). Then
//!
//! ```text
//! SoC  ← SoC − I·Δt / (3600 · Q_usable)
//! V_rc ← V_rc·e^(−Δt/τ) + I·R1·(1 − e^(−Δt/τ)),   τ = R1·C1
//! C_th dT/dt = I²·R0 + V_rc²/R1 − G_th·(T − T_ambient)   (solved exactly per step)
//! ```
//!
//! SoC is the displayed state of charge over the usable capacity; the open-circuit
//! voltage is looked up at the corresponding whole-cell state of charge, with the
//! unusable buffer split evenly between the bottom and the top.
//!
//! **Sign convention.** Battery current and power are positive when the battery
//! discharges. (VSS uses the opposite sign for `TractionBattery.CurrentCurrent`;
//! whoever publishes the samples converts.)

use crate::battery::Battery;
use crate::cycle::Cycle;
use crate::efficiency::Efficiency;
use crate::params::{BatteryParameters, VehicleParameters};
use crate::SimError;

mod drivetrain;
mod sample;

pub use sample::{Gear, Sample, Summary, FULL_BRAKE_DECELERATION_MPS2};

use sample::idle_sample;

/// A vehicle being simulated: parameters plus state (time, speed, battery).
#[derive(Debug, Clone)]
pub struct Simulator {
    pub(crate) params: VehicleParameters,
    efficiency: Efficiency,
    pub(crate) battery: Battery,
    pub(crate) time_s: f64,
    pub(crate) speed_mps: f64,
    pub(crate) distance_m: f64,
    pub(crate) energy_used_wh: f64,
    pub(crate) cell_energy_wh: f64,
    pub(crate) regen_energy_wh: f64,
    pub(crate) has_moved: bool,
    pub(crate) last: Sample,
}

impl Simulator {
    /// Creates a simulator at rest, in Park, at time 0, with the battery at
    /// `initial_soc` (0..=1 of the usable capacity) and at the ambient temperature.
    pub fn new(
        params: VehicleParameters,
        initial_soc: f64,
        ambient_c: f64,
    ) -> Result<Simulator, SimError> {
        params.validate()?;
        if !(0.0..=1.0).contains(&initial_soc) {
            return Err(SimError::parameter(
                "initial_soc",
                format!("{initial_soc} is outside 0..=1"),
            ));
        }
        if !(-60.0..=70.0).contains(&ambient_c) {
            return Err(SimError::parameter(
                "ambient_c",
                format!("{ambient_c} °C is outside -60..=70 °C"),
            ));
        }
        let efficiency = Efficiency::new(&params.motor_efficiency).ok_or_else(|| {
            SimError::parameter("motor_efficiency.table", "not a full speed × torque grid")
        })?;
        let battery = Battery::new(&params.battery, initial_soc, ambient_c);
        let mut simulator = Simulator {
            params,
            efficiency,
            battery,
            time_s: 0.0,
            speed_mps: 0.0,
            distance_m: 0.0,
            energy_used_wh: 0.0,
            cell_energy_wh: 0.0,
            regen_energy_wh: 0.0,
            has_moved: false,
            last: idle_sample(),
        };
        simulator.last = simulator.resting_sample();
        Ok(simulator)
    }

    /// The parameters the simulator runs with.
    pub fn params(&self) -> &VehicleParameters {
        &self.params
    }

    /// The latest sample (before any step: the resting state).
    pub fn last_sample(&self) -> &Sample {
        &self.last
    }

    /// Simulated time, s.
    pub fn time_s(&self) -> f64 {
        self.time_s
    }

    /// Current speed, m/s.
    pub fn speed_mps(&self) -> f64 {
        self.speed_mps
    }

    /// Displayed state of charge, 0..=1.
    pub fn soc(&self) -> f64 {
        self.battery.soc()
    }

    /// Battery temperature, °C.
    pub fn battery_temp_c(&self) -> f64 {
        self.battery.temperature_c()
    }

    /// Replaces the traction battery while the simulation runs (a pack swap): the
    /// vehicle keeps its speed, time and odometer; the new pack starts at `soc`
    /// (0..=1 of its usable capacity), at the ambient temperature, with its RC pair
    /// relaxed. Parameters the simulator refuses (see
    /// [`VehicleParameters::validate`]) or a `soc` outside 0..=1 change nothing.
    pub fn replace_battery(
        &mut self,
        battery: BatteryParameters,
        soc: f64,
    ) -> Result<(), SimError> {
        if !(0.0..=1.0).contains(&soc) {
            return Err(SimError::parameter(
                "soc",
                format!("{soc} is outside 0..=1"),
            ));
        }
        let mut params = self.params.clone();
        params.battery = battery;
        params.validate()?;
        self.battery = Battery::new(&params.battery, soc, self.battery.ambient_c());
        self.params = params;
        self.last = self.resting_sample();
        Ok(())
    }

    /// Shifts to Park, as a driver does at the end of a trip: the gear is Park
    /// until a step asks for speed again. Has no effect on a moving vehicle's
    /// speed; call it when the vehicle stands.
    pub fn park(&mut self) {
        self.has_moved = false;
    }

    /// Advances the simulation by `dt` seconds with the driver aiming for
    /// `target_speed_mps` at the end of the step, on a road of the given `grade`
    /// (rise over run).
    ///
    /// A non-finite or non-positive `dt` changes nothing and returns the latest
    /// sample. A negative or non-finite target counts as 0, a target above the top
    /// speed as the top speed; a non-finite grade counts as level road.
    pub fn step(&mut self, dt: f64, target_speed_mps: f64, grade: f64) -> Sample {
        if !(dt.is_finite() && dt > 0.0) {
            return self.last.clone();
        }
        let target = if target_speed_mps.is_finite() {
            target_speed_mps.clamp(0.0, self.params.top_speed_mps)
        } else {
            0.0
        };
        let grade = if grade.is_finite() { grade } else { 0.0 };
        let theta = grade.atan();
        let (sin, cos) = theta.sin_cos();
        let effective_mass = self.params.mass_kg() * self.params.rotational_inertia_factor;
        let v0 = self.speed_mps;

        let stationary = v0 <= 0.0 && target <= 0.0;
        let mut v1 = target;
        let mut force = 0.0;
        let mut accelerator = 0.0;
        let mut brake = 0.0;
        let mut traction_limited = false;
        if !stationary {
            let requested_force =
                effective_mass * (v1 - v0) / dt + self.road_load_n(0.5 * (v0 + v1), sin, cos);
            let available = self.traction_force_limit_n(0.5 * (v0 + v1));
            if requested_force > 0.0 {
                accelerator = if available > 0.0 {
                    (requested_force / available).min(1.0) * 100.0
                } else {
                    100.0
                };
            } else {
                let deceleration = -requested_force / effective_mass;
                brake = (deceleration / FULL_BRAKE_DECELERATION_MPS2).min(1.0) * 100.0;
            }
            if requested_force > available {
                traction_limited = true;
                for _ in 0..8 {
                    let mean = 0.5 * (v0 + v1);
                    let net = self.traction_force_limit_n(mean) - self.road_load_n(mean, sin, cos);
                    v1 = (v0 + dt * net / effective_mass).clamp(0.0, target);
                }
            }
            force = effective_mass * (v1 - v0) / dt + self.road_load_n(0.5 * (v0 + v1), sin, cos);
            if traction_limited {
                force = force.min(self.traction_force_limit_n(0.5 * (v0 + v1)));
            }
        }
        let mean_speed = 0.5 * (v0 + v1);
        let drive = if force >= 0.0 {
            self.drive(force, mean_speed)
        } else {
            self.brake(-force, mean_speed)
        };

        let auxiliary = self.params.auxiliary_power_w;
        let battery_step = self.battery.step_power(drive.motor_power_w + auxiliary, dt);

        self.time_s += dt;
        self.speed_mps = v1;
        self.distance_m += mean_speed * dt;
        self.energy_used_wh += battery_step.power_w * dt / 3600.0;
        self.cell_energy_wh += battery_step.internal_power_w * dt / 3600.0;
        self.regen_energy_wh += drive.regen_power_w * dt / 3600.0;
        self.has_moved |= v1 > 0.0 || target > 0.0;

        self.last = Sample {
            t: self.time_s,
            target_speed_mps: target,
            speed_mps: v1,
            accel: (v1 - v0) / dt,
            distance_m: self.distance_m,
            grade,
            wheel_power_w: drive.wheel_power_w,
            friction_brake_power_w: drive.friction_brake_power_w,
            motor_speed_rpm: drive.motor_speed_rpm,
            motor_torque_nm: drive.motor_torque_nm,
            motor_power_w: drive.motor_power_w,
            auxiliary_power_w: auxiliary,
            battery_power_w: battery_step.power_w,
            battery_current_a: battery_step.current_a,
            battery_voltage_v: battery_step.voltage_v,
            ocv_v: battery_step.ocv_v,
            soc: self.battery.soc(),
            battery_temp_c: self.battery.temperature_c(),
            regen_power_w: drive.regen_power_w,
            accelerator_pedal_pct: accelerator,
            brake_pedal_pct: brake,
            gear: if self.has_moved {
                Gear::Drive
            } else {
                Gear::Park
            },
            charging: false,
            charger_power_w: 0.0,
            energy_used_wh: self.energy_used_wh,
            regen_energy_wh: self.regen_energy_wh,
            traction_limited,
            battery_limited: battery_step.limited || drive.regen_limited_by_battery,
        };
        self.last.clone()
    }

    /// Drives through a whole cycle from its start, in steps of `dt` seconds (the
    /// last step is shorter when `dt` does not divide the duration), and returns the
    /// totals. The simulator keeps its state afterwards, so cycles can be chained.
    /// A non-finite or non-positive `dt` runs nothing.
    pub fn run_cycle(&mut self, cycle: &Cycle, dt: f64) -> Summary {
        self.run_cycle_with(cycle, dt, |_| {})
    }

    /// Like [`Simulator::run_cycle`], and hands every sample to `on_sample`.
    pub fn run_cycle_with(
        &mut self,
        cycle: &Cycle,
        dt: f64,
        mut on_sample: impl FnMut(&Sample),
    ) -> Summary {
        let start_energy = self.energy_used_wh;
        let start_cells = self.cell_energy_wh;
        let start_distance = self.distance_m;
        let mut summary = Summary {
            cycle: cycle.name().to_owned(),
            duration_s: 0.0,
            distance_km: 0.0,
            energy_battery_wh: 0.0,
            energy_cells_wh: 0.0,
            consumption_wh_per_km: 0.0,
            regen_wh: 0.0,
            traction_wh: 0.0,
            auxiliary_wh: 0.0,
            wheel_positive_wh: 0.0,
            friction_brake_wh: 0.0,
            start_soc: self.soc(),
            final_soc: self.soc(),
            peak_power_w: 0.0,
            peak_regen_power_w: 0.0,
            min_voltage_v: self.last.battery_voltage_v,
            max_battery_temp_c: self.battery_temp_c(),
            max_speed_shortfall_mps: 0.0,
            limited_time_s: 0.0,
        };
        if !(dt.is_finite() && dt > 0.0) {
            return summary;
        }
        let duration = cycle.duration_s();
        let mut elapsed = 0.0;
        while elapsed < duration - 1e-9 {
            let h = dt.min(duration - elapsed);
            let target = cycle.speed_at(elapsed + h);
            let grade = cycle.grade_at(elapsed + 0.5 * h);
            let sample = self.step(h, target, grade);
            let wh = h / 3600.0;
            summary.duration_s += h;
            summary.regen_wh += sample.regen_power_w * wh;
            summary.traction_wh += sample.motor_power_w.max(0.0) * wh;
            summary.auxiliary_wh += sample.auxiliary_power_w * wh;
            summary.wheel_positive_wh += sample.wheel_power_w.max(0.0) * wh;
            summary.friction_brake_wh += sample.friction_brake_power_w * wh;
            summary.peak_power_w = summary.peak_power_w.max(sample.battery_power_w);
            summary.peak_regen_power_w = summary.peak_regen_power_w.max(sample.regen_power_w);
            summary.min_voltage_v = summary.min_voltage_v.min(sample.battery_voltage_v);
            summary.max_battery_temp_c = summary.max_battery_temp_c.max(sample.battery_temp_c);
            summary.max_speed_shortfall_mps = summary
                .max_speed_shortfall_mps
                .max(sample.target_speed_mps - sample.speed_mps);
            if sample.traction_limited || sample.battery_limited {
                summary.limited_time_s += h;
            }
            on_sample(&sample);
            elapsed += h;
        }
        summary.distance_km = (self.distance_m - start_distance) / 1000.0;
        summary.energy_battery_wh = self.energy_used_wh - start_energy;
        summary.energy_cells_wh = self.cell_energy_wh - start_cells;
        summary.consumption_wh_per_km = if summary.distance_km > 0.0 {
            summary.energy_battery_wh / summary.distance_km
        } else {
            0.0
        };
        summary.final_soc = self.soc();
        summary
    }

    /// The sample of a vehicle standing still with nothing running but the state.
    pub(crate) fn resting_sample(&self) -> Sample {
        let ocv = self.battery.ocv();
        Sample {
            t: self.time_s,
            speed_mps: self.speed_mps,
            distance_m: self.distance_m,
            ocv_v: ocv,
            battery_voltage_v: self.battery.terminal_voltage(0.0),
            soc: self.battery.soc(),
            battery_temp_c: self.battery.temperature_c(),
            energy_used_wh: self.energy_used_wh,
            regen_energy_wh: self.regen_energy_wh,
            gear: if self.has_moved {
                Gear::Drive
            } else {
                Gear::Park
            },
            ..idle_sample()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{EfficiencyMap, EfficiencyPoint, GRAVITY_MPS2};
    use crate::presets;

    fn kona() -> VehicleParameters {
        presets::hyundai_kona_electric_2019()
    }

    fn simulator(params: VehicleParameters, soc: f64) -> Simulator {
        Simulator::new(params, soc, 25.0).unwrap()
    }

    /// Steps at `dt` towards `speed` until the vehicle gets there.
    fn reach(sim: &mut Simulator, speed: f64, dt: f64) {
        for _ in 0..10_000 {
            if (sim.speed_mps() - speed).abs() < 1e-12 {
                return;
            }
            sim.step(dt, speed, 0.0);
        }
        panic!("speed {speed} not reached");
    }

    #[test]
    fn cruise_energy_is_road_load_over_drivetrain_efficiency_plus_auxiliaries() {
        let params = kona();
        let mut sim = simulator(params.clone(), 0.9);
        let speed = 25.0;
        reach(&mut sim, speed, 1.0);
        let start_energy = sim.last_sample().energy_used_wh;
        let seconds = 600.0;
        for _ in 0..600 {
            sim.step(1.0, speed, 0.0);
        }
        let battery_wh = sim.last_sample().energy_used_wh - start_energy;

        let mass = params.curb_mass_kg + params.payload_kg;
        let road_load = 0.5
            * params.air_density_kg_m3
            * params.drag_coefficient
            * params.frontal_area_m2
            * speed
            * speed
            + params.rolling_resistance_coefficient * mass * GRAVITY_MPS2;
        let EfficiencyMap::Constant(motor) = params.motor_efficiency else {
            panic!("the Kona preset has a constant efficiency");
        };
        let expected_w =
            road_load * speed / (params.gearbox_efficiency * motor) + params.auxiliary_power_w;
        let expected_wh = expected_w * seconds / 3600.0;
        assert!(
            (battery_wh - expected_wh).abs() < 1e-6 * expected_wh,
            "battery {battery_wh} Wh, expected {expected_wh} Wh"
        );
        let sample = sim.last_sample();
        assert!((sample.wheel_power_w - road_load * speed).abs() < 1e-6 * road_load * speed);
        assert!(sample.accelerator_pedal_pct > 0.0);
        assert_eq!(sample.brake_pedal_pct, 0.0);
        assert!((sample.distance_m - sim.distance_m).abs() < 1e-9);
    }

    #[test]
    fn coastdown_road_load_replaces_drag_and_rolling_resistance() {
        let mut params = kona();
        let coastdown = crate::CoastdownCoefficients {
            a_n: 120.0,
            b_n_per_mps: 1.0,
            c_n_per_mps2: 0.45,
        };
        params.coastdown = Some(coastdown);
        let mut sim = simulator(params, 0.9);
        reach(&mut sim, 20.0, 1.0);
        let sample = sim.step(1.0, 20.0, 0.0);
        let expected = (120.0 + 20.0 + 0.45 * 400.0) * 20.0;
        assert!((sample.wheel_power_w - expected).abs() < 1e-6 * expected);
        // The grade force still comes from the mass.
        let uphill = sim.step(1.0, 20.0, 0.1);
        let mass = kona().mass_kg();
        let grade_force = mass * GRAVITY_MPS2 * 0.1_f64.atan().sin();
        assert!((uphill.wheel_power_w - expected - grade_force * 20.0).abs() < 1e-6 * expected);
    }

    #[test]
    fn regenerative_braking_recovers_energy_on_deceleration() {
        let params = kona();
        let mut sim = simulator(params.clone(), 0.5);
        reach(&mut sim, 25.0, 1.0);
        let start_soc = sim.soc();
        let start_regen = sim.last_sample().regen_energy_wh;
        let mut speed: f64 = 25.0;
        let mut friction_wh = 0.0;
        while speed > 0.0 {
            speed = (speed - 1.5 * 0.1).max(0.0);
            let sample = sim.step(0.1, speed, 0.0);
            friction_wh += sample.friction_brake_power_w * 0.1 / 3600.0;
            assert!(sample.brake_pedal_pct > 0.0 || sample.regen_power_w == 0.0);
            assert_eq!(sample.accelerator_pedal_pct, 0.0);
        }
        let regen_wh = sim.last_sample().regen_energy_wh - start_regen;
        let kinetic_wh = 0.5
            * (params.curb_mass_kg + params.payload_kg)
            * params.rotational_inertia_factor
            * 25.0
            * 25.0
            / 3600.0;
        assert!(sim.soc() > start_soc, "state of charge did not rise");
        // 0.9 share × 0.97 gearbox × 0.90 motor = 79 % of the braking energy, less
        // what drag and rolling resistance took and the fade at low speed.
        assert!(
            regen_wh > 0.55 * kinetic_wh && regen_wh < 0.79 * kinetic_wh,
            "recovered {regen_wh} Wh of {kinetic_wh} Wh"
        );
        assert!(friction_wh > 0.0 && friction_wh < regen_wh);
    }

    #[test]
    fn soc_decreases_while_driving_and_the_cycle_is_followed() {
        let mut sim = simulator(kona(), 0.8);
        let cycle = Cycle::udds();
        let summary = sim.run_cycle(&cycle, 1.0);
        assert!(summary.final_soc < 0.8);
        assert_eq!(summary.start_soc, 0.8);
        assert!(summary.max_speed_shortfall_mps < 1e-9, "{summary:?}");
        assert_eq!(summary.limited_time_s, 0.0);
        let relative =
            (summary.distance_km * 1000.0 - cycle.distance_m()).abs() / cycle.distance_m();
        assert!(relative < 1e-9, "{relative}");
        // Terminal energy = traction − regeneration + auxiliaries.
        let balance = summary.traction_wh - summary.regen_wh + summary.auxiliary_wh;
        assert!((summary.energy_battery_wh - balance).abs() < 1e-6 * balance);
        // The cells lose a little more than the terminals deliver (I²·R0).
        assert!(summary.energy_cells_wh > summary.energy_battery_wh);
        assert!(summary.energy_cells_wh < 1.02 * summary.energy_battery_wh);
        assert!(summary.regen_wh > 0.0 && summary.friction_brake_wh > 0.0);
    }

    #[test]
    fn voltage_sags_under_load() {
        let mut sim = simulator(kona(), 0.8);
        let rest = sim.last_sample().battery_voltage_v;
        reach(&mut sim, 20.0, 1.0);
        let sample = sim.step(1.0, 25.0, 0.0);
        assert!(sample.battery_current_a > 300.0, "{sample:?}");
        assert!(sample.battery_voltage_v < sample.ocv_v);
        let drop = sample.battery_current_a * kona().battery.internal_resistance_ohm;
        assert!((sample.ocv_v - sample.battery_voltage_v - drop).abs() < 1e-9);
        assert!(sample.battery_voltage_v < rest - 20.0, "{sample:?}");
    }

    #[test]
    fn battery_current_limit_clamps_traction() {
        let mut params = kona();
        params.battery.max_discharge_current_a = 100.0;
        let mut sim = simulator(params, 0.8);
        let mut samples = Vec::new();
        for _ in 0..100 {
            samples.push(sim.step(0.1, 30.0, 0.0));
        }
        for sample in &samples[5..] {
            assert!(sample.battery_current_a <= 100.0 + 1e-6, "{sample:?}");
            assert!(sample.traction_limited);
            assert!(sample.speed_mps < 30.0);
        }
        // At 100 A the pack gives about 37 kW instead of 150 kW.
        let peak = samples
            .iter()
            .map(|s| s.battery_power_w)
            .fold(0.0, f64::max);
        assert!(peak < 40_000.0, "{peak}");
    }

    #[test]
    fn an_empty_battery_clamps_and_says_so() {
        let mut sim = simulator(kona(), 0.0);
        let sample = sim.step(1.0, 10.0, 0.0);
        assert!(sample.battery_limited);
        assert!(sample.traction_limited);
        assert_eq!(sample.speed_mps, 0.0);
        assert_eq!(sample.battery_current_a, 0.0);
    }

    #[test]
    fn motor_limits_give_a_plausible_acceleration() {
        // Hyundai quotes 7.6 s from 0 to 100 km/h; this model has no tyre-grip limit
        // and ignores the motor's derating, so it may be somewhat quicker.
        let mut sim = simulator(kona(), 0.9);
        let target = 100.0 / 3.6;
        let mut time = 0.0;
        let mut full_pedal = false;
        while sim.speed_mps() < target - 1e-9 {
            let sample = sim.step(0.05, target, 0.0);
            full_pedal |= sample.accelerator_pedal_pct == 100.0;
            assert!(sample.motor_torque_nm <= 395.0 + 1e-6);
            assert!(sample.motor_power_w * 0.9 <= 150_000.0 + 1e-3);
            time += 0.05;
            assert!(time < 20.0);
        }
        assert!((5.5..9.0).contains(&time), "{time} s");
        assert!(full_pedal);
    }

    #[test]
    fn gear_is_park_until_the_first_move_then_drive() {
        let mut sim = simulator(kona(), 0.8);
        assert_eq!(sim.last_sample().gear, Gear::Park);
        assert_eq!(sim.step(1.0, 0.0, 0.0).gear, Gear::Park);
        assert_eq!(sim.step(1.0, 2.0, 0.0).gear, Gear::Drive);
        assert_eq!(sim.step(1.0, 0.0, 0.0).gear, Gear::Drive);
        let idle = sim.step(1.0, 0.0, 0.0);
        assert_eq!(idle.gear, Gear::Drive);
        assert_eq!(idle.battery_power_w, kona().auxiliary_power_w);
        // At the end of a trip the driver shifts to Park; the next start shifts to Drive.
        sim.park();
        assert_eq!(sim.step(1.0, 0.0, 0.0).gear, Gear::Park);
        assert_eq!(sim.step(1.0, 2.0, 0.0).gear, Gear::Drive);
    }

    #[test]
    fn uphill_costs_more_than_level_road_and_downhill_regenerates() {
        let run = |grade: f64| {
            let mut sim = simulator(kona(), 0.8);
            reach(&mut sim, 20.0, 1.0);
            let sample = sim.step(1.0, 20.0, grade);
            sample.battery_power_w
        };
        let level = run(0.0);
        let uphill = run(0.05);
        let downhill = run(-0.05);
        assert!(uphill > level + 15_000.0, "{uphill} vs {level}");
        assert!(downhill < 0.0, "{downhill}");
    }

    #[test]
    fn efficiency_table_changes_the_consumption() {
        let table = |efficiency: f64| {
            let mut points = Vec::new();
            for speed_rpm in [0.0, 5_000.0, 12_000.0] {
                for torque_nm in [0.0, 400.0] {
                    points.push(EfficiencyPoint {
                        speed_rpm,
                        torque_nm,
                        efficiency,
                    });
                }
            }
            EfficiencyMap::Table(points)
        };
        let consumption = |map: EfficiencyMap| {
            let mut params = kona();
            params.motor_efficiency = map;
            simulator(params, 0.9)
                .run_cycle(&Cycle::hwfet(), 1.0)
                .consumption_wh_per_km
        };
        let constant = consumption(EfficiencyMap::Constant(0.9));
        let same = consumption(table(0.9));
        let worse = consumption(table(0.8));
        assert!((constant - same).abs() < 1e-9 * constant);
        assert!(worse > 1.1 * constant);
    }

    #[test]
    fn bad_step_inputs_change_nothing_or_are_sanitised() {
        let mut sim = simulator(kona(), 0.8);
        let before = sim.last_sample().clone();
        assert_eq!(sim.step(0.0, 10.0, 0.0), before);
        assert_eq!(sim.step(f64::NAN, 10.0, 0.0), before);
        assert_eq!(sim.time_s(), 0.0);
        let sample = sim.step(1.0, f64::NAN, f64::INFINITY);
        assert_eq!(sample.target_speed_mps, 0.0);
        assert_eq!(sample.grade, 0.0);
        let fast = sim.step(1.0, 1_000.0, 0.0);
        assert_eq!(fast.target_speed_mps, kona().top_speed_mps);
        let summary = sim.run_cycle(&Cycle::udds(), -1.0);
        assert_eq!(summary.duration_s, 0.0);
    }

    #[test]
    fn impossible_start_values_are_refused_with_the_field_name() {
        let error = Simulator::new(kona(), 1.5, 20.0).unwrap_err();
        assert_eq!(error.field(), Some("initial_soc"));
        let error = Simulator::new(kona(), 0.5, f64::NAN).unwrap_err();
        assert_eq!(error.field(), Some("ambient_c"));
        let mut params = kona();
        params.gear_ratio = -8.0;
        let error = Simulator::new(params, 0.5, 20.0).unwrap_err();
        assert_eq!(error.field(), Some("gear_ratio"));
        assert!(error.to_string().contains("gear_ratio"));
    }

    #[test]
    fn a_battery_swapped_while_driving_has_the_new_capacity_and_soc() {
        let mut sim = simulator(kona(), 0.9);
        for _ in 0..100 {
            sim.step(0.1, 15.0, 0.0);
        }
        let speed = sim.speed_mps();
        let mut smaller = kona().battery;
        smaller.cells_parallel = 2;
        smaller.usable_capacity_ah = kona().battery.usable_capacity_ah * 2.0 / 3.0;
        sim.replace_battery(smaller.clone(), 0.5).unwrap();
        assert_eq!(sim.params().battery, smaller);
        assert_eq!(sim.soc(), 0.5);
        assert_eq!(sim.speed_mps(), speed);
        // It keeps driving, and the smaller pack drains faster than the original
        // pack swapped in at the same moment and state of charge.
        let mut same = simulator(kona(), 0.9);
        for _ in 0..100 {
            same.step(0.1, 15.0, 0.0);
        }
        same.replace_battery(kona().battery, 0.5).unwrap();
        for _ in 0..100 {
            sim.step(0.1, 15.0, 0.0);
            same.step(0.1, 15.0, 0.0);
        }
        assert!(sim.soc() < 0.5);
        assert!(0.5 - sim.soc() > 1.4 * (0.5 - same.soc()));
    }

    #[test]
    fn an_impossible_battery_changes_nothing() {
        let mut sim = simulator(kona(), 0.9);
        let mut broken = kona().battery;
        broken.usable_capacity_ah = -1.0;
        assert!(sim.replace_battery(broken, 0.5).is_err());
        assert_eq!(sim.params().battery, kona().battery);
        assert_eq!(
            sim.replace_battery(kona().battery, 1.5)
                .unwrap_err()
                .field(),
            Some("soc")
        );
        assert_eq!(sim.soc(), 0.9);
    }

    #[test]
    fn time_step_barely_changes_the_result() {
        let run = |dt: f64| {
            simulator(kona(), 0.9)
                .run_cycle(&Cycle::udds(), dt)
                .consumption_wh_per_km
        };
        let coarse = run(1.0);
        let fine = run(0.1);
        assert!((coarse - fine).abs() < 0.02 * fine, "{coarse} vs {fine}");
    }
}
