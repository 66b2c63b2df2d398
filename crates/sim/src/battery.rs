//! The battery pack: equivalent circuit, coulomb counting and lumped thermal model.
//!
//! Sign convention: current and power are positive when the battery discharges.

use crate::params::{interpolate, BatteryParameters};

/// How the usable window sits in the cell's full state-of-charge range: the
/// buffer (gross minus usable capacity) is split evenly between bottom and top.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Window {
    low: f64,
    span: f64,
}

impl Window {
    pub(crate) fn new(gross_ah: f64, usable_ah: f64) -> Window {
        let span = (usable_ah / gross_ah).clamp(0.0, 1.0);
        Window {
            low: (1.0 - span) / 2.0,
            span,
        }
    }

    /// Whole-cell state of charge for a displayed (usable) state of charge.
    pub(crate) fn cell_soc(&self, usable_soc: f64) -> f64 {
        self.low + usable_soc * self.span
    }
}

/// Result of one battery step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BatteryStep {
    /// Power actually delivered at the terminals (after clamping), W.
    pub(crate) power_w: f64,
    /// Terminal current, A.
    pub(crate) current_a: f64,
    /// Terminal voltage during the step, V.
    pub(crate) voltage_v: f64,
    /// Open-circuit voltage at the start of the step, V.
    pub(crate) ocv_v: f64,
    /// Power drawn from the cells' stored energy (OCV × current), W.
    pub(crate) internal_power_w: f64,
    /// Whether the requested power was clamped to the battery's limit.
    pub(crate) limited: bool,
}

/// Pack state and its fixed parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Battery {
    ocv_curve: Vec<(f64, f64)>,
    series: f64,
    window: Window,
    usable_ah: f64,
    r0: f64,
    rc: Option<(f64, f64)>,
    min_pack_v: f64,
    max_pack_v: f64,
    max_discharge_a: f64,
    max_charge_a: f64,
    heat_capacity: f64,
    conductance: f64,
    ambient_c: f64,
    /// Displayed state of charge, 0..=1 of the usable capacity.
    soc: f64,
    /// Voltage across the RC pair, V (positive while discharging).
    v_rc: f64,
    temperature_c: f64,
}

impl Battery {
    pub(crate) fn new(params: &BatteryParameters, soc: f64, ambient_c: f64) -> Battery {
        let series = f64::from(params.cells_series);
        let gross_ah = params.cell_capacity_ah * f64::from(params.cells_parallel);
        Battery {
            ocv_curve: params.ocv.points(),
            series,
            window: Window::new(gross_ah, params.usable_capacity_ah),
            usable_ah: params.usable_capacity_ah,
            r0: params.internal_resistance_ohm,
            rc: params
                .rc_pair
                .map(|rc| (rc.resistance_ohm, rc.resistance_ohm * rc.capacitance_f)),
            min_pack_v: params.min_cell_voltage_v * series,
            max_pack_v: params.max_cell_voltage_v * series,
            max_discharge_a: params.max_discharge_current_a,
            max_charge_a: params.max_charge_current_a,
            heat_capacity: params.thermal.heat_capacity_j_per_k,
            conductance: params.thermal.conductance_w_per_k,
            ambient_c,
            soc,
            v_rc: 0.0,
            temperature_c: ambient_c,
        }
    }

    pub(crate) fn soc(&self) -> f64 {
        self.soc
    }

    pub(crate) fn ambient_c(&self) -> f64 {
        self.ambient_c
    }

    pub(crate) fn temperature_c(&self) -> f64 {
        self.temperature_c
    }

    pub(crate) fn max_charge_current_a(&self) -> f64 {
        self.max_charge_a
    }

    pub(crate) fn internal_resistance_ohm(&self) -> f64 {
        self.r0
    }

    /// Pack open-circuit voltage at a displayed state of charge, V.
    pub(crate) fn ocv_at(&self, soc: f64) -> f64 {
        self.series * interpolate(&self.ocv_curve, self.window.cell_soc(soc.clamp(0.0, 1.0)))
    }

    /// Pack open-circuit voltage now, V.
    pub(crate) fn ocv(&self) -> f64 {
        self.ocv_at(self.soc)
    }

