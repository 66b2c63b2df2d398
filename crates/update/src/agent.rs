//! The update agent: one check cycle after another.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ed25519_dalek::SigningKey;
use tokio::sync::{mpsc, watch};
use tomoe_broker::{Broker, Field, Permissions};
use tomoe_ota::install::InterruptedHealthWindow;
use tomoe_ota::{
    sign_manifest, ApprovedImage, CrashPoint, Ecu, HttpFetcher, InstallError, InstallPolicy,
    InstallationReport, InstallationStatus, Installer, InstallerConfig, Limits, Outcome, Primary,
    VehicleConditions, VehicleManifest,
};
use tomoe_types::{Tenant, VehicleMode};
use tomoe_vss::Value;

use crate::error::UpdateError;
use crate::health::AppHealth;
use crate::host::{App, AppHost};
use crate::primary_key::primary_key;
use crate::rejected::Rejected;
use crate::status::{Detail, Progress, UpdateStatus};
use crate::{app_ecu, slot_name};

/// The hardware id of every app ECU.
pub const APP_HARDWARE_ID: &str = "tomoe-app";

const STATUS: &str = "Vehicle.Tomoe.Ota.Status";
const REASON: &str = "Vehicle.Tomoe.Ota.Reason";
const INSTALLED_VERSION: &str = "Vehicle.Tomoe.Ota.InstalledVersion";
const SOC: &str = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed";
/// The directory of the trusted metadata, in the OTA root.
const TRUSTED_DIR: &str = "trusted";
/// The ECU identifier the primary signs its manifests as.
const PRIMARY_ECU: &str = "primary";
/// How long a manifest report may take.
const REPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the app's status is polled during its health window.
const HEALTH_POLL: Duration = Duration::from_millis(100);

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
    /// How long an installed app must run healthy before it is committed.
    pub health_window: Duration,
    /// When an install may start.
    pub policy: InstallPolicy,
    /// For tests: stop the install as if the device crashed at this point.
    pub crash_at: Option<CrashPoint>,
}

impl AgentConfig {
    /// The agent of vehicle `vin` with the director at `director_url` and the
    /// image repository at `image_url`, trusting the root metadata in the files
    /// `director_root` and `image_root`, keeping its slots under `root`; checks
    /// every 30 s, a 60 s health window, the default install policy.
    pub fn new(
        director_url: &str,
        image_url: &str,
        vin: &str,
        director_root: &std::path::Path,
        image_root: &std::path::Path,
        root: PathBuf,
    ) -> Result<AgentConfig, UpdateError> {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(UpdateError::io("read the root metadata", path))
        };
        Ok(AgentConfig {
            director_url: director_url.to_string(),
            image_url: image_url.to_string(),
            vin: vin.to_string(),
            director_root: read(director_root)?,
            image_root: read(image_root)?,
            root,
            interval: Duration::from_secs(30),
            health_window: Duration::from_secs(60),
            policy: InstallPolicy::default(),
            crash_at: None,
        })
    }
}

/// Publishes the agent's status to the broker and to the caller's channel, once
/// per change. Clones share the last status.
#[derive(Clone)]
pub(crate) struct Reporter {
    broker: Broker,
    last: Arc<Mutex<Option<Progress>>>,
    events: mpsc::UnboundedSender<Progress>,
}

impl Reporter {
    /// Publishes `status` with `reason` when it changed, and the installed
    /// version if given.
    pub(crate) fn publish(&self, status: UpdateStatus, reason: &str, installed: Option<u64>) {
        self.publish_detail(status, reason, installed, Detail::default());
    }

