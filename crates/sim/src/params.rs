//! What the simulator needs to know about a vehicle, in SI units.
//!
//! [`VehicleParameters`] deserializes with serde (TOML, JSON, ...) and
//! [`VehicleParameters::validate`] refuses impossible values, naming the field.
//! Units are in the field names: kg, m, m², W, V, A, Ah, Ω (`_ohm`), N·m, rpm, J/K, W/K.

use serde::{Deserialize, Serialize};

use crate::SimError;

/// Standard gravity, m/s².
pub const GRAVITY_MPS2: f64 = 9.80665;

/// Everything the simulator knows about one vehicle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VehicleParameters {
    /// Human-readable name, such as `2019 Hyundai Kona Electric 64 kWh`.
    pub name: String,
    /// Curb mass (no occupants or cargo), kg.
    pub curb_mass_kg: f64,
    /// Occupants and cargo, kg. The EPA tests at curb mass plus 300 lb (136 kg).
    #[serde(default)]
    pub payload_kg: f64,
    /// Factor (≥ 1) on the mass for the rotating parts (wheels, gears, motor rotor)
    /// when accelerating; 1.05 is typical for a single-speed EV.
    #[serde(default = "default_rotational_inertia_factor")]
    pub rotational_inertia_factor: f64,
    /// Aerodynamic drag coefficient Cd.
    pub drag_coefficient: f64,
    /// Frontal area A, m².
    pub frontal_area_m2: f64,
    /// Tyre rolling resistance coefficient Crr (0.008 to 0.010 for low-rolling-resistance tyres).
    pub rolling_resistance_coefficient: f64,
    /// Air density ρ, kg/m³ (1.2 at 20 °C and sea level).
    #[serde(default = "default_air_density")]
    pub air_density_kg_m3: f64,
    /// Measured road load that replaces aerodynamic drag and rolling resistance
    /// when given (the grade force still comes from the mass).
    #[serde(default)]
    pub coastdown: Option<CoastdownCoefficients>,
    /// Dynamic rolling radius of the driven wheels, m.
    pub wheel_radius_m: f64,
    /// Single reduction ratio, motor revolutions per wheel revolution.
    pub gear_ratio: f64,
    /// Efficiency of the reduction gear and differential (0..1].
    #[serde(default = "default_gearbox_efficiency")]
    pub gearbox_efficiency: f64,
    /// Efficiency of motor and inverter together, DC bus to shaft.
    pub motor_efficiency: EfficiencyMap,
    /// Peak (short-time) mechanical motor power, W.
    pub motor_peak_power_w: f64,
    /// Peak motor torque, N·m.
    pub motor_peak_torque_nm: f64,
    /// Top speed (the electronic limit), m/s.
    pub top_speed_mps: f64,
    /// Regenerative braking.
    pub regen: RegenParameters,
    /// Constant load of everything that is not traction (12 V system, pumps,
    /// electronics; no cabin heating or cooling), W.
    #[serde(default = "default_auxiliary_power")]
    pub auxiliary_power_w: f64,
    /// Highest AC charging power of the on-board charger, W (DC charging bypasses it).
    pub onboard_charger_power_w: f64,
    /// The traction battery.
    pub battery: BatteryParameters,
}

/// Road load from a coast-down test, F = A + B·v + C·v² on level road, the form in
/// which the EPA publishes the "target coefficients" its dynamometers apply.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoastdownCoefficients {
    /// Constant term A, N.
    pub a_n: f64,
    /// Linear term B, N per m/s.
    pub b_n_per_mps: f64,
    /// Quadratic term C, N per (m/s)².
    pub c_n_per_mps2: f64,
}

