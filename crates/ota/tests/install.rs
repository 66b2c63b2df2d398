//! Installing into A/B slots: the health window, rollback, the install policy,
//! app updates, and recovery after a crash at every crash point, simulated in
//! process and by killing a real process with SIGKILL.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tomoe_ota::install::{
    InterruptedHealthWindow, Recovered, SharedHealth, Slot, Step, VerifiedSlot, SLOT_RECORD_FILE,
};
use tomoe_ota::{
    ApprovedImage, CrashPoint, FsFetcher, HealthCheck, InstallError, InstallPolicy, Installer,
    InstallerConfig, OtaError, Outcome, VehicleConditions,
};
use tomoe_test_support::{Process, Stop, READY_TIMEOUT};

#[allow(dead_code)]
#[path = "../examples/install_step.rs"]
mod install_step;

use install_step::{approved, image_bytes, serve, ECU};

/// A device root with `ECU` provisioned with `brake-1.0.bin`, and an image
/// directory serving `brake-2.0.bin` and `brake-3.0.bin`.
struct Device {
    _temp: TempDir,
    dir: PathBuf,
}

impl Device {
    fn new() -> Device {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        serve(&dir.join("images"), "brake-2.0.bin", &image_bytes(2));
        serve(&dir.join("images"), "brake-3.0.bin", &image_bytes(3));
        let device = Device { _temp: temp, dir };
        device
            .installer(fast())
            .provision(ECU, "brake-1.0.bin", &image_bytes(1), 1)
            .unwrap();
        device
    }

    fn root(&self) -> PathBuf {
        self.dir.join("device")
    }

    fn installer(&self, config: InstallerConfig) -> Installer {
        Installer::open(&self.root(), config).unwrap()
    }

    fn fetcher(&self) -> FsFetcher {
        FsFetcher::new(self.dir.join("images"))
    }
}

fn fast() -> InstallerConfig {
    InstallerConfig {
        health_window: Duration::from_millis(100),
        poll_interval: Duration::from_millis(5),
        ..InstallerConfig::default()
    }
}

fn parked() -> VehicleConditions {
    VehicleConditions {
        mode: "parked".into(),
        charging: false,
        soc: Some(80.0),
    }
}

fn version(number: u8) -> ApprovedImage {
    approved(
        &format!("brake-{number}.0.bin"),
        &image_bytes(number),
        u64::from(number),
    )
}

/// A health check with no verdict on its first poll, then `verdict`.
fn after_one_poll(verdict: bool) -> impl Fn() -> Option<bool> {
    let polls = Cell::new(0);
    move || {
        polls.set(polls.get() + 1);
        (polls.get() > 1).then_some(verdict)
    }
}

fn active_image(installer: &Installer) -> String {
    installer.active(ECU).unwrap().unwrap().record.image
}

#[test]
fn install_healthy_image_is_committed_and_previous_slot_kept() {
    let device = Device::new();
    let installer = device.installer(fast());
    let outcome = installer
        .install(&device.fetcher(), &version(2), &parked(), &|| Some(true))
        .unwrap();
    let Outcome::Committed(committed) = outcome else {
        panic!("expected a commit, got {outcome:?}");
    };
    assert_eq!(committed.slot, Slot::B);
    let record = installer.record(ECU).unwrap();
    assert_eq!(record.step, Step::Committed);
    assert_eq!(record.committed, Some(committed));
    assert_eq!(active_image(&installer), "brake-2.0.bin");
    let previous = installer.slots(ECU).unwrap().verify(Slot::A).unwrap();
    assert_eq!(previous.record.image, "brake-1.0.bin");
    let installed = installer.installed_image(ECU).unwrap().unwrap();
    assert_eq!(
        (installed.target.as_str(), installed.release_counter),
        ("brake-2.0.bin", 2)
    );

    // The next install goes to the other slot again.
    let outcome = installer
        .install(&device.fetcher(), &version(3), &parked(), &|| Some(true))
        .unwrap();
    assert!(matches!(outcome, Outcome::Committed(ref image) if image.slot == Slot::A));
}

#[test]
fn install_health_reported_by_another_thread_commits() {
    let device = Device::new();
    let installer = device.installer(fast());
    let health = SharedHealth::new();
    let reporter = health.clone();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        reporter.report(true);
    });
    let outcome = installer
        .install(&device.fetcher(), &version(2), &parked(), &health)
        .unwrap();
    thread.join().unwrap();
    assert!(matches!(outcome, Outcome::Committed(_)), "{outcome:?}");
}

