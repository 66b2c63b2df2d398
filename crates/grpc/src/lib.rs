//! Tomoe's gRPC front end, wire-compatible with the Eclipse KUKSA databroker:
//! `kuksa.val.v2.VAL` and `kuksa.val.v1.VAL` on one port, optional TLS and optional
//! JWT authorization.
//!
//! This crate is a thin translation layer: requests become [`tomoe_broker::Broker`]
//! calls, broker errors become the gRPC status codes KUKSA uses (see `docs/api.md`).
//! The protocol types come from the published `kuksa-rust-sdk` crate.
//!
//! Non-goals: business rules (they live in the broker) and CAN or app concerns.
//!
//! # Example
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tomoe_broker::{Broker, BrokerConfig};
//! use tomoe_grpc::{Authorization, ServerConfig};
//!
//! let broker = Broker::new(tomoe_vss::default_catalog()?, BrokerConfig::default(), None)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:55555").await?;
//! let config = ServerConfig { authorization: Authorization::AllowAll, tls: None };
//! tomoe_grpc::serve(broker, listener, config, std::future::pending()).await?;
//! # Ok(()) }
//! ```

mod connection;
pub mod convert;
mod observe;
mod v1;
mod v2;

pub use connection::{ConnectionLimits, IDLE_TIMEOUT, MAX_CONNECTIONS};
pub use observe::CallObserver;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tomoe_auth::TokenVerifier;
use tomoe_broker::{Broker, Permissions};
use tonic::metadata::MetadataMap;
use tonic::transport::{Identity, ServerTlsConfig};
use tonic::Status;

/// The name reported by `GetServerInfo`.
pub const SERVER_NAME: &str = "tomoe";

/// The default port, the same as KUKSA's.
pub const DEFAULT_PORT: u16 = 55555;

/// How callers are authorized.
#[derive(Debug, Clone)]
pub enum Authorization {
    /// Every caller may do everything (insecure; for development).
    AllowAll,
    /// Callers present a JWT bearer token; its scope decides what they may do.
    Jwt(Arc<TokenVerifier>),
    /// Tokens signed by any of several keys; callers without a token get what the
    /// policy's [`AnonymousAccess`] says.
    Tokens(TokenPolicy),
}

/// Which tokens are accepted and what a caller without one may do.
///
/// A caller that presents a token (an `authorization` header) is always held to
/// that token's scope: a token that no trusted key verifies is refused, even where
/// callers without a token may do everything. So the app runtime's workloads stay
/// within their scope on a development broker that is open to tools.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// The keys whose tokens are accepted, for example the operator's
    /// `--jwt-public-key` and the app runtime's issuer key. A token is accepted if
    /// any of them verifies it.
    pub verifiers: Vec<Arc<TokenVerifier>>,
    /// What a caller that presents no token may do.
    pub anonymous: AnonymousAccess,
}

/// What a caller that presents no token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnonymousAccess {
    /// Nothing: the call is refused with `UNAUTHENTICATED`, as with
    /// [`Authorization::Jwt`].
    Refused,
    /// Everything (insecure; for development, on loopback).
    AllowAll,
}

/// PEM-encoded certificate chain and private key of the server.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// Certificate chain, PEM.
    pub certificate_pem: Vec<u8>,
    /// Private key, PEM.
    pub private_key_pem: Vec<u8>,
}

/// Settings of the gRPC server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// How callers are authorized.
    pub authorization: Authorization,
    /// TLS, or `None` for plain TCP.
    pub tls: Option<TlsConfig>,
}

/// Errors of the gRPC server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The TLS certificate or key could not be used.
    #[error("invalid TLS configuration")]
    Tls(#[source] tonic::transport::Error),
    /// The server failed while running.
    #[error("gRPC server failed")]
    Transport(#[source] tonic::transport::Error),
}

/// A configured gRPC server, ready to run on a listener. Building it checks the
/// TLS certificate and key, so that a bad configuration fails before anything is
/// announced.
pub struct GrpcServer {
    router: tonic::transport::server::Router<
        tower_layer::Stack<observe::ObserveLayer, tower_layer::Identity>,
    >,
    closing: tokio::sync::watch::Sender<bool>,
    limits: ConnectionLimits,
    observer: observe::ObserverSlot,
}

impl std::fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServer").finish_non_exhaustive()
    }
}

impl GrpcServer {
    /// Builds the server for `broker`, with the default [`ConnectionLimits`].
    pub fn new(broker: Broker, config: ServerConfig) -> Result<GrpcServer, ServeError> {
        GrpcServer::with_limits(broker, config, ConnectionLimits::default())
    }

