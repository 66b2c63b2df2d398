//! `/metrics` of a real `tomoe up --idle`: the Prometheus exposition over HTTP, whose
//! counters move as a gRPC client publishes and reads signals.

mod support;

use std::collections::HashMap;
use std::process::Stdio;

use kuksa_rust_sdk::v1_proto as v1;
use kuksa_rust_sdk::v2_proto as v2;
use support::{path, tomoe_bin, value};
use tomoe_test_support::{Process, Stop};
use v2::value::TypedValue as T;

/// The samples of an exposition, by name with labels (`a_total{x="y"}`).
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').expect("a sample has a value");
            (name.to_owned(), value.parse().expect("a numeric value"))
        })
        .collect()
}

async fn scrape(http: &str) -> HashMap<String, f64> {
    let response = reqwest::get(format!("{http}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain; version=0.0.4"));
    samples(&response.text().await.unwrap())
}

fn get(samples: &HashMap<String, f64>, name: &str) -> f64 {
    samples.get(name).copied().unwrap_or(0.0)
}

async fn publish(
    client: &mut v2::val_client::ValClient<support::WithToken>,
    signal: &str,
    typed: T,
) -> bool {
    let request = v2::PublishValueRequest {
        signal_id: path(signal),
        data_point: Some(v2::Datapoint {
            timestamp: None,
            value: value(typed),
        }),
    };
    client.publish_value(request).await.is_ok()
}

/// `tomoe up --idle` with `extra` arguments on loopback ports; returns the process
/// and the broker and HTTP URLs.
fn up(data_dir: &std::path::Path, extra: &[&str]) -> (Process, String, String) {
    let mut command = std::process::Command::new(tomoe_bin());
    command
        .args(["up", "--idle", "--address", "127.0.0.1:0"])
        .args(["--http-address", "127.0.0.1:0", "--viss-address", "off"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .stderr(Stdio::null());
    let (up, urls) = Process::spawn_announcing(&mut command, Stop::Terminate, &["broker", "diag"]);
    let http = urls[1].trim_end_matches("/sovd/v1").to_owned();
    (up, urls[0].clone(), http)
}

#[tokio::test]
async fn counters_move_as_a_client_publishes_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (_up, broker, http) = up(dir.path(), &["--runtime-address", "127.0.0.1:0"]);
    let (broker, http) = (&broker, http.as_str());

    let before = scrape(http).await;
    let published = "tomoe_broker_published_values_total";
    assert!(before.contains_key(published), "{before:?}");
    assert!(before.contains_key("tomoe_broker_subscribers"));
    assert_eq!(
        get(&before, "tomoe_runtime_workloads{state=\"running\"}"),
        0.0
    );
    assert!(
        before
            .keys()
            .any(|k| k.starts_with("tomoe_can_frames_total{bus=")),
        "the profile's buses are listed"
    );
    assert!(
        !before.keys().any(|k| k.starts_with("tomoe_ota_")),
        "no OTA metrics without an update agent"
    );

    let connection = tomoe_kuksa::Connector::new(broker.clone())
        .connect()
        .await
        .unwrap();
    let (mut v1, mut v2) = (connection.v1, connection.v2);
    for speed in [10.0, 20.0, 30.0] {
        assert!(publish(&mut v2, "Vehicle.Speed", T::Float(speed)).await);
    }
    // Not one of the allowed values: the broker refuses it.
    let mode = "Vehicle.Powertrain.Transmission.PerformanceMode";
    assert!(!publish(&mut v2, mode, T::String("WARP".into())).await);
    v1.get(v1::GetRequest {
        entries: vec![v1::EntryRequest {
            path: "Vehicle.Speed".into(),
            view: v1::View::CurrentValue as i32,
            fields: vec![v1::Field::Value as i32],
        }],
    })
    .await
    .unwrap();
    reqwest::get(format!("{http}/sovd/v1/components"))
        .await
        .unwrap();

    let after = scrape(http).await;
    let v2_call = |method: &str, status: &str| {
        format!("tomoe_api_requests_total{{api=\"kuksa.val.v2\",method=\"{method}\",status=\"{status}\"}}")
    };
    assert_eq!(get(&after, &v2_call("PublishValue", "OK")), 3.0);
    assert_eq!(
        get(&after, &v2_call("PublishValue", "INVALID_ARGUMENT")),
        1.0
    );
    assert_eq!(
        get(
            &after,
            "tomoe_api_requests_total{api=\"kuksa.val.v1\",method=\"Get\",status=\"OK\"}"
        ),
        1.0
    );
    assert_eq!(
        get(
            &after,
            "tomoe_api_request_duration_seconds_count{api=\"kuksa.val.v2\",method=\"PublishValue\"}"
        ),
        4.0
    );
    let sovd: Vec<_> = (after.iter())
        .filter(|(k, _)| k.starts_with("tomoe_api_requests_total{api=\"sovd\""))
        .collect();
    assert_eq!(
        get(
            &after,
            "tomoe_api_requests_total{api=\"sovd\",method=\"GET /sovd/v1/{collection}\",status=\"200\"}"
        ),
        1.0,
        "{sovd:?}"
    );
    // The platform publishes too (its mode, its trouble codes): at least ours.
    assert!(get(&after, published) >= get(&before, published) + 3.0);
    let invalid = "tomoe_broker_refusals_total{reason=\"invalid_value\"}";
    assert_eq!(get(&after, invalid), get(&before, invalid) + 1.0);
}

#[tokio::test]
async fn a_zonal_ecu_without_runtime_or_ota_serves_its_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = tomoe_test_support::net::free_zenoh_endpoint();
    let (_up, _, http) = up(dir.path(), &["--ecu", "zonal", "--zenoh-listen", &endpoint]);
    let samples = scrape(&http).await;
    assert!(samples.contains_key("tomoe_broker_published_values_total"));
    assert!(
        !samples
            .keys()
            .any(|k| k.starts_with("tomoe_runtime_") || k.starts_with("tomoe_ota_")),
        "no runtime and no update agent on a zonal ECU: {samples:?}"
    );
}
