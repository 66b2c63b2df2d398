//! Installing verified images into A/B slots, crash-safely, with a health window
//! and rollback.
//!
//! Each ECU (or app) has two slots under the device root and an `active` pointer
//! ([`EcuSlots`]). An install writes an image that [`download_image`] verifies
//! into the inactive slot, verifies it there again, switches `active` to it, and
//! then starts the image through a [`HealthCheck`] and watches it for a whole
//! health window: healthy when the window ends commits; unhealthy at any point,
//! or silent, rolls `active` back to the previous slot.
//!
//! The steps ([`Step`]) are persisted per ECU in `install.redb`; each transition is
//! committed before the side effect that follows it, so [`Installer::recover`] can
//! always tell what was in progress:
//!
//! | step after a crash | recovery |
//! |---|---|
//! | `Staging` | the half-written slot is cleared, the step becomes `Idle` |
//! | `Staged` | the slot is verified again: kept if intact (the install continues from it), else discarded |
//! | `Switched` | `active` is pointed at the new slot if the crash came before the rename, and the health window resumes (or, configured, the install rolls back) |
//! | `Idle`, `Committed`, `RolledBack` | `active` is pointed at the committed slot if a crash interrupted the rollback |
//!
//! The invariant afterwards: `active` points to a verified image, the committed one
//! or a switched one still in its health window, and the record says which.
//! [`CrashPoint`] names every place a crash is injected in tests.

mod health;
mod policy;
mod slots;
mod state;

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

pub use health::{HealthCheck, SharedHealth};
pub use policy::{InstallPolicy, VehicleConditions};
pub use slots::{EcuSlots, Slot, SlotRecord, VerifiedSlot, ACTIVE_FILE, SLOT_RECORD_FILE};
pub use state::{InstallRecord, SlotImage, Step, DATABASE_FILE};

use sha2::{Digest, Sha256};
use state::StateStore;

use crate::client::{Fetcher, Limits};
use crate::uptane::{download_image, ApprovedImage, InstalledImage};
use crate::OtaError;

/// Why an install did not happen, or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The install policy does not admit an install now; the message says why
    /// (`waiting: vehicle is driving; installs run in parked`).
    #[error("{reason}")]
    NotAdmitted {
        /// Why the install waits.
        reason: String,
    },
    /// A slot's image does not match its record, or the pointer is unreadable.
    #[error("corrupt slot: ECU \"{ecu}\" {slot}: {reason}")]
    CorruptSlot {
        /// The ECU.
        ecu: String,
        /// The slot (`slot-a`, `slot-b`) or `active`.
        slot: String,
        /// What is wrong.
        reason: String,
    },
    /// The ECU has no committed image to fall back to.
    #[error("ECU \"{ecu}\" has no committed image; provision it first")]
    NotProvisioned {
        /// The ECU.
        ecu: String,
    },
    /// The action does not fit the ECU's step.
    #[error("cannot {action} ECU \"{ecu}\" while it is {step}")]
    WrongStep {
        /// The ECU.
        ecu: String,
        /// What was asked.
        action: &'static str,
        /// The step it is in.
        step: Step,
    },
    /// An ECU identifier or image name cannot be a slot path.
    #[error("invalid name \"{name}\": {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The image failed verification (or download); see [`OtaError`].
    #[error(transparent)]
    Verification(#[from] OtaError),
    /// The install database failed.
    #[error("install database \"{path}\": {message}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("cannot {action} \"{path}\"")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A crash injected by [`InstallerConfig::crash_at`]: the installer stopped
    /// there without cleaning up, as if the power had gone.
    #[error("simulated crash at {0}")]
    Crashed(CrashPoint),
}

impl InstallError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> InstallError {
        let path = path.into();
        move |source| InstallError::Io {
            action,
            path,
            source,
        }
    }
}

