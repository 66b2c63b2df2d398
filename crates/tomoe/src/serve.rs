//! `tomoe serve`: loads the catalog, opens the store and runs the gRPC API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tomoe_broker::{Broker, BrokerConfig, Persistence};
use tomoe_grpc::{Authorization, ServerConfig, TlsConfig};
use tomoe_vss::{Catalog, PathPattern};

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
    pub authorization: Authorization,
    /// The server identity; plain text when absent.
    pub tls: Option<TlsConfig>,
    /// The Zenoh bridge to other ECUs and vehicles, if any.
    pub zenoh: Option<tomoe_zenoh::BridgeConfig>,
    /// The telemetry policy that makes this ECU the vehicle's gateway to its backend.
    pub telemetry: Option<tomoe_zenoh::TelemetryPolicy>,
    /// Branches only their tenant's tokens reach (the alliance's walls).
    pub private_branches: Vec<tomoe_broker::PrivateBranch>,
    /// Where the VISS server (tomoe-viss) listens, if anywhere.
    pub viss: Option<SocketAddr>,
    /// The signal history behind VISS's `history` filter (kept when VISS is asked for).
    pub history: tomoe_history::HistoryConfig,
    /// Told about every VISS request, for metrics.
    pub observer: Option<tomoe_viss::CallObserver>,
}

/// The telemetry policy of `--telemetry-policy`, which needs a Zenoh bridge.
pub fn telemetry_policy(
    file: Option<&Path>,
    zenoh: Option<&tomoe_zenoh::BridgeConfig>,
) -> anyhow::Result<Option<tomoe_zenoh::TelemetryPolicy>> {
    let Some(file) = file else { return Ok(None) };
    anyhow::ensure!(
        zenoh.is_some(),
        "--telemetry-policy needs a Zenoh bridge: give --zenoh-listen, --zenoh-connect or --zenoh-config"
    );
    Ok(Some(
        tomoe_zenoh::TelemetryPolicy::load(file).context("cannot load the telemetry policy")?,
    ))
}

/// The token verifier of a public key file (PEM: RSA, EC or Ed25519).
pub fn verifier(key: &Path) -> anyhow::Result<Arc<tomoe_auth::TokenVerifier>> {
    Ok(Arc::new(
        tomoe_auth::TokenVerifier::from_pem_file(key)
            .context("cannot set up token verification")?,
    ))
}

/// The TLS identity in a certificate chain and a private key file (PEM).
pub fn tls_files(certificate: &Path, key: &Path) -> anyhow::Result<TlsConfig> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path).with_context(|| format!("cannot read TLS {what} {}", path.display()))
    };
    Ok(TlsConfig {
        certificate_pem: read(certificate, "certificate")?,
        private_key_pem: read(key, "key")?,
    })
}

/// A broker ready to serve: configured, listening, not yet announced.
pub struct PreparedBroker {
    pub broker: Broker,
    pub server: tomoe_grpc::GrpcServer,
    pub listener: tokio::net::TcpListener,
    /// The line announcing where the broker listens.
    pub banner: String,
    /// The Zenoh bridge, when one was asked for, and the line announcing it.
    pub bridge: Option<(tomoe_zenoh::Bridge, String)>,
    /// The line announcing the VISS server (or that it is off), when one was asked for.
    pub viss: Option<String>,
    /// Where clients reach the VISS server, when it runs.
    pub viss_url: Option<String>,
    /// The signal history, when VISS was asked for; flushed at the end.
    pub history: Option<tomoe_history::History>,
}

/// `tomoe serve`: serves until Ctrl-C or SIGTERM.
pub async fn run(setup: BrokerSetup) -> anyhow::Result<()> {
    let prepared = prepare(setup).await?;
    out!("{}", prepared.banner).context("cannot write to standard output")?;
    if let Some(line) = &prepared.viss {
        out!("{line}").context("cannot write to standard output")?;
    }
    if let Some((_, line)) = &prepared.bridge {
        out!("{line}").context("cannot write to standard output")?;
    }
    prepared
        .server
        .run(prepared.listener, shutdown_signal())
        .await
        .context("the gRPC server stopped")?;
    if let Some((bridge, _)) = prepared.bridge {
        bridge.close().await;
    }
    flush_history(prepared.history.as_ref());
    tracing::info!("broker stopped");
    Ok(())
}

