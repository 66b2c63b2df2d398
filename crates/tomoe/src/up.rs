//! `tomoe up`: the whole platform on embedded defaults.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tomoe_broker::Permissions;
use tomoe_can::{Bus, Pacing};
use tomoe_sim::Cycle;
use tomoe_vehicle::{
    default_profiles_dir, BrokerSink, Feeder, FlushPolicy, LoadedProfile, Profile, Scenario,
    VehicleInput, WriteBack,
};
use tracing::Instrument;

use crate::cli::{CycleArg, EcuArg, UpArgs};
use tomoe_zenoh::EcuRole;

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    if !args.speed.is_finite() || args.speed <= 0.0 {
        bail!("--speed must be a positive factor, not {}", args.speed);
    }
    if !(0.0..=100.0).contains(&args.soc) {
        bail!(
            "--soc must be a percentage between 0 and 100, not {}",
            args.soc
        );
    }
    // The alliance's tenants and, with --variant, the badge on a hardware profile.
    let alliance = crate::serve::load_alliance(
        &args
            .alliance
            .clone()
            .unwrap_or_else(tomoe_alliance::default_alliance_dir),
    )?;
    let variant = (args.variant.as_deref())
        .map(|name| tomoe_alliance::Variant::find(name, &tomoe_alliance::default_variants_dir()))
        .transpose()?;
    let hardware = variant
        .as_ref()
        .map_or(&args.vehicle, |(_, v)| &v.hardware_profile);
    let (dir, profile) = Profile::find(hardware, &default_profiles_dir())?;
    let profile = LoadedProfile::load(&dir, profile).context("cannot load the vehicle profile")?;
    let catalog = match &variant {
        Some((_, variant)) => variant.catalog(&profile, &alliance)?,
        None => alliance.add_overlays(profile.catalog_builder()?)?.build()?,
    };
    let role = args.ecu.map(|ecu| match ecu {
        EcuArg::Zonal => EcuRole::Zonal,
        EcuArg::Central => EcuRole::Central,
    });
    // A zonal ECU runs no apps; a central one has no vehicle of its own.
    let (runs_apps, runs_vehicle) = (role != Some(EcuRole::Zonal), role != Some(EcuRole::Central));
    let zenoh = args.zenoh.options().resolve(
        &args.data_dir,
        role,
        role.map(|_| profile.profile.id.as_str()),
    )?;
    let telemetry =
        crate::serve::telemetry_policy(args.zenoh.telemetry_policy.as_deref(), zenoh.as_ref())?;
    if role.is_some() && zenoh.is_none() {
        bail!(
            "--ecu needs a Zenoh endpoint: give --zenoh-listen, --zenoh-connect or --zenoh-config"
        );
    }
    let insecure = args.jwt_public_key.is_none();
    if insecure && !args.address.ip().is_loopback() {
        bail!(
            "without --jwt-public-key, `tomoe up` only listens on loopback addresses, not {}",
            args.address
        );
    }
    // The runtime signs its workloads' tokens with a key of the data directory;
    // the broker trusts it.
    let issuer = tomoe_auth::TokenIssuer::load_or_create(&args.data_dir.join("keys"))?;
    let mut verifiers = vec![Arc::new(issuer.verifier())];
    verifiers.extend(crate::serve::tenant_verifiers(&alliance)?);
    if let Some(key) = &args.jwt_public_key {
        verifiers.push(crate::serve::verifier(key)?);
    }
    let sovd_access = tomoe_sovd::AccessPolicy {
        verifiers: verifiers.clone(),
        anonymous: insecure,
    };
    if insecure && !args.http_address.ip().is_loopback() {
        bail!(
            "without --jwt-public-key, the diagnostic API only listens on loopback addresses, not {}",
            args.http_address
        );
    }
    let http_listener = tokio::net::TcpListener::bind(args.http_address)
        .await
        .with_context(|| format!("cannot listen on {} for the HTTP server", args.http_address))?;
    let http_address = http_listener
        .local_addr()
        .context("cannot read the HTTP address")?;
    // Prometheus metrics (tomoe-metrics) at /metrics on the HTTP address.
    let metrics = tomoe_metrics::Metrics::new();
    let setup = crate::serve::BrokerSetup {
        address: args.address,
        catalog,
        data_dir: args.data_dir.clone(),
        persist: Vec::new(),
        authorization: tomoe_grpc::Authorization::Tokens(tomoe_grpc::TokenPolicy {
            verifiers,
            anonymous: if insecure {
                tomoe_grpc::AnonymousAccess::AllowAll
            } else {
                tomoe_grpc::AnonymousAccess::Refused
            },
        }),
        tls: None,
        zenoh,
        telemetry,
        private_branches: alliance.private_branches(),
        viss: args.viss_address.0,
        history: args.history.config()?,
        observer: Some(metrics.call_observer()),
    };
    let mut prepared = crate::serve::prepare(setup).await?;
    let history = prepared.history.take();
    if let Some(history) = &history {
        metrics.watch_history(history);
    }
    let bridge = prepared.bridge.take();
    bridge
        .iter()
        .for_each(|(bridge, _)| metrics.watch_bridge(bridge));
    let (viss, viss_url) = (prepared.viss.take(), prepared.viss_url.take());
    let broker = prepared.broker.clone();
    metrics.watch_broker(&broker);
    prepared.server.observe(metrics.call_observer());
    let address = prepared
        .listener
        .local_addr()
        .context("cannot read the listening address")?;
    let server = tokio::spawn(
        prepared
            .server
            .run(prepared.listener, crate::serve::shutdown_signal()),
    );

    // The state manager derives the vehicle mode; the app runtime follows it. A
    // zonal ECU follows the mode the central one publishes.
    let mode = if runs_apps {
        tomoe_modes::StateManager::spawn(
            broker.clone(),
            Permissions::allow_all(),
            tomoe_modes::ModeConfig::default(),
        )
        .map_err(|e| anyhow!("cannot start the state manager: {e}"))?
        .1
    } else {
        tomoe_modes::follow_published_mode(&broker)?
    };
    let (runtime, runtime_address) = if runs_apps {
        let (runtime, at) = start_runtime(&args, issuer, address, *mode.borrow()).await?;
        metrics.watch_runtime(&runtime);
        (Some(runtime), Some(at))
    } else {
        (None, None)
    };
    // Vehicle frames and write-back frames meet on one in-process bus, which the
    // feeder and the CAN supervision read; with --live the write-back goes to the
    // real interfaces instead.
    let bus = Bus::new(4096);
    let mut frames = bus.receiver();
    let diagnostics = tomoe_diag::DiagnosticsSpec::for_profile(&profile.dir)?;
    let supervised: Vec<tomoe_diag::SupervisedBus> = profile
        .buses
        .iter()
        .map(|b| tomoe_diag::SupervisedBus {
            name: &b.spec.name,
            channel: &b.spec.channel,
            database: &b.database,
        })
        .collect();
    let tomoe_diag::Diagnostics { memory, can } = tomoe_diag::start(tomoe_diag::DiagnosticsSetup {
        data_dir: &args.data_dir,
        spec: &diagnostics,
        buses: &supervised,
        frames: (runs_vehicle && !args.idle).then(|| bus.receiver()),
        broker: broker.clone(),
        runtime: runtime.clone(),
        mode: mode.clone(),
    })
    .context("cannot start diagnostics")?;
    metrics.watch_can(&can);
    let mut updates = None;
    let ota_agent = match ota_agent_config(&args)? {
        Some(config) => {
            let line = format!(
                "  ota      director {}/{}/, image {} (apps update when parked or charging), primary key {}",
                config.director_url.trim_end_matches('/'),
                config.vin,
                config.image_url,
                config
                    .root
                    .join(tomoe_update::PRIMARY_PUBLIC_KEY_FILE)
                    .display()
            );
            let runtime = runtime
                .clone()
                .context("a zonal ECU runs no apps: give the --ota-* options to the central one")?;
            let (agent, mut progress) =
                tomoe_update::Agent::new(config, broker.clone(), runtime, mode.clone())
                    .context("cannot start the OTA update agent")?;
            let tracker = tomoe_sovd::UpdateTracker::new(agent.check_trigger());
            updates = Some(tracker.clone());
            tokio::spawn(agent.run().instrument(tracing::info_span!("update agent")));
            let (memory, metrics) = (memory.clone(), metrics.clone());
            tokio::spawn(async move {
                while let Some(progress) = progress.recv().await {
                    metrics.record_update(&progress);
                    tomoe_diag::report_update(&memory, &progress);
                    tracker.record(&progress);
                    if out!("ota: {progress}").is_err() {
                        return;
                    }
                }
            });
            Some(line)
        }
        None => None,
    };
    // Battery pack swaps (SOVD battery-swap): the history in <data-dir>/parts.redb.
    let packs = tomoe_vehicle::PackService::open(
        &profile,
        &tomoe_parts::default_parts_dir(),
        &args.data_dir,
        Some(broker.clone()),
    )
    .context("cannot start the battery pack service")?;
    let sovd = tomoe_sovd::router(tomoe_sovd::SovdConfig {
        broker: broker.clone(),
        memory,
        diagnostics: diagnostics.clone(),
        buses: profile
            .buses
            .iter()
            .map(|b| tomoe_sovd::BusInfo {
                name: b.spec.name.clone(),
                channel: b.spec.channel.clone(),
                dbc: b.spec.dbc.clone(),
            })
            .collect(),
        can,
        vehicle: tomoe_sovd::VehicleInfo {
            profile: profile.profile.id.clone(),
            description: format!(
                "{} {} {}",
                profile.profile.brand, profile.profile.model, profile.profile.year
            ),
        },
        runtime: runtime.clone(),
        updates,
        mode: mode.clone(),
        access: sovd_access,
        battery: packs.clone().map(crate::service::battery_service),
    });
    let sovd = metrics.measure(sovd, "sovd").merge(metrics.router());
    // The dashboard (tomoe-dashboard) at `/`, beside the SOVD API it reads.
    // The VISS URL, when VISS runs (an address in use leaves it off).
    let dashboard = tomoe_dashboard::DashboardConfig::new(viss_url, !insecure);
    let sovd = sovd.merge(tomoe_dashboard::router(dashboard));
    let http =
        axum::serve(http_listener, sovd).with_graceful_shutdown(crate::serve::shutdown_signal());
    tokio::spawn(async move {
        if let Err(error) = http.await {
            tracing::error!(%error, "the HTTP server stopped");
        }
    });
    if let Some(runtime) = &runtime {
        runtime.follow_modes(mode);
    }

    let sink = BrokerSink::new(broker.clone(), Permissions::allow_all());
    let write_back = WriteBack::new(&profile, broker.catalog());
    let input = match (runs_vehicle, &packs) {
        (true, Some(packs)) => vehicle_input(&args).with_packs(packs.changes()),
        (true, None) => vehicle_input(&args),
        (false, _) => VehicleInput::Idle,
    };
    let write_back_sink = input.write_back_sink(&profile, &bus)?;
    if runs_vehicle && !write_back.actuators().is_empty() {
        tokio::spawn(write_back.run(broker.clone(), Permissions::allow_all(), write_back_sink));
    }

    let p = &profile.profile;
    let buses: Vec<String> = profile
        .buses
        .iter()
        .map(|b| format!("{} ({}, {})", b.spec.name, b.spec.channel, b.spec.dbc))
        .collect();
    let source = match &args.replay {
        Some(log) => format!("replay of {}", log.display()),
        None if !runs_vehicle => {
            "none (central ECU: the vehicle's signals come over Zenoh)".to_owned()
        }
        None if args.idle => "none (idle: signals come from clients)".to_owned(),
        None => {
            let cycle = clap::ValueEnum::to_possible_value(&args.cycle)
                .and_then(|value| value.get_help().map(ToString::to_string))
                .unwrap_or_default();
            let park = args.park_s;
            format!("simulator driving the {cycle}, parking {park} s after each trip")
        }
    };
    let vehicle = input.start(&profile, broker.catalog(), &bus, sink.clone())?;
    out!("Tomoe is up")?;
    out!(
        "  broker   http://{address}  (KUKSA val v1 + v2, {} signals; store {})",
        broker.catalog().len(),
        args.data_dir.join(tomoe_store::DATABASE_FILE).display()
    )?;
    match runtime_address {
        Some(at) => out!("  runtime  http://{at}  (tomoe apply FILE, tomoe ps)")?,
        None => out!("  runtime  none (zonal ECU: apps run on the central one)")?,
    }
    if let Some((_, line)) = &bridge {
        out!("{line}")?;
    }
    out!(
        "  diag     http://{http_address}/sovd/v1  (ASAM SOVD; {} ECUs, {} fault rules; tomoe diag faults; Prometheus metrics at /metrics)",
        diagnostics.ecus.len(),
        diagnostics.rules.len()
    )?;
    out!("  web      http://{http_address}/  (the dashboard)")?;
    if let Some(line) = &viss {
        out!("{line}")?;
    }
    match &variant {
        Some((_, v)) => out!("  vehicle  {}", v.summary())?,
        None => out!("  vehicle  {}: {} {} {}", p.id, p.brand, p.model, p.year)?,
    }
    if let (Some((file, v)), Some(runtime)) = (&variant, &runtime) {
        for app in v.install_apps(runtime, file).await? {
            out!("  app      {app}")?;
        }
    }
    if let Some(packs) = &packs {
        out!(
            "  battery  {} (tomoe service battery-swap --pack ID)",
            packs.installed()
        )?;
    }
    if args.idle || !runs_vehicle {
        out!("  source   {source}")?;
    } else {
        out!(
            "  source   {source}, x{} speed, through CAN: {}",
            args.speed,
            buses.join(", ")
        )?;
    }
    if let Some(line) = &ota_agent {
        out!("{line}")?;
    }
    if insecure {
        out!("  access   clients without a token have full access (loopback only); workloads are held to their tokens")?;
    }
    out!("  try      tomoe get Vehicle.Speed   |   tomoe subscribe Vehicle.Speed Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed")?;
    out!("  stop     Ctrl-C")?;

    let (done, mut vehicle_done) = tokio::sync::oneshot::channel();
    let producer = tokio::spawn(async move {
        let result = vehicle.await;
        // Give the feeder a moment to take the last frames.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = done.send(result);
    });
    let mut finished = None;
    let stop = async {
        tokio::select! {
            _ = crate::serve::shutdown_signal() => {}
            result = &mut vehicle_done => finished = Some(result),
        }
    };
    let mut feeder = Feeder::new(&profile, broker.catalog_arc());
    let mut sink = sink;
    feeder
        .run(
            &mut frames,
            &mut sink,
            FlushPolicy::interval(Duration::from_millis(50)),
            stop,
        )
        .await
        .context("the vehicle feed stopped")?;
    match finished {
        Some(Ok(Ok(()))) => out!("the log is finished; the broker keeps serving until Ctrl-C")?,
        Some(Ok(Err(error))) => return Err(error).context("the vehicle stopped"),
        Some(Err(_)) => bail!("the vehicle task failed"),
        None => producer.abort(),
    }
    server
        .await
        .context("the server task failed")?
        .context("the gRPC server stopped")?;
    // A clean stop stops the workloads too (a crash leaves them to be adopted).
    if let Some(runtime) = runtime {
        if let Err(error) = runtime.shutdown().await {
            tracing::warn!(%error, "cannot stop the workloads");
        }
    }
    if let Some((bridge, _)) = bridge {
        bridge.close().await;
    }
    crate::serve::flush_history(history.as_ref());
    out!("Tomoe stopped")?;
    Ok(())
}

