//! Mapping files, rules and transforms.

use std::path::Path;

use serde_json::Value as Json;
use tomoe_vss::{DataType, Value};

use crate::{Expression, ExpressionError};

/// A scalar passing through a transform: what a DBC signal or a VSS value becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// A string (a value-table label, or a VSS string value).
    Text(String),
}

impl Scalar {
    fn from_json(json: &Json) -> Option<Scalar> {
        match json {
            Json::Number(n) => n.as_f64().map(Scalar::Number),
            Json::Bool(b) => Some(Scalar::Bool(*b)),
            Json::String(s) => Some(Scalar::Text(s.clone())),
            _ => None,
        }
    }

    /// Converts to a VSS value of `datatype`: numbers are rounded to the nearest
    /// integer for integer types and must fit them; booleans accept 0/1 numbers.
    pub fn to_value(&self, datatype: DataType) -> Result<Value, String> {
        let text = |s: &str| Value::parse(s, datatype);
        match (self, datatype) {
            (Scalar::Text(s), _) => text(s),
            (Scalar::Bool(b), DataType::Boolean) => Ok(Value::Bool(*b)),
            (Scalar::Bool(b), DataType::String) => Ok(Value::String(b.to_string())),
            (Scalar::Bool(b), _) => Value::from_json(&Json::from(u8::from(*b)), datatype),
            (Scalar::Number(n), DataType::Boolean) => Ok(Value::Bool(*n != 0.0)),
            (Scalar::Number(n), DataType::String) => Ok(Value::String(n.to_string())),
            (Scalar::Number(n), DataType::Float) => Ok(Value::Float(*n as f32)),
            (Scalar::Number(n), DataType::Double) => Ok(Value::Double(*n)),
            (Scalar::Number(n), integer) => {
                let rounded = n.round();
                let json = if rounded < 0.0 {
                    Json::from(rounded as i64)
                } else {
                    Json::from(rounded as u64)
                };
                if rounded.abs() > 9.0e18 {
                    return Err(format!("{n} does not fit {integer}"));
                }
                Value::from_json(&json, integer)
            }
        }
    }

    /// The scalar of a VSS value (arrays are not mappable).
    pub fn from_value(value: &Value) -> Option<Scalar> {
        Some(match value {
            Value::String(s) => Scalar::Text(s.clone()),
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Int32(v) => Scalar::Number(f64::from(*v)),
            Value::Int64(v) => Scalar::Number(*v as f64),
            Value::Uint32(v) => Scalar::Number(f64::from(*v)),
            Value::Uint64(v) => Scalar::Number(*v as f64),
            Value::Float(v) => Scalar::Number(f64::from(*v)),
            Value::Double(v) => Scalar::Number(*v),
            _ => return None,
        })
    }

    fn matches(&self, other: &Scalar) -> bool {
        match (self, other) {
            (Scalar::Number(a), Scalar::Number(b)) => a == b,
            (Scalar::Bool(a), Scalar::Bool(b)) => a == b,
            (Scalar::Bool(a), Scalar::Number(n)) | (Scalar::Number(n), Scalar::Bool(a)) => {
                *a == (*n != 0.0)
            }
            (Scalar::Text(a), Scalar::Text(b)) => a == b,
            _ => false,
        }
    }
}

/// How a value is converted on its way between DBC and VSS.
#[derive(Debug, Clone, PartialEq)]
pub enum Transform {
    /// Unchanged (a value-table label is used for string VSS signals).
    Identity,
    /// A math expression in `x`.
    Math(Expression),
    /// A lookup table; values without an entry are ignored.
    Mapping(Vec<(Scalar, Scalar)>),
}