/// A place where a test makes the installer stop as if it crashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashPoint {
    /// `Staging` is recorded; the slot is untouched.
    Staging,
    /// Half of the image is written into the slot.
    ImageWrite,
    /// `Staged` is recorded.
    Staged,
    /// `Switched` is recorded; `active` still points to the previous slot.
    SwitchRecorded,
    /// `active.tmp` names the new slot, not yet renamed over `active`.
    SwitchTemporary,
    /// `active` points to the new slot; the health window has not started.
    Switched,
    /// The health window runs; the first poll is done.
    HealthWindow,
    /// `Committed` is recorded.
    Committed,
    /// `RolledBack` is recorded; `active` still points to the new slot.
    RollbackRecorded,
    /// `active.tmp` names the previous slot, not yet renamed over `active`.
    RollbackTemporary,
    /// `active` points back to the previous slot.
    RolledBack,
}

impl CrashPoint {
    /// Every crash point, in the order an install passes them (the last three on
    /// the rollback path).
    pub const ALL: [CrashPoint; 11] = [
        CrashPoint::Staging,
        CrashPoint::ImageWrite,
        CrashPoint::Staged,
        CrashPoint::SwitchRecorded,
        CrashPoint::SwitchTemporary,
        CrashPoint::Switched,
        CrashPoint::HealthWindow,
        CrashPoint::Committed,
        CrashPoint::RollbackRecorded,
        CrashPoint::RollbackTemporary,
        CrashPoint::RolledBack,
    ];

    /// The point's name, such as `switch-temporary`.
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::Staging => "staging",
            CrashPoint::ImageWrite => "image-write",
            CrashPoint::Staged => "staged",
            CrashPoint::SwitchRecorded => "switch-recorded",
            CrashPoint::SwitchTemporary => "switch-temporary",
            CrashPoint::Switched => "switched",
            CrashPoint::HealthWindow => "health-window",
            CrashPoint::Committed => "committed",
            CrashPoint::RollbackRecorded => "rollback-recorded",
            CrashPoint::RollbackTemporary => "rollback-temporary",
            CrashPoint::RolledBack => "rolled-back",
        }
    }

    /// Whether the point lies on the rollback path (reached only when the new
    /// image is unhealthy).
    pub fn on_rollback_path(self) -> bool {
        matches!(
            self,
            CrashPoint::RollbackRecorded | CrashPoint::RollbackTemporary | CrashPoint::RolledBack
        )
    }
}

impl fmt::Display for CrashPoint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl FromStr for CrashPoint {
    type Err = String;

    fn from_str(text: &str) -> Result<CrashPoint, String> {
        CrashPoint::ALL
            .into_iter()
            .find(|point| point.name() == text)
            .ok_or_else(|| format!("unknown crash point \"{text}\""))
    }
}

/// What recovery does with a health window a restart interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InterruptedHealthWindow {
    /// Keep the new image switched; the caller runs [`Installer::await_health`]
    /// again, which starts a full window (the image has just booted again).
    #[default]
    Resume,
    /// Roll back to the previous slot.
    RollBack,
}

/// How the installer behaves.
#[derive(Debug, Clone)]
pub struct InstallerConfig {
    /// When an install may start.
    pub policy: InstallPolicy,
    /// How long a switched image has to report healthy.
    pub health_window: Duration,
    /// How often the health check is polled.
    pub poll_interval: Duration,
    /// What recovery does with an interrupted health window.
    pub on_interrupted_health_window: InterruptedHealthWindow,
    /// Health windows a pending image may start (restarts included) before
    /// recovery rolls it back; a boot counter against an image that crashes the
    /// device during its window.
    pub max_health_windows: u32,
    /// Download limits.
    pub limits: Limits,
    /// For tests: stop as if crashed at this point, returning [`InstallError::Crashed`].
    pub crash_at: Option<CrashPoint>,
}

impl Default for InstallerConfig {
    fn default() -> InstallerConfig {
        InstallerConfig {
            policy: InstallPolicy::default(),
            health_window: Duration::from_secs(60),
            poll_interval: Duration::from_millis(500),
            on_interrupted_health_window: InterruptedHealthWindow::default(),
            max_health_windows: 3,
            limits: Limits::default(),
            crash_at: None,
        }
    }
}

