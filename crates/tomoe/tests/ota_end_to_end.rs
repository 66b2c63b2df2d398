//! The OTA acceptance, end to end with real processes: `tomoe up` with its update
//! agent and `tomoe ota serve` on loopback; a new app version is published, the
//! vehicle installs it once parked, and a broken version rolls back on its own.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::cli;
use tomoe_test_support::{sibling_binary, Process, Stop};

const VIN: &str = "TOMOE0000000000E2";

fn test_workload() -> PathBuf {
    sibling_binary(
        env!("CARGO_BIN_EXE_tomoe"),
        "test-workload",
        "tomoe-test-workload",
    )
}

fn ok(args: &[&str]) -> String {
    let (code, stdout, stderr) = cli(args);
    assert_eq!(code, 0, "tomoe {}: {stderr}", args.join(" "));
    stdout
}

/// Starts a process, stopped like Ctrl-C when the test ends, and returns the URL
/// of each of `labels` that it announces (in that order).
fn start(command: &mut Command, labels: &[&str]) -> (Process, Vec<String>) {
    Process::spawn_announcing(command.stderr(Stdio::null()), Stop::Terminate, labels)
}

struct Vehicle {
    broker: String,
    runtime: String,
}

impl Vehicle {
    fn get(&self, path: &str) -> String {
        let (_, stdout, _) = cli(&["get", "--broker", &self.broker, "--json", path]);
        let value: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_default();
        // `get --json` prints the datapoints; find the value whatever the nesting.
        find_value(&value).unwrap_or_default()
    }

    fn set(&self, path: &str, value: &str) {
        ok(&["set", "--broker", &self.broker, path, value]);
    }

    fn app(&self) -> serde_json::Value {
        let stdout = ok(&["ps", "--runtime", &self.runtime, "--json"]);
        let all: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        all.as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == "app")
            .cloned()
            .unwrap_or_default()
    }

    fn report(&self) -> String {
        let (_, ps, _) = cli(&["ps", "--runtime", &self.runtime]);
        format!(
            "OTA status {:?}, reason {:?}, installed version {:?}, mode {:?}\ntomoe ps:\n{ps}",
            self.get("Vehicle.Tomoe.Ota.Status"),
            self.get("Vehicle.Tomoe.Ota.Reason"),
            self.get("Vehicle.Tomoe.Ota.InstalledVersion"),
            self.get("Vehicle.Tomoe.Mode"),
        )
    }

    /// Waits (at most 60 s: a debug build hashes the 90 MB test image slowly)
    /// until `check` holds; panics with the agent's status and `tomoe ps` otherwise.
    fn wait(&self, what: &str, check: impl Fn(&Vehicle) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !check(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                self.report()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The value in `tomoe get --json` output, as text.
fn find_value(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(found) = map.get("value") {
                return match found {
                    serde_json::Value::String(text) => Some(text.clone()),
                    serde_json::Value::Null => None,
                    serde_json::Value::Object(_) | serde_json::Value::Array(_) => find_value(found),
                    other => Some(other.to_string()),
                };
            }
            map.values().find_map(find_value)
        }
        serde_json::Value::Array(items) => items.iter().find_map(find_value),
        _ => None,
    }
}

/// The executable a process runs.
fn exe_of(pid: &serde_json::Value) -> String {
    let pid = pid.as_u64().expect("a running workload has a pid");
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|path| path.display().to_string())
        .unwrap_or_default()
}

