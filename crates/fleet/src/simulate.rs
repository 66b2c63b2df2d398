//! A fleet at scale on one computer: lightweight simulated vehicles (not whole
//! platforms) that use the backend as real ones do.
//!
//! Each vehicle has a primary ECU (`gateway`) and one updatable app ECU
//! ([`APP_ECU`]) and its own Ed25519 primary key. It registers over the operator
//! API, then every check interval runs Uptane full verification of its director
//! metadata and the image repository (tomoe-ota's [`Primary`] over HTTP), downloads
//! and verifies each image assigned to it, and "installs" it: a vehicle flagged to
//! fail reports a rollback (its health window failed) and keeps its image, the
//! others run the new one. Every step is reported in signed version manifests with
//! installation reports, as the update agent does; a check that finds nothing to
//! install ends with a version manifest, as each Uptane update cycle does.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use futures::StreamExt;
use serde::Serialize;
use tomoe_ota::{
    sign_manifest, ApprovedImage, Ecu, HttpFetcher, InstallationReport, InstallationStatus,
    InstalledImage, Limits, Primary, TrustedRepository, VehicleManifest,
};

use tomoe_zenoh::backend::VehicleLink;
use tomoe_zenoh::TelemetryPolicy;

use crate::client::{ClientError, FleetClient};
use crate::{EcuRecord, Registration};

mod figures;
pub use figures::{Latencies, Rate, Sustained};

/// The updatable ECU of a simulated vehicle.
pub const APP_ECU: &str = "app:range-estimator";
/// The primary ECU of a simulated vehicle.
pub const PRIMARY_ECU: &str = "gateway";
/// The primary ECU's hardware id.
pub const PRIMARY_HARDWARE: &str = "tomoe-gateway";
/// Registrations sent at once.
const REGISTRATION_CONCURRENCY: usize = 16;

/// Why a simulation cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulationError {
    /// The backend refused or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The repositories' metadata or images failed verification.
    #[error(transparent)]
    Ota(#[from] tomoe_ota::OtaError),
    /// The telemetry policy is not one.
    #[error("the telemetry policy: {0}")]
    Policy(String),
    /// The backend refused a manifest sent over Zenoh.
    #[error("the backend refused the manifest: {0}")]
    Refused(String),
    /// Zenoh cannot be joined.
    #[error(transparent)]
    Zenoh(#[from] tomoe_zenoh::BridgeError),
    /// The starting image is not in the image repository.
    #[error("the image repository has no target {0:?} to start from")]
    NoSuchImage(String),
}

/// One vehicle to simulate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimulatedVehicle {
    /// Its id (and VIN).
    pub id: String,
    /// Its brand.
    pub brand: String,
    /// Its model.
    pub model: String,
    /// Its vehicle profile.
    pub profile: String,
    /// Whether every update it installs fails its health window.
    pub fails: bool,
}

/// What every simulated vehicle shares.
#[derive(Debug, Clone)]
pub struct SimulationConfig {
    /// The backend's URL (`http://127.0.0.1:8470`): registration, director, images, manifests.
    pub server: String,
    /// The director's root metadata, provisioned in every vehicle.
    pub director_root: Vec<u8>,
    /// The image repository's root metadata, provisioned in every vehicle.
    pub image_root: Vec<u8>,
    /// The hardware id of the app ECU, which updates are built for.
    pub app_hardware_id: String,
    /// The image the app ECU runs at first (a target of the image repository), if any.
    pub installed: Option<String>,
    /// How often each vehicle checks for updates.
    pub check_interval: Duration,
    /// How the vehicles use Zenoh, if they do.
    pub zenoh: Option<SimulatedZenoh>,
}

/// How simulated vehicles use Zenoh: telemetry, and manifests instead of HTTP.
#[derive(Debug, Clone)]
pub struct SimulatedZenoh {
    /// The Zenoh endpoints to connect to (the backend or a router).
    pub connect: Vec<String>,
    /// The telemetry policy (TOML): registered for each vehicle, and what it sends.
    /// None: no telemetry.
    pub telemetry_policy: Option<String>,
    /// Whether manifests go over Zenoh (`tomoe/<vehicle>/manifest`) instead of HTTP.
    pub manifests: bool,
}

