//! The vehicle version manifest: what every ECU of a vehicle runs, signed by the
//! primary ECU and sent to the director (Uptane 5.4.2.1).
//!
//! A [`VehicleManifest`] lists one [`EcuVersionReport`] per ECU. The primary signs
//! it like TUF metadata: an Ed25519 signature over the OLPC canonical JSON of the
//! `signed` object, in the envelope `{"signatures": [{"keyid", "sig"}], "signed":
//! ...}` ([`SignedManifest`]). The director verifies it with the primary's public
//! key, registered for the vehicle out of band.
//!
//! Unlike Uptane's full design, the ECU reports are not signed by each ECU
//! separately: secondaries are not modelled yet, so the primary vouches for all.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::metadata::{
    canonical_json, count_valid_signatures, PublicKey, RawSigned, RoleKeys, Signature,
};
use crate::uptane::{Ecu, Primary};
use crate::OtaError;

/// What the vehicle runs, as the primary reports it to the director.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VehicleManifest {
    /// The vehicle's VIN.
    pub vin: String,
    /// The identifier of the primary ECU that signs the manifest.
    pub primary_ecu: String,
    /// One report per ECU.
    pub ecu_version_reports: Vec<EcuVersionReport>,
    /// A token the director gave the vehicle, echoed to prove freshness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// When the manifest was made, to the second (`2027-01-15T08:00:00Z`).
    #[serde(with = "rfc3339")]
    pub timestamp: SystemTime,
    /// How the updates the director assigned are going (what aktualizr sends as
    /// its installation report): the director's campaigns read them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub installation_reports: Vec<InstallationReport>,
}

/// Where an update the director assigned to one ECU stands on the vehicle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallationReport {
    /// The ECU the update is for.
    pub ecu_identifier: String,
    /// The target name of the assigned image.
    pub target: String,
    /// How far it got.
    pub status: InstallationStatus,
    /// Why it failed or was rolled back; empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// The stages of an update on the vehicle, as the director learns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallationStatus {
    /// The image is being downloaded and verified.
    Downloading,
    /// The image runs and passed its health window.
    Installed,
    /// The image was installed, failed its health window, and the previous one runs again.
    RolledBack,
    /// The update failed before the image ran (download, verification, the install itself).
    Failed,
}

impl InstallationStatus {
    /// The name used on the wire: `downloading`, `installed`, `rolled_back`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            InstallationStatus::Downloading => "downloading",
            InstallationStatus::Installed => "installed",
            InstallationStatus::RolledBack => "rolled_back",
            InstallationStatus::Failed => "failed",
        }
    }
}

/// What one ECU runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcuVersionReport {
    /// The ECU's identifier, unique in the vehicle.
    pub ecu_identifier: String,
    /// The image it runs.
    pub installed_image: ImageReport,
    /// The release counter of that image.
    pub release_counter: u64,
    /// The reason the last update was refused, if it was: how the director learns
    /// that a vehicle is under attack. Empty if none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub attacks_detected: String,
}

/// An installed image as the repositories describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageReport {
    /// The target name.
    pub filename: String,
    /// Its length in bytes.
    pub length: u64,
    /// Its hashes by algorithm (`sha256`, `sha512`), hex.
    pub hashes: BTreeMap<String, String>,
}

/// A manifest and the signatures over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedManifest {
    /// The signatures over the canonical JSON of `signed`.
    pub signatures: Vec<Signature>,
    /// The manifest.
    pub signed: VehicleManifest,
}

impl SignedManifest {
    /// Parses a signed manifest without checking its signatures, for a director
    /// that has no key registered for the vehicle.
    pub fn parse_unverified(bytes: &[u8]) -> Result<SignedManifest, OtaError> {
        serde_json::from_slice(bytes).map_err(|error| OtaError::InvalidManifest {
            reason: error.to_string(),
        })
    }

    /// The JSON sent to the director: indented, with a final newline.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a manifest serializes to JSON");
        bytes.push(b'\n');
        bytes
    }
}

