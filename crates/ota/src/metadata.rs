//! TUF metadata as serde types: the four top-level roles, the signature envelope,
//! Ed25519 keys and the Uptane fields carried in a target's `custom` object.
//! Signatures by the Uptane reference implementation's RSA keys (RSASSA-PSS with
//! SHA-256) are verified too, never made (see [`crate::reference`](mod@crate::reference)).
//!
//! The JSON follows the TUF specification 1.0 so that existing TUF tools read it:
//! `_type`, `spec_version`, `version` and `expires` on every role, keys as
//! `{"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": "<hex>"}}`,
//! key ids as the SHA-256 of the key's canonical JSON, and signatures (hex) over the
//! OLPC canonical JSON of the `signed` object.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256, Sha512};

use crate::verify::{KeyError, Verifier};
use crate::OtaError;

/// The TUF specification version written into every role.
pub const SPEC_VERSION: &str = "1.0.31";

/// The key type and signature scheme of every key: Ed25519.
pub const ED25519: &str = "ed25519";

/// One of the four top-level TUF roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    /// Root: names the keys and thresholds of every top-level role.
    Root,
    /// Targets: lists the images with their lengths, hashes and Uptane fields.
    Targets,
    /// Snapshot: lists the version of every targets metadata file.
    Snapshot,
    /// Timestamp: names the current snapshot; re-signed often against freeze attacks.
    Timestamp,
}

impl RoleName {
    /// The role's name as written in metadata, such as `timestamp`.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleName::Root => "root",
            RoleName::Targets => "targets",
            RoleName::Snapshot => "snapshot",
            RoleName::Timestamp => "timestamp",
        }
    }

    /// The file name the role is published under, such as `timestamp.json`.
    pub fn file_name(self) -> String {
        format!("{}.json", self.as_str())
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// An expiry time, whole seconds, written as `2030-01-01T00:00:00Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expiry(SystemTime);

impl Expiry {
    /// The expiry `lifetime` after `now`, truncated to whole seconds.
    pub fn after(now: SystemTime, lifetime: Duration) -> Expiry {
        let at = now + lifetime;
        let seconds = at
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or(0);
        Expiry(UNIX_EPOCH + Duration::from_secs(seconds))
    }

    /// The expiry as a time.
    pub fn time(self) -> SystemTime {
        self.0
    }

    /// Whether metadata with this expiry is expired at `now`.
    pub fn is_expired(self, now: SystemTime) -> bool {
        now >= self.0
    }
}

impl fmt::Display for Expiry {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", humantime::format_rfc3339_seconds(self.0))
    }
}

impl Serialize for Expiry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Expiry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_rfc3339(&text)
            .map(Expiry)
            .map_err(|error| {
                serde::de::Error::custom(format!("invalid expiry \"{text}\": {error}"))
            })
    }
}

/// A key id: the hex SHA-256 of the key's canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub String);

impl fmt::Display for KeyId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// A public key in TUF form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey {
    /// The key type: `ed25519`, or `RSA` (any case) for verifying the Uptane
    /// reference implementation's metadata.
    pub keytype: String,
    /// The signature scheme: `ed25519`, or `rsassa-pss-sha256` for an RSA key.
    /// Optional when read: the Uptane reference implementation gives the key type
    /// alone.
    #[serde(default)]
    pub scheme: String,
    /// The key material.
    pub keyval: KeyValue,
}

/// The key material of a [`PublicKey`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The 32-byte Ed25519 public key, hex; or an RSA key as PEM
    /// SubjectPublicKeyInfo.
    pub public: String,
}

impl PublicKey {
    /// The TUF form of an Ed25519 public key.
    pub fn ed25519(key: &VerifyingKey) -> PublicKey {
        PublicKey {
            keytype: ED25519.into(),
            scheme: ED25519.into(),
            keyval: KeyValue {
                public: hex::encode(key.as_bytes()),
            },
        }
    }