#[test]
fn install_never_healthy_rolls_back_when_the_window_ends() {
    let device = Device::new();
    let installer = device.installer(InstallerConfig {
        health_window: Duration::from_millis(200),
        ..fast()
    });
    let started = Instant::now();
    let outcome = installer
        .install(&device.fetcher(), &version(2), &parked(), &|| None)
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
    let Outcome::RolledBack { rejected, reason } = outcome else {
        panic!("expected a rollback, got {outcome:?}");
    };
    assert_eq!(rejected.image.image, "brake-2.0.bin");
    assert_eq!(
        reason,
        "\"brake-2.0.bin\" rolled back: no healthy report within the 200ms health window"
    );
    let record = installer.record(ECU).unwrap();
    assert_eq!(record.step, Step::RolledBack);
    assert_eq!(record.reason.as_deref(), Some(reason.as_str()));
    assert_eq!(record.pending, None);
    assert_eq!(active_image(&installer), "brake-1.0.bin");
}

#[test]
fn install_unhealthy_rolls_back_at_once() {
    let device = Device::new();
    let installer = device.installer(InstallerConfig {
        health_window: Duration::from_secs(600),
        ..fast()
    });
    let started = Instant::now();
    let outcome = installer
        .install(
            &device.fetcher(),
            &version(2),
            &parked(),
            &after_one_poll(false),
        )
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(
        matches!(&outcome, Outcome::RolledBack { reason, .. } if reason.ends_with("the health check reported unhealthy")),
        "{outcome:?}"
    );
    assert_eq!(active_image(&installer), "brake-1.0.bin");
    // A rolled-back device installs again.
    drop(installer);
    let installer = device.installer(fast());
    let outcome = installer
        .install(&device.fetcher(), &version(2), &parked(), &|| Some(true))
        .unwrap();
    assert!(matches!(outcome, Outcome::Committed(_)), "{outcome:?}");
}

#[test]
fn install_policy_refuses_staging_with_the_reason() {
    let device = Device::new();
    let installer = device.installer(InstallerConfig {
        policy: InstallPolicy {
            allowed_modes: vec!["parked".into()],
            min_soc_while_charging: Some(30.0),
        },
        ..fast()
    });
    let before = installer.record(ECU).unwrap();
    let driving = VehicleConditions {
        mode: "driving".into(),
        charging: false,
        soc: Some(80.0),
    };
    let error = installer
        .install(&device.fetcher(), &version(2), &driving, &|| Some(true))
        .unwrap_err();
    assert!(matches!(error, InstallError::NotAdmitted { .. }));
    assert_eq!(
        error.to_string(),
        "waiting: vehicle is driving; installs run in parked"
    );
    let low = VehicleConditions {
        mode: "parked".into(),
        charging: true,
        soc: Some(10.0),
    };
    let error = installer
        .install(&device.fetcher(), &version(2), &low, &|| Some(true))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "waiting: state of charge 10% is below the 30% installs need while charging"
    );
    assert_eq!(installer.record(ECU).unwrap(), before);
    assert!(!installer.slots(ECU).unwrap().slot_dir(Slot::B).exists());
    let outcome = installer
        .install(&device.fetcher(), &version(2), &parked(), &|| Some(true))
        .unwrap();
    assert!(matches!(outcome, Outcome::Committed(_)), "{outcome:?}");
}

#[test]
fn install_altered_image_is_discarded() {
    let device = Device::new();
    serve(&device.dir.join("images"), "brake-2.0.bin", b"malware");
    let installer = device.installer(fast());
    let error = installer
        .install(&device.fetcher(), &version(2), &parked(), &|| Some(true))
        .unwrap_err();
    assert!(
        matches!(
            error,
            InstallError::Verification(OtaError::ImageMismatch { .. })
        ),
        "{error}"
    );
    let record = installer.record(ECU).unwrap();
    assert_eq!(record.step, Step::Idle);
    assert!(record
        .reason
        .unwrap()
        .starts_with("staging of \"brake-2.0.bin\" discarded: arbitrary software"));
    assert!(!installer.slots(ECU).unwrap().slot_dir(Slot::B).exists());
    assert_eq!(active_image(&installer), "brake-1.0.bin");
}

