//! Metadata as the Uptane reference implementation writes it (fixtures in
//! `tests/fixtures/reference/`, see its README): the valid case is accepted, each
//! invalid one refused with the expected reason.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tomoe_ota::{Ecu, FsFetcher, Limits, OtaError, Primary};

fn fixture(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
        .join(case)
}

/// 2027-01-15, before the fixtures expire (2030).
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn check(case: &str) -> Result<Vec<tomoe_ota::ApprovedImage>, OtaError> {
    let dir = fixture(case);
    let director_root = fs::read(dir.join("director/1.root.json")).unwrap();
    let image_root = fs::read(dir.join("image/1.root.json")).unwrap();
    let mut primary = Primary::new(
        "REFERENCE0000001",
        vec![Ecu::new("serial-1", "hw-a")],
        &director_root,
        &image_root,
        Limits::default(),
    )?;
    primary.check_and_download(
        &FsFetcher::new(dir.join("director")),
        &FsFetcher::new(dir.join("image")),
        now(),
        |_| std::io::sink(),
    )
}

#[test]
fn the_reference_director_and_image_repository_are_accepted() {
    let approved = check("valid").unwrap();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].ecu_identifier, "serial-1");
    assert_eq!(approved[0].target, "firmware.bin");
    assert_eq!(approved[0].release_counter, 0);
    assert_eq!(approved[0].signed_by, "targets");
    let custom = approved[0].file.uptane().unwrap();
    assert_eq!(custom.hardware_identifier, "hw-a");
}

#[test]
fn an_unknown_signature_method_is_refused() {
    assert_eq!(
        check("unknown_method").unwrap_err().to_string(),
        "invalid metadata \"targets.json\": key 6a3803d5f059902a1c6dafbc9ba4729212f7caac08634cc3ae76b27529f03827: \
         signature method \"rsassa-pkcs1v15-sha256\" is not supported; only ed25519 and rsassa-pss-sha256 are"
    );
}

#[test]
fn an_expired_reference_director_is_refused() {
    assert_eq!(
        check("expired_director").unwrap_err().to_string(),
        "freeze: director targets metadata expired at 2020-01-01T00:00:00Z"
    );
}

#[test]
fn a_bad_base64_signature_is_refused() {
    assert_eq!(
        check("bad_image_signature").unwrap_err().to_string(),
        "threshold not met: image targets metadata has 0 valid signatures of the 1 required \
         (the signature of key ed23d853125a3acff2782dddf84e018ebc85942ebf328ff1287202a479964207 does not verify)"
    );
}

#[test]
fn the_image_repository_must_serve_its_snapshot() {
    assert_eq!(
        check("image_without_snapshot").unwrap_err().to_string(),
        "missing metadata: image \"snapshot.json\" was not served"
    );
}

#[test]
fn a_reference_director_assigning_other_hardware_is_refused() {
    assert_eq!(
        check("wrong_hardware").unwrap_err().to_string(),
        "wrong hardware id: \"firmware.bin\" is for hardware \"hw-z\" but ECU \"serial-1\" is \"hw-a\""
    );
}

#[test]
fn a_director_without_timestamp_keeps_rollback_protection_for_its_targets() {
    // A stored newer director targets is not replaced by the older served one.
    let temp = tempfile::tempdir().unwrap();
    let dir = fixture("valid");
    let director_root = fs::read(dir.join("director/1.root.json")).unwrap();
    let image_root = fs::read(dir.join("image/1.root.json")).unwrap();
    let state = temp.path().join("state");
    let mut primary = Primary::new(
        "REFERENCE0000001",
        vec![Ecu::new("serial-1", "hw-a")],
        &director_root,
        &image_root,
        Limits::default(),
    )
    .unwrap();
    primary
        .check(
            &FsFetcher::new(dir.join("director")),
            &FsFetcher::new(dir.join("image")),
            now(),
        )
        .unwrap();
    primary.save(&state).unwrap();
    let loaded = Primary::load(
        "REFERENCE0000001",
        vec![Ecu::new("serial-1", "hw-a")],
        &director_root,
        &image_root,
        Limits::default(),
        &state,
    )
    .unwrap();
    assert_eq!(loaded.director().targets().unwrap().version, 1);
    assert!(loaded.director().timestamp().is_none());
}