    /// Builds the server for `broker`, with `limits` on its connections.
    pub fn with_limits(
        broker: Broker,
        config: ServerConfig,
        limits: ConnectionLimits,
    ) -> Result<GrpcServer, ServeError> {
        let authorizer = Arc::new(Authorizer(config.authorization));
        let mut builder = tonic::transport::Server::builder()
            // 10,000 subscriptions on one connection took 134 MB: bounded per connection.
            .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
            // A peer that stops answering pings is dropped.
            .http2_keepalive_interval(Some(limits.keepalive_interval))
            .http2_keepalive_timeout(Some(limits.keepalive_timeout));
        if let Some(tls) = &config.tls {
            let identity = Identity::from_pem(&tls.certificate_pem, &tls.private_key_pem);
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(identity))
                .map_err(ServeError::Tls)?;
        }
        let (closing, closed) = tokio::sync::watch::channel(false);
        let closed = Closing(closed);
        let v1_service = v1::V1Service::new(broker.clone(), authorizer.clone(), closed.clone());
        let v2_service = v2::V2Service::new(broker, authorizer, closed);
        let observer = observe::ObserverSlot::default();
        let router = builder
            .layer(observe::ObserveLayer(observer.clone()))
            .add_service(kuksa_rust_sdk::v1_proto::val_server::ValServer::new(
                v1_service,
            ))
            .add_service(kuksa_rust_sdk::v2_proto::val_server::ValServer::new(
                v2_service,
            ));
        Ok(GrpcServer {
            router,
            closing,
            limits,
            observer,
        })
    }

    /// Reports every call to `observer` (for metrics); a second observer is ignored.
    pub fn observe(&self, observer: CallObserver) {
        let _ = self.observer.set(observer);
    }

    /// Serves both KUKSA APIs on `listener` until `shutdown` completes. Then every
    /// open stream (subscriptions, provider streams) ends with `UNAVAILABLE` "the
    /// broker is shutting down", new connections are refused, and the call returns
    /// once the connections have closed, or after [`SHUTDOWN_GRACE`] at the latest,
    /// whatever the clients do.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let incoming = connection::accept(listener, self.limits);
        let closing = self.closing;
        let (fired, signalled) = tokio::sync::oneshot::channel();
        let signal = async move {
            shutdown.await;
            let _ = closing.send(true);
            let _ = fired.send(());
        };
        let serve = self.router.serve_with_incoming_shutdown(incoming, signal);
        let grace = async {
            if signalled.await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            served = serve => served.map_err(ServeError::Transport),
            () = grace => {
                tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after shutdown began; closing them");
                Ok(())
            }
        }
    }
}

/// Streams (calls, subscriptions) one connection may have open at once
/// (HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`); a client queues the others.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 256;
/// How often the server pings an HTTP/2 peer (and TCP keepalive probes start).
pub const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a ping may go unanswered before the connection is dropped.
pub const KEEPALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a shutting-down server waits for its connections to close.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The server's shutdown as its streams see it. Clones share it.
#[derive(Debug, Clone)]
pub(crate) struct Closing(tokio::sync::watch::Receiver<bool>);

impl Closing {
    /// Completes when the server shuts down (or is gone).
    pub(crate) async fn wait(mut self) {
        let _ = self.0.wait_for(|closing| *closing).await;
    }
}

/// The status that ends every open stream when the server shuts down.
pub(crate) fn closing_status() -> Status {
    Status::unavailable("the broker is shutting down")
}

/// Serves both KUKSA APIs for `broker` on `listener` until `shutdown` completes.
pub async fn serve(
    broker: Broker,
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    GrpcServer::new(broker, config)?
        .run(listener, shutdown)
        .await
}

/// Completes when `permissions` expire; never, for permissions without expiry.
pub(crate) async fn expiry(permissions: &Permissions) {
    match permissions.expires_at() {
        None => std::future::pending().await,
        Some(at) => {
            let remaining = at
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            tokio::time::sleep(remaining).await;
        }
    }
}

/// The status that ends a stream whose token expired while it was open.
pub(crate) fn expired_status() -> Status {
    Status::unauthenticated(
        "permission expired: the token's lifetime ended while the stream was open",
    )
}