    /// [`Reporter::publish`] with what the change concerns.
    pub(crate) fn publish_detail(
        &self,
        status: UpdateStatus,
        reason: &str,
        installed: Option<u64>,
        detail: Detail,
    ) {
        let progress = Progress {
            status,
            reason: reason.to_string(),
            detail,
        };
        let changed = {
            let mut last = self
                .last
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let changed = last.as_ref() != Some(&progress);
            if changed {
                *last = Some(progress.clone());
            }
            changed
        };
        let catalog = self.broker.catalog();
        let mut updates = Vec::new();
        if changed {
            tracing::info!(%progress, "update agent");
            let _ = self.events.send(progress.clone());
            if let Some(leaf) = catalog.leaf(STATUS) {
                updates.push((leaf.id, Some(Value::String(status.as_str().to_string()))));
            }
            if let Some(leaf) = catalog.leaf(REASON) {
                updates.push((leaf.id, Some(Value::String(progress.reason))));
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

    /// The last status published.
    pub(crate) fn last(&self) -> Option<Progress> {
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// The update agent of one vehicle (see the crate docs).
pub struct Agent<H: AppHost> {
    config: AgentConfig,
    broker: Broker,
    host: H,
    mode: watch::Receiver<VehicleMode>,
    installer: Arc<Installer>,
    primary: Option<Primary>,
    reporter: Reporter,
    /// The primary's signing key, or why there is none.
    key: Result<SigningKey, String>,
    http: reqwest::Client,
    rejected: Rejected,
    /// The apps seen by the last check, which the manifest reports.
    apps: Vec<String>,
    /// Whether a manifest is to be reported (at start, after a change, after a
    /// failed report).
    report_pending: bool,
    /// The reason of the last failed report, to publish each failure once.
    report_error: Option<String>,
    /// The root and timestamp versions of the trusted metadata last stored.
    saved: Option<[u64; 4]>,
    /// Whether the installed version was published since the start.
    version_published: bool,
    /// Asks for a check now (the diagnostic "check for updates" operation).
    check_now: Arc<tokio::sync::Notify>,
    /// How the updates tried since the last manifest went, for the director's
    /// campaigns; sent with the next manifest.
    installation_reports: Vec<InstallationReport>,
    /// Rejected images offered again and reported so since the start.
    reported_rejections: std::collections::HashSet<String>,
}

impl<H: AppHost> Agent<H> {
    /// Opens the OTA root (recovering an install a restart interrupted: a health
    /// window in progress rolls back), loads the trusted metadata stored there
    /// (or starts from the given roots) and the primary's key. Progress is sent
    /// to the returned channel as well as published.
    pub fn new(
        config: AgentConfig,
        broker: Broker,
        host: H,
        mode: watch::Receiver<VehicleMode>,
    ) -> Result<(Agent<H>, mpsc::UnboundedReceiver<Progress>), UpdateError> {
        std::fs::create_dir_all(&config.root)
            .map_err(UpdateError::io("create the OTA root", &config.root))?;
        let installer = Installer::open(
            &config.root,
            InstallerConfig {
                policy: config.policy.clone(),
                health_window: config.health_window,
                poll_interval: HEALTH_POLL,
                on_interrupted_health_window: InterruptedHealthWindow::RollBack,
                crash_at: config.crash_at,
                ..InstallerConfig::default()
            },
        )?;
        for recovery in installer.recover()? {
            match recovery.result {
                Ok(recovered) => {
                    tracing::info!(ecu = %recovery.ecu, ?recovered, "app slots recovered")
                }
                Err(error) => {
                    tracing::error!(ecu = %recovery.ecu, %error, "app slots are not consistent")
                }
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
                .map_err(UpdateError::Roots)?
            }
        };
        let key = primary_key(&config.root).map_err(|error| {
            tracing::error!(%error, "no primary key: vehicle version manifests are not reported");
            error.to_string()
        });
        let http = reqwest::Client::builder()
            .timeout(REPORT_TIMEOUT)
            .build()
            .map_err(|error| UpdateError::Report(error.to_string()))?;
        let (events, receiver) = mpsc::unbounded_channel();
        let agent = Agent {
            saved: trusted_versions(&primary),
            rejected: Rejected::new(&config.root),
            reporter: Reporter {
                broker: broker.clone(),
                last: Arc::default(),
                events,
            },
            config,
            broker,
            host,
            mode,
            installer: Arc::new(installer),
            primary: Some(primary),
            key,
            http,
            apps: Vec::new(),
            report_pending: true,
            report_error: None,
            version_published: false,
            check_now: Arc::new(tokio::sync::Notify::new()),
            installation_reports: Vec::new(),
            reported_rejections: std::collections::HashSet::new(),
        };
        Ok((agent, receiver))
    }

    /// Checks at every interval and whenever the vehicle mode changes, until the
    /// mode's sender is dropped.
    pub async fn run(mut self) {
        self.reporter.publish(UpdateStatus::Idle, "", None);
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
                () = self.check_now.notified() => {}
            }
            self.cycle().await;
        }
    }

    /// One cycle: a check (a failure is published as `FAILED`), then the
    /// manifest report if one is due.
    pub async fn cycle(&mut self) {
        if let Err(error) = self.check().await {
            tracing::warn!(%error, "OTA check failed");
            let detail = Detail {
                metadata_refused: matches!(error, UpdateError::Refused(_)),
                ..Detail::default()
            };
            self.reporter
                .publish_detail(UpdateStatus::Failed, &error.to_string(), None, detail);
        }
        if self.report_pending {
            self.report().await;
        }
    }

    /// A handle that makes the running agent check at once: `notify_one` on it
    /// starts a cycle (or the next one, if a cycle is running).
    pub fn check_trigger(&self) -> Arc<tokio::sync::Notify> {
        self.check_now.clone()
    }

    /// The last status published.
    pub fn status(&self) -> Option<Progress> {
        self.reporter.last()
    }

    /// Provisions new apps, verifies the repositories, installs what the
    /// director assigns.
    async fn check(&mut self) -> Result<(), UpdateError> {
        let mut apps = self.host.apps().await?;
        let mut ecus = Vec::new();
        let mut highest = 0;
        for app in &mut apps {
            let slot = slot_name(&app.name);
            if self.installer.record(&slot)?.committed.is_none() {
                self.provision(&slot, app)?;
            }
            if let Some(command) = self.realign(app, &slot).await? {
                app.command = command;
            }
            let ecu = self.ecu_of(&app.name)?;
            highest = highest.max(ecu.installed.release_counter);
            ecus.push(ecu);
        }
        if !self.version_published && highest > 0 {
            self.version_published = true;
            let last = self.reporter.last().unwrap_or(Progress {
                status: UpdateStatus::Idle,
                reason: String::new(),
                detail: Detail::default(),
            });
            self.reporter
                .publish(last.status, &last.reason, Some(highest));
        }
        let names: Vec<String> = apps.iter().map(|app| app.name.clone()).collect();
        if names != self.apps {
            self.apps = names;
            self.report_pending = true;
        }
        let approved = self.verify(ecus).await?;

        let mut work = false;
        for image in approved {
            let Some(name) = image.ecu_identifier.strip_prefix("app:") else {
                continue;
            };
            let Some(app) = apps.iter().find(|app| app.name == name).cloned() else {
                continue;
            };
            let slot = slot_name(&app.name);
            let installed = self
                .installer
                .installed_image(&slot)?
                .map_or(0, |installed| installed.release_counter);
            if image.release_counter <= installed {
                continue;
            }
            if self.rejected.contains(&slot, &image_sha256(&image)) {
                // Offered again what rolled back here (perhaps before a restart lost
                // the report): the director hears it once per run, not silence.
                if self.reported_rejections.insert(image.target.clone()) {
                    self.installation_reports.push(InstallationReport {
                        ecu_identifier: image.ecu_identifier.clone(),
                        target: image.target.clone(),
                        status: InstallationStatus::RolledBack,
                        reason: "rolled back on this vehicle before; not tried again".into(),
                    });
                    self.report_pending = true;
                }
                continue;
            }
            work = true;
            let conditions = self.conditions();
            if let Err(reason) = self.config.policy.admits_conditions(&conditions) {
                self.reporter.publish(UpdateStatus::Waiting, &reason, None);
                return Ok(());
            }
            self.install(&app, &slot, image, conditions).await?;
        }
        if !work
            && self.reporter.last().is_some_and(|last| {
                matches!(last.status, UpdateStatus::Waiting | UpdateStatus::Failed)
            })
        {
            self.reporter.publish(UpdateStatus::Idle, "", None);
        }
        Ok(())
    }

    /// Full verification of both repositories for `ecus` (off the async
    /// workers); the trusted metadata is stored when it changed.
    async fn verify(&mut self, ecus: Vec<Ecu>) -> Result<Vec<ApprovedImage>, UpdateError> {
        let mut primary = self
            .primary
            .take()
            .ok_or(UpdateError::Stopped("previous check"))?;
        primary.set_ecus(ecus);
        let director_url = format!(
            "{}/{}/",
            self.config.director_url.trim_end_matches('/'),
            self.config.vin
        );
        let image_url = self.config.image_url.clone();
        let (primary, checked) = tokio::task::spawn_blocking(move || {
            let result = HttpFetcher::new(&director_url)
                .and_then(|director| Ok((director, HttpFetcher::new(&image_url)?)))
                .and_then(|(director, image)| primary.check(&director, &image, SystemTime::now()));
            (primary, result)
        })
        .await
        .map_err(|_| UpdateError::Stopped("check"))?;
        self.primary = Some(primary);
        let approved = checked.map_err(UpdateError::Refused)?;
        self.save_trusted();
        Ok(approved)
    }

    /// Installs `image` on `app`: one [`Installer::install`] with an
    /// [`AppHealth`] that runs the app from the new slot and watches it.
    async fn install(
        &mut self,
        app: &App,
        slot: &str,
        mut image: ApprovedImage,
        conditions: VehicleConditions,
    ) -> Result<(), UpdateError> {
        let version = image.release_counter;
        let sha256 = image_sha256(&image);
        let what = format!("{} for {}", image.target, app.name);
        let (ecu, target) = (image.ecu_identifier.clone(), image.target.clone());
        // Control characters (a NUL cannot even be stored) never reach the director.
        let report = move |status, reason: &str| InstallationReport {
            ecu_identifier: ecu.clone(),
            target: target.clone(),
            status,
            reason: reason.replace(char::is_control, " "),
        };
        self.reporter
            .publish(UpdateStatus::Downloading, &what, None);
        image.ecu_identifier = slot.to_string();
        let health = AppHealth::new(
            self.host.clone(),
            &app.name,
            signer_tenant(&image.signed_by),
            HEALTH_POLL,
            self.reporter.clone(),
            what.clone(),
        );
        let installer = self.installer.clone();
        let image_url = self.config.image_url.clone();
        let installed = tokio::task::spawn_blocking(move || {
            let fetcher = HttpFetcher::new(&image_url)?;
            installer.install(&fetcher, &image, &conditions, &health)
        })
        .await
        .map_err(|_| UpdateError::Stopped("install"))?;
        let outcome = match installed {
            Ok(outcome) => outcome,
            Err(InstallError::NotAdmitted { reason }) => {
                self.reporter.publish(UpdateStatus::Waiting, &reason, None);
                return Ok(());
            }
            Err(error) => {
                // A repository that did not answer (or too slowly) is tried again at
                // the next check: not a failure of the update, which is final.
                if !is_passing(&error) {
                    self.installation_reports
                        .push(report(InstallationStatus::Failed, &error.to_string()));
                    self.report_pending = true;
                }
                return Err(error.into());
            }
        };
        self.report_pending = true;
        match outcome {
            Outcome::Committed(_) => {
                self.installation_reports
                    .push(report(InstallationStatus::Installed, ""));
                self.version_published = true;
                self.reporter.publish_detail(
                    UpdateStatus::Committed,
                    &what,
                    Some(version),
                    Detail {
                        app: Some(app.name.clone()),
                        version: Some(version),
                        metadata_refused: false,
                    },
                );
            }
            Outcome::RolledBack { reason, .. } => {
                self.installation_reports
                    .push(report(InstallationStatus::RolledBack, &reason));
                self.rejected.add(slot, &sha256)?;
                self.host
                    .run_from(&app.name, &app.command, app.tenant.as_ref())
                    .await?;
                self.reporter.publish_detail(
                    UpdateStatus::RolledBack,
                    &reason,
                    None,
                    Detail {
                        app: Some(app.name.clone()),
                        version: Some(version),
                        metadata_refused: false,
                    },
                );
            }
        }
        Ok(())
    }

    /// Makes an app that runs from its slots run the active slot, which a
    /// rollback during recovery (after a restart) may have changed; the command
    /// it runs now, if it changed.
    async fn realign(&self, app: &App, slot: &str) -> Result<Option<PathBuf>, UpdateError> {
        let slots = self.installer.slots(slot)?;
        if !app.command.starts_with(slots.dir()) {
            return Ok(None);
        }
        let Some(active) = self.installer.active(slot)? else {
            return Ok(None);
        };
        let command = active.image_path();
        if command == app.command || self.installer.record(slot)?.pending.is_some() {
            return Ok(None);
        }
        tracing::info!(app = %app.name, command = %command.display(), "running the app from its active slot again");
        self.host
            .run_from(&app.name, &command, app.tenant.as_ref())
            .await?;
        Ok(Some(command))
    }

    /// Provisions the slots of an app from the executable it runs now; an app
    /// whose command is not a readable file is left alone.
    fn provision(&mut self, slot: &str, app: &App) -> Result<(), UpdateError> {
        let bytes = match std::fs::read(&app.command) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::debug!(app = %app.name, %error, "app not provisioned: its command is not a readable file");
                return Ok(());
            }
        };
        let target = app
            .command
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("app")
            .to_string();
        let verified = self.installer.provision(slot, &target, &bytes, 0)?;
        self.report_pending = true;
        tracing::info!(app = %app.name, slot = %verified.slot, "app slots provisioned from its command");
        Ok(())
    }

    /// The ECU of app `name` and the image it runs (none: an empty image with
    /// release counter 0).
    fn ecu_of(&self, name: &str) -> Result<Ecu, UpdateError> {
        let mut ecu = Ecu::new(&app_ecu(name), APP_HARDWARE_ID);
        if let Some(installed) = self.installer.installed_image(&slot_name(name))? {
            ecu.installed = installed;
        }
        Ok(ecu)
    }

    /// The vehicle conditions the install policy looks at.
    fn conditions(&self) -> VehicleConditions {
        let mode = *self.mode.borrow();
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
            charging: mode == VehicleMode::Charging,
            mode: mode.as_str().to_lowercase(),
            soc,
        }
    }

