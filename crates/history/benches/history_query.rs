//! Query time of a 1-hour window at 100 Hz (360,000 samples) out of a history
//! holding that hour, and of a 1-minute window out of the same hour: in memory,
//! and from the durable store after a restart (memory empty). Also the write of
//! one flush (1 s of one signal at 100 Hz) and the store's bytes per sample.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use tomoe_history::{History, HistoryConfig, RetentionRule};
use tomoe_vss::{PathPattern, Value};

fn filled() -> (History, SystemTime) {
    let catalog = Arc::new(tomoe_vss::default_catalog().unwrap());
    let config = HistoryConfig {
        rules: vec![RetentionRule {
            pattern: PathPattern::parse("Vehicle.Speed").unwrap(),
            max_age: Duration::from_secs(3600),
            max_samples: 360_000,
        }],
        memory_budget_bytes: 64 * 1024 * 1024,
        durable: Vec::new(),
    };
    let history = History::new(catalog, config).unwrap();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for i in 0..360_000u64 {
        history
            .record(
                "Vehicle.Speed",
                start + Duration::from_millis(i * 10),
                Value::Float(i as f32),
            )
            .unwrap();
    }
    (history, start)
}

fn query(c: &mut Criterion) {
    let (history, start) = filled();
    let end = start + Duration::from_secs(3600);
    assert_eq!(
        history.history("Vehicle.Speed", start, end).unwrap().len(),
        360_000
    );
    c.bench_function("history 1 h at 100 Hz (360,000 samples)", |b| {
        b.iter(|| history.history("Vehicle.Speed", start, end).unwrap().len())
    });
    let minute = start + Duration::from_secs(1800);
    c.bench_function("history 1 min of the same hour (6,000 samples)", |b| {
        b.iter(|| {
            history
                .history("Vehicle.Speed", minute, minute + Duration::from_secs(60))
                .unwrap()
                .len()
        })
    });
    c.bench_function("history record 1 sample (ring full)", |b| {
        let mut t = end;
        b.iter(|| {
            t += Duration::from_millis(10);
            history
                .record("Vehicle.Speed", t, Value::Float(1.0))
                .unwrap()
        })
    });
}

/// A durable history of the last hour of `Vehicle.Speed` at 100 Hz, as a restart
/// finds it: everything in the store, nothing in memory.
fn durable(dir: &std::path::Path) -> (History, SystemTime) {
    let rule = |max_age, max_samples| RetentionRule {
        pattern: PathPattern::parse("Vehicle.Speed").unwrap(),
        max_age,
        max_samples,
    };
    let config = HistoryConfig {
        rules: vec![rule(Duration::from_secs(600), 60_000)],
        durable: vec![rule(Duration::from_secs(4 * 3600), 1_000_000)],
        ..HistoryConfig::default()
    };
    let start = SystemTime::now() - Duration::from_secs(3600);
    let store = Arc::new(tomoe_store::SampleStore::open(dir).unwrap());
    for batch in 0..36u64 {
        let samples: Vec<tomoe_store::Sample> = (0..10_000u64)
            .map(|i| tomoe_store::Sample {
                path: "Vehicle.Speed".into(),
                time: start + Duration::from_millis((batch * 10_000 + i) * 10),
                value: Value::Float(i as f32),
            })
            .collect();
        store.append(&samples).unwrap();
    }
    let catalog = Arc::new(tomoe_vss::default_catalog().unwrap());
    (History::with_store(catalog, config, store).unwrap(), start)
}

fn durable_query(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (history, start) = durable(dir.path());
    let end = start + Duration::from_secs(3600);
    let bytes = std::fs::metadata(dir.path().join(tomoe_store::SAMPLES_FILE))
        .unwrap()
        .len();
    eprintln!(
        "durable history: {} bytes on disk for 360,000 samples, {:.0} bytes per sample",
        bytes,
        bytes as f64 / 360_000.0
    );
    let hour = |h: &History| {
        h.history_limited("Vehicle.Speed", start, end, 400_000)
            .unwrap()
            .len()
    };
    assert_eq!(hour(&history), 360_000);
    let mut group = c.benchmark_group("durable");
    group.sample_size(10);
    group.bench_function(
        "history 1 h at 100 Hz from the store (360,000 samples)",
        |b| b.iter(|| hour(&history)),
    );
    let minute = start + Duration::from_secs(1800);
    group.bench_function(
        "history 1 min of the same hour from the store (6,000 samples)",
        |b| {
            b.iter(|| {
                history
                    .history("Vehicle.Speed", minute, minute + Duration::from_secs(60))
                    .unwrap()
                    .len()
            })
        },
    );
    group.bench_function(
        "flush 1 s of one signal at 100 Hz (100 samples, fsync)",
        |b| {
            let mut t = end;
            b.iter(|| {
                for _ in 0..100 {
                    t += Duration::from_millis(10);
                    history
                        .record("Vehicle.Speed", t, Value::Float(1.0))
                        .unwrap();
                }
                history.flush().unwrap()
            })
        },
    );
    group.finish();
}

criterion_group!(benches, query, durable_query);
criterion_main!(benches);
