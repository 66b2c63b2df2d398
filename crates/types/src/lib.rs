//! The vocabulary Tomoe's crates share.
//!
//! A word that crosses a crate boundary is a type here, never a string: the
//! vehicle mode the state manager derives, the runtime gates on and the update
//! agent's install policy reads ([`VehicleMode`]), and what a workload is doing
//! ([`WorkloadState`], [`WorkloadHealth`]) as the runtime reports it and the update
//! agent judges it, and the tenant ([`Tenant`]) a token, an app and a signed image
//! belong to. Each type has one string form, used on the wire, in files and
//! in logs; parsing ignores ASCII case.
//!
//! This crate has no Tomoe dependencies and does no IO.

mod names;
mod workload;

pub use names::UnknownName;
pub use workload::{WorkloadHealth, WorkloadState};

mod mode;
pub use mode::VehicleMode;

mod tenant;
pub use tenant::{InvalidTenant, Tenant, MAX_TENANT_NAME_BYTES};
