//! The mapping run backwards: VSS values encoded into the frames a vehicle's DBC
//! carries, so that a simulated vehicle exercises the same decoder and mapping as a
//! real one.

use std::collections::HashMap;
use std::sync::Arc;

use tomoe_can::Frame;
use tomoe_dbc::Message;
use tomoe_mapping::{Scalar, Transform};
use tomoe_vss::{Catalog, LeafId, Value};

use crate::LoadedProfile;

/// How a VSS value becomes the DBC signal's physical value.
#[derive(Debug, Clone)]
enum Inverse {
    /// `dbc = (vss - offset) / slope`, for linear (or identity) transforms.
    Linear { slope: f64, offset: f64 },
    /// First `from` whose `to` equals the VSS value.
    Lookup(Vec<(Scalar, Scalar)>),
}

/// One DBC signal and the VSS leaves it feeds; the first leaf with a value writes it.
#[derive(Debug, Clone)]
struct Field {
    signal: usize,
    sources: Vec<(LeafId, Inverse)>,
}

#[derive(Debug, Clone)]
struct SynthMessage {
    channel: Arc<str>,
    message: Message,
    fields: Vec<Field>,
    defaults: Arc<HashMap<String, f64>>,
}

/// Encodes VSS values into frames through a profile's DBCs and inverted mappings.
///
/// Every `dbc2vss` rule whose transform can be inverted (identity, linear `math`,
/// `mapping` tables) becomes a field of its message; a DBC signal feeding several VSS
/// paths is written from the first of them that has a value. Values the profile's buses cannot carry are
/// reported by [`FrameSynthesizer::carries`] so that a simulator can supply them
/// another way.
#[derive(Debug, Clone, Default)]
pub struct FrameSynthesizer {
    messages: Vec<SynthMessage>,
    values: HashMap<LeafId, Value>,
    carried: HashMap<LeafId, ()>,
}

impl FrameSynthesizer {
    /// Inverts `profile`'s rules against `catalog`.
    pub fn new(profile: &LoadedProfile, catalog: &Catalog) -> FrameSynthesizer {
        let mut synthesizer = FrameSynthesizer::default();
        for bus in &profile.buses {
            let channel: Arc<str> = Arc::from(bus.spec.channel.as_str());
            let defaults = Arc::new(bus.defaults.clone());
            let mut by_message: HashMap<usize, SynthMessage> = HashMap::new();
            for rule in bus.mapping.dbc2vss() {
                let Some(leaf) = catalog.leaf(&rule.path) else {
                    continue;
                };
                let places = crate::feeder::signal_places(
                    &bus.database,
                    &rule.signal,
                    rule.message.as_deref(),
                );
                let Some(&(message, signal)) = places.first() else {
                    continue;
                };
                let Some(inverse) = invert(&rule.transform) else {
                    tracing::debug!(path = %rule.path, signal = %rule.signal, "transform cannot be inverted; not synthesized");
                    continue;
                };
                synthesizer.carried.insert(leaf.id, ());
                let synth = by_message.entry(message).or_insert_with(|| SynthMessage {
                    channel: channel.clone(),
                    message: bus.database.messages()[message].clone(),
                    fields: Vec::new(),
                    defaults: defaults.clone(),
                });
                match synth.fields.iter_mut().find(|f| f.signal == signal) {
                    Some(field) => field.sources.push((leaf.id, inverse)),
                    None => synth.fields.push(Field {
                        signal,
                        sources: vec![(leaf.id, inverse)],
                    }),
                }
            }
            let mut messages: Vec<SynthMessage> = by_message.into_values().collect();
            messages.sort_by_key(|m| m.message.id());
            synthesizer.messages.extend(messages);
        }
        synthesizer
    }

    /// Whether the profile's buses carry this leaf (so its value travels as frames).
    pub fn carries(&self, leaf: LeafId) -> bool {
        self.carried.contains_key(&leaf)
    }

