//! Signature verification by key type: Ed25519 (what Tomoe signs with) and
//! RSASSA-PSS with SHA-256 (what the Uptane reference implementation, aktualizr
//! and its OTA Connect server, sign with). RSA is for reading only: Tomoe's own
//! tooling signs with Ed25519.
//!
//! An RSA key is `{"keytype": "RSA", "keyval": {"public": "<PEM SPKI>"}}`, with
//! no scheme or `rsassa-pss-sha256` (also written `rsassa-pss`), any case; its
//! modulus must have [`MIN_RSA_KEY_BITS`] to [`MAX_RSA_KEY_BITS`] bits. A
//! signature is RSASSA-PSS with SHA-256 and MGF1-SHA256, base64, with a salt as
//! long as the digest (what aktualizr and OTA Connect write) or as long as the
//! key allows (OpenSSL's and python-cryptography's maximum).

use rsa::pkcs1::der::{Decode, Document};
use rsa::pkcs8::spki::SubjectPublicKeyInfoRef;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pss, RsaPublicKey};
use sha2::{Digest, Sha256};

use crate::metadata::{PublicKey, ED25519};

/// The smallest RSA key accepted, in bits of the modulus.
pub const MIN_RSA_KEY_BITS: usize = 2048;

/// The largest RSA key accepted, in bits of the modulus: verifying with a larger
/// key costs more than any signer needs.
pub const MAX_RSA_KEY_BITS: usize = 4096;

/// The RSA signature schemes accepted, compared without case.
const RSA_SCHEMES: [&str; 2] = ["rsassa-pss-sha256", "rsassa-pss"];

/// A public key ready to verify signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verifier {
    /// An Ed25519 key.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// An RSA key, for RSASSA-PSS with SHA-256.
    RsaPss(RsaPublicKey),
}

/// Why a key cannot verify anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// A key type or scheme this crate does not verify with, or a malformed
    /// Ed25519 key; the key is ignored.
    Unsupported(String),
    /// A key of a supported type that is malformed or of a size refused.
    Refused(String),
}

impl Verifier {
    /// The verifier for `key`.
    pub(crate) fn of(key: &PublicKey) -> Result<Verifier, KeyError> {
        let scheme = if key.scheme.is_empty() {
            &key.keytype
        } else {
            &key.scheme
        };
        if key.keytype.eq_ignore_ascii_case(ED25519) && scheme.eq_ignore_ascii_case(ED25519) {
            // A malformed Ed25519 key verifies nothing and is skipped, as before
            // RSA keys were read.
            return key
                .verifying_key()
                .map(Verifier::Ed25519)
                .map_err(KeyError::Unsupported);
        }
        let rsa_scheme = key.scheme.is_empty()
            || RSA_SCHEMES
                .iter()
                .any(|known| known.eq_ignore_ascii_case(&key.scheme));
        if key.keytype.eq_ignore_ascii_case("rsa") && rsa_scheme {
            return rsa_public_key(&key.keyval.public)
                .map(Verifier::RsaPss)
                .map_err(KeyError::Refused);
        }
        Err(KeyError::Unsupported(format!(
            "unsupported key type \"{}\" with scheme \"{}\"",
            key.keytype, key.scheme
        )))
    }

    /// Whether `signature` over `message` verifies, given the signature's
    /// `method` (if any), which must fit the key's type.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8], method: Option<&str>) -> bool {
        match self {
            Verifier::Ed25519(key) => {
                if method.is_some_and(|method| !method.eq_ignore_ascii_case(ED25519)) {
                    return false;
                }
                let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
                    return false;
                };
                ed25519_dalek::Verifier::verify(key, message, &signature).is_ok()
            }
            Verifier::RsaPss(key) => {
                if method.is_some_and(|method| {
                    !RSA_SCHEMES
                        .iter()
                        .any(|known| known.eq_ignore_ascii_case(method))
                }) {
                    return false;
                }
                verify_pss(key, message, signature)
            }
        }
    }
}

/// RSASSA-PSS with SHA-256 and MGF1-SHA256: salt as long as the digest, else
/// as long as the key allows.
fn verify_pss(key: &RsaPublicKey, message: &[u8], signature: &[u8]) -> bool {
    if signature.len() != key.size() {
        return false;
    }
    let digest = Sha256::digest(message);
    let hash_len = <Sha256 as Digest>::output_size();
    let em_len = (key.n().bits() - 1).div_ceil(8);
    let max_salt = em_len.saturating_sub(hash_len + 2);
    [hash_len, max_salt].into_iter().any(|salt_len| {
        key.verify(Pss::new_with_salt::<Sha256>(salt_len), &digest, signature)
            .is_ok()
    })
}

