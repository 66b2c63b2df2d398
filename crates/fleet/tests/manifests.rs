//! Vehicle version manifests against a real PostgreSQL server: verified, ordered,
//! stored whole or refused with nothing stored.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePublicKey};
use ed25519_dalek::SigningKey;
use tomoe_fleet::{EcuRecord, Fleet, FleetError, Registration};
use tomoe_ota::{sign_manifest, EcuVersionReport, ImageReport, VehicleManifest};
use tomoe_test_support::PostgresServer;

fn register_request(id: &str, key: &SigningKey) -> Registration {
    Registration {
        id: id.to_owned(),
        brand: "Mitsubishi".into(),
        model: "eK X EV".into(),
        profile: "mitsubishi-ekx-ev".into(),
        primary_key: key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
        ecus: vec![
            EcuRecord {
                ecu_id: "central".into(),
                hardware_id: "tomoe-cc-1".into(),
                is_primary: true,
            },
            EcuRecord {
                ecu_id: "zonal".into(),
                hardware_id: "zc-2".into(),
                is_primary: false,
            },
        ],
        parts: Vec::new(),
    }
}

fn manifest(vin: &str, at: SystemTime, ecus: &[(&str, &str, u64)]) -> VehicleManifest {
    VehicleManifest {
        vin: vin.to_owned(),
        primary_ecu: "central".into(),
        ecu_version_reports: ecus
            .iter()
            .map(|(ecu, image, counter)| EcuVersionReport {
                ecu_identifier: (*ecu).to_owned(),
                installed_image: ImageReport {
                    filename: (*image).to_owned(),
                    length: 1024,
                    hashes: BTreeMap::from([("sha256".to_owned(), "ab".repeat(32))]),
                },
                release_counter: *counter,
                attacks_detected: String::new(),
            })
            .collect(),
        nonce: None,
        timestamp: at,
        installation_reports: Vec::new(),
    }
}

fn signed(manifest: &VehicleManifest, key: &SigningKey) -> Vec<u8> {
    sign_manifest(manifest, key).unwrap().to_file_bytes()
}

#[tokio::test]
async fn manifests_are_verified_ordered_and_stored() {
    let Some(server) = PostgresServer::start() else {
        return;
    };
    let fleet = Fleet::connect(&server.create_database()).await.unwrap();
    let key = SigningKey::generate(&mut rand_core::OsRng);
    fleet
        .register(&register_request("ekx-1", &key))
        .await
        .unwrap();
    fleet
        .register(&register_request(
            "ekx-2",
            &SigningKey::generate(&mut rand_core::OsRng),
        ))
        .await
        .unwrap();
    // Whole seconds: the manifest carries its time to the second.
    let t0 = humantime::parse_rfc3339("2026-01-15T08:00:00Z").unwrap();
    let first = signed(
        &manifest(
            "ekx-1",
            t0,
            &[
                ("central", "apps/range-estimator-1.0", 1),
                ("zonal", "zonal-fw-3", 3),
            ],
        ),
        &key,
    );
    let receipt = fleet.report_manifest("ekx-1", &first).await.unwrap();
    assert!(receipt.new && receipt.ecus == 2);
    // The same manifest again (a retry) is not new, and not refused.
    assert!(!fleet.report_manifest("ekx-1", &first).await.unwrap().new);
    let later = signed(
        &manifest(
            "ekx-1",
            t0 + Duration::from_secs(60),
            &[("central", "apps/range-estimator-1.1", 2)],
        ),
        &key,
    );
    fleet.report_manifest("ekx-1", &later).await.unwrap();
    let installed = fleet.installed("ekx-1").await.unwrap();
    assert_eq!(installed.len(), 2);
    assert_eq!(installed[0].filename, "apps/range-estimator-1.1");
    assert_eq!(installed[0].release_counter, 2);
    assert_eq!(
        installed[1].filename, "zonal-fw-3",
        "an ECU not in the latest report keeps its image"
    );
    assert!(fleet
        .vehicle("ekx-1")
        .await
        .unwrap()
        .summary
        .last_seen
        .is_some());
    assert_eq!(fleet.manifest_count("ekx-1").await.unwrap(), 2);

    // Refused, nothing stored: an old one replayed, a same-time different one, a
    // stranger's signature, a tampered body, another vehicle's, an unknown ECU, an
    // unknown vehicle, garbage.
    let stranger = SigningKey::generate(&mut rand_core::OsRng);
    let mut tampered = sign_manifest(
        &manifest(
            "ekx-1",
            t0 + Duration::from_secs(120),
            &[("central", "apps/x", 3)],
        ),
        &key,
    )
    .unwrap();
    tampered.signed.ecu_version_reports[0].release_counter = 99;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("ekx-1", first.clone(), "replay"),
        (
            "ekx-1",
            signed(
                &manifest(
                    "ekx-1",
                    t0 + Duration::from_secs(60),
                    &[("central", "apps/other", 9)],
                ),
                &key,
            ),
            "replay",
        ),
        (
            "ekx-1",
            signed(
                &manifest(
                    "ekx-1",
                    t0 + Duration::from_secs(180),
                    &[("central", "apps/x", 3)],
                ),
                &stranger,
            ),
            "not signed by the primary's key",
        ),
        (
            "ekx-1",
            tampered.to_file_bytes(),
            "not signed by the primary's key",
        ),
        (
            "ekx-1",
            signed(
                &manifest(
                    "ekx-2",
                    t0 + Duration::from_secs(180),
                    &[("central", "apps/x", 3)],
                ),
                &key,
            ),
            "is for \"ekx-2\"",
        ),
        (
            "ekx-1",
            signed(
                &manifest(
                    "ekx-1",
                    t0 + Duration::from_secs(180),
                    &[("infotainment", "apps/x", 3)],
                ),
                &key,
            ),
            "\"infotainment\" is not an ECU of ekx-1",
        ),
        ("nobody", first.clone(), "no vehicle \"nobody\""),
        ("no\0body", first.clone(), "no vehicle"),
        (
            "ekx-1",
            signed(
                &manifest(
                    "ekx-1",
                    SystemTime::now() + Duration::from_secs(3600),
                    &[("central", "apps/x", 3)],
                ),
                &key,
            ),
            "ahead of the backend's clock",
        ),
        (
            "ekx-1",
            b"{\"signed\": [".to_vec(),
            "invalid vehicle manifest",
        ),
        ("ekx-1", vec![b' '; 300 * 1024], "more than 262144"),
    ];
    for (vehicle, body, expected) in cases {
        let error = fleet.report_manifest(vehicle, &body).await.unwrap_err();
        assert!(error.to_string().contains(expected), "{expected}: {error}");
    }
    assert!(matches!(
        fleet.report_manifest("ekx-1", &first).await,
        Err(FleetError::Replayed { .. })
    ));
    assert_eq!(fleet.manifest_count("ekx-1").await.unwrap(), 2);
    assert_eq!(
        fleet.installed("ekx-1").await.unwrap()[0].release_counter,
        2
    );
    assert!(fleet.installed("ekx-2").await.unwrap().is_empty());
}
