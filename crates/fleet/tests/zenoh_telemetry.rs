//! A vehicle's gateway sends telemetry over Zenoh; the backend receives it and stores
//! what the vehicle's registered policy selects, in a real PostgreSQL.

mod support;

use std::time::{Duration, Instant};

use tomoe_broker::{Broker, BrokerConfig, Permissions};
use tomoe_fleet::Fleet;
use tomoe_test_support::PostgresServer;
use tomoe_vss::Value;
use tomoe_zenoh::backend::TelemetryReceiver;
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
    let mut receiver =
        TelemetryReceiver::open(ZenohMode::Router, std::slice::from_ref(&endpoint), &[])
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
