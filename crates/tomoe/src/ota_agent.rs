//! The update agent inside `tomoe up`: it keeps the vehicle's apps at the
//! versions the Uptane director assigns.
//!
//! Every app workload is an ECU of the vehicle: ECU id `app:<workload>`,
//! hardware id [`APP_HARDWARE_ID`]; its image is the app's executable. The agent
//! polls the director and the image repository (full verification with a
//! [`Primary`]); when the director assigns an image with a higher release counter
//! than the one installed, it waits until the install policy admits the vehicle's
//! condition (parked or charging by default), stages the image into the app's A/B
//! slots under `<data-dir>/ota/`, switches, runs the workload from the new slot and
//! gives it a health window: running and healthy commits, anything else rolls the
//! slot and the workload back. An app with no committed image is provisioned from
//! the executable it runs. Progress goes to `Vehicle.Tomoe.Ota.*` in the broker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context};
use tokio::sync::watch;
use tomoe_broker::{Broker, Field, Permissions};
use tomoe_ota::install::{workload_verdict, AppUpdate, SharedHealth};
use tomoe_ota::{
    Ecu, HttpFetcher, InstallError, InstallPolicy, InstalledImage, Installer, InstallerConfig,
    Limits, Outcome, Primary, VehicleConditions,
};
use tomoe_runtime::manifest::API_VERSION;
use tomoe_runtime::{Manifest, Runtime, Workload};
use tomoe_vss::Value;

/// The hardware id of every app ECU.
pub const APP_HARDWARE_ID: &str = "tomoe-app";

const STATUS: &str = "Vehicle.Tomoe.Ota.Status";
const REASON: &str = "Vehicle.Tomoe.Ota.Reason";
const INSTALLED_VERSION: &str = "Vehicle.Tomoe.Ota.InstalledVersion";
const SOC: &str = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed";

/// How the agent reaches the repositories and paces itself.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The director's URL; the vehicle's repository is `<URL>/<VIN>/`.
    pub director_url: String,
    /// The image repository's URL.
    pub image_url: String,
    /// The vehicle.
    pub vin: String,
    /// The director's root metadata.
    pub director_root: Vec<u8>,
    /// The image repository's root metadata.
    pub image_root: Vec<u8>,
    /// The device root of the app slots (`<data-dir>/ota`).
    pub root: PathBuf,
    /// Time between two checks.
    pub interval: Duration,
    /// How long an installed app has to become healthy.
    pub health_window: Duration,
    /// When an install may start.
    pub policy: InstallPolicy,
}

/// The ECU id of an app workload.
pub fn app_ecu(workload: &str) -> String {
    format!("app:{workload}")
}

/// The slot directory name of an app workload (a slot name cannot hold `:`).
fn slot_name(workload: &str) -> String {
    format!("app.{workload}")
}

/// The agent's state between checks.
struct Agent {
    config: AgentConfig,
    broker: Broker,
    runtime: Runtime,
    mode: watch::Receiver<tomoe_modes::Mode>,
    installer: Arc<Installer>,
    primary: Option<Primary>,
    /// The last status and reason published, to publish and print only changes.
    last: Option<(String, String)>,
}

/// Starts the agent as a task; it runs until the process ends.
pub fn spawn(
    config: AgentConfig,
    broker: Broker,
    runtime: Runtime,
    mode: watch::Receiver<tomoe_modes::Mode>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    std::fs::create_dir_all(&config.root)
        .with_context(|| format!("cannot create \"{}\"", config.root.display()))?;
    let installer = Installer::open(
        &config.root,
        InstallerConfig {
            policy: config.policy.clone(),
            health_window: config.health_window,
            poll_interval: Duration::from_millis(100),
            on_interrupted_health_window: tomoe_ota::install::InterruptedHealthWindow::RollBack,
            ..InstallerConfig::default()
        },
    )
    .context("cannot open the OTA install state")?;
    for recovery in installer
        .recover()
        .context("cannot recover the OTA install state")?
    {
        if let Err(error) = recovery.result {
            tracing::error!(ecu = %recovery.ecu, %error, "app slots are not consistent");
        }
    }
    let primary = Primary::new(
        &config.vin,
        Vec::new(),
        &config.director_root,
        &config.image_root,
        Limits::default(),
    )
    .context("invalid OTA root metadata")?;
    let mut agent = Agent {
        config,
        broker,
        runtime,
        mode,
        installer: Arc::new(installer),
        primary: Some(primary),
        last: None,
    };
    Ok(tokio::spawn(async move { agent.run().await }))
}