impl CoastdownCoefficients {
    /// Converts coefficients published in US units: A in lbf, B in lbf/mph, C in
    /// lbf/mph² (as in the EPA Test Car List).
    pub fn from_us_units(a_lbf: f64, b_lbf_per_mph: f64, c_lbf_per_mph2: f64) -> Self {
        const NEWTON_PER_LBF: f64 = 4.448_221_615_260_5;
        const MPS_PER_MPH: f64 = 0.447_04;
        CoastdownCoefficients {
            a_n: a_lbf * NEWTON_PER_LBF,
            b_n_per_mps: b_lbf_per_mph * NEWTON_PER_LBF / MPS_PER_MPH,
            c_n_per_mps2: c_lbf_per_mph2 * NEWTON_PER_LBF / (MPS_PER_MPH * MPS_PER_MPH),
        }
    }

    /// The road-load force at a speed, N.
    pub fn force_n(&self, speed_mps: f64) -> f64 {
        self.a_n + self.b_n_per_mps * speed_mps + self.c_n_per_mps2 * speed_mps * speed_mps
    }
}

/// Regenerative braking: which share of the braking is done by the motor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegenParameters {
    /// Share (0..1) of the braking power demanded at the wheels that the brake
    /// blending gives to the motor; the rest goes to the friction brakes.
    pub fraction: f64,
    /// Highest mechanical power the motor absorbs as a generator, W.
    pub max_power_w: f64,
    /// Below this speed the regenerative share fades linearly to 0 at standstill, m/s.
    pub fade_speed_mps: f64,
}

/// Efficiency of the motor with its inverter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EfficiencyMap {
    /// The same efficiency (0..1] at every operating point.
    Constant(f64),
    /// A table over motor speed and torque. The points must form a full grid:
    /// every listed speed with every listed torque. Between points the efficiency is
    /// interpolated bilinearly; outside the grid the nearest edge value holds. Speed
    /// and torque are taken as magnitudes, so one table serves motoring and
    /// generating in both directions.
    Table(Vec<EfficiencyPoint>),
}

/// One point of an [`EfficiencyMap::Table`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EfficiencyPoint {
    /// Motor speed, rpm.
    pub speed_rpm: f64,
    /// Motor torque, N·m.
    pub torque_nm: f64,
    /// Efficiency at this point (0..1].
    pub efficiency: f64,
}

/// The traction battery as an equivalent circuit: open-circuit voltage, a series
/// resistance and optionally one RC pair, with a lumped thermal mass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatteryParameters {
    /// Cell open-circuit voltage against state of charge.
    #[serde(default)]
    pub ocv: OcvCurve,
    /// Cells (or parallel groups) in series.
    pub cells_series: u32,
    /// Cells in parallel in each group.
    pub cells_parallel: u32,
    /// Nominal capacity of one cell, Ah.
    pub cell_capacity_ah: f64,
    /// The part of the pack capacity that the displayed state of charge spans, Ah
    /// (the rest is a buffer, split evenly between the bottom and the top).
    pub usable_capacity_ah: f64,
    /// Published nominal pack voltage, V. Checked against `cells_series` times the
    /// mean cell open-circuit voltage (within 15 %) to catch a wrong cell count.
    pub nominal_voltage_v: f64,
    /// Pack-level series (ohmic) resistance R0, Ω.
    pub internal_resistance_ohm: f64,
    /// Optional RC pair for the slower polarisation voltage.
    #[serde(default)]
    pub rc_pair: Option<RcPair>,
    /// Lowest allowed cell voltage under load, V.
    pub min_cell_voltage_v: f64,
    /// Highest allowed cell voltage under charge, V.
    pub max_cell_voltage_v: f64,
    /// Highest discharge current, A.
    pub max_discharge_current_a: f64,
    /// Highest charge current (regeneration and DC charging), A.
    pub max_charge_current_a: f64,
    /// Lumped thermal model of the pack.
    pub thermal: ThermalParameters,
}

/// One RC pair of the equivalent circuit, pack level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RcPair {
    /// Resistance R1, Ω.
    pub resistance_ohm: f64,
    /// Capacitance C1, F (the time constant is R1·C1).
    pub capacitance_f: f64,
}

