//! The provider: one `OpenProviderStream` that claims the signals and publishes
//! batches of values, each batch carrying a fresh sequence number.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use kuksa_rust_sdk::v2_proto as proto;
use proto::open_provider_stream_request::Action as Outbound;
use proto::open_provider_stream_response::Action as Inbound;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::sleep_until;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::signals::{SendLog, Signal};
use crate::subscriber::Progress;

/// How long the broker may take to acknowledge `ProvideSignalRequest`.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(10);

/// How the provider publishes.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// How long to publish.
    pub(crate) duration: Duration,
    /// Target signal updates per second; `None` for as fast as possible.
    pub(crate) rate: Option<u64>,
    /// Signals per `PublishValuesRequest`.
    pub(crate) batch: usize,
    /// Most batches the provider may be ahead of the slowest fast subscriber.
    pub(crate) window: u64,
}

/// What the provider did.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// When publishing began.
    pub(crate) started: Option<Instant>,
    /// How long publishing lasted.
    pub(crate) elapsed: Duration,
    /// `PublishValuesRequest`s sent.
    pub(crate) batches: u64,
    /// Signal updates sent.
    pub(crate) updates: u64,
    /// Times the provider waited for the fast subscribers to catch up.
    pub(crate) window_waits: u64,
    /// Entries the broker refused.
    pub(crate) rejected: u64,
    /// The first refusal or stream error, if any.
    pub(crate) first_error: Option<String>,
}

/// Responses the broker sent on the provider stream.
#[derive(Debug, Default)]
struct Replies {
    rejected: u64,
    first_error: Option<String>,
}

/// An open provider stream that has claimed its signals.
#[derive(Debug)]
pub(crate) struct Provider {
    requests: mpsc::Sender<proto::OpenProviderStreamRequest>,
    replies: JoinHandle<Replies>,
}

impl Provider {
    /// Opens the stream and claims `signals` (sample interval 0: every change).
    pub(crate) async fn open(channel: Channel, signals: &[Signal]) -> anyhow::Result<Provider> {
        // Capacity 1: a batch is timestamped when it is handed over, not while it
        // waits in a queue of ours.
        let (requests, outbound) = mpsc::channel(1);
        let claim = proto::OpenProviderStreamRequest {
            action: Some(Outbound::ProvideSignalRequest(
                proto::ProvideSignalRequest {
                    signals_sample_intervals: signals
                        .iter()
                        .map(|s| (s.id, proto::SampleInterval { interval_ms: 0 }))
                        .collect(),
                },
            )),
        };
        requests
            .send(claim)
            .await
            .context("provider stream closed")?;
        let mut client = proto::val_client::ValClient::new(channel);
        let mut inbound = tokio::time::timeout(
            CLAIM_TIMEOUT,
            client.open_provider_stream(ReceiverStream::new(outbound)),
        )
        .await
        .context("OpenProviderStream timed out")?
        .context("OpenProviderStream failed")?
        .into_inner();
        let (claimed, claimed_rx) = oneshot::channel();
        let replies = tokio::spawn(async move {
            let mut claimed = Some(claimed);
            let mut replies = Replies::default();
            loop {
                match inbound.message().await {
                    Ok(Some(response)) => match response.action {
                        Some(Inbound::ProvideSignalResponse(_)) => {
                            if let Some(claimed) = claimed.take() {
                                let _ = claimed.send(Ok(()));
                            }
                        }
                        Some(Inbound::PublishValuesResponse(response)) => {
                            replies.rejected += response.status.len() as u64;
                            if replies.first_error.is_none() {
                                replies.first_error =
                                    response.status.iter().next().map(|(id, error)| {
                                        format!(
                                            "batch {}: signal id {id}: {}",
                                            response.request_id, error.message
                                        )
                                    });
                            }
                        }
                        _ => {}
                    },
                    Ok(None) => break,
                    Err(status) => {
                        let message = format!(
                            "provider stream failed: {:?}: {}",
                            status.code(),
                            status.message()
                        );
                        match claimed.take() {
                            Some(claimed) => {
                                let _ = claimed.send(Err(message));
                            }
                            None => {
                                replies.first_error.get_or_insert(message);
                            }
                        }
                        break;
                    }
                }
            }
            replies
        });
        match tokio::time::timeout(CLAIM_TIMEOUT, claimed_rx).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(message))) => bail!("ProvideSignalRequest refused: {message}"),
            Ok(Err(_)) => bail!(
                "the broker closed the provider stream before acknowledging ProvideSignalRequest"
            ),
            Err(_) => bail!("no ProvideSignalResponse within {CLAIM_TIMEOUT:?}"),
        }
        Ok(Provider { requests, replies })
    }

    /// Publishes according to `plan`; returns when the plan's duration is over.
    pub(crate) async fn publish(
        &self,
        plan: &Plan,
        signals: &[Signal],
        log: &SendLog,
        progress: &Progress,
    ) -> anyhow::Result<Report> {
        let batch = plan.batch.clamp(1, signals.len());
        let interval = plan
            .rate
            .map(|rate| Duration::from_secs_f64(batch as f64 / rate as f64));
        let started = Instant::now();
        let end = started + plan.duration;
        let mut report = Report {
            started: Some(started),
            ..Report::default()
        };
        let mut next_signal = 0usize;
        'publish: loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            if let Some(interval) = interval {
                let due = started + interval.mul_f64(report.batches as f64);
                if due >= end {
                    break;
                }
                if due > now {
                    sleep_until(due.into()).await;
                }
            }
            // Stay within `window` batches of the slowest fast subscriber, so that
            // pacing, not the broker's queue limit, decides the fast subscribers' fate.
            let mut waited = false;
            while progress.slowest().is_some_and(|received| {
                report.updates.saturating_sub(received) >= plan.window * batch as u64
            }) {
                waited = true;
                tokio::select! {
                    () = progress.changed() => {}
                    () = sleep_until(end.into()) => break 'publish,
                }
            }
            report.window_waits += u64::from(waited);
            let seq = report.batches + 1;
            let data_points: HashMap<i32, proto::Datapoint> = (0..batch)
                .map(|i| {
                    let signal = &signals[(next_signal + i) % signals.len()];
                    (signal.id, signal.datapoint(seq))
                })
                .collect();
            next_signal = (next_signal + batch) % signals.len();
            let request = proto::OpenProviderStreamRequest {
                action: Some(Outbound::PublishValuesRequest(
                    proto::PublishValuesRequest {
                        request_id: seq as u32,
                        data_points,
                    },
                )),
            };
            let permit = tokio::select! {
                permit = self.requests.reserve() => permit.context("the provider stream closed while publishing")?,
                () = sleep_until(end.into()) => break,
            };
            log.record(seq, Instant::now());
            permit.send(request);
            report.batches += 1;
            report.updates += batch as u64;
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Closes the stream and collects the broker's refusals into `report`.
    pub(crate) async fn close(self, report: &mut Report) {
        let Provider { requests, replies } = self;
        drop(requests);
        let abort = replies.abort_handle();
        match tokio::time::timeout(Duration::from_secs(5), replies).await {
            Ok(Ok(replies)) => {
                report.rejected += replies.rejected;
                if report.first_error.is_none() {
                    report.first_error = replies.first_error;
                }
            }
            Ok(Err(error)) => {
                report
                    .first_error
                    .get_or_insert_with(|| format!("provider reply reader failed: {error}"));
            }
            Err(_) => {
                abort.abort();
                report.first_error.get_or_insert_with(|| {
                    "the broker did not close the provider stream within 5 s".to_owned()
                });
            }
        }
    }
}