impl Agent {
    async fn run(&mut self) {
        self.publish("IDLE", "", None);
        let mut ticker = tokio::time::interval(self.config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                changed = self.mode.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
            if let Err(error) = self.check().await {
                tracing::warn!(error = format!("{error:#}"), "OTA check failed");
                self.publish("FAILED", &format!("{error:#}"), None);
            }
        }
    }

    /// Publishes the status (and the installed version, if given) when it changed,
    /// and prints it.
    fn publish(&mut self, status: &str, reason: &str, installed: Option<u64>) {
        let changed = self.last.as_ref() != Some(&(status.to_string(), reason.to_string()));
        if changed {
            self.last = Some((status.to_string(), reason.to_string()));
            let line = if reason.is_empty() {
                format!("ota: {status}")
            } else {
                format!("ota: {status}: {reason}")
            };
            if out!("{line}").is_err() {
                tracing::info!("{line}");
            }
        }
        let catalog = self.broker.catalog();
        let mut updates = Vec::new();
        if changed {
            if let Some(leaf) = catalog.leaf(STATUS) {
                updates.push((leaf.id, Some(Value::String(status.to_string()))));
            }
            if let Some(leaf) = catalog.leaf(REASON) {
                updates.push((leaf.id, Some(Value::String(reason.to_string()))));
            }
        }
        if let (Some(version), Some(leaf)) = (installed, catalog.leaf(INSTALLED_VERSION)) {
            let version = u32::try_from(version).unwrap_or(u32::MAX);
            updates.push((leaf.id, Some(Value::Uint32(version))));
        }
        if !updates.is_empty() {
            if let Err(error) = self.broker.publish(&Permissions::allow_all(), &updates) {
                tracing::warn!(%error, "cannot publish the OTA status");
            }
        }
    }

    /// The vehicle conditions the install policy looks at.
    fn conditions(&self) -> VehicleConditions {
        let mode = self.mode.borrow().as_str().to_lowercase();
        let soc = self.broker.catalog().leaf(SOC).and_then(|leaf| {
            let points = self
                .broker
                .get(&Permissions::allow_all(), &[leaf.id], Field::Current)
                .ok()?;
            match points.first()?.value.as_ref()? {
                Value::Float(value) => Some(f64::from(*value)),
                Value::Double(value) => Some(*value),
                _ => None,
            }
        });
        VehicleConditions {
            charging: mode == "charging",
            mode,
            soc,
        }
    }

