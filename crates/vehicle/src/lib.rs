//! Vehicles: brand profiles, and the CAN feeder that makes every brand speak VSS.
//!
//! A [`Profile`] names a vehicle (brand, model, year), its VSS catalog and its buses,
//! each with a DBC file and a KUKSA-format mapping. A [`Feeder`] compiles a profile
//! against the broker's catalog: every frame is decoded with the bus's DBC, mapped
//! through the profile's rules and published to the broker as VSS values; actuator
//! targets go the other way, encoded into frames by [`WriteBack`]. [`check_profile`]
//! verifies a profile before it runs: every mapped signal exists in its DBC and in the
//! catalog, with compatible types and ranges.
//!
//! Non-goals: CAN IO (tomoe-can) and the broker's transports.

mod check;
mod feeder;
mod profile;
mod simulated;
mod synth;

pub use check::{check_profile, Finding, Severity};
pub use feeder::{Feeder, FeederStats, WriteBack};
pub use profile::{
    default_profiles_dir, BusSpec, CatalogSpec, LoadedBus, LoadedProfile, Profile, ProfileError,
};
pub use simulated::{parameters_for, Scenario, SimulatedVehicle, SimulationOutput};
pub use synth::FrameSynthesizer;
