//! What gives a running platform its vehicle: a replayed log, the live
//! interfaces, the simulator, or nothing.

use std::path::PathBuf;

use futures::future::BoxFuture;
use tomoe_can::{Bus, CanError, FrameSink, Pacing};
use tomoe_vss::Catalog;

use crate::sources::{forward, replay_source};
use crate::{BrokerSink, FeedError, LoadedProfile, Scenario, SimulatedVehicle};

/// The vehicle a platform runs against.
#[derive(Debug, Clone)]
pub enum VehicleInput {
    /// A candump log, replayed at `pacing`.
    Replay {
        /// The log.
        log: PathBuf,
        /// How fast.
        pacing: Pacing,
    },
    /// The profile's SocketCAN interfaces (Linux only).
    Live,
    /// The simulator driving `scenario` from state of charge `soc` (0 to 1),
    /// `speed` times as fast as real time.
    Simulated {
        /// What it drives.
        scenario: Scenario,
        /// The initial state of charge, 0 to 1.
        soc: f64,
        /// The time factor.
        speed: f64,
        /// How long the driver parks after each cycle, seconds of vehicle time.
        park_s: f64,
        /// Packs swapped in by a battery pack service ([`VehicleInput::with_packs`]).
        packs: Option<crate::PackChanges>,
    },
    /// Nothing: the signals come from clients.
    Idle,
}

/// Why a vehicle input cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The log cannot be opened.
    #[error("cannot open the log {}", log.display())]
    Log {
        /// The log.
        log: PathBuf,
        /// Why.
        #[source]
        source: CanError,
    },
    /// An interface cannot be opened.
    #[error(transparent)]
    Live(CanError),
    /// SocketCAN is Linux only.
    #[error("--live needs SocketCAN, which only Linux has")]
    NoSocketCan,
    /// The simulator cannot simulate the profile's vehicle.
    #[error(transparent)]
    Simulator(crate::SimulationError),
}

impl VehicleInput {
    /// A task that puts the vehicle's frames on `bus` until it fails or the input
    /// ends; the simulator publishes what the buses cannot carry to `direct`.
    pub fn start(
        self,
        profile: &LoadedProfile,
        catalog: &Catalog,
        bus: &Bus,
        direct: BrokerSink,
    ) -> Result<BoxFuture<'static, Result<(), FeedError>>, InputError> {
        let mut to_bus = bus.sender();
        match self {
            VehicleInput::Replay { log, pacing } => {
                let mut replay = replay_source(profile, &log, pacing, false)
                    .map_err(|source| InputError::Log { log, source })?;
                Ok(Box::pin(
                    async move { forward(&mut replay, &mut to_bus).await },
                ))
            }
            VehicleInput::Live => live_source(profile, to_bus),
            VehicleInput::Idle => Ok(Box::pin(std::future::pending())),
            VehicleInput::Simulated {
                scenario,
                soc,
                speed,
                park_s,
                packs,
            } => {
                let mut vehicle = SimulatedVehicle::new(profile, catalog, scenario, soc)
                    .map_err(InputError::Simulator)?
                    .with_park_time(park_s);
                if let Some(packs) = packs {
                    vehicle = vehicle.with_packs(packs);
                }
                let mut direct = direct;
                Ok(Box::pin(async move {
                    vehicle.drive(speed, &mut to_bus, &mut direct).await
                }))
            }
        }
    }

    /// The input with a simulated vehicle carrying the packs `packs` reports
    /// (other inputs have no battery model to change).
    pub fn with_packs(self, packs: crate::PackChanges) -> VehicleInput {
        match self {
            VehicleInput::Simulated {
                scenario,
                soc,
                speed,
                park_s,
                ..
            } => VehicleInput::Simulated {
                scenario,
                soc,
                speed,
                park_s,
                packs: Some(packs),
            },
            other => other,
        }
    }

    /// Where actuator targets go as frames: the live interfaces for
    /// [`VehicleInput::Live`], the in-process `bus` otherwise.
    pub fn write_back_sink(
        &self,
        profile: &LoadedProfile,
        bus: &Bus,
    ) -> Result<Box<dyn FrameSink>, InputError> {
        match self {
            VehicleInput::Live => live_sink(profile),
            _ => Ok(Box::new(bus.sender())),
        }
    }
}

#[cfg(target_os = "linux")]
fn live_source(
    profile: &LoadedProfile,
    mut to_bus: tomoe_can::BusSender,
) -> Result<BoxFuture<'static, Result<(), FeedError>>, InputError> {
    let mut live = crate::LiveSource::open(profile).map_err(InputError::Live)?;
    Ok(Box::pin(
        async move { forward(&mut live, &mut to_bus).await },
    ))
}

#[cfg(not(target_os = "linux"))]
fn live_source(
    _: &LoadedProfile,
    _: tomoe_can::BusSender,
) -> Result<BoxFuture<'static, Result<(), FeedError>>, InputError> {
    Err(InputError::NoSocketCan)
}

#[cfg(target_os = "linux")]
fn live_sink(profile: &LoadedProfile) -> Result<Box<dyn FrameSink>, InputError> {
    Ok(Box::new(
        crate::live_sink(profile).map_err(InputError::Live)?,
    ))
}

#[cfg(not(target_os = "linux"))]
fn live_sink(_: &LoadedProfile) -> Result<Box<dyn FrameSink>, InputError> {
    Err(InputError::NoSocketCan)
}
