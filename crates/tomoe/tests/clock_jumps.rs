//! The wall clock jumps forward and back under a running `tomoe up` (as when a
//! vehicle's time is set from GNSS or the network after boot): the platform keeps
//! serving, subscriptions keep delivering, apps are not restarted and their health
//! checks (on the monotonic clock) do not fire, and timestamps follow the new time.
//!
//! The jumps come from libfaketime (Debian's `faketime` package; CI installs it),
//! preloaded into `tomoe up` only, with the monotonic clock left real, as a real
//! clock step does. Without libfaketime the test says it skipped, unless
//! `TOMOE_REQUIRE_SHARED` is set, as CI sets it.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use support::{cli, tomoe_bin, up_idle_with};
use tomoe_test_support::{sibling_binary, Stop};

const DAY: u64 = 24 * 3600;

fn libfaketime() -> Option<PathBuf> {
    let found = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|path| path.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("TOMOE_REQUIRE_SHARED").is_none(),
            "libfaketime is not installed (apt-get install faketime), and CI requires this test"
        );
        eprintln!("skipped: libfaketime is not installed (apt-get install faketime)");
    }
    found
}

/// Sets the offset of the faked wall clock, e.g. `+2d`.
fn jump(clock: &Path, offset: &str) {
    std::fs::write(clock, format!("{offset}\n")).unwrap();
}

/// The workload's state, health and restarts from `tomoe ps --json`.
fn app(runtime: &str) -> (String, String, u64) {
    let (code, stdout, stderr) = cli(&["ps", "--runtime", runtime, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let all: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let app = all
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "app")
        .cloned()
        .unwrap_or_default();
    (
        app["state"].as_str().unwrap_or_default().to_owned(),
        app["health"].as_str().unwrap_or_default().to_owned(),
        app["restarts"].as_u64().unwrap_or_default(),
    )
}

/// The broker's timestamp of `path`, as seconds since the epoch.
fn timestamp_of(broker: &str, path: &str) -> f64 {
    let (code, stdout, stderr) = cli(&["get", "--broker", broker, "--json", path]);
    assert_eq!(code, 0, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let text = value["timestamp"].as_str().unwrap_or_default().to_owned();
    humantime::parse_rfc3339(&text)
        .unwrap_or_else(|e| panic!("timestamp {text:?} of {path}: {e}"))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
#[cfg(target_os = "linux")]
fn the_platform_rides_out_clock_jumps_forward_and_back() {
    let Some(faketime) = libfaketime() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let clock = dir.path().join("clock");
    jump(&clock, "+0");
    let (_up, broker, runtime) = up_idle_with(
        &dir.path().join("data"),
        Stop::Terminate,
        &[
            ("LD_PRELOAD", faketime.as_os_str()),
            ("FAKETIME_TIMESTAMP_FILE", clock.as_os_str()),
            ("FAKETIME_NO_CACHE", "1".as_ref()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".as_ref()),
        ],
    );
    let (broker, runtime) = (&broker, &runtime);

    let workload = sibling_binary(tomoe_bin(), "test-workload", "tomoe-test-workload");
    let manifest = dir.path().join("app.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: tomoe.dev/v1\nworkloads:\n  - name: app\n    command: {}\n    args: [run, --heartbeat-ms, \"200\"]\n    health: {{heartbeat: {{deadlineMs: 1500}}, startupGraceMs: 500}}\n",
            workload.display()
        ),
    )
    .unwrap();
    let (code, _, stderr) = cli(&["apply", "--runtime", runtime, manifest.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while app(runtime) != ("running".into(), "healthy".into(), 0) {
        assert!(Instant::now() < deadline, "the app is {:?}", app(runtime));
        std::thread::sleep(Duration::from_millis(100));
    }

    // A subscriber outside the faked clock, printing every change.
    let mut subscriber = Command::new(tomoe_bin())
        .args(["subscribe", "--broker", broker, "Vehicle.Speed"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    let stdout = subscriber.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });

    for (step, (offset, shift)) in [("+2d", 2.0), ("-2d", -2.0), ("+0", 0.0)]
        .into_iter()
        .enumerate()
    {
        jump(&clock, offset);
        // Longer than the heartbeat deadline: a health check on the wall clock
        // would fire now.
        std::thread::sleep(Duration::from_secs(3));
        let speed = format!("{}", 10 + step);
        let (code, _, stderr) = cli(&["set", "--broker", broker, "Vehicle.Speed", &speed]);
        assert_eq!(code, 0, "after jumping {offset}: {stderr}");
        let seen = std::iter::from_fn(|| received.recv_timeout(Duration::from_secs(10)).ok())
            .find(|line| line.contains(&speed));
        assert!(
            seen.is_some(),
            "after jumping {offset}, the subscriber saw no {speed}"
        );
        let skew = timestamp_of(broker, "Vehicle.Speed") - now();
        let expected = shift * DAY as f64;
        assert!(
            (skew - expected).abs() < 120.0,
            "after jumping {offset}, the broker's timestamp is {skew:.0} s from real time, not {expected:.0}"
        );
        assert_eq!(
            app(runtime),
            ("running".into(), "healthy".into(), 0),
            "after jumping {offset}, the app was disturbed"
        );
    }
    let _ = subscriber.kill();
    let _ = subscriber.wait();
}
