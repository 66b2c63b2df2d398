//! Charging sessions: constant current, then constant voltage (CC/CV).
//!
//! The charger delivers DC power to the vehicle's high-voltage bus, which feeds the
//! auxiliary load and the battery. Each step the battery current is the smallest of:
//!
//! - the constant-current limit: the battery's `max_charge_current_a` and the
//!   charger's own current limit;
//! - the power limit: the charger's power (for AC also the on-board charger's),
//!   less the auxiliary load, solved for the current through
//!   P = (E' + I·R0)·I;
//! - the constant-voltage limit: the terminal voltage E' + I·R0 may not exceed the
//!   pack open-circuit voltage at 100 % displayed state of charge, so the current
//!   tapers towards zero near full.
//!
//! Power limits are taken at the DC side; the grid draws that power divided by the
//! charger's efficiency.

use serde::{Deserialize, Serialize};

use crate::simulator::{Gear, Sample, Simulator};
use crate::SimError;

/// How the charger connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargerKind {
    /// AC charging through the vehicle's on-board charger, whose power limit applies.
    Ac,
    /// DC fast charging straight to the battery.
    Dc,
}

/// A charging station (with, for AC, the vehicle's on-board charger behind it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Charger {
    /// AC or DC.
    pub kind: ChargerKind,
    /// Highest DC power delivered to the vehicle, W.
    pub max_power_w: f64,
    /// Highest DC current of the charger itself, A; `None` when only power limits it.
    #[serde(default)]
    pub max_current_a: Option<f64>,
    /// DC power delivered over power drawn from the grid (0..1].
    pub efficiency: f64,
}

impl Charger {
    /// Typical AC (level 2) charging efficiency from grid to DC bus, used by
    /// [`Charger::ac`]. Measured level-2 sessions lose roughly 10 to 15 %.
    pub const AC_EFFICIENCY: f64 = 0.88;

    /// Typical DC fast-charging efficiency from grid to vehicle, used by
    /// [`Charger::dc`].
    pub const DC_EFFICIENCY: f64 = 0.93;

    /// An AC charger (wallbox) of the given power.
    pub fn ac(max_power_w: f64) -> Charger {
        Charger {
            kind: ChargerKind::Ac,
            max_power_w,
            max_current_a: None,
            efficiency: Charger::AC_EFFICIENCY,
        }
    }

    /// A DC fast charger of the given power and current limit.
    pub fn dc(max_power_w: f64, max_current_a: f64) -> Charger {
        Charger {
            kind: ChargerKind::Dc,
            max_power_w,
            max_current_a: Some(max_current_a),
            efficiency: Charger::DC_EFFICIENCY,
        }
    }

    /// Refuses impossible values, naming the field.
    pub fn validate(&self) -> Result<(), SimError> {
        if !(self.max_power_w.is_finite() && self.max_power_w > 0.0) {
            return Err(SimError::parameter(
                "charger.max_power_w",
                format!("{} must be a positive number", self.max_power_w),
            ));
        }
        if let Some(current) = self.max_current_a {
            if !(current.is_finite() && current > 0.0) {
                return Err(SimError::parameter(
                    "charger.max_current_a",
                    format!("{current} must be a positive number"),
                ));
            }
        }
        if !(self.efficiency > 0.0 && self.efficiency <= 1.0) {
            return Err(SimError::parameter(
                "charger.efficiency",
                format!("{} is outside (0, 1]", self.efficiency),
            ));
        }
        Ok(())
    }
}

/// Totals of one [`Simulator::charge_to`] session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChargeSummary {
    /// Session length, s.
    pub duration_s: f64,
    /// State of charge at the start.
    pub start_soc: f64,
    /// State of charge at the end.
    pub final_soc: f64,
    /// Whether the target state of charge was reached (rather than the current
    /// tapering off or the time running out).
    pub reached_target: bool,
    /// Energy drawn from the grid, Wh.
    pub grid_energy_wh: f64,
    /// Energy into the battery terminals, Wh.
    pub battery_energy_wh: f64,
    /// Highest power drawn from the grid, W.
    pub peak_grid_power_w: f64,
    /// Highest battery temperature, °C.
    pub max_battery_temp_c: f64,
}

