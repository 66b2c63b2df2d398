//! The runtime with real processes (`sh` and `sleep`).

use std::path::Path;
use std::time::{Duration, Instant};

use tomoe_runtime::{Manifest, Runtime, RuntimeConfig, WorkloadStatus};
use tomoe_types::{VehicleMode, WorkloadHealth, WorkloadState};

fn config(dir: &Path) -> RuntimeConfig {
    RuntimeConfig {
        data_dir: dir.to_owned(),
        broker_url: "http://127.0.0.1:1".into(),
        runtime_url: "http://127.0.0.1:1".into(),
        log_limit_bytes: 64 * 1024,
        stop_timeout: Duration::from_secs(2),
        tokens: None,
    }
}

async fn status(runtime: &Runtime, name: &str) -> WorkloadStatus {
    runtime
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

/// Waits (bounded) until `check` holds for the workload's status.
async fn wait_for(
    runtime: &Runtime,
    name: &str,
    what: &str,
    check: impl Fn(&WorkloadStatus) -> bool,
) -> WorkloadStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let current = status(runtime, name).await;
        if check(&current) {
            return current;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became {what}: {current:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn manifest(text: &str) -> Manifest {
    Manifest::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn dependencies_start_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let order = dir.path().join("order.txt");
    let runtime = Runtime::start(config(dir.path()), VehicleMode::Parked).unwrap();
    let text = format!(
        r#"
apiVersion: tomoe.dev/v1
workloads:
  - {{name: c, command: sh, args: ["-c", "echo c >> {o}; exec sleep 30"], dependsOn: [{{workload: b}}]}}
  - {{name: a, command: sh, args: ["-c", "sleep 0.3; echo a >> {o}; exec sleep 30"]}}
  - {{name: b, command: sh, args: ["-c", "echo b >> {o}; exec sleep 30"], dependsOn: [{{workload: a}}]}}
"#,
        o = order.display()
    );
    runtime.apply(manifest(&text)).await.unwrap();
    for name in ["a", "b", "c"] {
        wait_for(&runtime, name, "running", |s| {
            s.state == WorkloadState::Running
        })
        .await;
    }
    // b starts only once a is running, c once b is: their lines follow a's.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&order)
        .unwrap_or_default()
        .lines()
        .count()
        < 3
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c = status(&runtime, "c").await;
    let b = status(&runtime, "b").await;
    let a = status(&runtime, "a").await;
    assert!(
        a.uptime_s.unwrap() >= b.uptime_s.unwrap() && b.uptime_s.unwrap() >= c.uptime_s.unwrap(),
        "{a:?} {b:?} {c:?}"
    );
    for name in ["a", "b", "c"] {
        runtime.delete_workload(name).await.unwrap();
    }
}

#[tokio::test]
async fn a_crashing_app_backs_off_then_crash_loops_without_disturbing_others() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::start(config(dir.path()), VehicleMode::Parked).unwrap();
    runtime
        .apply(manifest(
            r#"
apiVersion: tomoe.dev/v1
workloads:
  - name: steady
    command: sleep
    args: ["30"]
  - name: crasher
    command: sh
    args: ["-c", "echo failing; exit 3"]
    restart: {policy: on-failure, initialBackoffMs: 100, maxBackoffMs: 400, crashLoopLimit: 4}
"#,
        ))
        .await
        .unwrap();
    let steady = wait_for(&runtime, "steady", "running", |s| {
        s.state == WorkloadState::Running
    })
    .await;
    let started = Instant::now();
    let crashed = wait_for(&runtime, "crasher", "crash-looping", |s| {
        s.state == WorkloadState::CrashLooping
    })
    .await;
    // Backoff 100 + 200 + 400 ms between the four runs.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "restarted without backoff"
    );
    assert_eq!(crashed.restarts, 3);
    assert_eq!(crashed.consecutive_failures, 4);
    assert_eq!(crashed.last_exit.as_deref(), Some("exit code 3"));
    assert_eq!(
        crashed.reason,
        "4 failed runs in a row, the last: exit code 3; `tomoe start` tries again"
    );
    let log = std::fs::read_to_string(&crashed.log).unwrap();
    assert_eq!(log.lines().filter(|l| *l == "failing").count(), 4);
    // The steady workload was never touched.
    let after = status(&runtime, "steady").await;
    assert_eq!((after.pid, after.restarts), (steady.pid, 0));
    runtime.delete_workload("steady").await.unwrap();
}

#[tokio::test]
async fn a_hung_app_without_heartbeats_is_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::start(config(dir.path()), VehicleMode::Parked).unwrap();
    runtime
        .apply(manifest(
            r#"
apiVersion: tomoe.dev/v1
workloads:
  - name: hung
    command: sleep
    args: ["30"]
    health: {heartbeat: {deadlineMs: 300}, startupGraceMs: 200}
    restart: {initialBackoffMs: 50, maxBackoffMs: 100}
"#,
        ))
        .await
        .unwrap();
    let first = wait_for(&runtime, "hung", "running", |s| {
        s.state == WorkloadState::Running
    })
    .await;
    let restarted = wait_for(&runtime, "hung", "restarted", |s| {
        s.restarts >= 1 && s.state == WorkloadState::Running
    })
    .await;
    assert_ne!(first.pid, restarted.pid);
    assert!(
        restarted
            .last_exit
            .as_deref()
            .unwrap_or("")
            .contains("no heartbeat"),
        "{restarted:?}"
    );
    // A heartbeat keeps it alive.
    for _ in 0..10 {
        runtime.heartbeat("hung", None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kept = status(&runtime, "hung").await;
    assert_eq!(
        (kept.pid, kept.health),
        (restarted.pid, WorkloadHealth::Healthy)
    );
    runtime.delete_workload("hung").await.unwrap();
}

#[tokio::test]
async fn a_cyclic_manifest_is_refused_and_running_workloads_stay() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::start(config(dir.path()), VehicleMode::Parked).unwrap();
    runtime.apply(manifest("apiVersion: tomoe.dev/v1\nworkloads:\n  - {name: keep, command: sleep, args: [\"30\"]}\n")).await.unwrap();
    let before = wait_for(&runtime, "keep", "running", |s| {
        s.state == WorkloadState::Running
    })
    .await;
    let cyclic = "apiVersion: tomoe.dev/v1\nworkloads:\n  - {name: x, command: sleep, dependsOn: [{workload: y}]}\n  - {name: y, command: sleep, dependsOn: [{workload: x}]}\n";
    let error = Manifest::parse(cyclic).unwrap_err();
    assert!(
        error.to_string().contains("dependency cycle: x -> y -> x"),
        "{error}"
    );
    assert_eq!(runtime.list().await.unwrap().len(), 1);
    assert_eq!(status(&runtime, "keep").await.pid, before.pid);
    runtime.delete_workload("keep").await.unwrap();
}

#[tokio::test]
async fn mode_changes_start_and_stop_gated_workloads() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::start(config(dir.path()), VehicleMode::Driving).unwrap();
    runtime
        .apply(manifest(
            r#"
apiVersion: tomoe.dev/v1
workloads:
  - {name: parked-only, command: sleep, args: ["30"], modes: [parked]}
  - {name: driving-only, command: sleep, args: ["30"], modes: [driving]}
"#,
        ))
        .await
        .unwrap();
    wait_for(&runtime, "driving-only", "running", |s| {
        s.state == WorkloadState::Running
    })
    .await;
    let waiting = status(&runtime, "parked-only").await;
    assert_eq!(waiting.state, WorkloadState::Waiting);
    assert!(
        waiting.reason.contains("not allowed in mode driving"),
        "{waiting:?}"
    );
    runtime.set_mode(VehicleMode::Parked).await.unwrap();
    wait_for(&runtime, "parked-only", "running", |s| {
        s.state == WorkloadState::Running
    })
    .await;
    let stopped = wait_for(&runtime, "driving-only", "stopped", |s| s.pid.is_none()).await;
    assert_eq!(stopped.restarts, 0, "a mode stop is not a failure");
    for name in ["parked-only", "driving-only"] {
        runtime.delete_workload(name).await.unwrap();
    }
}

