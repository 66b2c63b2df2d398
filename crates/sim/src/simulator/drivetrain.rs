//! Forces and powers of one step: road load, the motor's and the battery's limits
//! on traction, and how braking splits between regeneration and the friction
//! brakes (the equations are in the [module docs](super)).

use super::Simulator;
use crate::params::GRAVITY_MPS2;

const RPM_PER_RAD_PER_S: f64 = 60.0 / (2.0 * std::f64::consts::PI);

/// What the drivetrain does during one step.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Drive {
    pub(super) wheel_power_w: f64,
    pub(super) friction_brake_power_w: f64,
    pub(super) motor_speed_rpm: f64,
    pub(super) motor_torque_nm: f64,
    pub(super) motor_power_w: f64,
    pub(super) regen_power_w: f64,
    pub(super) regen_limited_by_battery: bool,
}

impl Simulator {
    /// Aerodynamic drag, rolling resistance (or the coast-down road load) and grade
    /// force at a speed, N.
    pub(super) fn road_load_n(&self, speed_mps: f64, sin: f64, cos: f64) -> f64 {
        let p = &self.params;
        let mass = p.mass_kg();
        let grade = mass * GRAVITY_MPS2 * sin;
        if let Some(coastdown) = &p.coastdown {
            return coastdown.force_n(speed_mps) + grade;
        }
        0.5 * p.air_density_kg_m3 * p.drag_coefficient * p.frontal_area_m2 * speed_mps * speed_mps
            + p.rolling_resistance_coefficient * mass * GRAVITY_MPS2 * cos
            + grade
    }

    pub(super) fn motor_speed_rad_s(&self, speed_mps: f64) -> f64 {
        speed_mps / self.params.wheel_radius_m * self.params.gear_ratio
    }

    /// Largest tractive force the motor can give at a speed (torque and power limits), N.
    pub(super) fn motor_force_limit_n(&self, speed_mps: f64) -> f64 {
        let p = &self.params;
        let by_torque =
            p.motor_peak_torque_nm * p.gear_ratio * p.gearbox_efficiency / p.wheel_radius_m;
        if speed_mps <= 0.0 {
            return by_torque;
        }
        by_torque.min(p.motor_peak_power_w * p.gearbox_efficiency / speed_mps)
    }

    /// Electrical power the inverter draws for a tractive force at a speed, with the
    /// motor's operating point: (W, rpm, N·m).
    pub(super) fn traction_power_w(&self, force_n: f64, speed_mps: f64) -> (f64, f64, f64) {
        let p = &self.params;
        let rpm = self.motor_speed_rad_s(speed_mps) * RPM_PER_RAD_PER_S;
        let torque = force_n * p.wheel_radius_m / (p.gear_ratio * p.gearbox_efficiency);
        let shaft_power = force_n * speed_mps / p.gearbox_efficiency;
        let efficiency = self.efficiency.at(rpm, torque);
        (shaft_power / efficiency, rpm, torque)
    }

    /// Largest tractive force at a speed with both the motor and the battery limits, N.
    pub(super) fn traction_force_limit_n(&self, speed_mps: f64) -> f64 {
        let motor_limit = self.motor_force_limit_n(speed_mps);
        let available = self.battery.max_discharge_power() - self.params.auxiliary_power_w;
        if available <= 0.0 {
            return 0.0;
        }
        if self.traction_power_w(motor_limit, speed_mps).0 <= available {
            return motor_limit;
        }
        // Electrical power grows with force; bisect for the force at the limit.
        let (mut low, mut high) = (0.0, motor_limit);
        for _ in 0..50 {
            let middle = 0.5 * (low + high);
            if self.traction_power_w(middle, speed_mps).0 <= available {
                low = middle;
            } else {
                high = middle;
            }
        }
        low
    }

    pub(super) fn drive(&self, force_n: f64, speed_mps: f64) -> Drive {
        let (motor_power, rpm, torque) = self.traction_power_w(force_n, speed_mps);
        Drive {
            wheel_power_w: force_n * speed_mps,
            motor_speed_rpm: rpm,
            motor_torque_nm: torque,
            motor_power_w: motor_power,
            ..Drive::default()
        }
    }

    pub(super) fn brake(&self, braking_force_n: f64, speed_mps: f64) -> Drive {
        let p = &self.params;
        let braking_power = braking_force_n * speed_mps;
        let omega = self.motor_speed_rad_s(speed_mps);
        let rpm = omega * RPM_PER_RAD_PER_S;
        let fade = if p.regen.fade_speed_mps > 0.0 {
            (speed_mps / p.regen.fade_speed_mps).min(1.0)
        } else {
            1.0
        };
        let mut shaft_power = (p.regen.fraction * fade * braking_power * p.gearbox_efficiency)
            .min(p.regen.max_power_w)
            .min(p.motor_peak_torque_nm * omega);
        let torque = if omega > 0.0 {
            -shaft_power / omega
        } else {
            0.0
        };
        let efficiency = self.efficiency.at(rpm, torque);
        let mut electrical = shaft_power * efficiency;
        let acceptable = p.auxiliary_power_w + self.battery.max_charge_power();
        let mut regen_limited_by_battery = false;
        if electrical > acceptable {
            electrical = acceptable.max(0.0);
            shaft_power = electrical / efficiency;
            regen_limited_by_battery = true;
        }
        let regen_wheel = shaft_power / p.gearbox_efficiency;
        Drive {
            wheel_power_w: -braking_power,
            friction_brake_power_w: (braking_power - regen_wheel).max(0.0),
            motor_speed_rpm: rpm,
            motor_torque_nm: if omega > 0.0 {
                -shaft_power / omega
            } else {
                0.0
            },
            motor_power_w: -electrical,
            regen_power_w: electrical,
            regen_limited_by_battery,
        }
    }
}
