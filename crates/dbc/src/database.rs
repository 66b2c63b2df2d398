//! Loading a DBC: tolerant parsing, warnings with file and line, compilation.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use can_dbc::{
    AttributeValue, Dbc, MessageId, MultiplexIndicator, SignalExtendedValueType, ValueDescription,
    ValueType,
};

use crate::codec::{ByteOrder, Message, Multiplexing, Signal, ValueKind};

/// A problem in a DBC file that did not stop it from loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file (or name) the DBC came from.
    pub origin: String,
    /// 1-based line number; 0 when the problem has no single line.
    pub line: usize,
    /// What is wrong and what was done about it.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{}:{}: {}", self.origin, self.line, self.message)
        }
    }
}

/// A DBC that cannot be used at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbcError {
    /// The file could not be read.
    #[error("cannot read DBC file {origin}")]
    Read {
        /// The file.
        origin: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The parser failed in a way that skipping lines could not repair.
    #[error("{origin}: cannot parse the DBC: {reason}")]
    Parse {
        /// The file.
        origin: String,
        /// The parser's complaint.
        reason: String,
    },
}

/// How large a DBC file may be.
pub const MAX_DBC_BYTES: u64 = 64 * 1024 * 1024;

/// How many unreadable statements a file may have before it is refused.
const MAX_SKIPPED_STATEMENTS: usize = 200;

/// Bytes the tolerant parser may parse in all, counting each attempt again after
/// a skipped statement: 200 skips in a large file re-read it 200 times.
pub const MAX_DBC_PARSE_BYTES: usize = 64 * 1024 * 1024;

/// A compiled DBC: messages ready to decode frames, and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Database {
    origin: String,
    messages: Vec<Message>,
    /// Message index per standard id (`u32::MAX`: none).
    standard: Vec<u32>,
    /// (extended id, message index), sorted by id.
    extended: Vec<(u32, u32)>,
    warnings: Vec<Warning>,
}

impl Database {
    /// Reads and compiles a DBC file (UTF-8, or Windows-1252 as many tools write).
    pub fn from_file(path: &Path) -> Result<Database, DbcError> {
        let origin = path.display().to_string();
        let read = |source| DbcError::Read {
            origin: origin.clone(),
            source,
        };
        let metadata = std::fs::metadata(path).map_err(read)?;
        if !metadata.is_file() || metadata.len() > MAX_DBC_BYTES {
            return Err(read(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("not a regular file of at most {MAX_DBC_BYTES} bytes"),
            )));
        }
        let bytes = std::fs::read(path).map_err(read)?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                let (text, _, _) = can_dbc::encodings::WINDOWS_1252.decode(error.as_bytes());
                text.into_owned()
            }
        };
        Database::from_text(&text, &origin)
    }

    /// Compiles a DBC given as text; `origin` names it in warnings and errors.
    pub fn from_text(text: &str, origin: &str) -> Result<Database, DbcError> {
        let mut warnings = Vec::new();
        let lines = LineIndex::new(text);
        lint_text(text, origin, &mut warnings);
        let dbc = parse_tolerant(text, origin, &mut warnings)?;
        let messages = compile(&dbc, origin, &lines, &mut warnings);
        let mut standard = vec![u32::MAX; 0x800];
        let mut extended = Vec::new();
        for (index, message) in messages.iter().enumerate() {
            let slot = if message.extended {
                None
            } else {
                standard.get_mut(message.id as usize)
            };
            match slot {
                Some(slot) if *slot == u32::MAX => *slot = index as u32,
                Some(_) => warnings.push(Warning {
                    origin: origin.to_owned(),
                    line: lines.message_line(message.id),
                    message: format!(
                        "message id {:#x} is defined twice; the first definition is used",
                        message.id
                    ),
                }),
                None => extended.push((message.id, index as u32)),
            }
        }
        extended.sort_unstable();
        Ok(Database {
            origin: origin.to_owned(),
            messages,
            standard,
            extended,
            warnings,
        })
    }

    /// Where the DBC came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Every message, in DBC order.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The warnings found while loading.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The index of the message for a frame id, without string or hash lookups.
    #[inline]
    pub fn message_index_for(&self, id: u32, extended: bool) -> Option<usize> {
        if !extended {
            if let Some(&index) = self.standard.get(id as usize) {
                return (index != u32::MAX).then_some(index as usize);
            }
        }
        self.extended
            .binary_search_by_key(&id, |(key, _)| *key)
            .ok()
            .map(|position| self.extended[position].1 as usize)
    }

    /// The message for a frame id.
    #[inline]
    pub fn message_for(&self, id: u32, extended: bool) -> Option<&Message> {
        self.message_index_for(id, extended)
            .map(|index| &self.messages[index])
    }

    /// The message called `name`.
    pub fn message_by_name(&self, name: &str) -> Option<&Message> {
        self.messages.iter().find(|m| m.name == name)
    }

    /// Every (message index, signal index) of a signal called `name`.
    pub fn find_signal(&self, name: &str) -> Vec<(usize, usize)> {
        self.messages
            .iter()
            .enumerate()
            .filter_map(|(m, message)| message.signal_index(name).map(|s| (m, s)))
            .collect()
    }
}