/// The signals a simulated vehicle has: speed, state of charge and distance.
pub const SIMULATED_SIGNALS: [&str; 3] = [
    "Vehicle.Speed",
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
    "Vehicle.TraveledDistance",
];

/// Counters of a running simulation, for progress.
#[derive(Debug, Default)]
pub struct Counters {
    /// Update checks done.
    pub checks: AtomicU64,
    /// Manifests the backend accepted.
    pub manifests: AtomicU64,
    /// Images installed.
    pub installed: AtomicU64,
    /// Images rolled back.
    pub rolled_back: AtomicU64,
    /// Failed checks, downloads, reports or telemetry.
    pub errors: AtomicU64,
    /// Telemetry samples sent.
    pub telemetry: AtomicU64,
    /// How long update checks and manifest reports took.
    pub latencies: Latencies,
}

impl std::fmt::Display for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "checks {}, manifests {}, installed {}, rolled back {}, telemetry {}, errors {}",
            self.checks.load(Ordering::Relaxed),
            self.manifests.load(Ordering::Relaxed),
            self.installed.load(Ordering::Relaxed),
            self.rolled_back.load(Ordering::Relaxed),
            self.telemetry.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed)
        )
    }
}

/// How a simulation ended, in a few lines: totals and the first errors.
pub struct Summary<'a>(pub &'a [VehicleReport]);

impl std::fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reports = self.0;
        write!(
            f,
            "stopped: {} vehicles, {} checks, {} rolled back an update, {} with errors",
            reports.len(),
            reports.iter().map(|r| r.checks).sum::<u64>(),
            reports.iter().filter(|r| !r.rolled_back.is_empty()).count(),
            reports.iter().filter(|r| r.errors > 0).count()
        )?;
        for report in reports.iter().filter(|r| r.errors > 0).take(5) {
            write!(
                f,
                "\n  {}: {}",
                report.id,
                report.last_error.as_deref().unwrap_or("")
            )?;
        }
        Ok(())
    }
}

/// How a simulation ended: each vehicle, and what the fleet sustained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Simulation {
    /// How each vehicle ended, by id.
    pub vehicles: Vec<VehicleReport>,
    /// The rates and latencies of the run.
    pub sustained: Sustained,
}

impl std::fmt::Display for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n{}", Summary(&self.vehicles), self.sustained)
    }
}

/// How one vehicle ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VehicleReport {
    /// The vehicle.
    pub id: String,
    /// Its brand.
    pub brand: String,
    /// Its model.
    pub model: String,
    /// The image its app ECU runs.
    pub installed: String,
    /// That image's release counter.
    pub release_counter: u64,
    /// Images it installed and rolled back.
    pub rolled_back: Vec<String>,
    /// Update checks done.
    pub checks: u64,
    /// Failed checks, downloads or reports.
    pub errors: u64,
    /// The last of them.
    pub last_error: Option<String>,
}

/// Registered simulated vehicles, ready to run.
pub struct SimulatedFleet {
    config: Arc<SimulationConfig>,
    backend: Backend,
    vehicles: Vec<Vehicle>,
    counters: Arc<Counters>,
}

/// How the vehicles reach the backend.
#[derive(Clone)]
struct Backend {
    client: FleetClient,
    /// The Zenoh session, when the vehicles use Zenoh.
    link: Option<Arc<VehicleLink>>,
    /// Whether manifests go over `link`.
    manifests_over_zenoh: bool,
}

struct Vehicle {
    spec: SimulatedVehicle,
    key: SigningKey,
    primary: Primary,
    /// Images it rolled back or failed: reported again if offered again.
    rejected: BTreeMap<String, InstallationReport>,
    last_manifest: u64,
    /// An installation report the backend has not accepted yet: sent again.
    pending: Option<InstallationReport>,
    report: VehicleReport,
}

