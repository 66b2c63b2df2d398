//! The Tomoe vehicle app runtime.
//!
//! A [`Manifest`] declares workloads: the command to run, its restart policy, its
//! dependencies, the vehicle modes it may run in, its health supervision, its
//! resource limits and the VSS paths it may use. The [`Runtime`] supervises them as
//! real processes: it starts them in dependency order when the vehicle mode allows,
//! restarts them with exponential backoff, marks crash loops, kills hung ones (missed
//! heartbeats or failed probes), gives each a broker token limited to its declared
//! paths, keeps their logs with a size limit, persists the desired state and, after
//! its own restart, adopts the processes still running instead of starting
//! duplicates. [`api::router`] exposes it over HTTP for the `tomoe` CLI and for
//! heartbeats; [`client::RuntimeClient`] talks to it.
//!
//! Non-goals: deriving the vehicle mode (tomoe-modes does) and issuing tokens (a
//! [`TokenSource`] does).

pub mod api;
pub mod client;
mod limits;
pub mod manifest;
mod store;
mod supervisor;

pub use manifest::{Manifest, ManifestError, Problem, Workload, MAX_MANIFEST_TEXT_BYTES};
pub use store::StoreError;
pub use supervisor::{Runtime, RuntimeConfig, RuntimeError, TokenSource, WorkloadStatus};
