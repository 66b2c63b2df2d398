//! Time from applying a manifest to the workload's process running.
//!
//! `cargo bench -p tomoe-runtime --bench apply`. Each iteration applies a manifest
//! with one native workload (`sleep 30`), waits until the runtime reports it running
//! with a process id, and deletes it (outside the measurement).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tomoe_runtime::{Manifest, Runtime, RuntimeConfig};
use tomoe_types::VehicleMode;

fn apply_to_running(c: &mut Criterion) {
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio.block_on(async {
        Runtime::start(
            RuntimeConfig {
                data_dir: dir.path().to_owned(),
                broker_url: "http://127.0.0.1:1".into(),
                runtime_url: "http://127.0.0.1:1".into(),
                log_limit_bytes: 1 << 20,
                stop_timeout: Duration::from_secs(1),
                tokens: None,
            },
            VehicleMode::Parked,
        )
        .unwrap()
    });
    let mut round = 0u64;
    c.bench_function("apply_to_running_native", |b| {
        b.iter_custom(|iterations| {
            tokio.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    round += 1;
                    let name = format!("bench-{round}");
                    let manifest = Manifest::parse(&format!(
                        "apiVersion: tomoe.dev/v1\nworkloads:\n  - {{name: {name}, command: sleep, args: [\"30\"]}}\n"
                    ))
                    .unwrap();
                    let start = Instant::now();
                    runtime.apply(manifest).await.unwrap();
                    loop {
                        let running = runtime.list().await.unwrap().into_iter().any(|w| w.name == name && w.pid.is_some());
                        if running {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                    total += start.elapsed();
                    runtime.delete_workload(&name).await.unwrap();
                }
                total
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = apply_to_running
}
criterion_main!(benches);
