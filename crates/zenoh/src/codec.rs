//! The payload of a signal sample: the value as JSON, as `Value::to_json` writes it
//! (`42.5`, `true`, `"DRIVE"`, `[1, 2]`), `null` for a value that is not available.
//! Zenoh's encoding field says `application/json`, so any Zenoh client reads it.

use tomoe_vss::{Leaf, Value};

/// Largest payload accepted for one signal value.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// The payload of `value`. A `float` is written in the shortest form that reads back
/// as the same 32-bit number (`12.3`, not `12.300000190734863`).
pub fn encode(value: Option<&Value>) -> Vec<u8> {
    let json = match value {
        Some(Value::Float(v)) if v.is_finite() => serde_json::to_vec(v),
        Some(Value::FloatArray(v)) if v.iter().all(|x| x.is_finite()) => serde_json::to_vec(v),
        Some(value) => serde_json::to_vec(&value.to_json()),
        None => return b"null".to_vec(),
    };
    json.unwrap_or_else(|_| b"null".to_vec())
}

/// Why a payload is not a value of its signal.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Larger than [`MAX_VALUE_BYTES`].
    #[error("{0} bytes, more than the {MAX_VALUE_BYTES} a value may have")]
    TooLarge(usize),
    /// Not JSON, or nested deeper than the parser allows.
    #[error("not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// JSON, but not a value the signal can hold (type, range, allowed values).
    #[error("{0}")]
    Invalid(String),
}

/// The value of a payload for `leaf`, checked against its datatype and limits.
pub fn decode(leaf: &Leaf, payload: &[u8]) -> Result<Option<Value>, DecodeError> {
    if payload.len() > MAX_VALUE_BYTES {
        return Err(DecodeError::TooLarge(payload.len()));
    }
    let json: serde_json::Value = serde_json::from_slice(payload)?;
    if json.is_null() {
        return Ok(None);
    }
    let value = Value::from_json(&json, leaf.datatype).map_err(DecodeError::Invalid)?;
    leaf.check_value(&value)
        .map_err(|e| DecodeError::Invalid(e.to_string()))?;
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_bad_payloads_say_why() {
        let catalog = tomoe_vss::default_catalog().unwrap();
        let speed = catalog.leaf("Vehicle.Speed").unwrap();
        let payload = encode(Some(&Value::Float(42.5)));
        assert_eq!(payload, b"42.5");
        let short = encode(Some(&Value::Float(12.3)));
        assert_eq!(short, b"12.3");
        assert_eq!(decode(speed, &short).unwrap(), Some(Value::Float(12.3)));
        assert_eq!(decode(speed, &payload).unwrap(), Some(Value::Float(42.5)));
        assert_eq!(decode(speed, b"null").unwrap(), None);
        assert!(matches!(decode(speed, b"{"), Err(DecodeError::NotJson(_))));
        assert!(matches!(
            decode(speed, b"\"fast\""),
            Err(DecodeError::Invalid(_))
        ));
        let deep = "[".repeat(10_000);
        assert!(matches!(
            decode(speed, deep.as_bytes()),
            Err(DecodeError::NotJson(_))
        ));
        let huge = vec![b' '; MAX_VALUE_BYTES + 1];
        let error = decode(speed, &huge).unwrap_err();
        assert!(matches!(error, DecodeError::TooLarge(_)) && error.to_string().contains("bytes"));
    }
}
