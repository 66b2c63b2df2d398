//! Collectors that read counters the platform already keeps, at scrape time.

use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use tomoe_types::WorkloadState;

/// Writes one counter without labels.
fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Fmt {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

/// Writes one family with a single label.
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    (name, help, kind): (&str, &str, MetricType),
    label: &'static str,
    values: impl IntoIterator<Item = (String, M)>,
) -> Fmt {
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (value, metric) in values {
        let labels = [(label, value)];
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

type Fmt = Result<(), std::fmt::Error>;

/// The broker's counters ([`tomoe_broker::BrokerHealth`]) and subscriber count.
#[derive(Debug)]
pub(crate) struct BrokerCollector(pub(crate) tomoe_broker::Broker);

impl Collector for BrokerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        let health = self.0.health();
        let e = &mut encoder;
        counter(
            e,
            "tomoe_broker_published_values",
            "Current signal values published to the broker (one per value, not per batch).",
            health.published_values,
        )?;
        family(
            e,
            (
                "tomoe_broker_refusals",
                "Entries of writes (publish, set target, actuate) the broker refused, by kind of reason.",
                MetricType::Counter,
            ),
            "reason",
            (health.refusals.iter()).map(|(kind, n)| ((*kind).to_owned(), ConstCounter::new(*n))),
        )?;
        let subscribers = encoder.encode_descriptor(
            "tomoe_broker_subscribers",
            "Live subscriptions to the broker.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.0.subscription_count() as i64).encode(subscribers)?;
        let e = &mut encoder;
        counter(
            e,
            "tomoe_broker_lagged_subscribers",
            "Subscribers disconnected because their queue overflowed (they lagged behind).",
            health.lagged_subscribers,
        )?;
        counter(
            e,
            "tomoe_broker_actuation_requests",
            "Actuation requests the broker accepted (KUKSA v1 target Set, v2 Actuate and BatchActuate, SOVD data writes).",
            health.actuation_requests,
        )?;
        counter(
            e,
            "tomoe_broker_storage_failures",
            "Writes refused because the durable store failed.",
            health.storage_failures,
        )
    }
}

/// What the CAN supervision counts per bus.
#[derive(Debug)]
pub(crate) struct CanCollector(pub(crate) tomoe_diag::CanStats);

impl Collector for CanCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        type Read = fn(&tomoe_diag::BusCounters) -> &std::sync::atomic::AtomicU64;
        let families: [(&str, &str, Read); 4] = [
            ("tomoe_can_frames", "CAN frames seen, per bus.", |c| {
                &c.frames
            }),
            (
                "tomoe_can_decode_errors",
                "CAN frames shorter than their DBC message (cannot be decoded), per bus.",
                |c| &c.decode_errors,
            ),
            (
                "tomoe_can_unknown_ids",
                "CAN frames whose id the bus's DBC does not know, per bus.",
                |c| &c.unknown_ids,
            ),
            (
                "tomoe_can_counter_errors",
                "CAN frames whose rolling counter did not advance by one, per bus.",
                |c| &c.counter_errors,
            ),
        ];
        for (name, help, read) in families {
            let values = self.0.buses().map(|(bus, counters)| {
                let value = read(counters).load(std::sync::atomic::Ordering::Relaxed);
                (bus.to_owned(), ConstCounter::new(value))
            });
            family(
                &mut encoder,
                (name, help, MetricType::Counter),
                "bus",
                values,
            )?;
        }
        Ok(())
    }
}

/// The runtime's workloads as last read (the scrape reads them first).
#[derive(Debug, Default)]
pub(crate) struct RuntimeCollector {
    /// Each workload's name, state and restarts.
    pub(crate) workloads: Mutex<Vec<(String, WorkloadState, u32)>>,
}

impl Collector for RuntimeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        let workloads = self
            .workloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let by_state = WorkloadState::ALL.iter().map(|state| {
            let count = workloads.iter().filter(|(_, s, _)| s == state).count();
            (state.as_str().to_owned(), ConstGauge::new(count as i64))
        });
        family(
            &mut encoder,
            (
                "tomoe_runtime_workloads",
                "Workloads of the app runtime, by lifecycle state.",
                MetricType::Gauge,
            ),
            "state",
            by_state,
        )?;
        let restarts = (workloads.into_iter())
            .map(|(name, _, restarts)| (name, ConstCounter::new(u64::from(restarts))));
        family(
            &mut encoder,
            (
                "tomoe_runtime_restarts",
                "Restarts of each workload by the app runtime.",
                MetricType::Counter,
            ),
            "workload",
            restarts,
        )
    }
}

