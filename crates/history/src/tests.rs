use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tomoe_broker::{Broker, BrokerConfig, Permissions};
use tomoe_vss::{PathPattern, Value};

use crate::{History, HistoryConfig, HistoryError, RetentionRule, SAMPLE_OVERHEAD_BYTES};

fn catalog() -> Arc<tomoe_vss::Catalog> {
    Arc::new(tomoe_vss::default_catalog().unwrap())
}

fn rule(pattern: &str, max_age: Duration, max_samples: usize) -> RetentionRule {
    RetentionRule {
        pattern: PathPattern::parse(pattern).unwrap(),
        max_age,
        max_samples,
    }
}

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seconds)
}

#[test]
fn a_window_returns_the_samples_inside_it_oldest_first() {
    let history = History::new(catalog(), HistoryConfig::default()).unwrap();
    for s in 0..10 {
        history
            .record("Vehicle.Speed", at(s), Value::Float(s as f32))
            .unwrap();
    }
    let samples = history.history("Vehicle.Speed", at(3), at(5)).unwrap();
    assert_eq!(
        samples,
        vec![
            (at(3), Value::Float(3.0)),
            (at(4), Value::Float(4.0)),
            (at(5), Value::Float(5.0))
        ]
    );
    assert!(history
        .history("Vehicle.Speed", at(20), at(30))
        .unwrap()
        .is_empty());
    assert!(history
        .history("Vehicle.Speed", at(5), at(3))
        .unwrap()
        .is_empty());
}

#[test]
fn unknown_and_unrecorded_paths_are_told_apart() {
    let config = HistoryConfig {
        rules: vec![rule("Vehicle.Speed", Duration::from_secs(60), 10)],
        ..HistoryConfig::default()
    };
    let history = History::new(catalog(), config).unwrap();
    assert_eq!(
        history.history("Vehicle.Nope", at(0), at(1)),
        Err(HistoryError::UnknownPath {
            path: "Vehicle.Nope".into()
        })
    );
    assert_eq!(
        history.history("Vehicle.TraveledDistance", at(0), at(1)),
        Err(HistoryError::NotRecorded {
            path: "Vehicle.TraveledDistance".into()
        })
    );
    assert!(history.is_recorded("Vehicle.Speed"));
    assert!(!history.is_recorded("Vehicle.TraveledDistance"));
    assert_eq!(history.recorded().len(), 1);
}

#[test]
fn retention_by_count_keeps_the_newest() {
    let config = HistoryConfig {
        rules: vec![rule("Vehicle.Speed", Duration::from_secs(3600), 3)],
        ..HistoryConfig::default()
    };
    let history = History::new(catalog(), config).unwrap();
    for s in 0..10 {
        history
            .record("Vehicle.Speed", at(s), Value::Float(s as f32))
            .unwrap();
    }
    let samples = history.history("Vehicle.Speed", at(0), at(100)).unwrap();
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[0], (at(7), Value::Float(7.0)));
    assert_eq!(history.stats().samples, 3);
}

#[test]
fn retention_by_time_follows_the_first_rule_that_selects_a_signal() {
    let config = HistoryConfig {
        rules: vec![
            rule("Vehicle.Speed", Duration::from_secs(5), 1000),
            rule("Vehicle", Duration::from_secs(100), 1000),
        ],
        ..HistoryConfig::default()
    };
    let history = History::new(catalog(), config).unwrap();
    for s in 0..20 {
        history
            .record("Vehicle.Speed", at(s), Value::Float(s as f32))
            .unwrap();
        history
            .record("Vehicle.TraveledDistance", at(s), Value::Float(s as f32))
            .unwrap();
    }
    let speed = history.history("Vehicle.Speed", at(0), at(100)).unwrap();
    assert_eq!(speed.first().unwrap().0, at(14));
    let distance = history
        .history("Vehicle.TraveledDistance", at(0), at(100))
        .unwrap();
    assert_eq!(distance.len(), 20);
    // A signal that stopped changing loses its samples once they are too old.
    history.prune(at(200));
    assert_eq!(history.stats().samples, 0);
}

