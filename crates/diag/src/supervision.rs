//! CAN supervision: each ECU's messages are watched, and an ECU whose message
//! stays away for longer than [`TIMEOUT_FACTOR`] times its cycle raises its
//! "lost communication" code until every message is back.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tomoe_can::Frame;
use tomoe_dbc::Database;

use crate::dtc::{DtcCode, Severity};
use crate::memory::{Entity, FaultReport, FaultSource, TestResult};
use crate::spec::{DiagnosticsSpec, SpecError};

/// A message is missing once it stays away for this many cycle times.
pub const TIMEOUT_FACTOR: f64 = 3.0;

/// Shortest timeout applied, in seconds, whatever the cycle: jitter on fast
/// messages (a software simulator's scheduling, a gateway's bursts) must not
/// raise faults.
pub const MIN_TIMEOUT_S: f64 = 0.25;

/// Intervals shorter than this (seconds) are bursts, not the message's period,
/// and are not learned from.
const MIN_LEARNED_INTERVAL_S: f64 = 0.001;

/// Intervals averaged to learn the period of a message the DBC gives no cycle for.
const LEARN_SAMPLES: usize = 9;

/// One bus of the profile: its name in the diagnostics file, the channel its
/// frames carry and its DBC.
#[derive(Debug, Clone, Copy)]
pub struct SupervisedBus<'a> {
    /// The bus name (`pcan`).
    pub name: &'a str,
    /// The channel frames arrive on (`can0`).
    pub channel: &'a str,
    /// Its DBC.
    pub database: &'a Database,
}

#[derive(Debug)]
struct Message {
    ecu: usize,
    name: String,
    /// The DBC's `GenMsgCycleTime`, in seconds.
    declared: Option<f64>,
    /// The observed period, in seconds, once learned: the median of the first
    /// intervals, which a gap while learning does not skew.
    learned: Option<f64>,
    intervals: Vec<f64>,
    last_seen: Option<f64>,
}

impl Message {
    /// The period supervised: the DBC's cycle, unless the bus shows a longer one
    /// (a simulator or a gateway that sends more slowly than declared).
    fn period(&self) -> Option<f64> {
        match (self.declared, self.learned) {
            (Some(declared), Some(learned)) => Some(declared.max(learned)),
            (declared, learned) => declared.or(learned),
        }
    }

    fn timeout(&self) -> Option<f64> {
        self.period()
            .map(|period| (period * TIMEOUT_FACTOR).max(MIN_TIMEOUT_S))
    }

    fn missing_at(&self, now: f64) -> bool {
        match (self.last_seen, self.timeout()) {
            (Some(seen), Some(timeout)) => now - seen > timeout,
            _ => false,
        }
    }
}

#[derive(Debug)]
struct Ecu {
    id: String,
    name: String,
    code: DtcCode,
    lost: bool,
}

/// What the supervision counted on one bus since the start.
#[derive(Debug, Default)]
pub struct BusCounters {
    /// Frames seen.
    pub frames: AtomicU64,
    /// Frames whose id the bus's DBC does not know.
    pub unknown_ids: AtomicU64,
    /// Frames shorter than their DBC message: they cannot be decoded.
    pub decode_errors: AtomicU64,
    /// Frames whose rolling counter (a DBC signal named `*COUNTER`) did not
    /// advance by one.
    pub counter_errors: AtomicU64,
}

/// The counters of every bus, by bus name; cheap to clone and shared with the API.
#[derive(Debug, Clone, Default)]
pub struct CanStats {
    buses: Arc<Vec<(String, Arc<BusCounters>)>>,
}

impl CanStats {
    /// The counters of bus `name`.
    pub fn bus(&self, name: &str) -> Option<&BusCounters> {
        self.buses
            .iter()
            .find(|(bus, _)| bus == name)
            .map(|(_, counters)| counters.as_ref())
    }

    /// Every bus's name and counters, in the profile's order.
    pub fn buses(&self) -> impl Iterator<Item = (&str, &BusCounters)> {
        self.buses
            .iter()
            .map(|(name, counters)| (name.as_str(), counters.as_ref()))
    }
}

/// One bus as the supervisor reads it.
#[derive(Debug)]
struct WatchedBus {
    channel: String,
    database: Database,
    counters: Arc<BusCounters>,
    /// The last rolling counter value per message index.
    counters_seen: HashMap<usize, u64>,
}

/// The supervisor of a profile's CAN messages. Time is given by the caller, in
/// seconds on any monotonic base (a log's timestamps, or the time since start).
#[derive(Debug)]
pub struct CanSupervisor {
    ecus: Vec<Ecu>,
    messages: Vec<Message>,
    by_frame: HashMap<(String, u32), usize>,
    buses: Vec<WatchedBus>,
    stats: CanStats,
}