impl SimulatedFleet {
    /// Registers `vehicles` with the backend through `client` (whose token grants
    /// `fleet:write`) and sends each one's first manifest.
    pub async fn register(
        config: SimulationConfig,
        client: FleetClient,
        vehicles: Vec<SimulatedVehicle>,
    ) -> Result<SimulatedFleet, SimulationError> {
        let policy = config
            .zenoh
            .as_ref()
            .and_then(|z| z.telemetry_policy.as_ref());
        if let Some(policy) = policy {
            TelemetryPolicy::parse(policy).map_err(SimulationError::Policy)?;
        }
        let link = match &config.zenoh {
            Some(zenoh) => Some(Arc::new(
                VehicleLink::open(tomoe_zenoh::ZenohMode::Client, &[], &zenoh.connect).await?,
            )),
            None => None,
        };
        let backend = Backend {
            client,
            link,
            manifests_over_zenoh: config.zenoh.as_ref().is_some_and(|z| z.manifests),
        };
        let installed = match &config.installed {
            Some(name) => Some(starting_image(&config, name).await?),
            None => None,
        };
        let config = Arc::new(config);
        let counters = Arc::new(Counters::default());
        let registered = futures::stream::iter(vehicles.into_iter().map(|spec| {
            let (config, client, installed) =
                (config.clone(), backend.client.clone(), installed.clone());
            async move { register_one(&config, &client, spec, installed).await }
        }))
        .buffer_unordered(REGISTRATION_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
        let mut vehicles = registered.into_iter().collect::<Result<Vec<_>, _>>()?;
        vehicles.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        let mut fleet = SimulatedFleet {
            config,
            backend,
            vehicles,
            counters,
        };
        for vehicle in &mut fleet.vehicles {
            send_manifest(&fleet.backend, vehicle, None, &fleet.counters).await?;
        }
        Ok(fleet)
    }

    /// The vehicles, by id.
    pub fn vehicles(&self) -> impl Iterator<Item = &SimulatedVehicle> {
        self.vehicles.iter().map(|v| &v.spec)
    }

    /// Flags vehicle `id` to fail (or not) every update it installs from now on.
    pub fn set_fails(&mut self, id: &str, fails: bool) {
        for vehicle in &mut self.vehicles {
            if vehicle.spec.id == id {
                vehicle.spec.fails = fails;
            }
        }
    }

    /// The counters, which move while [`SimulatedFleet::run`] runs.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// Runs every vehicle until `stop` completes, then reports how each ended and
    /// what the fleet sustained. Fails only when the telemetry policy does not parse.
    pub async fn run(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<Simulation, SimulationError> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let counters = self.counters.clone();
        counters.latencies.clear();
        let (started, telemetry_before, errors_before) = (
            Instant::now(),
            counters.telemetry.load(Ordering::Relaxed),
            counters.errors.load(Ordering::Relaxed),
        );
        let policy = self
            .config
            .zenoh
            .as_ref()
            .and_then(|z| z.telemetry_policy.as_ref());
        let telemetry = match (policy, &self.backend.link) {
            (Some(policy), Some(link)) => {
                let policy = TelemetryPolicy::parse(policy).map_err(SimulationError::Policy)?;
                let ids = self.vehicles.iter().map(|v| v.spec.id.clone()).collect();
                Some(tokio::spawn(drive(
                    link.clone(),
                    ids,
                    policy,
                    self.counters.clone(),
                    stop_rx.clone(),
                )))
            }
            _ => None,
        };
        let count = self.vehicles.len().max(1) as u32;
        let mut tasks = tokio::task::JoinSet::new();
        for (index, vehicle) in self.vehicles.into_iter().enumerate() {
            let (config, backend, counters) = (
                self.config.clone(),
                self.backend.clone(),
                self.counters.clone(),
            );
            let mut stop = stop_rx.clone();
            // Spread the vehicles over the interval, as a real fleet's checks are.
            let offset = config.check_interval / count * index as u32;
            tasks.spawn(async move {
                let mut vehicle = vehicle;
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return vehicle.report,
                    _ = tokio::time::sleep(offset) => {}
                }
                loop {
                    vehicle = step(&config, &backend, vehicle, &counters).await;
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => return vehicle.report,
                        _ = tokio::time::sleep(config.check_interval) => {}
                    }
                }
            });
        }
        stop.await;
        let _ = stop_tx.send(true);
        let mut reports = Vec::new();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(report) => reports.push(report),
                Err(error) => tracing::error!(%error, "a simulated vehicle failed"),
            }
        }
        if let Some(telemetry) = telemetry {
            let _ = telemetry.await;
        }
        reports.sort_by(|a, b| a.id.cmp(&b.id));
        let sustained = Sustained::measure(
            &counters.latencies,
            started.elapsed().as_secs_f64(),
            reports.len(),
            counters.telemetry.load(Ordering::Relaxed) - telemetry_before,
            counters.errors.load(Ordering::Relaxed) - errors_before,
        );
        Ok(Simulation {
            vehicles: reports,
            sustained,
        })
    }
}

