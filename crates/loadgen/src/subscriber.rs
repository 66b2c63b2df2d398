//! Subscribers: each on its own gRPC connection, fast ones measuring throughput and
//! latency, slow ones sleeping after every message until the broker drops them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use kuksa_rust_sdk::v2_proto as proto;
use tokio::sync::{oneshot, watch, Notify};
use tonic::transport::Endpoint;
use tonic::Code;

use crate::signals::{decode, SendLog, Signal, SEQ_MODULUS};

/// The largest `buffer_size` a KUKSA v2 subscriber may ask for.
pub(crate) const BUFFER_SIZE: u32 = 1000;

/// HTTP/2 receive windows of a slow subscriber: the protocol's initial 64 KiB
/// instead of the client library's megabytes, so that its backlog builds up in the
/// broker's queue (what is under test) rather than in its own HTTP/2 buffers.
const SLOW_WINDOW: u32 = 65_535;

/// How long a slow subscriber may spend, once the run is over, reading what the
/// broker still holds for it.
pub(crate) const SLOW_DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// A slow subscriber's drain ends after this long without a message.
const SLOW_DRAIN_IDLE: Duration = Duration::from_secs(1);

/// How long connecting and subscribing may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);

/// Progress of the fast subscribers, which paces the provider.
#[derive(Debug)]
pub(crate) struct Progress {
    /// Updates (signal values) each fast subscriber has received. Counted in updates,
    /// not messages: a broker may split a batch into several messages (a bridge
    /// between two brokers does).
    received: Vec<AtomicU64>,
    /// Whether each fast subscriber is still subscribed.
    alive: Vec<AtomicBool>,
    /// Signalled after every received message and every departure.
    changed: Notify,
}

impl Progress {
    /// Progress of `fast` subscribers, none received yet.
    pub(crate) fn new(fast: usize) -> Progress {
        Progress {
            received: (0..fast).map(|_| AtomicU64::new(0)).collect(),
            alive: (0..fast).map(|_| AtomicBool::new(true)).collect(),
            changed: Notify::new(),
        }
    }

    /// Updates received by the fast subscriber that is furthest behind, among those
    /// still subscribed; `None` when none is.
    pub(crate) fn slowest(&self) -> Option<u64> {
        self.received
            .iter()
            .zip(&self.alive)
            .filter(|(_, alive)| alive.load(Ordering::Acquire))
            .map(|(received, _)| received.load(Ordering::Acquire))
            .min()
    }

    /// Waits until some fast subscriber makes progress or leaves.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    fn advance(&self, slot: usize, updates: u64) {
        self.received[slot].fetch_add(updates, Ordering::AcqRel);
        self.changed.notify_one();
    }

    fn leave(&self, slot: usize) {
        self.alive[slot].store(false, Ordering::Release);
        self.changed.notify_one();
    }
}

/// How one subscriber is set up.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// 1-based number, for the report.
    pub(crate) number: usize,
    /// For a slow subscriber, how long it sleeps after each message.
    pub(crate) slow_delay: Option<Duration>,
    /// For a fast subscriber, its slot in [`Progress`].
    pub(crate) progress_slot: Option<usize>,
}

/// How a subscription ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Still subscribed when the run ended.
    Connected,
    /// Disconnected by the broker with `RESOURCE_EXHAUSTED` for falling behind.
    Lagged {
        /// The broker's message.
        message: String,
        /// When the subscriber saw the status.
        observed: Instant,
    },
    /// The broker ended the stream without an error.
    Closed {
        /// When.
        observed: Instant,
    },
    /// The stream failed otherwise.
    Failed {
        /// The status.
        status: String,
        /// When.
        observed: Instant,
    },
}

/// What one subscriber saw.
#[derive(Debug)]
pub(crate) struct Report {
    /// How it was set up.
    pub(crate) spec: Spec,
    /// Signal updates received while publishing (datapoints carrying a sequence
    /// number).
    pub(crate) updates: u64,
    /// Response messages received.
    pub(crate) messages: u64,
    /// Updates whose send instant was no longer known (not in the latency figures).
    pub(crate) unmatched: u64,
    /// Latency of each matched update, microseconds.
    pub(crate) latency: Histogram<u64>,
    /// When the last update arrived.
    pub(crate) last_update: Option<Instant>,
    /// When the provider sent the last update this subscriber received.
    pub(crate) last_update_sent: Option<Instant>,
    /// A slow subscriber's updates read after publishing stopped (not in `updates`).
    pub(crate) drained_updates: u64,
    /// The sequence number of the last update received.
    pub(crate) last_seq: Option<u32>,
    /// Whether a slow subscriber was still receiving when its drain time ran out.
    pub(crate) drain_cut_short: bool,
    /// For a subscriber the broker dropped: when the provider sent the first batch
    /// the subscriber did not get, i.e. when the broker found its queue full.
    pub(crate) disconnected: Option<Instant>,
    /// How the subscription ended.
    pub(crate) outcome: Outcome,
}