impl CanSupervisor {
    /// Builds the supervisor for the ECUs of `spec` that declare a
    /// `lost_communication` code. Every message named must be in its bus's DBC.
    pub fn new(
        spec: &DiagnosticsSpec,
        buses: &[SupervisedBus<'_>],
    ) -> Result<CanSupervisor, SpecError> {
        let watched: Vec<WatchedBus> = buses
            .iter()
            .map(|bus| WatchedBus {
                channel: bus.channel.to_owned(),
                database: bus.database.clone(),
                counters: Arc::default(),
                counters_seen: HashMap::new(),
            })
            .collect();
        let stats = CanStats {
            buses: Arc::new(
                buses
                    .iter()
                    .zip(&watched)
                    .map(|(bus, w)| (bus.name.to_owned(), w.counters.clone()))
                    .collect(),
            ),
        };
        let mut supervisor = CanSupervisor {
            ecus: Vec::new(),
            messages: Vec::new(),
            by_frame: HashMap::new(),
            buses: watched,
            stats,
        };
        for ecu in &spec.ecus {
            let invalid = |reason: String| SpecError::Invalid {
                origin: "diagnostics".into(),
                what: format!("ecu \"{}\"", ecu.id),
                reason,
            };
            let Some(code) = &ecu.lost_communication else {
                continue;
            };
            let bus_name = ecu.bus.as_deref().unwrap_or_default();
            let bus = buses
                .iter()
                .find(|bus| bus.name == bus_name)
                .ok_or_else(|| invalid(format!("the profile has no bus \"{bus_name}\"")))?;
            let index = supervisor.ecus.len();
            supervisor.ecus.push(Ecu {
                id: ecu.id.clone(),
                name: ecu.name.clone(),
                code: code.clone(),
                lost: false,
            });
            for name in &ecu.messages {
                let message = bus.database.message_by_name(name).ok_or_else(|| {
                    invalid(format!("no message {name} in {}", bus.database.origin()))
                })?;
                supervisor.by_frame.insert(
                    (bus.channel.to_owned(), message.id()),
                    supervisor.messages.len(),
                );
                supervisor.messages.push(Message {
                    ecu: index,
                    name: name.clone(),
                    declared: message.cycle_time_ms().map(|ms| f64::from(ms) / 1000.0),
                    learned: None,
                    intervals: Vec::new(),
                    last_seen: None,
                });
            }
        }
        Ok(supervisor)
    }

    /// Stops supervising until each message is seen again (the vehicle is
    /// switched off, and its ECUs go quiet on purpose). Faults stay as they are.
    pub fn suspend(&mut self) {
        for message in &mut self.messages {
            message.last_seen = None;
        }
    }

    /// Reports the result of every ECU's test at the start of an operation cycle:
    /// failing for an ECU still lost, passing for one whose messages all flow.
    pub fn new_cycle(&mut self, now: f64, reports: &mut Vec<FaultReport>) {
        for ecu in 0..self.ecus.len() {
            let seen = self
                .messages
                .iter()
                .any(|m| m.ecu == ecu && m.last_seen.is_some());
            if !seen {
                continue;
            }
            let missing = self
                .messages
                .iter()
                .position(|m| m.ecu == ecu && m.missing_at(now));
            self.ecus[ecu].lost = missing.is_some();
            reports.push(self.report(ecu, missing, now));
        }
    }

    /// The counters, shared.
    pub fn stats(&self) -> CanStats {
        self.stats.clone()
    }

    /// Counts `frame` on its bus: unknown id, too short to decode, a rolling
    /// counter that did not advance by one.
    fn count(&mut self, frame: &Frame) {
        let Some(bus) = self
            .buses
            .iter_mut()
            .find(|bus| bus.channel.as_str() == frame.channel().as_ref())
        else {
            return;
        };
        bus.counters.frames.fetch_add(1, Ordering::Relaxed);
        let Some(index) = bus
            .database
            .message_index_for(frame.id(), frame.is_extended())
        else {
            bus.counters.unknown_ids.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let message = &bus.database.messages()[index];
        if frame.data().len() < message.size() {
            bus.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let counter = message.signals().iter().find(|signal| {
            signal.size() <= 8 && signal.name().to_ascii_uppercase().ends_with("COUNTER")
        });
        if let Some(raw) = counter.and_then(|signal| {
            signal
                .raw_bits(frame.data())
                .map(|raw| (raw, 1u64 << signal.size()))
        }) {
            let (value, modulo) = raw;
            if let Some(last) = bus.counters_seen.insert(index, value) {
                if value != (last + 1) % modulo {
                    bus.counters.counter_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Whether any message is supervised.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Notes `frame`, seen at `now`; an ECU whose messages are all back passes.
    pub fn observe(&mut self, frame: &Frame, now: f64, reports: &mut Vec<FaultReport>) {
        self.count(frame);
        let key = (frame.channel().to_string(), frame.id());
        let Some(&index) = self.by_frame.get(&key) else {
            return;
        };
        let message = &mut self.messages[index];
        if let Some(seen) = message.last_seen {
            let interval = now - seen;
            if message.intervals.len() < LEARN_SAMPLES && interval >= MIN_LEARNED_INTERVAL_S {
                message.intervals.push(interval);
                let mut sorted = message.intervals.clone();
                sorted.sort_by(f64::total_cmp);
                message.learned = Some(sorted[sorted.len() / 2]);
            }
        }
        message.last_seen = Some(now);
        let ecu = message.ecu;
        if self.ecus[ecu].lost && !self.any_missing(ecu, now) {
            self.ecus[ecu].lost = false;
            reports.push(self.report(ecu, None, now));
        }
    }

    /// Checks every message at `now`; an ECU with a missing message fails.
    pub fn check(&mut self, now: f64, reports: &mut Vec<FaultReport>) {
        for ecu in 0..self.ecus.len() {
            if self.ecus[ecu].lost {
                continue;
            }
            if let Some(missing) = self
                .messages
                .iter()
                .position(|m| m.ecu == ecu && m.missing_at(now))
            {
                self.ecus[ecu].lost = true;
                reports.push(self.report(ecu, Some(missing), now));
            }
        }
    }

    /// The earliest time at which a message not yet missing would be.
    pub fn next_deadline(&self) -> Option<f64> {
        self.messages
            .iter()
            .filter(|m| !self.ecus[m.ecu].lost)
            .filter_map(|m| Some(m.last_seen? + m.timeout()?))
            .min_by(f64::total_cmp)
    }

    fn any_missing(&self, ecu: usize, now: f64) -> bool {
        self.messages
            .iter()
            .any(|m| m.ecu == ecu && m.missing_at(now))
    }

    fn report(&self, ecu: usize, missing: Option<usize>, now: f64) -> FaultReport {
        let record = &self.ecus[ecu];
        let result = match missing {
            None => TestResult::Passed,
            Some(index) => {
                let message = &self.messages[index];
                let mut environment = BTreeMap::new();
                environment.insert("message".to_owned(), message.name.clone());
                if let Some(period) = message.period() {
                    environment.insert("cycle_ms".to_owned(), format!("{:.0}", period * 1000.0));
                    environment.insert(
                        "cycle_source".to_owned(),
                        match (message.declared, message.learned) {
                            (Some(declared), Some(learned)) if learned > declared => "observed",
                            (Some(_), _) => "dbc",
                            _ => "observed",
                        }
                        .to_owned(),
                    );
                }
                if let Some(seen) = message.last_seen {
                    environment.insert(
                        "silent_ms".to_owned(),
                        format!("{:.0}", (now - seen) * 1000.0),
                    );
                }
                TestResult::Failed {
                    snapshot: BTreeMap::new(),
                    environment,
                }
            }
        };
        FaultReport {
            entity: Entity::Component(record.id.clone()),
            code: record.code.clone(),
            name: format!("Lost communication with {}", record.name),
            severity: Severity::Error,
            source: FaultSource::CanSupervision,
            warning_indicator: false,
            result,
        }
    }
}

/// Runs `supervisor` over the frames of `frames` until the bus closes: time is
/// the time since the start; while the vehicle is off supervision is suspended.
pub async fn run_can_supervision(
    mut supervisor: CanSupervisor,
    mut frames: impl tomoe_can::FrameSource,
    memory: crate::FaultMemory,
    mut mode: tokio::sync::watch::Receiver<tomoe_types::VehicleMode>,
) {
    let start = tokio::time::Instant::now();
    let seconds = |instant: tokio::time::Instant| (instant - start).as_secs_f64();
    let mut reports = Vec::new();
    let mut off = *mode.borrow() == tomoe_types::VehicleMode::Off;
    let mut cycles = memory.subscribe();
    loop {
        let deadline = supervisor
            .next_deadline()
            .map(|at| start + std::time::Duration::from_secs_f64(at.max(0.0)));
        tokio::select! {
            frame = frames.recv() => match frame {
                Ok(Some(frame)) => supervisor.observe(&frame, seconds(tokio::time::Instant::now()), &mut reports),
                Ok(None) => return,
                // A lagging receiver lost frames, not the bus; carry on.
                Err(_) => {}
            },
            () = async {
                match deadline {
                    Some(deadline) if !off => tokio::time::sleep_until(deadline).await,
                    _ => std::future::pending().await,
                }
            } => supervisor.check(seconds(tokio::time::Instant::now()), &mut reports),
            event = cycles.recv() => match event {
                Ok(crate::FaultEvent::NewOperationCycle) => {
                    supervisor.new_cycle(seconds(tokio::time::Instant::now()), &mut reports)
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                _ => {}
            },
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
                off = *mode.borrow() == tomoe_types::VehicleMode::Off;
                if off {
                    supervisor.suspend();
                }
            }
        }
        for report in reports.drain(..) {
            if let Err(error) = memory.report(report) {
                tracing::error!(%error, "a CAN supervision fault could not be stored");
            }
        }
    }
}