    /// The key id: the hex SHA-256 of the key's canonical JSON.
    pub fn key_id(&self) -> KeyId {
        let canonical = canonical_json(self).expect("a public key serializes to JSON");
        KeyId(hex::encode(Sha256::digest(canonical)))
    }

    /// The Ed25519 key, or why it is not one.
    pub fn verifying_key(&self) -> Result<VerifyingKey, String> {
        // Key types and schemes are compared without case (`ED25519` in the Uptane
        // reference implementation); a missing scheme is the key type's own.
        let scheme = if self.scheme.is_empty() {
            &self.keytype
        } else {
            &self.scheme
        };
        if !self.keytype.eq_ignore_ascii_case(ED25519) || !scheme.eq_ignore_ascii_case(ED25519) {
            return Err(format!(
                "unsupported key type \"{}\" with scheme \"{}\"",
                self.keytype, self.scheme
            ));
        }
        let bytes = hex::decode(&self.keyval.public)
            .map_err(|error| format!("public key is not hex: {error}"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "an Ed25519 public key is 32 bytes".to_string())?;
        VerifyingKey::from_bytes(&bytes)
            .map_err(|error| format!("not an Ed25519 public key: {error}"))
    }
}

/// The keys a role is signed with and how many must sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleKeys {
    /// The ids of the keys allowed to sign.
    pub keyids: Vec<KeyId>,
    /// How many distinct keys must sign.
    pub threshold: u32,
}

/// Root metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "_type", rename = "root")]
pub struct Root {
    /// The TUF specification version, [`SPEC_VERSION`]; optional when read (the
    /// Uptane reference implementation omits it).
    #[serde(default)]
    pub spec_version: String,
    /// Whether files are published under version-prefixed names too.
    #[serde(default)]
    pub consistent_snapshot: bool,
    /// The version, starting at 1 and rising by one with every new root.
    pub version: u64,
    /// When this root stops being trusted.
    pub expires: Expiry,
    /// Every key any top-level role uses, by key id.
    pub keys: BTreeMap<KeyId, PublicKey>,
    /// The keys and threshold of each top-level role. Other roles a root may
    /// name (aktualizr's `offline-snapshot`, `offline-updates`) are ignored when
    /// read; the signature still covers them.
    #[serde(deserialize_with = "top_level_roles")]
    pub roles: BTreeMap<RoleName, RoleKeys>,
}

/// Reads a root's `roles`, keeping the four top-level roles only.
fn top_level_roles<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<RoleName, RoleKeys>, D::Error> {
    let all = BTreeMap::<String, RoleKeys>::deserialize(deserializer)?;
    Ok(all
        .into_iter()
        .filter_map(|(name, keys)| {
            let role = [
                RoleName::Root,
                RoleName::Targets,
                RoleName::Snapshot,
                RoleName::Timestamp,
            ]
            .into_iter()
            .find(|role| role.as_str() == name)?;
            Some((role, keys))
        })
        .collect())
}

impl Root {
    /// The keys and threshold of `role`, or an error if the root lacks it.
    pub fn role(&self, role: RoleName) -> Result<&RoleKeys, OtaError> {
        self.roles
            .get(&role)
            .ok_or_else(|| OtaError::InvalidMetadata {
                path: RoleName::Root.file_name(),
                reason: format!(
                    "root version {} names no keys for role {role}",
                    self.version
                ),
            })
    }
}

/// Targets metadata: the images a repository offers, or (director) assigns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "_type", rename = "targets")]
pub struct Targets {
    /// The TUF specification version, [`SPEC_VERSION`]; optional when read (the
    /// Uptane reference implementation omits it).
    #[serde(default)]
    pub spec_version: String,
    /// The version, rising with every change.
    pub version: u64,
    /// When this metadata stops being trusted.
    pub expires: Expiry,
    /// The targets by path relative to the repository's `targets/` directory.
    pub targets: BTreeMap<String, TargetFile>,
    /// Roles this role delegates some paths to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegations: Option<Delegations>,
}

