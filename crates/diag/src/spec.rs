//! A vehicle profile's diagnostics file (`diagnostics.toml`): its ECUs, the CAN
//! messages each sends, and the fault rules over VSS signals.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::dtc::{DtcCode, Severity};

/// The file name of a profile's diagnostics.
pub const DIAGNOSTICS_FILE: &str = "diagnostics.toml";

/// Largest diagnostics file read.
pub const MAX_DIAGNOSTICS_BYTES: u64 = 1024 * 1024;

/// Longest debounce or heal time a rule may ask for.
pub const MAX_DEBOUNCE: Duration = Duration::from_secs(3600);

/// Why a diagnostics file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The file cannot be read.
    #[error("cannot read {origin}: {reason}")]
    Read {
        /// The file.
        origin: String,
        /// Why.
        reason: String,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{origin}: {reason}")]
    Parse {
        /// The file.
        origin: String,
        /// Why, with line and column.
        reason: String,
    },
    /// An entry is inconsistent.
    #[error("{origin}: {what}: {reason}")]
    Invalid {
        /// The file.
        origin: String,
        /// The entry (`rule P0A7E`, `ecu bms`).
        what: String,
        /// Why.
        reason: String,
    },
}

/// One ECU of the vehicle, an SOVD component.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcuSpec {
    /// The component id (lower case, `a-z0-9-_`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// The area it belongs to (`powertrain`, `chassis`, `body`), if any.
    #[serde(default)]
    pub area: Option<String>,
    /// The profile bus it sends on.
    #[serde(default)]
    pub bus: Option<String>,
    /// DBC message names it sends; supervised for timeouts.
    #[serde(default)]
    pub messages: Vec<String>,
    /// VSS patterns of the data it owns.
    #[serde(default)]
    pub signals: Vec<String>,
    /// The code raised when its messages stop (`U0111`).
    #[serde(default)]
    pub lost_communication: Option<DtcCode>,
}

/// A vehicle function that spans ECUs (an SOVD function), such as charging.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// The function id (lower case, `a-z0-9-_`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// The ECUs (ids) it depends on.
    pub ecus: Vec<String>,
}

/// What a rule checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The signal is above the limit.
    Above {
        /// VSS path.
        signal: String,
        /// The limit.
        limit: f64,
    },
    /// The signal is below the limit.
    Below {
        /// VSS path.
        signal: String,
        /// The limit.
        limit: f64,
    },
    /// `high - low` exceeds `max` (a cell voltage spread).
    Spread {
        /// VSS path of the higher value.
        high: String,
        /// VSS path of the lower value.
        low: String,
        /// Largest allowed difference.
        max: f64,
    },
    /// Two sources of one quantity disagree by more than `tolerance` (a plausibility check).
    Mismatch {
        /// VSS path of the first source.
        a: String,
        /// VSS path of the second source.
        b: String,
        /// Largest allowed difference.
        tolerance: f64,
    },
}

impl Condition {
    /// The signals the condition reads.
    pub fn signals(&self) -> Vec<&str> {
        match self {
            Condition::Above { signal, .. } | Condition::Below { signal, .. } => vec![signal],
            Condition::Spread { high, low, .. } => vec![high, low],
            Condition::Mismatch { a, b, .. } => vec![a, b],
        }
    }

    /// Whether the condition holds (the test fails) for these values, in the order
    /// of [`Condition::signals`].
    pub fn fails(&self, values: &[f64]) -> bool {
        match (self, values) {
            (Condition::Above { limit, .. }, [v]) => v > limit,
            (Condition::Below { limit, .. }, [v]) => v < limit,
            (Condition::Spread { max, .. }, [high, low]) => high - low > *max,
            (Condition::Mismatch { tolerance, .. }, [a, b]) => (a - b).abs() > *tolerance,
            _ => false,
        }
    }

    /// The condition in words (`Vehicle.Speed > 250`).
    pub fn describe(&self) -> String {
        match self {
            Condition::Above { signal, limit } => format!("{signal} > {limit}"),
            Condition::Below { signal, limit } => format!("{signal} < {limit}"),
            Condition::Spread { high, low, max } => format!("{high} - {low} > {max}"),
            Condition::Mismatch { a, b, tolerance } => format!("|{a} - {b}| > {tolerance}"),
        }
    }
}

