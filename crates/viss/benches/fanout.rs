//! VISS subscribe fan-out: a broker publishes batches of N float sensors in
//! process; M WebSocket clients, each subscribed to the N signals (a `paths`
//! filter, no other filter), receive them over loopback from the VISS server.
//! Reports updates/s per subscriber and the latency from `Broker::publish` to
//! the client's decoded event (p50, p99, max).
//!
//! `cargo bench -p tomoe-viss --bench fanout` with the environment variables
//! `SUBSCRIBERS` (3), `SIGNALS` (100), `RATE` (updates/s in all, 100000; 0 for
//! as fast as the subscribers keep up) and `DURATION_S` (10).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value as Json};
use tokio_tungstenite::tungstenite::Message;
use tomoe_broker::{Broker, BrokerConfig, Permissions};
use tomoe_viss::{AccessPolicy, VissConfig};
use tomoe_vss::{DataType, EntryType, Value};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let (subscribers, signals, rate, seconds) = (
        env("SUBSCRIBERS", 3) as usize,
        env("SIGNALS", 100) as usize,
        env("RATE", 100_000),
        env("DURATION_S", 10),
    );
    let broker = Broker::new(
        tomoe_vss::default_catalog().unwrap(),
        BrokerConfig::default(),
        None,
    )
    .unwrap();
    let leaves: Vec<(tomoe_vss::LeafId, String)> = broker
        .catalog()
        .leaves()
        .filter(|l| l.entry_type == EntryType::Sensor && l.datatype == DataType::Float)
        .filter(|l| l.min.is_none() && l.max.is_none() && l.allowed.is_empty())
        .take(signals)
        .map(|l| (l.id, l.path.clone()))
        .collect();
    assert_eq!(leaves.len(), signals, "not enough unbounded float sensors");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let config = VissConfig {
        broker: broker.clone(),
        history: None,
        access: AccessPolicy {
            verifiers: Vec::new(),
            anonymous: true,
        },
        observer: None,
    };
    tokio::spawn(tomoe_viss::serve(listener, config, std::future::pending()));

    let start = Instant::now();
    // When each batch was published, in ns since `start`.
    let total_batches = if rate == 0 {
        10_000_000
    } else {
        (rate * seconds / signals as u64) as usize
    };
    let sent: Arc<Vec<AtomicU64>> =
        Arc::new((0..total_batches).map(|_| AtomicU64::new(0)).collect());
    let received: Arc<Vec<AtomicU64>> =
        Arc::new((0..subscribers).map(|_| AtomicU64::new(0)).collect());
    let mut tasks = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(subscribers);
    for index in 0..subscribers {
        let paths: Vec<String> = leaves
            .iter()
            .map(|(_, p)| p["Vehicle.".len()..].to_owned())
            .collect();
        let (sent, received, ready) = (sent.clone(), received.clone(), ready_tx.clone());
        tasks.push(tokio::spawn(async move {
            let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/"))
                .await
                .unwrap();
            let request = json!({"action": "subscribe", "path": "Vehicle", "requestId": "1",
                "filter": {"variant": "paths", "parameter": paths}});
            socket
                .send(Message::Text(request.to_string().into()))
                .await
                .unwrap();
            let mut latencies = hdrhistogram::Histogram::<u64>::new(3).unwrap();
            let mut first = None;
            let mut last = start;
            let mut updates = 0u64;
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let message: Json = serde_json::from_str(text.as_str()).unwrap();
                if message["action"] == "subscribe" {
                    ready.send(()).await.unwrap();
                    continue;
                }
                let Some(data) = message["data"].as_array() else {
                    eprintln!("subscriber {index}: {message}");
                    break;
                };
                let now = Instant::now();
                let sequence: f64 = data[0]["dp"]["value"].as_str().unwrap().parse().unwrap();
                if sequence < 0.0 {
                    break; // The end marker.
                }
                let sequence = sequence as usize;
                first.get_or_insert(now);
                last = now;
                updates += data.len() as u64;
                received[index].fetch_add(1, Ordering::Relaxed);
                let at = sent[sequence].load(Ordering::Relaxed);
                let latency = (now - start).as_nanos() as u64 - at;
                latencies.record(latency / 1000).unwrap();
            }
            (updates, first.map(|f| last - f), latencies)
        }));
    }
    for _ in 0..subscribers {
        ready_rx.recv().await.unwrap();
    }
    let all = Permissions::allow_all();
    let interval = if rate == 0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(signals as f64 / rate as f64)
    };
    let begin = Instant::now();
    let deadline = begin + Duration::from_secs(seconds);
    let mut published = 0usize;
    while Instant::now() < deadline && published < total_batches {
        if rate == 0 {
            // Stay at most 200 batches ahead of the slowest subscriber.
            let slowest = received
                .iter()
                .map(|r| r.load(Ordering::Relaxed))
                .min()
                .unwrap();
            if published as u64 > slowest + 200 {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        } else {
            let due = begin + interval * published as u32;
            tokio::time::sleep_until(due.into()).await;
        }
        let value = Value::Float(published as f32);
        let batch: Vec<_> = leaves
            .iter()
            .map(|(id, _)| (*id, Some(value.clone())))
            .collect();
        sent[published].store(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        broker.publish(&all, &batch).unwrap();
        published += 1;
    }
    let batch: Vec<_> = leaves
        .iter()
        .map(|(id, _)| (*id, Some(Value::Float(-1.0))))
        .collect();
    broker.publish(&all, &batch).unwrap();
    let mut histogram = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    let mut rates = Vec::new();
    for task in tasks {
        let (updates, span, latencies) = task.await.unwrap();
        histogram.add(&latencies).unwrap();
        let span = span.unwrap_or_default().as_secs_f64().max(1e-9);
        rates.push(updates as f64 / span);
    }
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    println!(
        "VISS fan-out: {subscribers} subscribers, {signals} signals per batch, rate {}, {published} batches published",
        if rate == 0 { "max".to_owned() } else { format!("{rate}/s") }
    );
    println!("  updates/s per subscriber (mean): {mean:.0}");
    println!(
        "  latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        histogram.value_at_quantile(0.5) as f64 / 1000.0,
        histogram.value_at_quantile(0.9) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.value_at_quantile(0.999) as f64 / 1000.0,
        histogram.max() as f64 / 1000.0
    );
}