/// Drives every vehicle (speed, state of charge, distance: a smooth made-up
/// trip, different per vehicle) and sends each signal its policy selects at the
/// policy's interval (at least a second), until `stop`.
async fn drive(
    sender: Arc<VehicleLink>,
    vehicles: Vec<String>,
    policy: TelemetryPolicy,
    counters: Arc<Counters>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let signals: Vec<(usize, Duration)> = SIMULATED_SIGNALS
        .iter()
        .enumerate()
        .filter_map(|(index, path)| {
            policy
                .rule_for(path)
                .map(|rule| (index, rule.min_interval.max(Duration::from_secs(1))))
        })
        .collect();
    if signals.is_empty() {
        tracing::warn!("the telemetry policy selects none of the simulated signals");
    }
    let start = tokio::time::Instant::now();
    let mut due: Vec<Duration> = signals.iter().map(|_| Duration::ZERO).collect();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = tick.tick() => {}
        }
        let elapsed = start.elapsed();
        for (slot, (signal, interval)) in signals.iter().enumerate() {
            if elapsed < due[slot] {
                continue;
            }
            // On the schedule, not from now: a tick a little later than the last
            // must not skip the next send (a 1 s signal went every 2 s). Behind by
            // more than an interval, it does not burst to catch up.
            due[slot] = (due[slot] + *interval).max(elapsed);
            let path = SIMULATED_SIGNALS[*signal];
            for chunk in vehicles.chunks(64).enumerate() {
                let (first, ids) = chunk;
                let sends = ids.iter().enumerate().map(|(offset, vehicle)| {
                    let index = first * 64 + offset;
                    let value = simulated_value(*signal, index, elapsed.as_secs_f64());
                    let (sender, counters, vehicle) =
                        (sender.clone(), counters.clone(), vehicle.clone());
                    async move {
                        match sender.send(&vehicle, path, &value).await {
                            Ok(()) => counters.telemetry.fetch_add(1, Ordering::Relaxed),
                            Err(error) => {
                                tracing::debug!(%error, "cannot send telemetry");
                                counters.errors.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                });
                futures::future::join_all(sends).await;
            }
        }
    }
}

/// Signal `signal` of vehicle `index` at `t` seconds: a trip at 5 to 95 km/h, a
/// battery draining from between 40 and 95 %, the distance so far.
fn simulated_value(signal: usize, index: usize, t: f64) -> serde_json::Value {
    let phase = index as f64 * 0.7;
    let round = |v: f64| (v * 10.0).round() / 10.0;
    let value = match signal {
        0 => 50.0 + 45.0 * (t / 60.0 + phase).sin(),
        1 => (40.0 + (index * 37 % 56) as f64 - t * 0.005).max(5.0),
        _ => 10_000.0 + index as f64 * 113.0 + t * 50.0 / 3600.0,
    };
    serde_json::json!(round(value))
}

/// The image repository's description of `name`, as an app ECU running it reports.
async fn starting_image(
    config: &SimulationConfig,
    name: &str,
) -> Result<InstalledImage, SimulationError> {
    let (root, url, name) = (
        config.image_root.clone(),
        image_url(&config.server),
        name.to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        let mut image = TrustedRepository::new("image", &root)?;
        image.update(
            &HttpFetcher::new(&url)?,
            &Limits::default(),
            SystemTime::now(),
        )?;
        let target = image
            .targets()
            .and_then(|t| t.targets.get(&name))
            .ok_or_else(|| SimulationError::NoSuchImage(name.clone()))?;
        let custom = target
            .uptane()
            .map_err(|_| SimulationError::NoSuchImage(name.clone()))?;
        Ok(InstalledImage {
            target: name.clone(),
            sha256: target.hashes.get("sha256").cloned().unwrap_or_default(),
            release_counter: custom.release_counter,
        })
    })
    .await
    .expect("the image lookup does not panic")
}

