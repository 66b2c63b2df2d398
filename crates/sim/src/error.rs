//! The one error type of the simulator crate.

/// Parameters or a drive cycle that the simulator refuses.
///
/// The simulation itself never fails: once a [`Simulator`](crate::Simulator) exists,
/// every step returns a sample, and physical limits are reported in the sample.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A parameter is impossible or out of its plausible range.
    #[error("invalid parameter {field}: {problem}")]
    InvalidParameter {
        /// The parameter's path, such as `battery.internal_resistance_ohm`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A drive-cycle table that cannot be read.
    #[error("drive cycle \"{name}\": line {line}: {problem}")]
    InvalidCycle {
        /// The cycle's name as given to [`Cycle::from_csv`](crate::Cycle::from_csv).
        name: String,
        /// The 1-based line of the CSV text; 0 when the table as a whole is wrong.
        line: usize,
        /// What is wrong.
        problem: String,
    },
}

impl SimError {
    pub(crate) fn parameter(field: impl Into<String>, problem: impl Into<String>) -> SimError {
        SimError::InvalidParameter {
            field: field.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn cycle(name: &str, line: usize, problem: impl Into<String>) -> SimError {
        SimError::InvalidCycle {
            name: name.to_owned(),
            line,
            problem: problem.into(),
        }
    }

    /// The parameter a [`SimError::InvalidParameter`] names, if it is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            SimError::InvalidParameter { field, .. } => Some(field),
            SimError::InvalidCycle { .. } => None,
        }
    }
}
