//! One unchanged app binary against every shipped vehicle under `tomoe up`.
//!
//! The range estimator (apps/range-estimator) reads standard VSS signals and publishes
//! `Vehicle.Tomoe.RangeEstimate`. For each profile, `tomoe up` simulates the vehicle
//! through that brand's DBC and mapping; the same app binary must produce a plausible
//! estimate on all of them.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use tomoe_test_support::{sibling_binary, Process, Stop};

fn range_estimator() -> PathBuf {
    sibling_binary(
        env!("CARGO_BIN_EXE_tomoe"),
        "range-estimator",
        "tomoe-range-estimator",
    )
}

/// Starts `tomoe up` for `vehicle` (stopped like Ctrl-C when the test ends) and
/// returns the broker URL it announces.
fn up(vehicle: &str, data_dir: &std::path::Path) -> (Process, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tomoe"));
    command
        .args([
            "up",
            "--vehicle",
            vehicle,
            "--speed",
            "20",
            "--address",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .stderr(Stdio::null());
    let (up, mut urls) = Process::spawn_announcing(&mut command, Stop::Terminate, &[""]);
    (up, urls.remove(0))
}

#[test]
fn range_estimator_runs_unchanged_on_every_brand() {
    let app = range_estimator();
    let profiles = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../profiles");
    let mut ids: Vec<String> = std::fs::read_dir(&profiles)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("profile.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    assert!(ids.len() >= 5, "{ids:?}");
    // The app estimates the range of a traction battery: it runs on every
    // battery-electric vehicle. A combustion car is not simulated as an EV.
    let electric = |id: &str| {
        let (dir, profile) = tomoe_vehicle::Profile::find(id, &profiles).unwrap();
        let platform = profile.platform_spec(&dir).unwrap();
        platform.is_none_or(|p| p.powertrain == tomoe_parts::Powertrain::BatteryElectric)
    };
    let (combustion, ids): (Vec<String>, Vec<String>) =
        ids.into_iter().partition(|id| !electric(id));
    assert!(ids.len() >= 4, "{ids:?}");
    for id in combustion {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_tomoe"))
            .args(["up", "--vehicle", &id, "--address", "127.0.0.1:0"])
            .args([
                "--runtime-address",
                "127.0.0.1:0",
                "--http-address",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{id}: {stderr}");
        assert!(stderr.contains("has a combustion engine"), "{id}: {stderr}");
    }
    for id in ids {
        let dir = tempfile::tempdir().unwrap();
        let (_up, url) = up(&id, dir.path());
        let output = Command::new(&app)
            .args(["--broker", &url, "--count", "4", "--interval", "0.5"])
            .output()
            .expect("the app runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{id}: app failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
        let estimates: Vec<f64> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("range_km="))
            .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
            .collect();
        assert_eq!(estimates.len(), 4, "{id}: {stdout}");
        for range in &estimates {
            assert!(
                (50.0..=800.0).contains(range),
                "{id}: implausible range {range} km\n{stdout}"
            );
        }
        // The estimate reached the broker, on the same VSS path for every brand.
        let got = Command::new(env!("CARGO_BIN_EXE_tomoe"))
            .args([
                "get",
                "--broker",
                &url,
                "--json",
                "Vehicle.Tomoe.RangeEstimate",
            ])
            .output()
            .unwrap();
        let reading: serde_json::Value =
            serde_json::from_slice(&got.stdout).unwrap_or_else(|e| panic!("{id}: {e}: {got:?}"));
        assert!(
            reading["value"].as_f64().is_some_and(|v| v > 0.0),
            "{id}: {reading}"
        );
    }
}
