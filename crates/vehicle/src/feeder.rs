//! The CAN feeder: frames in, VSS values out; actuator targets back to frames.

use std::collections::HashMap;
use std::sync::Arc;

use tomoe_broker::{ActuationRequest, Broker, BrokerError, Permissions};
use tomoe_can::{CanError, Frame, FrameSink};
use tomoe_dbc::{Database, Message};
use tomoe_mapping::{Dbc2Vss, Forwarding, Scalar, Transform};
use tomoe_vss::{Catalog, DataType, LeafId, Value};

use crate::LoadedProfile;

/// Counters of a feeder, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeederStats {
    /// Frames offered.
    pub frames: u64,
    /// Frames on a channel of the profile whose id the DBC knows.
    pub decoded: u64,
    /// Frames on an unknown channel or with an id the DBC does not know.
    pub unknown: u64,
    /// VSS values the sink published.
    pub published: u64,
    /// Mapped values refused, by their VSS datatype or by the sink (the broker's
    /// catalog rules and permissions), and dropped.
    pub rejected: u64,
}

/// Frames after which the feeder judges whether a source matches its profile.
pub const MISMATCH_SAMPLE: u64 = 1_000;

impl FeederStats {
    /// Whether the source looks like another vehicle's: after at least
    /// [`MISMATCH_SAMPLE`] frames, more than half had ids the profile's DBCs do not
    /// know. Such a source yields plausible-looking nonsense, so the feeder warns.
    pub fn looks_mismatched(&self) -> bool {
        self.frames >= MISMATCH_SAMPLE && self.unknown * 2 > self.frames
    }
}

struct Rule {
    leaf: LeafId,
    datatype: DataType,
    spec: Dbc2Vss,
    state: Forwarding,
}

struct FeederBus {
    channel: String,
    database: Database,
    /// Per message index: (signal index, rule index), sorted by signal.
    by_message: Vec<Vec<(usize, usize)>>,
}

/// Decodes frames of a vehicle's buses and maps them to VSS values, ready to publish.
pub struct Feeder {
    catalog: Arc<Catalog>,
    buses: Vec<FeederBus>,
    rules: Vec<Rule>,
    skipped: Vec<String>,
    pub(crate) pending: Vec<(LeafId, Option<Value>)>,
    scratch: Vec<(usize, f64)>,
    last_channel: Option<(Arc<str>, Option<usize>)>,
    pub(crate) stats: FeederStats,
}

