//! The test workload as a real process, against an in-process broker and a
//! stand-in runtime API.

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tomoe_grpc::Authorization;
use tomoe_test_support::broker::start_broker;
use tomoe_test_support::closed_port_url;
use tomoe_test_support::http::RuntimeStandIn;

/// The workload command with a clean TOMOE_* environment plus `env`.
fn workload(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_test-workload"));
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("TOMOE_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.kill_on_drop(true);
    command
}

/// Runs to the end; returns (exit code, stdout, stderr).
async fn output(mut command: Command) -> (i32, String, String) {
    let output = tokio::time::timeout(Duration::from_secs(20), command.output())
        .await
        .expect("the workload ends within 20 s")
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn env_prints_the_tomoe_variables_sorted() {
    let command = workload(
        &["env"],
        &[
            ("TOMOE_WORKLOAD", "w1"),
            ("TOMOE_BROKER", "http://b"),
            ("OTHER", "x"),
        ],
    );
    let (code, stdout, _) = output(command).await;
    assert_eq!(code, 0);
    assert_eq!(stdout, "TOMOE_BROKER=http://b\nTOMOE_WORKLOAD=w1\n");
}

#[tokio::test]
async fn run_exits_with_the_code_after_the_delay() {
    let command = workload(
        &["run", "--exit-after-ms", "50", "--exit-code", "7"],
        &[("TOMOE_WORKLOAD", "w1")],
    );
    let (code, stdout, _) = output(command).await;
    assert_eq!(code, 7);
    let mut lines = stdout.lines();
    let started = lines.next().unwrap();
    assert!(started.starts_with("started w1 pid "), "{stdout}");
    assert!(
        started["started w1 pid ".len()..].parse::<u32>().is_ok(),
        "{stdout}"
    );
    assert_eq!(lines.next(), Some("exiting with code 7"));
}

#[tokio::test]
async fn run_stops_on_sigterm() {
    let mut command = workload(&["run"], &[("TOMOE_WORKLOAD", "w2")]);
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = lines.next_line().await.unwrap().unwrap();
    assert_eq!(started, format!("started w2 pid {}", child.id().unwrap()));
    let pid = Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let stopping = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stopping.as_deref(), Some("stopping"));
    assert_eq!(child.wait().await.unwrap().code(), Some(0));
}

#[tokio::test]
async fn run_heartbeats_then_stops_heartbeating() {
    let runtime = RuntimeStandIn::start(|_| true).await;
    let url = runtime.url();
    let command = workload(
        &[
            "run",
            "--heartbeat-ms",
            "20",
            "--stop-heartbeat-after-ms",
            "300",
            "--exit-after-ms",
            "700",
        ],
        &[
            ("TOMOE_WORKLOAD", "w3"),
            ("TOMOE_RUNTIME", url),
            ("TOMOE_TOKEN", "tok"),
        ],
    );
    let (code, stdout, stderr) = output(command).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("heartbeat stopped\n"), "{stdout}");
    let seen = runtime.heartbeats();
    assert!(seen.len() >= 3, "{seen:?}");
    // 300 ms at one beat per 20 ms: well under the 35 beats of the full 700 ms.
    assert!(seen.len() <= 20, "{seen:?}");
    for (path, authorization) in seen.iter() {
        assert_eq!(path, "/v1/workloads/w3/heartbeat");
        assert_eq!(authorization.as_deref(), Some("Bearer tok"));
    }
}

#[tokio::test]
async fn read_and_publish_go_through_the_broker() {
    let url = start_broker(Authorization::AllowAll).await;
    let env = [("TOMOE_BROKER", url.as_str())];
    let (code, stdout, _) = output(workload(&["read", "Vehicle.Speed"], &env)).await;
    assert_eq!((code, stdout.as_str()), (0, "value=(no value)\n"));
    let (code, stdout, _) = output(workload(&["publish", "Vehicle.Speed", "42.5"], &env)).await;
    assert_eq!(
        (code, stdout.as_str()),
        (0, "published Vehicle.Speed=42.5\n")
    );
    let (code, stdout, _) = output(workload(&["read", "Vehicle.Speed"], &env)).await;
    assert_eq!((code, stdout.as_str()), (0, "value=42.5\n"));
    let (code, stdout, _) = output(workload(&["read", "Vehicle.Nope"], &env)).await;
    assert_eq!(
        (code, stdout.as_str()),
        (3, "error=path not found: \"Vehicle.Nope\"\n")
    );
    // The range estimate has min 0: the broker's own message comes through.
    let (code, stdout, _) = output(workload(
        &["publish", "Vehicle.Tomoe.RangeEstimate", "-1"],
        &env,
    ))
    .await;
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.starts_with("error=") && stdout.contains("Vehicle.Tomoe.RangeEstimate"),
        "{stdout}"
    );
}

#[tokio::test]
async fn read_without_a_broker_fails_with_code_1() {
    let url = closed_port_url();
    let (code, stdout, stderr) = output(workload(
        &["read", "Vehicle.Speed"],
        &[("TOMOE_BROKER", &url)],
    ))
    .await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stderr.contains("cannot connect to the broker"), "{stderr}");
}
