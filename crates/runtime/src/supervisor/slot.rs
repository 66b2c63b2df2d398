//! What the supervisor knows of each workload: its desired spec and what it observed of
//! its process. Plain data, changed only by the actor.

use std::time::Instant;

use tomoe_types::{VehicleMode, WorkloadState};

use crate::manifest::Workload;
use crate::store::DesiredWorkload;

/// A process of a workload, as the supervisor knows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Process {
    /// Process id (and process group id).
    pub(crate) pid: u32,
    /// When it started (or was adopted).
    pub(crate) started: Instant,
    /// When SIGTERM was sent, to escalate to SIGKILL.
    pub(crate) terminating_since: Option<Instant>,
    /// Whether SIGKILL was sent.
    pub(crate) killed: bool,
    /// Adopted from a previous runtime: not our child, watched through /proc.
    pub(crate) adopted: bool,
    /// Why the runtime killed it (health), so that the exit is judged accordingly.
    pub(crate) killed_for: Option<String>,
}

impl Process {
    /// A process that has just started (or been adopted) at `now`.
    pub(crate) fn new(pid: u32, now: Instant, adopted: bool) -> Process {
        Process {
            pid,
            started: now,
            terminating_since: None,
            killed: false,
            adopted,
            killed_for: None,
        }
    }
}

/// One workload: what is desired of it and what the supervisor observed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Slot {
    /// The spec and whether the user wants it running.
    pub(crate) desired: DesiredWorkload,
    /// Its lifecycle state.
    pub(crate) state: WorkloadState,
    /// Why it is in that state.
    pub(crate) reason: String,
    /// Its process, while there is one.
    pub(crate) process: Option<Process>,
    /// Starts after the first.
    pub(crate) restarts: u32,
    /// Failed runs in a row.
    pub(crate) consecutive_failures: u32,
    /// The end of its backoff delay.
    pub(crate) next_start: Option<Instant>,
    /// How its last run ended.
    pub(crate) last_exit: Option<String>,
    /// Its last heartbeat (or passed probe).
    pub(crate) last_heartbeat: Option<Instant>,
    /// The last health verdict; `None` before the first.
    pub(crate) healthy: Option<bool>,
    /// When the next probe is due.
    pub(crate) next_probe: Option<Instant>,
    /// Resource limits applied, or why not.
    pub(crate) limits: String,
}

impl Slot {
    /// A workload not started yet.
    pub(crate) fn new(desired: DesiredWorkload) -> Slot {
        Slot {
            desired,
            state: WorkloadState::Waiting,
            reason: String::new(),
            process: None,
            restarts: 0,
            consecutive_failures: 0,
            next_start: None,
            last_exit: None,
            last_heartbeat: None,
            healthy: None,
            next_probe: None,
            limits: "none requested".into(),
        }
    }

    /// The spec as last applied.
    pub(crate) fn spec(&self) -> &Workload {
        &self.desired.spec
    }

    pub(crate) fn mode_allows(&self, mode: VehicleMode) -> bool {
        self.spec().modes.is_empty() || self.spec().modes.contains(&mode)
    }
}