/// The signal history's sizes and drops ([`tomoe_history::HistoryStats`]).
#[derive(Debug)]
pub(crate) struct HistoryCollector(pub(crate) tomoe_history::History);

impl Collector for HistoryCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        let stats = self.0.stats();
        let gauges: [(&str, &str, usize); 4] = [
            (
                "tomoe_history_samples",
                "Samples the signal history holds in memory.",
                stats.samples,
            ),
            (
                "tomoe_history_bytes",
                "Bytes the history's samples in memory are counted as (its budget is tomoe_history_budget_bytes).",
                stats.bytes,
            ),
            (
                "tomoe_history_budget_bytes",
                "The memory budget of the signal history.",
                stats.budget_bytes,
            ),
            (
                "tomoe_history_durable_pending",
                "Samples of durable signals waiting to be written to the store.",
                stats.durable_pending,
            ),
        ];
        for (name, help, value) in gauges {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(metric)?;
        }
        let e = &mut encoder;
        counter(
            e,
            "tomoe_history_dropped_for_budget",
            "Samples the history dropped before their time to stay within its memory budget.",
            stats.dropped_for_budget,
        )?;
        counter(
            e,
            "tomoe_history_lagged_batches",
            "Broker batches the history's feed missed because it lagged.",
            stats.lagged_batches,
        )?;
        counter(
            e,
            "tomoe_history_durable_written",
            "Samples of durable signals written to the store.",
            stats.durable_written,
        )?;
        counter(
            e,
            "tomoe_history_durable_dropped",
            "Samples of durable signals never written because the store failed for too long.",
            stats.durable_dropped,
        )?;
        counter(
            e,
            "tomoe_history_durable_write_errors",
            "Writes of durable history to the store that failed.",
            stats.durable_write_errors,
        )
    }
}

/// A Zenoh bridge's counters ([`tomoe_zenoh::BridgeStats`]).
#[derive(Debug)]
pub(crate) struct BridgeCollector(pub(crate) tomoe_zenoh::StatsReader);

impl Collector for BridgeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        let stats = self.0.read();
        let counters: [(&str, &str, u64); 9] = [
            (
                "tomoe_bridge_exported",
                "Signal values the Zenoh bridge sent to other ECUs.",
                stats.exported,
            ),
            (
                "tomoe_bridge_imported",
                "Signal values from other ECUs the bridge published into the local broker.",
                stats.imported,
            ),
            (
                "tomoe_bridge_actuations_forwarded",
                "Actuation requests the bridge passed on to the ECU that provides the actuator.",
                stats.actuations_forwarded,
            ),
            (
                "tomoe_bridge_actuations_served",
                "Actuation requests from other ECUs carried out here.",
                stats.actuations_served,
            ),
            (
                "tomoe_bridge_claim_conflicts",
                "Claims of an actuator by another ECU ignored because another provider already owns it.",
                stats.claim_conflicts,
            ),
            (
                "tomoe_bridge_telemetry_sent",
                "Telemetry samples the gateway sent to the backend.",
                stats.telemetry_sent,
            ),
            (
                "tomoe_bridge_telemetry_bytes",
                "Key and payload bytes of the telemetry sent (Zenoh's framing not counted).",
                stats.telemetry_bytes,
            ),
            (
                "tomoe_bridge_commands_served",
                "Backend commands the gateway carried out.",
                stats.commands_served,
            ),
            (
                "tomoe_bridge_commands_refused",
                "Backend commands the gateway refused (token, scope, payload, provider).",
                stats.commands_refused,
            ),
        ];
        for (name, help, value) in counters {
            counter(&mut encoder, name, help, value)?;
        }
        let refused = tomoe_zenoh::RefusalReason::ALL.iter().map(|reason| {
            let count = ConstCounter::new(stats.refused(*reason));
            (reason.as_str().to_owned(), count)
        });
        family(
            &mut encoder,
            (
                "tomoe_bridge_refused",
                "Samples from Zenoh the bridge refused and never stored, by reason.",
                MetricType::Counter,
            ),
            "reason",
            refused,
        )?;
        let peers = encoder.encode_descriptor(
            "tomoe_bridge_peers",
            "ECUs this bridge imports from whose bridges are reachable now.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::try_from(stats.peers.len()).unwrap_or(i64::MAX)).encode(peers)
    }
}
