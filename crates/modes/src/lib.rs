//! Vehicle modes: `OFF`, `PARKED`, `CHARGING`, `DRIVING` and `SERVICE`, derived
//! from VSS signals and published as `Vehicle.Tomoe.Mode`.
//!
//! The app runtime starts and stops vehicle apps by mode (a video player only while
//! parked, a diagnostic tool only in service). This crate decides the mode:
//!
//! - [`ModeMachine`] is the derivation itself, pure and clock-free: it turns a
//!   snapshot of [`Inputs`] (speed, gear, charging, ignition, a service request)
//!   into a [`Mode`], with a speed hysteresis and a dwell time so that noisy
//!   signals never make the mode flap. The [`machine`] module documents the rules.
//! - [`StateManager`] runs a machine inside the process: it subscribes to the input
//!   signals through the [`tomoe_broker::Broker`] API, provides the mode request
//!   actuator `Vehicle.Tomoe.ModeRequest`, publishes every mode change on
//!   `Vehicle.Tomoe.Mode` and hands it out through a Tokio watch channel.
//! - [`ModeConfig`] holds the thresholds, the dwell time and the input paths, read
//!   from the optional `[modes]` table of a vehicle profile.
//!
//! Non-goals: deciding which app may run in which mode (the runtime's manifests do
//! that) and who may request a mode (whoever may actuate the request actuator).
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tomoe_modes::{Inputs, Mode, ModeConfig, ModeMachine};
//!
//! let mut machine = ModeMachine::new(ModeConfig::default());
//! let start = Instant::now();
//! let parked = Inputs { speed_kmh: Some(0.0), selected_gear: Some(126), ..Inputs::default() };
//! assert_eq!(machine.observe(&parked, start), Some(Mode::Parked));
//!
//! let rolling = Inputs { speed_kmh: Some(12.0), selected_gear: Some(127), ..Inputs::default() };
//! assert_eq!(machine.observe(&rolling, start + Duration::from_millis(100)), None);
//! // The new mode is adopted once it has held for the dwell time (2 s by default).
//! assert_eq!(machine.observe(&rolling, start + Duration::from_millis(2100)), Some(Mode::Driving));
//! ```

mod config;
mod error;
pub mod machine;
mod manager;
mod mode;

pub use config::{InputPaths, ModeConfig};
pub use error::ModeError;
pub use machine::{Ignition, Inputs, ModeMachine, GEAR_DRIVE, GEAR_PARK};
pub use manager::{StateManager, REQUEST_NONE, REQUEST_SERVICE};
/// The vehicle mode; the shared type of `tomoe-types`.
pub use tomoe_types::VehicleMode as Mode;

/// The signal the state manager publishes the mode on.
pub const MODE_PATH: &str = "Vehicle.Tomoe.Mode";

/// The actuator through which entitled workloads request a mode (`SERVICE`, or
/// `NONE` to withdraw the request).
pub const MODE_REQUEST_PATH: &str = "Vehicle.Tomoe.ModeRequest";

/// Follows the mode that a state manager elsewhere publishes on [`MODE_PATH`] (on
/// an ECU that runs no state manager of its own, fed by another ECU): the receiver
/// holds the last mode read, `OFF` until one is, and `OFF` again while the signal
/// is unavailable.
pub fn follow_published_mode(
    broker: &tomoe_broker::Broker,
) -> Result<tokio::sync::watch::Receiver<Mode>, tomoe_broker::BrokerError> {
    use tomoe_broker::{Field, Permissions, SubscriptionEvent};
    let id = broker.resolve_path(MODE_PATH)?;
    let mut subscription =
        broker.subscribe(&Permissions::allow_all(), &[id], Field::Current, 0, true)?;
    let (sender, receiver) = tokio::sync::watch::channel(Mode::Off);
    tokio::spawn(async move {
        while let Some(SubscriptionEvent::Changes(changes)) = subscription.next().await {
            for change in changes {
                let mode = match &change.datapoint.value {
                    Some(tomoe_vss::Value::String(text)) => text.parse().unwrap_or(Mode::Off),
                    _ => Mode::Off,
                };
                sender.send_if_modified(|current| std::mem::replace(current, mode) != mode);
            }
        }
    });
    Ok(receiver)
}