    /// The source voltage behind R0: OCV minus the RC-pair voltage, V.
    pub(crate) fn source_voltage(&self) -> f64 {
        self.ocv() - self.v_rc
    }

    /// Terminal voltage at a current, V.
    pub(crate) fn terminal_voltage(&self, current_a: f64) -> f64 {
        self.source_voltage() - current_a * self.r0
    }

    /// Highest discharge current now: the current limit, the minimum voltage, the
    /// matched-load maximum and an empty battery all bound it, A.
    fn max_discharge_current(&self) -> f64 {
        if self.soc <= 0.0 {
            return 0.0;
        }
        let e = self.source_voltage();
        let by_voltage = (e - self.min_pack_v) / self.r0;
        let matched_load = e / (2.0 * self.r0);
        self.max_discharge_a
            .min(by_voltage)
            .min(matched_load)
            .max(0.0)
    }

    /// Highest power the battery can deliver now, W.
    pub(crate) fn max_discharge_power(&self) -> f64 {
        let current = self.max_discharge_current();
        (self.source_voltage() - current * self.r0) * current
    }

    /// Highest charge current now (a magnitude): the current limit, the maximum
    /// voltage and a full battery bound it, A.
    pub(crate) fn max_charge_current(&self) -> f64 {
        if self.soc >= 1.0 {
            return 0.0;
        }
        let by_voltage = (self.max_pack_v - self.source_voltage()) / self.r0;
        self.max_charge_a.min(by_voltage).max(0.0)
    }

    /// Highest power the battery can accept now (a magnitude), W.
    pub(crate) fn max_charge_power(&self) -> f64 {
        let current = self.max_charge_current();
        (self.source_voltage() + current * self.r0) * current
    }

    /// Current for a terminal power: the physical root of P = (E − I·R0)·I, the one
    /// that tends to P/E for small P, A.
    pub(crate) fn current_for_power(&self, power_w: f64) -> f64 {
        let e = self.source_voltage();
        let discriminant = (e * e - 4.0 * self.r0 * power_w).max(0.0);
        // Written as 2P / (E + √D), which equals (E − √D) / (2·R0) without the
        // cancellation of two nearly equal numbers at small power.
        let denominator = e + discriminant.sqrt();
        if denominator <= 0.0 {
            return 0.0;
        }
        2.0 * power_w / denominator
    }

    /// Draws `power_w` (negative to charge) for `dt` seconds, clamped to what the
    /// battery can deliver or accept, and advances state of charge, RC voltage and
    /// temperature.
    pub(crate) fn step_power(&mut self, power_w: f64, dt: f64) -> BatteryStep {
        let mut power = power_w;
        let mut limited = false;
        if power > 0.0 {
            let max = self.max_discharge_power();
            if power > max {
                power = max;
                limited = true;
            }
        } else if power < 0.0 {
            let max = self.max_charge_power();
            if -power > max {
                power = -max;
                limited = true;
            }
        }
        let current = self.current_for_power(power);
        self.step_current(current, dt, limited)
    }

    /// Passes `current_a` (negative to charge) for `dt` seconds.
    pub(crate) fn step_current(&mut self, current_a: f64, dt: f64, limited: bool) -> BatteryStep {
        let ocv = self.ocv();
        let voltage = self.terminal_voltage(current_a);
        let power = voltage * current_a;
        let internal_power = ocv * current_a;

        let mut heat_w = current_a * current_a * self.r0;
        if let Some((r1, tau)) = self.rc {
            heat_w += self.v_rc * self.v_rc / r1;
            // Exact solution of dV/dt = I/C − V/(R·C) for a constant current.
            let decay = (-dt / tau).exp();
            self.v_rc = self.v_rc * decay + current_a * r1 * (1.0 - decay);
        }
        self.soc = (self.soc - current_a * dt / (3600.0 * self.usable_ah)).clamp(0.0, 1.0);
        self.advance_temperature(heat_w, dt);

        BatteryStep {
            power_w: power,
            current_a,
            voltage_v: voltage,
            ocv_v: ocv,
            internal_power_w: internal_power,
            limited,
        }
    }

