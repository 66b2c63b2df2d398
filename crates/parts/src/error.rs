//! The errors of this crate.

use std::fmt;

/// One thing wrong with a file: the field (dotted path) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, for example `cells.series` or `platform.drivetrain.min_voltage`.
    pub field: String,
    /// What is wrong, lowercase and without a final period.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// A parts file, catalog or platform section that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PartsError {
    /// A file or directory cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or directory.
        path: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid TOML.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The TOML parser's message.
        message: String,
    },
    /// A file is valid TOML but breaks the schema: every problem found, one per line.
    #[error("{}", list_problems(path, problems))]
    Invalid {
        /// The file (or where the table came from).
        path: String,
        /// Every problem of the file.
        problems: Vec<Problem>,
    },
    /// Two files of a catalog define the same part id.
    #[error("{path}: part id \"{id}\" is already defined in {first}")]
    DuplicateId {
        /// The id.
        id: String,
        /// The second file.
        path: String,
        /// The first file.
        first: String,
    },
    /// Several files of a catalog are invalid: each error on its own line(s).
    #[error("{}", list_errors(errors))]
    Catalog {
        /// The errors, in file order.
        errors: Vec<PartsError>,
    },
}

impl PartsError {
    /// The problems of an [`PartsError::Invalid`] error (empty for other kinds).
    pub fn problems(&self) -> &[Problem] {
        match self {
            PartsError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn list_problems(path: &str, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|problem| format!("{path}: {problem}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn list_errors(errors: &[PartsError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_a_line_naming_file_and_field() {
        let error = PartsError::Invalid {
            path: "parts/x.toml".into(),
            problems: vec![
                Problem {
                    field: "mass".into(),
                    reason: "missing".into(),
                },
                Problem {
                    field: "cells.series".into(),
                    reason: "must be at least 1".into(),
                },
            ],
        };
        assert_eq!(
            error.to_string(),
            "parts/x.toml: mass: missing\nparts/x.toml: cells.series: must be at least 1"
        );
        assert_eq!(error.problems().len(), 2);
    }
}
