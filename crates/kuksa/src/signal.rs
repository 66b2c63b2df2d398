//! v2 `SignalID`s: a signal named by its VSS path or by its numeric id.
//!
//! Clients build them with [`signal_by_path`] and [`signal_by_id`]; receivers
//! (the broker's front end, a provider reading actuation requests) take them
//! apart with [`signal_of`] and look the path or id up in their own tables.

use kuksa_rust_sdk::v2_proto as v2;

pub use v2::signal_id::Signal;

/// Why a v2 `SignalID` names no signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalIdError {
    /// The `SignalID` (or its `signal` oneof) is missing.
    #[error("no signal id provided: set either path or id")]
    Missing,
}

/// The v2 `SignalID` of the signal at `path`.
pub fn signal_by_path(path: &str) -> v2::SignalId {
    v2::SignalId {
        signal: Some(Signal::Path(path.to_owned())),
    }
}

/// The v2 `SignalID` of the signal with the numeric `id`.
pub fn signal_by_id(id: i32) -> v2::SignalId {
    v2::SignalId {
        signal: Some(Signal::Id(id)),
    }
}

/// The path or id a v2 `SignalID` names.
///
/// # Errors
///
/// [`SignalIdError::Missing`] when neither is set.
///
/// # Example
///
/// ```
/// use tomoe_kuksa::signal::{signal_by_path, signal_of, Signal};
///
/// let signal = signal_of(Some(signal_by_path("Vehicle.Speed")));
/// assert_eq!(signal, Ok(Signal::Path("Vehicle.Speed".into())));
/// assert!(signal_of(None).is_err());
/// ```
pub fn signal_of(signal_id: Option<v2::SignalId>) -> Result<Signal, SignalIdError> {
    signal_id
        .and_then(|id| id.signal)
        .ok_or(SignalIdError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_ids_name_a_path_or_an_id() {
        let check = |signal_id: Option<v2::SignalId>, expected: Result<Signal, SignalIdError>| {
            assert_eq!(signal_of(signal_id.clone()), expected, "{signal_id:?}");
        };
        check(
            Some(signal_by_path("Vehicle.Speed")),
            Ok(Signal::Path("Vehicle.Speed".into())),
        );
        check(Some(signal_by_id(7)), Ok(Signal::Id(7)));
        check(
            Some(v2::SignalId { signal: None }),
            Err(SignalIdError::Missing),
        );
        check(None, Err(SignalIdError::Missing));
    }

    #[test]
    fn a_missing_id_says_what_to_set() {
        assert_eq!(
            SignalIdError::Missing.to_string(),
            "no signal id provided: set either path or id"
        );
    }
}