async fn register_one(
    config: &SimulationConfig,
    client: &FleetClient,
    spec: SimulatedVehicle,
    installed: Option<InstalledImage>,
) -> Result<Vehicle, SimulationError> {
    let key = tomoe_ota::generate_key();
    client
        .register(&Registration {
            id: spec.id.clone(),
            brand: spec.brand.clone(),
            model: spec.model.clone(),
            profile: spec.profile.clone(),
            primary_key: tomoe_ota::public_key_pem(&key.verifying_key())?,
            ecus: vec![
                EcuRecord {
                    ecu_id: PRIMARY_ECU.into(),
                    hardware_id: PRIMARY_HARDWARE.into(),
                    is_primary: true,
                },
                EcuRecord {
                    ecu_id: APP_ECU.into(),
                    hardware_id: config.app_hardware_id.clone(),
                    is_primary: false,
                },
            ],
            parts: Vec::new(),
        })
        .await?;
    let policy = config
        .zenoh
        .as_ref()
        .and_then(|z| z.telemetry_policy.as_ref());
    if let Some(policy) = policy {
        client.set_telemetry_policy(&spec.id, policy).await?;
    }
    let mut app = Ecu::new(APP_ECU, &config.app_hardware_id);
    if let Some(installed) = installed {
        app.installed = installed;
    }
    let primary = Primary::new(
        &spec.id,
        vec![app],
        &config.director_root,
        &config.image_root,
        Limits::default(),
    )?;
    let report = VehicleReport {
        id: spec.id.clone(),
        brand: spec.brand.clone(),
        model: spec.model.clone(),
        installed: primary.ecus()[0].installed.target.clone(),
        release_counter: primary.ecus()[0].installed.release_counter,
        rolled_back: Vec::new(),
        checks: 0,
        errors: 0,
        last_error: None,
    };
    Ok(Vehicle {
        spec,
        key,
        primary,
        rejected: BTreeMap::new(),
        last_manifest: 0,
        pending: None,
        report,
    })
}

fn image_url(server: &str) -> String {
    format!("{}/image/", server.trim_end_matches('/'))
}

/// One update check of `vehicle`, and whatever install it leads to.
async fn step(
    config: &Arc<SimulationConfig>,
    backend: &Backend,
    mut vehicle: Vehicle,
    counters: &Counters,
) -> Vehicle {
    if vehicle.pending.is_some() {
        if let Err(error) = send_manifest(backend, &mut vehicle, None, counters).await {
            failed(&mut vehicle, counters, error.to_string());
            return vehicle;
        }
    }
    let director_url = format!(
        "{}/director/{}/",
        config.server.trim_end_matches('/'),
        vehicle.spec.id
    );
    let image_url = image_url(&config.server);
    let mut primary = vehicle.primary.clone();
    let started = Instant::now();
    let checked = tokio::task::spawn_blocking(move || {
        let director = HttpFetcher::new(&director_url)?;
        let image = HttpFetcher::new(&image_url)?;
        let approved = primary.check(&director, &image, SystemTime::now())?;
        Ok::<_, tomoe_ota::OtaError>((primary, approved))
    })
    .await
    .expect("an update check does not panic");
    counters.checks.fetch_add(1, Ordering::Relaxed);
    vehicle.report.checks += 1;
    let approved = match checked {
        Ok((primary, approved)) => {
            counters.latencies.check(started.elapsed());
            vehicle.primary = primary;
            approved
        }
        Err(error) => {
            failed(&mut vehicle, counters, error.to_string());
            return vehicle;
        }
    };
    if approved.is_empty() {
        // Nothing to install: the cycle ends with the version manifest, as an
        // Uptane primary reports at each update cycle.
        if let Err(error) = send_manifest(backend, &mut vehicle, None, counters).await {
            failed(&mut vehicle, counters, error.to_string());
        }
    }
    for image in approved {
        // Offered again what it gave up on: it says so again, rather than nothing.
        let result = match vehicle.rejected.get(&image.target).cloned() {
            Some(report) => send_manifest(backend, &mut vehicle, Some(report), counters).await,
            None => install(config, backend, &mut vehicle, &image, counters).await,
        };
        if let Err(error) = result {
            failed(&mut vehicle, counters, error.to_string());
        }
    }
    vehicle
}