/// A new latency histogram: 1 µs to 10 min, 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Runs one subscriber: connects, subscribes to `signals`, consumes the initial
/// snapshot, reports `ready`, then receives until `stop` or until the broker ends
/// the stream.
pub(crate) async fn run(
    spec: Spec,
    endpoint: Endpoint,
    signals: Arc<[Signal]>,
    log: Arc<SendLog>,
    progress: Arc<Progress>,
    ready: oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Report> {
    let number = spec.number;
    let endpoint = match spec.slow_delay {
        Some(_) => endpoint
            .initial_stream_window_size(SLOW_WINDOW)
            .initial_connection_window_size(SLOW_WINDOW),
        None => endpoint,
    };
    let mut stream = tokio::time::timeout(SETUP_TIMEOUT, async {
        let channel = endpoint.connect().await.context("cannot connect")?;
        let mut client = proto::val_client::ValClient::new(channel);
        let mut stream = client
            .subscribe(proto::SubscribeRequest {
                signal_paths: signals.iter().map(|s| s.path.clone()).collect(),
                buffer_size: BUFFER_SIZE,
                filter: None,
            })
            .await
            .context("Subscribe failed")?
            .into_inner();
        // The first message holds the values present when subscribing; none of ours.
        stream
            .message()
            .await
            .context("Subscribe stream failed before its first message")?
            .context("Subscribe stream ended before its first message")?;
        anyhow::Ok(stream)
    })
    .await
    .with_context(|| format!("subscriber {number}: setup timed out"))?
    .with_context(|| format!("subscriber {number}"))?;
    // The coordinator may have given up already; nothing to do about it here.
    let _ = ready.send(());

    let mut report = Report {
        spec,
        updates: 0,
        messages: 0,
        drained_updates: 0,
        unmatched: 0,
        latency: histogram(),
        last_update: None,
        last_update_sent: None,
        last_seq: None,
        disconnected: None,
        drain_cut_short: false,
        outcome: Outcome::Connected,
    };
    let slot = report.spec.progress_slot;
    let delay = report.spec.slow_delay;
    // Once stopped, a slow subscriber reads what the broker still holds for it at
    // full speed, to learn its fate; `Some(deadline)` in that phase.
    let mut draining: Option<Instant> = None;
    loop {
        let message = match draining {
            None => tokio::select! {
                biased;
                _ = stop.changed() => {
                    if delay.is_none() {
                        break;
                    }
                    draining = Some(Instant::now() + SLOW_DRAIN_LIMIT);
                    continue;
                }
                message = stream.message() => message,
            },
            Some(deadline) => {
                let until = deadline.min(Instant::now() + SLOW_DRAIN_IDLE);
                match tokio::time::timeout_at(until.into(), stream.message()).await {
                    Ok(message) => message,
                    Err(_) => {
                        report.drain_cut_short = Instant::now() >= deadline;
                        break;
                    }
                }
            }
        };
        let response = match message {
            Ok(Some(response)) => response,
            Ok(None) => {
                report.outcome = Outcome::Closed {
                    observed: Instant::now(),
                };
                break;
            }
            Err(status) if status.code() == Code::ResourceExhausted => {
                report.outcome = Outcome::Lagged {
                    message: status.message().to_owned(),
                    observed: Instant::now(),
                };
                break;
            }
            Err(status) => {
                report.outcome = Outcome::Failed {
                    status: format!("{:?}: {}", status.code(), status.message()),
                    observed: Instant::now(),
                };
                break;
            }
        };
        let now = Instant::now();
        report.messages += 1;
        let mut message_seq = None;
        let mut message_updates = 0;
        for datapoint in response.entries.values() {
            let Some(seq) = decode(datapoint) else {
                continue;
            };
            message_seq = Some(seq);
            message_updates += 1;
            report.last_seq = Some(seq);
            if draining.is_some() {
                report.drained_updates += 1;
                continue;
            }
            report.updates += 1;
            match log.latency_micros(seq, now) {
                Some(micros) => report.latency.saturating_record(micros.max(1)),
                None => report.unmatched += 1,
            }
        }
        if draining.is_none() {
            if let Some(seq) = message_seq {
                report.last_update = Some(now);
                report.last_update_sent = log.sent_at(seq).or(report.last_update_sent);
            }
        }
        if let Some(slot) = slot {
            progress.advance(slot, message_updates);
        }
        if let (Some(delay), None) = (delay, draining) {
            tokio::select! {
                biased;
                _ = stop.changed() => draining = Some(Instant::now() + SLOW_DRAIN_LIMIT),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }
    if let Outcome::Lagged { .. } = report.outcome {
        // The broker disconnects a subscriber when a batch finds its queue full: the
        // batch after the last one it delivered.
        let missed = report
            .last_seq
            .map_or(1, |seq| (u64::from(seq) + 1) % SEQ_MODULUS);
        report.disconnected = log.sent_at(missed as u32);
    }
    if let Some(slot) = slot {
        progress.leave(slot);
    }
    Ok(report)
}