/// One target: an image with its length, hashes and Uptane fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetFile {
    /// The length in bytes.
    pub length: u64,
    /// The hashes by algorithm (`sha256`, `sha512`), hex.
    pub hashes: BTreeMap<String, String>,
    /// Application data; Uptane's fields are read with [`TargetFile::uptane`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<serde_json::Value>,
}

impl TargetFile {
    /// The description of `bytes`: their length, SHA-256 and SHA-512, and `custom`.
    pub fn describe(bytes: &[u8], custom: Option<&UptaneCustom>) -> TargetFile {
        let hashes = BTreeMap::from([
            ("sha256".to_string(), hex::encode(Sha256::digest(bytes))),
            ("sha512".to_string(), hex::encode(Sha512::digest(bytes))),
        ]);
        TargetFile {
            length: bytes.len() as u64,
            hashes,
            custom: custom.map(|custom| {
                serde_json::to_value(custom).expect("Uptane fields serialize to JSON")
            }),
        }
    }

    /// The Uptane fields in `custom`, or why they are missing or malformed. Reads
    /// Tomoe's fields and the Uptane reference implementation's
    /// (`ecuIdentifiers`, `hardwareIds`; no release counter: 0), giving the
    /// first ECU and hardware id of the latter; [`TargetFile::uptane_fields`]
    /// gives them all.
    pub fn uptane(&self) -> Result<UptaneCustom, String> {
        let fields = self.uptane_fields()?;
        let (ecu_identifier, hardware_identifier) = match fields.ecus.first() {
            Some((ecu, hardware)) => (Some(ecu.clone()), hardware.clone()),
            None => (None, fields.hardware_ids[0].clone()),
        };
        Ok(UptaneCustom {
            ecu_identifier,
            hardware_identifier,
            release_counter: fields.release_counter,
        })
    }

    /// Every Uptane field in `custom`, in either spelling (see [`crate::reference`](mod@crate::reference)).
    pub fn uptane_fields(&self) -> Result<crate::reference::UptaneFields, String> {
        let custom = self
            .custom
            .as_ref()
            .ok_or_else(|| "it has no custom Uptane fields".to_string())?;
        crate::reference::parse_custom(custom)
    }
}

/// The Uptane fields of a target, in its `custom` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UptaneCustom {
    /// The ECU the director assigns the image to; absent in the image repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecu_identifier: Option<String>,
    /// The hardware the image is built for.
    pub hardware_identifier: String,
    /// Rises with every release that fixes a vulnerability; an ECU never goes below
    /// it. 0 when not given (the Uptane reference implementation has none).
    #[serde(default)]
    pub release_counter: u64,
}

/// Delegations from a targets role to other targets roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delegations {
    /// The keys the delegated roles use, by key id.
    pub keys: BTreeMap<KeyId, PublicKey>,
    /// The delegated roles in priority order.
    pub roles: Vec<DelegatedRole>,
}

/// One delegated targets role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelegatedRole {
    /// The role's name; its metadata is `<name>.json`.
    pub name: String,
    /// The ids of the keys allowed to sign.
    pub keyids: Vec<KeyId>,
    /// How many distinct keys must sign.
    pub threshold: u32,
    /// Whether a search for a path stops at this role.
    #[serde(default)]
    pub terminating: bool,
    /// Path patterns the role is trusted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    /// Hash prefixes of the paths the role is trusted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_hash_prefixes: Option<Vec<String>>,
}

/// The version, and optionally the length and hashes, of a metadata file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaFile {
    /// The version of the listed metadata.
    pub version: u64,
    /// The file's length in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// The file's hashes by algorithm, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<BTreeMap<String, String>>,
}

impl MetaFile {
    /// The description of a metadata file of `version` with content `bytes`.
    pub fn describe(version: u64, bytes: &[u8]) -> MetaFile {
        MetaFile {
            version,
            length: Some(bytes.len() as u64),
            hashes: Some(BTreeMap::from([(
                "sha256".to_string(),
                hex::encode(Sha256::digest(bytes)),
            )])),
        }
    }
}