impl Simulator {
    /// Charges for `dt` seconds: the vehicle stands in Park and the battery takes
    /// the CC/CV current described in the [module docs](crate::charging).
    ///
    /// A non-finite or non-positive `dt` changes nothing and returns the latest
    /// sample. An invalid charger (see [`Charger::validate`]) delivers nothing.
    pub fn charge(&mut self, dt: f64, charger: &Charger) -> Sample {
        if !(dt.is_finite() && dt > 0.0) {
            return self.last.clone();
        }
        self.park();
        let auxiliary = self.params.auxiliary_power_w;
        let mut dc_limit = if charger.validate().is_ok() {
            charger.max_power_w
        } else {
            0.0
        };
        if charger.kind == ChargerKind::Ac {
            dc_limit = dc_limit.min(self.params.onboard_charger_power_w);
        }

        let battery = &self.battery;
        let source = battery.source_voltage();
        let r0 = battery.internal_resistance_ohm();
        let constant_current = match charger.max_current_a {
            Some(limit) => battery.max_charge_current_a().min(limit),
            None => battery.max_charge_current_a(),
        };
        let constant_voltage = (battery.ocv_at(1.0) - source) / r0;
        let for_battery = dc_limit - auxiliary;
        let by_power = if for_battery > 0.0 {
            (-source + (source * source + 4.0 * r0 * for_battery).sqrt()) / (2.0 * r0)
        } else {
            0.0
        };
        let current = if battery.soc() >= 1.0 {
            0.0
        } else {
            constant_current
                .min(constant_voltage)
                .min(by_power)
                .min(battery.max_charge_current())
                .max(0.0)
        };

        let step = if current > 0.0 {
            self.battery.step_current(-current, dt, false)
        } else {
            // Nothing flows into the battery; the charger covers what it can of the
            // auxiliary load and the battery the rest.
            self.battery.step_power((auxiliary - dc_limit).max(0.0), dt)
        };
        let dc_power = (auxiliary - step.power_w).max(0.0);
        let grid_power = if dc_limit > 0.0 {
            dc_power / charger.efficiency
        } else {
            0.0
        };

        self.time_s += dt;
        self.speed_mps = 0.0;
        self.has_moved = false;
        self.energy_used_wh += step.power_w * dt / 3600.0;
        self.cell_energy_wh += step.internal_power_w * dt / 3600.0;
        let mut sample = self.resting_sample();
        sample.auxiliary_power_w = auxiliary;
        sample.battery_power_w = step.power_w;
        sample.battery_current_a = step.current_a;
        sample.battery_voltage_v = step.voltage_v;
        sample.ocv_v = step.ocv_v;
        sample.gear = Gear::Park;
        sample.charging = current > 0.0;
        sample.charger_power_w = grid_power;
        sample.battery_limited = step.limited;
        self.last = sample;
        self.last.clone()
    }