#[test]
fn install_lower_release_counter_is_refused() {
    let device = Device::new();
    let installer = device.installer(fast());
    installer
        .install(&device.fetcher(), &version(3), &parked(), &|| Some(true))
        .unwrap();
    let error = installer
        .install(&device.fetcher(), &version(2), &parked(), &|| Some(true))
        .unwrap_err();
    assert!(
        error.to_string().starts_with("rollback: release counter 2"),
        "{error}"
    );
    assert_eq!(active_image(&installer), "brake-3.0.bin");
}

#[test]
fn install_corrupt_active_slot_is_reported_never_booted() {
    let device = Device::new();
    let installer = device.installer(fast());
    let slot_a = installer.slots(ECU).unwrap().slot_dir(Slot::A);
    std::fs::write(slot_a.join("brake-1.0.bin"), b"bit rot").unwrap();
    let error = installer.active(ECU).unwrap_err();
    assert!(matches!(error, InstallError::CorruptSlot { .. }), "{error}");
    let recoveries = installer.recover().unwrap();
    assert!(matches!(
        recoveries[0].result,
        Err(InstallError::CorruptSlot { .. })
    ));
    let error = installer
        .install(&device.fetcher(), &version(2), &parked(), &|| Some(true))
        .unwrap_err();
    assert!(matches!(error, InstallError::CorruptSlot { .. }), "{error}");
    std::fs::remove_file(slot_a.join(SLOT_RECORD_FILE)).unwrap();
    assert!(installer.active(ECU).is_err());
}

/// A health check that records the image it was asked to start.
struct Starter {
    started: std::sync::Mutex<Vec<std::path::PathBuf>>,
    start: Result<(), String>,
}

impl HealthCheck for Starter {
    fn start(&self, active: &VerifiedSlot) -> Result<(), String> {
        self.started.lock().unwrap().push(active.image_path());
        self.start.clone()
    }

    fn healthy(&self) -> Option<bool> {
        Some(true)
    }
}

#[test]
fn install_starts_the_new_image_from_its_active_slot() {
    let device = Device::new();
    let installer = device.installer(fast());
    let app = "range-estimator";
    installer
        .provision(app, "apps/range-estimator", b"#!/bin/sh\necho 1\n", 1)
        .unwrap();
    let new_app = b"#!/bin/sh\necho 2\n";
    serve(&device.dir.join("images"), "apps/range-estimator", new_app);
    let approved_app = ApprovedImage {
        ecu_identifier: app.into(),
        ..approved("apps/range-estimator", new_app, 2)
    };
    let starter = Starter {
        started: Default::default(),
        start: Ok(()),
    };
    let outcome = installer
        .install(&device.fetcher(), &approved_app, &parked(), &starter)
        .unwrap();
    assert!(matches!(outcome, Outcome::Committed(_)), "{outcome:?}");
    let started = starter.started.lock().unwrap().clone();
    let expected = device
        .root()
        .join(app)
        .join("slot-b")
        .join("range-estimator");
    assert_eq!(started, vec![expected.clone()]);
    assert_eq!(std::fs::read(&expected).unwrap(), new_app);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&expected).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111);
    }
}

#[test]
fn install_image_that_cannot_start_rolls_back() {
    let device = Device::new();
    let installer = device.installer(fast());
    let starter = Starter {
        started: Default::default(),
        start: Err("no such file".into()),
    };
    let outcome = installer
        .install(&device.fetcher(), &version(2), &parked(), &starter)
        .unwrap();
    assert!(
        matches!(&outcome, Outcome::RolledBack { reason, .. } if reason.ends_with("it could not be started: no such file")),
        "{outcome:?}"
    );
    assert_eq!(active_image(&installer), "brake-1.0.bin");
}