impl Transform {
    /// DBC → VSS: `physical` is the decoded value, `label` its value-table label.
    /// `None` when the value is to be ignored (no matching entry, math failure).
    pub fn to_vss(&self, physical: f64, label: Option<&str>) -> Option<Scalar> {
        match self {
            Transform::Identity => Some(match label {
                Some(label) => Scalar::Text(label.to_owned()),
                None => Scalar::Number(physical),
            }),
            Transform::Math(expression) => expression.evaluate(physical).map(Scalar::Number),
            Transform::Mapping(pairs) => pairs
                .iter()
                .find(|(from, _)| match from {
                    Scalar::Text(text) => label == Some(text.as_str()),
                    other => other.matches(&Scalar::Number(physical)),
                })
                .map(|(_, to)| to.clone()),
        }
    }

    /// VSS → DBC: the DBC value for a VSS scalar, as a number or a value-table label.
    pub fn to_dbc(&self, vss: &Scalar) -> Option<Scalar> {
        match self {
            Transform::Identity => Some(vss.clone()),
            Transform::Math(expression) => {
                let x = match vss {
                    Scalar::Number(n) => *n,
                    Scalar::Bool(b) => f64::from(u8::from(*b)),
                    Scalar::Text(t) => t.parse().ok()?,
                };
                expression.evaluate(x).map(Scalar::Number)
            }
            Transform::Mapping(pairs) => pairs
                .iter()
                .find(|(from, _)| from.matches(vss))
                .map(|(_, to)| to.clone()),
        }
    }
}

/// A DBC → VSS rule (`dbc2vss`).
#[derive(Debug, Clone, PartialEq)]
pub struct Dbc2Vss {
    /// The VSS leaf.
    pub path: String,
    /// The datatype the mapping file declares for the leaf, if any.
    pub datatype: Option<DataType>,
    /// The DBC signal.
    pub signal: String,
    /// The DBC message that carries the signal (a Tomoe extension); `None` means every
    /// message with a signal of that name, as in KUKSA.
    pub message: Option<String>,
    /// Minimum interval between forwarded values, in milliseconds.
    pub interval_ms: u64,
    /// Forward only values that differ from the last forwarded one.
    pub on_change: bool,
    /// The conversion.
    pub transform: Transform,
}

/// A VSS → DBC rule (`vss2dbc`), for actuator targets written to the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct Vss2Dbc {
    /// The VSS actuator.
    pub path: String,
    /// The datatype the mapping file declares for the leaf, if any.
    pub datatype: Option<DataType>,
    /// The DBC signal written.
    pub signal: String,
    /// The DBC message that carries the signal (a Tomoe extension); `None`: the first
    /// message with a signal of that name.
    pub message: Option<String>,
    /// The conversion.
    pub transform: Transform,
}

/// A mapping that cannot be used; names the file, the VSS path and the DBC signal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}: \"{path}\"{}: {problem}", signal_suffix(.signal))]
pub struct MappingError {
    /// The mapping file.
    pub origin: String,
    /// The VSS path of the entry (empty for file-level problems).
    pub path: String,
    /// The DBC signal of the entry, if known.
    pub signal: Option<String>,
    /// What is wrong.
    pub problem: String,
}

fn signal_suffix(signal: &Option<String>) -> String {
    signal
        .as_ref()
        .map(|s| format!(" (DBC signal \"{s}\")"))
        .unwrap_or_default()
}

/// The rules of one mapping file.
#[derive(Debug, Clone, Default)]
pub struct MappingFile {
    origin: String,
    dbc2vss: Vec<Dbc2Vss>,
    vss2dbc: Vec<Vss2Dbc>,
}

impl MappingFile {
    /// Reads a mapping file: `.json` as a VSS JSON tree, `.vspec`/`.yaml`/`.yml` as a flat overlay.
    pub fn from_file(path: &Path) -> Result<MappingFile, MappingError> {
        let origin = path.display().to_string();
        let text = tomoe_vss::read_data_file(path).map_err(|problem| MappingError {
            origin: origin.clone(),
            path: String::new(),
            signal: None,
            problem,
        })?;
        let is_yaml = path
            .extension()
            .is_some_and(|e| e == "vspec" || e == "yaml" || e == "yml");
        if is_yaml {
            MappingFile::from_vspec_str(&text, &origin)
        } else {
            MappingFile::from_json_str(&text, &origin)
        }
    }