/// Sets up authorization, TLS, the store, the broker and the listener of `setup`.
pub async fn prepare(setup: BrokerSetup) -> anyhow::Result<PreparedBroker> {
    let catalog = setup.catalog;
    let origin = catalog.origins().join(" + ");
    let leaves = catalog.len();

    match &setup.authorization {
        Authorization::AllowAll => tracing::warn!("authorization is off (--insecure): every client may read, write and actuate every signal"),
        Authorization::Tokens(policy) if policy.anonymous == tomoe_grpc::AnonymousAccess::AllowAll => tracing::warn!("clients without a token may read, write and actuate every signal (development mode); tokens are held to their scope"),
        _ => {}
    }
    if setup.tls.is_none() {
        tracing::warn!("TLS is off: traffic is not encrypted");
    }
    // Commands from the backend are held to the same keys as local clients; a
    // caller without a token is always refused.
    let verifiers = match &setup.authorization {
        Authorization::Jwt(verifier) => vec![verifier.clone()],
        Authorization::Tokens(policy) => policy.verifiers.clone(),
        Authorization::AllowAll => Vec::new(),
    };
    let gateway = setup.telemetry.map(|policy| tomoe_zenoh::Gateway {
        policy,
        verifiers: verifiers.clone(),
    });
    // VISS holds callers to the broker's keys; anonymous callers as gRPC does.
    let anonymous = tomoe_grpc::AnonymousAccess::AllowAll;
    let viss_access = tomoe_viss::AccessPolicy {
        verifiers,
        anonymous: matches!(&setup.authorization, Authorization::AllowAll)
            || matches!(&setup.authorization, Authorization::Tokens(p) if p.anonymous == anonymous),
    };
    let (authorization, tls) = (setup.authorization, setup.tls);
    let store = tomoe_store::Store::open(&setup.data_dir).context("cannot open the data store")?;
    let store_path = store.path().display().to_string();
    let config = BrokerConfig {
        persist_current: setup.persist,
        private_branches: setup.private_branches,
        ..BrokerConfig::default()
    };
    let store: Arc<dyn Persistence> = Arc::new(store);
    let broker = Broker::new(catalog, config, Some(store)).context("cannot start the broker")?;
    // VISS shares the broker's certificate. An address in use (another `tomoe up`)
    // leaves VISS off, and says so.
    let viss_tls = tls.as_ref().map(|t| tomoe_viss::TlsIdentity {
        certificate_pem: t.certificate_pem.clone(),
        private_key_pem: t.private_key_pem.clone(),
    });
    let (mut viss, mut viss_url, mut history) = (None, None, None);
    if let Some(at) = setup.viss {
        let kept = tomoe_history::History::start_in(&broker, setup.history, &setup.data_dir)
            .context("cannot start the signal history")?;
        history = Some(kept.clone());
        let options = tomoe_viss::Options {
            access: viss_access,
            tls: viss_tls,
            history: Some(kept),
            observer: setup.observer,
        };
        match tomoe_viss::start(at, &broker, options).await {
            Err(error @ tomoe_viss::StartError::Bind { .. }) => {
                tracing::warn!(error = %format!("{:#}", anyhow::Error::from(error)), "VISS is off");
                viss = Some("  viss     off: its address is in use (--viss-address)".to_owned());
            }
            started => {
                let started = started?;
                (viss, viss_url) = (Some(started.banner), Some(started.url));
            }
        }
    }

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
    let bridge = match setup.zenoh {
        Some(config) => {
            let mut line = format!("  zenoh    {config}");
            if let Some(gateway) = &gateway {
                line.push_str(&format!(
                    "\n  backend  telemetry ({} rules) on tomoe/{}/telemetry/**, commands on tomoe/{}/command/*",
                    gateway.policy.rules().len(),
                    config.vehicle_id,
                    config.vehicle_id
                ));
            }
            let bridge = tomoe_zenoh::Bridge::start(broker.clone(), config, gateway)
                .await
                .context("cannot start the Zenoh bridge")?;
            Some((bridge, line))
        }
        None => None,
    };
    Ok(PreparedBroker {
        broker,
        server,
        listener,
        banner,
        bridge,
        viss,
        viss_url,
        history,
    })
}

/// Writes what the durable history has not written yet, at the end.
pub fn flush_history(history: Option<&tomoe_history::History>) {
    if let Some(Err(error)) = history.map(tomoe_history::History::flush) {
        tracing::warn!(%error, "the last samples of the durable history were not written");
    }
}

/// The catalog of `--vss` and `--overlay`, with the private branches of
/// `alliance`'s tenants.
pub fn load_catalog(
    vss: Option<&Path>,
    overlays: &[PathBuf],
    alliance: Option<&tomoe_alliance::Alliance>,
) -> anyhow::Result<Catalog> {
    let builder = tomoe_vss::builder_from_files(vss, overlays).context("invalid VSS catalog")?;
    let builder = match alliance {
        Some(alliance) => alliance.add_overlays(builder)?,
        None => builder,
    };
    builder.build().context("invalid VSS catalog")
}

/// The alliance file of `--alliance` (a file or its directory).
pub fn load_alliance(path: &Path) -> anyhow::Result<tomoe_alliance::Alliance> {
    tomoe_alliance::Alliance::load(path).context("cannot load the alliance")
}

/// Each tenant's token verifiers, bound to that tenant.
pub fn tenant_verifiers(
    alliance: &tomoe_alliance::Alliance,
) -> anyhow::Result<Vec<Arc<tomoe_auth::TokenVerifier>>> {
    Ok(alliance
        .token_verifiers()?
        .into_iter()
        .map(Arc::new)
        .collect())
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
