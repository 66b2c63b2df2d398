//! The Tomoe SDK for vehicle apps: read, publish, subscribe to and actuate VSS
//! signals through a Tomoe broker, provide actuators, and send heartbeats to the
//! app runtime.
//!
//! Apps name signals by their VSS path (`Vehicle.Speed`) and handle Rust values;
//! the SDK speaks the Eclipse KUKSA `kuksa.val.v2` gRPC API underneath, so an app
//! built on it also runs against a KUKSA databroker. The main types:
//!
//! - [`Client`]: a connection to the broker. [`Client::get_as`] reads a signal as
//!   a Rust type ([`FromValue`]); [`Client::publish`] and [`Client::actuate`]
//!   convert numbers to the leaf's datatype, so `publish("Vehicle.Speed", 42.0)`
//!   works although the leaf is a `float`.
//! - [`Subscription`]: a stream of [`Update`]s, one per changed signal.
//! - [`ActuationRequests`]: the requests for the actuators an app claimed as their
//!   provider.
//! - [`Heartbeat`]: the liveness signal the app runtime expects of each workload.
//!
//! The [`guide`] (also `docs/sdk.md`) walks through each of them and ends with a
//! complete app.
//!
//! Under the runtime, [`Client::from_env`] and [`Heartbeat::from_env`] pick up the
//! broker URL, the workload's token and name and the runtime's URL from the
//! `TOMOE_BROKER`, `TOMOE_TOKEN`, `TOMOE_WORKLOAD` and `TOMOE_RUNTIME` environment
//! variables.
//!
//! Non-goals: actuator target values (the `kuksa.val.v1` `Set` of a target; v2
//! has no such call), broker administration, and any knowledge of CAN or of the
//! vehicle's brand. The SDK needs a Tokio runtime.
//!
//! # Example
//!
//! An app that warns when the battery runs low, under the runtime or on its own:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use futures::StreamExt;
//! use tomoe_sdk::{Client, Heartbeat, SdkError, Value};
//!
//! const SOC: &str = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed";
//!
//! #[tokio::main]
//! async fn main() -> Result<(), SdkError> {
//!     if let Some(heartbeat) = Heartbeat::from_env() {
//!         heartbeat.spawn(Duration::from_secs(1));
//!     }
//!     let mut client = Client::from_env().await?;
//!     let mut updates = client.subscribe(&[SOC]).await?;
//!     while let Some(update) = updates.next().await {
//!         let soc = match update?.value {
//!             Some(Value::Float(soc)) => soc,
//!             _ => continue,
//!         };
//!         let mode = if soc < 10.0 { "LOW" } else { "OK" };
//!         println!("state of charge {soc:.1} %: {mode}");
//!     }
//!     Ok(())
//! }
//! ```

pub mod guide {
    #![doc = include_str!("../../../docs/sdk.md")]
}

mod client;
mod error;
mod heartbeat;
mod stream;
mod value;

pub use client::{Client, DEFAULT_BROKER};
pub use error::{Code, HeartbeatError, SdkError};
pub use heartbeat::Heartbeat;
pub use stream::{ActuationRequest, ActuationRequests, Subscription, Update};
pub use tomoe_vss::{DataType, Value};
pub use value::FromValue;
