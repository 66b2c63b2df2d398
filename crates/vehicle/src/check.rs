//! `tomoe profile check`: a profile's mappings against its DBCs and the catalog.

use std::fmt;

use tomoe_mapping::{Scalar, Transform};
use tomoe_vss::{Catalog, EntryType};

use crate::LoadedProfile;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth a look; the rule works.
    Warning,
    /// The rule cannot work.
    Error,
}

/// One problem found in a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// The bus.
    pub bus: String,
    /// The VSS path of the rule.
    pub path: String,
    /// The DBC signal of the rule.
    pub signal: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(
            f,
            "{level}: [{}] \"{}\" (DBC signal \"{}\"): {}",
            self.bus, self.path, self.signal, self.message
        )
    }
}

/// Checks every rule of `profile` against its DBCs and `catalog`: the DBC signal and
/// the VSS leaf exist, declared datatypes agree, mapping labels exist in the value
/// table and produce valid VSS values, and the DBC signal's range, transformed, fits
/// the leaf's range. DBC warnings are reported too.
pub fn check_profile(profile: &LoadedProfile, catalog: &Catalog) -> Vec<Finding> {
    let mut findings = Vec::new();
    for bus in &profile.buses {
        let mut add = |severity, path: &str, signal: &str, message: String| {
            findings.push(Finding {
                severity,
                bus: bus.spec.name.clone(),
                path: path.to_owned(),
                signal: signal.to_owned(),
                message,
            })
        };
        for warning in bus.database.warnings() {
            add(Severity::Warning, "", "", format!("DBC: {warning}"));
        }
        for rule in bus.mapping.dbc2vss() {
            let (path, name) = (rule.path.as_str(), rule.signal.as_str());
            let Some(leaf) = catalog.leaf(path) else {
                add(
                    Severity::Error,
                    path,
                    name,
                    "the VSS path is not in the catalog".into(),
                );
                continue;
            };
            let places = crate::feeder::signal_places(&bus.database, name, rule.message.as_deref());
            let Some((message, signal)) = places.first().copied() else {
                add(
                    Severity::Error,
                    path,
                    name,
                    format!("the signal is not in {}", bus.spec.dbc),
                );
                continue;
            };
            if places.len() > 1 {
                add(
                    Severity::Warning,
                    path,
                    name,
                    format!(
                        "{} messages carry a signal with this name; all of them feed the VSS path (name one with \"message\")",
                        places.len()
                    ),
                );
            }
            let signals: Vec<&tomoe_dbc::Signal> = places
                .iter()
                .map(|(m, s)| &bus.database.messages()[*m].signals()[*s])
                .collect();
            if let Some(declared) = rule.datatype.filter(|d| *d != leaf.datatype) {
                add(
                    Severity::Warning,
                    path,
                    name,
                    format!(
                        "the mapping declares {declared}, the catalog says {}",
                        leaf.datatype
                    ),
                );
            }
            if leaf.entry_type == EntryType::Attribute {
                add(
                    Severity::Warning,
                    path,
                    name,
                    "the leaf is an attribute; values from the bus overwrite it".into(),
                );
            }
            let signal = &bus.database.messages()[message].signals()[signal];
            match &rule.transform {
                Transform::Mapping(pairs) => {
                    for (from, to) in pairs {
                        if let Scalar::Text(label) = from {
                            if signals.iter().all(|s| s.raw_of_label(label).is_none()) {
                                add(
                                    Severity::Error,
                                    path,
                                    name,
                                    format!("\"{label}\" is not in the signal's value table"),
                                );
                            }
                        }
                        match to
                            .to_value(leaf.datatype)
                            .map(|value| leaf.check_value(&value))
                        {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => add(
                                Severity::Error,
                                path,
                                name,
                                format!("mapping target {to:?}: {error}"),
                            ),
                            Err(error) => add(
                                Severity::Error,
                                path,
                                name,
                                format!("mapping target {to:?}: {error}"),
                            ),
                        }
                    }
                }
                transform => {
                    if leaf.datatype == tomoe_vss::DataType::String
                        && signal.value_table().is_empty()
                    {
                        add(
                            Severity::Warning,
                            path,
                            name,
                            "a number is written to a string leaf".into(),
                        );
                    }
                    if signal.minimum() < signal.maximum() && leaf.datatype.is_numeric() {
                        let ends = [signal.minimum(), signal.maximum()]
                            .map(|x| transform.to_vss(x, None))
                            .map(|s| match s {
                                Some(Scalar::Number(n)) => Some(n),
                                _ => None,
                            });
                        if let [Some(a), Some(b)] = ends {
                            let (low, high) = if a <= b { (a, b) } else { (b, a) };
                            for (end, text) in [(low, "minimum"), (high, "maximum")] {
                                if let Ok(value) = Scalar::Number(end).to_value(leaf.datatype) {
                                    if let Err(error) = leaf.check_value(&value) {
                                        add(Severity::Warning, path, name, format!("the DBC {text} maps to a value the catalog refuses ({error}); such frames are dropped"));
                                    }
                                } else {
                                    add(
                                        Severity::Warning,
                                        path,
                                        name,
                                        format!(
                                            "the DBC {text} ({end}) does not fit {}",
                                            leaf.datatype
                                        ),
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        for rule in bus.mapping.vss2dbc() {
            let (path, name) = (rule.path.as_str(), rule.signal.as_str());
            match catalog.leaf(path) {
                None => add(
                    Severity::Error,
                    path,
                    name,
                    "the VSS path is not in the catalog".into(),
                ),
                Some(leaf) if !leaf.is_actuator() => add(
                    Severity::Error,
                    path,
                    name,
                    format!(
                        "write-back needs an actuator; the leaf is a {}",
                        leaf.entry_type
                    ),
                ),
                Some(_) => {}
            }
            if bus.database.find_signal(name).is_empty() {
                add(
                    Severity::Error,
                    path,
                    name,
                    format!("the signal is not in {}", bus.spec.dbc),
                );
            }
        }
    }
    findings
}
