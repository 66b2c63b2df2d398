//! The CAN and profile commands, as a user runs them.

mod support;

use std::path::PathBuf;

use support::{cli, ServerProcess};
use tomoe_test_support::shared;

#[test]
fn can_decode_writes_one_json_object_per_decoded_frame() {
    let (Some(dbc), Some(log)) = (
        shared("dbc/kona-ev-dbc/pcan.dbc"),
        shared("logs/kona-ev/221217-1-2021-pcan-bcan-no-key.log"),
    ) else {
        return;
    };
    let (code, stdout, stderr) = cli(&[
        "can",
        "decode",
        "--dbc",
        dbc.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
        "--channel",
        "can0",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The reference decoder decodes 8248 frames of this log's can0 (see the oracle fixtures).
    assert_eq!(lines.len(), 8248);
    let first = &lines[0];
    for field in ["t", "channel", "id", "message", "signals"] {
        assert!(first.get(field).is_some(), "missing {field} in {first}");
    }
    assert_eq!(first["channel"], "can0");
    assert!(
        stderr.contains("not followed by the BS_: and BU_: sections"),
        "the DBC defect is reported: {stderr}"
    );
}

#[test]
fn can_decode_reports_a_missing_dbc() {
    let (code, _, stderr) = cli(&[
        "can",
        "decode",
        "--dbc",
        "no/such.dbc",
        "--log",
        "no/such.log",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cannot read DBC file no/such.dbc"),
        "{stderr}"
    );
}

#[test]
fn profile_list_shows_the_shipped_vehicles() {
    let (code, stdout, stderr) = cli(&["profile", "list", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let profiles: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let ids: Vec<&str> = profiles
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    for id in [
        "honda-e-2020",
        "hyundai-kona-ev-2019",
        "nissan-leaf-2018",
        "tesla-model3",
        "toyota-rav4-2017",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
}

#[test]
fn profile_check_passes_shipped_profiles_and_names_broken_rules() {
    let (code, stdout, stderr) = cli(&["profile", "check", "hyundai-kona-ev-2019"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("0 errors"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let shipped =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../profiles/hyundai-kona-ev-2019");
    std::fs::copy(shipped.join("pcan.dbc"), dir.path().join("pcan.dbc")).unwrap();
    std::fs::write(
        dir.path().join("profile.toml"),
        "id = \"broken\"\nbrand = \"Test\"\nmodel = \"Broken\"\nyear = 2026\n[catalog]\nvss = \"embedded\"\n[[bus]]\nname = \"pcan\"\nchannel = \"can0\"\ndbc = \"pcan.dbc\"\nmapping = \"mapping.vspec\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mapping.vspec"),
        "Vehicle.Speed:\n  type: sensor\n  datatype: float\n  dbc2vss:\n    signal: NoSuchSignal\nVehicle.NoSuchPath:\n  type: sensor\n  datatype: float\n  dbc2vss:\n    signal: WHL_SPD_RL\n",
    )
    .unwrap();
    let (code, stdout, stderr) = cli(&["profile", "check", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("error: [pcan] \"Vehicle.Speed\" (DBC signal \"NoSuchSignal\"): the signal is not in pcan.dbc"), "{stdout}");
    assert!(stdout.contains("error: [pcan] \"Vehicle.NoSuchPath\" (DBC signal \"WHL_SPD_RL\"): the VSS path is not in the catalog"), "{stdout}");
    assert!(stderr.contains("has 2 error(s)"), "{stderr}");
}

#[tokio::test]
async fn can_replay_publishes_into_a_running_broker() {
    let Some(log) = shared("logs/kona-ev/230112-7-2019-pcan-ccan-power-off-on-ready-off.log")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--insecure"]);
    let (code, stdout, stderr) = cli(&[
        "can",
        "replay",
        "--profile",
        "hyundai-kona-ev-2019",
        "--log",
        log.to_str().unwrap(),
        "--speed",
        "0",
        "--broker",
        &server.url,
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let stats: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        stats["frames"], 24263,
        "only can0 frames are replayed for this profile: {stats}"
    );
    let (code, stdout, stderr) = cli(&[
        "get",
        "--broker",
        &server.url,
        "--json",
        "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let reading: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let soc = reading["value"].as_f64().unwrap();
    assert!((30.0..=40.0).contains(&soc), "{reading}");
}