/// Lumped thermal model: one temperature for the whole pack.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThermalParameters {
    /// Heat capacity of the pack, J/K (mass times specific heat, about 1000 J/(kg·K)).
    pub heat_capacity_j_per_k: f64,
    /// Thermal conductance from the cells to ambient, including the cooling system
    /// when it runs passively, W/K.
    pub conductance_w_per_k: f64,
}

/// Cell open-circuit voltage as a function of state of charge.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OcvCurve {
    /// A representative nickel-manganese-cobalt (NMC) curve, 3.0 V empty to 4.2 V
    /// full. Also the generic default, and a fair stand-in for NCA cells.
    #[default]
    Nmc,
    /// A representative lithium-manganese-oxide (LMO, spinel) curve, flatter and
    /// higher in the middle.
    Lmo,
    /// A table of points, state of charge 0..=1 strictly increasing, from 0 to 1.
    Table(Vec<OcvPoint>),
}

/// One point of an [`OcvCurve::Table`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcvPoint {
    /// State of charge of the whole cell (not the usable window), 0..=1.
    pub soc: f64,
    /// Open-circuit cell voltage, V.
    pub cell_voltage_v: f64,
}

/// Representative NMC cell curve (state of charge, V). Shape after published
/// low-rate OCV measurements of NMC/graphite cells; not a specific datasheet.
const NMC_OCV: [(f64, f64); 14] = [
    (0.00, 3.00),
    (0.05, 3.40),
    (0.10, 3.50),
    (0.15, 3.56),
    (0.20, 3.60),
    (0.30, 3.65),
    (0.40, 3.69),
    (0.50, 3.74),
    (0.60, 3.80),
    (0.70, 3.88),
    (0.80, 3.96),
    (0.90, 4.06),
    (0.95, 4.12),
    (1.00, 4.20),
];

/// Representative LMO (spinel) cell curve (state of charge, V); not a specific datasheet.
const LMO_OCV: [(f64, f64); 13] = [
    (0.00, 3.00),
    (0.05, 3.55),
    (0.10, 3.65),
    (0.20, 3.75),
    (0.30, 3.82),
    (0.40, 3.86),
    (0.50, 3.90),
    (0.60, 3.94),
    (0.70, 3.98),
    (0.80, 4.03),
    (0.90, 4.09),
    (0.95, 4.13),
    (1.00, 4.20),
];

impl OcvCurve {
    /// The curve as (state of charge, cell voltage) points.
    pub fn points(&self) -> Vec<(f64, f64)> {
        match self {
            OcvCurve::Nmc => NMC_OCV.to_vec(),
            OcvCurve::Lmo => LMO_OCV.to_vec(),
            OcvCurve::Table(points) => points.iter().map(|p| (p.soc, p.cell_voltage_v)).collect(),
        }
    }

    /// Cell open-circuit voltage at `soc` (whole-cell state of charge), linearly
    /// interpolated and clamped to the table's ends.
    pub fn cell_voltage(&self, soc: f64) -> f64 {
        interpolate(&self.points(), soc)
    }
}

/// Linear interpolation in a table sorted by x, clamped at the ends.
pub(crate) fn interpolate(points: &[(f64, f64)], x: f64) -> f64 {
    let Some(&(first_x, first_y)) = points.first() else {
        return 0.0;
    };
    if x.is_nan() || x <= first_x {
        return first_y;
    }
    let after = points.partition_point(|&(px, _)| px <= x);
    if after >= points.len() {
        return points[points.len() - 1].1;
    }
    let ((x0, y0), (x1, y1)) = (points[after - 1], points[after]);
    y0 + (x - x0) / (x1 - x0) * (y1 - y0)
}

