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
        ..HistoryConfig::default()
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
        ..HistoryConfig::default()
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

mod durable {
    use super::rule;
    use super::*;
    use tomoe_store::SampleStore;

    /// Seconds after a moment a minute ago: the store prunes by the clock.
    fn at(seconds: u64) -> SystemTime {
        static BASE: std::sync::OnceLock<SystemTime> = std::sync::OnceLock::new();
        *BASE.get_or_init(|| SystemTime::now() - Duration::from_secs(60))
            + Duration::from_secs(seconds)
    }

    fn config(durable: &[(&str, Duration, usize)]) -> HistoryConfig {
        HistoryConfig {
            rules: vec![rule("Vehicle.Speed", Duration::from_secs(3600), 5)],
            durable: durable.iter().map(|(p, a, n)| rule(p, *a, *n)).collect(),
            ..HistoryConfig::default()
        }
    }

    fn open(dir: &std::path::Path, config: HistoryConfig) -> History {
        let store = Arc::new(SampleStore::open(dir).unwrap());
        History::with_store(catalog(), config, store).unwrap()
    }

    fn values(samples: &[(SystemTime, Value)]) -> Vec<f32> {
        samples
            .iter()
            .map(|(_, v)| match v {
                Value::Float(f) => *f,
                other => panic!("not a float: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn durable_signals_survive_a_restart_and_queries_join_store_and_memory() {
        let dir = tempfile::tempdir().unwrap();
        let speed = [("Vehicle.Speed", Duration::from_secs(3600), 1000)];
        {
            let history = open(dir.path(), config(&speed));
            assert!(history.is_durable("Vehicle.Speed"));
            assert!(!history.is_durable("Vehicle.TraveledDistance"));
            for s in 0..20 {
                history
                    .record("Vehicle.Speed", at(s), Value::Float(s as f32))
                    .unwrap();
            }
            assert_eq!(history.flush().unwrap(), 20);
            // Memory keeps 5; the store answers for the 15 before them.
            let all = history.history("Vehicle.Speed", at(0), at(100)).unwrap();
            assert_eq!(values(&all), (0..20).map(|s| s as f32).collect::<Vec<_>>());
        }
        let history = open(dir.path(), config(&speed));
        assert_eq!(history.stats().samples, 0);
        for s in 20..23 {
            history
                .record("Vehicle.Speed", at(s), Value::Float(s as f32))
                .unwrap();
        }
        let all = history.history("Vehicle.Speed", at(0), at(100)).unwrap();
        assert_eq!(values(&all), (0..23).map(|s| s as f32).collect::<Vec<_>>());
        let window = history.history("Vehicle.Speed", at(3), at(21)).unwrap();
        assert_eq!(window.first().unwrap().0, at(3));
        assert_eq!(window.last().unwrap().0, at(21));
        assert_eq!(window.len(), 19);
        assert_eq!(
            history.history_limited("Vehicle.Speed", at(0), at(100), 10),
            Err(HistoryError::TooManySamples {
                path: "Vehicle.Speed".into(),
                limit: 10
            })
        );
    }

    #[test]
    fn the_store_keeps_a_durable_rules_count_and_forgets_signals_no_rule_selects() {
        let dir = tempfile::tempdir().unwrap();
        let rules = [
            ("Vehicle.Speed", Duration::from_secs(3600), 8),
            ("Vehicle.TraveledDistance", Duration::from_secs(3600), 8),
        ];
        {
            let history = open(dir.path(), config(&rules));
            for s in 0..30 {
                history
                    .record("Vehicle.Speed", at(s), Value::Float(s as f32))
                    .unwrap();
                history
                    .record("Vehicle.TraveledDistance", at(s), Value::Float(s as f32))
                    .unwrap();
            }
            history.flush().unwrap();
        }
        // Restarted with the distance no longer durable: the start prunes.
        let history = open(dir.path(), config(&rules[..1]));
        let speed = history.history("Vehicle.Speed", at(0), at(100)).unwrap();
        assert_eq!(
            values(&speed),
            (22..30).map(|s| s as f32).collect::<Vec<_>>()
        );
        assert!(history
            .history("Vehicle.TraveledDistance", at(0), at(100))
            .is_err());
        drop(history);
        let store = SampleStore::open(dir.path()).unwrap();
        assert_eq!(store.paths().unwrap(), vec!["Vehicle.Speed".to_owned()]);
        assert_eq!(store.len().unwrap(), 8);
    }

    #[test]
    fn samples_at_one_time_are_all_kept_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let history = open(
            dir.path(),
            config(&[("Vehicle.Speed", Duration::from_secs(3600), 1000)]),
        );
        for v in 0..10 {
            history
                .record("Vehicle.Speed", at(1), Value::Float(v as f32))
                .unwrap();
        }
        history.flush().unwrap();
        drop(history);
        let history = open(
            dir.path(),
            config(&[("Vehicle.Speed", Duration::from_secs(3600), 1000)]),
        );
        let all = history.history("Vehicle.Speed", at(0), at(2)).unwrap();
        assert_eq!(values(&all), (0..10).map(|v| v as f32).collect::<Vec<_>>());
    }

    #[test]
    fn durable_rules_without_a_store_or_over_the_bound_are_refused() {
        let one = config(&[("Vehicle.Speed", Duration::from_secs(60), 10)]);
        assert!(matches!(
            History::new(catalog(), one),
            Err(HistoryError::InvalidConfig(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SampleStore::open(dir.path()).unwrap());
        let everything = HistoryConfig {
            durable: vec![RetentionRule::durable(PathPattern::parse("**").unwrap())],
            ..HistoryConfig::default()
        };
        let Err(HistoryError::InvalidConfig(reason)) =
            History::with_store(catalog(), everything, store.clone())
        else {
            panic!("durable ** at 1,000,000 samples each must be refused");
        };
        assert!(reason.contains("10000000"), "{reason}");
        let too_old = config(&[("Vehicle.Speed", Duration::from_secs(32 * 86_400), 10)]);
        assert!(History::with_store(catalog(), too_old, store).is_err());
    }

    #[tokio::test]
    async fn the_feed_writes_durable_signals_to_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::new(
            tomoe_vss::default_catalog().unwrap(),
            BrokerConfig::default(),
            None,
        )
        .unwrap();
        let config = config(&[("Vehicle.Speed", Duration::from_secs(3600), 1000)]);
        let history = History::start_in(&broker, config.clone(), dir.path()).unwrap();
        let speed = broker.resolve_path("Vehicle.Speed").unwrap();
        let all = Permissions::allow_all();
        for v in 1..=3 {
            broker
                .publish(&all, &[(speed, Some(Value::Float(v as f32)))])
                .unwrap();
        }
        // The feed flushes within a second or so.
        while history.stats().durable_written < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(history);
        // The feed ends within a second of the last clone's drop, and lets the file go.
        let store = loop {
            match SampleStore::open(dir.path()) {
                Ok(store) => break store,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let far = SystemTime::now() + Duration::from_secs(60);
        let stored = store
            .query("Vehicle.Speed", SystemTime::UNIX_EPOCH, far, 10)
            .unwrap();
        assert_eq!(values(&stored), vec![1.0, 2.0, 3.0]);
    }
}

mod configuration {
    use super::*;

    #[test]
    fn a_toml_file_sets_memory_and_durable_rules() {
        let config = HistoryConfig::from_toml(
            r#"
            memory_budget_bytes = 1048576
            [[memory]]
            pattern = "Vehicle.Speed"
            max_age = "1h"
            max_samples = 360000
            [[durable]]
            pattern = "Vehicle.Powertrain.TractionBattery.StateOfCharge.*"
            max_age = "7days"
            "#,
        )
        .unwrap();
        assert_eq!(config.memory_budget_bytes, 1_048_576);
        assert_eq!(
            config.rules,
            vec![rule("Vehicle.Speed", Duration::from_secs(3600), 360_000)]
        );
        assert_eq!(config.durable.len(), 1);
        assert_eq!(config.durable[0].max_age, Duration::from_secs(7 * 86_400));
        assert_eq!(
            config.durable[0].max_samples,
            crate::DEFAULT_DURABLE_MAX_SAMPLES
        );
        // Without [[memory]], every signal is kept in memory as by default.
        let only_durable =
            HistoryConfig::from_toml("[[durable]]\npattern = \"Vehicle.Speed\"\n").unwrap();
        assert_eq!(only_durable.rules, HistoryConfig::default().rules);
    }

    #[test]
    fn bad_files_are_refused_with_what_and_where() {
        for (text, expected) in [
            (
                "[[memory]]\npattern = \"Vehicle.Speed\"\nmax_age = \"soon\"\n",
                "soon",
            ),
            (
                "[[durable]]\npattern = \"Vehicle..Speed\"\n",
                "Vehicle..Speed",
            ),
            ("[[durable]]\npatern = \"Vehicle.Speed\"\n", "patern"),
            ("memory_budget_bytes = \"big\"\n", "line 1"),
            ("[[durable]\n", "line 1"),
        ] {
            let Err(HistoryError::InvalidConfig(reason)) = HistoryConfig::from_toml(text) else {
                panic!("{text:?} must be refused");
            };
            assert!(reason.contains(expected), "{text:?}: {reason}");
        }
    }

    #[test]
    fn load_names_the_file_and_bounds_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("history.toml");
        let error = HistoryConfig::load(Some(&missing), &[]).unwrap_err();
        assert!(error.to_string().contains("history.toml"), "{error}");
        std::fs::write(&missing, "#".repeat(2 * 1024 * 1024)).unwrap();
        let error = HistoryConfig::load(Some(&missing), &[]).unwrap_err();
        assert!(error.to_string().contains("more than"), "{error}");
        let config = HistoryConfig::load(None, &["Vehicle.Speed".to_owned()]).unwrap();
        assert_eq!(
            config.durable,
            vec![RetentionRule::durable(
                PathPattern::parse("Vehicle.Speed").unwrap()
            )]
        );
        assert!(HistoryConfig::load(None, &["Vehicle.*.*.**x".to_owned()]).is_err());
    }
}
