//! Process control: spawning workloads, signalling their process groups, watching
//! their exits, running probes, reading `/proc` and rotating logs.
//!
//! Everything here touches the operating system; the decisions are in
//! [`super::reconcile`].

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::action::Probe;
use super::slot::Process;
use super::{Request, RuntimeConfig};
use crate::manifest::{RuntimeKind, Workload};

/// Starts the process of `spec` in a process group of its own, its output appended to
/// `log_path`. Returns the child and its pid.
pub(crate) fn spawn(
    spec: &Workload,
    config: &RuntimeConfig,
    token: Option<&str>,
    log_path: &Path,
) -> std::io::Result<(tokio::process::Child, u32)> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)?;
    let log_err = log.try_clone()?;
    let mut command = match spec.runtime {
        RuntimeKind::Native => {
            let mut command = tokio::process::Command::new(&spec.command);
            command.args(&spec.args);
            command
        }
        RuntimeKind::Podman => {
            let mut command = tokio::process::Command::new("podman");
            command.args([
                "run",
                "--rm",
                "--network",
                "host",
                "--name",
                &format!("tomoe-{}", spec.name),
            ]);
            // `-e NAME` copies the value from podman's own environment, so secrets such
            // as the token never appear on a command line.
            for (key, _) in workload_env(spec, config, token) {
                command.arg("-e").arg(key);
            }
            command.arg(&spec.command).args(&spec.args);
            command
        }
    };
    command.envs(workload_env(spec, config, token));
    if let Some(dir) = &spec.working_dir {
        command.current_dir(dir);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .process_group(0)
        .kill_on_drop(false);
    let child = command.spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| std::io::Error::other("the process ended before it was watched"))?;
    Ok((child, pid))
}

/// The environment of a workload: the runtime's variables, then its own.
fn workload_env(
    spec: &Workload,
    config: &RuntimeConfig,
    token: Option<&str>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("TOMOE_BROKER".into(), config.broker_url.clone()),
        ("TOMOE_RUNTIME".into(), config.runtime_url.clone()),
        ("TOMOE_WORKLOAD".into(), spec.name.clone()),
    ];
    if let Some(token) = token {
        env.push(("TOMOE_TOKEN".into(), token.to_owned()));
    }
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Waits for `child` in a task of its own and tells the actor how it ended.
pub(crate) fn watch_exit(
    mut child: tokio::process::Child,
    workload: String,
    pid: u32,
    requests: mpsc::Sender<Request>,
) {
    let span = tracing::info_span!("runtime-exit-watch", workload = %workload, pid);
    tokio::spawn(
        async move {
            let (description, success) = match child.wait().await {
                Ok(status) => (describe_exit(status), status.success()),
                Err(error) => (format!("cannot wait for the process: {error}"), false),
            };
            let _ = requests
                .send(Request::Exited(workload, pid, description, success))
                .await;
        }
        .instrument(span),
    );
}

/// Runs one health probe of `workload` in a task of its own and tells the actor the
/// verdict.
pub(crate) fn run_probe(probe: Probe, workload: String, pid: u32, requests: mpsc::Sender<Request>) {
    let span = tracing::info_span!("runtime-probe", workload = %workload, pid);
    tokio::spawn(
        async move {
            let healthy = match probe {
                Probe::Exec(exec) => {
                    let run = tokio::process::Command::new(&exec.command[0])
                        .args(&exec.command[1..])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                    matches!(
                        tokio::time::timeout(Duration::from_millis(exec.timeout_ms), run).await,
                        Ok(Ok(status)) if status.success()
                    )
                }
                Probe::Http(http) => matches!(
                    tokio::time::timeout(
                        Duration::from_millis(http.timeout_ms),
                        http_ok(&http.url)
                    )
                    .await,
                    Ok(true)
                ),
            };
            let _ = requests.send(Request::Probe(workload, pid, healthy)).await;
        }
        .instrument(span),
    );
}

async fn http_ok(url: &str) -> bool {
    reqwest::get(url)
        .await
        .is_ok_and(|response| response.status().is_success())
}

