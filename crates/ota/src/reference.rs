//! Reading metadata as the Uptane reference implementation (aktualizr and its
//! servers) writes it, besides Tomoe's own spelling:
//!
//! - signatures carry a `method` (`ed25519`, or `rsassa-pss-sha256` also
//!   written `rsassa-pss`; any other is refused) and a `sig` in base64 (88
//!   characters for Ed25519's 64 bytes) where Tomoe writes hex (128 characters);
//! - keys may be RSA (`"keytype": "RSA"`, a PEM SubjectPublicKeyInfo), verified
//!   with RSASSA-PSS and SHA-256 over the canonical JSON of `signed`, with
//!   strings escaped as standard JSON does (see [`crate::MIN_RSA_KEY_BITS`] for
//!   the sizes accepted); for reading only, Tomoe signs with Ed25519;
//! - a root may name roles Tomoe does not know (aktualizr's `offline-snapshot`,
//!   `offline-updates`): they are ignored, still covered by the signature;
//! - key ids are opaque labels: a key is found by the id its root lists, never
//!   by recomputing a hash of it;
//! - a target's `custom` object names its ECUs as `ecuIdentifiers: {"<serial>":
//!   {"hardwareId": "<hw>"}}` (director) and its hardware as `hardwareIds:
//!   ["<hw>", ...]` (image repository), with optional `targetFormat` and a
//!   `version` string, and no release counter (read as 0).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The signature methods accepted: Ed25519, and RSASSA-PSS with SHA-256 in the
/// reference implementation's two spellings.
const METHODS: [&str; 3] = ["ed25519", "rsassa-pss-sha256", "rsassa-pss"];

/// Checks a signature's `method`, if it gives one.
pub(crate) fn check_method(method: Option<&str>) -> Result<(), String> {
    match method {
        None => Ok(()),
        Some(method)
            if METHODS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(method)) =>
        {
            Ok(())
        }
        Some(method) => Err(format!(
            "signature method \"{method}\" is not supported; only ed25519 and rsassa-pss-sha256 are"
        )),
    }
}

/// The bytes of a signature written in hex (Tomoe, TUF) or base64 (the Uptane
/// reference implementation), told apart by length and alphabet: an Ed25519
/// signature is 128 hex characters or 88 base64 characters.
pub(crate) fn decode_signature(sig: &str) -> Option<Vec<u8>> {
    if sig.len().is_multiple_of(2) && sig.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return hex::decode(sig).ok();
    }
    decode_base64(sig)
}

/// Decodes standard base64 (RFC 4648 §4) with or without `=` padding.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be padding zeros, and fewer than a character's worth.
    (bits < 6 && buffer == 0).then_some(bytes)
}

/// A target's Uptane fields in either spelling.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UptaneFields {
    /// The ECUs the director assigns the target to, with the hardware id it
    /// gives for each (empty in the image repository).
    pub ecus: Vec<(String, String)>,
    /// The hardware the image is built for (image repository; one or more).
    pub hardware_ids: Vec<String>,
    /// The release counter; 0 when not given (the reference implementation has none).
    pub release_counter: u64,
}

#[derive(Debug, Deserialize)]
struct Wire {
    ecu_identifier: Option<String>,
    hardware_identifier: Option<String>,
    release_counter: Option<u64>,
    #[serde(rename = "ecuIdentifiers")]
    ecu_identifiers: Option<BTreeMap<String, EcuEntry>>,
    #[serde(rename = "hardwareIds")]
    hardware_ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct EcuEntry {
    #[serde(rename = "hardwareId")]
    hardware_id: String,
}

/// Reads the Uptane fields of a target's `custom` object, in Tomoe's spelling
/// (`ecu_identifier`, `hardware_identifier`, `release_counter`) or the
/// reference implementation's (`ecuIdentifiers`, `hardwareIds`).
pub(crate) fn parse_custom(custom: &serde_json::Value) -> Result<UptaneFields, String> {
    let wire: Wire = serde_json::from_value(custom.clone())
        .map_err(|error| format!("invalid custom Uptane fields: {error}"))?;
    let mut fields = UptaneFields {
        release_counter: wire.release_counter.unwrap_or(0),
        ..UptaneFields::default()
    };
    if let Some(hardware) = &wire.hardware_identifier {
        fields.hardware_ids.push(hardware.clone());
    }
    fields
        .hardware_ids
        .extend(wire.hardware_ids.into_iter().flatten());
    if let Some(ecu) = wire.ecu_identifier {
        let hardware = wire.hardware_identifier.clone().ok_or_else(|| {
            "invalid custom Uptane fields: \"ecu_identifier\" without \"hardware_identifier\""
                .to_string()
        })?;
        fields.ecus.push((ecu, hardware));
    }
    for (ecu, entry) in wire.ecu_identifiers.into_iter().flatten() {
        fields.ecus.push((ecu, entry.hardware_id));
    }
    if fields.hardware_ids.is_empty() && fields.ecus.is_empty() {
        return Err(
            "invalid custom Uptane fields: no hardware id (\"hardware_identifier\" or \"hardwareIds\")"
                .into(),
        );
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_hex_signatures_decode_to_the_same_bytes() {
        let bytes: Vec<u8> = (0..64).collect();
        let hex = hex::encode(&bytes);
        let base64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
        assert_eq!(base64.len(), 88);
        assert_eq!(decode_signature(&hex).unwrap(), bytes);
        assert_eq!(decode_signature(base64).unwrap(), bytes);
        assert_eq!(decode_base64("TWFu").unwrap(), b"Man");
        assert_eq!(decode_base64("TWE=").unwrap(), b"Ma");
        assert_eq!(decode_base64("TQ==").unwrap(), b"M");
        assert!(decode_signature("not a signature!").is_none());
        assert!(decode_base64("TR==").is_none());
    }

    #[test]
    fn methods_other_than_ed25519_and_rsassa_pss_are_refused() {
        assert!(check_method(None).is_ok());
        assert!(check_method(Some("ed25519")).is_ok());
        assert!(check_method(Some("ED25519")).is_ok());
        assert!(check_method(Some("rsassa-pss-sha256")).is_ok());
        assert!(check_method(Some("RSASSA-PSS")).is_ok());
        assert_eq!(
            check_method(Some("rsassa-pkcs1v15-sha256")).unwrap_err(),
            "signature method \"rsassa-pkcs1v15-sha256\" is not supported; only ed25519 and rsassa-pss-sha256 are"
        );
    }

    #[test]
    fn both_spellings_of_the_custom_fields_are_read() {
        let reference = serde_json::json!({
            "ecuIdentifiers": {"serial-1": {"hardwareId": "hw-a"}},
            "targetFormat": "BINARY",
            "version": "2.0"
        });
        let fields = parse_custom(&reference).unwrap();
        assert_eq!(fields.ecus, [("serial-1".to_string(), "hw-a".to_string())]);
        assert_eq!(fields.release_counter, 0);
        let image = serde_json::json!({"hardwareIds": ["hw-a", "hw-b"]});
        assert_eq!(parse_custom(&image).unwrap().hardware_ids, ["hw-a", "hw-b"]);
        let tomoe = serde_json::json!({
            "ecu_identifier": "brake",
            "hardware_identifier": "hw-a",
            "release_counter": 3
        });
        let fields = parse_custom(&tomoe).unwrap();
        assert_eq!(fields.ecus, [("brake".to_string(), "hw-a".to_string())]);
        assert_eq!(fields.hardware_ids, ["hw-a"]);
        assert_eq!(fields.release_counter, 3);
        assert!(parse_custom(&serde_json::json!({})).is_err());
    }
}
