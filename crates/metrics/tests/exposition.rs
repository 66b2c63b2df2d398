//! The metrics over real HTTP: the exposition, request counts by route template,
//! the broker's counters and OTA outcomes.

use std::time::Duration;

use axum::routing::get;
use tomoe_broker::{Broker, BrokerConfig, Permissions};
use tomoe_metrics::Metrics;
use tomoe_update::{Detail, Progress, UpdateStatus};
use tomoe_vss::Value;

/// The value of the sample `line_start` (a name with its labels) in `text`.
fn sample(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(line_start)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a sample's value is a number"))
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        tomoe_metrics::CONTENT_TYPE_TEXT
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn counters_move_as_the_platform_works() {
    let broker = Broker::new(
        tomoe_vss::default_catalog().unwrap(),
        BrokerConfig::default(),
        None,
    )
    .unwrap();
    let metrics = Metrics::new();
    metrics.watch_broker(&broker);
    let history =
        tomoe_history::History::start(&broker, tomoe_history::HistoryConfig::default()).unwrap();
    metrics.watch_history(&history);
    let api = axum::Router::new().route("/items/{id}", get(|| async { "item" }));
    let router = metrics.measure(api, "sovd").merge(metrics.router());
    let url = tomoe_test_support::http::serve(router).await;

    let before = scrape(&url).await;
    assert_eq!(
        sample(&before, "tomoe_broker_published_values_total"),
        Some(0.0)
    );
    // The history's feed is a subscriber.
    assert_eq!(sample(&before, "tomoe_broker_subscribers"), Some(1.0));
    assert!(
        !before.contains("tomoe_ota_"),
        "no OTA metrics without an update agent"
    );
    assert!(!before.contains("tomoe_runtime_"), "no runtime, no metrics");

    let speed = broker.resolve_path("Vehicle.Speed").unwrap();
    let all = Permissions::allow_all();
    broker
        .publish(&all, &[(speed, Some(Value::Float(12.0)))])
        .unwrap();
    assert!(broker
        .publish(&all, &[(speed, Some(Value::Bool(true)))])
        .is_err());
    let _subscription = broker
        .subscribe(&all, &[speed], tomoe_broker::Field::Current, 4, false)
        .unwrap();
    for path in ["/items/1", "/items/2", "/elsewhere"] {
        reqwest::get(format!("{url}{path}")).await.unwrap();
    }
    metrics.record_update(&Progress {
        status: UpdateStatus::Committed,
        reason: String::new(),
        detail: Detail::default(),
    });
    metrics.record_update(&Progress {
        status: UpdateStatus::Failed,
        reason: "metadata".into(),
        detail: Detail {
            metadata_refused: true,
            ..Detail::default()
        },
    });
    metrics.observe_call("viss", "get", "OK", Duration::from_millis(3));
    // The history's feed records the accepted value on its own task.
    let far = std::time::SystemTime::now() + Duration::from_secs(60);
    for waited in 0.. {
        let speeds = history.history("Vehicle.Speed", std::time::UNIX_EPOCH, far);
        if speeds.unwrap().len() == 1 {
            break;
        }
        assert!(waited < 4_000, "the history never recorded the speed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let after = scrape(&url).await;
    let expect = [
        ("tomoe_broker_published_values_total", 1.0),
        ("tomoe_broker_refusals_total{reason=\"invalid_value\"}", 1.0),
        ("tomoe_broker_refusals_total{reason=\"no_provider\"}", 0.0),
        ("tomoe_broker_subscribers", 2.0),
        (
            "tomoe_api_requests_total{api=\"sovd\",method=\"GET /items/{id}\",status=\"200\"}",
            2.0,
        ),
        (
            "tomoe_api_request_duration_seconds_count{api=\"sovd\",method=\"GET /items/{id}\"}",
            2.0,
        ),
        (
            "tomoe_api_request_duration_seconds_bucket{api=\"viss\",method=\"get\",le=\"0.005\"}",
            1.0,
        ),
        (
            "tomoe_ota_update_outcomes_total{outcome=\"committed\"}",
            1.0,
        ),
        ("tomoe_ota_update_outcomes_total{outcome=\"refused\"}", 1.0),
        (
            "tomoe_ota_update_outcomes_total{outcome=\"rolled_back\"}",
            0.0,
        ),
        ("tomoe_ota_status{status=\"FAILED\"}", 1.0),
        ("tomoe_ota_status{status=\"COMMITTED\"}", 0.0),
        ("tomoe_history_budget_bytes", 64.0 * 1024.0 * 1024.0),
        ("tomoe_history_dropped_for_budget_total", 0.0),
        ("tomoe_history_durable_written_total", 0.0),
    ];
    for (line, value) in expect {
        assert_eq!(sample(&after, line), Some(value), "{line} in\n{after}");
    }
    assert!(after.contains("# TYPE tomoe_api_request_duration_seconds histogram"));
    assert_eq!(
        sample(&after, "tomoe_history_samples"),
        Some(history.stats().samples as f64)
    );
    assert!(sample(&after, "tomoe_history_samples") > sample(&before, "tomoe_history_samples"));
    assert!(!after.contains("/items/1"), "raw paths never become labels");
}