/// How an install ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The new image reported healthy and is committed.
    Committed(SlotImage),
    /// The new image failed its health window; the previous slot is active again.
    RolledBack {
        /// The rejected image.
        rejected: SlotImage,
        /// Why.
        reason: String,
    },
}

/// What recovery found and did for one ECU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// Nothing was in progress; `active` points to the committed image.
    Consistent,
    /// An interrupted staging was discarded.
    StagingDiscarded,
    /// A staged image was intact and kept; installing it again continues from it.
    StagedKept,
    /// The new image is active and its health window must run again
    /// ([`Installer::await_health`]).
    HealthWindowPending,
    /// The install was rolled back.
    RolledBack {
        /// Why.
        reason: String,
    },
}

/// The result of recovery for one ECU.
#[derive(Debug)]
pub struct Recovery {
    /// The ECU.
    pub ecu: String,
    /// What recovery did, or why the ECU could not be made consistent (a corrupt
    /// committed slot).
    pub result: Result<Recovered, InstallError>,
}

/// Installs images into the A/B slots of the ECUs under one device root.
#[derive(Debug)]
pub struct Installer {
    root: PathBuf,
    state: StateStore,
    config: InstallerConfig,
}

impl Installer {
    /// Opens the device root `root` (creating it and its `install.redb`). Call
    /// [`Installer::recover`] before installing after a start.
    pub fn open(root: &Path, config: InstallerConfig) -> Result<Installer, InstallError> {
        Ok(Installer {
            root: root.to_path_buf(),
            state: StateStore::open(root)?,
            config,
        })
    }

    /// The device root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The slots of `ecu`.
    pub fn slots(&self, ecu: &str) -> Result<EcuSlots, InstallError> {
        EcuSlots::new(&self.root, ecu)
    }

    /// The persisted install state of `ecu`.
    pub fn record(&self, ecu: &str) -> Result<InstallRecord, InstallError> {
        slots::check_name(ecu, "ECU identifier")?;
        self.state.get(ecu)
    }

    /// The slot `ecu` boots, verified: a corrupt slot is an error.
    pub fn active(&self, ecu: &str) -> Result<Option<VerifiedSlot>, InstallError> {
        self.slots(ecu)?.active()
    }

    /// The committed image of `ecu`, in the form the Uptane [`crate::Ecu`] wants.
    pub fn installed_image(&self, ecu: &str) -> Result<Option<InstalledImage>, InstallError> {
        Ok(self.record(ecu)?.committed.map(|committed| InstalledImage {
            target: committed.image.image,
            sha256: committed.image.sha256,
            release_counter: committed.image.release_counter,
        }))
    }

    /// Writes the factory image of a new ECU into `slot-a`, points `active` at it
    /// and records it as committed. Only for an ECU with nothing committed; run
    /// again after an interruption.
    pub fn provision(
        &self,
        ecu: &str,
        target: &str,
        bytes: &[u8],
        release_counter: u64,
    ) -> Result<VerifiedSlot, InstallError> {
        let slots = self.slots(ecu)?;
        let mut record = self.state.get(ecu)?;
        if record.committed.is_some() || record.step.in_progress() {
            return Err(InstallError::WrongStep {
                ecu: ecu.to_string(),
                action: "provision",
                step: record.step,
            });
        }
        let image = SlotRecord::new(
            target,
            bytes.len() as u64,
            &hex::encode(Sha256::digest(bytes)),
            release_counter,
        )?;
        slots.clear(Slot::A)?;
        slots.write(Slot::A, &image, |file| {
            file.write_all(bytes).map_err(InstallError::io(
                "write the slot image",
                slots.slot_dir(Slot::A),
            ))
        })?;
        let verified = slots.verify(Slot::A)?;
        slots.set_active(Slot::A, || Ok(()))?;
        record.step = Step::Committed;
        record.committed = Some(SlotImage {
            slot: Slot::A,
            image,
        });
        record.pending = None;
        record.reason = None;
        self.state.put(ecu, &record)?;
        Ok(verified)
    }

