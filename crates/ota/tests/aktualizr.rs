//! Real metadata of the Uptane reference implementation: the director root chain
//! of aktualizr's `tests/test_data/offline1` (RSA keys, RSASSA-PSS signatures),
//! vendored byte for byte in `tests/fixtures/aktualizr/` (see its README), and
//! generated RSA-PSS roots in `tests/fixtures/rsa/` for the key sizes and salt
//! lengths the real files do not show.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tomoe_ota::metadata::{count_valid_signatures, KeyId, PublicKey, RoleKeys, RoleName, Signed};
use tomoe_ota::{FsFetcher, Limits, OtaError, TrustedRepository};

fn aktualizr(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/aktualizr")
        .join(path)
}

fn director_dir() -> PathBuf {
    aktualizr("offline1/director")
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn time(rfc3339: &str) -> SystemTime {
    humantime::parse_rfc3339(rfc3339).unwrap()
}

/// The root key of the director's three roots.
const ROOT_KEY: &str = "6f2551f9dcf277a87ff411f39e03990cdb61b04523604bea8e38633dde46d3c6";

#[test]
fn the_real_director_root_chain_verifies_from_version_1_to_3() {
    let mut director =
        TrustedRepository::new("director", &read(&director_dir().join("1.root.json"))).unwrap();
    assert_eq!(director.root().version, 1);
    assert_eq!(director.root().expires.to_string(), "2022-10-05T19:33:32Z");
    director
        .follow_root_chain(&FsFetcher::new(director_dir()), &Limits::default())
        .unwrap();
    let root = director.root();
    assert_eq!(root.version, 3);
    assert_eq!(root.expires.to_string(), "2024-06-11T20:08:59Z");
    // Version 3 adds aktualizr's offline roles, which are ignored, and their key.
    assert_eq!(root.roles.len(), 4);
    assert_eq!(root.keys.len(), 5);
    assert!(root.keys.values().all(|key| key.keytype == "RSA"));
    assert_eq!(
        root.role(RoleName::Root).unwrap().keyids,
        [KeyId(ROOT_KEY.into())]
    );
    // Key ids are the labels the root gives, never recomputed.
    assert_ne!(root.keys[&KeyId(ROOT_KEY.into())].key_id().0, ROOT_KEY);
}

#[test]
fn the_real_root_passes_an_update_before_it_expires_and_is_refused_after() {
    // Only 1.root.json served: the chain ends at version 1.
    let temp = tempfile::tempdir().unwrap();
    fs::copy(
        director_dir().join("1.root.json"),
        temp.path().join("1.root.json"),
    )
    .unwrap();
    let root = read(&director_dir().join("1.root.json"));
    let fetcher = FsFetcher::new(temp.path());
    let mut director = TrustedRepository::new("director", &root).unwrap();
    director.allow_targets_only();
    // 2021-06-01: the root is current; the update goes on to targets, not served here.
    let error = director
        .update(&fetcher, &Limits::default(), time("2021-06-01T00:00:00Z"))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "missing metadata: director \"targets.json\" was not served"
    );
    // After 2022-10-05T19:33:32Z the root is expired: a freeze attack.
    let error = director
        .update(&fetcher, &Limits::default(), time("2022-10-06T00:00:00Z"))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "freeze: director root metadata expired at 2022-10-05T19:33:32Z"
    );
    // The whole chain: version 3 expires on 2024-06-11.
    let error = director
        .update(
            &FsFetcher::new(director_dir()),
            &Limits::default(),
            time("2024-07-01T00:00:00Z"),
        )
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "freeze: director root metadata expired at 2024-06-11T20:08:59Z"
    );
    assert_eq!(
        director.root().version,
        1,
        "a failed update changes nothing"
    );
}

/// `file` with the byte at `offset` of its first signature's `sig` replaced.
fn with_signature_byte_changed(file: &str, offset: usize) -> Vec<u8> {
    let mut bytes = read(&director_dir().join(file));
    let text = String::from_utf8(bytes.clone()).unwrap();
    let at = text.find("\"sig\":\"").unwrap() + "\"sig\":\"".len() + offset;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    bytes
}

