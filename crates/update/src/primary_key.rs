//! The primary ECU's signing key, made on first start.

use std::path::Path;

use ed25519_dalek::SigningKey;
use tomoe_ota::{generate_key, public_key_pem, read_key, write_key};

use crate::error::UpdateError;

/// The primary's private key (PKCS#8 PEM, mode 0600), in the OTA root.
pub const PRIMARY_KEY_FILE: &str = "primary.key";
/// The primary's public key (PEM), in the OTA root: register it with the director.
pub const PRIMARY_PUBLIC_KEY_FILE: &str = "primary.pub";

/// Loads the primary's signing key from `<root>/primary.key`, making it on first
/// start, and writes its public half to `<root>/primary.pub` when that file does
/// not hold it.
pub fn primary_key(root: &Path) -> Result<SigningKey, UpdateError> {
    let path = root.join(PRIMARY_KEY_FILE);
    let key = if path.exists() {
        read_key(&path).map_err(UpdateError::Key)?
    } else {
        let key = generate_key();
        write_key(&path, &key).map_err(UpdateError::Key)?;
        tracing::info!(path = %path.display(), "made the primary's key");
        key
    };
    let public = root.join(PRIMARY_PUBLIC_KEY_FILE);
    let pem = public_key_pem(&key.verifying_key()).map_err(UpdateError::Key)?;
    if std::fs::read_to_string(&public).ok().as_deref() != Some(pem.as_str()) {
        let temporary = root.join(format!("{PRIMARY_PUBLIC_KEY_FILE}.tmp"));
        std::fs::write(&temporary, &pem)
            .and_then(|()| std::fs::rename(&temporary, &public))
            .map_err(UpdateError::io("write", &public))?;
    }
    tracing::info!(path = %public.display(), "the primary's public key, to register with the director");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_and_its_public_half_kept_current() {
        let dir = tempfile::tempdir().unwrap();
        let first = primary_key(dir.path()).unwrap();
        let public = dir.path().join(PRIMARY_PUBLIC_KEY_FILE);
        std::fs::write(&public, "stale").unwrap();
        let second = primary_key(dir.path()).unwrap();
        assert_eq!(first.to_bytes(), second.to_bytes());
        assert_eq!(
            std::fs::read_to_string(&public).unwrap(),
            public_key_pem(&first.verifying_key()).unwrap()
        );
    }

    #[test]
    fn a_damaged_key_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PRIMARY_KEY_FILE), "not a key").unwrap();
        let error = primary_key(dir.path()).unwrap_err().to_string();
        assert!(error.contains(PRIMARY_KEY_FILE), "{error}");
    }
}
