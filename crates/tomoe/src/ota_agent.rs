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
//!
//! The primary's Ed25519 key is `<data-dir>/ota/primary.key` (made on first
//! start; its public half is `primary.pub`, to register with the director). At
//! start and after every check that changed what an app runs (provision, commit,
//! rollback) the agent signs a vehicle version manifest and posts it to
//! `<director>/<VIN>/manifest`; a failed report is retried at the next check. The
//! metadata the primary trusts is stored in `<data-dir>/ota/trusted/` after each
//! successful check and loaded (verified again) at start, so that rollback
//! protection survives a restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context};
use ed25519_dalek::SigningKey;
use tokio::sync::watch;
use tomoe_broker::{Broker, Field, Permissions};
use tomoe_ota::install::{workload_verdict, AppUpdate, SharedHealth};
use tomoe_ota::{
    generate_key, public_key_pem, read_key, sign_manifest, write_key, Ecu, HttpFetcher,
    InstallError, InstallPolicy, InstalledImage, Installer, InstallerConfig, Limits, Outcome,
    Primary, VehicleConditions, VehicleManifest,
};
use tomoe_runtime::manifest::API_VERSION;
use tomoe_runtime::{Manifest, Runtime, Workload};
use tomoe_types::WorkloadState;
use tomoe_vss::Value;

/// The hardware id of every app ECU.
pub const APP_HARDWARE_ID: &str = "tomoe-app";