/// The radius of a tyre from its size marking, such as 215/55R17, m.
///
/// The unloaded radius is rim/2 + width·aspect; the dynamic rolling radius of a
/// loaded radial tyre is about 3 % smaller, and that is what this returns.
pub fn tire_rolling_radius_m(width_mm: f64, aspect_ratio_pct: f64, rim_diameter_in: f64) -> f64 {
    let unloaded = rim_diameter_in * 0.0254 / 2.0 + width_mm / 1000.0 * aspect_ratio_pct / 100.0;
    0.97 * unloaded
}

fn default_rotational_inertia_factor() -> f64 {
    1.05
}

fn default_air_density() -> f64 {
    1.2
}

fn default_gearbox_efficiency() -> f64 {
    0.97
}

fn default_auxiliary_power() -> f64 {
    300.0
}

/// Collects checks; the first failing one is reported.
struct Checker {
    error: Option<SimError>,
}

impl Checker {
    fn fail(&mut self, field: &str, problem: String) {
        if self.error.is_none() {
            self.error = Some(SimError::parameter(field, problem));
        }
    }

    /// `low < value <= high` when `low_open`, else `low <= value <= high`.
    fn range(&mut self, field: &str, value: f64, low: f64, high: f64, low_open: bool) {
        if !value.is_finite() {
            self.fail(field, format!("{value} is not a finite number"));
        } else if (low_open && value <= low) || (!low_open && value < low) || value > high {
            let bracket = if low_open { "(" } else { "[" };
            self.fail(
                field,
                format!("{value} is outside the allowed range {bracket}{low}, {high}]"),
            );
        }
    }

    fn positive(&mut self, field: &str, value: f64, high: f64) {
        self.range(field, value, 0.0, high, true);
    }

    fn non_negative(&mut self, field: &str, value: f64, high: f64) {
        self.range(field, value, 0.0, high, false);
    }
}