impl EcuVersionReport {
    /// The report of `ecu`. The length and hashes of its image come from `image`,
    /// the target as a repository lists it, if known; otherwise the report has
    /// the SHA-256 the ECU knows and length 0.
    pub fn for_ecu(ecu: &Ecu, image: Option<&crate::metadata::TargetFile>) -> EcuVersionReport {
        let installed = &ecu.installed;
        let (length, hashes) = match image {
            Some(file) => (file.length, file.hashes.clone()),
            None => (
                0,
                BTreeMap::from([("sha256".to_string(), installed.sha256.clone())]),
            ),
        };
        EcuVersionReport {
            ecu_identifier: ecu.ecu_identifier.clone(),
            installed_image: ImageReport {
                filename: installed.target.clone(),
                length,
                hashes,
            },
            release_counter: installed.release_counter,
            attacks_detected: String::new(),
        }
    }
}

impl VehicleManifest {
    /// The manifest of what `primary`'s ECUs run at `now`, signed as `primary_ecu`.
    /// Image lengths and hashes come from the trusted image repository metadata
    /// when it lists the installed image.
    pub fn for_primary(primary: &Primary, primary_ecu: &str, now: SystemTime) -> VehicleManifest {
        let image_targets = primary.image_repository().targets();
        let ecu_version_reports = primary
            .ecus()
            .iter()
            .map(|ecu| {
                let listed =
                    image_targets.and_then(|targets| targets.targets.get(&ecu.installed.target));
                EcuVersionReport::for_ecu(ecu, listed)
            })
            .collect();
        VehicleManifest {
            vin: primary.vin().to_string(),
            primary_ecu: primary_ecu.to_string(),
            ecu_version_reports,
            nonce: None,
            timestamp: now,
            installation_reports: Vec::new(),
        }
    }
}

/// Signs `manifest` with the primary's `key`.
pub fn sign_manifest(
    manifest: &VehicleManifest,
    key: &SigningKey,
) -> Result<SignedManifest, OtaError> {
    let message = canonical_json(manifest)?;
    let signature = Signature {
        keyid: PublicKey::ed25519(&key.verifying_key()).key_id(),
        sig: hex::encode(key.sign(&message).to_bytes()),
        method: None,
    };
    Ok(SignedManifest {
        signatures: vec![signature],
        signed: manifest.clone(),
    })
}

/// Parses a signed manifest and checks that `primary_key` signed it. The
/// signature is checked over the `signed` object as received, so fields this
/// crate does not model are covered too.
pub fn verify_manifest(
    bytes: &[u8],
    primary_key: &VerifyingKey,
) -> Result<VehicleManifest, OtaError> {
    let raw =
        RawSigned::parse("vehicle manifest", bytes).map_err(|error| OtaError::InvalidManifest {
            reason: error.to_string(),
        })?;
    let public = PublicKey::ed25519(primary_key);
    let key_id = public.key_id();
    let role = RoleKeys {
        keyids: vec![key_id.clone()],
        threshold: 1,
    };
    let keys = BTreeMap::from([(key_id.clone(), public)]);
    if count_valid_signatures(&raw.signed, &raw.signatures, &keys, &role)? == 0 {
        return Err(OtaError::InvalidManifest {
            reason: format!("it is not signed by the primary's key {key_id}"),
        });
    }
    VehicleManifest::deserialize(&raw.signed).map_err(|error| OtaError::InvalidManifest {
        reason: error.to_string(),
    })
}

/// Reads an Ed25519 public key from a PEM file (`-----BEGIN PUBLIC KEY-----`, as
/// `openssl pkey -pubout` writes it), such as a primary's `primary.pub`.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, OtaError> {
    let text = fs::read_to_string(path).map_err(OtaError::io("read public key", path))?;
    VerifyingKey::from_public_key_pem(&text).map_err(|error| OtaError::InvalidKey {
        path: Some(path.to_owned()),
        reason: format!("not an Ed25519 public key in PEM ({error})"),
    })
}

/// `key` as a PEM public key file, the form [`read_public_key`] reads.
pub fn public_key_pem(key: &VerifyingKey) -> Result<String, OtaError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|error| OtaError::InvalidKey {
            path: None,
            reason: error.to_string(),
        })
}