    /// Runs a whole install of `approved` on its ECU: [`stage`](Installer::stage),
    /// [`switch`](Installer::switch), [`await_health`](Installer::await_health)
    /// (which starts the new image through `health`).
    pub fn install(
        &self,
        fetcher: &dyn Fetcher,
        approved: &ApprovedImage,
        vehicle: &VehicleConditions,
        health: &dyn HealthCheck,
    ) -> Result<Outcome, InstallError> {
        let ecu = approved.ecu_identifier.as_str();
        self.stage(fetcher, approved, vehicle)?;
        self.switch(ecu)?;
        self.await_health(ecu, health)
    }

    /// Streams `approved` into the inactive slot of its ECU with its length and
    /// hashes checked ([`download_image`]), syncs it and verifies it in the slot:
    /// `Idle` → `Staging` → `Staged`. Refused unless the install policy admits
    /// `vehicle`, the committed slot verifies and the release counter does not go
    /// down. If the ECU is already `Staged` with this image, nothing is written
    /// again. A failed download or verification clears the slot and returns to `Idle`.
    pub fn stage(
        &self,
        fetcher: &dyn Fetcher,
        approved: &ApprovedImage,
        vehicle: &VehicleConditions,
    ) -> Result<SlotImage, InstallError> {
        let ecu = approved.ecu_identifier.as_str();
        let slots = self.slots(ecu)?;
        self.config
            .policy
            .admits_conditions(vehicle)
            .map_err(|reason| InstallError::NotAdmitted { reason })?;
        let mut record = self.state.get(ecu)?;
        let sha256 = approved
            .file
            .hashes
            .get("sha256")
            .ok_or_else(|| OtaError::ImageMismatch {
                target: approved.target.clone(),
                what: "hashes: slots need a sha256".into(),
            })?;
        let image = SlotRecord::new(
            &approved.target,
            approved.file.length,
            sha256,
            approved.release_counter,
        )?;
        match record.step {
            Step::Idle | Step::Committed | Step::RolledBack => {}
            Step::Staged => {
                if let Some(pending) = &record.pending {
                    if pending.image.same_image(&image) && slots.verify(pending.slot).is_ok() {
                        return Ok(pending.clone());
                    }
                }
            }
            Step::Staging | Step::Switched => {
                return Err(InstallError::WrongStep {
                    ecu: ecu.to_string(),
                    action: "stage an image on",
                    step: record.step,
                })
            }
        }
        let committed = record
            .committed
            .clone()
            .ok_or_else(|| InstallError::NotProvisioned {
                ecu: ecu.to_string(),
            })?;
        slots.verify(committed.slot)?;
        if image.release_counter < committed.image.release_counter {
            return Err(OtaError::ReleaseCounterRollback {
                target: image.image.clone(),
                received: image.release_counter,
                installed: committed.image.release_counter,
            }
            .into());
        }
        let pending = SlotImage {
            slot: committed.slot.other(),
            image,
        };
        record.step = Step::Staging;
        record.pending = Some(pending.clone());
        record.health_windows = 0;
        record.reason = None;
        self.state.put(ecu, &record)?;
        self.crash(CrashPoint::Staging)?;

        let written = self.write_pending(&slots, fetcher, approved, &pending);
        let verified = written.and_then(|()| {
            let verified = slots.verify(pending.slot)?;
            if verified.record.same_image(&pending.image) {
                Ok(())
            } else {
                Err(InstallError::CorruptSlot {
                    ecu: ecu.to_string(),
                    slot: pending.slot.name().to_string(),
                    reason: "it holds another image than the one staged".into(),
                })
            }
        });
        if let Err(error) = verified {
            if matches!(error, InstallError::Crashed(_)) {
                return Err(error);
            }
            slots.clear(pending.slot)?;
            record.step = Step::Idle;
            record.pending = None;
            record.reason = Some(format!(
                "staging of \"{}\" discarded: {error}",
                pending.image.image
            ));
            self.state.put(ecu, &record)?;
            return Err(error);
        }
        record.step = Step::Staged;
        self.state.put(ecu, &record)?;
        tracing::info!(ecu, image = %pending.image.image, slot = %pending.slot, "image staged");
        self.crash(CrashPoint::Staged)?;
        Ok(pending)
    }

