//! A vehicle's gateway sends telemetry over Zenoh; the backend receives it and stores
//! what the vehicle's registered policy selects, in a real PostgreSQL.

mod support;

use std::time::{Duration, Instant};

use tomoe_broker::{Broker, BrokerConfig, Permissions};
use tomoe_fleet::Fleet;
use tomoe_test_support::PostgresServer;
use tomoe_vss::Value;
use tomoe_zenoh::backend::BackendLink;
use tomoe_zenoh::{Bridge, BridgeConfig, Gateway, TelemetryPolicy, ZenohMode};

const SOC: &str = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_flows_from_a_vehicle_into_the_database() {
    let Some(server) = PostgresServer::start() else {
        return;
    };
    let fleet = Fleet::connect(&server.create_database()).await.unwrap();
    support::register(&fleet, "kona-7", "Hyundai", "Kona Electric").await;
    // The backend expects the speed only; the vehicle also sends its state of charge.
    fleet
        .set_telemetry_policy("kona-7", "[[signal]]\npaths = [\"Vehicle.Speed\"]\n")
        .await
        .unwrap();
    let endpoint = tomoe_test_support::net::free_zenoh_endpoint();
    let mut receiver = BackendLink::open(ZenohMode::Router, std::slice::from_ref(&endpoint), &[])
        .await
        .unwrap();
    let samples = receiver.take_samples().unwrap();
    let ingest = {
        let fleet = fleet.clone();
        tokio::spawn(async move { fleet.ingest_received(samples).await })
    };

    let broker = Broker::new(
        tomoe_vss::default_catalog().unwrap(),
        BrokerConfig::default(),
        None,
    )
    .unwrap();
    let mut config = BridgeConfig::new("kona-7", "central").unwrap();
    config
        .merge_str(&format!("mode = \"client\"\nconnect = [\"{endpoint}\"]"))
        .unwrap();
    let gateway = Gateway {
        policy: TelemetryPolicy::parse(&format!(
            "[[signal]]\npaths = [\"Vehicle.Speed\", \"{SOC}\"]\n"
        ))
        .unwrap(),
        verifiers: Vec::new(),
    };
    let bridge = Bridge::start(broker.clone(), config, Some(gateway))
        .await
        .unwrap();
    let publish = |path: &str, value: Value| {
        let id = broker.resolve_path(path).unwrap();
        broker
            .publish(&Permissions::allow_all(), &[(id, Some(value))])
            .unwrap();
    };
    // Until the link is up, each new value is a change worth sending.
    let start = Instant::now();
    let mut speed = 10.0;
    loop {
        speed += 1.0;
        publish("Vehicle.Speed", Value::Float(speed));
        publish(SOC, Value::Float(speed));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let latest = fleet.latest_telemetry("kona-7").await.unwrap();
        if latest.iter().any(|v| v.path == "Vehicle.Speed") {
            assert!(latest.iter().all(|v| v.path != SOC), "{latest:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no telemetry arrived"
        );
    }
    // The last speed sent arrives too.
    let start = Instant::now();
    while fleet.latest_telemetry("kona-7").await.unwrap()[0].value != serde_json::json!(speed) {
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM telemetry WHERE path = $1")
        .bind(SOC)
        .fetch_one(fleet.pool())
        .await
        .unwrap();
    assert_eq!(
        stored, 0,
        "a path outside the registered policy is never stored"
    );
    bridge.close().await;
    receiver.close().await;
    ingest.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_over_zenoh_are_verified_as_over_http() {
    use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePublicKey};
    use std::time::{SystemTime, UNIX_EPOCH};
    use tomoe_ota::{sign_manifest, EcuVersionReport, ImageReport, VehicleManifest};

    let Some(server) = PostgresServer::start() else {
        return;
    };
    let fleet = Fleet::connect(&server.create_database()).await.unwrap();
    let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    fleet
        .register(&tomoe_fleet::Registration {
            id: "leaf-3".into(),
            brand: "Nissan".into(),
            model: "Leaf".into(),
            profile: "nissan-leaf-2018".into(),
            primary_key: key
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
            ecus: vec![tomoe_fleet::EcuRecord {
                ecu_id: "central".into(),
                hardware_id: "tomoe-cc-1".into(),
                is_primary: true,
            }],
            parts: Vec::new(),
        })
        .await
        .unwrap();
    let endpoint = tomoe_test_support::net::free_zenoh_endpoint();
    let mut backend = BackendLink::open(ZenohMode::Router, std::slice::from_ref(&endpoint), &[])
        .await
        .unwrap();
    let manifests = backend.take_manifests().unwrap();
    let serving = fleet.clone();
    tokio::spawn(async move { serving.serve_manifests(manifests).await });
    let vehicle = tomoe_zenoh::backend::VehicleLink::open(ZenohMode::Client, &[], &[endpoint])
        .await
        .unwrap();

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let manifest = |vin: &str, seconds_ago: u64| VehicleManifest {
        vin: vin.into(),
        primary_ecu: "central".into(),
        ecu_version_reports: vec![EcuVersionReport {
            ecu_identifier: "central".into(),
            installed_image: ImageReport {
                filename: "central-1.0".into(),
                length: 10,
                hashes: [("sha256".to_owned(), "ab".repeat(32))].into(),
            },
            release_counter: 1,
            attacks_detected: String::new(),
        }],
        nonce: None,
        timestamp: UNIX_EPOCH + Duration::from_secs(now - seconds_ago),
        installation_reports: Vec::new(),
    };
    let signed = |m: &VehicleManifest, k: &ed25519_dalek::SigningKey| {
        sign_manifest(m, k).unwrap().to_file_bytes()
    };
    // Zenoh needs a moment to route the first query to the new queryable.
    let good = signed(&manifest("leaf-3", 10), &key);
    let deadline = Instant::now() + Duration::from_secs(10);
    let receipt = loop {
        match vehicle.send_manifest("leaf-3", good.clone()).await {
            Ok(receipt) => break receipt,
            Err(error) if Instant::now() < deadline => {
                tracing::debug!(error, "not yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("{error}"),
        }
    };
    assert_eq!(
        (receipt["new"].as_bool(), receipt["verified"].as_bool()),
        (Some(true), Some(true))
    );
    let again = vehicle.send_manifest("leaf-3", good).await.unwrap();
    assert_eq!(again["new"], false, "{again}");

    let stranger = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    for (vin, body, expected) in [
        (
            "leaf-3",
            signed(&manifest("leaf-3", 5), &stranger),
            "not signed by the primary's key",
        ),
        (
            "leaf-3",
            signed(&manifest("leaf-3", 60), &key),
            "refused as a replay",
        ),
        (
            "leaf-3",
            signed(&manifest("leaf-4", 5), &key),
            "the manifest is for",
        ),
        (
            "nobody",
            signed(&manifest("nobody", 5), &key),
            "is registered",
        ),
        ("leaf-3", b"{not json".to_vec(), "manifest"),
        ("leaf-3", vec![b' '; 300 * 1024], "more than 262144"),
    ] {
        let error = vehicle.send_manifest(vin, body).await.unwrap_err();
        assert!(error.contains(expected), "{expected}: {error}");
    }
    assert_eq!(
        fleet.manifest_count("leaf-3").await.unwrap(),
        1,
        "nothing else stored"
    );
}
