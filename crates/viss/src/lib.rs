//! The COVESA/W3C Vehicle Information Service Specification (VISS) v2 and v3 over
//! the broker core: WebSocket and HTTP on one port.
//!
//! - **WebSocket** on `/` (subprotocols `VISS-v2`, `VISSv2`, `VISS-v3`,
//!   `VISSv3`, or none): `get` (a path, a `paths` filter with wildcards, a
//!   `history` filter, a `metadata` / `static-metadata` filter, the
//!   `dynamic-metadata` `server_capabilities`), `set` (an actuator's target,
//!   through [`Broker::actuate_confirmed`]), `subscribe` with the filters
//!   `timebased`, `range`, `change` and `curvelog` (and `paths`), `unsubscribe`.
//!   Filters are one object or an array, with VISS v3's `variant` or v2's `type`.
//! - **HTTP**: `GET /Vehicle/Speed` (or `/Vehicle.Speed`) with `?filter=<JSON>`,
//!   `POST` the same paths with `{"value": ...}`, `GET /` for the capabilities.
//!
//! Values travel as VISS writes them: strings (`"42.5"`, `"true"`), arrays of
//! strings for arrays; `ts` is RFC 3339 UTC. Errors carry the VISS `number`,
//! `reason` and `description` ([`VissError`]).
//!
//! Authorization: the token of a message's `authorization` member (WebSocket)
//! or of the `Authorization: Bearer` header (HTTP), verified with the broker's
//! keys ([`tomoe_auth::verify_any`]); the broker checks the resulting
//! permissions, tenant walls included. Without a token, a caller gets what
//! [`AccessPolicy::anonymous`] says.

mod error;
mod http;
mod ops;
mod request;
mod subscription;
mod tls;
mod ws;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use serde_json::{json, Value as Json};
use tokio::sync::Semaphore;
use tomoe_auth::TokenVerifier;
use tomoe_broker::{Broker, Permissions};
use tomoe_history::History;

pub use error::VissError;
pub use ops::{timestamp, value_json, NOT_AVAILABLE};
pub use request::{parse_duration, MIN_PERIOD};
pub use tls::{serve_tls, TlsError, TlsIdentity, TLS_HANDSHAKE_TIMEOUT};

/// Largest request accepted: a WebSocket message (a larger one closes the
/// connection with status 1009) or an HTTP body.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Open WebSocket connections; one more is answered 503 `service_unavailable`.
pub const MAX_CONNECTIONS: usize = 256;
/// Subscriptions one WebSocket connection may hold.
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 64;
/// Signals one request may select (a branch, or what a `paths` filter selects).
pub const MAX_PATHS_PER_REQUEST: usize = 2_000;
/// Filters one request may combine.
pub const MAX_FILTERS: usize = 4;
/// Messages waiting to be written to one WebSocket client; a subscription whose
/// events do not fit waits, and falls behind the broker until it is ended with a
/// 503 `service_unavailable` event.
pub const MAX_OUTGOING_MESSAGES: usize = 256;
/// `set` requests one WebSocket connection may have waiting for their
/// actuators' providers; one more is answered 503 `service_unavailable`.
pub const MAX_PENDING_SETS: usize = 16;
/// Largest `bufsize` of a `curvelog` filter.
pub const MAX_CURVELOG_BUFSIZE: usize = 1_000;
/// Points a curve-logging line may span before one is kept regardless.
pub const MAX_CURVELOG_WINDOW: usize = 10_000;
/// Samples one `history` answer may hold.
pub const MAX_HISTORY_SAMPLES: usize = 400_000;
/// The broker queue of each subscription (update batches).
pub const SUBSCRIPTION_QUEUE: usize = 256;
/// The WebSocket subprotocols accepted; a client may also ask for none.
pub const SUBPROTOCOLS: [&str; 4] = ["VISS-v2", "VISSv2", "VISS-v3", "VISSv3"];

