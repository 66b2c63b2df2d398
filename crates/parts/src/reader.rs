//! Reading schema fields out of TOML tables while collecting every problem.
//!
//! Each method reads one field; when the field is missing or wrong it records a
//! [`Problem`] and returns `None`, so that a file is read to the end and all its
//! problems are reported together.

use toml::{Table, Value};

use crate::error::Problem;
use crate::quantity::{Dimension, Quantity};

/// A closed set of spellings, such as a cooling interface or a connector standard.
pub(crate) trait Choice: Sized + Copy {
    /// What the value is, for messages (`cooling interface`).
    const WHAT: &'static str;
    /// Reads a spelling.
    fn parse_choice(text: &str) -> Option<Self>;
    /// The accepted spellings, comma-separated.
    fn choices() -> String;
}

/// Defines a closed enum read from a string, with its spellings.
macro_rules! choice_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal {
        $($(#[$vdoc:meta])* $variant:ident = $text:literal $(| $alias:literal)*),+ $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling used in files and output.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Reads a spelling; case does not matter and aliases are accepted.
            pub fn parse(text: &str) -> Option<$name> {
                $(
                    if text.eq_ignore_ascii_case($text) $(|| text.eq_ignore_ascii_case($alias))* {
                        return Some($name::$variant);
                    }
                )+
                None
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl $crate::reader::Choice for $name {
            const WHAT: &'static str = $what;

            fn parse_choice(text: &str) -> Option<$name> {
                $name::parse(text)
            }

            fn choices() -> String {
                $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }
    };
}

pub(crate) use choice_enum;

/// Joins a table path and a key: `cells` + `series` = `cells.series`.
pub(crate) fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

/// Reads fields and remembers every problem.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    problems: Vec<Problem>,
}

impl Reader {
    pub(crate) fn new() -> Reader {
        Reader::default()
    }

    /// Records a problem with `field`.
    pub(crate) fn problem(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.problems.push(Problem {
            field: field.into(),
            reason: reason.into(),
        });
    }

    /// Whether anything was recorded.
    pub(crate) fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// The problems recorded.
    pub(crate) fn into_problems(self) -> Vec<Problem> {
        self.problems
    }

    fn required<'t>(&mut self, table: &'t Table, at: &str, key: &str) -> Option<&'t Value> {
        let value = table.get(key);
        if value.is_none() {
            self.problem(join(at, key), "missing");
        }
        value
    }

    fn wrong_type(&mut self, at: &str, key: &str, expected: &str, value: &Value) {
        self.problem(
            join(at, key),
            format!("expected {expected}, found {}", describe(value)),
        );
    }

    /// A quantity with its unit, such as `"360 V"`.
    pub(crate) fn quantity<D: Dimension>(
        &mut self,
        table: &Table,
        at: &str,
        key: &str,
    ) -> Option<Quantity<D>> {
        let value = self.required(table, at, key)?;
        self.quantity_value(value, at, key)
    }

    /// A quantity that may be absent.
    pub(crate) fn optional_quantity<D: Dimension>(
        &mut self,
        table: &Table,
        at: &str,
        key: &str,
    ) -> Option<Quantity<D>> {
        let value = table.get(key)?;
        self.quantity_value(value, at, key)
    }

    fn quantity_value<D: Dimension>(
        &mut self,
        value: &Value,
        at: &str,
        key: &str,
    ) -> Option<Quantity<D>> {
        let Value::String(text) = value else {
            let example = format!(
                "a {} written as a string with its unit, such as \"{}\"",
                D::NAME,
                example_of::<D>(value)
            );
            self.wrong_type(at, key, &example, value);
            return None;
        };
        match Quantity::<D>::parse(text) {
            Ok(quantity) => Some(quantity),
            Err(error) => {
                self.problem(join(at, key), error.to_string());
                None
            }
        }
    }

    /// A quantity that must be above zero.
    pub(crate) fn positive<D: Dimension>(
        &mut self,
        table: &Table,
        at: &str,
        key: &str,
    ) -> Option<Quantity<D>> {
        let quantity = self.quantity::<D>(table, at, key)?;
        self.require_positive(quantity, at, key)
    }

    /// A quantity that may be absent but must be above zero when present.
    pub(crate) fn optional_positive<D: Dimension>(
        &mut self,
        table: &Table,
        at: &str,
        key: &str,
    ) -> Option<Quantity<D>> {
        let quantity = self.optional_quantity::<D>(table, at, key)?;
        self.require_positive(quantity, at, key)
    }

    fn require_positive<D: Dimension>(
        &mut self,
        quantity: Quantity<D>,
        at: &str,
        key: &str,
    ) -> Option<Quantity<D>> {
        if quantity.value() > 0.0 {
            Some(quantity)
        } else {
            self.problem(
                join(at, key),
                format!("must be above zero, found {quantity}"),
            );
            None
        }
    }

    /// A non-empty string.
    pub(crate) fn string(&mut self, table: &Table, at: &str, key: &str) -> Option<String> {
        let value = self.required(table, at, key)?;
        self.string_value(value, at, key)
    }

    /// A non-empty string that may be absent.
    pub(crate) fn optional_string(&mut self, table: &Table, at: &str, key: &str) -> Option<String> {
        let value = table.get(key)?;
        self.string_value(value, at, key)
    }

    fn string_value(&mut self, value: &Value, at: &str, key: &str) -> Option<String> {
        match value {
            Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
            Value::String(_) => {
                self.problem(join(at, key), "must not be empty");
                None
            }
            other => {
                self.wrong_type(at, key, "a string", other);
                None
            }
        }
    }

    /// A string, or an array of strings, given as a list (at least one).
    pub(crate) fn strings(&mut self, table: &Table, at: &str, key: &str) -> Option<Vec<String>> {
        let value = self.required(table, at, key)?;
        match value {
            Value::Array(items) => {
                let mut texts = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    texts.push(self.string_value(item, at, &format!("{key}[{index}]"))?);
                }
                if texts.is_empty() {
                    self.problem(join(at, key), "must name at least one");
                    return None;
                }
                Some(texts)
            }
            other => self.string_value(other, at, key).map(|text| vec![text]),
        }
    }

    /// One of a closed set of spellings.
    pub(crate) fn choice<C: Choice>(&mut self, table: &Table, at: &str, key: &str) -> Option<C> {
        let value = self.required(table, at, key)?;
        self.choice_value(value, at, key)
    }

    /// One of a closed set of spellings, or absent.
    pub(crate) fn optional_choice<C: Choice>(
        &mut self,
        table: &Table,
        at: &str,
        key: &str,
    ) -> Option<C> {
        let value = table.get(key)?;
        self.choice_value(value, at, key)
    }

    fn choice_value<C: Choice>(&mut self, value: &Value, at: &str, key: &str) -> Option<C> {
        let text = self.string_value(value, at, key)?;
        let choice = C::parse_choice(text.trim());
        if choice.is_none() {
            self.problem(
                join(at, key),
                format!(
                    "unknown {} \"{text}\" (expected one of {})",
                    C::WHAT,
                    C::choices()
                ),
            );
        }
        choice
    }

    /// A list of choices (may be empty).
    pub(crate) fn choices<C: Choice>(
        &mut self,
        table: &Table,
        at: &str,
        key: &str,
    ) -> Option<Vec<C>> {
        let value = self.required(table, at, key)?;
        let Value::Array(items) = value else {
            self.wrong_type(at, key, "an array of strings", value);
            return None;
        };
        let mut all_valid = true;
        let mut chosen = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            match self.choice_value::<C>(item, at, &format!("{key}[{index}]")) {
                Some(choice) => chosen.push(choice),
                None => all_valid = false,
            }
        }
        all_valid.then_some(chosen)
    }

    /// An integer count of at least one.
    pub(crate) fn count(&mut self, table: &Table, at: &str, key: &str) -> Option<u32> {
        let value = self.required(table, at, key)?;
        match value {
            Value::Integer(n) if *n >= 1 && *n <= i64::from(u32::MAX) => u32::try_from(*n).ok(),
            Value::Integer(n) => {
                self.problem(join(at, key), format!("must be at least 1, found {n}"));
                None
            }
            other => {
                self.wrong_type(at, key, "a whole number", other);
                None
            }
        }
    }

    /// A plain number without unit (a ratio such as a drag coefficient).
    pub(crate) fn number(&mut self, table: &Table, at: &str, key: &str) -> Option<f64> {
        let value = self.required(table, at, key)?;
        let number = match value {
            Value::Float(x) => *x,
            Value::Integer(n) => *n as f64,
            other => {
                self.wrong_type(at, key, "a number without unit", other);
                return None;
            }
        };
        if number.is_finite() {
            Some(number)
        } else {
            self.problem(
                join(at, key),
                format!("must be a finite number, found {number}"),
            );
            None
        }
    }

    /// A boolean, `default` when absent.
    pub(crate) fn boolean(&mut self, table: &Table, at: &str, key: &str, default: bool) -> bool {
        match table.get(key) {
            None => default,
            Some(Value::Boolean(flag)) => *flag,
            Some(other) => {
                self.wrong_type(at, key, "true or false", other);
                default
            }
        }
    }

    /// A sub-table.
    pub(crate) fn table<'t>(&mut self, table: &'t Table, at: &str, key: &str) -> Option<&'t Table> {
        let value = self.required(table, at, key)?;
        self.table_value(value, at, key)
    }

    /// A sub-table that may be absent.
    pub(crate) fn optional_table<'t>(
        &mut self,
        table: &'t Table,
        at: &str,
        key: &str,
    ) -> Option<&'t Table> {
        let value = table.get(key)?;
        self.table_value(value, at, key)
    }

    fn table_value<'t>(&mut self, value: &'t Value, at: &str, key: &str) -> Option<&'t Table> {
        match value {
            Value::Table(inner) => Some(inner),
            other => {
                self.wrong_type(at, key, "a table", other);
                None
            }
        }
    }

    /// An array of tables.
    pub(crate) fn tables<'t>(
        &mut self,
        table: &'t Table,
        at: &str,
        key: &str,
    ) -> Option<Vec<&'t Table>> {
        let value = self.required(table, at, key)?;
        let Value::Array(items) = value else {
            self.wrong_type(at, key, "an array of tables", value);
            return None;
        };
        let mut tables = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            tables.push(self.table_value(item, at, &format!("{key}[{index}]"))?);
        }
        Some(tables)
    }

    /// A table of strings (`[notes]`), empty when absent.
    pub(crate) fn notes(
        &mut self,
        table: &Table,
        at: &str,
        key: &str,
    ) -> std::collections::BTreeMap<String, String> {
        let mut notes = std::collections::BTreeMap::new();
        let Some(inner) = self.optional_table(table, at, key) else {
            return notes;
        };
        let at = join(at, key);
        for (name, value) in inner {
            if let Some(text) = self.string_value(value, &at, name) {
                notes.insert(name.clone(), text);
            }
        }
        notes
    }

    /// Records every key of `table` that is not in `allowed`.
    pub(crate) fn known_keys(&mut self, table: &Table, at: &str, allowed: &[&str]) {
        for key in table.keys() {
            if !allowed.contains(&key.as_str()) {
                self.problem(
                    join(at, key),
                    format!("unknown field (expected one of {})", allowed.join(", ")),
                );
            }
        }
    }
}