    /// Charges in steps of `dt` until the state of charge reaches `target_soc`, the
    /// current tapers below 1/50 of the usable capacity per hour (C/50), or
    /// `max_duration_s` passes.
    pub fn charge_to(
        &mut self,
        charger: &Charger,
        target_soc: f64,
        dt: f64,
        max_duration_s: f64,
    ) -> ChargeSummary {
        let mut summary = ChargeSummary {
            duration_s: 0.0,
            start_soc: self.soc(),
            final_soc: self.soc(),
            reached_target: self.soc() >= target_soc,
            grid_energy_wh: 0.0,
            battery_energy_wh: 0.0,
            peak_grid_power_w: 0.0,
            max_battery_temp_c: self.battery_temp_c(),
        };
        if !(dt.is_finite() && dt > 0.0) {
            return summary;
        }
        let cutoff_a = self.params.battery.usable_capacity_ah / 50.0;
        while self.soc() < target_soc && summary.duration_s < max_duration_s {
            let sample = self.charge(dt, charger);
            summary.duration_s += dt;
            summary.grid_energy_wh += sample.charger_power_w * dt / 3600.0;
            summary.battery_energy_wh -= sample.battery_power_w * dt / 3600.0;
            summary.peak_grid_power_w = summary.peak_grid_power_w.max(sample.charger_power_w);
            summary.max_battery_temp_c = summary.max_battery_temp_c.max(sample.battery_temp_c);
            if -sample.battery_current_a < cutoff_a {
                break;
            }
        }
        summary.final_soc = self.soc();
        summary.reached_target = self.soc() >= target_soc;
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets;

    fn kona(soc: f64) -> Simulator {
        Simulator::new(presets::hyundai_kona_electric_2019(), soc, 25.0).unwrap()
    }

    #[test]
    fn soc_increases_while_charging_and_the_grid_pays_the_losses() {
        let mut sim = kona(0.2);
        let sample = sim.charge(60.0, &Charger::ac(11_000.0));
        assert!(sample.charging);
        assert!(sample.soc > 0.2);
        assert!(sample.battery_current_a < 0.0);
        assert!(sample.battery_voltage_v > sample.ocv_v);
        assert_eq!(sample.gear, Gear::Park);
        // The Kona's on-board charger (7.2 kW) limits an 11 kW wallbox.
        let dc = sample.auxiliary_power_w - sample.battery_power_w;
        assert!((dc - 7_200.0).abs() < 1.0, "{dc}");
        assert!((sample.charger_power_w - dc / Charger::AC_EFFICIENCY).abs() < 1e-6);
    }

    #[test]
    fn dc_charging_is_current_limited_then_tapers_near_full() {
        let mut sim = kona(0.1);
        let charger = Charger::dc(150_000.0, 400.0);
        let early = sim.charge(1.0, &charger);
        let max_current = presets::hyundai_kona_electric_2019()
            .battery
            .max_charge_current_a;
        assert!((-early.battery_current_a - max_current).abs() < 1e-9);

        let summary = sim.charge_to(&charger, 1.0, 10.0, 4.0 * 3600.0);
        let last = sim.last_sample().clone();
        assert!(summary.final_soc > 0.98, "{summary:?}");
        // Near full the constant-voltage phase has cut the current to a trickle.
        assert!(-last.battery_current_a < max_current / 10.0, "{last:?}");
        assert!(summary.grid_energy_wh > summary.battery_energy_wh);
        // About 90 % of the usable energy went in.
        assert!(summary.battery_energy_wh > 0.85 * 64_000.0, "{summary:?}");
    }

    #[test]
    fn charging_stops_at_the_target() {
        let mut sim = kona(0.5);
        let summary = sim.charge_to(&Charger::ac(7_200.0), 0.6, 10.0, 24.0 * 3600.0);
        assert!(summary.reached_target);
        assert!(summary.final_soc >= 0.6 && summary.final_soc < 0.601);
        // 10 % of 64 kWh at 7.2 kW minus the auxiliary load: about 55 minutes.
        assert!((summary.duration_s - 3300.0).abs() < 300.0, "{summary:?}");
    }

    #[test]
    fn invalid_chargers_are_refused_and_deliver_nothing() {
        let mut charger = Charger::ac(7_000.0);
        charger.efficiency = 1.5;
        assert_eq!(
            charger.validate().unwrap_err().field(),
            Some("charger.efficiency")
        );
        let mut sim = kona(0.5);
        let sample = sim.charge(10.0, &charger);
        assert!(!sample.charging);
        assert!(sample.soc < 0.5);
        let zero = Charger::dc(0.0, 100.0);
        assert_eq!(
            zero.validate().unwrap_err().field(),
            Some("charger.max_power_w")
        );
    }
}