#[test]
fn a_real_root_with_one_signature_byte_changed_is_refused_naming_the_key() {
    let temp = tempfile::tempdir().unwrap();
    fs::copy(
        director_dir().join("1.root.json"),
        temp.path().join("1.root.json"),
    )
    .unwrap();
    fs::write(
        temp.path().join("2.root.json"),
        with_signature_byte_changed("2.root.json", 10),
    )
    .unwrap();
    fs::copy(
        director_dir().join("3.root.json"),
        temp.path().join("3.root.json"),
    )
    .unwrap();
    let mut director =
        TrustedRepository::new("director", &read(&director_dir().join("1.root.json"))).unwrap();
    let error = director
        .follow_root_chain(&FsFetcher::new(temp.path()), &Limits::default())
        .unwrap_err();
    assert!(matches!(error, OtaError::ThresholdNotMet { valid: 0, .. }));
    assert_eq!(
        error.to_string(),
        format!(
            "threshold not met: director root metadata has 0 valid signatures of the 1 required \
             by the keys of root version 1 (the signature of key {ROOT_KEY} does not verify)"
        )
    );
    assert_eq!(director.root().version, 1);

    // The provisioned root itself, altered, is not trusted either.
    let error =
        TrustedRepository::new("director", &with_signature_byte_changed("1.root.json", 100))
            .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "threshold not met: director root metadata has 0 valid signatures of the 1 required \
             (the signature of key {ROOT_KEY} does not verify)"
        )
    );
}

#[test]
fn a_real_root_with_one_signed_byte_changed_is_refused() {
    let text = String::from_utf8(read(&director_dir().join("1.root.json"))).unwrap();
    let changed = text.replace("2022-10-05T19:33:32Z", "2032-10-05T19:33:32Z");
    assert_ne!(changed, text);
    let error = TrustedRepository::new("director", changed.as_bytes()).unwrap_err();
    assert!(matches!(error, OtaError::ThresholdNotMet { valid: 0, .. }));
}

#[test]
fn the_real_offline_update_metadata_verifies_with_the_keys_of_root_3() {
    // aktualizr's offline roles are not used by Tomoe, but their RSA-PSS
    // signatures check the verification of another role and file shape.
    let root: serde_json::Value =
        serde_json::from_slice(&read(&director_dir().join("3.root.json"))).unwrap();
    let keys: BTreeMap<KeyId, PublicKey> =
        serde_json::from_value(root["signed"]["keys"].clone()).unwrap();
    for (file, role) in [
        ("test1.json", "offline-updates"),
        ("offline-snapshot.json", "offline-snapshot"),
    ] {
        let role: RoleKeys = serde_json::from_value(root["signed"]["roles"][role].clone()).unwrap();
        let signed: Signed<serde_json::Value> =
            serde_json::from_slice(&read(&director_dir().join(file))).unwrap();
        assert_eq!(
            count_valid_signatures(&signed.signed, &signed.signatures, &keys, &role).unwrap(),
            1,
            "{file}"
        );
        let mut changed = signed.signed.clone();
        changed["version"] = 9.into();
        assert_eq!(
            count_valid_signatures(&changed, &signed.signatures, &keys, &role).unwrap(),
            0,
            "{file}"
        );
    }
}

#[test]
fn aktualizr_s_pretty_printed_root_with_extra_keys_and_method_rsassa_pss_is_trusted() {
    let root = read(&aktualizr("tuf/root-with-extra-keys.json"));
    let repository = TrustedRepository::new("image", &root).unwrap();
    assert_eq!(repository.root().version, 1);
    // The `offline` role is ignored; the four top-level roles are read.
    assert_eq!(repository.root().roles.len(), 4);
}

fn rsa_fixture(name: &str) -> Vec<u8> {
    read(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/rsa")
            .join(name),
    )
}

#[test]
fn rsa_pss_with_the_maximum_salt_and_other_key_sizes_verifies() {
    for name in ["max-salt-4096.root.json", "digest-salt-3072.root.json"] {
        let repository = TrustedRepository::new("director", &rsa_fixture(name))
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let now = time("2029-01-01T00:00:00Z");
        assert!(!repository.root().expires.is_expired(now));
    }
}

#[test]
fn rsa_keys_outside_2048_to_4096_bits_are_refused_naming_the_key() {
    assert_eq!(
        TrustedRepository::new("director", &rsa_fixture("weak-1024.root.json"))
            .unwrap_err()
            .to_string(),
        "invalid key: key weak-1024-root-key: RSA key of 1024 bits; \
         only 2048 to 4096 bits are accepted"
    );
    assert_eq!(
        TrustedRepository::new("director", &rsa_fixture("large-8192.root.json"))
            .unwrap_err()
            .to_string(),
        "invalid key: key large-8192-root-key: RSA key of 8192 bits; \
         only 2048 to 4096 bits are accepted"
    );
    assert_eq!(tomoe_ota::MIN_RSA_KEY_BITS, 2048);
    assert_eq!(tomoe_ota::MAX_RSA_KEY_BITS, 4096);
}

#[test]
fn the_root_rotation_limit_bounds_an_rsa_chain() {
    // A root chain longer than the limit is still bounded for RSA roots.
    let limits = Limits {
        max_root_rotations: 1,
        ..Limits::default()
    };
    let mut director =
        TrustedRepository::new("director", &read(&director_dir().join("1.root.json"))).unwrap();
    director
        .follow_root_chain(&FsFetcher::new(director_dir()), &limits)
        .unwrap();
    assert_eq!(director.root().version, 2);
}
