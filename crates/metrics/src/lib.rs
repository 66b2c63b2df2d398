//! Prometheus metrics of the Tomoe platform, in the Prometheus text format
//! (version 0.0.4) at `/metrics`, built on the `prometheus-client` crate.
//!
//! [`Metrics`] owns the registry. What the platform already counts (the broker's
//! health counters, the CAN supervision's per-bus counters, the runtime's
//! workloads) is read at scrape time by collectors; hot paths keep their atomic
//! increments and nothing else. Request counts and latencies come from the front
//! ends: [`Metrics::measure`] wraps an axum router (the SOVD API, a VISS
//! server), [`Metrics::call_observer`] is handed to the gRPC server, and
//! [`Metrics::observe_call`] serves any other front end. OTA outcomes come from
//! the update agent's progress ([`Metrics::record_update`]). Parts the platform
//! does not run (no OTA agent, no runtime on a zonal ECU) are simply absent.
//!
//! Labels are bounded: API and method names, route templates (never raw paths),
//! status codes, bus names of the profile, workload names (bounded by the
//! runtime's limits), state and reason kinds. No label names a signal.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let broker = tomoe_broker::Broker::new(
//!     tomoe_vss::default_catalog().unwrap(),
//!     tomoe_broker::BrokerConfig::default(),
//!     None,
//! )
//! .unwrap();
//! let metrics = tomoe_metrics::Metrics::new();
//! metrics.watch_broker(&broker);
//! let text = metrics.render().await;
//! assert!(text.contains("tomoe_broker_published_values_total 0"));
//! // Serve it: `axum::serve(listener, router.merge(metrics.router()))`.
//! # }
//! ```

mod collectors;
mod requests;

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use tomoe_update::{Progress, UpdateStatus};

pub use requests::LATENCY_BUCKETS;

/// The path the metrics are served at.
pub const METRICS_PATH: &str = "/metrics";

/// The `Content-Type` of the Prometheus text format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a scrape waits for the app runtime's workload list; past it, the last
/// list read is reported.
pub const RUNTIME_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// The OTA outcomes [`Metrics::record_update`] counts.
pub const OTA_OUTCOMES: [&str; 4] = ["committed", "rolled_back", "refused", "failed"];