/// Snapshot metadata: the version of every targets metadata file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "_type", rename = "snapshot")]
pub struct Snapshot {
    /// The TUF specification version, [`SPEC_VERSION`]; optional when read (the
    /// Uptane reference implementation omits it).
    #[serde(default)]
    pub spec_version: String,
    /// The version, rising with every change.
    pub version: u64,
    /// When this metadata stops being trusted.
    pub expires: Expiry,
    /// The targets metadata files, such as `targets.json`.
    pub meta: BTreeMap<String, MetaFile>,
}

/// Timestamp metadata: names the current snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "_type", rename = "timestamp")]
pub struct Timestamp {
    /// The TUF specification version, [`SPEC_VERSION`]; optional when read (the
    /// Uptane reference implementation omits it).
    #[serde(default)]
    pub spec_version: String,
    /// The version, rising with every re-signing.
    pub version: u64,
    /// When this metadata stops being trusted.
    pub expires: Expiry,
    /// Exactly one entry, `snapshot.json`.
    pub meta: BTreeMap<String, MetaFile>,
}

/// What every top-level role's metadata has in common.
pub trait Metadata: Serialize + DeserializeOwned {
    /// The role this metadata is for.
    const ROLE: RoleName;
    /// The metadata's version.
    fn version(&self) -> u64;
    /// When the metadata expires.
    fn expires(&self) -> Expiry;
}

macro_rules! impl_metadata {
    ($type:ty, $role:expr) => {
        impl Metadata for $type {
            const ROLE: RoleName = $role;
            fn version(&self) -> u64 {
                self.version
            }
            fn expires(&self) -> Expiry {
                self.expires
            }
        }
    };
}

impl_metadata!(Root, RoleName::Root);
impl_metadata!(Targets, RoleName::Targets);
impl_metadata!(Snapshot, RoleName::Snapshot);
impl_metadata!(Timestamp, RoleName::Timestamp);

/// One signature in a [`Signed`] envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The id of the key that signed.
    pub keyid: KeyId,
    /// The signature over the canonical JSON of `signed`: hex as Tomoe writes
    /// it, or base64 as the Uptane reference implementation does.
    pub sig: String,
    /// The signature method, as the Uptane reference implementation gives it
    /// (`ed25519`, `rsassa-pss-sha256` or `rsassa-pss`); Tomoe writes none. Any
    /// other method is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// The TUF envelope: metadata and the signatures over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signed<T> {
    /// The signatures over the canonical JSON of `signed`.
    pub signatures: Vec<Signature>,
    /// The metadata.
    pub signed: T,
}

impl<T: Metadata> Signed<T> {
    /// An envelope around `signed` with no signatures yet.
    pub fn unsigned(signed: T) -> Signed<T> {
        Signed {
            signatures: Vec::new(),
            signed,
        }
    }

    /// Adds `key`'s signature, replacing an earlier signature by the same key.
    pub fn sign(&mut self, key: &SigningKey) -> Result<(), OtaError> {
        let message = canonical_json(&self.signed)?;
        let keyid = PublicKey::ed25519(&key.verifying_key()).key_id();
        let sig = hex::encode(key.sign(&message).to_bytes());
        self.signatures.retain(|signature| signature.keyid != keyid);
        self.signatures.push(Signature {
            keyid,
            sig,
            method: None,
        });
        Ok(())
    }

    /// The file content this envelope is published as: indented JSON and a newline.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("metadata serializes to JSON");
        bytes.push(b'\n');
        bytes
    }
}

/// Serializes `value` as OLPC canonical JSON, the form TUF signs.
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, OtaError> {
    let mut bytes = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut bytes, olpc_cjson::CanonicalFormatter::new());
    value
        .serialize(&mut serializer)
        .map_err(|error| OtaError::InvalidMetadata {
            path: "canonical JSON".into(),
            reason: error.to_string(),
        })?;
    Ok(bytes)
}

