//! Parsing of the string forms.

/// A name that is none of a type's string forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} \"{name}\" (expected {expected})")]
pub struct UnknownName {
    /// What was being named (`vehicle mode`, `workload state`, ...).
    pub what: &'static str,
    /// The name given.
    pub name: String,
    /// The accepted names, as a readable list.
    pub expected: String,
}

/// `A, B or C`.
pub(crate) fn either(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Implements `as_str`-based `Display`, case-insensitive `FromStr`, and serde
/// through the string form for a fieldless enum with an `ALL` constant.
macro_rules! string_enum {
    ($type:ident, $what:literal) => {
        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $type {
            type Err = $crate::UnknownName;

            fn from_str(text: &str) -> Result<$type, $crate::UnknownName> {
                $type::ALL
                    .into_iter()
                    .find(|value| value.as_str().eq_ignore_ascii_case(text))
                    .ok_or_else(|| $crate::UnknownName {
                        what: $what,
                        name: text.to_owned(),
                        expected: $crate::names::either(&$type::ALL.map($type::as_str)),
                    })
            }
        }

        impl TryFrom<String> for $type {
            type Error = $crate::UnknownName;

            fn try_from(text: String) -> Result<$type, $crate::UnknownName> {
                text.parse()
            }
        }

        impl From<$type> for &'static str {
            fn from(value: $type) -> &'static str {
                value.as_str()
            }
        }
    };
}

pub(crate) use string_enum;