/// Serde for a [`SystemTime`] as RFC 3339 to the second.
mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        time: &SystemTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_rfc3339_seconds(*time))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_rfc3339(&text).map_err(|error| {
            serde::de::Error::custom(format!("invalid timestamp \"{text}\": {error}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::generate_key;

    fn manifest() -> VehicleManifest {
        VehicleManifest {
            vin: "JT3HN86R0W0123456".into(),
            primary_ecu: "gateway-0001".into(),
            ecu_version_reports: vec![EcuVersionReport {
                ecu_identifier: "brake-ecu-0001".into(),
                installed_image: ImageReport {
                    filename: "brake-2.0.bin".into(),
                    length: 18,
                    hashes: BTreeMap::from([("sha256".into(), "ab".repeat(32))]),
                },
                release_counter: 2,
                attacks_detected: String::new(),
            }],
            nonce: Some("42".into()),
            timestamp: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            installation_reports: Vec::new(),
        }
    }

    #[test]
    fn signed_manifest_verifies_with_the_primary_key() {
        let key = generate_key();
        let signed = sign_manifest(&manifest(), &key).unwrap();
        let bytes = signed.to_file_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains("\"timestamp\": \"2027-01-15T08:00:00Z\""),
            "{text}"
        );
        assert!(!text.contains("attacks_detected"), "{text}");
        assert_eq!(
            verify_manifest(&bytes, &key.verifying_key()).unwrap(),
            manifest()
        );
        assert_eq!(SignedManifest::parse_unverified(&bytes).unwrap(), signed);
    }

    #[test]
    fn manifest_signed_by_another_key_is_refused() {
        let signed = sign_manifest(&manifest(), &generate_key()).unwrap();
        let error =
            verify_manifest(&signed.to_file_bytes(), &generate_key().verifying_key()).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid vehicle manifest: it is not signed by the primary's key"),
            "{error}"
        );
    }

    #[test]
    fn altered_manifest_is_refused() {
        let key = generate_key();
        let signed = sign_manifest(&manifest(), &key).unwrap();
        let mut value = serde_json::to_value(&signed).unwrap();
        value["signed"]["ecu_version_reports"][0]["release_counter"] = 9.into();
        let error = verify_manifest(&serde_json::to_vec(&value).unwrap(), &key.verifying_key())
            .unwrap_err();
        assert!(error.to_string().contains("not signed"), "{error}");
        // A field the model does not know is covered by the signature too.
        let mut value = serde_json::to_value(&signed).unwrap();
        value["signed"]["extra"] = "added".into();
        let bytes = serde_json::to_vec(&value).unwrap();
        assert!(verify_manifest(&bytes, &key.verifying_key()).is_err());
    }

    #[test]
    fn malformed_manifest_is_refused_with_a_reason() {
        let key = generate_key();
        let error = verify_manifest(b"{\"signed\": 1}", &key.verifying_key()).unwrap_err();
        assert!(
            error.to_string().starts_with("invalid vehicle manifest:"),
            "{error}"
        );
        let mut value = serde_json::to_value(sign_manifest(&manifest(), &key).unwrap()).unwrap();
        value["signed"]["timestamp"] = "yesterday".into();
        let resigned: serde_json::Value = value["signed"].clone();
        let message = canonical_json(&resigned).unwrap();
        value["signatures"][0]["sig"] = hex::encode(key.sign(&message).to_bytes()).into();
        let error = verify_manifest(&serde_json::to_vec(&value).unwrap(), &key.verifying_key())
            .unwrap_err();
        assert!(error.to_string().contains("invalid timestamp"), "{error}");
    }

    #[test]
    fn public_key_round_trips_through_pem() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate_key().verifying_key();
        let path = dir.path().join("primary.pub");
        fs::write(&path, public_key_pem(&key).unwrap()).unwrap();
        assert!(fs::read_to_string(&path)
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(read_public_key(&path).unwrap(), key);
        fs::write(&path, "garbage").unwrap();
        assert!(read_public_key(&path).is_err());
    }
}
