//! A Zenoh bridge's counters on /metrics: two real bridges joined over TCP on
//! loopback; the central one's imports, refusals and peers move its families.

use std::time::{Duration, Instant};

use tomoe_broker::{Broker, BrokerConfig, Permissions};
use tomoe_metrics::Metrics;
use tomoe_vss::Value;
use tomoe_zenoh::{Bridge, BridgeConfig};

fn broker() -> Broker {
    Broker::new(
        tomoe_vss::default_catalog().unwrap(),
        BrokerConfig::default(),
        None,
    )
    .unwrap()
}

fn publish(broker: &Broker, path: &str, value: Value) {
    let id = broker.resolve_path(path).unwrap();
    broker
        .publish(&Permissions::allow_all(), &[(id, Some(value))])
        .unwrap();
}

/// The value of the sample `line_start` (a name with its labels) in `text`.
fn sample(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(line_start)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a sample's value is a number"))
}

async fn scrape(url: &str) -> String {
    reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_counters_move_on_metrics() {
    let endpoint = tomoe_test_support::net::free_zenoh_endpoint();
    let mut zonal = BridgeConfig::new("metrics-car", "zonal").unwrap();
    zonal
        .merge_str(&format!(
            "listen = [\"{endpoint}\"]\nexport = [\"Vehicle.**\"]"
        ))
        .unwrap();
    let mut central = BridgeConfig::new("metrics-car", "central").unwrap();
    // The central ECU takes only the speed from the zonal one.
    central
        .merge_str(&format!(
            "connect = [\"{endpoint}\"]\n[[import]]\nfrom = \"zonal\"\npaths = [\"Vehicle.Speed\"]"
        ))
        .unwrap();
    let (zonal_broker, central_broker) = (broker(), broker());
    let zonal = Bridge::start(zonal_broker.clone(), zonal, None)
        .await
        .unwrap();
    let central = Bridge::start(central_broker.clone(), central, None)
        .await
        .unwrap();
    let metrics = Metrics::new();
    metrics.watch_bridge(&central);
    let url = tomoe_test_support::http::serve(metrics.router()).await;

    let before = scrape(&url).await;
    for reason in ["no_sender", "unknown_path", "malformed", "invalid_value"] {
        let line = format!("tomoe_bridge_refused_total{{reason=\"{reason}\"}}");
        assert_eq!(sample(&before, &line), Some(0.0), "{line}\n{before}");
    }
    // Every reason is listed from the start. The zonal ECU's present values that
    // the central one does not import may already have been refused when the two
    // bridges met (the central asks for them), so this one need not be zero.
    let not_permitted = "tomoe_bridge_refused_total{reason=\"not_permitted\"}";
    let refused_before = sample(&before, not_permitted).expect("every reason listed");

    // The speed is imported; a door the central ECU does not import is refused.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut speed = 1.0;
    let text = loop {
        publish(&zonal_broker, "Vehicle.Speed", Value::Float(speed));
        publish(
            &zonal_broker,
            "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen",
            Value::Bool(speed as i32 % 2 == 0),
        );
        speed += 1.0;
        let text = scrape(&url).await;
        let moved = |line| sample(&text, line).is_some_and(|n| n >= 1.0);
        if moved("tomoe_bridge_imported_total")
            && sample(&text, not_permitted).is_some_and(|n| n > refused_before)
            && moved("tomoe_bridge_peers")
        {
            break text;
        }
        assert!(Instant::now() < deadline, "counters did not move:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(sample(&text, "tomoe_bridge_peers"), Some(1.0));
    assert_eq!(
        sample(&text, "tomoe_bridge_refused_total{reason=\"malformed\"}"),
        Some(0.0)
    );
    // Nothing of the refused signal was stored.
    let door = central_broker
        .resolve_path("Vehicle.Cabin.Door.Row1.DriverSide.IsOpen")
        .unwrap();
    let stored = central_broker
        .get(
            &Permissions::allow_all(),
            &[door],
            tomoe_broker::Field::Current,
        )
        .unwrap();
    assert_eq!(stored[0].value, None);
    central.close().await;
    zonal.close().await;
}
