//! Vehicles: brand profiles, and the CAN feeder that makes every brand speak VSS.
//!
//! A [`Profile`] names a vehicle (brand, model, year), its VSS catalog and its buses,
//! each with a DBC file and a KUKSA-format mapping. A [`Feeder`] compiles a profile
//! against the broker's catalog: every frame is decoded with the bus's DBC, mapped
//! through the profile's rules and handed to a [`ValueSink`] (the in-process broker,
//! [`BrokerSink`], or a remote one) as VSS values by [`Feeder::run`], which flushes as
//! a [`FlushPolicy`] says. The frames come from a source: a replayed log
//! ([`replay_source`]), the live buses (`LiveSource`, Linux) or a simulated vehicle
//! ([`SimulatedVehicle::drive`]) on an in-process bus; actuator
//! targets go the other way, encoded into frames by [`WriteBack`]. [`check_profile`]
//! verifies a profile before it runs: every mapped signal exists in its DBC and in the
//! catalog, with compatible types and ranges.
//!
//! Non-goals: CAN IO (tomoe-can) and the broker's transports.

mod check;
mod feed;
mod feeder;
mod input;
mod pack;
mod profile;
mod remote;
mod simulated;
mod sources;
mod synth;

pub use check::{check_profile, Finding, Severity};
pub use feed::{BrokerSink, FeedError, FlushPolicy, ValueSink};
pub use feeder::{Feeder, FeederStats, WriteBack, WriteBackError, MISMATCH_SAMPLE};
pub use input::{InputError, VehicleInput};
pub use pack::{
    apply_pack, attribute_values, PackChange, PackChanges, PackError, PackService, SwapVerdict,
    DEFAULT_SWAP_SOC_PERCENT,
};
pub use profile::{
    default_profiles_dir, BusSpec, CatalogSpec, LoadedBus, LoadedProfile, Profile, ProfileError,
};
pub use remote::RemoteSink;
pub use simulated::{
    parameters_for, vehicle_parameters, Scenario, SimulatedVehicle, SimulationError,
    SimulationOutput, DEFAULT_PARK_S,
};
pub use sources::{forward, replay_source};
#[cfg(target_os = "linux")]
pub use sources::{live_sink, LiveSource};
pub use synth::FrameSynthesizer;