    /// One check: provision new apps, verify the repositories, install what the
    /// director assigns.
    async fn check(&mut self) -> anyhow::Result<()> {
        let workloads = self
            .runtime
            .list()
            .await
            .context("cannot list the workloads")?;
        let mut specs = BTreeMap::new();
        for status in &workloads {
            if let Some(spec) = self.runtime.workload_spec(&status.name).await? {
                specs.insert(status.name.clone(), spec);
            }
        }
        let mut ecus = Vec::new();
        for (name, spec) in &specs {
            let slot = slot_name(name);
            if self.installer.record(&slot)?.committed.is_none() {
                self.provision(&slot, spec)?;
            }
            self.realign(name, &slot, spec).await?;
            let installed = self
                .installer
                .installed_image(&slot)?
                .unwrap_or(InstalledImage {
                    target: String::new(),
                    sha256: String::new(),
                    release_counter: 0,
                });
            ecus.push(Ecu {
                ecu_identifier: app_ecu(name),
                hardware_identifier: APP_HARDWARE_ID.to_string(),
                installed,
            });
        }
        let mut primary = self
            .primary
            .take()
            .ok_or_else(|| anyhow!("the previous check did not finish"))?;
        primary.set_ecus(ecus.clone());
        let director_url = format!(
            "{}/{}/",
            self.config.director_url.trim_end_matches('/'),
            self.config.vin
        );
        let image_url = self.config.image_url.clone();
        let (primary, checked) = tokio::task::spawn_blocking(move || {
            let result = (|| {
                let director = HttpFetcher::new(&director_url)?;
                let image = HttpFetcher::new(&image_url)?;
                primary.check(&director, &image, SystemTime::now())
            })();
            (primary, result)
        })
        .await
        .context("the OTA check stopped")?;
        self.primary = Some(primary);
        let approved = checked.context("update refused")?;

        let mut work = false;
        for image in approved {
            let Some(name) = image
                .ecu_identifier
                .strip_prefix("app:")
                .map(str::to_string)
            else {
                continue;
            };
            let slot = slot_name(&name);
            let record = self.installer.record(&slot)?;
            let installed = record
                .committed
                .as_ref()
                .map_or(0, |committed| committed.image.release_counter);
            if image.release_counter <= installed {
                continue;
            }
            if self.rejected(&slot).contains(&image_sha256(&image)) {
                continue;
            }
            work = true;
            let conditions = self.conditions();
            if let Err(reason) = self.config.policy.admits_conditions(&conditions) {
                self.publish("WAITING", &reason, None);
                return Ok(());
            }
            let Some(spec) = specs.get(&name).cloned() else {
                continue;
            };
            self.install(&name, &slot, spec, image, conditions).await?;
        }
        if !work
            && self
                .last
                .as_ref()
                .is_some_and(|(status, _)| status == "WAITING" || status == "FAILED")
        {
            self.publish("IDLE", "", None);
        }
        Ok(())
    }

    /// Makes a workload that runs from its slots run the active slot, which a
    /// rollback during recovery (after a restart) may have changed.
    async fn realign(&self, name: &str, slot: &str, spec: &Workload) -> anyhow::Result<()> {
        let slots = self.installer.slots(slot)?;
        if !Path::new(&spec.command).starts_with(slots.dir()) {
            return Ok(());
        }
        let Some(active) = self.installer.active(slot)? else {
            return Ok(());
        };
        let command = active.image_path().to_string_lossy().into_owned();
        if command != spec.command && self.installer.record(slot)?.pending.is_none() {
            tracing::info!(workload = %name, %command, "running the app from its active slot again");
            let mut spec = spec.clone();
            spec.command = command;
            self.apply(spec).await?;
        }
        Ok(())
    }