    fn write_pending(
        &self,
        slots: &EcuSlots,
        fetcher: &dyn Fetcher,
        approved: &ApprovedImage,
        pending: &SlotImage,
    ) -> Result<(), InstallError> {
        slots.clear(pending.slot)?;
        slots.write(pending.slot, &pending.image, |file| {
            let crash_after = (self.config.crash_at == Some(CrashPoint::ImageWrite))
                .then_some(approved.file.length / 2);
            let mut sink = CrashingWriter {
                file,
                written: 0,
                crash_after,
                crashed: false,
            };
            let result = download_image(fetcher, approved, &self.config.limits, &mut sink);
            if sink.crashed {
                return Err(InstallError::Crashed(CrashPoint::ImageWrite));
            }
            result.map_err(InstallError::from)
        })
    }

    /// Switches `active` of `ecu` to its staged slot after verifying it once more:
    /// `Staged` → `Switched` (recorded before the pointer moves). The committed
    /// slot stays as the one to roll back to.
    pub fn switch(&self, ecu: &str) -> Result<VerifiedSlot, InstallError> {
        let slots = self.slots(ecu)?;
        let mut record = self.state.get(ecu)?;
        let pending = match (&record.step, &record.pending) {
            (Step::Staged, Some(pending)) => pending.clone(),
            _ => {
                return Err(InstallError::WrongStep {
                    ecu: ecu.to_string(),
                    action: "switch",
                    step: record.step,
                })
            }
        };
        let verified = slots.verify(pending.slot)?;
        record.step = Step::Switched;
        record.health_windows = 0;
        self.state.put(ecu, &record)?;
        self.crash(CrashPoint::SwitchRecorded)?;
        slots.set_active(pending.slot, || self.crash(CrashPoint::SwitchTemporary))?;
        tracing::info!(ecu, image = %pending.image.image, slot = %pending.slot, "switched to the new slot; health window starts");
        self.crash(CrashPoint::Switched)?;
        Ok(verified)
    }

    /// Runs the health window of the switched image of `ecu`: starts it through
    /// [`HealthCheck::start`], then polls `health` for the whole
    /// [`InstallerConfig::health_window`]. An unhealthy verdict at any poll rolls
    /// back at once; when the window has passed, the image is committed if the
    /// last verdict was healthy and rolled back otherwise (`RolledBack`, reason
    /// recorded). A start that fails rolls back. Blocks the thread; from async
    /// code run it with `spawn_blocking`.
    pub fn await_health(
        &self,
        ecu: &str,
        health: &dyn HealthCheck,
    ) -> Result<Outcome, InstallError> {
        let slots = self.slots(ecu)?;
        let mut record = self.state.get(ecu)?;
        let pending = match (&record.step, &record.pending) {
            (Step::Switched, Some(pending)) => pending.clone(),
            _ => {
                return Err(InstallError::WrongStep {
                    ecu: ecu.to_string(),
                    action: "run the health window of",
                    step: record.step,
                })
            }
        };
        if slots.active_slot()? != Some(pending.slot) {
            return Err(InstallError::CorruptSlot {
                ecu: ecu.to_string(),
                slot: ACTIVE_FILE.to_string(),
                reason: format!(
                    "it does not point to the switched {}; recover first",
                    pending.slot
                ),
            });
        }
        record.health_windows += 1;
        self.state.put(ecu, &record)?;
        let active = slots.verify(pending.slot)?;
        if let Err(reason) = health.start(&active) {
            return self.roll_back(ecu, record, format!("it could not be started: {reason}"));
        }
        let window = self.config.health_window;
        let deadline = Instant::now() + window;
        let mut first_poll = true;
        loop {
            let verdict = health.healthy();
            if verdict == Some(false) {
                let reason = health
                    .failure()
                    .unwrap_or_else(|| "the health check reported unhealthy".into());
                return self.roll_back(ecu, record, reason);
            }
            if first_poll {
                first_poll = false;
                self.crash(CrashPoint::HealthWindow)?;
            }
            let now = Instant::now();
            if now >= deadline {
                return match verdict {
                    Some(true) => self.commit(ecu, record),
                    _ => self.roll_back(
                        ecu,
                        record,
                        format!(
                            "no healthy report within the {} health window",
                            humantime::format_duration(window)
                        ),
                    ),
                };
            }
            std::thread::sleep(self.config.poll_interval.min(deadline - now));
        }
    }