#[test]
fn a_restarted_runtime_adopts_its_workloads_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let first_pid = {
        let tokio = tokio::runtime::Runtime::new().unwrap();
        tokio.block_on(async {
            let runtime = Runtime::start(config(dir.path()), VehicleMode::Parked).unwrap();
            runtime.apply(manifest("apiVersion: tomoe.dev/v1\nworkloads:\n  - {name: long, command: sleep, args: [\"30\"]}\n")).await.unwrap();
            wait_for(&runtime, "long", "running", |s| s.state == WorkloadState::Running).await.pid.unwrap()
        })
        // Dropping the tokio runtime ends the supervisor; the process lives on.
    };
    assert!(
        Path::new(&format!("/proc/{first_pid}")).exists(),
        "the workload died with the runtime"
    );
    let tokio = tokio::runtime::Runtime::new().unwrap();
    tokio.block_on(async {
        let runtime = Runtime::start(config(dir.path()), VehicleMode::Parked).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let adopted = status(&runtime, "long").await;
        assert_eq!(adopted.pid, Some(first_pid), "{adopted:?}");
        assert_eq!(adopted.restarts, 0);
        runtime.delete_workload("long").await.unwrap();
    });
}

#[test]
fn final_states_survive_a_runtime_restart() {
    let dir = tempfile::tempdir().unwrap();
    let text = "apiVersion: tomoe.dev/v1\nworkloads:\n  - {name: once, command: sh, args: [\"-c\", \"echo ran\"]}\n  - {name: broken, command: sh, args: [\"-c\", \"exit 1\"], restart: {initialBackoffMs: 10, maxBackoffMs: 20, crashLoopLimit: 2}}\n";
    for round in 0..2 {
        let tokio = tokio::runtime::Runtime::new().unwrap();
        tokio.block_on(async {
            let runtime = Runtime::start(config(dir.path()), VehicleMode::Parked).unwrap();
            if round == 0 {
                runtime.apply(manifest(text)).await.unwrap();
            } else {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let once = wait_for(&runtime, "once", "succeeded", |s| {
                s.state == WorkloadState::Succeeded
            })
            .await;
            wait_for(&runtime, "broken", "crash-looping", |s| {
                s.state == WorkloadState::CrashLooping
            })
            .await;
            // The one-shot job ran once, over both lives of the runtime.
            assert_eq!(
                std::fs::read_to_string(&once.log).unwrap().lines().count(),
                1,
                "round {round}"
            );
        });
    }
}

#[tokio::test]
async fn a_workload_over_its_memory_limit_is_killed() {
    // An app told 64 MB that grows to 200 MB: with cgroup v2 the kernel kills it,
    // without one the runtime polls its resident memory and does (it used to grow
    // unchecked to 608 MB).
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::start(config(dir.path()), VehicleMode::Parked).unwrap();
    runtime
        .apply(manifest(
            r#"
apiVersion: tomoe.dev/v1
workloads:
  - name: hog
    command: python3
    args: ["-c", "import time; hog = b'x' * 200_000_000; time.sleep(60)"]
    restart: {policy: never}
    resources: {memoryMax: 64M}
"#,
        ))
        .await
        .unwrap();
    let hog = wait_for(&runtime, "hog", "failed", |s| {
        s.state == WorkloadState::Failed
    })
    .await;
    let exit = hog.last_exit.unwrap_or_default();
    assert!(
        exit.contains("memoryMax") || exit.contains("signal 9") || exit.contains("SIGKILL"),
        "{exit} ({})",
        hog.limits
    );
}