impl std::fmt::Debug for Feeder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feeder")
            .field("rules", &self.rules.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Feeder {
    /// Compiles `profile`'s mappings against `catalog` (the broker's). Rules whose DBC
    /// signal or VSS path does not exist are skipped with a warning naming both
    /// ([`Feeder::skipped_rules`]); `tomoe profile check` reports them in detail.
    pub fn new(profile: &LoadedProfile, catalog: Arc<Catalog>) -> Feeder {
        let mut rules = Vec::new();
        let mut skipped = Vec::new();
        let mut buses = Vec::with_capacity(profile.buses.len());
        for bus in &profile.buses {
            let mut by_message = vec![Vec::new(); bus.database.messages().len()];
            for spec in bus.mapping.dbc2vss() {
                let Some(leaf) = catalog.leaf(&spec.path) else {
                    skipped.push(format!(
                        "\"{}\" (DBC signal \"{}\"): not in the VSS catalog",
                        spec.path, spec.signal
                    ));
                    continue;
                };
                let places = signal_places(&bus.database, &spec.signal, spec.message.as_deref());
                if places.is_empty() {
                    skipped.push(format!(
                        "\"{}\" (DBC signal \"{}\"): no such signal in {}",
                        spec.path, spec.signal, bus.spec.dbc
                    ));
                    continue;
                }
                for (message, signal) in places {
                    by_message[message].push((signal, rules.len()));
                }
                rules.push(Rule {
                    leaf: leaf.id,
                    datatype: leaf.datatype,
                    spec: spec.clone(),
                    state: Forwarding::default(),
                });
            }
            for list in &mut by_message {
                list.sort_unstable();
            }
            buses.push(FeederBus {
                channel: bus.spec.channel.clone(),
                database: bus.database.clone(),
                by_message,
            });
        }
        for reason in &skipped {
            tracing::warn!("mapping rule skipped: {reason}");
        }
        Feeder {
            catalog,
            buses,
            rules,
            skipped,
            pending: Vec::new(),
            scratch: Vec::with_capacity(64),
            last_channel: None,
            stats: FeederStats::default(),
        }
    }

    /// Rules that could not be compiled, with the reason.
    pub fn skipped_rules(&self) -> &[String] {
        &self.skipped
    }

    /// Number of active rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The counters so far.
    pub fn stats(&self) -> FeederStats {
        self.stats
    }

    fn bus_for(&mut self, channel: &Arc<str>) -> Option<usize> {
        if let Some((cached, bus)) = &self.last_channel {
            if Arc::ptr_eq(cached, channel) {
                return *bus;
            }
        }
        let bus = self.buses.iter().position(|b| *b.channel == **channel);
        self.last_channel = Some((channel.clone(), bus));
        bus
    }

    /// Decodes one frame and queues the VSS values its mapped signals produce. The
    /// values are checked by the sink they go to ([`Feeder::flush`]), not here.
    pub fn process(&mut self, frame: &Frame) {
        self.stats.frames += 1;
        if self.stats.frames == MISMATCH_SAMPLE + 1 && self.stats.looks_mismatched() {
            tracing::warn!(
                unknown = self.stats.unknown,
                frames = MISMATCH_SAMPLE,
                "most frames have ids the profile's DBC files do not know: is this log of this vehicle?"
            );
        }
        let Some(bus_index) = self.bus_for(frame.channel()) else {
            self.stats.unknown += 1;
            return;
        };
        let bus = &self.buses[bus_index];
        let Some(message_index) = bus
            .database
            .message_index_for(frame.id(), frame.is_extended())
        else {
            self.stats.unknown += 1;
            return;
        };
        self.stats.decoded += 1;
        let wanted = &bus.by_message[message_index];
        if wanted.is_empty() {
            return;
        }
        let message = &bus.database.messages()[message_index];
        self.scratch.clear();
        let scratch = &mut self.scratch;
        message.decode(frame.data(), |signal, value| {
            if wanted.binary_search_by_key(&signal, |(s, _)| *s).is_ok() {
                scratch.push((signal, value));
            }
        });
        for &(signal_index, physical) in self.scratch.iter() {
            for &(mapped_signal, rule_index) in wanted {
                if mapped_signal != signal_index {
                    continue;
                }
                let rule = &mut self.rules[rule_index];
                if !rule.state.interval_passed(&rule.spec, frame.timestamp()) {
                    continue;
                }
                let signal = &message.signals()[signal_index];
                let label = label_of(signal, physical);
                let Some(scalar) = rule.spec.transform.to_vss(physical, label) else {
                    continue;
                };
                let value = match scalar.to_value(rule.datatype) {
                    Ok(value) => value,
                    Err(error) => {
                        self.stats.rejected += 1;
                        tracing::debug!(path = %rule.spec.path, signal = %rule.spec.signal, %error, "mapped value does not fit its VSS datatype");
                        continue;
                    }
                };
                if !rule.state.changed(&rule.spec, &scalar) {
                    continue;
                }
                self.pending.push((rule.leaf, Some(value)));
            }
        }
    }

    /// The catalog the rules were compiled against.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Whether values are queued.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// Every (message, signal) where `signal` lives, restricted to `message` when given.
pub(crate) fn signal_places(
    database: &Database,
    signal: &str,
    message: Option<&str>,
) -> Vec<(usize, usize)> {
    database
        .find_signal(signal)
        .into_iter()
        .filter(|(m, _)| message.is_none_or(|name| database.messages()[*m].name() == name))
        .collect()
}

/// The value-table label of a decoded value, if the signal has a table.
fn label_of(signal: &tomoe_dbc::Signal, physical: f64) -> Option<&str> {
    if signal.value_table().is_empty() {
        return None;
    }
    let raw = ((physical - signal.offset()) / signal.factor()).round() as i64;
    signal.label_of_raw(raw)
}

/// How one actuator is written to the bus.
#[derive(Debug, Clone)]
struct Target {
    path: String,
    channel: Arc<str>,
    message: Message,
    signal: usize,
    transform: Transform,
    defaults: Arc<HashMap<String, f64>>,
}

/// Encodes actuator targets into frames (`vss2dbc` rules) and sends them.
#[derive(Debug, Clone, Default)]
pub struct WriteBack {
    targets: HashMap<LeafId, Target>,
    skipped: Vec<String>,
}

impl WriteBack {
    /// Compiles `profile`'s `vss2dbc` rules against `catalog`.
    pub fn new(profile: &LoadedProfile, catalog: &Catalog) -> WriteBack {
        let mut write_back = WriteBack::default();
        for bus in &profile.buses {
            let defaults = Arc::new(bus.defaults.clone());
            let channel: Arc<str> = Arc::from(bus.spec.channel.as_str());
            for rule in bus.mapping.vss2dbc() {
                let Some(leaf) = catalog.leaf(&rule.path).filter(|l| l.is_actuator()) else {
                    write_back.skipped.push(format!(
                        "\"{}\" (DBC signal \"{}\"): not an actuator of the VSS catalog",
                        rule.path, rule.signal
                    ));
                    continue;
                };
                let Some((message, signal)) =
                    bus.database.find_signal(&rule.signal).first().copied()
                else {
                    write_back.skipped.push(format!(
                        "\"{}\" (DBC signal \"{}\"): no such signal in {}",
                        rule.path, rule.signal, bus.spec.dbc
                    ));
                    continue;
                };
                write_back.targets.insert(
                    leaf.id,
                    Target {
                        path: rule.path.clone(),
                        channel: channel.clone(),
                        message: bus.database.messages()[message].clone(),
                        signal,
                        transform: rule.transform.clone(),
                        defaults: defaults.clone(),
                    },
                );
            }
        }
        for reason in &write_back.skipped {
            tracing::warn!("write-back rule skipped: {reason}");
        }
        write_back
    }

    /// The actuators this write-back serves.
    pub fn actuators(&self) -> Vec<LeafId> {
        let mut ids: Vec<LeafId> = self.targets.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Rules that could not be compiled, with the reason.
    pub fn skipped_rules(&self) -> &[String] {
        &self.skipped
    }

    /// The frames that carry `request`'s targets; targets that cannot be encoded are
    /// logged and left out.
    pub fn frames_for(&self, request: &ActuationRequest) -> Vec<Frame> {
        let mut frames = Vec::new();
        for (leaf, value) in &request.targets {
            let Some(target) = self.targets.get(leaf) else {
                continue;
            };
            match encode(target, value) {
                Ok(frame) => frames.push(frame),
                Err(reason) => {
                    tracing::warn!(path = %target.path, %reason, "cannot write the target to the bus")
                }
            }
        }
        frames
    }

    /// Claims the actuators at the broker and writes every actuation request to
    /// `sink` until the broker goes away.
    pub async fn run(
        self,
        broker: Broker,
        permissions: Permissions,
        mut sink: Box<dyn FrameSink>,
    ) -> Result<(), WriteBackError> {
        let mut provider = broker.open_provider();
        provider
            .claim(&permissions, &self.actuators())
            .map_err(WriteBackError::Claim)?;
        while let Some(request) = provider.next().await {
            for frame in self.frames_for(&request) {
                sink.send(&frame).await.map_err(WriteBackError::Send)?;
            }
            sink.flush().await.map_err(WriteBackError::Send)?;
        }
        Ok(())
    }
}

/// Why the write-back stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteBackError {
    /// The actuators could not be claimed (another provider holds them, or no permission).
    #[error("cannot claim the mapped actuators")]
    Claim(#[source] BrokerError),
    /// A frame could not be sent.
    #[error("cannot send a frame")]
    Send(#[source] CanError),
}

fn encode(target: &Target, value: &Value) -> Result<Frame, String> {
    let scalar = Scalar::from_value(value).ok_or("arrays cannot be written to a DBC signal")?;
    let dbc_value = target
        .transform
        .to_dbc(&scalar)
        .ok_or("no transform result for this value")?;
    let signal = &target.message.signals()[target.signal];
    let physical = match dbc_value {
        Scalar::Number(n) => n,
        Scalar::Bool(b) => f64::from(u8::from(b)),
        Scalar::Text(label) => {
            let raw = signal.raw_of_label(&label).ok_or_else(|| {
                format!("\"{label}\" is not in the value table of {}", signal.name())
            })?;
            raw as f64 * signal.factor() + signal.offset()
        }
    };
    let data = target
        .message
        .encode(&[(target.signal, physical)], |other| {
            target.defaults.get(other.name()).copied()
        });
    let message = &target.message;
    let frame = if data.len() > 8 {
        Frame::new_fd(
            target.channel.clone(),
            message.id(),
            message.is_extended(),
            &data,
            0,
        )
    } else {
        Frame::new(
            target.channel.clone(),
            message.id(),
            message.is_extended(),
            &data,
        )
    };
    frame.map_err(|e| e.to_string())
}