/// Ends `stream` with [`expired_status`] when `permissions` expire, and with
/// [`closing_status`] when the server shuts down.
pub(crate) fn until_expiry<T, S>(
    stream: S,
    permissions: &Permissions,
    closing: &Closing,
) -> std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>
where
    T: Send + 'static,
    S: futures::Stream<Item = Result<T, Status>> + Send + 'static,
{
    use futures::StreamExt;
    let remaining = permissions.expires_at().map(|at| {
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
    });
    let deadline: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = match remaining {
        Some(remaining) => Box::pin(tokio::time::sleep(remaining)),
        None => Box::pin(std::future::pending()),
    };
    let closed: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> =
        Box::pin(closing.clone().wait());
    Box::pin(futures::stream::unfold(
        Some((Box::pin(stream), deadline, closed)),
        |state| async move {
            let (mut stream, mut deadline, mut closed) = state?;
            tokio::select! {
                item = stream.next() => item.map(|item| (item, Some((stream, deadline, closed)))),
                () = &mut deadline => Some((Err(expired_status()), None)),
                () = &mut closed => Some((Err(closing_status()), None)),
            }
        },
    ))
}

/// Turns request metadata into the caller's permissions.
#[derive(Debug)]
pub(crate) struct Authorizer(Authorization);

impl Authorizer {
    pub(crate) fn permissions(&self, metadata: &MetadataMap) -> Result<Permissions, Status> {
        match &self.0 {
            Authorization::AllowAll => Ok(Permissions::allow_all()),
            Authorization::Jwt(verifier) => {
                let token = bearer(metadata)?.ok_or_else(missing_token)?;
                verifier
                    .verify(token)
                    .map_err(|e| Status::unauthenticated(e.to_string()))
            }
            Authorization::Tokens(policy) => match bearer_or_anonymous(metadata, policy.anonymous)?
            {
                Some(token) => {
                    tomoe_auth::verify_any(policy.verifiers.iter().map(Arc::as_ref), token)
                        .map_err(|e| Status::unauthenticated(e.to_string()))
                }
                None => match policy.anonymous {
                    AnonymousAccess::AllowAll => Ok(Permissions::allow_all()),
                    AnonymousAccess::Refused => Err(missing_token()),
                },
            },
        }
    }
}

fn missing_token() -> Status {
    Status::unauthenticated(tomoe_auth::AuthError::MissingToken.to_string())
}

/// Like [`bearer`], except that where anonymous callers are welcome an
/// `authorization` header that carries no bearer token at all (some clients, such as
/// the Python kuksa-client, send an empty one) counts as no header.
fn bearer_or_anonymous(
    metadata: &MetadataMap,
    anonymous: AnonymousAccess,
) -> Result<Option<&str>, Status> {
    if anonymous == AnonymousAccess::AllowAll {
        let carries_token = metadata
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| h.trim_start().starts_with("Bearer "));
        if !carries_token {
            return Ok(None);
        }
    }
    bearer(metadata)
}

