//! Ed25519 signing keys for repository roles, stored as PKCS#8 PEM files.

use std::fs;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, KeypairBytes};
use ed25519_dalek::SigningKey;

use crate::metadata::{KeyId, PublicKey};
use crate::OtaError;

/// A new random Ed25519 signing key.
pub fn generate_key() -> SigningKey {
    SigningKey::generate(&mut rand_core::OsRng)
}

/// The TUF key id of `key`'s public half.
pub fn key_id(key: &SigningKey) -> KeyId {
    PublicKey::ed25519(&key.verifying_key()).key_id()
}

/// Writes `key` to a new file at `path` as PKCS#8 v1 PEM (the private key alone,
/// as `openssl genpkey` writes it: OpenSSL 3 does not read the v2 form with the
/// public key), readable only by the owner on Unix. An existing file is never
/// replaced: losing a role key is an incident.
pub fn write_key(path: &Path, key: &SigningKey) -> Result<(), OtaError> {
    let pem = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .map_err(|error| OtaError::InvalidKey {
        path: Some(path.to_owned()),
        reason: error.to_string(),
    })?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(OtaError::io("create key file", path))?;
    file.write_all(pem.as_bytes())
        .map_err(OtaError::io("write key file", path))
}

/// Reads a PKCS#8 PEM Ed25519 key, such as one `openssl genpkey -algorithm ed25519` makes.
pub fn read_key(path: &Path) -> Result<SigningKey, OtaError> {
    let text = fs::read_to_string(path).map_err(OtaError::io("read key file", path))?;
    SigningKey::from_pkcs8_pem(&text).map_err(|error| OtaError::InvalidKey {
        path: Some(path.to_owned()),
        reason: format!("not a PKCS#8 Ed25519 private key ({error})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_through_pem_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("targets.pem");
        let key = generate_key();
        write_key(&path, &key).unwrap();
        assert!(fs::read_to_string(&path)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(read_key(&path).unwrap().to_bytes(), key.to_bytes());
        assert_eq!(key_id(&read_key(&path).unwrap()), key_id(&key));
    }

    #[test]
    fn keys_are_written_as_openssl_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("targets.pem");
        write_key(&path, &generate_key()).unwrap();
        let pem = fs::read_to_string(&path).unwrap();
        // PKCS#8 v1 of an Ed25519 key is 48 bytes of DER: 64 characters of base64.
        let base64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(base64.len(), 64, "{pem}");
        if let Ok(output) = std::process::Command::new("openssl")
            .args(["pkey", "-noout", "-in"])
            .arg(&path)
            .output()
        {
            assert!(
                output.status.success(),
                "openssl cannot read the key: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    #[test]
    fn existing_key_file_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.pem");
        write_key(&path, &generate_key()).unwrap();
        let error = write_key(&path, &generate_key()).unwrap_err();
        assert!(
            error.to_string().starts_with("cannot create key file"),
            "{error}"
        );
    }

    #[test]
    fn garbage_key_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.pem");
        fs::write(&path, "not a key").unwrap();
        let error = read_key(&path).unwrap_err();
        assert!(error.to_string().contains("bad.pem"), "{error}");
    }
}
