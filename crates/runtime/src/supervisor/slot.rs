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

/// Slots as test tables describe them.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::time::{Duration, Instant};

    use tomoe_types::WorkloadState::{self, Running, Stopping};

    use super::*;
    use crate::manifest::Workload;
    use crate::store::DesiredWorkload;

    /// What a test says the supervisor observed of a workload; times in ms after `t0`.
    #[derive(Clone, Default)]
    pub(crate) struct Seen {
        state: Option<WorkloadState>,
        started: Option<u64>,
        terminating: Option<u64>,
        killed: bool,
        killed_for: Option<&'static str>,
        heartbeat: Option<u64>,
        healthy: Option<bool>,
        next_start: Option<u64>,
        next_probe: Option<u64>,
        disabled: bool,
        failures: u32,
    }

    pub(crate) fn idle() -> Seen {
        Seen::default()
    }

    pub(crate) fn running(started: u64) -> Seen {
        Seen {
            state: Some(Running),
            started: Some(started),
            ..Seen::default()
        }
    }

    pub(crate) fn in_state(state: WorkloadState) -> Seen {
        Seen {
            state: Some(state),
            ..Seen::default()
        }
    }

    impl Seen {
        pub(crate) fn stopping(self, since: u64) -> Seen {
            Seen {
                state: Some(Stopping),
                terminating: Some(since),
                ..self
            }
        }
        pub(crate) fn killed(self) -> Seen {
            Seen {
                killed: true,
                ..self
            }
        }
        pub(crate) fn killed_for(self, why: &'static str) -> Seen {
            Seen {
                killed_for: Some(why),
                terminating: Some(0),
                killed: true,
                ..self
            }
        }
        pub(crate) fn healthy(self, healthy: bool) -> Seen {
            Seen {
                healthy: Some(healthy),
                ..self
            }
        }
        pub(crate) fn heartbeat(self, at: u64) -> Seen {
            Seen {
                heartbeat: Some(at),
                ..self
            }
        }
        pub(crate) fn next_start(self, at: u64) -> Seen {
            Seen {
                next_start: Some(at),
                ..self
            }
        }
        pub(crate) fn next_probe(self, at: u64) -> Seen {
            Seen {
                next_probe: Some(at),
                ..self
            }
        }
        pub(crate) fn disabled(self) -> Seen {
            Seen {
                disabled: true,
                ..self
            }
        }
        pub(crate) fn failures(self, failures: u32) -> Seen {
            Seen { failures, ..self }
        }

        pub(crate) fn slot(&self, spec: &str, t0: Instant) -> Slot {
            let at = |ms: u64| t0 + Duration::from_millis(ms);
            let spec: Workload =
                serde_yaml::from_str(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            let mut slot = Slot::new(DesiredWorkload {
                spec,
                enabled: !self.disabled,
                terminal: None,
            });
            if let Some(state) = self.state {
                slot.state = state;
            }
            slot.process = self.started.map(|started| Process {
                terminating_since: self.terminating.map(at),
                killed: self.killed,
                killed_for: self.killed_for.map(str::to_owned),
                ..Process::new(4242, at(started), false)
            });
            slot.last_heartbeat = self.heartbeat.map(at);
            slot.healthy = self.healthy;
            slot.next_start = self.next_start.map(at);
            slot.next_probe = self.next_probe.map(at);
            slot.consecutive_failures = self.failures;
            slot
        }
    }
}