    fn commit(&self, ecu: &str, mut record: InstallRecord) -> Result<Outcome, InstallError> {
        let pending = record
            .pending
            .take()
            .ok_or_else(|| InstallError::WrongStep {
                ecu: ecu.to_string(),
                action: "commit",
                step: record.step,
            })?;
        record.step = Step::Committed;
        record.committed = Some(pending.clone());
        record.health_windows = 0;
        record.reason = None;
        self.state.put(ecu, &record)?;
        tracing::info!(ecu, image = %pending.image.image, slot = %pending.slot, "image committed");
        self.crash(CrashPoint::Committed)?;
        Ok(Outcome::Committed(pending))
    }

    /// `Switched` → `RolledBack`: recorded first, then `active` goes back to the
    /// committed slot (verified first: a corrupt slot is never made active).
    fn roll_back(
        &self,
        ecu: &str,
        mut record: InstallRecord,
        reason: String,
    ) -> Result<Outcome, InstallError> {
        let slots = self.slots(ecu)?;
        let committed = record
            .committed
            .clone()
            .ok_or_else(|| InstallError::NotProvisioned {
                ecu: ecu.to_string(),
            })?;
        slots.verify(committed.slot)?;
        let rejected = record
            .pending
            .take()
            .ok_or_else(|| InstallError::WrongStep {
                ecu: ecu.to_string(),
                action: "roll back",
                step: record.step,
            })?;
        let reason = format!("\"{}\" rolled back: {reason}", rejected.image.image);
        record.step = Step::RolledBack;
        record.health_windows = 0;
        record.reason = Some(reason.clone());
        self.state.put(ecu, &record)?;
        self.crash(CrashPoint::RollbackRecorded)?;
        slots.set_active(committed.slot, || self.crash(CrashPoint::RollbackTemporary))?;
        tracing::warn!(ecu, slot = %committed.slot, reason = %reason, "install rolled back");
        self.crash(CrashPoint::RolledBack)?;
        Ok(Outcome::RolledBack { rejected, reason })
    }

    /// Brings every ECU back to a consistent state after a start (see the module
    /// docs). An ECU reported [`Recovered::HealthWindowPending`] needs
    /// [`Installer::await_health`]. One ECU's failure does not stop the others.
    pub fn recover(&self) -> Result<Vec<Recovery>, InstallError> {
        Ok(self
            .state
            .all()?
            .into_iter()
            .map(|(ecu, record)| {
                let result = self.recover_ecu(&ecu, record);
                match &result {
                    Ok(recovered) => {
                        tracing::info!(ecu = %ecu, ?recovered, "install state recovered")
                    }
                    Err(error) => {
                        tracing::error!(ecu = %ecu, %error, "install state not recoverable")
                    }
                }
                Recovery { ecu, result }
            })
            .collect())
    }

