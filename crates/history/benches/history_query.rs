//! Query time of a 1-hour window at 100 Hz (360,000 samples) out of a history
//! holding that hour, and of a 1-minute window out of the same hour.

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

criterion_group!(benches, query);
criterion_main!(benches);