/// Starts the app runtime and its API on `--runtime-address`, the runtime's tokens
/// signed by `issuer`, its apps pointed at the broker on `broker`.
async fn start_runtime(
    args: &UpArgs,
    issuer: tomoe_auth::TokenIssuer,
    broker: std::net::SocketAddr,
    mode: tomoe_modes::Mode,
) -> anyhow::Result<(tomoe_runtime::Runtime, std::net::SocketAddr)> {
    if !args.runtime_address.ip().is_loopback() {
        bail!(
            "the app runtime's API controls what runs on the vehicle and has no authentication yet: it only listens on loopback addresses, not {}",
            args.runtime_address
        );
    }
    let runtime_listener = tokio::net::TcpListener::bind(args.runtime_address)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} for the app runtime",
                args.runtime_address
            )
        })?;
    let runtime_address = runtime_listener
        .local_addr()
        .context("cannot read the runtime's address")?;
    let runtime = tomoe_runtime::Runtime::start(
        tomoe_runtime::RuntimeConfig {
            data_dir: args.data_dir.join("runtime"),
            broker_url: format!("http://{broker}"),
            runtime_url: format!("http://{runtime_address}"),
            log_limit_bytes: 1 << 20,
            stop_timeout: Duration::from_secs(5),
            tokens: Some(Arc::new(issuer)),
        },
        mode,
    )
    .context("cannot start the app runtime")?;
    let api = axum::serve(
        runtime_listener,
        tomoe_runtime::api::router(runtime.clone()),
    )
    .with_graceful_shutdown(crate::serve::shutdown_signal());
    tokio::spawn(async move {
        if let Err(error) = api.await {
            tracing::error!(%error, "the runtime API stopped");
        }
    });
    Ok((runtime, runtime_address))
}

