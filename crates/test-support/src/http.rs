//! Small HTTP servers on loopback (feature `http`).
//!
//! [`serve`] runs an axum router in the test's own Tokio runtime;
//! [`BackgroundServer`] runs one in a runtime of its own, for tests without one.
//! [`RuntimeStandIn`] stands in for the app runtime's heartbeat endpoint and records
//! what it receives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;

/// Binds a free loopback port, or panics.
async fn bind() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"))
}

fn local_address(listener: &tokio::net::TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("a bound listener has an address: {e}"))
}

/// Serves `router` on a free loopback port in a task of the current Tokio runtime,
/// for as long as the runtime runs; returns its URL, `http://127.0.0.1:PORT`.
///
/// # Panics
///
/// Outside a Tokio runtime, or when no loopback port can be bound.
pub async fn serve(router: Router) -> String {
    let listener = bind().await;
    let url = format!("http://{}", local_address(&listener));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// A router served on loopback by a Tokio runtime of its own (one worker thread),
/// for tests that have none; the server stops when this is dropped.
#[derive(Debug)]
pub struct BackgroundServer {
    address: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl BackgroundServer {
    /// Starts serving `router` on a free loopback port.
    ///
    /// # Panics
    ///
    /// When the runtime cannot be built or no loopback port can be bound.
    pub fn start(router: Router) -> BackgroundServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot build a Tokio runtime: {e}"));
        let listener = runtime.block_on(bind());
        let address = local_address(&listener);
        runtime.spawn(async move { axum::serve(listener, router).await });
        BackgroundServer {
            address,
            _runtime: runtime,
        }
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// One heartbeat as the stand-in runtime received it: the request path and the
/// `authorization` header, if any.
pub type HeartbeatSeen = (String, Option<String>);

/// Which workloads a [`RuntimeStandIn`] knows.
type Known = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// A stand-in for the app runtime's API: `POST /v1/workloads/{name}/heartbeat`
/// answers 204 for the workloads it knows and 404 (`no workload "NAME"`) for the
/// others, and records every heartbeat.
#[derive(Clone)]
pub struct RuntimeStandIn {
    url: String,
    seen: Arc<Mutex<Vec<HeartbeatSeen>>>,
}

impl std::fmt::Debug for RuntimeStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeStandIn")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl RuntimeStandIn {
    /// Starts it with [`serve`]; `known` says which workload names it knows.
    ///
    /// # Panics
    ///
    /// As [`serve`] does.
    pub async fn start(known: impl Fn(&str) -> bool + Send + Sync + 'static) -> RuntimeStandIn {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let known: Known = Arc::new(known);
        let router = Router::new()
            .route(
                "/v1/workloads/{name}/heartbeat",
                axum::routing::post(heartbeat),
            )
            .with_state((seen.clone(), known));
        RuntimeStandIn {
            url: serve(router).await,
            seen,
        }
    }

    /// Its URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The heartbeats received so far, oldest first.
    pub fn heartbeats(&self) -> Vec<HeartbeatSeen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn heartbeat(
    State((seen, known)): State<(Arc<Mutex<Vec<HeartbeatSeen>>>, Known)>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let authorization = headers
        .get("authorization")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((uri.path().to_owned(), authorization));
    if known(&name) {
        (StatusCode::NO_CONTENT, String::new())
    } else {
        (StatusCode::NOT_FOUND, format!("no workload \"{name}\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Posts an empty request to `url` and returns the status and body (a minimal
    /// HTTP/1.1 client, so that the test needs no client library).
    async fn post(url: &str, path: &str, authorization: Option<&str>) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let header = authorization
            .map(|value| format!("authorization: {value}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: test\r\ncontent-length: 0\r\n{header}connection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        (status, body)
    }

    #[tokio::test]
    async fn the_runtime_stand_in_records_heartbeats_and_knows_its_workloads() {
        let runtime = RuntimeStandIn::start(|name| name == "known").await;
        let known = "/v1/workloads/known/heartbeat";
        let stranger = "/v1/workloads/stranger/heartbeat";
        assert_eq!(
            post(runtime.url(), known, Some("Bearer t")).await,
            (204, String::new())
        );
        assert_eq!(
            post(runtime.url(), stranger, None).await,
            (404, "no workload \"stranger\"".to_owned())
        );
        assert_eq!(
            runtime.heartbeats(),
            [
                (known.to_owned(), Some("Bearer t".to_owned())),
                (stranger.to_owned(), None)
            ]
        );
    }

    #[test]
    fn a_background_server_serves_without_a_runtime_of_the_test() {
        let router = Router::new().route("/hello", axum::routing::get(|| async { "hi" }));
        let server = BackgroundServer::start(router);
        assert!(server.address().ip().is_loopback());
        let client = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = server.url();
        let (status, _) = client.block_on(post(&url, "/nothing", None));
        assert_eq!(status, 404);
        let response = client.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(server.address())
                .await
                .unwrap();
            stream
                .write_all(b"GET /hello HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).await.unwrap();
            response
        });
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("hi"), "{response}");
    }
}