/// Who may call.
#[derive(Clone)]
pub struct AccessPolicy {
    /// The keys whose tokens are accepted (the broker's).
    pub verifiers: Vec<Arc<TokenVerifier>>,
    /// Whether a caller without a token may do everything (development mode);
    /// otherwise it is refused with 401 `missing_token`.
    pub anonymous: bool,
}

impl std::fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessPolicy")
            .field("verifiers", &self.verifiers.len())
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

/// Called once per request with the API (`viss`), the method (`ws get`,
/// `ws set`, `ws subscribe`, `ws unsubscribe`, `ws invalid`, `http get`,
/// `http set`, `http other`), the status (the VISS error number, `200` for success, from a
/// fixed set) and the time to the response. The same shape as the gRPC
/// server's observer, so one metrics hook serves both.
pub type CallObserver =
    Arc<dyn Fn(&'static str, &'static str, &'static str, Duration) + Send + Sync>;

/// What the server serves.
#[derive(Clone)]
pub struct VissConfig {
    /// The broker.
    pub broker: Broker,
    /// The signal history behind the `history` filter, if one is kept.
    pub history: Option<History>,
    /// Who may call.
    pub access: AccessPolicy,
    /// Told about every request, for metrics.
    pub observer: Option<CallObserver>,
}

impl std::fmt::Debug for VissConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VissConfig")
            .field("history", &self.history)
            .field("access", &self.access)
            .field("observer", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

/// The server's state; cheap to clone.
#[derive(Clone)]
pub(crate) struct Viss {
    pub(crate) broker: Broker,
    pub(crate) history: Option<History>,
    access: Arc<AccessPolicy>,
    pub(crate) connections: Arc<Semaphore>,
    observer: Option<CallObserver>,
}

/// The status label of a VISS error number (or 200), from a fixed set.
fn status_label(number: u16) -> &'static str {
    match number {
        200 => "200",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        413 => "413",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

impl Viss {
    /// Reports one request to the observer, if there is one.
    pub(crate) fn observe<T>(
        &self,
        method: &'static str,
        result: &Result<T, VissError>,
        started: Instant,
    ) {
        let number = result.as_ref().map_or_else(|e| e.number, |_| 200);
        self.observe_status(method, number, started);
    }

    /// Reports one request that ended with `status` to the observer, if there is one.
    pub(crate) fn observe_status(&self, method: &'static str, status: u16, started: Instant) {
        if let Some(observer) = &self.observer {
            observer("viss", method, status_label(status), started.elapsed());
        }
    }

    /// Whether callers without a token may do everything.
    pub(crate) fn anonymous(&self) -> bool {
        self.access.anonymous
    }

    /// The caller's permissions from its token, or the anonymous ones.
    pub(crate) fn permissions(&self, token: Option<&str>) -> Result<Permissions, VissError> {
        match token {
            Some(token) => Ok(tomoe_auth::verify_any(
                self.access.verifiers.iter().map(Arc::as_ref),
                token,
            )?),
            None if self.access.anonymous => Ok(Permissions::allow_all()),
            None => Err(VissError::missing_token()),
        }
    }
}

/// What the server supports, as the `server_capabilities` metadata.
pub fn capabilities() -> Json {
    json!({
        "versions": ["VISSv2", "VISSv3"],
        "subprotocols": SUBPROTOCOLS,
        "transport_protocol": ["ws", "http"],
        "actions": ["get", "set", "subscribe", "unsubscribe"],
        "filter": ["paths", "timebased", "range", "change", "curvelog", "history", "metadata", "static-metadata", "dynamic-metadata"],
        "access_ctrl": ["bearer-jwt"],
        "limits": {
            "message_bytes": MAX_MESSAGE_BYTES,
            "subscriptions_per_connection": MAX_SUBSCRIPTIONS_PER_CONNECTION,
            "paths_per_request": MAX_PATHS_PER_REQUEST,
            "history_samples": MAX_HISTORY_SAMPLES,
            "min_period_ms": MIN_PERIOD.as_millis() as u64,
        },
    })
}

/// The VISS routes: WebSocket and capabilities on `/`, HTTP reads and writes
/// on every other path.
pub fn router(config: VissConfig) -> Router {
    let viss = Viss {
        broker: config.broker,
        history: config.history,
        access: Arc::new(config.access),
        connections: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        observer: config.observer,
    };
    Router::new()
        .route("/", get(http::root))
        .route("/{*path}", get(http::get).post(http::post))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            viss.clone(),
            http::observe,
        ))
        .with_state(viss)
}

/// Serves VISS on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: VissConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Where the VISS server listens, as a command line gives it: an address, or
/// `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen(pub Option<std::net::SocketAddr>);

impl std::str::FromStr for Listen {
    type Err = String;

    fn from_str(text: &str) -> Result<Listen, String> {
        match text {
            "off" => Ok(Listen(None)),
            _ => text
                .parse()
                .map(|address| Listen(Some(address)))
                .map_err(|e| {
                    format!("\"{text}\" is neither an address (127.0.0.1:8090) nor off: {e}")
                }),
        }
    }
}

/// Why the VISS server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Without keys every caller may do everything: only loopback is allowed then.
    #[error("without token keys, the VISS server only listens on loopback addresses, not {0}")]
    NotLoopback(std::net::SocketAddr),
    /// The address cannot be listened on.
    #[error("cannot listen on {address} for the VISS server")]
    Bind {
        /// The address.
        address: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The history could not start.
    #[error(transparent)]
    History(#[from] tomoe_history::HistoryError),
    /// The TLS identity cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A VISS server that [`start`] started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// Where clients reach it: `ws://127.0.0.1:8090`, or `wss://` with TLS (the
    /// port it listens on, also when port 0 was asked for).
    pub url: String,
    /// The line that announces it in a banner.
    pub banner: String,
}

/// How [`start`] serves.
#[derive(Clone)]
pub struct Options {
    /// Who may call.
    pub access: AccessPolicy,
    /// The certificate and key, for `wss://`; plain `ws://` without.
    pub tls: Option<TlsIdentity>,
    /// The history behind the `history` filter; without one, a history of
    /// [`tomoe_history::HistoryConfig::default`] is started.
    pub history: Option<History>,
    /// Told about every request, for metrics.
    pub observer: Option<CallObserver>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("access", &self.access)
            .field("tls", &self.tls.is_some())
            .field("history", &self.history)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// Starts a VISS server on `address` over `broker` for as long as the runtime
/// runs.
pub async fn start(
    address: std::net::SocketAddr,
    broker: &Broker,
    options: Options,
) -> Result<Started, StartError> {
    let Options {
        access,
        tls,
        history,
        observer,
    } = options;
    if access.anonymous && !address.ip().is_loopback() {
        return Err(StartError::NotLoopback(address));
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind { address, source })?;
    let address = listener
        .local_addr()
        .map_err(|source| StartError::Bind { address, source })?;
    let history = match history {
        Some(history) => history,
        None => History::start(broker, tomoe_history::HistoryConfig::default())?,
    };
    let described = history.describe();
    let config = VissConfig {
        broker: broker.clone(),
        history: Some(history),
        access,
        observer,
    };
    let scheme = match tls {
        Some(identity) => {
            tls::acceptor(&identity)?;
            tokio::spawn(async move {
                if let Err(error) = serve_tls(listener, config, &identity).await {
                    tracing::error!(%error, "the VISS server stopped");
                }
            });
            "wss"
        }
        None => {
            tokio::spawn(async move {
                if let Err(error) = serve(listener, config, std::future::pending()).await {
                    tracing::error!(%error, "the VISS server stopped");
                }
            });
            "ws"
        }
    };
    tracing::info!(%address, "VISS server ready");
    let url = format!("{scheme}://{address}");
    Ok(Started {
        banner: format!("  viss     {url}  (VISS v2/v3 over WebSocket and HTTP; {described})"),
        url,
    })
}
