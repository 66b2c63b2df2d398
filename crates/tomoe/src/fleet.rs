//! `tomoe fleet`: the alliance's fleet backend (`tomoe_fleet`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use tomoe_fleet::client::FleetClient;

/// The commands of `tomoe fleet`.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Run the fleet backend on a PostgreSQL database: inventory, manifests, campaigns, director, operator API
    Serve(FleetServeArgs),
    /// List registered vehicles
    Vehicles(FleetVehiclesArgs),
    /// Show one vehicle: what it is, its ECUs and parts, and what they run
    Vehicle(FleetVehicleArgs),
    /// Create, follow and steer update campaigns
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Run N lightweight simulated vehicles against a backend, through the real protocols
    Simulate(FleetSimulateArgs),
}

/// How the operator commands reach the backend.
#[derive(Debug, Args)]
pub struct FleetApiArgs {
    /// The fleet backend's URL
    #[arg(long, env = "TOMOE_FLEET", default_value = "http://127.0.0.1:8470")]
    pub server: String,
    /// A JWT with the fleet (or fleet:write) scope
    #[arg(long, env = "TOMOE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `tomoe fleet vehicles`.
#[derive(Debug, Args)]
pub struct FleetVehiclesArgs {
    #[command(flatten)]
    pub api: FleetApiArgs,
    /// Only this brand
    #[arg(long)]
    pub brand: Option<String>,
    /// Only this model
    #[arg(long)]
    pub model: Option<String>,
    /// Only this vehicle profile
    #[arg(long)]
    pub profile: Option<String>,
    /// Only vehicles with an ECU of this hardware id
    #[arg(long)]
    pub hardware_id: Option<String>,
    /// Only vehicles with this part (catalog id) installed
    #[arg(long)]
    pub part: Option<String>,
    /// Start after this vehicle id (the `next` of the previous page)
    #[arg(long)]
    pub after: Option<String>,
    /// Vehicles per page
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
}

/// Options of `tomoe fleet vehicle`.
#[derive(Debug, Args)]
pub struct FleetVehicleArgs {
    #[command(flatten)]
    pub api: FleetApiArgs,
    /// The vehicle's id
    pub id: String,
}

/// The commands of `tomoe fleet campaign`.
#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Roll an image of the image repository out to the vehicles a targeting selects
    Create(CampaignCreateArgs),
    /// Show one campaign (with --vehicles, its vehicles), or every campaign
    Status(CampaignStatusArgs),
    /// Offer nothing new; vehicles already offered the image keep it
    Pause(CampaignActionArgs),
    /// Go on after a pause; the failures so far are acknowledged
    Resume(CampaignActionArgs),
    /// Stop for good and withdraw the image from vehicles that did not install it
    Cancel(CampaignActionArgs),
}

/// Options of `tomoe fleet campaign create`.
#[derive(Debug, Args)]
pub struct CampaignCreateArgs {
    #[command(flatten)]
    pub api: FleetApiArgs,
    /// A name for people
    #[arg(long)]
    pub name: String,
    /// The image's target name in the image repository
    #[arg(long)]
    pub image: String,
    /// Only this brand
    #[arg(long)]
    pub brand: Option<String>,
    /// Only this model
    #[arg(long)]
    pub model: Option<String>,
    /// Only this vehicle profile
    #[arg(long)]
    pub profile: Option<String>,
    /// Only ECUs of this hardware id (default: the image's)
    #[arg(long)]
    pub hardware_id: Option<String>,
    /// Only ECUs running this image now
    #[arg(long, value_name = "IMAGE")]
    pub current_version: Option<String>,
    /// The share of vehicles in the canary wave
    #[arg(long, default_value_t = 0.05)]
    pub canary: f64,
    /// Waves after the canary
    #[arg(long, default_value_t = 3)]
    pub waves: u32,
    /// The failure rate that pauses the campaign when passed
    #[arg(long, default_value_t = 0.1)]
    pub failure_threshold: f64,
}

