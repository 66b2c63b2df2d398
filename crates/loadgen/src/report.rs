//! The results of a run: a table for people, a JSON object for scripts, and the
//! verdict that sets the exit status.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::bail;
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::provider::{self, Plan};
use crate::subscriber::{self, Outcome};

/// Everything a run measured.
#[derive(Debug)]
pub(crate) struct Results {
    /// The broker's URL.
    pub(crate) url: String,
    /// Name and version from `GetServerInfo`.
    pub(crate) server: String,
    /// Whether the load generator started the broker itself.
    pub(crate) spawned: bool,
    /// Number of signals.
    pub(crate) signals: usize,
    /// Number of subscribers, slow ones included.
    pub(crate) subscribers: usize,
    /// A slow subscriber's sleep per message.
    pub(crate) slow_delay: Duration,
    /// How the provider published.
    pub(crate) plan: Plan,
    /// What the provider did.
    pub(crate) published: provider::Report,
    /// When the subscribers were stopped.
    pub(crate) ended: Instant,
    /// What each subscriber saw.
    pub(crate) reports: Vec<subscriber::Report>,
}

/// Figures of one subscriber, derived from its report.
struct Figures {
    /// Updates per second, from the start of publishing to its last update.
    rate: f64,
    /// Share of the published updates it received.
    delivered: f64,
}

impl Results {
    fn started(&self) -> Instant {
        self.published.started.unwrap_or(self.ended)
    }