fn failed(vehicle: &mut Vehicle, counters: &Counters, error: String) {
    tracing::debug!(
        vehicle = vehicle.spec.id,
        error,
        "simulated vehicle step failed"
    );
    counters.errors.fetch_add(1, Ordering::Relaxed);
    vehicle.report.errors += 1;
    vehicle.report.last_error = Some(error);
}

/// Downloads and verifies `image`, then runs it or rolls it back, reporting each step.
async fn install(
    config: &Arc<SimulationConfig>,
    backend: &Backend,
    vehicle: &mut Vehicle,
    image: &ApprovedImage,
    counters: &Counters,
) -> Result<(), SimulationError> {
    let report = |status, reason: &str| InstallationReport {
        ecu_identifier: image.ecu_identifier.clone(),
        target: image.target.clone(),
        status,
        reason: reason.to_owned(),
    };
    send_manifest(
        backend,
        vehicle,
        Some(report(InstallationStatus::Downloading, "")),
        counters,
    )
    .await?;
    let (url, one) = (image_url(&config.server), image.clone());
    let downloaded = tokio::task::spawn_blocking(move || {
        let fetcher = HttpFetcher::new(&url)?;
        tomoe_ota::download_image(&fetcher, &one, &Limits::default(), &mut std::io::sink())
    })
    .await
    .expect("a download does not panic");
    if let Err(error) = downloaded {
        let failed = report(InstallationStatus::Failed, &format!("download: {error}"));
        vehicle
            .rejected
            .insert(image.target.clone(), failed.clone());
        send_manifest(backend, vehicle, Some(failed), counters).await?;
        return Err(error.into());
    }
    if vehicle.spec.fails {
        let rolled_back = report(
            InstallationStatus::RolledBack,
            "health window: the app exited with status 1 (simulated failure); the previous image runs again",
        );
        vehicle
            .rejected
            .insert(image.target.clone(), rolled_back.clone());
        vehicle.report.rolled_back.push(image.target.clone());
        return send_manifest(backend, vehicle, Some(rolled_back), counters).await;
    }
    let mut ecus = vehicle.primary.ecus().to_vec();
    for ecu in &mut ecus {
        if ecu.ecu_identifier == image.ecu_identifier {
            ecu.installed = InstalledImage {
                target: image.target.clone(),
                sha256: image.file.hashes.get("sha256").cloned().unwrap_or_default(),
                release_counter: image.release_counter,
            };
        }
    }
    vehicle.primary.set_ecus(ecus);
    vehicle.report.installed = image.target.clone();
    vehicle.report.release_counter = image.release_counter;
    send_manifest(
        backend,
        vehicle,
        Some(report(InstallationStatus::Installed, "")),
        counters,
    )
    .await
}