/// A fault rule: a condition on signals that, held for the debounce time, raises a code.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// The code raised.
    pub code: DtcCode,
    /// What it means.
    pub name: String,
    /// The component (an [`EcuSpec::id`]) the fault is stored under.
    pub ecu: String,
    /// Its severity.
    pub severity: Severity,
    /// The test.
    pub condition: Condition,
    /// How long the condition must hold before the test fails.
    pub debounce: Duration,
    /// How long it must be absent before the test passes again.
    pub heal: Duration,
    /// Whether a failure requests the warning indicator.
    pub warning_indicator: bool,
    /// Signals captured in the freeze frame (the rule's own signals are always captured).
    pub freeze_frame: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    ecu: Vec<EcuSpec>,
    #[serde(default)]
    function: Vec<FunctionSpec>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    code: DtcCode,
    name: String,
    ecu: String,
    #[serde(default)]
    severity: Severity,
    signal: Option<String>,
    above: Option<f64>,
    below: Option<f64>,
    spread: Option<RawSpread>,
    mismatch: Option<RawMismatch>,
    #[serde(default)]
    debounce_ms: u64,
    #[serde(default)]
    heal_ms: u64,
    #[serde(default)]
    warning_indicator: bool,
    #[serde(default)]
    freeze_frame: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpread {
    high: String,
    low: String,
    max: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMismatch {
    a: String,
    b: String,
    tolerance: f64,
}

/// A profile's diagnostics: ECUs and fault rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiagnosticsSpec {
    /// The ECUs, in file order.
    pub ecus: Vec<EcuSpec>,
    /// The functions, in file order.
    pub functions: Vec<FunctionSpec>,
    /// The rules, in file order.
    pub rules: Vec<FaultRule>,
}

impl DiagnosticsSpec {
    /// Reads a diagnostics file (at most [`MAX_DIAGNOSTICS_BYTES`]).
    pub fn read(path: &Path) -> Result<DiagnosticsSpec, SpecError> {
        let origin = path.display().to_string();
        let read_error = |reason: String| SpecError::Read {
            origin: origin.clone(),
            reason,
        };
        let size = std::fs::metadata(path)
            .map_err(|e| read_error(e.to_string()))?
            .len();
        if size > MAX_DIAGNOSTICS_BYTES {
            return Err(read_error(format!(
                "{size} bytes, more than the {MAX_DIAGNOSTICS_BYTES} a diagnostics file may have"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| read_error(e.to_string()))?;
        DiagnosticsSpec::parse(&text, &origin)
    }

    /// Parses the text of a diagnostics file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<DiagnosticsSpec, SpecError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| SpecError::Parse {
            origin: origin.to_owned(),
            reason: e.to_string().trim_end().to_owned(),
        })?;
        let invalid = |what: String, reason: String| SpecError::Invalid {
            origin: origin.to_owned(),
            what,
            reason,
        };
        let mut ids = std::collections::HashSet::new();
        for ecu in &raw.ecu {
            let what = format!("ecu \"{}\"", ecu.id);
            if !is_entity_id(&ecu.id) {
                return Err(invalid(
                    what,
                    "an id is 1 to 64 characters of a-z, 0-9, - and _".into(),
                ));
            }
            if crate::platform::PlatformComponent::from_id(&ecu.id).is_some() {
                return Err(invalid(
                    what,
                    "the id is taken by a platform component".into(),
                ));
            }
            if !ids.insert(ecu.id.as_str()) {
                return Err(invalid(what, "declared twice".into()));
            }
            if let Some(area) = ecu.area.as_deref().filter(|a| !is_entity_id(a)) {
                return Err(invalid(
                    what,
                    format!("area \"{area}\" is not an id of a-z, 0-9, - and _"),
                ));
            }
            if !ecu.messages.is_empty() && ecu.bus.is_none() {
                return Err(invalid(
                    what,
                    "`messages` needs the `bus` they are sent on".into(),
                ));
            }
            if ecu.lost_communication.is_some() && ecu.messages.is_empty() {
                return Err(invalid(
                    what,
                    "`lost_communication` needs `messages` to supervise".into(),
                ));
            }
        }
        let mut function_ids = std::collections::HashSet::new();
        for function in &raw.function {
            let what = format!("function \"{}\"", function.id);
            if !is_entity_id(&function.id) {
                return Err(invalid(
                    what,
                    "an id is 1 to 64 characters of a-z, 0-9, - and _".into(),
                ));
            }
            if !function_ids.insert(function.id.as_str()) {
                return Err(invalid(what, "declared twice".into()));
            }
            if let Some(ecu) = function.ecus.iter().find(|e| !ids.contains(e.as_str())) {
                return Err(invalid(
                    what,
                    format!("no ecu \"{ecu}\" is declared in this file"),
                ));
            }
        }
        let mut rules = Vec::with_capacity(raw.rule.len());
        let mut codes = std::collections::HashSet::new();
        for rule in raw.rule {
            let what = format!("rule {}", rule.code);
            if !ids.contains(rule.ecu.as_str()) {
                return Err(invalid(
                    what,
                    format!("no ecu \"{}\" is declared in this file", rule.ecu),
                ));
            }
            if !codes.insert((rule.ecu.clone(), rule.code.clone())) {
                return Err(invalid(what, "declared twice for one ecu".into()));
            }
            let condition = match (
                rule.signal,
                rule.above,
                rule.below,
                rule.spread,
                rule.mismatch,
            ) {
                (Some(signal), Some(limit), None, None, None) => {
                    Condition::Above { signal, limit }
                }
                (Some(signal), None, Some(limit), None, None) => {
                    Condition::Below { signal, limit }
                }
                (None, None, None, Some(s), None) => Condition::Spread {
                    high: s.high,
                    low: s.low,
                    max: s.max,
                },
                (None, None, None, None, Some(m)) => Condition::Mismatch {
                    a: m.a,
                    b: m.b,
                    tolerance: m.tolerance,
                },
                _ => {
                    return Err(invalid(
                        what,
                        "give exactly one test: `signal` with `above` or `below`, `spread = { high, low, max }` or `mismatch = { a, b, tolerance }`".into(),
                    ))
                }
            };
            let debounce = Duration::from_millis(rule.debounce_ms);
            let heal = Duration::from_millis(rule.heal_ms);
            if debounce > MAX_DEBOUNCE || heal > MAX_DEBOUNCE {
                return Err(invalid(
                    what,
                    format!(
                        "debounce_ms and heal_ms are at most {} ms",
                        MAX_DEBOUNCE.as_millis()
                    ),
                ));
            }
            rules.push(FaultRule {
                code: rule.code,
                name: rule.name,
                ecu: rule.ecu,
                severity: rule.severity,
                condition,
                debounce,
                heal,
                warning_indicator: rule.warning_indicator,
                freeze_frame: rule.freeze_frame,
            });
        }
        Ok(DiagnosticsSpec {
            ecus: raw.ecu,
            functions: raw.function,
            rules,
        })
    }