/// Options of `tomoe fleet campaign status`.
#[derive(Debug, Args)]
pub struct CampaignStatusArgs {
    #[command(flatten)]
    pub api: FleetApiArgs,
    /// The campaign (default: every campaign)
    pub id: Option<i64>,
    /// List the campaign's vehicles (a page)
    #[arg(long, requires = "id")]
    pub vehicles: bool,
    /// Only vehicles of this status (waiting, offered, downloading, installed, rolled_back, failed, cancelled)
    #[arg(long, requires = "vehicles")]
    pub status: Option<tomoe_fleet::UpdateStatus>,
    /// Start after this vehicle id
    #[arg(long, requires = "vehicles")]
    pub after: Option<String>,
    /// Vehicles per page
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
}

/// Options of `tomoe fleet campaign pause|resume|cancel`.
#[derive(Debug, Args)]
pub struct CampaignActionArgs {
    #[command(flatten)]
    pub api: FleetApiArgs,
    /// The campaign
    pub id: i64,
    /// Why, for the record
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// Options of `tomoe fleet simulate`.
#[derive(Debug, Args)]
pub struct FleetSimulateArgs {
    #[command(flatten)]
    pub api: FleetApiArgs,
    /// How many vehicles
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub vehicles: u32,
    /// A model the fleet is made of, BRAND:MODEL:PROFILE (repeatable; taken in turn)
    #[arg(long = "model", value_name = "BRAND:MODEL:PROFILE", default_values = ["hyundai:kona:hyundai-kona-ev", "nissan:leaf:nissan-leaf"])]
    pub models: Vec<tomoe_fleet::simulate::SimulatedModel>,
    /// Vehicle ids are PREFIX-BRAND-N
    #[arg(long, default_value = "sim")]
    pub id_prefix: String,
    /// The director's root metadata every vehicle trusts
    #[arg(long, value_name = "FILE")]
    pub director_root: PathBuf,
    /// The image repository's root metadata every vehicle trusts
    #[arg(long, value_name = "FILE")]
    pub image_root: PathBuf,
    /// The hardware id of the vehicles' app ECU
    #[arg(long, default_value = "tomoe-app")]
    pub app_hardware_id: String,
    /// The image the app ECU runs at first (a target of the image repository)
    #[arg(long, value_name = "IMAGE")]
    pub installed: Option<String>,
    /// The share of vehicles whose every update fails its health window and rolls back
    #[arg(long, default_value_t = 0.0)]
    pub failure_fraction: f64,
    /// Seed of the draw of failing vehicles
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seconds between a vehicle's update checks
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub check_interval: u64,
    /// Stop after this many seconds (default: at Ctrl-C)
    #[arg(long)]
    pub duration: Option<u64>,
    /// Join the backend's Zenoh network at this endpoint (repeatable)
    #[arg(long, value_name = "ENDPOINT")]
    pub zenoh_connect: Vec<String>,
    /// Send telemetry over Zenoh as this policy (TOML) selects; it is registered for each vehicle
    #[arg(long, value_name = "FILE", requires = "zenoh_connect")]
    pub telemetry_policy: Option<PathBuf>,
    /// Send manifests over Zenoh (tomoe/<vehicle>/manifest) instead of HTTP
    #[arg(long, requires = "zenoh_connect")]
    pub manifests_over_zenoh: bool,
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
    /// The director repository (`tomoe ota repo init --director`) without its root
    /// key: its roots and online keys sign each vehicle's director metadata
    #[arg(long, value_name = "DIR")]
    pub director: Option<PathBuf>,
    /// The image repository campaigns take their images from, served under /image/
    #[arg(long, value_name = "DIR")]
    pub image_repository: Option<PathBuf>,
}

pub async fn run(command: FleetCommand) -> anyhow::Result<()> {
    match command {
        FleetCommand::Serve(args) => serve(args).await,
        FleetCommand::Vehicles(args) => vehicles(args).await,
        FleetCommand::Vehicle(args) => vehicle(args).await,
        FleetCommand::Campaign(command) => campaign(command).await,
        FleetCommand::Simulate(args) => simulate(args).await,
    }
}

fn client(api: &FleetApiArgs) -> anyhow::Result<FleetClient> {
    Ok(FleetClient::new(&api.server, api.token.clone())?)
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    out!(
        "{}",
        serde_json::to_string_pretty(value).context("printing")?
    )?;
    Ok(())
}

async fn vehicles(args: FleetVehiclesArgs) -> anyhow::Result<()> {
    let filter = tomoe_fleet::VehicleFilter {
        brand: args.brand,
        model: args.model,
        profile: args.profile,
        hardware_id: args.hardware_id,
        part: args.part,
    };
    let page = client(&args.api)?
        .vehicles(&filter, args.after.as_deref(), args.limit)
        .await?;
    if args.api.json {
        return print_json(&page);
    }
    out!("{page}")?;
    Ok(())
}

async fn vehicle(args: FleetVehicleArgs) -> anyhow::Result<()> {
    let detail = client(&args.api)?.vehicle(&args.id).await?;
    if args.api.json {
        return print_json(&detail);
    }
    out!("{detail}")?;
    Ok(())
}

async fn campaign(command: CampaignCommand) -> anyhow::Result<()> {
    use tomoe_fleet::CampaignAction;
    let (api, status) = match command {
        CampaignCommand::Create(args) => {
            let request = tomoe_fleet::CampaignRequest {
                name: args.name,
                image: args.image,
                targeting: tomoe_fleet::Targeting {
                    brand: args.brand,
                    model: args.model,
                    profile: args.profile,
                    hardware_id: args.hardware_id,
                    current_version: args.current_version,
                },
                canary_fraction: args.canary,
                waves: args.waves,
                failure_threshold: args.failure_threshold,
            };
            let status = client(&args.api)?.create_campaign(&request).await?;
            (args.api, status)
        }
        CampaignCommand::Status(args) => return campaign_status(args).await,
        CampaignCommand::Pause(args) => action(args, CampaignAction::Pause).await?,
        CampaignCommand::Resume(args) => action(args, CampaignAction::Resume).await?,
        CampaignCommand::Cancel(args) => action(args, CampaignAction::Cancel).await?,
    };
    if api.json {
        return print_json(&status);
    }
    print_campaign(&status)
}

async fn action(
    args: CampaignActionArgs,
    action: tomoe_fleet::CampaignAction,
) -> anyhow::Result<(FleetApiArgs, tomoe_fleet::CampaignStatus)> {
    let status = client(&args.api)?
        .campaign_action(args.id, action, &args.reason)
        .await?;
    Ok((args.api, status))
}

async fn campaign_status(args: CampaignStatusArgs) -> anyhow::Result<()> {
    let client = client(&args.api)?;
    let Some(id) = args.id else {
        let campaigns = client.campaigns().await?;
        if args.api.json {
            return print_json(&campaigns);
        }
        for status in &campaigns {
            print_campaign(status)?;
        }
        if campaigns.is_empty() {
            out!("no campaigns")?;
        }
        return Ok(());
    };
    if !args.vehicles {
        let status = client.campaign(id).await?;
        return if args.api.json {
            print_json(&status)
        } else {
            print_campaign(&status)
        };
    }
    let page = client
        .campaign_vehicles(id, args.status, args.after.as_deref(), args.limit)
        .await?;
    if args.api.json {
        return print_json(&page);
    }
    out!("{page}")?;
    Ok(())
}

fn print_campaign(status: &tomoe_fleet::CampaignStatus) -> anyhow::Result<()> {
    out!("{status}")?;
    Ok(())
}

async fn simulate(args: FleetSimulateArgs) -> anyhow::Result<()> {
    use tomoe_fleet::simulate::{fleet_of, SimulatedFleet, SimulatedZenoh, SimulationConfig};
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.failure_fraction),
        "--failure-fraction {}: expected 0 to 1",
        args.failure_fraction
    );
    let read = |path: &PathBuf| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let policy = match &args.telemetry_policy {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        ),
        None => None,
    };
    let config = SimulationConfig {
        server: args.api.server.clone(),
        director_root: read(&args.director_root)?,
        image_root: read(&args.image_root)?,
        app_hardware_id: args.app_hardware_id,
        installed: args.installed,
        check_interval: std::time::Duration::from_secs(args.check_interval),
        zenoh: (!args.zenoh_connect.is_empty()).then(|| SimulatedZenoh {
            connect: args.zenoh_connect.clone(),
            telemetry_policy: policy,
            manifests: args.manifests_over_zenoh,
        }),
    };
    let specs = fleet_of(
        args.vehicles as usize,
        &args.models,
        &args.id_prefix,
        args.failure_fraction,
        args.seed,
    );
    let failing = specs.iter().filter(|v| v.fails).count();
    let fleet = SimulatedFleet::register(config, client(&args.api)?, specs).await?;
    if !args.api.json {
        out!(
            "{} simulated vehicles registered ({failing} flagged to fail); checking every {} s; Ctrl-C stops",
            args.vehicles, args.check_interval
        )?;
    }
    let counters = fleet.counters();
    let progress = (!args.api.json).then(|| {
        let counters = counters.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            every.tick().await;
            loop {
                every.tick().await;
                let _ = out!("  {counters}");
            }
        })
    });
    let duration = args.duration;
    let simulation = fleet
        .run(async move {
            match duration {
                Some(seconds) => {
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(seconds)) => {}
                        _ = crate::serve::shutdown_signal() => {}
                    }
                }
                None => crate::serve::shutdown_signal().await,
            }
        })
        .await?;
    if let Some(progress) = progress {
        progress.abort();
    }
    if args.api.json {
        return print_json(&simulation);
    }
    out!("{simulation}")?;
    Ok(())
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
        let mut receiver = tomoe_zenoh::backend::BackendLink::open(
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
        if let Some(manifests) = receiver.take_manifests() {
            let fleet = fleet.clone();
            tokio::spawn(async move { fleet.serve_manifests(manifests).await });
        }
        telemetry = Some(receiver);
        let (fleet, days) = (fleet.clone(), args.telemetry_retention_days);
        tokio::spawn(async move { fleet.run_retention(days).await });
    }
    let director = match &args.director {
        Some(dir) => {
            let keys = tomoe_fleet::DirectorKeys::load(dir)?;
            let director = std::sync::Arc::new(tomoe_fleet::Director::new(keys));
            // A key rotation made offline is picked up without a restart.
            tokio::spawn(
                director
                    .clone()
                    .run_reload(std::time::Duration::from_secs(10)),
            );
            Some(director)
        }
        None => None,
    };
    let config = tomoe_fleet::http::HttpConfig {
        access: tomoe_fleet::http::AccessPolicy { verifiers },
        director: director.clone(),
        image_repository: args.image_repository.clone(),
    };
    let app = tomoe_fleet::http::router(fleet, config);
    out!("tomoe fleet backend listening on http://{address} (operator API /fleet/v1, director /director)")?;
    if let Some(director) = &director {
        let keys = director.keys();
        out!(
            "  director metadata signed with the online keys of {} (root version {})",
            keys.dir().display(),
            keys.root_version()
        )?;
    }
    if let Some(dir) = &args.image_repository {
        out!("  image repository {} served under /image/", dir.display())?;
    }
    if telemetry.is_some() {
        let endpoints = [args.zenoh_listen.as_slice(), args.zenoh_connect.as_slice()].concat();
        out!(
            "  telemetry from tomoe/*/telemetry/** and manifests to tomoe/*/manifest over Zenoh ({})",
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
