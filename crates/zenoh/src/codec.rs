//! The payload of a signal sample: the value as JSON, as `Value::to_json` writes it
//! (`42.5`, `true`, `"DRIVE"`, `[1, 2]`), `null` for a value that is not available.
//! Zenoh's encoding field says `application/json`, so any Zenoh client reads it.

use tomoe_vss::{Leaf, Value};

/// Largest payload accepted for one signal value.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// The payload of `value`.
pub fn encode(value: Option<&Value>) -> Vec<u8> {
    match value {
        Some(value) => serde_json::to_vec(&value.to_json()).unwrap_or_else(|_| b"null".to_vec()),
        None => b"null".to_vec(),
    }
}

/// The value of a payload for `leaf`, checked against its datatype and limits; the
/// error says what is wrong.
pub fn decode(leaf: &Leaf, payload: &[u8]) -> Result<Option<Value>, String> {
    if payload.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "{} bytes, more than the {MAX_VALUE_BYTES} a value may have",
            payload.len()
        ));
    }
    let json: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    if json.is_null() {
        return Ok(None);
    }
    let value = Value::from_json(&json, leaf.datatype)?;
    leaf.check_value(&value).map_err(|e| e.to_string())?;
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
        assert_eq!(decode(speed, &payload).unwrap(), Some(Value::Float(42.5)));
        assert_eq!(decode(speed, b"null").unwrap(), None);
        assert!(decode(speed, b"{").unwrap_err().contains("not JSON"));
        assert!(decode(speed, b"\"fast\"").is_err());
        let deep = "[".repeat(10_000);
        assert!(decode(speed, deep.as_bytes()).is_err());
        let huge = vec![b' '; MAX_VALUE_BYTES + 1];
        assert!(decode(speed, &huge).unwrap_err().contains("bytes"));
    }
}