    fn recover_ecu(&self, ecu: &str, mut record: InstallRecord) -> Result<Recovered, InstallError> {
        let slots = self.slots(ecu)?;
        slots.remove_temporary_files()?;
        match record.step {
            Step::Idle | Step::Committed | Step::RolledBack => {
                self.restore_committed(&slots, &record)?;
                Ok(Recovered::Consistent)
            }
            Step::Staging | Step::Staged => {
                let pending = record.pending.clone();
                let intact = record.step == Step::Staged
                    && pending.as_ref().is_some_and(|pending| {
                        slots
                            .verify(pending.slot)
                            .is_ok_and(|verified| verified.record.same_image(&pending.image))
                    });
                self.restore_committed(&slots, &record)?;
                if intact {
                    return Ok(Recovered::StagedKept);
                }
                if let Some(pending) = &pending {
                    slots.clear(pending.slot)?;
                }
                record.reason = pending.map(|pending| {
                    format!(
                        "interrupted staging of \"{}\" discarded on recovery",
                        pending.image.image
                    )
                });
                record.step = Step::Idle;
                record.pending = None;
                self.state.put(ecu, &record)?;
                Ok(Recovered::StagingDiscarded)
            }
            Step::Switched => {
                let Some(pending) = record.pending.clone() else {
                    record.step = Step::Idle;
                    self.state.put(ecu, &record)?;
                    self.restore_committed(&slots, &record)?;
                    return Ok(Recovered::Consistent);
                };
                let roll_back_because = if let Err(error) = slots.verify(pending.slot) {
                    Some(error.to_string())
                } else if self.config.on_interrupted_health_window
                    == InterruptedHealthWindow::RollBack
                {
                    Some("the health window was interrupted by a restart".to_string())
                } else if record.health_windows >= self.config.max_health_windows {
                    Some(format!(
                        "{} health windows were interrupted by restarts",
                        record.health_windows
                    ))
                } else {
                    None
                };
                if let Some(reason) = roll_back_because {
                    return match self.roll_back(ecu, record, reason)? {
                        Outcome::RolledBack { reason, .. } => Ok(Recovered::RolledBack { reason }),
                        Outcome::Committed(_) => unreachable!("a rollback does not commit"),
                    };
                }
                if slots.active_slot()? != Some(pending.slot) {
                    slots.set_active(pending.slot, || Ok(()))?;
                }
                Ok(Recovered::HealthWindowPending)
            }
        }
    }

    /// Verifies the committed slot and points `active` at it if it does not already.
    fn restore_committed(
        &self,
        slots: &EcuSlots,
        record: &InstallRecord,
    ) -> Result<(), InstallError> {
        let Some(committed) = &record.committed else {
            return Ok(());
        };
        let verified = slots.verify(committed.slot)?;
        if !verified.record.same_image(&committed.image) {
            return Err(InstallError::CorruptSlot {
                ecu: slots.ecu().to_string(),
                slot: committed.slot.name().to_string(),
                reason: format!(
                    "it holds \"{}\", not the committed image",
                    verified.record.image
                ),
            });
        }
        if slots.active_slot()? != Some(committed.slot) {
            slots.set_active(committed.slot, || Ok(()))?;
        }
        Ok(())
    }

    fn crash(&self, point: CrashPoint) -> Result<(), InstallError> {
        if self.config.crash_at == Some(point) {
            Err(InstallError::Crashed(point))
        } else {
            Ok(())
        }
    }
}

/// The image file, which stops accepting bytes halfway when a crash is injected there.
struct CrashingWriter<'a> {
    file: &'a mut File,
    written: u64,
    crash_after: Option<u64>,
    crashed: bool,
}

impl Write for CrashingWriter<'_> {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        let Some(limit) = self.crash_after else {
            return self.file.write(buffer);
        };
        let room = limit.saturating_sub(self.written);
        if room == 0 {
            self.file.sync_all()?;
            self.crashed = true;
            return Err(io::Error::other("simulated crash while writing the image"));
        }
        let count = buffer
            .len()
            .min(usize::try_from(room).unwrap_or(usize::MAX));
        let count = self.file.write(&buffer[..count])?;
        self.written += count as u64;
        Ok(count)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
