//! Diagnostics of a running `tomoe up` through the SOVD API and `tomoe diag`: a
//! crash-looping app becomes a trouble code of the runtime and of the app, with
//! environment data; its log, state and restart are reachable as SOVD resources.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{cli, tomoe_bin};
use tomoe_test_support::{Process, Stop};

/// `tomoe up --idle` on loopback ports; returns the broker, runtime and SOVD URLs.
fn up(data_dir: &Path) -> (Process, Vec<String>) {
    let mut command = std::process::Command::new(tomoe_bin());
    command
        .args(["up", "--idle", "--address", "127.0.0.1:0"])
        .args([
            "--runtime-address",
            "127.0.0.1:0",
            "--http-address",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .stderr(Stdio::null());
    Process::spawn_announcing(
        &mut command,
        Stop::Terminate,
        &["broker", "runtime", "diag"],
    )
}

fn ok(args: &[&str]) -> String {
    let (code, stdout, stderr) = cli(args);
    assert_eq!(code, 0, "tomoe {args:?}: {stderr}");
    stdout
}

fn faults(sovd: &str) -> Vec<serde_json::Value> {
    let stdout = ok(&["diag", "faults", "--sovd", sovd, "--json"]);
    serde_json::from_str::<serde_json::Value>(&stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_crash_looping_app_is_a_trouble_code_of_the_runtime_and_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let (_up, urls) = up(&dir.path().join("data"));
    let (runtime, sovd) = (&urls[1], &urls[2]);
    let manifest = dir.path().join("crasher.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: tomoe.dev/v1\nworkloads:\n  - name: crasher\n    command: sh\n    args: [-c, \"echo boom: cannot open the sensor >&2; exit 3\"]\n    restart: {policy: on-failure, initialBackoffMs: 50, maxBackoffMs: 100, crashLoopLimit: 2}\n",
    )
    .unwrap();
    ok(&["apply", "--runtime", runtime, manifest.to_str().unwrap()]);

    let deadline = Instant::now() + Duration::from_secs(30);
    let entities = loop {
        let entities: Vec<String> = faults(sovd)
            .iter()
            .filter(|f| f["code"] == "U3001")
            .map(|f| f["entity"].as_str().unwrap().to_owned())
            .collect();
        if entities.len() == 2 {
            break entities;
        }
        assert!(
            Instant::now() < deadline,
            "no crash-loop fault: {:#?}",
            faults(sovd)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        entities.contains(&"components/runtime".to_owned()),
        "{entities:?}"
    );
    assert!(
        entities.contains(&"apps/crasher".to_owned()),
        "{entities:?}"
    );
    let table = ok(&["diag", "faults", "--sovd", sovd]);
    assert!(
        table.contains("components/runtime")
            && table.contains("U3001")
            && table.contains("App crash-looping"),
        "{table}"
    );
    let fault: serde_json::Value = serde_json::from_str(&ok(&[
        "diag", "faults", "runtime", "--code", "U3001", "--sovd", sovd, "--json",
    ]))
    .unwrap();
    let extended = &fault["environment_data"]["extended_data_records"]["data"];
    assert_eq!(extended["app"], "crasher", "{fault:#}");
    assert_eq!(extended["state"], "crash-looping", "{fault:#}");
    assert!(
        extended["last_exit"].as_str().unwrap().contains('3'),
        "{fault:#}"
    );
    assert_eq!(fault["item"]["status"]["testFailed"], "1");

    // The app's state and log are SOVD resources; restarting it is an operation.
    let state = ok(&["diag", "data", "apps/crasher", "state", "--sovd", sovd]);
    assert!(state.contains("crash-looping"), "{state}");
    let log: serde_json::Value = serde_json::from_str(&ok(&[
        "diag",
        "data",
        "apps/crasher",
        "--sovd",
        sovd,
        "--json",
    ]))
    .unwrap();
    assert!(log["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == "restarts"));
    let run = ok(&["diag", "run", "apps/crasher", "restart", "--sovd", sovd]);
    assert!(run.contains("restart completed on apps/crasher"), "{run}");
    let client = reqwest::blocking::Client::new();
    let entries: serde_json::Value = client
        .get(format!("{sovd}/apps/crasher/logs/entries?severity=info"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        entries["items"].as_array().unwrap().iter().any(|e| e["msg"]
            .as_str()
            .unwrap()
            .contains("cannot open the sensor")),
        "{entries:#}"
    );
}

#[test]
fn the_broker_self_test_and_a_bad_request_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (_up, urls) = up(&dir.path().join("data"));
    let sovd = &urls[2];
    let result: serde_json::Value = serde_json::from_str(&ok(&[
        "diag",
        "run",
        "broker",
        "self-test",
        "--sovd",
        sovd,
        "--json",
    ]))
    .unwrap();
    assert_eq!(result["status"], "completed", "{result:#}");
    assert!(result["parameters"]["round_trip_us"].is_u64(), "{result:#}");
    let (code, _, stderr) = cli(&["diag", "data", "nope", "--sovd", sovd]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("404") && stderr.contains("components/nope"),
        "{stderr}"
    );
    let (code, _, stderr) = cli(&["diag", "faults", "--sovd", "http://127.0.0.1:1/sovd/v1"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cannot reach the diagnostic API"),
        "{stderr}"
    );
}
