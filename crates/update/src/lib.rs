//! The platform's update agent: it keeps the vehicle's apps at the versions the
//! Uptane director assigns.
//!
//! Every app is an ECU of the vehicle (ECU id `app:<workload>`, hardware id
//! [`APP_HARDWARE_ID`]) whose image is the app's executable. One [`Agent`] cycle
//! is one typed state machine ([`UpdateStatus`]):
//!
//! ```text
//! IDLE → check (full Uptane verification, tomoe-ota's Primary)
//!      → choose (higher release counter, not rejected before)
//!      → WAITING while the install policy does not admit the vehicle's condition
//!      → DOWNLOADING (stage into the inactive A/B slot)
//!      → INSTALLING (switch the slot, hand the app to the AppHost)
//!      → VERIFYING_HEALTH (the whole health window)
//!      → COMMITTED | ROLLED_BACK (slot and app back, image rejected)
//! any step that fails → FAILED (tried again at the next check)
//! ```
//!
//! The install itself is one call of [`tomoe_ota::Installer::install`]; the agent
//! gives it an [`AppHealth`] that starts the app from the new slot through the
//! [`AppHost`] (the runtime implements it) and watches it for the whole window:
//! a crash, a restart, a failed or missing heartbeat, or a crash loop inside the
//! window rolls back; only an app running healthy when the window ends is
//! committed.
//!
//! The agent also provisions the slots of an app from the executable it runs,
//! re-points an app at its active slot after a rollback during recovery, keeps
//! the list of rejected images, stores the trusted metadata so that rollback
//! protection survives a restart, and signs and reports vehicle version manifests
//! with the primary's key ([`primary_key`]). Progress goes to
//! `Vehicle.Tomoe.Ota.*` in the broker and to a channel the caller prints.

mod agent;
mod error;
mod health;
mod host;
mod primary_key;
mod rejected;
mod runtime_host;
mod status;

pub use agent::{signer_tenant, Agent, AgentConfig, APP_HARDWARE_ID};
pub use error::UpdateError;
pub use health::AppHealth;
pub use host::{App, AppHost, AppStatus, HostError};
pub use primary_key::{primary_key, PRIMARY_KEY_FILE, PRIMARY_PUBLIC_KEY_FILE};
pub use status::{Detail, Progress, UpdateStatus};

/// The ECU id of an app workload.
pub fn app_ecu(workload: &str) -> String {
    format!("app:{workload}")
}

/// The slot directory name of an app workload (a slot name cannot hold `:`).
pub fn slot_name(workload: &str) -> String {
    format!("app.{workload}")
}