/// The platform's metrics: the registry and what feeds it. Cheap to clone; clones
/// share everything.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Mutex<Registry>,
    requests: requests::Requests,
    ota_outcomes: Family<[(&'static str, &'static str); 1], Counter>,
    ota_status: Family<[(&'static str, &'static str); 1], Gauge>,
    ota_registered: std::sync::Once,
    runtime: Mutex<Option<(tomoe_runtime::Runtime, Arc<collectors::RuntimeCollector>)>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with the request families; the rest is added by the `watch_*`
    /// methods for the parts the platform runs.
    pub fn new() -> Metrics {
        let requests = requests::Requests::default();
        let mut registry = Registry::default();
        registry.register(
            "tomoe_api_requests",
            "Requests served, by API (kuksa.val.v1, kuksa.val.v2, sovd, viss), method (a gRPC method or an HTTP method and route template) and status (gRPC status name or HTTP status code)",
            requests.count.clone(),
        );
        registry.register_with_unit(
            "tomoe_api_request_duration",
            "Time from a request's arrival to its response headers (for streams: until the stream is open), by API and method",
            Unit::Seconds,
            requests.latency.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                requests,
                ota_outcomes: Family::default(),
                ota_status: Family::default(),
                ota_registered: std::sync::Once::new(),
                runtime: Mutex::new(None),
            }),
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Reports the broker's counters (`tomoe_broker_*`), read at each scrape.
    pub fn watch_broker(&self, broker: &tomoe_broker::Broker) {
        self.registry()
            .register_collector(Box::new(collectors::BrokerCollector(broker.clone())));
    }

    /// Reports the signal history's sizes and drops (`tomoe_history_*`), read at
    /// each scrape.
    pub fn watch_history(&self, history: &tomoe_history::History) {
        self.registry()
            .register_collector(Box::new(collectors::HistoryCollector(history.clone())));
    }

    /// Reports a Zenoh bridge's counters (`tomoe_bridge_*`), read at each scrape.
    pub fn watch_bridge(&self, bridge: &tomoe_zenoh::Bridge) {
        self.registry()
            .register_collector(Box::new(collectors::BridgeCollector(bridge.stats_reader())));
    }

    /// Reports the CAN supervision's per-bus counters (`tomoe_can_*`).
    pub fn watch_can(&self, can: &tomoe_diag::CanStats) {
        self.registry()
            .register_collector(Box::new(collectors::CanCollector(can.clone())));
    }

    /// Reports the runtime's workloads by state and their restarts
    /// (`tomoe_runtime_*`), listed at each scrape.
    pub fn watch_runtime(&self, runtime: &tomoe_runtime::Runtime) {
        let collector = Arc::new(collectors::RuntimeCollector::default());
        self.registry()
            .register_collector(Box::new(collector.clone()));
        *self.inner.runtime.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((runtime.clone(), collector));
    }

    /// Reports OTA update cycles (`tomoe_ota_*`): call it with each progress of
    /// the update agent. Until the first call nothing OTA is reported.
    pub fn record_update(&self, progress: &Progress) {
        self.inner.ota_registered.call_once(|| {
            let mut registry = self.registry();
            registry.register(
                "tomoe_ota_update_outcomes",
                "Ended OTA update cycles, by outcome: committed, rolled_back, refused (the repositories' metadata failed verification), failed",
                self.inner.ota_outcomes.clone(),
            );
            registry.register(
                "tomoe_ota_status",
                "The update agent's status: 1 for the current one, 0 for the others",
                self.inner.ota_status.clone(),
            );
            for outcome in OTA_OUTCOMES {
                drop(self.inner.ota_outcomes.get_or_create(&[("outcome", outcome)]));
            }
        });
        for status in UpdateStatus::ALL {
            let value = i64::from(status == progress.status);
            (self.inner.ota_status)
                .get_or_create(&[("status", status.as_str())])
                .set(value);
        }
        let outcome = match progress.status {
            UpdateStatus::Committed => "committed",
            UpdateStatus::RolledBack => "rolled_back",
            UpdateStatus::Failed if progress.detail.metadata_refused => "refused",
            UpdateStatus::Failed => "failed",
            _ => return,
        };
        (self.inner.ota_outcomes)
            .get_or_create(&[("outcome", outcome)])
            .inc();
    }

    /// Counts one request of `api` and records its latency. `method` and `status`
    /// must come from a bounded set (method names, route templates, status codes).
    pub fn observe_call(
        &self,
        api: &'static str,
        method: impl Into<Cow<'static, str>>,
        status: impl Into<Cow<'static, str>>,
        elapsed: Duration,
    ) {
        (self.inner.requests).observe(Cow::Borrowed(api), method.into(), status.into(), elapsed);
    }

    /// The observer to hand to the gRPC server
    /// (`tomoe_grpc::GrpcServer::observe`): it is called with the API, the method,
    /// the status name and the time to the response headers of every call.
    #[allow(clippy::type_complexity)]
    pub fn call_observer(
        &self,
    ) -> Arc<dyn Fn(&'static str, &'static str, &'static str, Duration) + Send + Sync> {
        let metrics = self.clone();
        Arc::new(move |api, method, status, elapsed| {
            metrics.observe_call(api, method, status, elapsed);
        })
    }

    /// The hook for an axum front end: `router` with every request counted and
    /// timed under `api` (`"sovd"`, `"viss"`), by HTTP method and route template.
    /// Apply it after the routes are added (it wraps the routes present).
    pub fn measure<S>(&self, router: axum::Router<S>, api: &'static str) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        router.layer(axum::middleware::from_fn_with_state(
            (self.clone(), api),
            requests::middleware,
        ))
    }

    /// The route serving the metrics at [`METRICS_PATH`], to merge into the
    /// platform's HTTP router.
    pub fn router<S>(&self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let metrics = self.clone();
        axum::Router::new().route(
            METRICS_PATH,
            axum::routing::get(move || async move {
                ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], metrics.render().await).into_response()
            }),
        )
    }

    /// Everything in the Prometheus text format, as a scrape sees it.
    pub async fn render(&self) -> String {
        let runtime = self
            .inner
            .runtime
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some((runtime, collector)) = runtime {
            if let Ok(Ok(list)) = tokio::time::timeout(RUNTIME_READ_TIMEOUT, runtime.list()).await {
                *collector
                    .workloads
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = list
                    .into_iter()
                    .map(|w| (w.name, w.state, w.restarts))
                    .collect();
            }
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry());
        text
    }
}
