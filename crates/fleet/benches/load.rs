//! Load on the fleet backend, over HTTP on loopback against a throwaway PostgreSQL
//! on this machine: update checks, manifest reports and telemetry ingest.
//!
//! ```text
//! cargo bench -p tomoe-fleet --bench load [-- VEHICLES SECONDS CONCURRENCY [fast]]
//! ```
//!
//! PostgreSQL runs with its default, durable settings (every commit flushed to
//! disk); `fast` turns `fsync`, `synchronous_commit` and `full_page_writes` off, as
//! the test clusters run, for comparison.
//!
//! - **update checks**: what a vehicle's Uptane client asks when nothing changed,
//!   `GET /director/<VIN>/2.root.json` (404: no new root) and `timestamp.json`;
//!   every vehicle's metadata is signed once before the measurement.
//! - **manifest reports**: signed version manifests, each verified (Ed25519),
//!   checked against the last one and stored with what each ECU runs.
//! - **telemetry ingest**: batches of 1,000 samples checked against each vehicle's
//!   policy and inserted into the day's partition.
//!
//! The load generator runs on the same machine as the backend and the database.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use hdrhistogram::Histogram;
use tomoe_fleet::http::{router, AccessPolicy, HttpConfig};
use tomoe_fleet::{
    Director, DirectorKeys, EcuRecord, Fleet, Registration, TelemetrySample, MAX_INGEST_BATCH,
};
use tomoe_ota::{RepositoryDir, RepositoryKind};
use tomoe_test_support::postgres::{Durability, PostgresServer};

const POLICY: &str = r#"
[[signal]]
paths = ["Vehicle.Speed", "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"]
min_interval_ms = 1000
"#;

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.parse().ok())
        .collect();
    let vehicles = *args.first().unwrap_or(&2000) as usize;
    let seconds = *args.get(1).unwrap_or(&10);
    let concurrency = *args.get(2).unwrap_or(&32) as usize;
    let durability = if std::env::args().skip(1).any(|a| a == "fast") {
        Durability::Fast
    } else {
        Durability::Durable
    };
    let Some(database) = PostgresServer::start_with(durability) else {
        eprintln!("the load test needs PostgreSQL (Debian's postgresql package)");
        std::process::exit(1);
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let settings = match durability {
        Durability::Durable => "PostgreSQL's default durable settings",
        Durability::Fast => "fsync, synchronous_commit and full_page_writes off",
    };
    runtime.block_on(run(&database, settings, vehicles, seconds, concurrency));
}

