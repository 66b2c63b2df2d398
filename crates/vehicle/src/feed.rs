//! The feed loop: frames from a source, through a [`Feeder`], into a value sink.

use std::future::Future;
use std::time::Duration;

use tomoe_broker::{BatchPolicy, Broker, BrokerError, Permissions, RefusedEntry};
use tomoe_can::{CanError, FrameSource};
use tomoe_vss::{LeafId, Value};

use crate::Feeder;

/// Where a feeder's values go: the in-process broker ([`BrokerSink`]) or a broker
/// elsewhere (the `tomoe` binary implements a KUKSA provider over gRPC).
pub trait ValueSink: Send {
    /// Publishes `values` (leaf ids of the feeder's catalog). Returns the entries the
    /// sink refused, which were dropped; the others were published. An error means the
    /// sink cannot go on.
    fn publish(
        &mut self,
        values: Vec<(LeafId, Option<Value>)>,
    ) -> impl Future<Output = Result<Vec<RefusedEntry>, FeedError>> + Send;

    /// Called once after the last batch: pushes out what is still in flight.
    fn finish(&mut self) -> impl Future<Output = Result<(), FeedError>> + Send {
        async { Ok(()) }
    }
}

/// The in-process broker as a [`ValueSink`]: each batch is published with
/// [`BatchPolicy::ValidOnly`], so a refused value is dropped and reported while the
/// rest of the batch is published.
#[derive(Debug, Clone)]
pub struct BrokerSink {
    broker: Broker,
    permissions: Permissions,
}

impl BrokerSink {
    /// Publishes to `broker` with `permissions`.
    pub fn new(broker: Broker, permissions: Permissions) -> BrokerSink {
        BrokerSink {
            broker,
            permissions,
        }
    }
}

impl ValueSink for BrokerSink {
    fn publish(
        &mut self,
        values: Vec<(LeafId, Option<Value>)>,
    ) -> impl Future<Output = Result<Vec<RefusedEntry>, FeedError>> + Send {
        let result = self
            .broker
            .publish_batch(&self.permissions, &values, BatchPolicy::ValidOnly)
            .map(|outcome| outcome.refused)
            .map_err(FeedError::Broker);
        std::future::ready(result)
    }
}

/// When a [`Feeder::run`] hands its queued values to the sink. With neither an
/// interval nor a frame count, values are handed over only when the source ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushPolicy {
    /// Flush at this interval of wall-clock time, whether frames arrive or not.
    pub interval: Option<Duration>,
    /// Flush after this many frames.
    pub frames: Option<u32>,
}

impl FlushPolicy {
    /// Flush after every frame (a replay in real time).
    pub fn every_frame() -> FlushPolicy {
        FlushPolicy::frames(1)
    }

    /// Flush after every `frames` frames (a replay as fast as possible).
    pub fn frames(frames: u32) -> FlushPolicy {
        FlushPolicy {
            interval: None,
            frames: Some(frames.max(1)),
        }
    }

    /// Flush every `interval` (a live or simulated vehicle).
    pub fn interval(interval: Duration) -> FlushPolicy {
        FlushPolicy {
            interval: Some(interval),
            frames: None,
        }
    }
}

/// Why a feed or a vehicle source stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// The frame source failed (a log that cannot be read, an interface gone).
    #[error("cannot read the vehicle's frames")]
    Source(#[source] CanError),
    /// A frame could not be sent (onto a bus or an interface).
    #[error("cannot send a frame")]
    Frames(#[source] CanError),
    /// The broker refused a batch as a whole (its store failed).
    #[error("the broker refused the values")]
    Broker(#[source] BrokerError),
    /// Another sink failed, for example a remote broker that ended the connection.
    #[error("the value sink failed")]
    Sink(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Feeder {
    /// Hands the queued values to `sink`; returns how many it published. Refused
    /// values are counted in [`crate::FeederStats::rejected`] and logged at debug level.
    pub async fn flush(&mut self, sink: &mut impl ValueSink) -> Result<usize, FeedError> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        let values = std::mem::take(&mut self.pending);
        let count = values.len();
        let refused = sink.publish(values).await?;
        for entry in &refused {
            tracing::debug!(path = %entry.path, reason = %entry.reason, "vehicle value refused");
        }
        let published = count - refused.len().min(count);
        self.stats.published += published as u64;
        self.stats.rejected += refused.len() as u64;
        Ok(published)
    }

    /// Feeds the frames of `source` to `sink` until the source ends or `stop`
    /// completes, flushing as `policy` says and once more at the end, then finishes
    /// the sink. A receiver that fell behind its bus is logged and goes on; any other
    /// source error, or a sink error, ends the feed.
    pub async fn run<S, K>(
        &mut self,
        source: &mut S,
        sink: &mut K,
        policy: FlushPolicy,
        stop: impl Future<Output = ()>,
    ) -> Result<(), FeedError>
    where
        S: FrameSource + ?Sized,
        K: ValueSink,
    {
        tokio::pin!(stop);
        let mut ticker = policy.interval.map(|interval| {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker
        });
        let mut since_flush = 0u32;
        loop {
            let tick = async {
                match &mut ticker {
                    Some(ticker) => {
                        ticker.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = &mut stop => break,
                _ = tick => {
                    self.flush(sink).await?;
                    since_flush = 0;
                }
                frame = source.recv() => match frame {
                    Ok(Some(frame)) => {
                        self.process(&frame);
                        since_flush += 1;
                        if policy.frames.is_some_and(|frames| since_flush >= frames) {
                            self.flush(sink).await?;
                            since_flush = 0;
                        }
                    }
                    Ok(None) => break,
                    Err(CanError::Lagged { skipped }) => {
                        tracing::warn!(skipped, "the feeder fell behind the bus");
                    }
                    Err(error) => return Err(FeedError::Source(error)),
                },
            }
        }
        self.flush(sink).await?;
        sink.finish().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_policies() {
        let check = |policy: FlushPolicy, interval: Option<u64>, frames: Option<u32>| {
            assert_eq!(
                (policy.interval, policy.frames),
                (interval.map(Duration::from_millis), frames)
            );
        };
        check(FlushPolicy::every_frame(), None, Some(1));
        check(FlushPolicy::frames(256), None, Some(256));
        // A count of 0 would never flush by count; it means every frame.
        check(FlushPolicy::frames(0), None, Some(1));
        check(
            FlushPolicy::interval(Duration::from_millis(50)),
            Some(50),
            None,
        );
        check(FlushPolicy::default(), None, None);
    }
}
