//! `tomoe serve`: loads the catalog, opens the store and runs the gRPC API.

use std::sync::Arc;

use anyhow::{bail, Context};
use tomoe_broker::{Broker, BrokerConfig, Persistence};
use tomoe_grpc::{Authorization, ServerConfig, TlsConfig};
use tomoe_vss::{CatalogBuilder, PathPattern};

use crate::cli::ServeArgs;

/// A broker ready to serve: configured, listening, not yet announced.
pub struct PreparedBroker {
    pub broker: Broker,
    pub server: tomoe_grpc::GrpcServer,
    pub listener: tokio::net::TcpListener,
    /// The line announcing where the broker listens.
    pub banner: String,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let catalog = load_catalog(&args)?;
    let prepared = prepare(&args, catalog).await?;
    out!("{}", prepared.banner).context("cannot write to standard output")?;
    prepared
        .server
        .run(prepared.listener, shutdown_signal())
        .await
        .context("the gRPC server stopped")?;
    tracing::info!("broker stopped");
    Ok(())
}

/// Sets up authorization, TLS, the store, the broker and the listener of `args` over `catalog`.
pub async fn prepare(
    args: &ServeArgs,
    catalog: tomoe_vss::Catalog,
) -> anyhow::Result<PreparedBroker> {
    prepare_with(args, catalog, None).await
}

/// Like [`prepare`], with `trusted` token verifiers besides `--jwt-public-key` (the app
/// runtime's): then clients without a token get full access only with `--insecure`,
/// and a client that presents a token is always held to its scope.
pub async fn prepare_with(
    args: &ServeArgs,
    catalog: tomoe_vss::Catalog,
    trusted: Option<Vec<Arc<tomoe_auth::TokenVerifier>>>,
) -> anyhow::Result<PreparedBroker> {
    let origin = catalog.origins().join(" + ");
    let leaves = catalog.len();

    let authorization = match (&args.jwt_public_key, args.insecure, trusted) {
        (key, insecure, Some(mut verifiers)) => {
            if let Some(key) = key {
                verifiers.push(Arc::new(
                    tomoe_auth::TokenVerifier::from_pem_file(key).context("cannot set up token verification")?,
                ));
            }
            let anonymous = if insecure {
                tracing::warn!("clients without a token may read, write and actuate every signal (development mode); tokens are held to their scope");
                tomoe_grpc::AnonymousAccess::AllowAll
            } else {
                tomoe_grpc::AnonymousAccess::Refused
            };
            Authorization::Tokens(tomoe_grpc::TokenPolicy { verifiers, anonymous })
        }
        (key, insecure, None) => match (key, insecure) {
        (Some(key), _) => Authorization::Jwt(Arc::new(
            tomoe_auth::TokenVerifier::from_pem_file(key).context("cannot set up token verification")?,
        )),
        (None, true) => {
            tracing::warn!("authorization is off (--insecure): every client may read, write and actuate every signal");
            Authorization::AllowAll
        }
        (None, false) => bail!(
            "refusing to start without authorization: give --jwt-public-key FILE, or --insecure to accept every client"
        ),
        },
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsConfig {
            certificate_pem: std::fs::read(cert)
                .with_context(|| format!("cannot read TLS certificate {}", cert.display()))?,
            private_key_pem: std::fs::read(key)
                .with_context(|| format!("cannot read TLS key {}", key.display()))?,
        }),
        _ => {
            tracing::warn!("TLS is off: traffic is not encrypted");
            None
        }
    };

    let store = tomoe_store::Store::open(&args.data_dir).context("cannot open the data store")?;
    let store_path = store.path().display().to_string();
    let persist_current = args
        .persist
        .iter()
        .map(|p| PathPattern::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .context("invalid --persist pattern")?;
    let config = BrokerConfig {
        persist_current,
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
    let listener = tokio::net::TcpListener::bind(args.address)
        .await
        .with_context(|| format!("cannot listen on {}", args.address))?;
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

pub fn load_catalog(args: &ServeArgs) -> anyhow::Result<tomoe_vss::Catalog> {
    let mut builder = match &args.vss {
        Some(path) => CatalogBuilder::new().json_file(path)?.vspec_str(
            tomoe_vss::TOMOE_OVERLAY_VSPEC,
            tomoe_vss::TOMOE_OVERLAY_NAME,
        )?,
        None => tomoe_vss::default_builder()?,
    };
    for overlay in &args.overlay {
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
