//! `tomoe serve`: loads the catalog, opens the store and runs the gRPC API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tomoe_broker::{Broker, BrokerConfig, Persistence};
use tomoe_grpc::{Authorization, ServerConfig, TlsConfig};
use tomoe_vss::{Catalog, CatalogBuilder, PathPattern};

/// Everything a broker needs to serve; the CLI builds it from `ServeArgs`, `tomoe up`
/// directly.
pub struct BrokerSetup {
    /// Address to listen on.
    pub address: SocketAddr,
    /// The catalog to serve.
    pub catalog: Catalog,
    /// Directory of the embedded database.
    pub data_dir: PathBuf,
    /// Signals whose current values are persisted too.
    pub persist: Vec<PathPattern>,
    /// Who may do what.
    pub authorization: AuthorizationSetup,
    /// Certificate and key files; plain text when absent.
    pub tls: Option<TlsFiles>,
}

/// How a broker authorizes its clients.
pub enum AuthorizationSetup {
    /// Every client may do everything (`--insecure`).
    AllowAll,
    /// Tokens verified with this public key file (`--jwt-public-key`).
    Jwt(PathBuf),
    /// Tokens any of several keys verifies (the app runtime's, and `key` if given);
    /// clients without a token get full access only with `anonymous`.
    Tokens {
        /// Trusted verifiers besides `key`.
        verifiers: Vec<Arc<tomoe_auth::TokenVerifier>>,
        /// A public key file that verifies tokens too.
        key: Option<PathBuf>,
        /// Whether clients without a token have full access.
        anonymous: bool,
    },
}

/// The files of a TLS server identity.
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub certificate: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// A broker ready to serve: configured, listening, not yet announced.
pub struct PreparedBroker {
    pub broker: Broker,
    pub server: tomoe_grpc::GrpcServer,
    pub listener: tokio::net::TcpListener,
    /// The line announcing where the broker listens.
    pub banner: String,
}

/// `tomoe serve`: serves until Ctrl-C or SIGTERM.
pub async fn run(setup: BrokerSetup) -> anyhow::Result<()> {
    let prepared = prepare(setup).await?;
    out!("{}", prepared.banner).context("cannot write to standard output")?;
    prepared
        .server
        .run(prepared.listener, shutdown_signal())
        .await
        .context("the gRPC server stopped")?;
    tracing::info!("broker stopped");
    Ok(())
}

/// Sets up authorization, TLS, the store, the broker and the listener of `setup`.
pub async fn prepare(setup: BrokerSetup) -> anyhow::Result<PreparedBroker> {
    let catalog = setup.catalog;
    let origin = catalog.origins().join(" + ");
    let leaves = catalog.len();

    let verifier = |key: &Path| -> anyhow::Result<Arc<tomoe_auth::TokenVerifier>> {
        Ok(Arc::new(
            tomoe_auth::TokenVerifier::from_pem_file(key)
                .context("cannot set up token verification")?,
        ))
    };
    let authorization = match setup.authorization {
        AuthorizationSetup::Tokens {
            mut verifiers,
            key,
            anonymous,
        } => {
            if let Some(key) = key {
                verifiers.push(verifier(&key)?);
            }
            let anonymous = if anonymous {
                tracing::warn!("clients without a token may read, write and actuate every signal (development mode); tokens are held to their scope");
                tomoe_grpc::AnonymousAccess::AllowAll
            } else {
                tomoe_grpc::AnonymousAccess::Refused
            };
            Authorization::Tokens(tomoe_grpc::TokenPolicy {
                verifiers,
                anonymous,
            })
        }
        AuthorizationSetup::Jwt(key) => Authorization::Jwt(verifier(&key)?),
        AuthorizationSetup::AllowAll => {
            tracing::warn!("authorization is off (--insecure): every client may read, write and actuate every signal");
            Authorization::AllowAll
        }
    };
    let tls = match setup.tls {
        Some(files) => Some(TlsConfig {
            certificate_pem: std::fs::read(&files.certificate).with_context(|| {
                format!(
                    "cannot read TLS certificate {}",
                    files.certificate.display()
                )
            })?,
            private_key_pem: std::fs::read(&files.key)
                .with_context(|| format!("cannot read TLS key {}", files.key.display()))?,
        }),
        None => {
            tracing::warn!("TLS is off: traffic is not encrypted");
            None
        }
    };

    let store = tomoe_store::Store::open(&setup.data_dir).context("cannot open the data store")?;
    let store_path = store.path().display().to_string();
    let config = BrokerConfig {
        persist_current: setup.persist,
        ..BrokerConfig::default()
    };
    let store: Arc<dyn Persistence> = Arc::new(store);
    let broker = Broker::new(catalog, config, Some(store)).context("cannot start the broker")?;

    let server = tomoe_grpc::GrpcServer::new(
        broker.clone(),
        ServerConfig {
            authorization,
            tls: tls.clone(),
        },
    )
    .context("cannot set up the gRPC server")?;
    let listener = tokio::net::TcpListener::bind(setup.address)
        .await
        .with_context(|| format!("cannot listen on {}", setup.address))?;
    let address = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%address, catalog = %origin, leaves, store = %store_path, "broker ready");
    let banner = format!(
        "tomoe broker listening on {scheme}://{address} ({leaves} signals from {origin}; store {store_path})"
    );
    Ok(PreparedBroker {
        broker,
        server,
        listener,
        banner,
    })
}

/// The catalog of a VSS release file (the embedded VSS 5.1 when absent) with
/// `overlays` applied in order (`.vspec`/`.yaml`/`.yml` as YAML, others as JSON).
pub fn load_catalog(vss: Option<&Path>, overlays: &[PathBuf]) -> anyhow::Result<Catalog> {
    let mut builder = match vss {
        Some(path) => CatalogBuilder::new().json_file(path)?.vspec_str(
            tomoe_vss::TOMOE_OVERLAY_VSPEC,
            tomoe_vss::TOMOE_OVERLAY_NAME,
        )?,
        None => tomoe_vss::default_builder()?,
    };
    for overlay in overlays {
        let is_vspec = overlay
            .extension()
            .is_some_and(|e| e == "vspec" || e == "yaml" || e == "yml");
        builder = if is_vspec {
            builder.vspec_file(overlay)?
        } else {
            builder.json_file(overlay)?
        };
    }
    builder.build().context("invalid VSS catalog")
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down");
}