/// Publishes `file` as the app's image with `release_counter`, in the image
/// repository and assigned to ECU `app:app` by the director.
fn publish(image_repo: &Path, director_repo: &Path, file: &Path, release_counter: &str) {
    let file = file.to_str().unwrap();
    ok(&[
        "ota",
        "repo",
        "add",
        image_repo.to_str().unwrap(),
        file,
        "--name",
        "app",
        "--hardware-id",
        "tomoe-app",
        "--release-counter",
        release_counter,
    ]);
    ok(&[
        "ota",
        "repo",
        "add",
        director_repo.to_str().unwrap(),
        file,
        "--name",
        "app",
        "--ecu",
        "app:app",
        "--hardware-id",
        "tomoe-app",
        "--release-counter",
        release_counter,
    ]);
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
#[cfg(target_os = "linux")]
fn new_app_version_installs_when_parked_and_broken_one_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let image_repo = dir.path().join("image");
    let director_dir = dir.path().join("director");
    let director_repo = director_dir.join(VIN);
    ok(&["ota", "repo", "init", image_repo.to_str().unwrap()]);
    ok(&[
        "ota",
        "repo",
        "init",
        "--director",
        director_repo.to_str().unwrap(),
    ]);

    let (_server, urls) = start(
        Command::new(env!("CARGO_BIN_EXE_tomoe"))
            .args(["ota", "serve", "--address", "127.0.0.1:0", "--image"])
            .arg(&image_repo)
            .arg("--director")
            .arg(&director_dir),
        &["tomoe ota serving"],
    );
    let server = &urls[0];

    let data = dir.path().join("data");
    let (_up, urls) = start(
        Command::new(env!("CARGO_BIN_EXE_tomoe"))
            .args([
                "up",
                "--idle",
                "--address",
                "127.0.0.1:0",
                "--runtime-address",
                "127.0.0.1:0",
                "--http-address",
                "127.0.0.1:0",
                "--ota-director",
                &format!("{server}/director"),
                "--ota-image",
                &format!("{server}/image"),
                "--vin",
                VIN,
                "--ota-interval-ms",
                "300",
                "--ota-health-window-ms",
                "6000",
                "--ota-root-director",
            ])
            .arg(director_repo.join("root.json"))
            .arg("--ota-root-image")
            .arg(image_repo.join("root.json"))
            .arg("--data-dir")
            .arg(&data),
        &["broker", "runtime", "diag"],
    );
    let vehicle = Vehicle {
        broker: urls[0].clone(),
        runtime: urls[1].clone(),
    };
    let sovd = urls[2].clone();
    // The primary made its key on first start: register it with the director.
    let primary_pub = data.join("ota/primary.pub");
    vehicle.wait("the primary's public key", |_| primary_pub.is_file());
    std::fs::copy(&primary_pub, director_repo.join("primary.pub")).unwrap();
    let primary_key = tomoe_ota::read_public_key(&primary_pub).unwrap();
    let private_key = data.join("ota/primary.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private_key)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", private_key.display());
    }

    let app = test_workload();
    let manifest = dir.path().join("app.yaml");
    std::fs::write(
        &manifest,
        format!(
            r#"apiVersion: tomoe.dev/v1
workloads:
  - name: app
    command: {}
    args: [run, --heartbeat-ms, "200"]
    health: {{heartbeat: {{deadlineMs: 1500}}, startupGraceMs: 500}}
"#,
            app.display()
        ),
    )
    .unwrap();
    ok(&[
        "apply",
        "--runtime",
        &vehicle.runtime,
        manifest.to_str().unwrap(),
    ]);
    vehicle.wait("the app to run healthy", |v| v.app()["health"] == "healthy");
    // First sight of the app: its slots are provisioned from the executable it runs.
    vehicle.wait("the app's slots to be provisioned", |_| {
        data.join("ota/app.app/active").is_file()
    });

    // Driving: a new version waits.
    vehicle.set("Vehicle.Powertrain.Transmission.SelectedGear", "127");
    vehicle.set("Vehicle.Speed", "50");
    vehicle.wait("driving", |v| v.get("Vehicle.Tomoe.Mode") == "DRIVING");
    let version2 = dir.path().join("app-v2");
    let mut bytes = std::fs::read(&app).unwrap();
    bytes.extend_from_slice(b"\ntomoe app version 2\n");
    std::fs::write(&version2, bytes).unwrap();
    make_executable(&version2);
    publish(&image_repo, &director_repo, &version2, "2");
    vehicle.wait("the agent to wait for the vehicle to stop", |v| {
        v.get("Vehicle.Tomoe.Ota.Status") == "WAITING"
            && v.get("Vehicle.Tomoe.Ota.Reason").contains("driving")
    });
    let before = vehicle.app();
    assert!(
        exe_of(&before["pid"]).contains("test-workload"),
        "{}",
        vehicle.report()
    );

    // Parked: it installs and commits.
    vehicle.set("Vehicle.Speed", "0");
    vehicle.set("Vehicle.Powertrain.Transmission.SelectedGear", "126");
    vehicle.wait("version 2 to be committed", |v| {
        v.get("Vehicle.Tomoe.Ota.Status") == "COMMITTED"
    });
    assert_eq!(
        vehicle.get("Vehicle.Tomoe.Ota.InstalledVersion"),
        "2",
        "{}",
        vehicle.report()
    );
    let running = vehicle.app();
    assert_eq!(running["state"], "running", "{}", vehicle.report());
    assert_eq!(running["health"], "healthy", "{}", vehicle.report());
    let version2_exe = exe_of(&running["pid"]);
    // The primary reported what it runs, signed with the registered key.
    let stored_manifest = director_repo.join("manifest.json");
    let reported = |release_counter: u64| {
        let bytes = std::fs::read(&stored_manifest).ok()?;
        let manifest = tomoe_ota::verify_manifest(&bytes, &primary_key).ok()?;
        assert_eq!(manifest.vin, VIN);
        manifest
            .ecu_version_reports
            .iter()
            .find(|report| report.ecu_identifier == "app:app")
            .filter(|report| report.release_counter == release_counter)
            .cloned()
    };
    vehicle.wait("a verified manifest reporting version 2", |_| {
        reported(2).is_some()
    });
    let report = reported(2).unwrap();
    assert_eq!(report.installed_image.filename, "app");
    // The trusted metadata is stored for the next start.
    for repository in ["director", "image"] {
        for file in ["timestamp.json", "snapshot.json", "targets.json"] {
            let path = data.join("ota/trusted").join(repository).join(file);
            assert!(path.is_file(), "{} is missing", path.display());
        }
    }
    assert!(
        version2_exe.contains("/ota/app.app/slot-") && version2_exe.ends_with("/app"),
        "version 2 runs from {version2_exe:?}\n{}",
        vehicle.report()
    );

    // A broken version 3 starts, heartbeats, reports healthy and exits 1 after
    // 2 s, inside its 6 s health window: it is rolled back on its own, not
    // committed on its first healthy report.
    let version3 = dir.path().join("app-v3");
    std::fs::write(
        &version3,
        format!(
            "#!/bin/sh\nexec '{}' \"$@\" --exit-after-ms 2000 --exit-code 1\n",
            app.display()
        ),
    )
    .unwrap();
    make_executable(&version3);
    publish(&image_repo, &director_repo, &version3, "3");
    vehicle.wait("version 3 to run its health window", |v| {
        v.get("Vehicle.Tomoe.Ota.Status") == "VERIFYING_HEALTH"
    });
    vehicle.wait("version 3 to be rolled back", |v| {
        v.get("Vehicle.Tomoe.Ota.Status") == "ROLLED_BACK"
    });
    let reason = vehicle.get("Vehicle.Tomoe.Ota.Reason");
    assert!(
        reason.contains("during its health window"),
        "{reason}\n{}",
        vehicle.report()
    );
    vehicle.wait("version 2 to run healthy again", |v| {
        let app = v.app();
        app["state"] == "running"
            && app["health"] == "healthy"
            && exe_of(&app["pid"]) == version2_exe
    });
    assert_eq!(vehicle.get("Vehicle.Tomoe.Ota.InstalledVersion"), "2");
    // The rollback is a trouble code of the update agent (and of the app), with the
    // app, the version and the reason as environment data.
    let faults: serde_json::Value =
        serde_json::from_str(&ok(&["diag", "faults", "--sovd", &sovd, "--json"])).unwrap();
    let entities: Vec<String> = faults
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "U3010")
        .map(|f| f["entity"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        entities.contains(&"components/update-agent".to_owned())
            && entities.contains(&"apps/app".to_owned()),
        "{faults:#}"
    );
    let fault: serde_json::Value = serde_json::from_str(&ok(&[
        "diag",
        "faults",
        "update-agent",
        "--code",
        "U3010",
        "--sovd",
        &sovd,
        "--json",
    ]))
    .unwrap();
    let extended = &fault["environment_data"]["extended_data_records"]["data"];
    assert_eq!(extended["app"], "app", "{fault:#}");
    assert_eq!(extended["version"], "3", "{fault:#}");
    assert!(
        extended["error"]
            .as_str()
            .unwrap()
            .contains("during its health window"),
        "{fault:#}"
    );
    // The installs are SOVD update packages: the commit completed, the rollback failed.
    let http = reqwest::blocking::Client::new();
    let get = |path: &str| -> serde_json::Value {
        http.get(format!("{sovd}{path}"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let installs = get("/updates");
    let ids: Vec<&str> = installs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    assert!(ids.len() >= 2, "{installs:#}");
    let last = get(&format!("/updates/{}/status", ids[ids.len() - 1]));
    assert_eq!(last["status"], "failed", "{last:#}");
    assert_eq!(last["step"], "ROLLED_BACK", "{last:#}");
    let before = get(&format!("/updates/{}/status", ids[ids.len() - 2]));
    assert_eq!(before["status"], "completed", "{before:#}");
    let package = get(&format!("/updates/{}", ids[ids.len() - 1]));
    assert_eq!(package["update_name"], "app version 3", "{package:#}");
    let run = ok(&[
        "diag",
        "run",
        "update-agent",
        "check-for-updates",
        "--sovd",
        &sovd,
    ]);
    assert!(run.contains("check-for-updates completed"), "{run}");
    // The rejected version is not tried again.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        vehicle.get("Vehicle.Tomoe.Ota.Status"),
        "ROLLED_BACK",
        "{}",
        vehicle.report()
    );
}