#[test]
fn install_healthy_image_is_committed_only_when_the_window_has_passed() {
    let device = Device::new();
    let installer = device.installer(InstallerConfig {
        health_window: Duration::from_millis(300),
        ..fast()
    });
    let started = Instant::now();
    let outcome = installer
        .install(&device.fetcher(), &version(2), &parked(), &|| Some(true))
        .unwrap();
    assert!(matches!(outcome, Outcome::Committed(_)), "{outcome:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn install_healthy_then_crashing_inside_the_window_rolls_back() {
    // An app that reports healthy and then fails before its window ends: the
    // regression of an update committed on its first healthy report.
    let device = Device::new();
    let installer = device.installer(InstallerConfig {
        health_window: Duration::from_secs(600),
        ..fast()
    });
    let polls = Cell::new(0);
    let health = move || {
        polls.set(polls.get() + 1);
        Some(polls.get() < 5)
    };
    let outcome = installer
        .install(&device.fetcher(), &version(2), &parked(), &health)
        .unwrap();
    assert!(
        matches!(&outcome, Outcome::RolledBack { reason, .. } if reason.ends_with("the health check reported unhealthy")),
        "{outcome:?}"
    );
    assert_eq!(active_image(&installer), "brake-1.0.bin");
}

/// What recovery must do after a crash at each point of an install of version 2
/// over version 1 (healthy, except on the rollback path), and which image is
/// active afterwards.
const EXPECTED: [(CrashPoint, &str, Step, &str); 11] = [
    (
        CrashPoint::Staging,
        "discarded",
        Step::Idle,
        "brake-1.0.bin",
    ),
    (
        CrashPoint::ImageWrite,
        "discarded",
        Step::Idle,
        "brake-1.0.bin",
    ),
    (CrashPoint::Staged, "staged", Step::Staged, "brake-1.0.bin"),
    (
        CrashPoint::SwitchRecorded,
        "pending",
        Step::Switched,
        "brake-2.0.bin",
    ),
    (
        CrashPoint::SwitchTemporary,
        "pending",
        Step::Switched,
        "brake-2.0.bin",
    ),
    (
        CrashPoint::Switched,
        "pending",
        Step::Switched,
        "brake-2.0.bin",
    ),
    (
        CrashPoint::HealthWindow,
        "pending",
        Step::Switched,
        "brake-2.0.bin",
    ),
    (
        CrashPoint::Committed,
        "consistent",
        Step::Committed,
        "brake-2.0.bin",
    ),
    (
        CrashPoint::RollbackRecorded,
        "consistent",
        Step::RolledBack,
        "brake-1.0.bin",
    ),
    (
        CrashPoint::RollbackTemporary,
        "consistent",
        Step::RolledBack,
        "brake-1.0.bin",
    ),
    (
        CrashPoint::RolledBack,
        "consistent",
        Step::RolledBack,
        "brake-1.0.bin",
    ),
];

/// Recovers the device after a crash at `point` and checks the invariant: the
/// active slot verifies and is the one the record names, nothing committed is
/// lost, a resumed health window completes, and installing again succeeds.
fn check_recovery(device: &Device, point: CrashPoint) {
    let (_, expected_recovery, expected_step, expected_active) = EXPECTED
        .iter()
        .find(|(expected, ..)| *expected == point)
        .unwrap();
    let installer = device.installer(fast());
    let recoveries = installer.recover().unwrap();
    assert_eq!(recoveries.len(), 1, "{point}");
    let recovered = recoveries[0].result.as_ref().unwrap();
    let kind = match recovered {
        Recovered::Consistent => "consistent",
        Recovered::StagingDiscarded => "discarded",
        Recovered::StagedKept => "staged",
        Recovered::HealthWindowPending => "pending",
        Recovered::RolledBack { .. } => "rolled back",
    };
    assert_eq!(kind, *expected_recovery, "{point}");

    let slots = installer.slots(ECU).unwrap();
    let root = installer.root().join(ECU);
    assert!(!root.join("active.tmp").exists(), "{point}");
    let record = installer.record(ECU).unwrap();
    assert_eq!(record.step, *expected_step, "{point}");
    let active = installer.active(ECU).unwrap().expect("an active slot");
    assert_eq!(active.record.image, *expected_active, "{point}");
    assert_eq!(Some(active.slot), record.expected_active(), "{point}");
    let committed = record.committed.clone().unwrap();
    let committed_slot = slots.verify(committed.slot).unwrap();
    assert_eq!(committed_slot.record, committed.image, "{point}");
    // The image committed before the install is still on the device.
    let slot_a = slots.verify(Slot::A).unwrap();
    assert_eq!(slot_a.record.image, "brake-1.0.bin", "{point}");
    if record.step == Step::Idle {
        assert!(!slots.slot_dir(Slot::B).exists(), "{point}");
    }

    if *expected_recovery == "pending" {
        assert_eq!(record.previous(), Some(Slot::A), "{point}");
        let outcome = installer.await_health(ECU, &|| Some(true)).unwrap();
        assert!(
            matches!(outcome, Outcome::Committed(_)),
            "{point}: {outcome:?}"
        );
    }
    let next = if installer.record(ECU).unwrap().step == Step::Committed {
        version(3)
    } else {
        version(2)
    };
    let outcome = installer
        .install(&device.fetcher(), &next, &parked(), &|| Some(true))
        .unwrap();
    assert!(
        matches!(outcome, Outcome::Committed(_)),
        "{point}: {outcome:?}"
    );
    assert_eq!(active_image(&installer), next.target, "{point}");
}

#[test]
fn install_crash_at_every_point_recovers() {
    for point in CrashPoint::ALL {
        let device = Device::new();
        {
            let installer = device.installer(InstallerConfig {
                crash_at: Some(point),
                ..fast()
            });
            let health = after_one_poll(!point.on_rollback_path());
            let error = installer
                .install(&device.fetcher(), &version(2), &parked(), &health)
                .unwrap_err();
            assert!(
                matches!(error, InstallError::Crashed(crashed) if crashed == point),
                "{point}: {error}"
            );
        }
        check_recovery(&device, point);
    }
}

#[test]
fn install_killed_process_recovers_at_every_point() {
    for point in CrashPoint::ALL {
        let device = Device::new();
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "install_step_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_VARIABLE, &device.dir)
            .env(install_step::KILL_AT_VARIABLE, point.name())
            .stderr(Stdio::inherit());
        let mut child = Process::spawn(&mut command, Stop::Kill);
        let marker = format!("{} {point}", install_step::REACHED);
        let reached = child
            .wait_for_line(READY_TIMEOUT, |line| line.contains(&marker))
            .is_ok();
        // `Stop::Kill` sends SIGKILL: no destructor or cleanup runs.
        child.stop();
        assert!(reached, "the child never reached {point}");
        check_recovery(&device, point);
    }
}

const CHILD_DIR_VARIABLE: &str = "TOMOE_OTA_INSTALL_STEP_DIR";

/// The process `install_killed_process_recovers_at_every_point` kills: runs the
/// `install_step` example when started by that test, and nothing otherwise.
#[test]
fn install_step_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR_VARIABLE) else {
        return;
    };
    let point = std::env::var(install_step::KILL_AT_VARIABLE)
        .unwrap()
        .parse()
        .unwrap();
    install_step::run(Path::new(&dir), Some(point)).unwrap();
}