const STATUS: &str = "Vehicle.Tomoe.Ota.Status";
const REASON: &str = "Vehicle.Tomoe.Ota.Reason";
const INSTALLED_VERSION: &str = "Vehicle.Tomoe.Ota.InstalledVersion";
/// The primary's private key (PKCS#8 PEM), in the OTA root.
pub const PRIMARY_KEY_FILE: &str = "primary.key";
/// The primary's public key (PEM), in the OTA root: register it with the director.
pub const PRIMARY_PUBLIC_KEY_FILE: &str = "primary.pub";
/// The directory of the trusted metadata, in the OTA root.
const TRUSTED_DIR: &str = "trusted";
/// The ECU identifier the primary signs its manifests as.
const PRIMARY_ECU: &str = "primary";
/// How long a manifest report may take.
const REPORT_TIMEOUT: Duration = Duration::from_secs(10);
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
    /// The primary's signing key, or why there is none.
    key: Result<SigningKey, String>,
    /// The client posting manifests.
    http: reqwest::Client,
    /// The app workloads seen by the last check, which the manifest reports.
    apps: Vec<String>,
    /// Whether a manifest is to be reported (at start, after a change, after a
    /// failed report).
    report_pending: bool,
    /// The reason of the last failed report, to publish each failure once.
    report_error: Option<String>,
    /// The root and timestamp versions of the trusted metadata last stored.
    saved: Option<[u64; 4]>,
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
    let trusted = config.root.join(TRUSTED_DIR);
    let primary = match Primary::load(
        &config.vin,
        Vec::new(),
        &config.director_root,
        &config.image_root,
        Limits::default(),
        &trusted,
    ) {
        Ok(primary) => primary,
        Err(error) => {
            tracing::warn!(%error, dir = %trusted.display(), "stored trusted OTA metadata not loaded; starting from the provisioned roots");
            Primary::new(
                &config.vin,
                Vec::new(),
                &config.director_root,
                &config.image_root,
                Limits::default(),
            )
            .context("invalid OTA root metadata")?
        }
    };
    let key = primary_key(&config.root).map_err(|error| {
        tracing::error!(
            error = format!("{error:#}"),
            "no primary key: vehicle version manifests are not reported"
        );
        format!("{error:#}")
    });
    let http = reqwest::Client::builder()
        .timeout(REPORT_TIMEOUT)
        .build()
        .context("cannot make the HTTP client reporting manifests")?;
    let mut agent = Agent {
        saved: trusted_versions(&primary),
        config,
        broker,
        runtime,
        mode,
        installer: Arc::new(installer),
        primary: Some(primary),
        last: None,
        key,
        http,
        apps: Vec::new(),
        report_pending: true,
        report_error: None,
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
            if self.report_pending {
                self.report().await;
            }
        }
    }

    /// Reports the vehicle version manifest; a failure is published (once per
    /// reason) and the report is tried again at the next check.
    async fn report(&mut self) {
        let status = self
            .last
            .as_ref()
            .map_or_else(|| "IDLE".to_string(), |(status, _)| status.clone());
        match self.send_manifest().await {
            Ok(verified) => {
                tracing::info!(verified, "vehicle version manifest reported");
                self.report_pending = false;
                if let Some(reason) = self.report_error.take() {
                    if self.last.as_ref().is_some_and(|(_, last)| *last == reason) {
                        self.publish(&status, "", None);
                    }
                }
            }
            Err(error) => {
                let reason = format!("cannot report the vehicle version manifest: {error:#}");
                if self.report_error.as_ref() != Some(&reason) {
                    tracing::warn!("{reason}");
                    self.publish(&status, &reason, None);
                    self.report_error = Some(reason);
                }
            }
        }
    }

    /// Signs the manifest of what the apps run and posts it to the director;
    /// whether the director verified it against a registered key.
    async fn send_manifest(&mut self) -> anyhow::Result<bool> {
        let key = self.key.as_ref().map_err(|reason| anyhow!("{reason}"))?;
        let mut ecus = Vec::new();
        for name in &self.apps {
            ecus.push(self.ecu_of(name)?);
        }
        let primary = self
            .primary
            .as_mut()
            .ok_or_else(|| anyhow!("the previous check did not finish"))?;
        primary.set_ecus(ecus);
        let manifest = VehicleManifest::for_primary(primary, PRIMARY_ECU, SystemTime::now());
        let signed = sign_manifest(&manifest, key)?;
        let url = format!(
            "{}/{}/manifest",
            self.config.director_url.trim_end_matches('/'),
            self.config.vin
        );
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(signed.to_file_bytes())
            .send()
            .await
            .with_context(|| format!("cannot post to {url}"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{url} answered {status}: {}", body.trim());
        }
        let receipt: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        Ok(receipt["verified"].as_bool().unwrap_or(false))
    }

    /// The ECU of app `name` and the image it runs (none: an empty image with
    /// release counter 0).
    fn ecu_of(&self, name: &str) -> anyhow::Result<Ecu> {
        let installed =
            self.installer
                .installed_image(&slot_name(name))?
                .unwrap_or(InstalledImage {
                    target: String::new(),
                    sha256: String::new(),
                    release_counter: 0,
                });
        Ok(Ecu {
            ecu_identifier: app_ecu(name),
            hardware_identifier: APP_HARDWARE_ID.to_string(),
            installed,
        })
    }

    /// Stores the trusted metadata when a root or timestamp version changed;
    /// a failure is logged only (the next check tries again).
    fn save_trusted(&mut self) {
        let Some(primary) = &self.primary else {
            return;
        };
        let versions = trusted_versions(primary);
        if versions == self.saved {
            return;
        }
        let dir = self.config.root.join(TRUSTED_DIR);
        match primary.save(&dir) {
            Ok(()) => self.saved = versions,
            Err(error) => tracing::warn!(%error, "cannot store the trusted OTA metadata"),
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
            ecus.push(self.ecu_of(name)?);
        }
        let apps: Vec<String> = specs.keys().cloned().collect();
        if apps != self.apps {
            self.apps = apps;
            self.report_pending = true;
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
        self.save_trusted();

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
        self.report_pending = true;
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
        self.report_pending = true;
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
                let stale = status.state == WorkloadState::Running && status.pid == old_pid;
                if !stale {
                    if let Some(verdict) =
                        workload_verdict(status.state.as_str(), status.health.as_str())
                    {
                        health.report(verdict);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Loads the primary's signing key from `<root>/primary.key`, making it on first
/// start (PKCS#8 PEM, mode 0600), and writes its public half to
/// `<root>/primary.pub` (PEM) when that file does not hold it.
fn primary_key(root: &Path) -> anyhow::Result<SigningKey> {
    let path = root.join(PRIMARY_KEY_FILE);
    let key = if path.exists() {
        read_key(&path)?
    } else {
        let key = generate_key();
        write_key(&path, &key)?;
        tracing::info!(path = %path.display(), "made the primary's key");
        key
    };
    let public = root.join(PRIMARY_PUBLIC_KEY_FILE);
    let pem = public_key_pem(&key.verifying_key())?;
    if std::fs::read_to_string(&public).ok().as_deref() != Some(pem.as_str()) {
        let temporary = root.join(format!("{PRIMARY_PUBLIC_KEY_FILE}.tmp"));
        std::fs::write(&temporary, &pem)
            .and_then(|()| std::fs::rename(&temporary, &public))
            .with_context(|| format!("cannot write \"{}\"", public.display()))?;
    }
    tracing::info!(path = %public.display(), "the primary's public key, to register with the director");
    Ok(key)
}

/// The root and timestamp versions of both repositories a primary trusts.
fn trusted_versions(primary: &Primary) -> Option<[u64; 4]> {
    let director = primary.director();
    let image = primary.image_repository();
    Some([
        director.root().version,
        director.timestamp()?.version,
        image.root().version,
        image.timestamp()?.version,
    ])
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