    /// Reads a VSS JSON tree with mapping annotations.
    pub fn from_json_str(text: &str, origin: &str) -> Result<MappingFile, MappingError> {
        let file_error = |problem: String| MappingError {
            origin: origin.to_owned(),
            path: String::new(),
            signal: None,
            problem,
        };
        let json: Json =
            serde_json::from_str(text).map_err(|e| file_error(format!("invalid JSON: {e}")))?;
        let roots = json
            .as_object()
            .ok_or_else(|| file_error("the top level must be an object".into()))?;
        let mut mapping = MappingFile {
            origin: origin.to_owned(),
            ..MappingFile::default()
        };
        for (name, node) in roots {
            mapping.walk(name, node)?;
        }
        Ok(mapping)
    }

    /// Reads a flat YAML overlay (`Vehicle.Speed: {type: ..., dbc2vss: {...}}`).
    pub fn from_vspec_str(text: &str, origin: &str) -> Result<MappingFile, MappingError> {
        let file_error = |problem: String| MappingError {
            origin: origin.to_owned(),
            path: String::new(),
            signal: None,
            problem,
        };
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| file_error(format!("invalid YAML: {e}")))?;
        let json: Json = serde_json::to_value(yaml)
            .map_err(|e| file_error(format!("cannot read the YAML: {e}")))?;
        let mut mapping = MappingFile {
            origin: origin.to_owned(),
            ..MappingFile::default()
        };
        match json {
            Json::Null => {}
            Json::Object(entries) => {
                for (path, node) in &entries {
                    mapping.leaf(path, node)?;
                }
            }
            _ => {
                return Err(file_error(
                    "a .vspec mapping must be a map of VSS paths".into(),
                ))
            }
        }
        Ok(mapping)
    }

    fn walk(&mut self, path: &str, node: &Json) -> Result<(), MappingError> {
        if let Some(children) = node.get("children").and_then(Json::as_object) {
            for (name, child) in children {
                self.walk(&format!("{path}.{name}"), child)?;
            }
            return Ok(());
        }
        self.leaf(path, node)
    }

    fn leaf(&mut self, path: &str, node: &Json) -> Result<(), MappingError> {
        let error = |signal: Option<&str>, problem: String| MappingError {
            origin: self.origin.clone(),
            path: path.to_owned(),
            signal: signal.map(str::to_owned),
            problem,
        };
        let datatype = match node.get("datatype").and_then(Json::as_str) {
            Some(text) => Some(text.parse::<DataType>().map_err(|e| error(None, e))?),
            None => None,
        };
        let dbc2vss = node.get("dbc2vss").or_else(|| node.get("dbc"));
        if node.get("dbc2vss").is_some() && node.get("dbc").is_some() {
            return Err(error(
                None,
                "both \"dbc\" and \"dbc2vss\" are given; use one".into(),
            ));
        }
        if let Some(spec) = dbc2vss {
            let signal = signal_of(spec)
                .ok_or_else(|| error(None, "\"dbc2vss\" needs a \"signal\"".into()))?;
            let interval = spec.get("interval_ms");
            let on_change = spec.get("on_change");
            let on_change_value = match on_change {
                None => false,
                Some(Json::Bool(b)) => *b,
                Some(other) => {
                    return Err(error(
                        Some(signal),
                        format!("\"on_change\" must be true or false, found {other}"),
                    ))
                }
            };
            let interval_ms = match interval {
                Some(value) => value.as_u64().ok_or_else(|| {
                    error(
                        Some(signal),
                        format!(
                            "\"interval_ms\" must be a whole number of milliseconds, found {value}"
                        ),
                    )
                })?,
                // KUKSA: nothing given means 1000 ms; only on_change given means 0.
                None if on_change_value => 0,
                None => 1000,
            };
            let transform = transform_of(spec).map_err(|problem| error(Some(signal), problem))?;
            self.dbc2vss.push(Dbc2Vss {
                path: path.to_owned(),
                datatype,
                signal: signal.to_owned(),
                message: message_of(spec).map_err(|problem| error(Some(signal), problem))?,
                interval_ms,
                on_change: on_change_value,
                transform,
            });
        }
        if let Some(spec) = node.get("vss2dbc") {
            let signal = signal_of(spec)
                .ok_or_else(|| error(None, "\"vss2dbc\" needs a \"signal\"".into()))?;
            if node
                .get("type")
                .and_then(Json::as_str)
                .is_some_and(|t| t != "actuator")
            {
                return Err(error(
                    Some(signal),
                    "\"vss2dbc\" is only for actuators, which have target values".into(),
                ));
            }
            let transform = transform_of(spec).map_err(|problem| error(Some(signal), problem))?;
            let message = message_of(spec).map_err(|problem| error(Some(signal), problem))?;
            self.vss2dbc.push(Vss2Dbc {
                path: path.to_owned(),
                datatype,
                signal: signal.to_owned(),
                message,
                transform,
            });
        }
        Ok(())
    }

    /// Where the mapping came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The DBC → VSS rules.
    pub fn dbc2vss(&self) -> &[Dbc2Vss] {
        &self.dbc2vss
    }

    /// The VSS → DBC rules.
    pub fn vss2dbc(&self) -> &[Vss2Dbc] {
        &self.vss2dbc
    }
}

