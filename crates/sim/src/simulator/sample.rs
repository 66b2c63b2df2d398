//! What the simulator reports: the gear, one [`Sample`] per step and the
//! [`Summary`] of a cycle.

use serde::Serialize;

/// Deceleration that counts as a fully pressed brake pedal, m/s² (about 0.8 g).
pub const FULL_BRAKE_DECELERATION_MPS2: f64 = 8.0;

/// Gear selector position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Gear {
    /// Park: before the first drive and while charging.
    Park,
    /// Neutral (never chosen by the simulator; listed for completeness).
    Neutral,
    /// Drive: from the first move on, also while waiting at a stop.
    Drive,
    /// Reverse (never chosen by the simulator, which only drives forwards).
    Reverse,
}

/// The vehicle's state after one step, with what happened during it.
///
/// Powers and currents are averages over the step. Battery current and power are
/// positive when the battery discharges.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Time since the simulator was created, s.
    pub t: f64,
    /// Speed the driver aimed for at the end of the step, m/s.
    pub target_speed_mps: f64,
    /// Speed at the end of the step, m/s.
    pub speed_mps: f64,
    /// Acceleration during the step, m/s².
    pub accel: f64,
    /// Distance driven since the simulator was created, m.
    pub distance_m: f64,
    /// Road grade during the step (rise over run).
    pub grade: f64,
    /// Tractive power at the tyres, W; negative while braking (regenerative plus friction).
    pub wheel_power_w: f64,
    /// Power dissipated by the friction brakes, W.
    pub friction_brake_power_w: f64,
    /// Motor speed, rpm.
    pub motor_speed_rpm: f64,
    /// Motor torque, N·m; negative while regenerating.
    pub motor_torque_nm: f64,
    /// Electrical power into the inverter, W; negative while regenerating.
    pub motor_power_w: f64,
    /// Auxiliary load, W.
    pub auxiliary_power_w: f64,
    /// Power at the battery terminals, W (positive = discharging).
    pub battery_power_w: f64,
    /// Battery current, A (positive = discharging).
    pub battery_current_a: f64,
    /// Battery terminal voltage, V.
    pub battery_voltage_v: f64,
    /// Battery open-circuit voltage at the start of the step, V.
    pub ocv_v: f64,
    /// Displayed state of charge at the end of the step, 0..=1 of the usable capacity.
    pub soc: f64,
    /// Battery temperature at the end of the step, °C.
    pub battery_temp_c: f64,
    /// Electrical power the motor returns to the DC bus by regenerative braking, W (≥ 0).
    pub regen_power_w: f64,
    /// Accelerator pedal, 0..=100 %: requested tractive force over the largest
    /// force available at this speed (equal to the ratio of the powers).
    pub accelerator_pedal_pct: f64,
    /// Brake pedal, 0..=100 %: requested braking deceleration over
    /// [`FULL_BRAKE_DECELERATION_MPS2`].
    pub brake_pedal_pct: f64,
    /// Gear selector.
    pub gear: Gear,
    /// Whether charge current flowed during the step.
    pub charging: bool,
    /// Power drawn by the charger from the grid, W (0 when not charging).
    pub charger_power_w: f64,
    /// Net energy taken from the battery terminals since the simulator was created,
    /// Wh (charging and regeneration count negative).
    pub energy_used_wh: f64,
    /// Energy returned by regenerative braking since the simulator was created, Wh.
    pub regen_energy_wh: f64,
    /// The motor or battery limits kept the vehicle below its target speed.
    pub traction_limited: bool,
    /// A battery power limit clamped the step (traction, regeneration or auxiliaries).
    pub battery_limited: bool,
}

/// Totals of one [`Simulator::run_cycle`](super::Simulator::run_cycle).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The cycle's name.
    pub cycle: String,
    /// Simulated time, s.
    pub duration_s: f64,
    /// Distance driven, km.
    pub distance_km: f64,
    /// Net energy from the battery terminals (DC), Wh.
    pub energy_battery_wh: f64,
    /// Net energy taken from the cells' store (open-circuit voltage × current), that
    /// is the terminal energy plus the battery's internal losses, Wh. This is what a
    /// recharge has to put back.
    pub energy_cells_wh: f64,
    /// `energy_battery_wh` per km, Wh/km.
    pub consumption_wh_per_km: f64,
    /// Energy returned by regenerative braking (DC), Wh.
    pub regen_wh: f64,
    /// Energy into the inverter while driving (DC), Wh.
    pub traction_wh: f64,
    /// Energy of the auxiliary load, Wh.
    pub auxiliary_wh: f64,
    /// Positive tractive energy at the tyres, Wh.
    pub wheel_positive_wh: f64,
    /// Energy dissipated by the friction brakes, Wh.
    pub friction_brake_wh: f64,
    /// State of charge at the start.
    pub start_soc: f64,
    /// State of charge at the end.
    pub final_soc: f64,
    /// Highest battery discharge power, W.
    pub peak_power_w: f64,
    /// Highest regenerative power returned to the DC bus, W.
    pub peak_regen_power_w: f64,
    /// Lowest battery terminal voltage, V.
    pub min_voltage_v: f64,
    /// Highest battery temperature, °C.
    pub max_battery_temp_c: f64,
    /// Largest shortfall of the speed below the target, m/s.
    pub max_speed_shortfall_mps: f64,
    /// Time during which a motor or battery limit was active, s.
    pub limited_time_s: f64,
}

impl Summary {
    /// Consumption from the grid, Wh/km: the energy taken from the cells divided by
    /// the charging efficiency (grid to cells).
    pub fn wall_consumption_wh_per_km(&self, charging_efficiency: f64) -> f64 {
        if self.distance_km <= 0.0 || charging_efficiency <= 0.0 {
            return 0.0;
        }
        self.energy_cells_wh / self.distance_km / charging_efficiency
    }
}

pub(super) fn idle_sample() -> Sample {
    Sample {
        t: 0.0,
        target_speed_mps: 0.0,
        speed_mps: 0.0,
        accel: 0.0,
        distance_m: 0.0,
        grade: 0.0,
        wheel_power_w: 0.0,
        friction_brake_power_w: 0.0,
        motor_speed_rpm: 0.0,
        motor_torque_nm: 0.0,
        motor_power_w: 0.0,
        auxiliary_power_w: 0.0,
        battery_power_w: 0.0,
        battery_current_a: 0.0,
        battery_voltage_v: 0.0,
        ocv_v: 0.0,
        soc: 0.0,
        battery_temp_c: 0.0,
        regen_power_w: 0.0,
        accelerator_pedal_pct: 0.0,
        brake_pedal_pct: 0.0,
        gear: Gear::Park,
        charging: false,
        charger_power_w: 0.0,
        energy_used_wh: 0.0,
        regen_energy_wh: 0.0,
        traction_limited: false,
        battery_limited: false,
    }
}
