//! Errors of catalog loading and value checking.

use crate::{DataType, Value};

/// A catalog or overlay that cannot be used, with the file, the node and the problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}: {}{problem}", node_prefix(.node))]
pub struct CatalogError {
    /// Where the bad data came from (a file path or a name such as `embedded VSS 5.1`).
    pub origin: String,
    /// The VSS path of the offending node; empty when the problem is the file as a whole.
    pub node: String,
    /// What is wrong.
    pub problem: String,
}

fn node_prefix(node: &str) -> String {
    if node.is_empty() {
        String::new()
    } else {
        format!("node \"{node}\": ")
    }
}

impl CatalogError {
    pub(crate) fn new(origin: &str, node: &str, problem: impl Into<String>) -> CatalogError {
        CatalogError {
            origin: origin.to_owned(),
            node: node.to_owned(),
            problem: problem.into(),
        }
    }
}

/// A value that may not be written to a leaf.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The value's wire type is not the one the leaf's datatype uses.
    #[error("wrong type for \"{path}\": expected {expected}, got {found}")]
    WrongType {
        /// The leaf.
        path: String,
        /// The leaf's datatype.
        expected: DataType,
        /// The wire type that was sent.
        found: &'static str,
    },
    /// The value lies outside the leaf's `min`/`max` or its datatype's range.
    #[error("value {value} is out of range for \"{path}\" (allowed range {range})")]
    OutOfRange {
        /// The leaf.
        path: String,
        /// The refused value.
        value: Value,
        /// The allowed range, as text such as `0..=100`.
        range: String,
    },
    /// A floating-point value that is not a finite number (NaN or infinite).
    #[error("value {value} for \"{path}\" is not a finite number")]
    NotFinite {
        /// The leaf.
        path: String,
        /// The refused value.
        value: Value,
    },
    /// The value is not one of the leaf's `allowed` values.
    #[error("value {value} is not allowed for \"{path}\" (allowed: {})", .allowed.join(", "))]
    NotAllowed {
        /// The leaf.
        path: String,
        /// The refused value.
        value: Value,
        /// The allowed values.
        allowed: Vec<String>,
    },
}