/// Line numbers of `BO_` and `SG_` definitions, for warnings about them.
struct LineIndex {
    messages: HashMap<u32, usize>,
    signals: HashMap<(u32, String), usize>,
    value_tables: HashMap<(u32, String), usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut messages = HashMap::new();
        let mut signals = HashMap::new();
        let mut value_tables = HashMap::new();
        let mut current = None;
        for (number, line) in text.lines().enumerate() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("BO_") => {
                    current = words
                        .next()
                        .and_then(|id| id.parse::<u32>().ok())
                        .map(|id| id & 0x1FFF_FFFF);
                    if let Some(id) = current {
                        messages.entry(id).or_insert(number + 1);
                    }
                }
                Some("SG_") => {
                    if let (Some(id), Some(name)) = (current, words.next()) {
                        signals.entry((id, name.to_owned())).or_insert(number + 1);
                    }
                }
                Some("VAL_") => {
                    current = None;
                    let id = words.next().and_then(|id| id.parse::<u32>().ok());
                    if let (Some(id), Some(name)) = (id, words.next()) {
                        value_tables
                            .entry((id & 0x1FFF_FFFF, name.to_owned()))
                            .or_insert(number + 1);
                    }
                }
                Some(_) => current = None,
                None => {}
            }
        }
        LineIndex {
            messages,
            signals,
            value_tables,
        }
    }

    fn message_line(&self, id: u32) -> usize {
        self.messages.get(&(id & 0x1FFF_FFFF)).copied().unwrap_or(0)
    }

    fn value_table_line(&self, id: u32, name: &str) -> usize {
        self.value_tables
            .get(&(id & 0x1FFF_FFFF, name.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    fn signal_line(&self, id: u32, name: &str) -> usize {
        self.signals
            .get(&(id & 0x1FFF_FFFF, name.to_owned()))
            .copied()
            .unwrap_or_else(|| self.message_line(id))
    }
}

/// Reports textual defects that the parser accepts silently or that other tools reject.
fn lint_text(text: &str, origin: &str, warnings: &mut Vec<Warning>) {
    let warn = |warnings: &mut Vec<Warning>, line: usize, message: String| {
        warnings.push(Warning {
            origin: origin.to_owned(),
            line,
            message,
        })
    };
    let mut seen_ns = None;
    let mut seen_bs = false;
    let mut seen_bu = false;
    for (number, line) in text.lines().enumerate() {
        let line_number = number + 1;
        let trimmed = line.trim_start();
        let mut words = trimmed.split_whitespace();
        match words.next() {
            Some("NS_") => seen_ns = Some(line_number),
            Some(_) if line.starts_with("BS_") => seen_bs = true,
            Some(_) if line.starts_with("BU_:") || line.starts_with("BU_ :") => seen_bu = true,
            Some("BO_") => {
                if let Some(ns_line) = seen_ns.take() {
                    let missing: Vec<&str> =
                        [(!seen_bs).then_some("BS_:"), (!seen_bu).then_some("BU_:")]
                            .into_iter()
                            .flatten()
                            .collect();
                    if !missing.is_empty() {
                        warn(
                            warnings,
                            ns_line,
                            format!(
                                "the NS_ block is not followed by the {} section{}; taken as empty",
                                missing.join(" and "),
                                if missing.len() > 1 { "s" } else { "" }
                            ),
                        );
                    }
                }
                if let Some(id) = words.next().and_then(|id| id.parse::<u64>().ok()) {
                    if id & (1 << 31) == 0 && id > 0x7FF {
                        warn(warnings, line_number, format!(
                            "message id {id} ({id:#x}) is above 0x7FF but lacks the extended-id bit 31; it is taken as a 29-bit extended id"
                        ));
                    }
                }
            }
            Some("CM_") => {
                let rest: Vec<&str> = words.take(3).collect();
                if rest.first() == Some(&"SG_") && rest.get(2).is_some_and(|w| w.starts_with('"')) {
                    warn(
                        warnings,
                        line_number,
                        "a signal comment names no signal; it is ignored".into(),
                    );
                }
            }
            _ => {}
        }
    }
}

/// Parses with `can-dbc`; a statement the parser cannot read is commented out and
/// parsing is retried, with a warning for each skipped statement.
fn parse_tolerant(text: &str, origin: &str, warnings: &mut Vec<Warning>) -> Result<Dbc, DbcError> {
    parse_within(text, origin, warnings, MAX_DBC_PARSE_BYTES)
}

/// [`parse_tolerant`] with `budget` bytes of parsing in all.
fn parse_within(
    text: &str,
    origin: &str,
    warnings: &mut Vec<Warning>,
    budget: usize,
) -> Result<Dbc, DbcError> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut parsed = 0usize;
    for skipped in 0..=MAX_SKIPPED_STATEMENTS {
        let joined = lines.join("\n");
        parsed += joined.len();
        if skipped > 0 && parsed > budget {
            return Err(DbcError::Parse {
                origin: origin.to_owned(),
                reason: format!(
                    "{skipped} unreadable statements skipped, and skipping more would parse this {} KiB file beyond {} KiB in all",
                    text.len() / 1024,
                    budget / 1024
                ),
            });
        }
        let error = match Dbc::try_from(joined.as_str()) {
            Ok(dbc) => return Ok(dbc),
            Err(error) => error,
        };
        let line = match &error {
            can_dbc::DbcError::Pest(pest_error) => match pest_error.line_col {
                pest::error::LineColLocation::Pos((line, _)) => line,
                pest::error::LineColLocation::Span((line, _), _) => line,
            },
            _ => 0,
        };
        // Skip the whole statement: from its first line up to the line ending in ';'
        // or the next line that starts a new keyword.
        let Some(start) = line
            .checked_sub(1)
            .filter(|l| *l < lines.len() && !lines[*l].trim().is_empty())
        else {
            return Err(DbcError::Parse {
                origin: origin.to_owned(),
                reason: error.to_string(),
            });
        };
        let statement_start = (0..=start)
            .rev()
            .find(|l| starts_statement(&lines[*l]))
            .unwrap_or(start);
        let mut end = statement_start;
        while end + 1 < lines.len()
            && !lines[end].trim_end().ends_with(';')
            && !starts_statement(&lines[end + 1])
        {
            end += 1;
        }
        warnings.push(Warning {
            origin: origin.to_owned(),
            line: statement_start + 1,
            message: format!(
                "cannot parse this statement; it is skipped ({})",
                first_line(&error.to_string())
            ),
        });
        for skipped in &mut lines[statement_start..=end] {
            skipped.clear();
        }
    }
    Err(DbcError::Parse {
        origin: origin.to_owned(),
        reason: format!("more than {MAX_SKIPPED_STATEMENTS} unreadable statements"),
    })
}

fn starts_statement(line: &str) -> bool {
    let word = line.split_whitespace().next().unwrap_or("");
    !word.is_empty()
        && word.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        && word.ends_with('_')
        || word.ends_with("_:")
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn compile(
    dbc: &Dbc,
    origin: &str,
    lines: &LineIndex,
    warnings: &mut Vec<Warning>,
) -> Vec<Message> {
    let mut value_tables: HashMap<(u32, &str), Vec<(i64, String)>> = HashMap::new();
    for description in &dbc.value_descriptions {
        if let ValueDescription::Signal {
            message_id,
            name,
            value_descriptions,
        } = description
        {
            let id = message_id.raw() & 0x1FFF_FFFF;
            let known = dbc.messages.iter().any(|m| {
                m.id.raw() & 0x1FFF_FFFF == id && m.signals.iter().any(|s| &s.name == name)
            });
            if !known {
                let warning = Warning {
                    origin: origin.to_owned(),
                    line: lines.value_table_line(id, name),
                    message: format!("value table for signal \"{name}\" of message {id:#x}, which does not exist; it is ignored"),
                };
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
                continue;
            }
            let table = value_descriptions
                .iter()
                .map(|d| (d.id, d.description.clone()))
                .collect();
            value_tables.insert((id, name.as_str()), table);
        }
    }
    let mut cycle_times: HashMap<u32, u32> = HashMap::new();
    for attribute in &dbc.attribute_values_message {
        if attribute.name == "GenMsgCycleTime" {
            let value = match &attribute.value {
                AttributeValue::Uint(v) => u32::try_from(*v).ok(),
                AttributeValue::Int(v) => u32::try_from(*v).ok(),
                AttributeValue::Double(v) => Some(*v as u32),
                AttributeValue::String(_) => None,
            };
            if let Some(value) = value.filter(|v| *v > 0) {
                cycle_times.insert(attribute.message_id.raw() & 0x1FFF_FFFF, value);
            }
        }
    }
    let mut messages = Vec::with_capacity(dbc.messages.len());
    for message in &dbc.messages {
        let (id, extended) = match message.id {
            MessageId::Standard(id) if id > 0x7FF => (u32::from(id), true),
            MessageId::Standard(id) => (u32::from(id), false),
            MessageId::Extended(id) => (id, true),
        };
        let line = lines.message_line(id);
        let size = message.size as usize;
        let switch_name = message
            .signals
            .iter()
            .find(|s| matches!(s.multiplexer_indicator, MultiplexIndicator::Multiplexor))
            .map(|s| s.name.as_str());
        let mut signals = Vec::with_capacity(message.signals.len());
        for signal in &message.signals {
            let byte_order = match signal.byte_order {
                can_dbc::ByteOrder::LittleEndian => ByteOrder::LittleEndian,
                can_dbc::ByteOrder::BigEndian => ByteOrder::BigEndian,
            };
            let kind = match dbc.extended_value_type_for_signal(message.id, &signal.name) {
                Some(SignalExtendedValueType::IEEEfloat32Bit) => ValueKind::Float32,
                Some(SignalExtendedValueType::IEEEdouble64bit) => ValueKind::Float64,
                _ => match signal.value_type {
                    ValueType::Signed => ValueKind::Signed,
                    ValueType::Unsigned => ValueKind::Unsigned,
                },
            };
            let start_bit = signal.start_bit as u32;
            let size_bits = signal.size.clamp(1, 64) as u32;
            if signal.size > 64 || signal.size == 0 {
                warnings.push(Warning {
                    origin: origin.to_owned(),
                    line: lines.signal_line(id, &signal.name),
                    message: format!(
                        "signal \"{}\" has {} bits; it is read as {size_bits} bits",
                        signal.name, signal.size
                    ),
                });
            }
            let (first_byte, byte_count, shift) = Signal::layout(start_bit, size_bits, byte_order);
            if first_byte + byte_count > size.max(1) {
                warnings.push(Warning {
                    origin: origin.to_owned(),
                    line: lines.signal_line(id, &signal.name),
                    message: format!(
                        "signal \"{}\" ends at byte {} of message \"{}\", which is {size} bytes long",
                        signal.name,
                        first_byte + byte_count,
                        message.name
                    ),
                });
            }
            let multiplexed_value = match signal.multiplexer_indicator {
                MultiplexIndicator::MultiplexedSignal(value)
                | MultiplexIndicator::MultiplexorAndMultiplexedSignal(value) => Some(value),
                _ => None,
            };
            signals.push((
                signal.name.clone(),
                multiplexed_value,
                Signal {
                    name: signal.name.clone(),
                    start_bit,
                    size: size_bits,
                    byte_order,
                    kind,
                    factor: signal.factor,
                    offset: signal.offset,
                    minimum: numeric(&signal.min),
                    maximum: numeric(&signal.max),
                    unit: signal.unit.clone(),
                    multiplexing: Multiplexing::Always,
                    is_multiplexor: matches!(
                        signal.multiplexer_indicator,
                        MultiplexIndicator::Multiplexor
                            | MultiplexIndicator::MultiplexorAndMultiplexedSignal(_)
                    ),
                    value_table: value_tables
                        .get(&(id, signal.name.as_str()))
                        .cloned()
                        .unwrap_or_default(),
                    first_byte,
                    byte_count,
                    shift,
                },
            ));
        }
        // Resolve multiplexing: extended multiplexing (SG_MUL_VAL_) first, then the
        // message's single multiplexor.
        let names: Vec<String> = signals.iter().map(|(name, _, _)| name.clone()).collect();
        let index_of = |name: &str| names.iter().position(|n| n == name);
        let mut compiled: Vec<Signal> = Vec::with_capacity(signals.len());
        for (name, multiplexed_value, mut signal) in signals {
            let extended_rule = dbc
                .extended_multiplex
                .iter()
                .find(|rule| rule.message_id.raw() & 0x1FFF_FFFF == id && rule.signal_name == name);
            signal.multiplexing = match (extended_rule, multiplexed_value) {
                (Some(rule), _) => match index_of(&rule.multiplexor_signal_name) {
                    Some(switch) => Multiplexing::When {
                        switch,
                        ranges: rule
                            .mappings
                            .iter()
                            .map(|m| (m.min_value, m.max_value))
                            .collect(),
                    },
                    None => Multiplexing::Always,
                },
                (None, Some(value)) => match switch_name.and_then(index_of) {
                    Some(switch) => Multiplexing::When {
                        switch,
                        ranges: vec![(value, value)],
                    },
                    None => {
                        warnings.push(Warning {
                            origin: origin.to_owned(),
                            line: lines.signal_line(id, &name),
                            message: format!("signal \"{name}\" is multiplexed but its message has no multiplexor; it is decoded always"),
                        });
                        Multiplexing::Always
                    }
                },
                (None, None) => Multiplexing::Always,
            };
            compiled.push(signal);
        }
        warn_overlaps(&compiled, &message.name, origin, line, warnings);
        let order = dependency_order(&compiled);
        messages.push(Message {
            id,
            extended,
            name: message.name.clone(),
            size,
            cycle_time_ms: cycle_times.get(&id).copied(),
            signals: compiled,
            order,
        });
    }
    messages
}

fn numeric(value: &can_dbc::NumericValue) -> f64 {
    match value {
        can_dbc::NumericValue::Uint(v) => *v as f64,
        can_dbc::NumericValue::Int(v) => *v as f64,
        can_dbc::NumericValue::Double(v) => *v,
    }
}

/// Signal indices ordered so that every multiplexor precedes the signals it selects.
fn dependency_order(signals: &[Signal]) -> Vec<usize> {
    let mut placed = vec![false; signals.len()];
    let mut order = Vec::with_capacity(signals.len());
    for _ in 0..signals.len() + 1 {
        for (index, signal) in signals.iter().enumerate() {
            if placed[index] {
                continue;
            }
            let ready = match &signal.multiplexing {
                Multiplexing::Always => true,
                Multiplexing::When { switch, .. } => placed[*switch],
            };
            if ready {
                placed[index] = true;
                order.push(index);
            }
        }
        if order.len() == signals.len() {
            break;
        }
    }
    // Cyclic multiplexing cannot be decoded; such signals are left out.
    order
}

/// Warns about signals whose bits overlap and that can be present in the same frame.
fn warn_overlaps(
    signals: &[Signal],
    message: &str,
    origin: &str,
    line: usize,
    warnings: &mut Vec<Warning>,
) {
    let bits = |signal: &Signal| -> u128 {
        // Bit positions in a linear numbering, per byte order, within the first 16 bytes.
        let mut mask = 0u128;
        for bit in 0..signal.size {
            let position = match signal.byte_order {
                ByteOrder::LittleEndian => signal.start_bit + bit,
                ByteOrder::BigEndian => {
                    let msb = (signal.start_bit / 8) * 8 + (7 - signal.start_bit % 8);
                    let linear = msb + bit;
                    (linear / 8) * 8 + (7 - linear % 8)
                }
            };
            if position < 128 {
                mask |= 1u128 << position;
            }
        }
        mask
    };
    let masks: Vec<u128> = signals.iter().map(bits).collect();
    let mut overlapping = 0usize;
    for a in 0..signals.len() {
        for b in a + 1..signals.len() {
            let exclusive = match (&signals[a].multiplexing, &signals[b].multiplexing) {
                (
                    Multiplexing::When {
                        switch: sa,
                        ranges: ra,
                    },
                    Multiplexing::When {
                        switch: sb,
                        ranges: rb,
                    },
                ) => {
                    sa == sb
                        && !ra
                            .iter()
                            .any(|x| rb.iter().any(|y| x.0 <= y.1 && y.0 <= x.1))
                }
                _ => false,
            };
            if !exclusive && masks[a] & masks[b] != 0 {
                overlapping += 1;
                if overlapping > MAX_OVERLAP_WARNINGS {
                    continue;
                }
                warnings.push(Warning {
                    origin: origin.to_owned(),
                    line,
                    message: format!(
                        "signals \"{}\" and \"{}\" of message \"{message}\" overlap",
                        signals[a].name, signals[b].name
                    ),
                });
            }
        }
    }
    if overlapping > MAX_OVERLAP_WARNINGS {
        warnings.push(Warning {
            origin: origin.to_owned(),
            line,
            message: format!(
                "message \"{message}\" has {} more overlapping pairs of signals",
                overlapping - MAX_OVERLAP_WARNINGS
            ),
        });
    }
}

/// Overlapping signal pairs reported one by one per message; the rest are counted.
pub const MAX_OVERLAP_WARNINGS: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    // Each skipped statement re-parses the whole file: 200 skips in a large file
    // were 200 full parses. The total is bounded; here with a 256 KiB budget.
    #[test]
    fn skipping_stops_when_the_parse_budget_is_spent() {
        let mut text = String::from("VERSION \"\"\n\nNS_ :\n\nBS_:\n\nBU_: ECU\n\n");
        for id in 0..400 {
            text.push_str(&format!(
                "BO_ {id} M{id}: 8 ECU\n SG_ S{id} : 0|8@1+ (1,0) [0|255] \"\" ECU\n\n"
            ));
            if id % 20 == 0 {
                text.push_str("BO_ this is not a message\n\n");
            }
        }
        let mut warnings = Vec::new();
        let error = parse_within(&text, "big.dbc", &mut warnings, 256 * 1024).unwrap_err();
        assert!(
            error.to_string().contains("beyond 256 KiB in all"),
            "{error}"
        );
        assert!(
            !warnings.is_empty() && warnings.len() < 20,
            "{}",
            warnings.len()
        );
        // With the real budget the same file loads, its 20 bad statements skipped.
        let mut warnings = Vec::new();
        parse_tolerant(&text, "big.dbc", &mut warnings).unwrap();
        assert_eq!(warnings.len(), 20);
    }

    const SAMPLE: &str = r#"VERSION ""

NS_ :

BS_:

BU_: ECU

BO_ 256 Speed: 8 ECU
 SG_ VehicleSpeed : 7|16@0+ (0.01,0) [0|655.35] "km/h" ECU
 SG_ Gear : 16|4@1+ (1,0) [0|15] "" ECU
 SG_ Temperature : 24|8@1- (1,-40) [-40|87] "degC" ECU

BO_ 2147484160 Extended: 8 ECU
 SG_ Mux M : 0|8@1+ (1,0) [0|255] "" ECU
 SG_ A m1 : 8|16@1+ (1,0) [0|65535] "" ECU
 SG_ B m2 : 8|16@1- (0.5,0) [0|0] "" ECU
 SG_ Voltage : 32|32@1+ (1,0) [0|0] "V" ECU

VAL_ 256 Gear 0 "P" 1 "R" 2 "N" 3 "D" ;
SIG_VALTYPE_ 2147484160 Voltage : 1;
"#;

    fn decode(database: &Database, id: u32, extended: bool, data: &[u8]) -> Vec<(String, f64)> {
        let message = database.message_for(id, extended).unwrap();
        let mut values = Vec::new();
        message.decode(data, |index, value| {
            values.push((message.signals()[index].name().to_owned(), value))
        });
        values
    }

    #[test]
    fn decodes_both_byte_orders_sign_and_offset() {
        let database = Database::from_text(SAMPLE, "sample.dbc").unwrap();
        assert!(database.warnings().is_empty(), "{:?}", database.warnings());
        let values = decode(&database, 256, false, &[0x27, 0x10, 0x03, 0x00, 0, 0, 0, 0]);
        assert_eq!(
            values,
            vec![
                ("VehicleSpeed".into(), 100.0),
                ("Gear".into(), 3.0),
                ("Temperature".into(), -40.0)
            ]
        );
        let gear = &database.message_for(256, false).unwrap().signals()[1];
        assert_eq!(gear.label_of_raw(3), Some("D"));
        assert_eq!(gear.raw_of_label("P"), Some(0));
    }

    #[test]
    fn multiplexing_and_float_signals() {
        let database = Database::from_text(SAMPLE, "sample.dbc").unwrap();
        let mut frame = [0u8; 8];
        frame[0] = 2;
        frame[1..3].copy_from_slice(&(-4i16).to_le_bytes());
        frame[4..8].copy_from_slice(&12.5f32.to_le_bytes());
        let values = decode(&database, 0x200, true, &frame);
        assert_eq!(
            values,
            vec![
                ("Mux".into(), 2.0),
                ("B".into(), -2.0),
                ("Voltage".into(), 12.5)
            ]
        );
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let database = Database::from_text(SAMPLE, "sample.dbc").unwrap();
        let message = database.message_for(256, false).unwrap();
        let data = message.encode(&[(0, 123.45), (2, -3.0)], |_| None);
        let mut values = Vec::new();
        message.decode(&data, |index, value| values.push((index, value)));
        assert_eq!(values, vec![(0, 123.45), (1, 0.0), (2, -3.0)]);
    }

    #[test]
    fn defects_become_warnings_with_lines() {
        let text = "VERSION \"\"\n\nNS_ :\n\nBO_ 13274 Hud: 8 XXX\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" XXX\n SG_ B : 4|8@1+ (1,0) [0|0] \"\" XXX\n\nCM_ SG_ 13274 \"no signal name\";\nVAL_ 13274 Missing 0 \"x\" ;\n";
        let database = Database::from_text(text, "defects.dbc").unwrap();
        let rendered: Vec<String> = database
            .warnings()
            .iter()
            .map(ToString::to_string)
            .collect();
        let expect = |fragment: &str| {
            assert!(
                rendered.iter().any(|w| w.contains(fragment)),
                "{fragment} not in {rendered:#?}"
            )
        };
        expect("defects.dbc:3: the NS_ block is not followed by the BS_: and BU_: sections");
        expect("defects.dbc:5: message id 13274 (0x33da) is above 0x7FF");
        expect("defects.dbc:9: a signal comment names no signal");
        expect("value table for signal \"Missing\"");
        expect("signals \"A\" and \"B\" of message \"Hud\" overlap");
        assert!(database.message_for(13274, true).is_some());
    }

    #[test]
    fn unparseable_statements_are_skipped() {
        let text = "VERSION \"\"\n\nBU_: ECU\n\nBO_ 100 Good: 1 ECU\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" ECU\n\nBA_ THIS IS NOT DBC;\n\nBO_ 101 AlsoGood: 1 ECU\n SG_ B : 0|8@1+ (1,0) [0|0] \"\" ECU\n";
        let database = Database::from_text(text, "broken.dbc").unwrap();
        assert_eq!(database.messages().len(), 2, "{:?}", database.warnings());
        assert!(
            database
                .warnings()
                .iter()
                .any(|w| w.line == 8 && w.message.contains("skipped")),
            "{:?}",
            database.warnings()
        );
    }

    #[test]
    fn thousands_of_overlapping_signals_give_a_bounded_report() {
        // 3,000 copies of one signal took 18 s and 830 MB: a warning per pair.
        let mut text =
            String::from("VERSION \"\"\n\nNS_ :\n\nBS_:\n\nBU_: ECU\n\nBO_ 256 M: 8 ECU\n");
        for _ in 0..3_000 {
            text.push_str(" SG_ S : 0|8@1+ (1,0) [0|255] \"\" ECU\n");
        }
        let database = Database::from_text(&text, "dup.dbc").unwrap();
        let overlaps: Vec<&Warning> = database
            .warnings()
            .iter()
            .filter(|w| w.message.contains("overlap"))
            .collect();
        assert_eq!(overlaps.len(), MAX_OVERLAP_WARNINGS + 1);
        assert!(
            overlaps[MAX_OVERLAP_WARNINGS]
                .message
                .contains("4498492 more overlapping pairs"),
            "{}",
            overlaps[MAX_OVERLAP_WARNINGS].message
        );
    }
}