/// The update agent's configuration, if `--ota-director` and its companions are given.
fn ota_agent_config(args: &UpArgs) -> anyhow::Result<Option<tomoe_update::AgentConfig>> {
    let ota = &args.ota;
    let (Some(director), Some(image), Some(vin), Some(root_director), Some(root_image)) = (
        &ota.ota_director,
        &ota.ota_image,
        &ota.vin,
        &ota.ota_root_director,
        &ota.ota_root_image,
    ) else {
        return Ok(None);
    };
    let mut config = tomoe_update::AgentConfig::new(
        director,
        image,
        vin,
        root_director,
        root_image,
        args.data_dir.join("ota"),
    )?;
    config.interval = Duration::from_millis(ota.ota_interval_ms);
    config.health_window = Duration::from_millis(ota.ota_health_window_ms);
    Ok(Some(config))
}

fn cycle_of(cycle: CycleArg) -> Cycle {
    match cycle {
        CycleArg::Udds => Cycle::udds(),
        CycleArg::Hwfet => Cycle::hwfet(),
        CycleArg::Us06 => Cycle::us06(),
        CycleArg::Wltc => Cycle::wltc_class3(),
    }
}

/// The vehicle `args` ask for.
fn vehicle_input(args: &UpArgs) -> VehicleInput {
    match &args.replay {
        Some(log) => VehicleInput::Replay {
            log: log.clone(),
            pacing: Pacing::from_factor(args.speed).unwrap_or_default(),
        },
        None if args.live => VehicleInput::Live,
        None if args.idle => VehicleInput::Idle,
        None => VehicleInput::Simulated {
            scenario: Scenario::Cycle(cycle_of(args.cycle)),
            soc: args.soc / 100.0,
            speed: args.speed,
            park_s: args.park_s,
            packs: None,
        },
    }
}