#[test]
fn the_memory_budget_drops_the_oldest_samples_of_all_signals_first() {
    let config = HistoryConfig {
        rules: vec![rule("Vehicle", Duration::from_secs(3600), 1000)],
        memory_budget_bytes: 10 * SAMPLE_OVERHEAD_BYTES,
    };
    let history = History::new(catalog(), config).unwrap();
    for s in 0..8 {
        history
            .record("Vehicle.Speed", at(s), Value::Float(s as f32))
            .unwrap();
    }
    for s in 8..12 {
        history
            .record("Vehicle.TraveledDistance", at(s), Value::Float(s as f32))
            .unwrap();
    }
    let stats = history.stats();
    assert_eq!(stats.samples, 10);
    assert!(stats.bytes <= stats.budget_bytes);
    assert_eq!(stats.dropped_for_budget, 2);
    let speed = history.history("Vehicle.Speed", at(0), at(100)).unwrap();
    assert_eq!(speed.first().unwrap().0, at(2));
    assert_eq!(
        history
            .history("Vehicle.TraveledDistance", at(0), at(100))
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn string_values_count_their_bytes() {
    let config = HistoryConfig {
        rules: vec![rule("Vehicle", Duration::from_secs(3600), 1000)],
        memory_budget_bytes: 1024 * 1024,
    };
    let history = History::new(catalog(), config).unwrap();
    history
        .record(
            "Vehicle.VehicleIdentification.VIN",
            at(0),
            Value::String("x".repeat(1000)),
        )
        .unwrap();
    assert_eq!(history.stats().bytes, SAMPLE_OVERHEAD_BYTES + 1000);
}

#[test]
fn samples_out_of_order_keep_the_buffer_ordered() {
    let history = History::new(catalog(), HistoryConfig::default()).unwrap();
    history
        .record("Vehicle.Speed", at(10), Value::Float(1.0))
        .unwrap();
    history
        .record("Vehicle.Speed", at(5), Value::Float(2.0))
        .unwrap();
    let samples = history.history("Vehicle.Speed", at(0), at(100)).unwrap();
    assert_eq!(
        samples,
        vec![(at(10), Value::Float(1.0)), (at(10), Value::Float(2.0))]
    );
}

#[test]
fn bad_configurations_are_refused() {
    for config in [
        HistoryConfig {
            memory_budget_bytes: 0,
            ..HistoryConfig::default()
        },
        HistoryConfig {
            rules: vec![rule("Vehicle", Duration::from_secs(1), 0)],
            ..HistoryConfig::default()
        },
        HistoryConfig {
            rules: vec![rule("Vehicle", Duration::ZERO, 10)],
            ..HistoryConfig::default()
        },
    ] {
        assert!(matches!(
            History::new(catalog(), config),
            Err(HistoryError::InvalidConfig(_))
        ));
    }
}

#[tokio::test]
async fn the_feed_records_what_the_broker_accepts() {
    let broker = Broker::new(
        tomoe_vss::default_catalog().unwrap(),
        BrokerConfig::default(),
        None,
    )
    .unwrap();
    let config = HistoryConfig {
        rules: vec![rule("Vehicle.Speed", Duration::from_secs(600), 100)],
        ..HistoryConfig::default()
    };
    let history = History::start(&broker, config).unwrap();
    let speed = broker.resolve_path("Vehicle.Speed").unwrap();
    let all = Permissions::allow_all();
    for v in 1..=3 {
        broker
            .publish(&all, &[(speed, Some(Value::Float(v as f32)))])
            .unwrap();
    }
    let far = SystemTime::now() + Duration::from_secs(3600);
    loop {
        let samples = history
            .history("Vehicle.Speed", SystemTime::UNIX_EPOCH, far)
            .unwrap();
        if samples.len() == 3 {
            let values: Vec<Value> = samples.into_iter().map(|(_, v)| v).collect();
            assert_eq!(
                values,
                vec![Value::Float(1.0), Value::Float(2.0), Value::Float(3.0)]
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn a_sample_costs_what_docs_limits_says() {
    // docs/limits.md and docs/viss.md quote this figure (64-bit targets).
    assert_eq!(SAMPLE_OVERHEAD_BYTES, 48);
}