/// Describes a TOML value for a type error: `the integer 360`.
fn describe(value: &Value) -> String {
    match value {
        Value::String(text) => format!("the string \"{text}\""),
        Value::Integer(n) => format!("the number {n}"),
        Value::Float(x) => format!("the number {x}"),
        Value::Boolean(flag) => format!("{flag}"),
        Value::Datetime(_) => "a date".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Table(_) => "a table".to_owned(),
    }
}

/// An example for a bare number given where a quantity is expected: `360` -> `360 V`.
fn example_of<D: Dimension>(value: &Value) -> String {
    let number = match value {
        Value::Integer(n) => n.to_string(),
        Value::Float(x) => x.to_string(),
        _ => "1".to_owned(),
    };
    format!("{number} {}", D::UNITS[0].symbol())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::Voltage;

    fn table(text: &str) -> Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_bare_number_for_a_quantity_suggests_the_unit() {
        let mut reader = Reader::new();
        let t = table("nominal_voltage = 360");
        assert!(reader
            .quantity::<Voltage>(&t, "", "nominal_voltage")
            .is_none());
        let problems = reader.into_problems();
        assert_eq!(problems[0].field, "nominal_voltage");
        assert_eq!(
            problems[0].reason,
            "expected a voltage written as a string with its unit, such as \"360 V\", found the number 360"
        );
    }

    #[test]
    fn missing_unknown_and_mistyped_fields_are_all_recorded() {
        let mut reader = Reader::new();
        let t = table("series = 0\nname = 3\nextra = true\n[cells]\n");
        assert!(reader.count(&t, "", "series").is_none());
        assert!(reader.string(&t, "", "name").is_none());
        assert!(reader.string(&t, "", "absent").is_none());
        reader.known_keys(&t, "", &["series", "name", "cells"]);
        let problems: Vec<String> = reader
            .into_problems()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            problems,
            [
                "series: must be at least 1, found 0",
                "name: expected a string, found the number 3",
                "absent: missing",
                "extra: unknown field (expected one of series, name, cells)",
            ]
        );
    }
}
