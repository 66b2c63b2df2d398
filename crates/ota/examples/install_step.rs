//! Installs an image on a device directory and, when `TOMOE_OTA_KILL_AT` names a
//! crash point, stops there and waits to be killed, so that a test can kill the
//! process with SIGKILL at that step and check recovery:
//!
//! ```text
//! TOMOE_OTA_KILL_AT=switch-temporary cargo run -p tomoe-ota --example install_step -- <dir>
//! ```
//!
//! `<dir>/device` is the device root (the ECU `brake-ecu-0001` is provisioned with
//! `brake-1.0.bin` on the first run), `<dir>/images` serves `brake-2.0.bin`. On a
//! crash point the process prints `reached crash point <name>` and sleeps. On the
//! rollback crash points the health check reports unhealthy, elsewhere healthy,
//! each after one poll without a verdict. Crash point names are those of
//! `CrashPoint::name` (`staging`, `image-write`, ..., `rolled-back`).

use std::cell::Cell;
use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tomoe_ota::metadata::TargetFile;
use tomoe_ota::{
    ApprovedImage, CrashPoint, FsFetcher, InstallError, Installer, InstallerConfig,
    VehicleConditions, TARGETS_DIR,
};

/// The environment variable naming the crash point to stop at.
pub const KILL_AT_VARIABLE: &str = "TOMOE_OTA_KILL_AT";
/// What the process prints when it reaches the crash point.
pub const REACHED: &str = "reached crash point";
/// The ECU installed.
pub const ECU: &str = "brake-ecu-0001";

fn main() -> Result<(), Box<dyn Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: install_step <dir>")?);
    let kill_at = match std::env::var(KILL_AT_VARIABLE) {
        Ok(name) => Some(name.parse::<CrashPoint>()?),
        Err(_) => None,
    };
    run(&dir, kill_at)
}

/// Image bytes of `version`: 192 KiB, so that a write spans several chunks.
pub fn image_bytes(version: u8) -> Vec<u8> {
    (0..192 * 1024u32)
        .map(|index| (index % 251) as u8 ^ version)
        .collect()
}

/// The approval of `target` with `bytes` for [`ECU`], as the Uptane primary gives it.
pub fn approved(target: &str, bytes: &[u8], release_counter: u64) -> ApprovedImage {
    ApprovedImage {
        ecu_identifier: ECU.into(),
        target: target.into(),
        file: TargetFile::describe(bytes, None),
        release_counter,
        signed_by: "targets".into(),
    }
}

/// Serves `bytes` as `target` from the image directory `images`.
pub fn serve(images: &Path, target: &str, bytes: &[u8]) {
    let path = images.join(TARGETS_DIR).join(target);
    std::fs::create_dir_all(path.parent().expect("a target path has a parent"))
        .expect("create the image directory");
    std::fs::write(path, bytes).expect("write the image");
}

/// Provisions the device in `dir` if needed, then installs `brake-2.0.bin`,
/// stopping at `kill_at` to wait for a kill.
pub fn run(dir: &Path, kill_at: Option<CrashPoint>) -> Result<(), Box<dyn Error>> {
    let images = dir.join("images");
    let new_image = image_bytes(2);
    serve(&images, "brake-2.0.bin", &new_image);
    let config = InstallerConfig {
        health_window: Duration::from_millis(200),
        poll_interval: Duration::from_millis(5),
        crash_at: kill_at,
        ..InstallerConfig::default()
    };
    let installer = Installer::open(&dir.join("device"), config)?;
    if installer.record(ECU)?.committed.is_none() {
        installer.provision(ECU, "brake-1.0.bin", &image_bytes(1), 1)?;
    }
    let verdict = !kill_at.is_some_and(CrashPoint::on_rollback_path);
    let polls = Cell::new(0);
    let health = || {
        polls.set(polls.get() + 1);
        (polls.get() > 1).then_some(verdict)
    };
    let parked = VehicleConditions {
        mode: "parked".into(),
        charging: false,
        soc: Some(80.0),
    };
    match installer.install(
        &FsFetcher::new(&images),
        &approved("brake-2.0.bin", &new_image, 2),
        &parked,
        &health,
    ) {
        Err(InstallError::Crashed(point)) => {
            println!("{REACHED} {point}");
            std::io::stdout().flush()?;
            // Keep the database open and wait for the kill.
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        Ok(outcome) => {
            println!("{outcome:?}");
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}
