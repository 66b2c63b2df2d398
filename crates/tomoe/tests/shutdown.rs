//! Stopping while clients are connected: `tomoe serve` (SIGTERM) and `tomoe up`
//! (Ctrl-C, SIGINT) stop promptly whatever their clients do, and every open
//! stream is told why it ends. A subscriber used to keep both alive for minutes.

mod support;

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::{cli, tomoe_bin, ServerProcess};
use tomoe_test_support::{sibling_binary, Process, Stop};

/// Far above the 2 s the server allows its connections; a hang takes minutes.
const LIMIT: Duration = Duration::from_secs(15);

fn signal(child: &Child, signal: Signal) {
    kill(Pid::from_raw(child.id() as i32), signal).expect("the process is running");
}

/// Waits up to [`LIMIT`] for `child` to end.
fn ended(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + LIMIT;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// A `tomoe subscribe` of `Vehicle.Speed` on `broker`, once it has its first update.
fn subscriber(broker: &str) -> Process {
    let mut command = Command::new(tomoe_bin());
    command
        .args(["subscribe", "--broker", broker, "Vehicle.Speed"])
        .env_remove("TOMOE_TOKEN")
        .stderr(Stdio::piped());
    let mut process = Process::spawn(&mut command, Stop::Kill);
    process
        .wait_for_line(Duration::from_secs(30), |line| {
            line.starts_with("Vehicle.Speed")
        })
        .expect("the subscription delivers its first update");
    process
}

fn stderr_of(process: &mut Process) -> String {
    let mut text = String::new();
    if let Some(mut stderr) = process.child_mut().stderr.take() {
        std::io::Read::read_to_string(&mut stderr, &mut text).ok();
    }
    text
}

/// Stops `server` with `how` while `subscriber` is subscribed, and checks that
/// both end and the subscriber was told why.
fn stops_with_a_subscriber(server: &mut Process, mut subscriber: Process, how: Signal) {
    signal(server.child_mut(), how);
    let status = ended(server.child_mut());
    assert!(
        status.is_some_and(|status| status.success()),
        "the server did not stop cleanly within {LIMIT:?} of {how}: {status:?}"
    );
    let status = ended(subscriber.child_mut());
    assert!(
        status.is_some_and(|status| !status.success()),
        "the subscriber did not end: {status:?}"
    );
    let stderr = stderr_of(&mut subscriber);
    assert!(
        stderr.contains("the broker is shutting down"),
        "the subscriber was not told why its stream ended: {stderr}"
    );
}

#[test]
fn serve_stops_on_sigterm_while_a_client_is_subscribed() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &["--insecure"]);
    let subscriber = subscriber(&server.url);
    stops_with_a_subscriber(server.process_mut(), subscriber, Signal::SIGTERM);
}

#[test]
fn up_stops_on_ctrl_c_while_a_client_is_subscribed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut up, broker, runtime) = support::up_idle(dir.path(), Stop::Kill);
    // A workload runs under the runtime: a clean stop stops it too (docs/runtime.md).
    let workload = sibling_binary(tomoe_bin(), "test-workload", "tomoe-test-workload");
    let manifest = dir.path().join("app.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: tomoe.dev/v1\nworkloads:\n  - name: app\n    command: {}\n    args: [run]\n",
            workload.display()
        ),
    )
    .unwrap();
    let runtime = ["--runtime", runtime.as_str()];
    let (code, _, stderr) =
        cli(&[&["apply"][..], &runtime, &[manifest.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{stderr}");
    let deadline = Instant::now() + LIMIT;
    let pid = loop {
        let (_, stdout, _) = cli(&[&["ps", "--json"][..], &runtime].concat());
        let list: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_default();
        if let Some(pid) = list[0]["pid"].as_u64() {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "the workload did not start: {stdout}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let subscriber = subscriber(&broker);
    stops_with_a_subscriber(&mut up, subscriber, Signal::SIGINT);
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let running = state
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .is_some_and(|state| state != "Z");
    assert!(
        !running,
        "the workload {pid} still runs after `tomoe up` stopped: {state}"
    );
}
