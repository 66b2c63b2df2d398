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
//! The key space and encoding are in [`keys`] and [`codec`]; `docs/distribution.md`
//! describes the whole.

mod bridge;
pub mod codec;
mod config;
mod error;
pub mod keys;
mod stats;
mod vehicle_id;

pub use bridge::Bridge;
pub use config::{
    BridgeConfig, BridgeOptions, EcuRole, ImportRule, ZenohMode, DEFAULT_LEASE_MS, MAX_CONFIG_BYTES,
};
pub use error::BridgeError;
pub use stats::{BridgeStats, RefusalReason};
pub use vehicle_id::load_or_create_vehicle_id;