    /// Provisions the slots of an app from the executable it runs now.
    fn provision(&mut self, slot: &str, spec: &Workload) -> anyhow::Result<()> {
        let command = Path::new(&spec.command);
        let bytes = match std::fs::read(command) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::debug!(workload = %spec.name, %error, "app not provisioned: its command is not a readable file");
                return Ok(());
            }
        };
        let target = command
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("app")
            .to_string();
        let verified = self
            .installer
            .provision(slot, &target, &bytes, 0)
            .with_context(|| format!("cannot provision the slots of app \"{}\"", spec.name))?;
        make_executable(&verified.image_path())?;
        tracing::info!(workload = %spec.name, slot = %verified.slot, "app slots provisioned from its command");
        Ok(())
    }

    /// Stages, switches, re-applies and runs the health window of one app.
    async fn install(
        &mut self,
        name: &str,
        slot: &str,
        previous: Workload,
        mut image: tomoe_ota::ApprovedImage,
        conditions: VehicleConditions,
    ) -> anyhow::Result<()> {
        let version = image.release_counter;
        let target = image.target.clone();
        let sha256 = image_sha256(&image);
        self.publish("DOWNLOADING", &format!("{target} for {name}"), None);
        image.ecu_identifier = slot.to_string();
        let installer = self.installer.clone();
        let image_url = self.config.image_url.clone();
        let staged = tokio::task::spawn_blocking(move || {
            let fetcher = HttpFetcher::new(&image_url)?;
            installer.stage(&fetcher, &image, &conditions)
        })
        .await
        .context("the download stopped")?;
        match staged {
            Ok(_) => {}
            Err(InstallError::NotAdmitted { reason }) => {
                self.publish("WAITING", &reason, None);
                return Ok(());
            }
            Err(error) => return Err(error).context(format!("cannot stage {target}")),
        }

        self.publish("INSTALLING", &format!("{target} for {name}"), None);
        let switched = self.installer.switch(slot)?;
        make_executable(&switched.image_path())?;
        let update = AppUpdate::new(name, &switched);
        let old_pid = self.pid_of(name).await;
        let mut updated = previous.clone();
        updated.command = update.command_path.to_string_lossy().into_owned();
        self.apply(updated).await?;

        self.publish("VERIFYING_HEALTH", &format!("{target} for {name}"), None);
        let health = SharedHealth::new();
        let watcher = tokio::spawn(watch_health(
            self.runtime.clone(),
            name.to_string(),
            old_pid,
            health.clone(),
        ));
        let installer = self.installer.clone();
        let slot_owned = slot.to_string();
        let outcome =
            tokio::task::spawn_blocking(move || installer.await_health(&slot_owned, &health))
                .await
                .context("the health window stopped");
        watcher.abort();
        match outcome?? {
            Outcome::Committed(_) => {
                self.publish("COMMITTED", "", Some(version));
            }
            Outcome::RolledBack { reason, .. } => {
                self.reject(slot, &sha256)?;
                self.apply(previous).await?;
                self.publish("ROLLED_BACK", &reason, None);
            }
        }
        Ok(())
    }

    /// The file listing the SHA-256 of every image of `slot` that was rolled back,
    /// so that the director's assignment of it is not installed again.
    fn rejected_file(&self, slot: &str) -> PathBuf {
        self.config.root.join(format!("{slot}.rejected"))
    }

    fn rejected(&self, slot: &str) -> Vec<String> {
        std::fs::read_to_string(self.rejected_file(slot))
            .map(|text| text.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    fn reject(&self, slot: &str, sha256: &str) -> anyhow::Result<()> {
        let mut rejected = self.rejected(slot);
        rejected.push(sha256.to_string());
        let path = self.rejected_file(slot);
        std::fs::write(&path, rejected.join("\n") + "\n")
            .with_context(|| format!("cannot write \"{}\"", path.display()))
    }

    async fn pid_of(&self, name: &str) -> Option<u32> {
        let workloads = self.runtime.list().await.ok()?;
        workloads.into_iter().find(|w| w.name == name)?.pid
    }

    /// Applies one workload, leaving the others alone.
    async fn apply(&self, workload: Workload) -> anyhow::Result<()> {
        let name = workload.name.clone();
        self.runtime
            .apply(Manifest {
                api_version: API_VERSION.to_string(),
                kind: None,
                workloads: vec![workload],
            })
            .await
            .with_context(|| format!("cannot apply workload \"{name}\""))?;
        Ok(())
    }
}

/// Reports the verdict on the new process of `name` into `health` until aborted:
/// a status of the process that ran before the update (`old_pid`) is no verdict.
async fn watch_health(runtime: Runtime, name: String, old_pid: Option<u32>, health: SharedHealth) {
    loop {
        if let Ok(workloads) = runtime.list().await {
            if let Some(status) = workloads.iter().find(|w| w.name == name) {
                let stale = status.state == "running" && status.pid == old_pid;
                if !stale {
                    if let Some(verdict) = workload_verdict(&status.state, &status.health) {
                        health.report(verdict);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The SHA-256 of an approved image, lowercase hex.
fn image_sha256(image: &tomoe_ota::ApprovedImage) -> String {
    image
        .file
        .hashes
        .get("sha256")
        .map(|hash| hash.to_lowercase())
        .unwrap_or_default()
}

/// Marks a slot image executable (slots store bytes only).
fn make_executable(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make \"{}\" executable", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