/// Reads a PEM SubjectPublicKeyInfo RSA key, refusing one outside
/// [`MIN_RSA_KEY_BITS`]..=[`MAX_RSA_KEY_BITS`].
fn rsa_public_key(pem: &str) -> Result<RsaPublicKey, String> {
    let (label, document) =
        Document::from_pem(pem).map_err(|error| format!("RSA public key is not PEM: {error}"))?;
    if label != "PUBLIC KEY" {
        return Err(format!(
            "RSA public key is PEM \"{label}\", not a \"PUBLIC KEY\" (SubjectPublicKeyInfo)"
        ));
    }
    let info = SubjectPublicKeyInfoRef::from_der(document.as_bytes())
        .map_err(|error| format!("RSA public key is not a SubjectPublicKeyInfo: {error}"))?;
    if info.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
        return Err(format!(
            "the PEM key is not an RSA key (algorithm {})",
            info.algorithm.oid
        ));
    }
    let bytes = info
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| "RSA public key bit string is not whole bytes".to_string())?;
    let parts = rsa::pkcs1::RsaPublicKey::from_der(bytes)
        .map_err(|error| format!("RSA public key is malformed: {error}"))?;
    let n = BigUint::from_bytes_be(parts.modulus.as_bytes());
    let e = BigUint::from_bytes_be(parts.public_exponent.as_bytes());
    let bits = n.bits();
    if !(MIN_RSA_KEY_BITS..=MAX_RSA_KEY_BITS).contains(&bits) {
        return Err(format!(
            "RSA key of {bits} bits; only {MIN_RSA_KEY_BITS} to {MAX_RSA_KEY_BITS} bits are accepted"
        ));
    }
    RsaPublicKey::new(n, e).map_err(|error| format!("RSA public key is invalid: {error}"))
}

/// The canonical JSON the Uptane reference implementation signs: keys sorted, no
/// whitespace, like OLPC canonical JSON, but with strings escaped as standard
/// JSON does (a PEM key's line breaks as `\n`, where OLPC writes them raw).
/// Where `value` has no control character in a string, this is the OLPC form.
///
/// Accepting a signature over either form opens nothing: the escaped form has no
/// raw control character and the OLPC form of a string with one always does, so
/// the two texts are equal only for the same value.
pub(crate) fn escaped_canonical_json(value: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_escaped(value, &mut out);
    out
}

fn write_escaped(value: &serde_json::Value, out: &mut Vec<u8>) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_escaped(value, out);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_escaped(item, out);
            }
            out.push(b']');
        }
        serde_json::Value::String(text) => write_string(text, out),
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn write_string(text: &str, out: &mut Vec<u8>) {
    let escaped = serde_json::to_string(text).expect("a string serializes to JSON");
    out.extend_from_slice(escaped.as_bytes());
}

/// Whether `value` has a string (or key) with a control character, where the
/// escaped canonical form differs from the OLPC one.
pub(crate) fn has_control_characters(value: &serde_json::Value) -> bool {
    let control = |text: &str| text.chars().any(char::is_control);
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(key, value)| control(key) || has_control_characters(value)),
        serde_json::Value::Array(items) => items.iter().any(has_control_characters),
        serde_json::Value::String(text) => control(text),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_escaped_form_differs_from_olpc_only_for_control_characters() {
        let value = serde_json::json!({"b": "line\nbreak \"q\" \\", "a": [1, true, null]});
        assert_eq!(
            String::from_utf8(escaped_canonical_json(&value)).unwrap(),
            r#"{"a":[1,true,null],"b":"line\nbreak \"q\" \\"}"#
        );
        assert!(has_control_characters(&value));
        let plain = serde_json::json!({"b": "é/x", "a": {"z": 1, "y": [2]}});
        assert!(!has_control_characters(&plain));
        assert_eq!(
            escaped_canonical_json(&plain),
            crate::metadata::canonical_json(&plain).unwrap()
        );
    }

    #[test]
    fn key_types_and_methods_must_match() {
        let ed25519 = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let public = PublicKey::ed25519(&ed25519.verifying_key());
        let verifier = Verifier::of(&public).unwrap();
        let signature = ed25519_dalek::Signer::sign(&ed25519, b"message").to_bytes();
        assert!(verifier.verify(b"message", &signature, None));
        assert!(verifier.verify(b"message", &signature, Some("ED25519")));
        assert!(!verifier.verify(b"message", &signature, Some("rsassa-pss-sha256")));
        assert!(!verifier.verify(b"other", &signature, None));

        let mut rsa = public.clone();
        rsa.keytype = "RSA".into();
        rsa.scheme = String::new();
        assert!(matches!(Verifier::of(&rsa), Err(KeyError::Refused(_))));
        let mut short = PublicKey::ed25519(&ed25519.verifying_key());
        short.keyval.public = "00".into();
        assert!(matches!(
            Verifier::of(&short),
            Err(KeyError::Unsupported(_))
        ));
        rsa.scheme = "rsassa-pkcs1v15-sha256".into();
        assert!(matches!(Verifier::of(&rsa), Err(KeyError::Unsupported(_))));
        let mut ecdsa = public;
        ecdsa.keytype = "ecdsa".into();
        assert!(matches!(
            Verifier::of(&ecdsa),
            Err(KeyError::Unsupported(_))
        ));
    }
}
