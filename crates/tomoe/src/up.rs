//! `tomoe up`: the whole platform on embedded defaults.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tomoe_broker::{Broker, Permissions};
use tomoe_can::{Bus, FrameSink, FrameSource, LogReplay, Pacing, ReplayOptions};
use tomoe_sim::Cycle;
use tomoe_vehicle::{
    default_profiles_dir, Feeder, LoadedProfile, Profile, Scenario, SimulatedVehicle, WriteBack,
};
use tomoe_vss::{LeafId, Value};

use crate::cli::{CycleArg, ServeArgs, UpArgs};

/// Simulation step, seconds of vehicle time.
const STEP: f64 = 0.1;

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
    let (dir, profile) = Profile::find(&args.vehicle, &default_profiles_dir())?;
    let profile = LoadedProfile::load(&dir, profile).context("cannot load the vehicle profile")?;
    let insecure = args.jwt_public_key.is_none();
    if insecure && !args.address.ip().is_loopback() {
        bail!(
            "without --jwt-public-key, `tomoe up` only listens on loopback addresses, not {}",
            args.address
        );
    }
    let serve_args = ServeArgs {
        address: args.address,
        vss: None,
        overlay: Vec::new(),
        data_dir: args.data_dir.clone(),
        persist: Vec::new(),
        jwt_public_key: args.jwt_public_key.clone(),
        insecure,
        tls_cert: None,
        tls_key: None,
    };
    let catalog = profile.catalog()?;
    let runtime_verifier = crate::tokens::runtime_verifier(&args.data_dir)?;
    let prepared =
        crate::serve::prepare_with(&serve_args, catalog, Some(vec![Arc::new(runtime_verifier)]))
            .await?;
    let broker = prepared.broker.clone();
    let address = prepared
        .listener
        .local_addr()
        .context("cannot read the listening address")?;
    let server = tokio::spawn(
        prepared
            .server
            .run(prepared.listener, crate::serve::shutdown_signal()),
    );

    // The state manager derives the vehicle mode; the app runtime follows it.
    let (_modes, mut mode) = tomoe_modes::StateManager::spawn(
        broker.clone(),
        Permissions::allow_all(),
        tomoe_modes::ModeConfig::default(),
    )
    .map_err(|e| anyhow!("cannot start the state manager: {e}"))?;
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
            broker_url: format!("http://{address}"),
            runtime_url: format!("http://{runtime_address}"),
            log_limit_bytes: 1 << 20,
            stop_timeout: Duration::from_secs(5),
            tokens: crate::tokens::runtime_tokens(&args.data_dir)?,
        },
        *mode.borrow(),
    )
    .context("cannot start the app runtime")?;
    let ota_agent = match ota_agent_config(&args)? {
        Some(config) => {
            let line = format!(
                "  ota      director {}/{}/, image {} (apps update when parked or charging), primary key {}",
                config.director_url.trim_end_matches('/'),
                config.vin,
                config.image_url,
                config
                    .root
                    .join(crate::ota_agent::PRIMARY_PUBLIC_KEY_FILE)
                    .display()
            );
            crate::ota_agent::spawn(config, broker.clone(), runtime.clone(), mode.clone())
                .context("cannot start the OTA update agent")?;
            Some(line)
        }
        None => None,
    };
    let follower = runtime.clone();
    tokio::spawn(async move {
        while mode.changed().await.is_ok() {
            let current = *mode.borrow();
            if follower.set_mode(current).await.is_err() {
                return;
            }
        }
    });
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

    let bus = Bus::new(4096);
    let permissions = Permissions::allow_all();
    let mut feeder = Feeder::new(&profile, broker.catalog_arc());
    let mut frames = bus.receiver();
    let write_back = WriteBack::new(&profile, broker.catalog());
    let write_back_sink: Box<dyn FrameSink> = if args.live {
        live_sink(&profile)?
    } else {
        Box::new(bus.sender())
    };
    if !write_back.actuators().is_empty() {
        tokio::spawn(write_back.run(broker.clone(), permissions.clone(), write_back_sink));
    }

    let p = &profile.profile;
    let buses: Vec<String> = profile
        .buses
        .iter()
        .map(|b| format!("{} ({}, {})", b.spec.name, b.spec.channel, b.spec.dbc))
        .collect();
    let source = match &args.replay {
        Some(log) => format!("replay of {}", log.display()),
        None if args.idle => "none (idle: signals come from clients)".to_owned(),
        None => format!(
            "simulator driving the {} cycle in a loop",
            cycle_name(args.cycle)
        ),
    };
    out!("Tomoe is up")?;
    out!(
        "  broker   http://{address}  (KUKSA val v1 + v2, {} signals; store {})",
        broker.catalog().len(),
        args.data_dir.join(tomoe_store::DATABASE_FILE).display()
    )?;
    out!("  runtime  http://{runtime_address}  (tomoe apply FILE, tomoe ps)")?;
    out!("  vehicle  {}: {} {} {}", p.id, p.brand, p.model, p.year)?;
    if args.idle {
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

    let producer = match args.replay.clone() {
        Some(log) => tokio::spawn(replay_into(log, args.speed, profile.clone(), bus.clone())),
        None if args.live => tokio::spawn(live_into(profile.clone(), bus.clone())),
        None if args.idle => tokio::spawn(std::future::pending::<anyhow::Result<()>>()),
        None => {
            let cycle = cycle_of(args.cycle);
            let vehicle = SimulatedVehicle::new(
                &profile,
                broker.catalog(),
                Scenario::Cycle(cycle),
                args.soc / 100.0,
            )
            .map_err(|e| anyhow!("cannot set up the simulator: {e}"))?;
            tokio::spawn(simulate(vehicle, args.speed, broker.clone(), bus.clone()))
        }
    };

    let shutdown = crate::serve::shutdown_signal();
    tokio::pin!(shutdown);
    let mut flush = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = flush.tick() => {
                feeder.publish(&broker, &permissions).context("the broker refused vehicle values")?;
            }
            frame = frames.recv() => match frame {
                Ok(Some(frame)) => feeder.process(&frame),
                Ok(None) => break,
                Err(error) => tracing::warn!(%error, "the feeder fell behind the bus"),
            },
        }
        if producer.is_finished() {
            break;
        }
    }
    feeder.publish(&broker, &permissions).ok();
    if producer.is_finished() {
        match producer.await {
            Ok(Ok(())) => out!("the log is finished; the broker keeps serving until Ctrl-C")?,
            Ok(Err(error)) => return Err(error),
            Err(error) => bail!("the vehicle task failed: {error}"),
        }
    } else {
        producer.abort();
    }
    server
        .await
        .context("the server task failed")?
        .context("the gRPC server stopped")?;
    // A clean stop stops the workloads too (a crash leaves them to be adopted).
    if let Err(error) = runtime.shutdown().await {
        tracing::warn!(%error, "cannot stop the workloads");
    }
    out!("Tomoe stopped")?;
    Ok(())
}