    /// Seconds from the start of publishing to `at`.
    fn offset(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.started()).as_secs_f64()
    }

    fn publish_rate(&self) -> f64 {
        per_second(self.published.updates, self.published.elapsed)
    }

    fn figures(&self, report: &subscriber::Report) -> Figures {
        let window = report.last_update.map_or(Duration::ZERO, |last| {
            last.saturating_duration_since(self.started())
        });
        Figures {
            rate: per_second(report.updates, window),
            delivered: if self.published.updates == 0 {
                0.0
            } else {
                report.updates as f64 / self.published.updates as f64
            },
        }
    }

    fn fast(&self) -> impl Iterator<Item = &subscriber::Report> {
        self.reports.iter().filter(|r| r.spec.slow_delay.is_none())
    }

    fn slow(&self) -> impl Iterator<Item = &subscriber::Report> {
        self.reports.iter().filter(|r| r.spec.slow_delay.is_some())
    }

    /// Latency over every update the fast subscribers received.
    fn fast_latency(&self) -> Histogram<u64> {
        let mut all = subscriber::histogram();
        for report in self.fast() {
            // Same bounds on both sides: adding cannot fail.
            let _ = all.add(&report.latency);
        }
        all
    }

    fn fast_rates(&self) -> Vec<f64> {
        self.fast().map(|r| self.figures(r).rate).collect()
    }

    /// Words for how a subscription ended.
    fn describe(&self, report: &subscriber::Report) -> String {
        let mut text = match &report.outcome {
            Outcome::Connected if report.drain_cut_short => {
                "still subscribed, and still receiving its backlog when the drain time ran out"
                    .to_owned()
            }
            Outcome::Connected => "still subscribed at the end".to_owned(),
            Outcome::Lagged { message, observed } => {
                let mut text = "disconnected by the broker".to_owned();
                if let Some(at) = report.disconnected {
                    let _ = write!(
                        text,
                        " {:.2} s into publishing (when the first batch it did not get was published)",
                        self.offset(at)
                    );
                }
                let _ = write!(
                    text,
                    "; it saw RESOURCE_EXHAUSTED at {:.2} s: \"{message}\"",
                    self.offset(*observed)
                );
                text
            }
            Outcome::Closed { observed } => format!(
                "stream closed by the broker without a status at {:.2} s",
                self.offset(*observed)
            ),
            Outcome::Failed { status, observed } => {
                format!("stream failed at {:.2} s: {status}", self.offset(*observed))
            }
        };
        if report.spec.slow_delay.is_some() {
            let _ = write!(
                text,
                ". It read {} updates while publishing ran, then {} queued ones after",
                report.updates, report.drained_updates
            );
        }
        text
    }

    /// The human-readable report.
    pub(crate) fn to_table(&self) -> String {
        let mut out = String::new();
        let fast = self.fast().count();
        let slow = self.subscribers - fast;
        let rate = match self.plan.rate {
            Some(rate) => format!("target {rate} updates/s"),
            None => format!(
                "as fast as the fast subscribers keep up (window {} batches)",
                self.plan.window
            ),
        };
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "broker       {} at {}{}",
            self.server,
            self.url,
            if self.spawned { " (spawned)" } else { "" }
        );
        let _ = writeln!(
            out,
            "load         {} float/double signals, {} per batch, {rate}, {:.1} s",
            self.signals,
            self.plan.batch.min(self.signals),
            self.plan.duration.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "subscribers  {} fast, {} slow (sleep {} ms per message), buffer_size {}, one connection each",
            fast,
            slow,
            self.slow_delay.as_millis(),
            subscriber::BUFFER_SIZE
        );
        let _ = writeln!(
            out,
            "published    {} updates in {} batches over {:.2} s = {:.0} updates/s ({} refused{})",
            self.published.updates,
            self.published.batches,
            self.published.elapsed.as_secs_f64(),
            self.publish_rate(),
            self.published.rejected,
            self.published
                .first_error
                .as_ref()
                .map(|e| format!("; {e}"))
                .unwrap_or_default()
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<14} {:>10} {:>11} {:>9} {:>9} {:>9} {:>9}  outcome",
            "subscriber", "updates", "updates/s", "received", "p50 ms", "p99 ms", "max ms"
        );
        for report in &self.reports {
            let figures = self.figures(report);
            let kind = if report.spec.slow_delay.is_some() {
                "slow"
            } else {
                "fast"
            };
            let outcome = match report.outcome {
                Outcome::Connected => "subscribed to the end",
                Outcome::Lagged { .. } => "disconnected (lagged)",
                Outcome::Closed { .. } => "closed by broker",
                Outcome::Failed { .. } => "failed",
            };
            let rate = if report.spec.slow_delay.is_some() {
                "-".to_owned()
            } else {
                format!("{:.0}", figures.rate)
            };
            let _ = writeln!(
                out,
                "{:<14} {:>10} {:>11} {:>8.1}% {}  {outcome}",
                format!("#{} {kind}", report.spec.number),
                report.updates,
                rate,
                figures.delivered * 100.0,
                latency_columns(&report.latency),
            );
        }
        if fast > 0 {
            let rates = self.fast_rates();
            let total: u64 = self.fast().map(|r| r.updates).sum();
            let _ = writeln!(
                out,
                "{:<14} {:>10} {:>11.0} {:>9} {}",
                format!("fast, all {fast}"),
                total,
                rates.iter().sum::<f64>(),
                "",
                latency_columns(&self.fast_latency()),
            );
            let mean = rates.iter().sum::<f64>() / rates.len() as f64;
            let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "per fast subscriber: mean {mean:.0} updates/s, lowest {min:.0} updates/s; {} of {} published updates reached every fast subscriber",
                self.fast().map(|r| r.updates).min().unwrap_or(0),
                self.published.updates,
            );
            let unmatched: u64 = self.fast().map(|r| r.unmatched).sum();
            if unmatched > 0 {
                let _ = writeln!(out, "({unmatched} updates had no known send time and are not in the latency figures)");
            }
        }
        for report in self.slow() {
            let _ = writeln!(
                out,
                "slow #{}: {}",
                report.spec.number,
                self.describe(report)
            );
        }
        for report in self
            .fast()
            .filter(|r| !matches!(r.outcome, Outcome::Connected))
        {
            let _ = writeln!(
                out,
                "WARNING fast #{}: {}",
                report.spec.number,
                self.describe(report)
            );
        }
        out
    }

    /// The machine-readable report.
    pub(crate) fn to_json(&self) -> Value {
        let fast_rates = self.fast_rates();
        let subscriber = |report: &subscriber::Report| {
            let figures = self.figures(report);
            let (outcome, message, observed) = match &report.outcome {
                Outcome::Connected => ("connected", None, None),
                Outcome::Lagged { message, observed } => {
                    ("lagged", Some(message.clone()), Some(*observed))
                }
                Outcome::Closed { observed } => ("closed", None, Some(*observed)),
                Outcome::Failed { status, observed } => {
                    ("failed", Some(status.clone()), Some(*observed))
                }
            };
            json!({
                "number": report.spec.number,
                "slow": report.spec.slow_delay.is_some(),
                "updates": report.updates,
                "messages": report.messages,
                "updates_per_s": if report.spec.slow_delay.is_some() { Value::Null } else { round(figures.rate).into() },
                "received_ratio": round_to(figures.delivered, 4),
                "latency_us": latency_json(&report.latency),
                "unmatched": report.unmatched,
                "outcome": outcome,
                "message": message,
                "outcome_at_s": observed.map(|at| round_to(self.offset(at), 3)),
                "disconnected_at_s": report.disconnected.map(|at| round_to(self.offset(at), 3)),
                "drained_updates": report.drained_updates,
                "last_update_published_at_s": report.last_update_sent.map(|at| round_to(self.offset(at), 3)),
            })
        };
        json!({
            "broker": { "url": self.url, "server": self.server, "spawned": self.spawned },
            "config": {
                "signals": self.signals,
                "subscribers": self.subscribers,
                "slow_subscribers": self.slow().count(),
                "slow_delay_ms": self.slow_delay.as_millis() as u64,
                "duration_s": self.plan.duration.as_secs_f64(),
                "rate": self.plan.rate.unwrap_or(0),
                "batch": self.plan.batch.min(self.signals),
                "window": self.plan.window,
                "buffer_size": subscriber::BUFFER_SIZE,
            },
            "publisher": {
                "batches": self.published.batches,
                "updates": self.published.updates,
                "elapsed_s": round_to(self.published.elapsed.as_secs_f64(), 3),
                "updates_per_s": round(self.publish_rate()),
                "window_waits": self.published.window_waits,
                "refused": self.published.rejected,
                "first_error": self.published.first_error,
            },
            "fast": {
                "count": fast_rates.len(),
                "updates": self.fast().map(|r| r.updates).sum::<u64>(),
                "updates_per_s_total": round(fast_rates.iter().sum::<f64>()),
                "updates_per_s_mean": if fast_rates.is_empty() { Value::Null } else { round(fast_rates.iter().sum::<f64>() / fast_rates.len() as f64).into() },
                "updates_per_s_min": fast_rates.iter().copied().reduce(f64::min).map(round),
                "latency_us": latency_json(&self.fast_latency()),
                "all_connected": self.fast().all(|r| matches!(r.outcome, Outcome::Connected)),
            },
            "subscribers": self.reports.iter().map(subscriber).collect::<Vec<_>>(),
        })
    }

    /// `Err` when the run is not a valid measurement: the broker refused updates or
    /// a fast subscriber missed some.
    pub(crate) fn verdict(&self) -> anyhow::Result<()> {
        if self.published.rejected > 0 {
            bail!(
                "the broker refused {} published updates",
                self.published.rejected
            );
        }
        if let Some(error) = &self.published.first_error {
            bail!("the provider stream reported: {error}");
        }
        for report in self.fast() {
            if !matches!(report.outcome, Outcome::Connected) {
                bail!(
                    "fast subscriber #{} did not stay subscribed: {}",
                    report.spec.number,
                    self.describe(report)
                );
            }
            if report.updates < self.published.updates {
                bail!(
                    "fast subscriber #{} received {} of {} published updates",
                    report.spec.number,
                    report.updates,
                    self.published.updates
                );
            }
        }
        Ok(())
    }
}

fn per_second(count: u64, over: Duration) -> f64 {
    if over.is_zero() {
        0.0
    } else {
        count as f64 / over.as_secs_f64()
    }
}

fn round(value: f64) -> f64 {
    value.round()
}

fn round_to(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// p50, p99 and max in milliseconds, right-aligned; dashes when empty.
fn latency_columns(latency: &Histogram<u64>) -> String {
    if latency.is_empty() {
        return format!("{:>9} {:>9} {:>9}", "-", "-", "-");
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    format!(
        "{:>9.2} {:>9.2} {:>9.2}",
        ms(latency.value_at_quantile(0.5)),
        ms(latency.value_at_quantile(0.99)),
        ms(latency.max())
    )
}

fn latency_json(latency: &Histogram<u64>) -> Value {
    if latency.is_empty() {
        return Value::Null;
    }
    json!({
        "samples": latency.len(),
        "p50": latency.value_at_quantile(0.5),
        "p90": latency.value_at_quantile(0.9),
        "p99": latency.value_at_quantile(0.99),
        "p999": latency.value_at_quantile(0.999),
        "max": latency.max(),
        "mean": round(latency.mean()),
    })
}
