//! A tower layer on the server that reports every call (for metrics).

use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tonic::codegen::http;

/// Called once per call with the API (`kuksa.val.v1`, `kuksa.val.v2`, `other`),
/// the method (`Get`, `Subscribe`, ..., `other`), the gRPC status name where the
/// response headers carry one (`OK` otherwise) and the time to the response
/// headers (for a stream: until it is open). Every value comes from a fixed set.
pub type CallObserver =
    Arc<dyn Fn(&'static str, &'static str, &'static str, Duration) + Send + Sync>;

/// The methods of both KUKSA APIs.
const METHODS: [&str; 14] = [
    "Get",
    "Set",
    "Subscribe",
    "StreamedUpdate",
    "GetServerInfo",
    "Actuate",
    "ActuateStream",
    "BatchActuate",
    "GetValue",
    "GetValues",
    "ListMetadata",
    "OpenProviderStream",
    "PublishValue",
    "SubscribeById",
];

/// The API and method of a gRPC path, from fixed sets.
pub(crate) fn call_of(path: &str) -> (&'static str, &'static str) {
    let (api, method) = match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
        Some(("kuksa.val.v1.VAL", method)) => ("kuksa.val.v1", method),
        Some(("kuksa.val.v2.VAL", method)) => ("kuksa.val.v2", method),
        _ => return ("other", "other"),
    };
    let method = METHODS.iter().find(|m| **m == method).unwrap_or(&"other");
    (api, method)
}

/// The name of a `grpc-status` code.
fn status_name(code: &[u8]) -> &'static str {
    match code {
        b"0" => "OK",
        b"1" => "CANCELLED",
        b"2" => "UNKNOWN",
        b"3" => "INVALID_ARGUMENT",
        b"4" => "DEADLINE_EXCEEDED",
        b"5" => "NOT_FOUND",
        b"6" => "ALREADY_EXISTS",
        b"7" => "PERMISSION_DENIED",
        b"8" => "RESOURCE_EXHAUSTED",
        b"9" => "FAILED_PRECONDITION",
        b"10" => "ABORTED",
        b"11" => "OUT_OF_RANGE",
        b"12" => "UNIMPLEMENTED",
        b"13" => "INTERNAL",
        b"14" => "UNAVAILABLE",
        b"15" => "DATA_LOSS",
        b"16" => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// Where the observer is set once the server is built.
pub(crate) type ObserverSlot = Arc<OnceLock<CallObserver>>;

/// The layer: calls pass through untouched while no observer is set.
#[derive(Clone)]
pub(crate) struct ObserveLayer(pub(crate) ObserverSlot);

impl<S> tower_layer::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            slot: self.0.clone(),
        }
    }
}

/// A service that times its calls for the observer.
#[derive(Clone)]
pub(crate) struct Observe<S> {
    inner: S,
    slot: ObserverSlot,
}

impl<S, B, R> tower_service::Service<http::Request<B>> for Observe<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let Some(observer) = self.slot.get().cloned() else {
            return Box::pin(self.inner.call(request));
        };
        let (api, method) = call_of(request.uri().path());
        let start = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            let status = match &response {
                Ok(response) => (response.headers().get("grpc-status"))
                    .map_or("OK", |code| status_name(code.as_bytes())),
                Err(_) => "UNKNOWN",
            };
            observer(api, method, status, start.elapsed());
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_a_fixed_set_of_names() {
        assert_eq!(call_of("/kuksa.val.v1.VAL/Get"), ("kuksa.val.v1", "Get"));
        assert_eq!(
            call_of("/kuksa.val.v2.VAL/PublishValue"),
            ("kuksa.val.v2", "PublishValue")
        );
        assert_eq!(
            call_of("/kuksa.val.v2.VAL/Made-Up"),
            ("kuksa.val.v2", "other")
        );
        assert_eq!(call_of("/grpc.health.v1/Check"), ("other", "other"));
        assert_eq!(status_name(b"7"), "PERMISSION_DENIED");
    }
}
