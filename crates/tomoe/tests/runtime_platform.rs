//! The app runtime inside `tomoe up`, with real processes: scoped broker access,
//! vehicle-mode gating and heartbeats, driven through the `tomoe` CLI.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::cli;
use tomoe_test_support::{sibling_binary, Process, Stop};

fn test_workload() -> PathBuf {
    sibling_binary(
        env!("CARGO_BIN_EXE_tomoe"),
        "test-workload",
        "tomoe-test-workload",
    )
}

/// `tomoe up --idle`, stopped like Ctrl-C when the test ends.
fn up_idle(data_dir: &Path) -> (Process, String, String) {
    support::up_idle(data_dir, Stop::Terminate)
}

fn workloads(runtime: &str) -> Vec<serde_json::Value> {
    let (code, stdout, stderr) = cli(&["ps", "--runtime", runtime, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str::<serde_json::Value>(&stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn wait_for(
    runtime: &str,
    name: &str,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let all = workloads(runtime);
        let workload = all
            .iter()
            .find(|w| w["name"] == name)
            .cloned()
            .unwrap_or_default();
        if check(&workload) {
            return workload;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became {what}: {workload:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn workloads_are_scoped_gated_by_mode_and_supervised() {
    let dir = tempfile::tempdir().unwrap();
    let (_up, broker, runtime) = up_idle(&dir.path().join("data"));
    let app = test_workload();
    let manifest = dir.path().join("apps.yaml");
    std::fs::write(
        &manifest,
        format!(
            r#"apiVersion: tomoe.dev/v1
workloads:
  - name: nosy-reader
    command: {app}
    args: [read, Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed]
    restart: {{policy: never}}
    access: {{read: [Vehicle.Speed]}}
  - name: speed-reader
    command: {app}
    args: [read, Vehicle.Speed]
    restart: {{policy: never}}
    access: {{read: [Vehicle.Speed]}}
  - name: parked-app
    command: {app}
    args: [run]
    modes: [parked]
  - name: driving-app
    command: {app}
    args: [run]
    modes: [driving]
  - name: beating
    command: {app}
    args: [run, --heartbeat-ms, "200"]
    health: {{heartbeat: {{deadlineMs: 1500}}, startupGraceMs: 500}}
"#,
            app = app.display()
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = cli(&["apply", "--runtime", &runtime, manifest.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    // Reading an undeclared path is refused by the broker, with its permission error.
    let nosy = wait_for(&runtime, "nosy-reader", "failed", |w| {
        w["state"] == "failed"
    });
    assert_eq!(nosy["last_exit"], "exit code 3");
    let (_, log, _) = cli(&["logs", "--runtime", &runtime, "nosy-reader"]);
    assert!(
        log.contains("error=") && log.contains("permission denied"),
        "{log}"
    );
    let reader = wait_for(&runtime, "speed-reader", "succeeded", |w| {
        w["state"] == "succeeded"
    });
    assert_eq!(reader["last_exit"], "exit code 0");

    // Parked (no speed yet): the parked-only app runs, the driving-only one waits.
    wait_for(&runtime, "parked-app", "running", |w| {
        w["state"] == "running"
    });
    let waiting = wait_for(&runtime, "driving-app", "waiting", |w| {
        w["state"] == "waiting"
    });
    assert!(
        waiting["reason"]
            .as_str()
            .unwrap()
            .contains("not allowed in mode parked"),
        "{waiting}"
    );

    // Driving: the state manager sees speed and gear, and the apps swap.
    for (path, value) in [
        ("Vehicle.Powertrain.Transmission.SelectedGear", "127"),
        ("Vehicle.Speed", "50"),
    ] {
        let (code, _, stderr) = cli(&["set", "--broker", &broker, path, value]);
        assert_eq!(code, 0, "{stderr}");
    }
    wait_for(&runtime, "driving-app", "running", |w| {
        w["state"] == "running"
    });
    wait_for(&runtime, "parked-app", "stopped by the mode", |w| {
        w["pid"].is_null()
    });
    let (code, mode, _) = cli(&["get", "--broker", &broker, "Vehicle.Tomoe.Mode"]);
    assert_eq!(code, 0);
    assert!(mode.contains("DRIVING"), "{mode}");

    // Parked again.
    for (path, value) in [
        ("Vehicle.Speed", "0"),
        ("Vehicle.Powertrain.Transmission.SelectedGear", "126"),
    ] {
        let (code, _, stderr) = cli(&["set", "--broker", &broker, path, value]);
        assert_eq!(code, 0, "{stderr}");
    }
    wait_for(&runtime, "parked-app", "running again", |w| {
        w["state"] == "running"
    });
    wait_for(&runtime, "driving-app", "stopped by the mode", |w| {
        w["pid"].is_null()
    });

    // Heartbeats through the SDK keep the beating workload healthy.
    let beating = wait_for(&runtime, "beating", "healthy", |w| w["health"] == "healthy");
    assert_eq!(beating["restarts"], 0);

    // describe and delete.
    let (code, described, _) = cli(&["describe", "--runtime", &runtime, "beating"]);
    assert_eq!(code, 0);
    assert!(
        described.contains("health:") && described.contains("healthy"),
        "{described}"
    );
    let (code, _, stderr) = cli(&["delete", "--runtime", &runtime, "beating"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(workloads(&runtime).iter().all(|w| w["name"] != "beating"));
}

#[test]
fn an_invalid_manifest_is_refused_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (_up, _broker, runtime) = up_idle(&dir.path().join("data"));
    let manifest = dir.path().join("bad.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: tomoe.dev/v1\nworkloads:\n  - {name: a, command: sleep, dependsOn: [{workload: b}]}\n  - {name: b, command: sleep, dependsOn: [{workload: a}], modes: [flying]}\n",
    )
    .unwrap();
    let (code, _, stderr) = cli(&["apply", "--runtime", &runtime, manifest.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("workloads[1].modes[0]: \"flying\" is not a vehicle mode"),
        "{stderr}"
    );
    assert!(stderr.contains("dependency cycle: a -> b -> a"), "{stderr}");
    assert!(workloads(&runtime).is_empty());
}

#[test]
fn relative_commands_resolve_against_the_manifest_directory() {
    // The manifest lives in its own directory with the app beside it; `tomoe apply`
    // runs from elsewhere (the test's working directory), as does `tomoe up`.
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    std::fs::create_dir_all(apps.join("bin")).unwrap();
    std::fs::copy(test_workload(), apps.join("bin/app")).unwrap();
    let manifest = apps.join("app.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: tomoe.dev/v1\nworkloads:\n  - name: app\n    command: bin/app\n    args: [run]\n  - name: missing\n    command: bin/missing\n    restart: {policy: never}\n",
    )
    .unwrap();
    let (_up, _, runtime) = up_idle(&dir.path().join("data"));
    let (code, _, stderr) = cli(&["apply", "--runtime", &runtime, manifest.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    wait_for(&runtime, "app", "running", |w| w["state"] == "running");
    // A command that cannot start is reported with the path that was tried.
    let missing = wait_for(&runtime, "missing", "failed", |w| w["state"] == "failed");
    let expected = format!("could not start \"{}\"", apps.join("bin/missing").display());
    assert!(
        missing["last_exit"]
            .as_str()
            .unwrap_or("")
            .contains(&expected),
        "{missing:#}"
    );
}