/// Signs and sends what the vehicle runs, with `installation` (or the report still
/// pending) if any; a report the backend does not accept stays pending. Each
/// manifest is timed at least a second after the last (manifests are timed to the
/// second, and the backend takes one per second per vehicle).
async fn send_manifest(
    backend: &Backend,
    vehicle: &mut Vehicle,
    installation: Option<InstallationReport>,
    counters: &Counters,
) -> Result<(), SimulationError> {
    if installation.is_some() {
        vehicle.pending = installation;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let second = now.max(vehicle.last_manifest + 1);
    vehicle.last_manifest = second;
    let mut manifest = VehicleManifest::for_primary(
        &vehicle.primary,
        PRIMARY_ECU,
        UNIX_EPOCH + Duration::from_secs(second),
    );
    manifest.installation_reports = vehicle.pending.clone().into_iter().collect();
    let signed = sign_manifest(&manifest, &vehicle.key)?;
    let started = Instant::now();
    match (&backend.link, backend.manifests_over_zenoh) {
        (Some(link), true) => {
            link.send_manifest(&vehicle.spec.id, signed.to_file_bytes())
                .await
                .map_err(SimulationError::Refused)?;
        }
        _ => {
            backend
                .client
                .send_manifest(&vehicle.spec.id, &signed)
                .await?;
        }
    }
    counters.manifests.fetch_add(1, Ordering::Relaxed);
    counters.latencies.manifest(started.elapsed());
    if let Some(accepted) = vehicle.pending.take() {
        match accepted.status {
            InstallationStatus::Installed => counters.installed.fetch_add(1, Ordering::Relaxed),
            InstallationStatus::RolledBack => counters.rolled_back.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }
    Ok(())
}

/// A model the simulated fleet is made of: `brand:model:profile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedModel {
    /// The brand.
    pub brand: String,
    /// The model.
    pub model: String,
    /// The vehicle profile.
    pub profile: String,
}

impl std::str::FromStr for SimulatedModel {
    type Err = String;

    fn from_str(text: &str) -> Result<SimulatedModel, String> {
        let parts: Vec<&str> = text.split(':').collect();
        match parts.as_slice() {
            [brand, model, profile] if parts.iter().all(|p| !p.is_empty()) => Ok(SimulatedModel {
                brand: (*brand).to_owned(),
                model: (*model).to_owned(),
                profile: (*profile).to_owned(),
            }),
            _ => Err(format!(
                "{text:?} is not BRAND:MODEL:PROFILE (e.g. hyundai:kona:hyundai-kona-ev)"
            )),
        }
    }
}

/// `count` vehicles named `<prefix>-<brand>-<n>`, the models taken in turn, and
/// `failure_fraction` of them (rounded, drawn with `seed`) flagged to fail.
pub fn fleet_of(
    count: usize,
    models: &[SimulatedModel],
    prefix: &str,
    failure_fraction: f64,
    seed: u64,
) -> Vec<SimulatedVehicle> {
    if models.is_empty() {
        return Vec::new();
    }
    let mut vehicles: Vec<SimulatedVehicle> = (0..count)
        .map(|index| {
            let model = &models[index % models.len()];
            SimulatedVehicle {
                id: format!("{prefix}-{}-{:05}", model.brand, index / models.len() + 1),
                brand: model.brand.clone(),
                model: model.model.clone(),
                profile: model.profile.clone(),
                fails: false,
            }
        })
        .collect();
    // A seeded shuffle (splitmix64): the same seed flags the same vehicles.
    let mut order: Vec<usize> = (0..count).collect();
    let mut state = seed;
    for i in (1..order.len()).rev() {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        order.swap(i, (z % (i as u64 + 1)) as usize);
    }
    let failing = (count as f64 * failure_fraction.clamp(0.0, 1.0)).round() as usize;
    for index in order.into_iter().take(failing) {
        vehicles[index].fails = true;
    }
    vehicles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_takes_models_in_turn_and_flags_the_fraction() {
        let models: Vec<SimulatedModel> =
            ["hyundai:kona:hyundai-kona-ev", "nissan:leaf:nissan-leaf"]
                .iter()
                .map(|m| m.parse().unwrap())
                .collect();
        let fleet = fleet_of(50, &models, "sim", 0.2, 7);
        assert_eq!(fleet.len(), 50);
        assert_eq!(fleet.iter().filter(|v| v.brand == "hyundai").count(), 25);
        assert_eq!(fleet.iter().filter(|v| v.fails).count(), 10);
        assert_eq!(fleet[0].id, "sim-hyundai-00001");
        assert_eq!(fleet[1].id, "sim-nissan-00001");
        assert_eq!(
            fleet_of(50, &models, "sim", 0.2, 7),
            fleet,
            "same seed, same flags"
        );
        assert_ne!(fleet_of(50, &models, "sim", 0.2, 8), fleet);
        assert!("kona".parse::<SimulatedModel>().is_err());
        assert!("a::c".parse::<SimulatedModel>().is_err());
    }
}