fn signal_of(spec: &Json) -> Option<&str> {
    spec.get("signal")
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
}

fn message_of(spec: &Json) -> Result<Option<String>, String> {
    match spec.get("message") {
        None => Ok(None),
        Some(Json::String(name)) if !name.is_empty() => Ok(Some(name.clone())),
        Some(other) => Err(format!(
            "\"message\" must be a DBC message name, found {other}"
        )),
    }
}

fn transform_of(spec: &Json) -> Result<Transform, String> {
    let Some(transform) = spec.get("transform") else {
        return Ok(Transform::Identity);
    };
    if let Some(math) = transform.get("math") {
        let text = math.as_str().ok_or("\"math\" must be a string")?;
        return Expression::parse(text)
            .map(Transform::Math)
            .map_err(|e: ExpressionError| e.to_string());
    }
    if let Some(pairs) = transform.get("mapping") {
        let pairs = pairs
            .as_array()
            .ok_or("\"mapping\" must be a list of from/to pairs")?;
        let mut table = Vec::with_capacity(pairs.len());
        for pair in pairs {
            let scalar = |key: &str| {
                pair.get(key).and_then(Scalar::from_json).ok_or_else(|| {
                    format!("every \"mapping\" entry needs a scalar \"{key}\", found {pair}")
                })
            };
            table.push((scalar("from")?, scalar("to")?));
        }
        return Ok(Transform::Mapping(table));
    }
    Err(format!(
        "unknown transform {transform}; expected \"math\" or \"mapping\""
    ))
}

/// The KUKSA evaluation logic for one rule: interval first, then the transform, then
/// the change check. Time is the frame's timestamp, so that replays at any speed
/// forward the same values.
#[derive(Debug, Clone, Default)]
pub struct Forwarding {
    last_time: Option<f64>,
    last_value: Option<Scalar>,
}

impl Forwarding {
    /// Whether enough time has passed since the last forwarded value; records `now` if so.
    pub fn interval_passed(&mut self, rule: &Dbc2Vss, now: f64) -> bool {
        if rule.interval_ms > 0 {
            if let Some(last) = self.last_time {
                if (now - last) * 1000.0 < rule.interval_ms as f64 {
                    return false;
                }
            }
        }
        self.last_time = Some(now);
        true
    }

