//! VISS over TLS (`wss://` and `https://`): rustls in front of the same router.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::{router, VissConfig};

/// How long a client may take over its TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server identity: a certificate chain and its private key, PEM (the
/// broker's `--tls-cert` and `--tls-key`).
#[derive(Clone)]
pub struct TlsIdentity {
    /// Certificate chain, PEM.
    pub certificate_pem: Vec<u8>,
    /// Private key, PEM.
    pub private_key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

/// Why a TLS identity cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the TLS identity for VISS: {0}")]
pub struct TlsError(String);

pub(crate) fn acceptor(identity: &TlsIdentity) -> Result<TlsAcceptor, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(&identity.certificate_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError(format!("certificate: {e}")))?;
    if certificates.is_empty() {
        return Err(TlsError("the certificate file holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&identity.private_key_pem)
        .map_err(|e| TlsError(format!("private key: {e}")))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| TlsError(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certificates, key)
    .map_err(|e| TlsError(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves VISS over TLS on `listener` (HTTP/1.1 with WebSocket upgrades, and
/// HTTP/2), for as long as the runtime runs.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    config: VissConfig,
    identity: &TlsIdentity,
) -> Result<(), TlsError> {
    let acceptor = acceptor(identity)?;
    let app = router(config);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::debug!(%error, "VISS: accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
            else {
                return;
            };
            let service = TowerToHyperService::new(app);
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
        });
    }
}
