//! Joins Tomoe brokers on several ECUs, and vehicles with their backend, over
//! Eclipse Zenoh.
//!
//! A [`Bridge`] connects one [`tomoe_broker::Broker`] to a Zenoh session:
//!
//! - **export**: the current values of the signals its configuration exports go out
//!   as they change (one key per signal, JSON payload), and a queryable answers with
//!   the present values, so a peer that (re)joins starts complete;
//! - **import**: values from other ECUs that an import rule allows are published into
//!   the local broker, where KUKSA clients read and subscribe to them unchanged;
//!   anything else (unknown path, not allowed, malformed, wrong type) is refused and
//!   counted, never stored;
//! - **actuation across ECUs**: an actuator claimed by a provider on one ECU is
//!   claimed on the others by the bridge, which passes each request on as a Zenoh
//!   query and returns the answer ([`tomoe_broker::Broker::actuate_confirmed`]);
//! - **liveness**: each bridge holds a liveliness token; when a peer's token goes
//!   (link lost, lease expired), its imported signals become unavailable and its
//!   actuators lose their provider, until it comes back.
//!
//! - **backend**: with a [`Gateway`], the values a [`TelemetryPolicy`] selects go out
//!   under `tomoe/<vehicle>/telemetry/...` (minimum interval, deadband), and the
//!   backend's commands arrive as queries carrying the caller's JWT, verified like a
//!   local client's.
//!
//! The key space and encoding are in [`keys`] and [`codec`]; `docs/distribution.md`
//! describes the whole.

pub mod backend;
mod bridge;
pub mod codec;
mod config;
mod error;
mod gateway;
pub mod keys;
mod stats;
pub mod telemetry;
mod vehicle_id;

pub use bridge::Bridge;
pub use config::{
    is_loopback_endpoint, BridgeConfig, BridgeOptions, EcuRole, ImportRule, ZenohMode,
    DEFAULT_LEASE_MS, MAX_CONFIG_BYTES,
};
pub use error::BridgeError;
pub use gateway::{CommandCode, Gateway, COMMAND_TIMEOUT, MAX_COMMAND_BYTES, MAX_COMMAND_PATHS};
pub use stats::{BridgeStats, RefusalReason, StatsReader};
pub use telemetry::{
    TelemetryFilter, TelemetryMeter, TelemetryPolicy, TelemetryRule, TelemetryUsage,
};
pub use vehicle_id::load_or_create_vehicle_id;