    /// Whether `value` is to be forwarded under the rule's change condition; records it if so.
    pub fn changed(&mut self, rule: &Dbc2Vss, value: &Scalar) -> bool {
        if rule.on_change && self.last_value.as_ref() == Some(value) {
            return false;
        }
        self.last_value = Some(value.clone());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GEAR: &str = "Vehicle.Powertrain.Transmission.CurrentGear:\n  type: sensor\n  datatype: int8\n  dbc:\n    signal: DI_gear\n    on_change: true\n    transform:\n      mapping:\n        - from: DI_GEAR_D\n          to: 1\n        - from: DI_GEAR_R\n          to: -1\n";

    #[test]
    fn reads_vspec_rules_with_defaults() {
        let mapping = MappingFile::from_vspec_str(GEAR, "gear.vspec").unwrap();
        let rule = &mapping.dbc2vss()[0];
        assert_eq!(rule.signal, "DI_gear");
        assert_eq!(rule.interval_ms, 0, "on_change alone means no interval");
        assert_eq!(
            rule.transform.to_vss(4.0, Some("DI_GEAR_D")),
            Some(Scalar::Number(1.0))
        );
        assert_eq!(rule.transform.to_vss(0.0, Some("DI_GEAR_P")), None);
    }

    #[test]
    fn reads_json_trees() {
        let json = r#"{"Vehicle": {"type": "branch", "children": {"Body": {"type": "branch", "children": {
            "Mirror": {"type": "actuator", "datatype": "int8",
                "dbc2vss": {"signal": "Tilt", "transform": {"math": "floor((x*40)-100)"}},
                "vss2dbc": {"signal": "WantedTilt", "transform": {"math": "(x+100)/40"}}}}}}}}"#;
        let mapping = MappingFile::from_json_str(json, "m.json").unwrap();
        assert_eq!(mapping.dbc2vss()[0].path, "Vehicle.Body.Mirror");
        assert_eq!(mapping.dbc2vss()[0].interval_ms, 1000);
        let back = mapping.vss2dbc()[0]
            .transform
            .to_dbc(&Scalar::Number(-20.0));
        assert_eq!(back, Some(Scalar::Number(2.0)));
    }

    #[test]
    fn errors_name_path_and_signal() {
        let bad = "Vehicle.Speed:\n  type: sensor\n  datatype: float\n  dbc2vss:\n    signal: DI_speed\n    transform:\n      math: \"import os\"\n";
        let error = MappingFile::from_vspec_str(bad, "bad.vspec").unwrap_err();
        assert_eq!(error.path, "Vehicle.Speed");
        assert_eq!(error.signal.as_deref(), Some("DI_speed"));
        assert!(
            error.to_string().starts_with(
                "bad.vspec: \"Vehicle.Speed\" (DBC signal \"DI_speed\"): invalid math expression"
            ),
            "{error}"
        );
        let sensor_write =
            "Vehicle.Speed:\n  type: sensor\n  datatype: float\n  vss2dbc:\n    signal: X\n";
        assert!(MappingFile::from_vspec_str(sensor_write, "w.vspec")
            .unwrap_err()
            .problem
            .contains("only for actuators"));
    }

    #[test]
    fn scalars_become_typed_values() {
        assert_eq!(
            Scalar::Number(2.6).to_value(DataType::Uint8),
            Ok(Value::Uint32(3))
        );
        assert_eq!(
            Scalar::Number(1.0).to_value(DataType::Boolean),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            Scalar::Text("P".into()).to_value(DataType::String),
            Ok(Value::String("P".into()))
        );
        assert!(Scalar::Number(300.0).to_value(DataType::Uint8).is_err());
    }

    #[test]
    fn forwarding_follows_interval_then_change() {
        let mut rule = MappingFile::from_vspec_str(GEAR, "g").unwrap().dbc2vss()[0].clone();
        rule.interval_ms = 100;
        let mut state = Forwarding::default();
        assert!(state.interval_passed(&rule, 10.0));
        assert!(state.changed(&rule, &Scalar::Number(1.0)));
        assert!(!state.interval_passed(&rule, 10.05));
        assert!(state.interval_passed(&rule, 10.2));
        assert!(!state.changed(&rule, &Scalar::Number(1.0)));
        assert!(state.changed(&rule, &Scalar::Number(-1.0)));
    }
}