/// Counts the distinct keys of `role` whose signatures over `signed` verify.
///
/// `signed` is the `signed` object exactly as received, so that fields this crate
/// does not model are covered by the signature too. A signature by a key that is
/// not in `role`, or that does not verify, is not counted; two key ids for the same
/// public key count once. A signature by a key of `role` that is refused (an RSA
/// key outside [`crate::MIN_RSA_KEY_BITS`]..=[`crate::MAX_RSA_KEY_BITS`] bits, or
/// malformed) is an error naming the key.
pub fn count_valid_signatures(
    signed: &serde_json::Value,
    signatures: &[Signature],
    keys: &BTreeMap<KeyId, PublicKey>,
    role: &RoleKeys,
) -> Result<usize, OtaError> {
    tally_signatures(signed, signatures, keys, role).map(|tally| tally.valid)
}

/// What [`tally_signatures`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// The distinct keys whose signatures verified.
    pub(crate) valid: usize,
    /// The keys of the role whose signatures did not verify, in signature order.
    pub(crate) rejected: Vec<KeyId>,
}

impl Tally {
    /// The keys whose signatures did not verify, for an error message: empty, or
    /// ` (the signature of key <id> does not verify)`.
    pub(crate) fn rejected_text(&self) -> String {
        match self.rejected.as_slice() {
            [] => String::new(),
            [one] => format!(" (the signature of key {one} does not verify)"),
            many => format!(
                " (the signatures of keys {} do not verify)",
                many.iter()
                    .map(|key| key.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// [`count_valid_signatures`], also naming the keys of `role` whose signatures
/// did not verify. A signature is checked over the OLPC canonical JSON of
/// `signed` and, where that differs, over the escaped form the Uptane reference
/// implementation signs ([`crate::verify::escaped_canonical_json`]).
pub(crate) fn tally_signatures(
    signed: &serde_json::Value,
    signatures: &[Signature],
    keys: &BTreeMap<KeyId, PublicKey>,
    role: &RoleKeys,
) -> Result<Tally, OtaError> {
    let message = canonical_json(signed)?;
    let escaped = crate::verify::has_control_characters(signed)
        .then(|| crate::verify::escaped_canonical_json(signed));
    let mut verified: Vec<Verifier> = Vec::new();
    let mut tally = Tally::default();
    for signature in signatures {
        if !role.keyids.contains(&signature.keyid) {
            continue;
        }
        let Some(public) = keys.get(&signature.keyid) else {
            continue;
        };
        let key = match Verifier::of(public) {
            Ok(key) => key,
            Err(KeyError::Unsupported(_)) => continue,
            Err(KeyError::Refused(reason)) => {
                return Err(OtaError::InvalidKey {
                    path: None,
                    reason: format!("key {}: {reason}", signature.keyid),
                })
            }
        };
        let valid = crate::reference::decode_signature(&signature.sig).is_some_and(|bytes| {
            let method = signature.method.as_deref();
            key.verify(&message, &bytes, method)
                || escaped
                    .as_ref()
                    .is_some_and(|escaped| key.verify(escaped, &bytes, method))
        });
        if !valid {
            tally.rejected.push(signature.keyid.clone());
        } else if !verified.contains(&key) {
            verified.push(key);
        }
    }
    tally.valid = verified.len();
    Ok(tally)
}

/// Parses the `signed` object of role `T`, checking its `_type`: serde writes the
/// tag but does not check it when reading a struct.
pub(crate) fn parse_signed<T: Metadata>(
    path: &str,
    signed: &serde_json::Value,
) -> Result<T, OtaError> {
    let invalid = |reason: String| OtaError::InvalidMetadata {
        path: path.into(),
        reason: format!("not {} metadata: {reason}", T::ROLE),
    };
    // `_type` without case: the Uptane reference implementation writes `Root`,
    // `Targets`. The signature covers the object as received; only the parsed
    // copy is normalized.
    match signed.get("_type").and_then(serde_json::Value::as_str) {
        Some(kind) if kind.eq_ignore_ascii_case(T::ROLE.as_str()) => {}
        Some(kind) => return Err(invalid(format!("\"_type\" is \"{kind}\""))),
        None => return Err(invalid("no \"_type\"".into())),
    }
    let mut normalized = signed.clone();
    normalized["_type"] = serde_json::Value::from(T::ROLE.as_str());
    T::deserialize(&normalized).map_err(|error| invalid(error.to_string()))
}

/// A metadata file parsed but not yet verified: the signatures and the raw `signed` object.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RawSigned {
    pub(crate) signatures: Vec<Signature>,
    pub(crate) signed: serde_json::Value,
}

impl RawSigned {
    /// Parses a metadata file.
    /// A key id listed twice among the signatures is refused: one key signing twice
    /// is not two signatures, and a file that pretends otherwise is not trusted.
    pub(crate) fn parse(path: &str, bytes: &[u8]) -> Result<RawSigned, OtaError> {
        let raw: RawSigned =
            serde_json::from_slice(bytes).map_err(|error| OtaError::InvalidMetadata {
                path: path.into(),
                reason: error.to_string(),
            })?;
        for signature in &raw.signatures {
            crate::reference::check_method(signature.method.as_deref()).map_err(|reason| {
                OtaError::InvalidMetadata {
                    path: path.into(),
                    reason: format!("key {}: {reason}", signature.keyid),
                }
            })?;
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(twice) = raw.signatures.iter().find(|s| !seen.insert(&s.keyid)) {
            return Err(OtaError::InvalidMetadata {
                path: path.into(),
                reason: format!(
                    "key {} signs it twice: one key's signature counts once, and a repeated one is refused",
                    twice.keyid
                ),
            });
        }
        Ok(raw)
    }

    /// The `signed` object as metadata of role `T`.
    pub(crate) fn metadata<T: Metadata>(&self, path: &str) -> Result<Signed<T>, OtaError> {
        let signed = parse_signed(path, &self.signed)?;
        Ok(Signed {
            signatures: self.signatures.clone(),
            signed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_implementation_s_spelling_is_read() {
        let key = SigningKey::generate(&mut rand_core::OsRng);
        let public = hex::encode(key.verifying_key().as_bytes());
        // `_type` capitalized, no `spec_version`, a key with its type alone, upper case.
        let signed = serde_json::json!({
            "_type": "Root",
            "version": 1,
            "expires": "2030-01-01T00:00:00Z",
            "consistent_snapshot": false,
            "keys": {"k1": {"keytype": "ED25519", "keyval": {"public": public}}},
            "roles": {
                "root": {"keyids": ["k1"], "threshold": 1},
                "targets": {"keyids": ["k1"], "threshold": 1},
                "snapshot": {"keyids": ["k1"], "threshold": 1},
                "timestamp": {"keyids": ["k1"], "threshold": 1}
            }
        });
        let root: Root = parse_signed("root.json", &signed).unwrap();
        assert_eq!(root.spec_version, "");
        let key_of_root = &root.keys[&KeyId("k1".into())];
        assert_eq!(key_of_root.verifying_key().unwrap(), key.verifying_key());
        // A signature over the object as received verifies.
        let message = canonical_json(&signed).unwrap();
        let signature = Signature {
            keyid: KeyId("k1".into()),
            sig: hex::encode(key.sign(&message).to_bytes()),
            method: None,
        };
        let role = root.role(RoleName::Root).unwrap();
        assert_eq!(
            count_valid_signatures(&signed, &[signature], &root.keys, role).unwrap(),
            1
        );
        // Another role's type, or another key type, is still refused.
        let mut wrong = signed.clone();
        wrong["_type"] = "Targets".into();
        assert!(parse_signed::<Root>("root.json", &wrong).is_err());
        let rsa = PublicKey {
            keytype: "RSA".into(),
            scheme: String::new(),
            keyval: KeyValue {
                public: "00".into(),
            },
        };
        assert!(rsa.verifying_key().is_err());
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn timestamp() -> Timestamp {
        Timestamp {
            spec_version: SPEC_VERSION.into(),
            version: 3,
            expires: Expiry::after(UNIX_EPOCH, Duration::from_secs(1_893_456_000)),
            meta: BTreeMap::from([("snapshot.json".into(), MetaFile::describe(2, b"snapshot"))]),
        }
    }

    #[test]
    fn key_id_is_sha256_of_canonical_key_json() {
        let public = PublicKey::ed25519(&key(1).verifying_key());
        let canonical = canonical_json(&public).unwrap();
        let text = String::from_utf8(canonical.clone()).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"keytype":"ed25519","keyval":{{"public":"{}"}},"scheme":"ed25519"}}"#,
                public.keyval.public
            )
        );
        assert_eq!(public.key_id().0, hex::encode(Sha256::digest(&canonical)));
    }

    #[test]
    fn metadata_json_has_tuf_fields() {
        let value = serde_json::to_value(Signed::unsigned(timestamp())).unwrap();
        assert_eq!(value["signed"]["_type"], "timestamp");
        assert_eq!(value["signed"]["spec_version"], SPEC_VERSION);
        assert_eq!(value["signed"]["expires"], "2030-01-01T00:00:00Z");
        assert_eq!(value["signed"]["meta"]["snapshot.json"]["version"], 2);
        assert!(value["signatures"].as_array().unwrap().is_empty());
    }

    #[test]
    fn metadata_of_another_role_is_refused() {
        let value = serde_json::to_value(timestamp()).unwrap();
        let error = parse_signed::<Snapshot>("snapshot.json", &value).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid metadata \"snapshot.json\": not snapshot metadata: \"_type\" is \"timestamp\""
        );
        assert!(parse_signed::<Timestamp>("timestamp.json", &value).is_ok());
    }

    #[test]
    fn signature_counts_each_distinct_trusted_key_once() {
        let (first, second, stranger) = (key(1), key(2), key(3));
        let mut signed = Signed::unsigned(timestamp());
        for signer in [&first, &second, &stranger, &first] {
            signed.sign(signer).unwrap();
        }
        let keys: BTreeMap<_, _> = [&first, &second, &stranger]
            .iter()
            .map(|key| {
                let public = PublicKey::ed25519(&key.verifying_key());
                (public.key_id(), public)
            })
            .collect();
        let both = RoleKeys {
            keyids: [&first, &second]
                .iter()
                .map(|key| PublicKey::ed25519(&key.verifying_key()).key_id())
                .collect(),
            threshold: 2,
        };
        let value = serde_json::to_value(&signed.signed).unwrap();
        assert_eq!(
            count_valid_signatures(&value, &signed.signatures, &keys, &both).unwrap(),
            2
        );

        // A changed document no longer verifies.
        let mut changed = value.clone();
        changed["version"] = 4.into();
        assert_eq!(
            count_valid_signatures(&changed, &signed.signatures, &keys, &both).unwrap(),
            0
        );

        // The same key listed under a second key id still counts once.
        let mut duplicated = signed.signatures.clone();
        duplicated.push(Signature {
            keyid: KeyId("alias".into()),
            sig: signed.signatures[0].sig.clone(),
            method: None,
        });
        let mut aliased_keys = keys.clone();
        let first_id = PublicKey::ed25519(&first.verifying_key()).key_id();
        aliased_keys.insert(KeyId("alias".into()), keys[&first_id].clone());
        let aliased = RoleKeys {
            keyids: vec![first_id, KeyId("alias".into())],
            threshold: 2,
        };
        assert_eq!(
            count_valid_signatures(&value, &duplicated, &aliased_keys, &aliased).unwrap(),
            1
        );
    }
}
