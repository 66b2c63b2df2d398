//! CAN supervision over the real Kona log, with a gap cut into it.

use std::path::{Path, PathBuf};

use tomoe_can::CandumpReader;
use tomoe_dbc::Database;
use tomoe_diag::{CanSupervisor, DiagnosticsSpec, Entity, SupervisedBus, TestResult};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kona_log() -> Option<PathBuf> {
    let log = root()
        .join("../shared/data/logs/kona-ev/230112-7-2019-pcan-ccan-power-off-on-ready-off.log");
    if log.exists() {
        return Some(log);
    }
    assert!(
        std::env::var_os("TOMOE_REQUIRE_SHARED").is_none(),
        "{} is missing and TOMOE_REQUIRE_SHARED is set",
        log.display()
    );
    eprintln!("skipped: {} is missing", log.display());
    None
}

#[test]
fn a_gap_in_the_kona_log_raises_and_heals_lost_communication() {
    let Some(log) = kona_log() else { return };
    let profile = root().join("profiles/hyundai-kona-ev-2019");
    let spec = DiagnosticsSpec::read(&profile.join("diagnostics.toml")).unwrap();
    let database = Database::from_file(&profile.join("pcan.dbc")).unwrap();
    let bus = SupervisedBus {
        name: "pcan",
        channel: "can0",
        database: &database,
    };
    let mut supervisor = CanSupervisor::new(&spec, &[bus]).unwrap();

    // The BMS sends every 100 ms from 1955.8 s to 1962.7 s; cut 1958.0 .. 1959.0.
    let (gap_start, gap_end) = (1958.0, 1959.0);
    let mut reader = CandumpReader::open(&log).unwrap();
    let mut reports = Vec::new();
    let mut events = Vec::new();
    let mut last = 0.0;
    while let Some(frame) = reader.read_frame() {
        let frame = frame.unwrap();
        let t = frame.timestamp();
        if (gap_start..gap_end).contains(&t) {
            continue;
        }
        if t > 1962.0 {
            // The car is being switched off; stop before its ECUs go quiet.
            break;
        }
        supervisor.check(t, &mut reports);
        supervisor.observe(&frame, t, &mut reports);
        for report in reports.drain(..) {
            events.push((t, report));
        }
        last = t;
    }
    assert!(last > 1961.9);
    let bms: Vec<_> = events
        .iter()
        .filter(|(_, r)| r.entity == Entity::Component("bms".into()))
        .collect();
    assert_eq!(bms.len(), 2, "one failure and one heal: {events:#?}");
    let (failed_at, failure) = &bms[0];
    assert_eq!(failure.code.as_str(), "U0111");
    assert_eq!(
        failure.name,
        "Lost communication with Battery management system"
    );
    let TestResult::Failed { environment, .. } = &failure.result else {
        panic!("the first report is the failure")
    };
    assert_eq!(environment["cycle_source"], "observed");
    assert_eq!(environment["cycle_ms"], "100");
    // Detected when the first frame after the gap arrives (nothing else ticks here).
    assert!((gap_end..gap_end + 0.1).contains(failed_at), "{failed_at}");
    let (healed_at, heal) = &bms[1];
    assert_eq!(heal.result, TestResult::Passed);
    assert!(*healed_at < gap_end + 0.2, "{healed_at}");
    // Every ECU that was silent during the gap raised and healed its code; none
    // raised one elsewhere in the log.
    for (t, report) in &events {
        assert!((gap_end..gap_end + 0.3).contains(t), "{t}: {report:?}");
    }
}

#[test]
fn a_message_missing_from_the_dbc_is_refused() {
    let profile = root().join("profiles/hyundai-kona-ev-2019");
    let database = Database::from_file(&profile.join("pcan.dbc")).unwrap();
    let spec = DiagnosticsSpec::parse(
        "[[ecu]]\nid = \"x\"\nname = \"X\"\nbus = \"pcan\"\nmessages = [\"NOPE\"]\nlost_communication = \"U0100\"\n",
        "test",
    )
    .unwrap();
    let bus = SupervisedBus {
        name: "pcan",
        channel: "can0",
        database: &database,
    };
    let error = CanSupervisor::new(&spec, &[bus]).unwrap_err().to_string();
    assert!(error.contains("no message NOPE"), "{error}");
}

#[test]
fn frames_are_counted_with_unknown_ids_decode_errors_and_counter_skips() {
    let dbc = "VERSION \"\"\n\nBU_: ECU\n\nBO_ 256 STATUS: 2 ECU\n SG_ VALUE : 0|8@1+ (1,0) [0|255] \"\" Vector__XXX\n SG_ COUNTER : 8|4@1+ (1,0) [0|15] \"\" Vector__XXX\n\n";
    let database = Database::from_text(dbc, "test.dbc").unwrap();
    let spec = DiagnosticsSpec::default();
    let bus = SupervisedBus {
        name: "pt",
        channel: "can0",
        database: &database,
    };
    let mut supervisor = CanSupervisor::new(&spec, &[bus]).unwrap();
    let stats = supervisor.stats();
    let mut reports = Vec::new();
    let frame = |id: u32, data: &[u8]| tomoe_can::Frame::new("can0", id, false, data).unwrap();
    // Counter 14, 15, 0 (wraps), 2 (skips 1), then a repeat of 2.
    for (t, counter) in [14u8, 15, 0, 2, 2].into_iter().enumerate() {
        supervisor.observe(&frame(0x100, &[7, counter]), t as f64, &mut reports);
    }
    supervisor.observe(&frame(0x100, &[7]), 6.0, &mut reports);
    supervisor.observe(&frame(0x7FF, &[0; 8]), 7.0, &mut reports);
    // Another channel is not this bus.
    supervisor.observe(
        &tomoe_can::Frame::new("can1", 0x100, false, &[0, 0]).unwrap(),
        8.0,
        &mut reports,
    );
    let counters = stats.bus("pt").unwrap();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(load(&counters.frames), 7);
    assert_eq!(load(&counters.counter_errors), 2);
    assert_eq!(load(&counters.decode_errors), 1);
    assert_eq!(load(&counters.unknown_ids), 1);
    assert!(reports.is_empty());
}