/// The bearer token of the request; `None` without an `authorization` header.
fn bearer(metadata: &MetadataMap) -> Result<Option<&str>, Status> {
    let Some(header) = metadata.get("authorization") else {
        return Ok(None);
    };
    let header = header
        .to_str()
        .map_err(|_| Status::unauthenticated(tomoe_auth::AuthError::MalformedHeader.to_string()))?;
    tomoe_auth::bearer_token(header)
        .map(Some)
        .map_err(|e| Status::unauthenticated(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};
    use tomoe_auth::TokenIssuer;
    use tomoe_broker::Access;
    use tonic::Code;

    const HOUR: Duration = Duration::from_secs(3600);

    fn metadata(authorization: Option<&str>) -> MetadataMap {
        let mut map = MetadataMap::new();
        if let Some(value) = authorization {
            map.insert("authorization", value.parse().unwrap());
        }
        map
    }

    fn bearer_of(token: &str) -> MetadataMap {
        metadata(Some(&format!("Bearer {token}")))
    }

    fn tokens(verifiers: &[&TokenIssuer], anonymous: AnonymousAccess) -> Authorizer {
        Authorizer(Authorization::Tokens(TokenPolicy {
            verifiers: verifiers.iter().map(|i| Arc::new(i.verifier())).collect(),
            anonymous,
        }))
    }

    fn refusal(authorizer: &Authorizer, metadata: &MetadataMap) -> String {
        let status = authorizer.permissions(metadata).unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        status.message().to_owned()
    }

    #[test]
    fn allow_all_and_jwt_are_unchanged() {
        let issuer = TokenIssuer::generate();
        let allow_all = Authorizer(Authorization::AllowAll);
        assert!(allow_all
            .permissions(&metadata(None))
            .unwrap()
            .is_allow_all());
        assert!(allow_all
            .permissions(&metadata(Some("Basic abc")))
            .unwrap()
            .is_allow_all());

        let jwt = Authorizer(Authorization::Jwt(Arc::new(issuer.verifier())));
        assert_eq!(refusal(&jwt, &metadata(None)), "no auth token provided");
        assert_eq!(
            refusal(&jwt, &metadata(Some("Basic abc"))),
            "invalid auth token: the authorization header must be \"Bearer <token>\""
        );
        let token = issuer.issue("app", "read:Vehicle.Speed", HOUR).unwrap();
        let permissions = jwt.permissions(&bearer_of(&token)).unwrap();
        assert!(permissions.allows(Access::Read, "Vehicle.Speed"));
        assert!(!permissions.allows(Access::Read, "Vehicle.Cabin"));
    }

    #[test]
    fn tokens_of_any_trusted_key_are_accepted() {
        let operator = TokenIssuer::generate();
        let runtime = TokenIssuer::generate();
        let authorizer = tokens(&[&operator, &runtime], AnonymousAccess::Refused);
        let operator_token = operator.issue("tool", "read", HOUR).unwrap();
        let app_token = runtime
            .issue("app", "provide:Vehicle.Tomoe.RangeEstimate", HOUR)
            .unwrap();
        let tool = authorizer.permissions(&bearer_of(&operator_token)).unwrap();
        assert!(tool.allows(Access::Read, "Vehicle.Speed"));
        assert!(!tool.allows(Access::Provide, "Vehicle.Speed"));
        let app = authorizer.permissions(&bearer_of(&app_token)).unwrap();
        assert!(app.allows(Access::Provide, "Vehicle.Tomoe.RangeEstimate"));
        assert!(!app.allows(Access::Read, "Vehicle.Speed"));

        let stranger = TokenIssuer::generate().issue("x", "read", HOUR).unwrap();
        assert_eq!(
            refusal(&authorizer, &bearer_of(&stranger)),
            "invalid auth token: bad signature"
        );
        assert_eq!(
            refusal(&authorizer, &metadata(None)),
            "no auth token provided"
        );
    }

    #[test]
    fn expired_beats_bad_signature_whatever_the_order() {
        let operator = TokenIssuer::generate();
        let runtime = TokenIssuer::generate();
        let expired = runtime
            .issue_at(
                "app",
                "read",
                SystemTime::now() - HOUR,
                Duration::from_secs(60),
            )
            .unwrap();
        for order in [[&operator, &runtime], [&runtime, &operator]] {
            let authorizer = tokens(&order, AnonymousAccess::Refused);
            assert_eq!(
                refusal(&authorizer, &bearer_of(&expired)),
                "invalid auth token: expired"
            );
        }
    }

    #[test]
    fn anonymous_callers_get_everything_but_tokens_keep_their_scope() {
        let runtime = TokenIssuer::generate();
        let authorizer = tokens(&[&runtime], AnonymousAccess::AllowAll);
        assert!(authorizer
            .permissions(&metadata(None))
            .unwrap()
            .is_allow_all());

        let token = runtime.issue("app", "read:Vehicle.Speed", HOUR).unwrap();
        let app = authorizer.permissions(&bearer_of(&token)).unwrap();
        assert!(!app.is_allow_all());
        assert!(app.allows(Access::Read, "Vehicle.Speed"));
        assert!(!app.allows(Access::Provide, "Vehicle.Speed"));
        assert!(!app.allows(Access::Read, "Vehicle.Cabin"));

        // A presented token that does not verify is refused, not treated as none.
        let stranger = TokenIssuer::generate().issue("x", "read", HOUR).unwrap();
        assert_eq!(
            refusal(&authorizer, &bearer_of(&stranger)),
            "invalid auth token: bad signature"
        );
        let expired = runtime
            .issue_at(
                "app",
                "read",
                SystemTime::now() - HOUR,
                Duration::from_secs(60),
            )
            .unwrap();
        assert_eq!(
            refusal(&authorizer, &bearer_of(&expired)),
            "invalid auth token: expired"
        );
        // A header without a bearer token (the Python kuksa-client sends an empty one)
        // is no token: the caller is anonymous.
        for header in ["Basic abc", "None", ""] {
            assert!(
                authorizer
                    .permissions(&metadata(Some(header)))
                    .unwrap()
                    .is_allow_all(),
                "{header:?}"
            );
        }
        let strict = tokens(&[&runtime], AnonymousAccess::Refused);
        assert_eq!(
            refusal(&strict, &metadata(Some("Basic abc"))),
            "invalid auth token: the authorization header must be \"Bearer <token>\""
        );
        assert_eq!(
            refusal(&authorizer, &bearer_of("garbage")),
            "invalid auth token: InvalidToken"
        );

        // Without any trusted key every presented token is refused.
        let no_keys = tokens(&[], AnonymousAccess::AllowAll);
        assert!(no_keys.permissions(&metadata(None)).unwrap().is_allow_all());
        assert_eq!(
            refusal(&no_keys, &bearer_of(&token)),
            "invalid auth token: no token signing key is trusted"
        );
    }
}
