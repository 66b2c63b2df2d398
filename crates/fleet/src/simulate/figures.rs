//! What a simulation sustained: the rate and latency of its update checks and
//! manifest reports, and the telemetry it sent.

use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies recorded while a simulation runs.
#[derive(Debug)]
pub struct Latencies {
    checks: Mutex<Histogram<u64>>,
    manifests: Mutex<Histogram<u64>>,
}

impl Default for Latencies {
    fn default() -> Latencies {
        // From a microsecond to an hour; longer is recorded as an hour.
        let histogram =
            || Mutex::new(Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"));
        Latencies {
            checks: histogram(),
            manifests: histogram(),
        }
    }
}

impl Latencies {
    /// Records one update check that took `took`.
    pub(crate) fn check(&self, took: Duration) {
        record(&self.checks, took);
    }

    /// Records one manifest report that took `took`.
    pub(crate) fn manifest(&self, took: Duration) {
        record(&self.manifests, took);
    }

    /// Forgets what was recorded (the registration's first manifests).
    pub(crate) fn clear(&self) {
        lock(&self.checks).reset();
        lock(&self.manifests).reset();
    }
}

fn lock(histogram: &Mutex<Histogram<u64>>) -> std::sync::MutexGuard<'_, Histogram<u64>> {
    histogram
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn record(histogram: &Mutex<Histogram<u64>>, took: Duration) {
    let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    lock(histogram).saturating_record(micros.max(1));
}

/// How many of one kind of request completed, how fast, and how long they took.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    /// How many completed.
    pub count: u64,
    /// Completed per second.
    pub per_second: f64,
    /// Median latency, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, in milliseconds.
    pub p99_ms: f64,
}

impl Rate {
    fn of(histogram: &Mutex<Histogram<u64>>, seconds: f64) -> Rate {
        let histogram = lock(histogram);
        let count = histogram.len();
        Rate {
            count,
            per_second: count as f64 / seconds.max(f64::EPSILON),
            p50_ms: histogram.value_at_quantile(0.5) as f64 / 1000.0,
            p99_ms: histogram.value_at_quantile(0.99) as f64 / 1000.0,
        }
    }
}

/// What a simulation sustained from the start of its run to its stop (the
/// registration excluded).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sustained {
    /// How long the run lasted, in seconds.
    pub seconds: f64,
    /// Simulated vehicles.
    pub vehicles: usize,
    /// Completed update checks: Uptane full verification of the director's and the
    /// image repository's metadata over HTTP (several requests each).
    pub update_checks: Rate,
    /// Signed version manifests the backend accepted.
    pub manifest_reports: Rate,
    /// Telemetry samples sent over Zenoh (what the backend stored is counted there).
    pub telemetry_sent: u64,
    /// Telemetry samples sent per second.
    pub telemetry_per_second: f64,
    /// Failed checks, downloads, reports or telemetry sends.
    pub errors: u64,
}

impl Sustained {
    pub(crate) fn measure(
        latencies: &Latencies,
        seconds: f64,
        vehicles: usize,
        telemetry_sent: u64,
        errors: u64,
    ) -> Sustained {
        Sustained {
            seconds,
            vehicles,
            update_checks: Rate::of(&latencies.checks, seconds),
            manifest_reports: Rate::of(&latencies.manifests, seconds),
            telemetry_sent,
            telemetry_per_second: telemetry_sent as f64 / seconds.max(f64::EPSILON),
            errors,
        }
    }
}

impl std::fmt::Display for Sustained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "sustained over {:.1} s by {} vehicles (registration excluded):",
            self.seconds, self.vehicles
        )?;
        for (what, rate) in [
            ("update checks", &self.update_checks),
            ("manifest reports", &self.manifest_reports),
        ] {
            writeln!(
                f,
                "  {what:<17} {:>9} {:>9.1}/s   p50 {:.1} ms   p99 {:.1} ms",
                rate.count, rate.per_second, rate.p50_ms, rate.p99_ms
            )?;
        }
        write!(
            f,
            "  {:<17} {:>9} {:>9.1}/s   sent over Zenoh\n  errors {}",
            "telemetry samples", self.telemetry_sent, self.telemetry_per_second, self.errors
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_second_of_the_run_and_latencies_in_milliseconds() {
        let latencies = Latencies::default();
        for millis in 1..=100 {
            latencies.check(Duration::from_millis(millis));
        }
        latencies.manifest(Duration::from_millis(7));
        let sustained = Sustained::measure(&latencies, 10.0, 5, 250, 1);
        assert_eq!(sustained.update_checks.count, 100);
        assert!((sustained.update_checks.per_second - 10.0).abs() < 1e-9);
        // The histogram keeps 3 significant digits; a quantile lands on a sample.
        let p50 = sustained.update_checks.p50_ms;
        let p99 = sustained.update_checks.p99_ms;
        assert!((49.9..=51.1).contains(&p50), "{p50}");
        assert!((98.9..=100.1).contains(&p99), "{p99}");
        assert_eq!(sustained.manifest_reports.count, 1);
        assert!((sustained.telemetry_per_second - 25.0).abs() < 1e-9);
        let text = sustained.to_string();
        assert!(text.contains("update checks"), "{text}");
        assert!(text.contains("25.0/s"), "{text}");
        latencies.clear();
        assert_eq!(
            Sustained::measure(&latencies, 1.0, 5, 0, 0)
                .update_checks
                .count,
            0
        );
    }
}
