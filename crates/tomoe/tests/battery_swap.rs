//! A battery pack swapped across brands on a running `tomoe up`: the SOVD
//! operation `battery-swap` through `tomoe service battery-swap` and over plain
//! HTTP. A pack that fits changes VSS and the simulated battery and is recorded in
//! the data directory (it is still in after a restart); a refused pack, an unknown
//! id, a part that is not a pack and a malformed body change nothing.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{cli, tomoe_bin};
use tomoe_test_support::{Process, Stop};

/// `tomoe up --vehicle PROFILE` (simulated, 20 x speed, starting at 90 % SoC) on
/// loopback ports with the parts catalog `parts`; returns the process, its banner's
/// battery line and the broker and SOVD URLs.
fn up(profile: &str, data_dir: &Path, parts: &Path) -> (Process, String, String, String) {
    let mut command = std::process::Command::new(tomoe_bin());
    command
        .args(["up", "--vehicle", profile, "--speed", "20", "--soc", "90"])
        .args([
            "--address",
            "127.0.0.1:0",
            "--runtime-address",
            "127.0.0.1:0",
        ])
        .args(["--http-address", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("TOMOE_PARTS", parts)
        .stderr(Stdio::null());
    let (mut process, urls) =
        Process::spawn_announcing(&mut command, Stop::Terminate, &["broker", "diag"]);
    let battery = process
        .wait_for_line(Duration::from_secs(10), |line| {
            line.trim_start().starts_with("battery ")
        })
        .expect("the banner names the battery");
    (process, battery, urls[0].clone(), urls[1].clone())
}

/// The shipped catalog plus `kia-e-niro-48kwh`, the e-Niro pack with 48 kWh usable.
fn parts(dir: &Path) {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../parts");
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let kia = std::fs::read_to_string(shipped.join("kia-e-niro-64kwh.toml")).unwrap();
    let smaller = kia
        .replace("id = \"kia-e-niro-64kwh\"", "id = \"kia-e-niro-48kwh\"")
        .replace("usable_energy = \"64 kWh\"", "usable_energy = \"48 kWh\"");
    std::fs::write(dir.join("kia-e-niro-48kwh.toml"), smaller).unwrap();
}

fn value(broker: &str, path: &str) -> serde_json::Value {
    let (code, stdout, stderr) = cli(&["get", "--broker", broker, "--json", path]);
    assert_eq!(code, 0, "tomoe get {path}: {stderr}");
    serde_json::from_str::<serde_json::Value>(stdout.trim()).unwrap()["value"].clone()
}

/// Waits until `check` holds for the value of `path`.
fn wait_for(broker: &str, path: &str, check: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let value = value(broker, path);
        if check(&value) {
            return;
        }
        assert!(Instant::now() < deadline, "{path} stays {value}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn swap(sovd: &str, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["service", "battery-swap", "--sovd", sovd];
    all.extend_from_slice(args);
    cli(&all)
}

const ID: &str = "Vehicle.Powertrain.TractionBattery.Id";
const NET: &str = "Vehicle.Powertrain.TractionBattery.NetCapacity";
const SOC: &str = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current";

#[test]
fn the_kia_pack_goes_into_the_kona_and_is_still_in_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("parts");
    parts(&catalog);
    let data = dir.path().join("data");
    let (up1, battery, broker, sovd) = up("hyundai-kona-ev-2019", &data, &catalog);
    let broker = broker.as_str();
    assert!(battery.contains("hyundai-kona-64kwh"), "{battery}");
    wait_for(broker, ID, |v| v == "hyundai-kona-64kwh");
    wait_for(broker, SOC, |v| v.as_f64().is_some_and(|soc| soc > 80.0));

    // A check only: the verdict, nothing changed.
    let (code, stdout, stderr) = swap(&sovd, &["--pack", "kia-e-niro-64kwh", "--check-only"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            "kia-e-niro-64kwh in hyundai-kona-ev-2019 (installed: hyundai-kona-64kwh): fits"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("check only: nothing was changed"),
        "{stdout}"
    );
    assert_eq!(value(broker, ID), "hyundai-kona-64kwh");

    // The swap, at 30 % state of charge.
    let (code, stdout, stderr) = swap(&sovd, &["--pack", "kia-e-niro-64kwh", "--soc", "30"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("swapped on components/bms: hyundai-kona-64kwh -> kia-e-niro-64kwh, at 30"),
        "{stdout}"
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("pass "))
            .count(),
        10,
        "{stdout}"
    );
    assert_eq!(value(broker, ID), "kia-e-niro-64kwh");
    assert_eq!(value(broker, NET), 64);
    // The simulated battery is the new pack, at its stated charge, and drives on.
    wait_for(broker, SOC, |v| v.as_f64().is_some_and(|soc| soc < 31.0));

    // A smaller pack: the capacity follows, in VSS and in the simulator.
    let (code, stdout, stderr) = swap(&sovd, &["--pack", "kia-e-niro-48kwh", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let status: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(status["status"], "completed");
    assert_eq!(status["parameters"]["fits"], true);
    assert_eq!(status["parameters"]["swap"]["old_pack"], "kia-e-niro-64kwh");
    assert_eq!(status["parameters"]["swap"]["soc_percent"], 50.0);
    assert_eq!(status["parameters"]["swap"]["who"], "anonymous:tomoe-cli");
    wait_for(broker, NET, |v| v == 48);
    wait_for(broker, SOC, |v| {
        v.as_f64().is_some_and(|soc| (45.0..=50.5).contains(&soc))
    });
    up1.stop();

    // A restart: the vehicle comes up with the swapped pack.
    let (up2, battery, broker, _) = up("hyundai-kona-ev-2019", &data, &catalog);
    assert!(battery.contains("kia-e-niro-48kwh"), "{battery}");
    wait_for(&broker, ID, |v| v == "kia-e-niro-48kwh");
    wait_for(&broker, NET, |v| v == 48);
    up2.stop();
    // The history: both swaps, with time, old and new pack and who.
    let history = tomoe_store::PackHistory::open(&data)
        .unwrap()
        .all()
        .unwrap();
    let swaps: Vec<(&str, &str, &str)> = history
        .iter()
        .map(|s| (s.old_pack.as_str(), s.new_pack.as_str(), s.who.as_str()))
        .collect();
    assert_eq!(
        swaps,
        [
            (
                "hyundai-kona-64kwh",
                "kia-e-niro-64kwh",
                "anonymous:tomoe-cli"
            ),
            (
                "kia-e-niro-64kwh",
                "kia-e-niro-48kwh",
                "anonymous:tomoe-cli"
            ),
        ]
    );
    assert!(history
        .iter()
        .all(|s| s.vehicle == "hyundai-kona-ev-2019" && s.time_ms > 0));
    assert_eq!(history[0].soc_percent, 30.0);
}

#[test]
fn the_honda_e_pack_is_refused_by_the_leaf_and_bad_requests_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("parts");
    parts(&catalog);
    let data = dir.path().join("data");
    let (up, battery, broker, sovd) = up("nissan-leaf-2018", &data, &catalog);
    let broker = broker.as_str();
    assert!(battery.contains("nissan-leaf-40kwh"), "{battery}");
    wait_for(broker, ID, |v| v == "nissan-leaf-40kwh");

    let (code, stdout, stderr) = swap(&sovd, &["--pack", "honda-e-35kwh"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(
            "honda-e-35kwh in nissan-leaf-2018 (installed: nissan-leaf-40kwh): does not fit"
        ),
        "{stdout}"
    );
    let failed: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("FAIL "))
        .map(|l| l.split(':').next().unwrap().trim())
        .collect();
    assert_eq!(
        failed,
        ["mounting", "hv-connector", "cooling", "bms-protocol"]
    );
    assert!(
        stderr.contains("battery-swap on components/lbc failed"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert!(!stdout.contains("check only"), "{stdout}");
    for check in &failed {
        assert!(stderr.contains(check), "{stderr}");
    }

    // Over plain HTTP: the execution failed, with the verdict.
    let http = reqwest::blocking::Client::new();
    let executions = format!("{sovd}/components/lbc/operations/battery-swap/executions");
    let started = http
        .post(&executions)
        .json(&serde_json::json!({"parameters": {"pack": "honda-e-35kwh"}}))
        .send()
        .unwrap();
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let origin = sovd.trim_end_matches("/sovd/v1");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status: serde_json::Value = http
            .get(format!("{origin}{location}"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if status["status"] != "running" {
            break status;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status["status"], "failed");
    assert_eq!(status["parameters"]["fits"], false);
    assert_eq!(
        status["parameters"]["reasons"].as_array().unwrap().len(),
        10
    );
    let message = status["error"][0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("does not fit vehicle nissan-leaf-2018"),
        "{message}"
    );

    // Bad input: a clear 400, no execution.
    for (body, expected) in [
        (
            r#"{"parameters": {"pack": "no-such-pack"}}"#,
            "\"no-such-pack\" is not in the parts catalog",
        ),
        (
            r#"{"parameters": {"pack": "honda-e-charger"}}"#,
            "is a charger, not a battery pack",
        ),
        (
            r#"{"parameters": {"pack": "nissan-leaf-e-plus-62kwh", "soc": 140}}"#,
            "soc must be a percentage",
        ),
        (
            r#"{"parameters": {"pak": "honda-e-35kwh"}}"#,
            "unknown field `pak`",
        ),
        (r#"{"parameters": {}}"#, "missing field `pack`"),
        (r#"{"parameters": "#, "not valid JSON"),
    ] {
        let response = http
            .post(&executions)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let problem: serde_json::Value = response.json().unwrap();
        let text = problem["message"].as_str().unwrap_or_default();
        assert!(text.contains(expected), "{body}: {problem}");
    }
    let (code, _, stderr) = swap(&sovd, &["--pack", "no-such-pack"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("\"no-such-pack\" is not in the parts catalog"),
        "{stderr}"
    );

    // Nothing changed, nothing was stored.
    assert_eq!(value(broker, ID), "nissan-leaf-40kwh");
    up.stop();
    let history = tomoe_store::PackHistory::open(&data).unwrap();
    assert!(history.all().unwrap().is_empty());
}
