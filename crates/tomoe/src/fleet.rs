//! `tomoe fleet`: the alliance's fleet backend (`tomoe_fleet`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

/// The commands of `tomoe fleet`.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Run the fleet backend on a PostgreSQL database: inventory, manifests, operator API
    Serve(FleetServeArgs),
}

/// Options of `tomoe fleet serve`.
#[derive(Debug, Args)]
pub struct FleetServeArgs {
    /// The PostgreSQL database, e.g. postgres://fleet@db.example:5432/tomoe (migrations are applied at start)
    #[arg(
        long,
        env = "TOMOE_FLEET_DATABASE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database: String,
    /// Address of the HTTP API
    #[arg(long, default_value = "127.0.0.1:8470")]
    pub address: SocketAddr,
    /// Public key (PEM) that signs operators' tokens (scopes fleet, fleet:write); repeatable
    #[arg(long, value_name = "FILE", required = true)]
    pub jwt_public_key: Vec<PathBuf>,
    /// Receive the vehicles' telemetry on this Zenoh endpoint (e.g. tcp/0.0.0.0:7447; repeatable)
    #[arg(long, value_name = "ENDPOINT")]
    pub zenoh_listen: Vec<String>,
    /// Connect to this Zenoh router for the vehicles' telemetry (repeatable)
    #[arg(long, value_name = "ENDPOINT")]
    pub zenoh_connect: Vec<String>,
    /// Zenoh role of the backend: router (the default), peer or client
    #[arg(long, value_name = "MODE", default_value = "router")]
    pub zenoh_mode: tomoe_zenoh::ZenohMode,
    /// Listen for vehicles on a non-loopback Zenoh endpoint although Zenoh links are
    /// neither authenticated nor encrypted yet (docs/distribution.md, Security)
    #[arg(long)]
    pub insecure_zenoh: bool,
    /// Drop telemetry older than this many days (checked hourly)
    #[arg(long, value_name = "DAYS", default_value_t = 90)]
    pub telemetry_retention_days: u32,
}

pub async fn run(command: FleetCommand) -> anyhow::Result<()> {
    match command {
        FleetCommand::Serve(args) => serve(args).await,
    }
}

async fn serve(args: FleetServeArgs) -> anyhow::Result<()> {
    if let Some(endpoint) = args
        .zenoh_listen
        .iter()
        .find(|e| !tomoe_zenoh::is_loopback_endpoint(e))
    {
        anyhow::ensure!(
            args.insecure_zenoh,
            "--zenoh-listen {endpoint}: Zenoh links are not authenticated yet, so anyone reaching it could read and actuate vehicles; listen on loopback behind a Zenoh router with TLS and access control, or give --insecure-zenoh"
        );
    }
    let verifiers = args
        .jwt_public_key
        .iter()
        .map(|key| crate::serve::verifier(key))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let fleet = tomoe_fleet::Fleet::connect(&args.database).await?;
    let listener = tokio::net::TcpListener::bind(args.address)
        .await
        .with_context(|| format!("cannot listen on {}", args.address))?;
    let address = listener.local_addr().context("cannot read the address")?;
    let mut telemetry = None;
    if !args.zenoh_listen.is_empty() || !args.zenoh_connect.is_empty() {
        let mut receiver = tomoe_zenoh::backend::TelemetryReceiver::open(
            args.zenoh_mode,
            &args.zenoh_listen,
            &args.zenoh_connect,
        )
        .await
        .context("cannot join the vehicles' Zenoh network")?;
        if let Some(samples) = receiver.take_samples() {
            let fleet = fleet.clone();
            tokio::spawn(async move { fleet.ingest_received(samples).await });
        }
        telemetry = Some(receiver);
        let (fleet, days) = (fleet.clone(), args.telemetry_retention_days);
        tokio::spawn(async move { fleet.run_retention(days).await });
    }
    let app = tomoe_fleet::http::router(fleet, tomoe_fleet::http::AccessPolicy { verifiers });
    out!("tomoe fleet backend listening on http://{address} (operator API /fleet/v1, director /director)")?;
    if telemetry.is_some() {
        let endpoints = [args.zenoh_listen.as_slice(), args.zenoh_connect.as_slice()].concat();
        out!(
            "  telemetry from tomoe/*/telemetry/** over Zenoh ({})",
            endpoints.join(", ")
        )?;
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::serve::shutdown_signal())
        .await
        .context("the fleet backend stopped")?;
    if let Some(receiver) = telemetry {
        receiver.close().await;
    }
    out!("tomoe fleet backend stopped")?;
    Ok(())
}