#[test]
fn install_interrupted_health_window_rolls_back_when_configured() {
    let device = Device::new();
    {
        let installer = device.installer(InstallerConfig {
            crash_at: Some(CrashPoint::HealthWindow),
            ..fast()
        });
        installer
            .install(&device.fetcher(), &version(2), &parked(), &|| None)
            .unwrap_err();
    }
    let installer = device.installer(InstallerConfig {
        on_interrupted_health_window: InterruptedHealthWindow::RollBack,
        ..fast()
    });
    let recoveries = installer.recover().unwrap();
    let Ok(Recovered::RolledBack { reason }) = &recoveries[0].result else {
        panic!("expected a rollback, got {recoveries:?}");
    };
    assert_eq!(
        reason,
        "\"brake-2.0.bin\" rolled back: the health window was interrupted by a restart"
    );
    assert_eq!(installer.record(ECU).unwrap().step, Step::RolledBack);
    assert_eq!(active_image(&installer), "brake-1.0.bin");
}

#[test]
fn install_health_window_interrupted_too_often_rolls_back() {
    let device = Device::new();
    let crashing = || InstallerConfig {
        crash_at: Some(CrashPoint::HealthWindow),
        max_health_windows: 2,
        ..fast()
    };
    device
        .installer(crashing())
        .install(&device.fetcher(), &version(2), &parked(), &|| None)
        .unwrap_err();
    let installer = device.installer(crashing());
    let recoveries = installer.recover().unwrap();
    assert!(matches!(
        recoveries[0].result,
        Ok(Recovered::HealthWindowPending)
    ));
    installer.await_health(ECU, &|| None).unwrap_err();
    drop(installer);
    let installer = device.installer(crashing());
    let recoveries = installer.recover().unwrap();
    assert!(
        matches!(&recoveries[0].result, Ok(Recovered::RolledBack { reason }) if reason.ends_with("2 health windows were interrupted by restarts")),
        "{recoveries:?}"
    );
    assert_eq!(active_image(&installer), "brake-1.0.bin");
}