impl VehicleParameters {
    /// Checks every value and returns the first impossible one, naming its field
    /// (for example `battery.internal_resistance_ohm`).
    ///
    /// The bounds refuse what cannot be (negative masses, efficiencies above 1) and
    /// what is far outside road vehicles (a 100 t car, a 20 m wheel); they do not
    /// judge whether a value is realistic for a given model.
    pub fn validate(&self) -> Result<(), SimError> {
        let mut check = Checker { error: None };
        check.positive("curb_mass_kg", self.curb_mass_kg, 100_000.0);
        check.non_negative("payload_kg", self.payload_kg, 100_000.0);
        check.range(
            "rotational_inertia_factor",
            self.rotational_inertia_factor,
            1.0,
            2.0,
            false,
        );
        check.positive("drag_coefficient", self.drag_coefficient, 2.0);
        check.positive("frontal_area_m2", self.frontal_area_m2, 20.0);
        check.non_negative(
            "rolling_resistance_coefficient",
            self.rolling_resistance_coefficient,
            0.1,
        );
        check.positive("air_density_kg_m3", self.air_density_kg_m3, 2.0);
        if let Some(coastdown) = &self.coastdown {
            check.non_negative("coastdown.a_n", coastdown.a_n, 100_000.0);
            check.range(
                "coastdown.b_n_per_mps",
                coastdown.b_n_per_mps,
                -1_000.0,
                1_000.0,
                false,
            );
            check.non_negative("coastdown.c_n_per_mps2", coastdown.c_n_per_mps2, 100.0);
            // A negative B is common in fitted coefficients; the force must still
            // stay positive at every speed, which holds when B² < 4·A·C.
            let b = coastdown.b_n_per_mps;
            if check.error.is_none()
                && b < 0.0
                && b * b >= 4.0 * coastdown.a_n * coastdown.c_n_per_mps2
            {
                check.fail(
                    "coastdown.b_n_per_mps",
                    format!("{b} makes the road load negative at some speed"),
                );
            }
        }
        check.positive("wheel_radius_m", self.wheel_radius_m, 2.0);
        check.positive("gear_ratio", self.gear_ratio, 100.0);
        check.positive("gearbox_efficiency", self.gearbox_efficiency, 1.0);
        check_efficiency_map(&mut check, &self.motor_efficiency);
        check.positive("motor_peak_power_w", self.motor_peak_power_w, 10_000_000.0);
        check.positive("motor_peak_torque_nm", self.motor_peak_torque_nm, 100_000.0);
        check.positive("top_speed_mps", self.top_speed_mps, 200.0);
        check.range("regen.fraction", self.regen.fraction, 0.0, 1.0, false);
        check.non_negative("regen.max_power_w", self.regen.max_power_w, 10_000_000.0);
        check.non_negative("regen.fade_speed_mps", self.regen.fade_speed_mps, 50.0);
        check.non_negative("auxiliary_power_w", self.auxiliary_power_w, 100_000.0);
        check.non_negative(
            "onboard_charger_power_w",
            self.onboard_charger_power_w,
            1_000_000.0,
        );
        check_battery(&mut check, &self.battery);
        match check.error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Test mass: curb mass plus payload, kg.
    pub fn mass_kg(&self) -> f64 {
        self.curb_mass_kg + self.payload_kg
    }
}

fn check_efficiency_map(check: &mut Checker, map: &EfficiencyMap) {
    match map {
        EfficiencyMap::Constant(value) => {
            check.positive("motor_efficiency.constant", *value, 1.0);
        }
        EfficiencyMap::Table(points) => {
            if points.is_empty() {
                check.fail("motor_efficiency.table", "no points".to_owned());
                return;
            }
            for (index, point) in points.iter().enumerate() {
                let field = |name: &str| format!("motor_efficiency.table[{index}].{name}");
                check.non_negative(&field("speed_rpm"), point.speed_rpm, 1_000_000.0);
                check.non_negative(&field("torque_nm"), point.torque_nm, 100_000.0);
                check.positive(&field("efficiency"), point.efficiency, 1.0);
            }
            if check.error.is_none() && crate::efficiency::Grid::from_points(points).is_none() {
                check.fail(
                    "motor_efficiency.table",
                    "the points must form a full speed × torque grid without duplicates".to_owned(),
                );
            }
        }
    }
}

fn check_battery(check: &mut Checker, battery: &BatteryParameters) {
    if let OcvCurve::Table(points) = &battery.ocv {
        check_ocv_table(check, points);
    }
    if battery.cells_series == 0 {
        check.fail("battery.cells_series", "must be at least 1".to_owned());
    }
    if battery.cells_parallel == 0 {
        check.fail("battery.cells_parallel", "must be at least 1".to_owned());
    }
    check.positive(
        "battery.cell_capacity_ah",
        battery.cell_capacity_ah,
        10_000.0,
    );
    let gross_ah = battery.cell_capacity_ah * f64::from(battery.cells_parallel);
    check.positive(
        "battery.usable_capacity_ah",
        battery.usable_capacity_ah,
        100_000.0,
    );
    if check.error.is_none() && battery.usable_capacity_ah > gross_ah * (1.0 + 1e-9) {
        check.fail(
            "battery.usable_capacity_ah",
            format!(
                "{} Ah is more than the pack's {gross_ah} Ah (cell capacity × cells in parallel)",
                battery.usable_capacity_ah
            ),
        );
    }
    check.positive(
        "battery.min_cell_voltage_v",
        battery.min_cell_voltage_v,
        10.0,
    );
    check.positive(
        "battery.max_cell_voltage_v",
        battery.max_cell_voltage_v,
        10.0,
    );
    if check.error.is_none() && battery.min_cell_voltage_v >= battery.max_cell_voltage_v {
        check.fail(
            "battery.min_cell_voltage_v",
            format!(
                "{} V is not below max_cell_voltage_v ({} V)",
                battery.min_cell_voltage_v, battery.max_cell_voltage_v
            ),
        );
    }
    check.positive(
        "battery.nominal_voltage_v",
        battery.nominal_voltage_v,
        5_000.0,
    );
    check.positive(
        "battery.internal_resistance_ohm",
        battery.internal_resistance_ohm,
        100.0,
    );
    if let Some(rc) = &battery.rc_pair {
        check.positive("battery.rc_pair.resistance_ohm", rc.resistance_ohm, 100.0);
        check.positive("battery.rc_pair.capacitance_f", rc.capacitance_f, 1e9);
    }
    check.positive(
        "battery.max_discharge_current_a",
        battery.max_discharge_current_a,
        100_000.0,
    );
    check.positive(
        "battery.max_charge_current_a",
        battery.max_charge_current_a,
        100_000.0,
    );
    check.positive(
        "battery.thermal.heat_capacity_j_per_k",
        battery.thermal.heat_capacity_j_per_k,
        1e10,
    );
    check.non_negative(
        "battery.thermal.conductance_w_per_k",
        battery.thermal.conductance_w_per_k,
        1e6,
    );
    if check.error.is_some() {
        return;
    }
    // The open-circuit voltage must stay inside the cell limits over the usable
    // window, or the battery could never be charged to 100 % or emptied to 0 %.
    let window = crate::battery::Window::new(gross_ah, battery.usable_capacity_ah);
    let curve = battery.ocv.points();
    let top = interpolate(&curve, window.cell_soc(1.0));
    if top > battery.max_cell_voltage_v {
        check.fail(
            "battery.max_cell_voltage_v",
            format!(
                "{} V is below the open-circuit voltage at the top of the usable window ({top:.3} V)",
                battery.max_cell_voltage_v
            ),
        );
    }
    let bottom = interpolate(&curve, window.cell_soc(0.0));
    if bottom < battery.min_cell_voltage_v {
        check.fail(
            "battery.min_cell_voltage_v",
            format!(
                "{} V is above the open-circuit voltage at the bottom of the usable window ({bottom:.3} V)",
                battery.min_cell_voltage_v
            ),
        );
    }
    let mean_cell = mean_over_unit_interval(&curve);
    let expected = mean_cell * f64::from(battery.cells_series);
    if (battery.nominal_voltage_v - expected).abs() > 0.15 * expected {
        check.fail(
            "battery.nominal_voltage_v",
            format!(
                "{} V does not match {} cells in series × {mean_cell:.2} V mean open-circuit voltage = {expected:.0} V (more than 15 % apart)",
                battery.nominal_voltage_v, battery.cells_series
            ),
        );
    }
}

fn check_ocv_table(check: &mut Checker, points: &[OcvPoint]) {
    if points.len() < 2 {
        check.fail("battery.ocv.table", "needs at least two points".to_owned());
        return;
    }
    for (index, point) in points.iter().enumerate() {
        let field = |name: &str| format!("battery.ocv.table[{index}].{name}");
        check.range(&field("soc"), point.soc, 0.0, 1.0, false);
        check.positive(&field("cell_voltage_v"), point.cell_voltage_v, 10.0);
        if index > 0 {
            let previous = points[index - 1];
            if point.soc <= previous.soc {
                check.fail(
                    &field("soc"),
                    "must increase from point to point".to_owned(),
                );
            }
            if point.cell_voltage_v < previous.cell_voltage_v {
                check.fail(
                    &field("cell_voltage_v"),
                    "must not decrease as the state of charge rises".to_owned(),
                );
            }
        }
    }
    if points[0].soc != 0.0 || points[points.len() - 1].soc != 1.0 {
        check.fail(
            "battery.ocv.table",
            "must start at soc 0 and end at soc 1".to_owned(),
        );
    }
}

/// Mean of a piecewise-linear function over [0, 1] (trapezoids).
fn mean_over_unit_interval(points: &[(f64, f64)]) -> f64 {
    points
        .windows(2)
        .map(|w| 0.5 * (w[0].1 + w[1].1) * (w[1].0 - w[0].0))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets;

    fn kona() -> VehicleParameters {
        presets::hyundai_kona_electric_2019()
    }

    fn refused_field(params: &VehicleParameters) -> String {
        match params.validate() {
            Err(error) => {
                let text = error.to_string();
                let field = error.field().unwrap_or_default().to_owned();
                assert!(text.contains(&field), "{text}");
                field
            }
            Ok(()) => panic!("parameters were accepted"),
        }
    }

    #[test]
    fn presets_are_valid() {
        for id in presets::PRESET_IDS {
            let params = presets::preset(id).unwrap();
            params.validate().unwrap_or_else(|e| panic!("{id}: {e}"));
        }
    }

    #[test]
    fn invalid_parameters_are_refused_with_the_field_name() {
        type Edit = fn(&mut VehicleParameters);
        let cases: [(Edit, &str); 18] = [
            (|p| p.curb_mass_kg = -1.0, "curb_mass_kg"),
            (|p| p.payload_kg = f64::NAN, "payload_kg"),
            (
                |p| p.rotational_inertia_factor = 0.9,
                "rotational_inertia_factor",
            ),
            (|p| p.drag_coefficient = 0.0, "drag_coefficient"),
            (|p| p.frontal_area_m2 = f64::INFINITY, "frontal_area_m2"),
            (|p| p.wheel_radius_m = 0.0, "wheel_radius_m"),
            (|p| p.gearbox_efficiency = 1.2, "gearbox_efficiency"),
            (
                |p| p.motor_efficiency = EfficiencyMap::Constant(1.5),
                "motor_efficiency.constant",
            ),
            (|p| p.regen.fraction = 1.5, "regen.fraction"),
            (|p| p.battery.cells_series = 0, "battery.cells_series"),
            (
                |p| p.battery.usable_capacity_ah = 1e4,
                "battery.usable_capacity_ah",
            ),
            (
                |p| p.battery.internal_resistance_ohm = -0.1,
                "battery.internal_resistance_ohm",
            ),
            (
                |p| p.battery.min_cell_voltage_v = 4.5,
                "battery.min_cell_voltage_v",
            ),
            (
                |p| p.battery.max_cell_voltage_v = 4.0,
                "battery.max_cell_voltage_v",
            ),
            (
                |p| p.battery.nominal_voltage_v = 800.0,
                "battery.nominal_voltage_v",
            ),
            (
                |p| {
                    p.battery.rc_pair = Some(RcPair {
                        resistance_ohm: 0.01,
                        capacitance_f: 0.0,
                    })
                },
                "battery.rc_pair.capacitance_f",
            ),
            (
                |p| p.battery.thermal.heat_capacity_j_per_k = 0.0,
                "battery.thermal.heat_capacity_j_per_k",
            ),
            (
                |p| {
                    p.motor_efficiency = EfficiencyMap::Table(vec![
                        EfficiencyPoint {
                            speed_rpm: 0.0,
                            torque_nm: 0.0,
                            efficiency: 0.8,
                        },
                        EfficiencyPoint {
                            speed_rpm: 1000.0,
                            torque_nm: 100.0,
                            efficiency: 0.9,
                        },
                    ])
                },
                "motor_efficiency.table",
            ),
        ];
        for (edit, field) in cases {
            let mut params = kona();
            edit(&mut params);
            assert_eq!(refused_field(&params), field);
        }
    }

    #[test]
    fn ocv_tables_are_checked() {
        let mut params = kona();
        params.battery.ocv = OcvCurve::Table(vec![
            OcvPoint {
                soc: 0.0,
                cell_voltage_v: 3.0,
            },
            OcvPoint {
                soc: 0.5,
                cell_voltage_v: 3.9,
            },
            OcvPoint {
                soc: 0.4,
                cell_voltage_v: 4.0,
            },
        ]);
        assert_eq!(refused_field(&params), "battery.ocv.table[2].soc");
    }

    #[test]
    fn parameters_deserialize_from_toml_with_defaults() {
        let text = r#"
            name = "test car"
            curb_mass_kg = 1500.0
            drag_coefficient = 0.3
            frontal_area_m2 = 2.2
            rolling_resistance_coefficient = 0.009
            wheel_radius_m = 0.31
            gear_ratio = 8.0
            motor_efficiency = { constant = 0.9 }
            motor_peak_power_w = 100000.0
            motor_peak_torque_nm = 300.0
            top_speed_mps = 40.0
            onboard_charger_power_w = 7200.0
            regen = { fraction = 0.9, max_power_w = 60000.0, fade_speed_mps = 3.0 }

            [battery]
            ocv = "lmo"
            cells_series = 96
            cells_parallel = 2
            cell_capacity_ah = 56.0
            usable_capacity_ah = 100.0
            nominal_voltage_v = 370.0
            internal_resistance_ohm = 0.1
            rc_pair = { resistance_ohm = 0.03, capacitance_f = 1000.0 }
            min_cell_voltage_v = 3.0
            max_cell_voltage_v = 4.2
            max_discharge_current_a = 400.0
            max_charge_current_a = 150.0
            thermal = { heat_capacity_j_per_k = 300000.0, conductance_w_per_k = 20.0 }
        "#;
        let params: VehicleParameters = toml::from_str(text).unwrap();
        params.validate().unwrap();
        assert_eq!(params.payload_kg, 0.0);
        assert_eq!(params.rotational_inertia_factor, 1.05);
        assert_eq!(params.auxiliary_power_w, 300.0);
        assert_eq!(params.battery.ocv, OcvCurve::Lmo);
        assert!(params.battery.rc_pair.is_some());

        let unknown = text.replace("gear_ratio", "gear_ratio_typo");
        assert!(toml::from_str::<VehicleParameters>(&unknown).is_err());
    }

    #[test]
    fn coastdown_coefficients_convert_from_us_units_and_are_checked() {
        // 30 lbf + 0.2 lbf/mph · 50 mph + 0.02 lbf/mph² · 2500 mph² = 90 lbf.
        let coastdown = CoastdownCoefficients::from_us_units(30.0, 0.2, 0.02);
        let force = coastdown.force_n(50.0 * 0.447_04);
        assert!((force - 90.0 * 4.448_221_615_260_5).abs() < 1e-9, "{force}");

        let mut params = kona();
        params.coastdown = Some(coastdown);
        params.validate().unwrap();
        params.coastdown = Some(CoastdownCoefficients {
            a_n: 100.0,
            b_n_per_mps: -20.0,
            c_n_per_mps2: 0.5,
        });
        assert_eq!(refused_field(&params), "coastdown.b_n_per_mps");
    }

    #[test]
    fn tire_radius_from_size_marking() {
        // 215/55R17: 17 in rim, 118.25 mm sidewall, 334.2 mm unloaded radius.
        let radius = tire_rolling_radius_m(215.0, 55.0, 17.0);
        assert!((radius - 0.97 * 0.33415).abs() < 1e-4, "{radius}");
    }

    #[test]
    fn ocv_curves_are_monotonic_and_interpolated() {
        for curve in [OcvCurve::Nmc, OcvCurve::Lmo] {
            let points = curve.points();
            assert!(points
                .windows(2)
                .all(|w| w[1].0 > w[0].0 && w[1].1 >= w[0].1));
            assert_eq!(curve.cell_voltage(0.0), 3.0);
            assert_eq!(curve.cell_voltage(1.0), 4.2);
            assert_eq!(curve.cell_voltage(2.0), 4.2);
        }
        assert!((OcvCurve::Nmc.cell_voltage(0.45) - 3.715).abs() < 1e-9);
    }
}
