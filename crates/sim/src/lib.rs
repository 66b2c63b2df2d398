//! A longitudinal electric-vehicle simulator: drive cycles, road load, a
//! single-speed drivetrain, an equivalent-circuit battery and charging.
//!
//! It answers "what would this car's speed, motor, battery and pedals do on this
//! drive cycle (or at this charger)?" fast enough to run a whole EPA cycle in
//! milliseconds, so that the platform can produce believable vehicle signals
//! without a vehicle.
//!
//! It is pure physics parameterised by a [`VehicleParameters`] struct: no IO, no
//! clock, no knowledge of VSS, CAN or the broker, and no dependency on other Tomoe
//! crates. Mapping samples to VSS signals (and to their sign conventions) is the
//! job of the code that publishes them.
//!
//! - [`Cycle`]: standard drive cycles (UDDS, HWFET, US06, WLTC class 3b, embedded),
//!   CSV tables and constant speeds.
//! - [`VehicleParameters`]: mass, aerodynamics, drivetrain, battery, in SI units;
//!   [`presets`] has real cars with sources.
//! - [`Simulator`]: [`Simulator::step`] one time step, [`Simulator::run_cycle`] a
//!   whole cycle into a [`Summary`], [`Simulator::charge`] and
//!   [`Simulator::charge_to`] a charging session. The equations are in the
//!   [`simulator`] module docs, the charging rules in [`charging`].
//!
//! Battery current and power are positive when the battery discharges.
//!
//! # Example
//!
//! ```
//! use tomoe_sim::{presets, Charger, Cycle, Simulator};
//!
//! let kona = presets::hyundai_kona_electric_2019();
//! let mut sim = Simulator::new(kona, 0.9, 20.0).unwrap();
//! let summary = sim.run_cycle(&Cycle::udds(), 1.0);
//! assert!((summary.distance_km - 12.0).abs() < 0.1);
//! assert!(summary.consumption_wh_per_km > 50.0 && summary.consumption_wh_per_km < 200.0);
//! assert!(summary.final_soc < 0.9);
//!
//! let sample = sim.charge(60.0, &Charger::ac(7_200.0));
//! assert!(sample.charging && sample.soc > summary.final_soc);
//! ```

mod battery;
pub mod charging;
mod cycle;
mod efficiency;
mod error;
mod params;
pub mod presets;
pub mod simulator;

pub use charging::{ChargeSummary, Charger, ChargerKind};
pub use cycle::{Cycle, CyclePoint};
pub use error::SimError;
pub use params::{
    tire_rolling_radius_m, BatteryParameters, CoastdownCoefficients, EfficiencyMap,
    EfficiencyPoint, OcvCurve, OcvPoint, RcPair, RegenParameters, ThermalParameters,
    VehicleParameters, GRAVITY_MPS2,
};
pub use simulator::{Gear, Sample, Simulator, Summary, FULL_BRAKE_DECELERATION_MPS2};