/// The update agent's configuration, if `--ota-director` and its companions are given.
fn ota_agent_config(args: &UpArgs) -> anyhow::Result<Option<crate::ota_agent::AgentConfig>> {
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
    let read = |path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("cannot read the root \"{}\"", path.display()))
    };
    Ok(Some(crate::ota_agent::AgentConfig {
        director_url: director.clone(),
        image_url: image.clone(),
        vin: vin.clone(),
        director_root: read(root_director)?,
        image_root: read(root_image)?,
        root: args.data_dir.join("ota"),
        interval: Duration::from_millis(ota.ota_interval_ms),
        health_window: Duration::from_millis(ota.ota_health_window_ms),
        policy: tomoe_ota::InstallPolicy::default(),
    }))
}

fn cycle_of(cycle: CycleArg) -> Cycle {
    match cycle {
        CycleArg::Udds => Cycle::udds(),
        CycleArg::Hwfet => Cycle::hwfet(),
        CycleArg::Us06 => Cycle::us06(),
        CycleArg::Wltc => Cycle::wltc_class3(),
    }
}

fn cycle_name(cycle: CycleArg) -> &'static str {
    match cycle {
        CycleArg::Udds => "EPA UDDS",
        CycleArg::Hwfet => "EPA HWFET",
        CycleArg::Us06 => "EPA US06",
        CycleArg::Wltc => "WLTC class 3b",
    }
}