async fn run(
    database: &PostgresServer,
    settings: &str,
    count: usize,
    seconds: u64,
    concurrency: usize,
) {
    let fleet = Fleet::connect(&database.create_database()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let director_dir = dir.path().join("director");
    RepositoryDir::init(
        &director_dir,
        RepositoryKind::Director,
        None,
        SystemTime::now(),
    )
    .unwrap();
    std::fs::remove_file(director_dir.join("keys/root.pem")).unwrap();
    let director = Arc::new(Director::new(DirectorKeys::load(&director_dir).unwrap()));
    let app = router(
        fleet.clone(),
        HttpConfig {
            access: AccessPolicy { verifiers: vec![] },
            director: Some(director),
            image_repository: None,
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    eprintln!("registering {count} vehicles");
    let mut keys = Vec::with_capacity(count);
    for index in 0..count {
        let key = SigningKey::generate(&mut rand_core::OsRng);
        let id = format!("load-{index:06}");
        fleet
            .register(&Registration {
                id: id.clone(),
                brand: ["hyundai", "nissan"][index % 2].into(),
                model: ["kona", "leaf"][index % 2].into(),
                profile: "load".into(),
                primary_key: tomoe_ota::public_key_pem(&key.verifying_key()).unwrap(),
                ecus: vec![EcuRecord {
                    ecu_id: "app:range-estimator".into(),
                    hardware_id: "tomoe-app".into(),
                    is_primary: true,
                }],
                parts: vec![],
            })
            .await
            .unwrap();
        fleet.set_telemetry_policy(&id, POLICY).await.unwrap();
        keys.push((id, key));
    }
    let keys = Arc::new(keys);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    // Every vehicle's director metadata signed once, as after its first check.
    for (id, _) in keys.iter() {
        let response = http
            .get(format!("{base}/director/{id}/timestamp.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    println!(
        "fleet backend load: {count} vehicles, {concurrency} concurrent clients, {seconds} s per phase"
    );
    println!("PostgreSQL: {settings}");
    println!(
        "{:<20} {:>10} {:>10} {:>10} {:>10}",
        "", "count", "per s", "p50 ms", "p99 ms"
    );

    let next = Arc::new(AtomicU64::new(0));
    let checks = phase(concurrency, seconds, {
        let (http, base, keys, next) = (http.clone(), base.clone(), keys.clone(), next.clone());
        move || {
            let (http, base, keys, next) = (http.clone(), base.clone(), keys.clone(), next.clone());
            async move {
                let index = next.fetch_add(1, Ordering::Relaxed) as usize % keys.len();
                let id = &keys[index].0;
                let root = http
                    .get(format!("{base}/director/{id}/2.root.json"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(root.status(), 404);
                let timestamp = http
                    .get(format!("{base}/director/{id}/timestamp.json"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(timestamp.status(), 200);
                timestamp.bytes().await.unwrap();
                true
            }
        }
    })
    .await;
    report("update checks", &checks.0, seconds);

    // Each client reports for its own vehicles, one second later each time.
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 30 * 24 * 3600;
    let round = Arc::new(AtomicU64::new(0));
    let manifests = phase(concurrency, seconds, {
        let (http, base, keys, round) = (http.clone(), base.clone(), keys.clone(), round.clone());
        move || {
            let (http, base, keys, round) =
                (http.clone(), base.clone(), keys.clone(), round.clone());
            async move {
                let n = round.fetch_add(1, Ordering::Relaxed);
                let (id, key) = &keys[n as usize % keys.len()];
                let second = start + n / keys.len() as u64;
                let manifest = tomoe_ota::VehicleManifest {
                    vin: id.clone(),
                    primary_ecu: "app:range-estimator".into(),
                    ecu_version_reports: vec![tomoe_ota::EcuVersionReport {
                        ecu_identifier: "app:range-estimator".into(),
                        installed_image: tomoe_ota::ImageReport {
                            filename: "range-estimator-1.0".into(),
                            length: 1024,
                            hashes: [("sha256".to_owned(), "ab".repeat(32))].into(),
                        },
                        release_counter: 1,
                        attacks_detected: String::new(),
                    }],
                    nonce: None,
                    timestamp: UNIX_EPOCH + Duration::from_secs(second),
                    installation_reports: vec![],
                };
                let signed = tomoe_ota::sign_manifest(&manifest, key).unwrap();
                let response = http
                    .post(format!("{base}/director/{id}/manifest"))
                    .json(&signed)
                    .send()
                    .await
                    .unwrap();
                // Two clients may race on one vehicle near a round's end: the later
                // manifest arrives first and the earlier is refused as a replay (409),
                // counted apart from the stored reports.
                assert!(
                    response.status() == 200 || response.status() == 409,
                    "{}",
                    response.status()
                );
                response.status() == 200
            }
        }
    })
    .await;
    report("manifest reports", &manifests.0, seconds);
    println!(
        "{:<20} {:>10}   (refused as replays: two clients raced on one vehicle; not counted above)",
        "manifest replays", manifests.1
    );

    let ingesters = concurrency.clamp(1, 4);
    let batches = phase(ingesters, seconds, {
        let (fleet, keys) = (fleet.clone(), keys.clone());
        let counter = Arc::new(AtomicU64::new(0));
        move || {
            let (fleet, keys, counter) = (fleet.clone(), keys.clone(), counter.clone());
            async move {
                let first = counter.fetch_add(MAX_INGEST_BATCH as u64, Ordering::Relaxed);
                let batch: Vec<TelemetrySample> = (0..MAX_INGEST_BATCH as u64)
                    .map(|i| {
                        let n = first + i;
                        TelemetrySample {
                            vehicle: keys[n as usize % keys.len()].0.clone(),
                            path: "Vehicle.Speed".into(),
                            at: chrono::Utc::now(),
                            value: serde_json::json!((n % 130) as f64),
                        }
                    })
                    .collect();
                let outcome = fleet.ingest_telemetry(&batch).await.unwrap();
                assert_eq!(outcome.stored, MAX_INGEST_BATCH);
                true
            }
        }
    })
    .await
    .0;
    let samples = batches.len() * MAX_INGEST_BATCH as u64;
    println!(
        "{:<20} {:>10} {:>10.0} {:>10.2} {:>10.2}   ({} clients, batches of {})",
        "telemetry samples",
        samples,
        samples as f64 / seconds as f64,
        batches.value_at_quantile(0.5) as f64 / 1000.0,
        batches.value_at_quantile(0.99) as f64 / 1000.0,
        ingesters,
        MAX_INGEST_BATCH
    );
    let (rows, bytes): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM telemetry),
                (SELECT COALESCE(sum(pg_total_relation_size(inhrelid)), 0)::bigint
                 FROM pg_inherits WHERE inhparent = 'telemetry'::regclass)",
    )
    .fetch_one(fleet.pool())
    .await
    .unwrap();
    println!(
        "telemetry on disk: {rows} rows, {} MB with indexes, {} bytes a row",
        bytes / 1_000_000,
        bytes / rows.max(1)
    );
}

/// Runs `one` from `clients` concurrent loops for `seconds`: the latency of each
/// that succeeded (`one` returned true), in µs, and how many did not.
async fn phase<F, Fut>(clients: usize, seconds: u64, one: F) -> (Histogram<u64>, u64)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let one = one.clone();
        tasks.spawn(async move {
            let mut histogram = Histogram::<u64>::new(3).unwrap();
            let mut refused = 0;
            while Instant::now() < end {
                let started = Instant::now();
                if one().await {
                    histogram
                        .record(started.elapsed().as_micros() as u64)
                        .unwrap();
                } else {
                    refused += 1;
                }
            }
            (histogram, refused)
        });
    }
    let mut total = Histogram::<u64>::new(3).unwrap();
    let mut refused = 0;
    while let Some(result) = tasks.join_next().await {
        let (histogram, n) = result.unwrap();
        total.add(histogram).unwrap();
        refused += n;
    }
    (total, refused)
}

fn report(what: &str, histogram: &Histogram<u64>, seconds: u64) {
    println!(
        "{:<20} {:>10} {:>10.0} {:>10.2} {:>10.2}",
        what,
        histogram.len(),
        histogram.len() as f64 / seconds as f64,
        histogram.value_at_quantile(0.5) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0
    );
}