    /// Sets a VSS value to be encoded into the next frames.
    pub fn set(&mut self, leaf: LeafId, value: Value) {
        if self.carries(leaf) {
            self.values.insert(leaf, value);
        }
    }

    /// The frames carrying every value set so far, stamped `timestamp`.
    pub fn frames(&self, timestamp: f64) -> Vec<Frame> {
        let mut frames = Vec::new();
        for synth in &self.messages {
            let mut values = Vec::with_capacity(synth.fields.len());
            for field in &synth.fields {
                let physical = field.sources.iter().find_map(|(leaf, inverse)| {
                    let value = self.values.get(leaf)?;
                    to_dbc(inverse, field.signal, value, &synth.message)
                });
                if let Some(physical) = physical {
                    values.push((field.signal, physical));
                }
            }
            if values.is_empty() {
                continue;
            }
            let data = synth
                .message
                .encode(&values, |signal| synth.defaults.get(signal.name()).copied());
            let frame = if data.len() > 8 {
                Frame::new_fd(
                    synth.channel.clone(),
                    synth.message.id(),
                    synth.message.is_extended(),
                    &data,
                    0,
                )
            } else {
                Frame::new(
                    synth.channel.clone(),
                    synth.message.id(),
                    synth.message.is_extended(),
                    &data,
                )
            };
            match frame {
                Ok(frame) => frames.push(frame.with_timestamp(timestamp)),
                Err(error) => {
                    tracing::warn!(message = synth.message.name(), %error, "cannot build the frame")
                }
            }
        }
        frames
    }
}

/// The inverse of a transform, if it has a simple one.
fn invert(transform: &Transform) -> Option<Inverse> {
    match transform {
        Transform::Identity => Some(Inverse::Linear {
            slope: 1.0,
            offset: 0.0,
        }),
        Transform::Mapping(pairs) => Some(Inverse::Lookup(pairs.clone())),
        Transform::Math(expression) => {
            let at = |x: f64| expression.evaluate(x);
            let (y0, y1, y2) = (at(0.0)?, at(1000.0)?, at(-250.0)?);
            let slope = (y1 - y0) / 1000.0;
            if slope == 0.0 || !slope.is_finite() {
                return None;
            }
            // Linear within rounding (floor/round transforms stay within one unit).
            let predicted = y0 + slope * -250.0;
            ((predicted - y2).abs() <= 1.0).then_some(Inverse::Linear { slope, offset: y0 })
        }
    }
}

fn to_dbc(inverse: &Inverse, signal: usize, value: &Value, message: &Message) -> Option<f64> {
    let scalar = Scalar::from_value(value)?;
    let signal = &message.signals()[signal];
    match inverse {
        Inverse::Linear { slope, offset } => {
            let vss = match scalar {
                Scalar::Number(n) => n,
                Scalar::Bool(b) => f64::from(u8::from(b)),
                Scalar::Text(label) => {
                    return signal
                        .raw_of_label(&label)
                        .map(|raw| raw as f64 * signal.factor() + signal.offset())
                }
            };
            Some((vss - offset) / slope)
        }
        Inverse::Lookup(pairs) => {
            let (from, _) = pairs.iter().find(|(_, to)| scalar_eq(to, &scalar))?;
            match from {
                Scalar::Number(n) => Some(*n),
                Scalar::Bool(b) => Some(f64::from(u8::from(*b))),
                Scalar::Text(label) => signal
                    .raw_of_label(label)
                    .map(|raw| raw as f64 * signal.factor() + signal.offset()),
            }
        }
    }
}

fn scalar_eq(a: &Scalar, b: &Scalar) -> bool {
    match (a, b) {
        (Scalar::Number(x), Scalar::Number(y)) => x == y,
        (Scalar::Bool(x), Scalar::Bool(y)) => x == y,
        (Scalar::Bool(x), Scalar::Number(n)) | (Scalar::Number(n), Scalar::Bool(x)) => {
            *x == (*n != 0.0)
        }
        (Scalar::Text(x), Scalar::Text(y)) => x == y,
        _ => false,
    }
}