/// Sends SIGTERM to the process's group, once, and notes when.
pub(crate) fn terminate(process: &mut Process, now: Instant) {
    if process.terminating_since.is_none() {
        signal_group(process.pid, Signal::SIGTERM);
        process.terminating_since = Some(now);
    }
}

/// Sends SIGKILL to the process's group.
pub(crate) fn kill(process: &mut Process) {
    signal_group(process.pid, Signal::SIGKILL);
    process.killed = true;
}

/// Sends SIGKILL to the group of `pid` after `delay`, in a task of its own (for a
/// deleted workload that may ignore SIGTERM).
pub(crate) fn kill_after(workload: &str, pid: u32, delay: Duration) {
    let span = tracing::info_span!("runtime-kill-after-delete", workload = %workload, pid);
    tokio::spawn(
        async move {
            tokio::time::sleep(delay).await;
            signal_group(pid, Signal::SIGKILL);
        }
        .instrument(span),
    );
}

/// Sends `signal` to the process group of `pid`, or to `pid` alone if it has no group.
pub(crate) fn signal_group(pid: u32, signal: Signal) {
    let group = nix::unistd::Pid::from_raw(-(pid as i32));
    if nix::sys::signal::kill(group, signal).is_err() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
    }
}

/// `exit code 3`, `killed by signal 9`.
fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "ended".into(),
    }
}

/// The kernel's start time of a process (field 22 of /proc/PID/stat), if it exists and
/// is not a zombie.
pub(crate) fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_ticks(&stat)
}

/// Field 22 of a `/proc/PID/stat` line, unless the process is a zombie or dead.
fn parse_start_ticks(stat: &str) -> Option<u64> {
    // The command name may contain spaces; fields after it are space separated.
    let after_name = stat.get(stat.rfind(')')? + 2..)?;
    let state = after_name.split_whitespace().next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process still runs.
pub(crate) fn is_alive(pid: u32) -> bool {
    start_ticks(pid).is_some()
}

/// The resident memory, in bytes, of every process group on the machine, from one
/// pass over `/proc/<pid>/stat` and `status` (a workload's group is its pid).
pub(crate) fn resident_bytes_by_group() -> std::collections::HashMap<u32, u64> {
    let mut groups = std::collections::HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return groups;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the command in parentheses: state, ppid, pgrp.
        let Some(group) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .and_then(|pgrp| pgrp.parse::<u32>().ok())
        else {
            continue;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        *groups.entry(group).or_insert(0) += kib * 1024;
    }
    groups
}

/// Kills the process group of `process` for a reason that makes its end a
/// failure (a failed health check, a memory limit).
pub(crate) fn kill_for(process: &mut Process, why: String, now: std::time::Instant) {
    process.killed_for = Some(why);
    kill(process);
    process.terminating_since = Some(now);
}

/// Where `program` is on the `PATH`.
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

/// Rotates the log at `path` when it is larger than `limit` bytes: copies it to
/// `<path>.1` and truncates it (the process keeps its append-mode descriptor).
pub(crate) fn rotate_log(path: &Path, limit: u64) {
    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    if metadata.len() <= limit {
        return;
    }
    let mut old = path.as_os_str().to_owned();
    old.push(".1");
    if std::fs::copy(path, &old).is_ok() {
        if let Ok(file) = std::fs::OpenOptions::new().write(true).open(path) {
            let _ = file.set_len(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_ticks_are_field_22() {
        let line = |name: &str, state: &str| {
            format!("1234 ({name}) {state} 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10")
        };
        for (stat, expected) in [
            (line("sleep", "S"), Some(987_654)),
            (line("my app (v2)", "R"), Some(987_654)),
            (line("sleep", "Z"), None),
            (line("sleep", "X"), None),
            ("garbage".to_owned(), None),
        ] {
            assert_eq!(parse_start_ticks(&stat), expected, "{stat}");
        }
    }

    #[test]
    fn this_process_is_alive() {
        assert!(is_alive(std::process::id()));
        assert!(start_ticks(std::process::id()).is_some());
    }

    #[test]
    fn logs_rotate_past_their_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "0123456789").unwrap();
        rotate_log(&path, 10);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0123456789");
        rotate_log(&path, 5);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("app.log.1")).unwrap(),
            "0123456789"
        );
    }
}