    /// C·dT/dt = Q − G·(T − T_ambient), solved exactly for constant heat Q.
    fn advance_temperature(&mut self, heat_w: f64, dt: f64) {
        if self.conductance > 0.0 {
            let steady = self.ambient_c + heat_w / self.conductance;
            let decay = (-self.conductance * dt / self.heat_capacity).exp();
            self.temperature_c = steady + (self.temperature_c - steady) * decay;
        } else {
            self.temperature_c += heat_w * dt / self.heat_capacity;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::RcPair;
    use crate::presets;

    fn kona_battery(soc: f64) -> Battery {
        Battery::new(&presets::hyundai_kona_electric_2019().battery, soc, 25.0)
    }

    #[test]
    fn current_is_the_physical_root_of_the_power_equation() {
        let battery = kona_battery(0.8);
        for power in [-50_000.0, -1_000.0, 0.0, 500.0, 20_000.0, 120_000.0] {
            let current = battery.current_for_power(power);
            let voltage = battery.terminal_voltage(current);
            assert!((voltage * current - power).abs() < 1e-6 * power.abs().max(1.0));
            // The physical root keeps the terminal voltage above half the OCV.
            assert!(voltage > battery.ocv() / 2.0);
        }
    }

    #[test]
    fn voltage_sags_under_load_and_rises_under_charge() {
        let mut battery = kona_battery(0.5);
        let ocv = battery.ocv();
        let discharge = battery.step_power(60_000.0, 1.0);
        assert!(discharge.voltage_v < ocv - 5.0, "{discharge:?}");
        assert!(
            (ocv - discharge.voltage_v - discharge.current_a * battery.internal_resistance_ohm())
                .abs()
                < 1e-9
        );
        let charge = battery.step_power(-30_000.0, 1.0);
        assert!(charge.voltage_v > battery.ocv(), "{charge:?}");
    }

    #[test]
    fn power_beyond_the_limit_is_clamped_and_recorded() {
        let mut battery = kona_battery(0.5);
        let max = battery.max_discharge_power();
        let step = battery.step_power(10.0 * max, 0.1);
        assert!(step.limited);
        assert!((step.power_w - max).abs() < 1e-6 * max);
        assert!(step.current_a <= 500.0 + 1e-9);

        let mut full = kona_battery(1.0);
        let step = full.step_power(-20_000.0, 1.0);
        assert!(step.limited);
        assert_eq!(step.power_w, 0.0);

        let mut empty = kona_battery(0.0);
        let step = empty.step_power(1_000.0, 1.0);
        assert!(step.limited);
        assert_eq!(step.current_a, 0.0);
    }

    #[test]
    fn coulomb_counting_on_the_usable_capacity() {
        let mut battery = kona_battery(0.5);
        let usable_ah = presets::hyundai_kona_electric_2019()
            .battery
            .usable_capacity_ah;
        // One hour at a tenth of the usable capacity removes 10 %.
        for _ in 0..3600 {
            battery.step_current(usable_ah / 10.0, 1.0, false);
        }
        assert!((battery.soc() - 0.4).abs() < 1e-9, "{}", battery.soc());
    }

    #[test]
    fn temperature_rises_with_joule_heat_and_relaxes_to_ambient() {
        let mut battery = kona_battery(0.9);
        for _ in 0..600 {
            battery.step_current(300.0, 1.0, false);
        }
        let hot = battery.temperature_c();
        assert!(hot > 25.5, "{hot}");
        for _ in 0..6_000 {
            battery.step_current(0.0, 10.0, false);
        }
        assert!((battery.temperature_c() - 25.0).abs() < 0.1);
    }

    #[test]
    fn rc_pair_adds_a_slow_voltage_drop() {
        let mut params = presets::hyundai_kona_electric_2019().battery;
        params.rc_pair = Some(RcPair {
            resistance_ohm: 0.03,
            capacitance_f: 1000.0,
        });
        let mut battery = Battery::new(&params, 0.6, 25.0);
        let first = battery.step_current(100.0, 1.0, false);
        for _ in 0..200 {
            battery.step_current(100.0, 1.0, false);
        }
        let later = battery.step_current(100.0, 1.0, false);
        // After several time constants the RC pair adds about I·R1 = 3 V of drop,
        // on top of the OCV falling with the state of charge.
        let extra_drop = (first.voltage_v - later.voltage_v) - (first.ocv_v - later.ocv_v);
        assert!((extra_drop - 3.0).abs() < 0.1, "{extra_drop}");
    }
}
