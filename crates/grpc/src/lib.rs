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

pub mod convert;
mod v1;
mod v2;

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
    router: tonic::transport::server::Router,
}

impl std::fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServer").finish_non_exhaustive()
    }
}

impl GrpcServer {
    /// Builds the server for `broker`.
    pub fn new(broker: Broker, config: ServerConfig) -> Result<GrpcServer, ServeError> {
        let authorizer = Arc::new(Authorizer(config.authorization));
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = &config.tls {
            let identity = Identity::from_pem(&tls.certificate_pem, &tls.private_key_pem);
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(identity))
                .map_err(ServeError::Tls)?;
        }
        let v1_service = v1::V1Service::new(broker.clone(), authorizer.clone());
        let v2_service = v2::V2Service::new(broker, authorizer);
        let router = builder
            .add_service(kuksa_rust_sdk::v1_proto::val_server::ValServer::new(
                v1_service,
            ))
            .add_service(kuksa_rust_sdk::v2_proto::val_server::ValServer::new(
                v2_service,
            ));
        Ok(GrpcServer { router })
    }

    /// Serves both KUKSA APIs on `listener` until `shutdown` completes.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        // Small frames of signal updates must not wait for Nagle's algorithm.
        let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        self.router
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(ServeError::Transport)
    }
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

/// Ends `stream` with [`expired_status`] when `permissions` expire.
pub(crate) fn until_expiry<T, S>(
    stream: S,
    permissions: &Permissions,
) -> std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>
where
    T: Send + 'static,
    S: futures::Stream<Item = Result<T, Status>> + Send + 'static,
{
    use futures::StreamExt;
    let Some(at) = permissions.expires_at() else {
        return Box::pin(stream);
    };
    let remaining = at
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    let deadline = Box::pin(tokio::time::sleep(remaining));
    Box::pin(futures::stream::unfold(
        Some((Box::pin(stream), deadline)),
        |state| async move {
            let (mut stream, mut deadline) = state?;
            tokio::select! {
                item = stream.next() => item.map(|item| (item, Some((stream, deadline)))),
                _ = &mut deadline => Some((Err(expired_status()), None)),
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
                let header = metadata
                    .get("authorization")
                    .ok_or_else(|| {
                        Status::unauthenticated(tomoe_auth::AuthError::MissingToken.to_string())
                    })?
                    .to_str()
                    .map_err(|_| {
                        Status::unauthenticated(tomoe_auth::AuthError::MalformedHeader.to_string())
                    })?;
                let token = tomoe_auth::bearer_token(header)
                    .map_err(|e| Status::unauthenticated(e.to_string()))?;
                verifier
                    .verify(token)
                    .map_err(|e| Status::unauthenticated(e.to_string()))
            }
        }
    }
}