    /// The ECU with `id`.
    pub fn ecu(&self, id: &str) -> Option<&EcuSpec> {
        self.ecus.iter().find(|ecu| ecu.id == id)
    }

    /// Checks every signal the file names against `catalog`: it exists and, for a
    /// rule's test, is numeric; every ECU pattern selects something.
    pub fn check(&self, catalog: &tomoe_vss::Catalog, origin: &str) -> Result<(), SpecError> {
        let invalid = |what: String, reason: String| SpecError::Invalid {
            origin: origin.to_owned(),
            what,
            reason,
        };
        for rule in &self.rules {
            let what = format!("rule {}", rule.code);
            for signal in rule.condition.signals() {
                let leaf = catalog
                    .leaf(signal)
                    .ok_or_else(|| invalid(what.clone(), format!("no signal {signal}")))?;
                if !leaf.datatype.is_numeric() || leaf.datatype.element() != leaf.datatype {
                    return Err(invalid(
                        what,
                        format!("{signal} is {}, not a number", leaf.datatype),
                    ));
                }
            }
            for signal in &rule.freeze_frame {
                if catalog.leaf(signal).is_none() {
                    return Err(invalid(
                        what,
                        format!("freeze frame signal {signal} is not in the catalog"),
                    ));
                }
            }
        }
        for ecu in &self.ecus {
            for pattern in &ecu.signals {
                let what = format!("ecu \"{}\"", ecu.id);
                let parsed = tomoe_vss::PathPattern::parse(pattern)
                    .map_err(|e| invalid(what.clone(), e.to_string()))?;
                if catalog.matching(&parsed).next().is_none() {
                    return Err(invalid(
                        what,
                        format!("signals pattern {pattern} selects no signal"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Whether `id` is a valid SOVD entity id here: 1 to 64 of `a-z0-9-_`.
pub fn is_entity_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