    /// Stores the trusted metadata when a root or timestamp version changed; a
    /// failure is logged only (the next check tries again).
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

    /// Reports the vehicle version manifest; a failure is published (once per
    /// reason) and the report is tried again at the next check.
    async fn report(&mut self) {
        let last = self.reporter.last().unwrap_or(Progress {
            status: UpdateStatus::Idle,
            reason: String::new(),
            detail: Detail::default(),
        });
        match self.send_manifest().await {
            Ok(verified) => {
                tracing::info!(verified, "vehicle version manifest reported");
                self.report_pending = false;
                if let Some(reason) = self.report_error.take() {
                    if last.reason == reason {
                        self.reporter.publish(last.status, "", None);
                    }
                }
            }
            Err(error) => {
                let reason = error.to_string();
                if self.report_error.as_ref() != Some(&reason) {
                    tracing::warn!("{reason}");
                    self.reporter.publish(last.status, &reason, None);
                    self.report_error = Some(reason);
                }
            }
        }
    }

    /// Signs the manifest of what the apps run and posts it to the director;
    /// whether the director verified it against a registered key.
    async fn send_manifest(&mut self) -> Result<bool, UpdateError> {
        let key = self
            .key
            .as_ref()
            .map_err(|reason| UpdateError::Report(reason.clone()))?;
        let ecus = self
            .apps
            .iter()
            .map(|name| self.ecu_of(name))
            .collect::<Result<Vec<_>, _>>()?;
        let primary = self
            .primary
            .as_mut()
            .ok_or(UpdateError::Stopped("previous check"))?;
        primary.set_ecus(ecus);
        let mut manifest = VehicleManifest::for_primary(primary, PRIMARY_ECU, SystemTime::now());
        manifest.installation_reports = self.installation_reports.clone();
        let signed = sign_manifest(&manifest, key).map_err(UpdateError::Key)?;
        let url = format!(
            "{}/{}/manifest",
            self.config.director_url.trim_end_matches('/'),
            self.config.vin
        );
        let report = |error: reqwest::Error| UpdateError::Report(format!("{url}: {error}"));
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(signed.to_file_bytes())
            .send()
            .await
            .map_err(report)?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(UpdateError::Report(format!(
                "{url} answered {status}: {}",
                body.trim()
            )));
        }
        self.installation_reports.clear();
        let receipt: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        Ok(receipt["verified"].as_bool().unwrap_or(false))
    }
}

/// Whether an install failed for a reason that passes: the image repository did
/// not answer, or too slowly.
fn is_passing(error: &InstallError) -> bool {
    matches!(
        error,
        InstallError::Verification(
            tomoe_ota::OtaError::Unavailable { .. }
                | tomoe_ota::OtaError::SlowRetrieval { .. }
                | tomoe_ota::OtaError::Fetch { .. }
        )
    )
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
/// The tenant an image belongs to: the delegated role of the image repository that
/// signed it (`nissan` signs `apps/nissan/*`), the alliance for the top-level
/// targets role; none for a role that is no tenant's name.
pub fn signer_tenant(role: &str) -> Option<Tenant> {
    if role == "targets" {
        return Tenant::new(Tenant::ALLIANCE).ok();
    }
    Tenant::new(role).ok()
}

fn image_sha256(image: &ApprovedImage) -> String {
    image
        .file
        .hashes
        .get("sha256")
        .map(|hash| hash.to_lowercase())
        .unwrap_or_default()
}