/// Runs the simulator in (scaled) real time: its frames go on the bus; what the
/// brand's buses cannot carry is published directly, as a virtual ECU would.
async fn simulate(
    mut vehicle: SimulatedVehicle,
    speed: f64,
    broker: Broker,
    bus: Bus,
) -> anyhow::Result<()> {
    let permissions = Permissions::allow_all();
    publish_checked(&broker, &permissions, vehicle.static_values());
    let mut sender = bus.sender();
    let tick = Duration::from_millis(100);
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut owed = 0.0;
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let mut vehicle_time = 0.0;
    loop {
        ticker.tick().await;
        owed += tick.as_secs_f64() * speed;
        while owed >= STEP {
            owed -= STEP;
            vehicle_time += STEP;
            let output = vehicle.step(STEP, start + vehicle_time);
            for frame in &output.frames {
                sender
                    .send(frame)
                    .await
                    .context("cannot put a frame on the bus")?;
            }
            publish_checked(&broker, &permissions, output.direct);
        }
    }
}

/// Publishes the values the catalog accepts; a refused one is logged, not fatal.
fn publish_checked(
    broker: &Broker,
    permissions: &Permissions,
    values: Vec<(LeafId, Option<Value>)>,
) {
    let catalog = broker.catalog();
    let valid: Vec<(LeafId, Option<Value>)> = values
        .into_iter()
        .filter(|(leaf, value)| match (catalog.leaf_by_id(*leaf), value) {
            (Some(node), Some(value)) => match node.check_value(value) {
                Ok(()) => true,
                Err(error) => {
                    tracing::debug!(%error, "simulated value refused");
                    false
                }
            },
            _ => true,
        })
        .collect();
    if let Err(error) = broker.publish(permissions, &valid) {
        tracing::warn!(%error, "simulated values refused");
    }
}

/// The SocketCAN interfaces of the profile's buses, for writing.
#[cfg(target_os = "linux")]
fn live_sink(profile: &LoadedProfile) -> anyhow::Result<Box<dyn FrameSink>> {
    let mut router = tomoe_can::ChannelRouter::new();
    for bus in &profile.buses {
        let interface = tomoe_can::SocketCan::open(&bus.spec.channel)?;
        router = router.route(&bus.spec.channel, Box::new(interface));
    }
    Ok(Box::new(router))
}

#[cfg(not(target_os = "linux"))]
fn live_sink(_: &LoadedProfile) -> anyhow::Result<Box<dyn FrameSink>> {
    bail!("--live needs SocketCAN, which only Linux has")
}

/// Forwards the frames of the profile's SocketCAN interfaces onto the bus.
#[cfg(target_os = "linux")]
async fn live_into(profile: LoadedProfile, bus: Bus) -> anyhow::Result<()> {
    let mut readers = tokio::task::JoinSet::new();
    for spec in profile.buses.iter().map(|b| b.spec.clone()) {
        let mut interface = tomoe_can::SocketCan::open(&spec.channel)?;
        let mut sender = bus.sender();
        readers.spawn(async move {
            while let Some(frame) = interface.recv().await? {
                sender
                    .send(&frame.with_channel(spec.channel.as_str()))
                    .await?;
            }
            Ok::<(), tomoe_can::CanError>(())
        });
    }
    while let Some(result) = readers.join_next().await {
        result
            .context("a CAN reader failed")?
            .context("reading the CAN interface failed")?;
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
async fn live_into(_: LoadedProfile, _: Bus) -> anyhow::Result<()> {
    bail!("--live needs SocketCAN, which only Linux has")
}

/// Replays a log onto the bus.
async fn replay_into(
    log: std::path::PathBuf,
    speed: f64,
    profile: LoadedProfile,
    bus: Bus,
) -> anyhow::Result<()> {
    let options = ReplayOptions {
        pacing: if speed == 1.0 {
            Pacing::Realtime
        } else {
            Pacing::Scaled(speed)
        },
        looped: false,
        channels: profile
            .buses
            .iter()
            .map(|b| b.spec.channel.clone())
            .collect(),
        skip_malformed: true,
    };
    let mut replay = LogReplay::open(&log, options)
        .with_context(|| format!("cannot open the log {}", log.display()))?;
    let mut sender = bus.sender();
    while let Some(frame) = replay.recv().await.context("cannot read the log")? {
        sender
            .send(&frame)
            .await
            .context("cannot put a frame on the bus")?;
    }
    // Give the feeder a moment to take the last frames.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(())
}
