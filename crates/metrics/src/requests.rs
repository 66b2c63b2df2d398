//! Request counts and latencies of the platform's APIs.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// The upper bounds of the latency histogram's buckets, in seconds: 100 µs to 10 s.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The labels of a request count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CallLabels {
    pub(crate) api: Cow<'static, str>,
    pub(crate) method: Cow<'static, str>,
    pub(crate) status: Cow<'static, str>,
}

/// The labels of a latency.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct LatencyLabels {
    pub(crate) api: Cow<'static, str>,
    pub(crate) method: Cow<'static, str>,
}

/// The request families, shared by every API.
#[derive(Debug, Clone)]
pub(crate) struct Requests {
    pub(crate) count: Family<CallLabels, Counter>,
    pub(crate) latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
}

impl Default for Requests {
    fn default() -> Requests {
        Requests {
            count: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS)),
        }
    }
}

impl Requests {
    pub(crate) fn observe(
        &self,
        api: Cow<'static, str>,
        method: Cow<'static, str>,
        status: Cow<'static, str>,
        elapsed: Duration,
    ) {
        let latency = LatencyLabels { api, method };
        self.latency
            .get_or_create(&latency)
            .observe(elapsed.as_secs_f64());
        let LatencyLabels { api, method } = latency;
        self.count
            .get_or_create(&CallLabels {
                api,
                method,
                status,
            })
            .inc();
    }
}

/// The axum middleware behind [`crate::Metrics::measure`]: counts each request
/// by its route template (`GET /sovd/v1/{collection}`, never the
/// raw path) and status, and times it until its response headers.
pub(crate) async fn middleware(
    State((metrics, api)): State<(crate::Metrics, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => format!("{} {}", standard(request.method()), path.as_str()),
        // An unknown path: one label for all of them, so that it stays bounded.
        None => "unmatched".to_owned(),
    };
    let start = Instant::now();
    let response = next.run(request).await;
    metrics.observe_call(
        api,
        Cow::Owned(route),
        Cow::Owned(response.status().as_u16().to_string()),
        start.elapsed(),
    );
    response
}

/// The method's name if it is a standard one, else `OTHER` (bounded labels).
fn standard(method: &axum::http::Method) -> &str {
    use axum::http::Method;
    let known = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ];
    if known.contains(method) {
        method.as_str()
    } else {
        "OTHER"
    }
}
