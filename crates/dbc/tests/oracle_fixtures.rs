//! Decoded values equal those of cantools, the reference decoder, frame by frame.
//!
//! The fixtures are oracle output for a representative subset of real logs (see
//! `fixtures/oracle/README.md`); each line carries the frame's bytes, so the test
//! needs only the DBC. `scripts/oracle-check.sh` compares every frame of the logs.

use std::path::PathBuf;

use serde_json::Value as Json;
use tomoe_dbc::Database;

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Decodes every fixture frame and compares each signal exactly.
fn check(fixture: &str, dbc: &str) {
    let Some(dbc_path) = tomoe_test_support::shared(format!("dbc/{dbc}")) else {
        return;
    };
    let database = Database::from_file(&dbc_path).unwrap();
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/oracle")
            .join(fixture),
    )
    .unwrap();
    let mut frames = 0;
    let mut values = 0;
    for (number, line) in text.lines().enumerate() {
        let expected: Json = serde_json::from_str(line).unwrap();
        let id = expected["id"].as_u64().unwrap() as u32;
        let extended = expected["ext"].as_bool().unwrap_or(false);
        let data = hex_bytes(expected["data"].as_str().unwrap());
        let message = database
            .message_for(id, extended)
            .unwrap_or_else(|| panic!("{fixture}:{}: no message {id:#x}", number + 1));
        assert_eq!(
            message.name(),
            expected["message"].as_str().unwrap(),
            "{fixture}:{}",
            number + 1
        );
        let mut decoded = Vec::new();
        let complete = message.decode(&data, |index, value| {
            decoded.push((message.signals()[index].name().to_owned(), value))
        });
        assert!(
            complete,
            "{fixture}:{}: frame decoded incompletely",
            number + 1
        );
        let signals = expected["signals"].as_object().unwrap();
        assert_eq!(
            decoded.len(),
            signals.len(),
            "{fixture}:{}: signal count",
            number + 1
        );
        for (name, value) in decoded {
            let want = signals[&name].as_f64().unwrap();
            assert!(
                value == want,
                "{fixture}:{} {} {name}: tomoe {value:?} != cantools {want:?}",
                number + 1,
                message.name()
            );
            values += 1;
        }
        frames += 1;
    }
    assert!(frames > 500, "{fixture}: only {frames} frames");
    eprintln!("{fixture}: {frames} frames, {values} values equal to cantools");
}

#[test]
fn kona_2019_pcan_matches_cantools() {
    check("kona2019_pcan.jsonl", "kona-ev-dbc/pcan.dbc");
}

#[test]
fn kona_2021_pcan_matches_cantools() {
    check("kona2021_pcan.jsonl", "kona-ev-dbc/pcan.dbc");
}

#[test]
fn rav4_powertrain_matches_cantools() {
    check(
        "rav4_pt_can0.jsonl",
        "opendbc/toyota_new_mc_pt_generated.dbc",
    );
}

#[test]
fn rav4_radar_matches_cantools() {
    check("rav4_adas_can1.jsonl", "opendbc/toyota_adas.dbc");
}

/// Frames cantools refuses because they are shorter than the DBC says: Tomoe decodes
/// the signals that lie wholly within the received bytes and reports the frame as
/// incomplete.
#[test]
fn short_frames_decode_what_they_hold() {
    let Some(dbc_path) = tomoe_test_support::shared("dbc/kona-ev-dbc/pcan.dbc") else {
        return;
    };
    let database = Database::from_file(&dbc_path).unwrap();
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/oracle/kona2019_pcan.errors.jsonl"),
    )
    .unwrap();
    for line in text.lines() {
        let refused: Json = serde_json::from_str(line).unwrap();
        let id = refused["id"].as_u64().unwrap() as u32;
        let data = hex_bytes(refused["data"].as_str().unwrap());
        let message = database.message_for(id, false).unwrap();
        let mut present = 0;
        let complete = message.decode(&data, |_, _| present += 1);
        if data.len() < message.size() {
            let fitting = message
                .signals()
                .iter()
                .filter(|s| s.needed_len() <= data.len())
                .count();
            assert_eq!(present, fitting, "{line}");
            assert_eq!(complete, fitting == message.signals().len(), "{line}");
        }
    }
}
