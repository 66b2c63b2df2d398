//! Child processes that end with the test, and their announcements on stdout.
//!
//! [`Process::spawn`] starts a command with its stdout piped. A thread reads stdout
//! line by line for as long as the process writes, so the process never blocks on a
//! full pipe; the test waits for the lines it needs with a timeout
//! ([`Process::wait_for_line`], [`Process::wait_for_urls`]). When the [`Process`] is
//! dropped, the process is stopped the way its [`Stop`] says and waited for, so a
//! failing test leaves nothing running.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long a test waits for a process to announce itself, unless it says otherwise.
/// Generous: the machine running the tests may be busy.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`terminate`] waits after SIGTERM before it kills.
pub const TERMINATE_GRACE: Duration = Duration::from_secs(10);

/// How a [`Process`] is stopped when it is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGKILL at once: for processes with nothing to clean up, such as a broker.
    Kill,
    /// SIGTERM, as Ctrl-C does, so that the process stops what it started (the
    /// workloads of `tomoe up`); SIGKILL if it has not ended after
    /// [`TERMINATE_GRACE`].
    Terminate,
}

/// Why waiting for a line of a process's stdout failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// No matching line came within the time.
    #[error("no matching line on stdout within {0:?}")]
    Timeout(Duration),
    /// The process closed its stdout (usually: it ended) before a matching line.
    #[error("stdout ended before a matching line")]
    Ended,
}

/// A child process, stopped when dropped; see the [module docs](self).
#[derive(Debug)]
pub struct Process {
    child: Child,
    lines: Receiver<String>,
    stop: Stop,
}

impl Process {
    /// Starts `command` with stdout piped (stdin and stderr as the command sets
    /// them) and starts reading its stdout.
    ///
    /// # Panics
    ///
    /// When the command cannot be started, naming the program.
    pub fn spawn(command: &mut Command, stop: Stop) -> Process {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program()));
        let (sender, lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::Builder::new()
                .name(format!("stdout of {}", child.id()))
                .spawn(move || {
                    for line in BufReader::new(stdout).lines() {
                        let Ok(line) = line else { break };
                        // Once the test stops listening, the lines are only drained.
                        let _ = sender.send(line);
                    }
                })
                .unwrap_or_else(|e| panic!("cannot start a thread reading stdout: {e}"));
        }
        Process { child, lines, stop }
    }

    /// Starts `command` like [`Process::spawn`] and waits up to [`READY_TIMEOUT`]
    /// for the URLs of `labels` ([`Process::wait_for_urls`]; `&[""]` takes the first
    /// URL announced). Returns the process and the URLs in the order of `labels`.
    ///
    /// # Panics
    ///
    /// When the command cannot be started or the URLs do not come; the message names
    /// the program and holds its stderr when the command pipes it.
    pub fn spawn_announcing(
        command: &mut Command,
        stop: Stop,
        labels: &[&str],
    ) -> (Process, Vec<String>) {
        let mut process = Process::spawn(command, stop);
        match process.wait_for_urls(labels, READY_TIMEOUT) {
            Ok(urls) => (process, urls),
            Err(error) => {
                let stderr = process.stderr_after_failure(&error);
                panic!(
                    "{:?} announced no URL for {labels:?} ({error}): {stderr}",
                    command.get_program()
                )
            }
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child, for what this type does not offer (its exit status, say).
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Waits for the next stdout line for which `wanted` holds and returns it; the
    /// lines before it are passed over.
    pub fn wait_for_line(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&str) -> bool,
    ) -> Result<String, WaitError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return Ok(line),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return Err(WaitError::Timeout(timeout)),
                Err(RecvTimeoutError::Disconnected) => return Err(WaitError::Ended),
            }
        }
    }

    /// Waits until the process has announced one URL per label and returns them in
    /// the order of `labels`. A line announces a label's URL when its first word
    /// starts with the label; the URL is its first `http://` or `https://` word
    /// ([`url_in`]). An empty label takes the first URL of any line.
    pub fn wait_for_urls(
        &mut self,
        labels: &[&str],
        timeout: Duration,
    ) -> Result<Vec<String>, WaitError> {
        let mut found: Vec<Option<String>> = vec![None; labels.len()];
        let deadline = Instant::now() + timeout;
        while found.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.wait_for_line(left, |line| url_in(line).is_some());
            let line = line.map_err(|error| match error {
                WaitError::Timeout(_) => WaitError::Timeout(timeout),
                other => other,
            })?;
            for (label, slot) in labels.iter().zip(found.iter_mut()) {
                if slot.is_none() && line.trim_start().starts_with(label) {
                    *slot = url_in(&line).map(str::to_owned);
                }
            }
        }
        Ok(found.into_iter().flatten().collect())
    }

    /// Ends a process that failed to announce itself (`error` says how) and returns
    /// what it wrote to stderr, when stderr was piped, for the test's panic message.
    pub fn stderr_after_failure(mut self, error: &WaitError) -> String {
        if matches!(error, WaitError::Timeout(_)) {
            self.child.kill().ok();
        }
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).ok();
        }
        self.child.wait().ok();
        stderr
    }

    /// Stops the process now (as dropping it does) and waits for it.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        match self.stop {
            Stop::Kill => {
                self.child.kill().ok();
                self.child.wait().ok();
            }
            Stop::Terminate => terminate(&mut self.child),
        }
    }
}

/// Stops `child` the way Ctrl-C does (SIGTERM) and waits for it; kills it if it has
/// not ended after [`TERMINATE_GRACE`].
pub fn terminate(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // An error means the process is gone already; the wait below settles it.
        kill(Pid::from_raw(pid), Signal::SIGTERM).ok();
    }
    let deadline = Instant::now() + TERMINATE_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().ok();
    child.wait().ok();
}

/// Another binary of the workspace, found beside `binary` (a test's
/// `env!("CARGO_BIN_EXE_...")`): cargo builds a test's own package's binaries for
/// it, but those of other packages (an app the test runs) only with
/// `cargo test --workspace` or `cargo build -p <package>`.
///
/// # Panics
///
/// When the binary is missing, saying how to build it.
pub fn sibling_binary(binary: impl AsRef<Path>, name: &str, package: &str) -> PathBuf {
    let path = binary
        .as_ref()
        .with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p {package}` (cargo test --workspace does)",
        path.display()
    );
    path
}

/// The first word of `line` that is an `http://` or `https://` URL, without a
/// trailing `,` or `)`.
pub fn url_in(line: &str) -> Option<&str> {
    line.split_whitespace()
        .find(|word| word.starts_with("http://") || word.starts_with("https://"))
        .map(|word| word.trim_end_matches([',', ')']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn url_in_finds_the_first_url_word() {
        for (line, expected) in [
            (
                "tomoe broker listening on http://127.0.0.1:5 (insecure)",
                Some("http://127.0.0.1:5"),
            ),
            ("  runtime https://[::1]:8, then", Some("https://[::1]:8")),
            ("(see http://a:1) and http://b:2", Some("http://a:1")),
            ("no url here: ftp://x", None),
            ("", None),
        ] {
            assert_eq!(url_in(line), expected, "{line:?}");
        }
    }

    #[test]
    fn wait_for_urls_takes_each_label_in_order_whatever_the_line_order() {
        let mut process = Process::spawn(
            &mut shell(
                "echo starting; echo 'runtime API on http://127.0.0.1:2'; \
                 echo 'broker on http://127.0.0.1:1 (no TLS)'; exec sleep 30",
            ),
            Stop::Kill,
        );
        let urls = process
            .wait_for_urls(&["broker", "runtime"], READY_TIMEOUT)
            .unwrap();
        assert_eq!(urls, ["http://127.0.0.1:1", "http://127.0.0.1:2"]);
    }

    #[test]
    fn waiting_ends_with_the_process_or_at_the_timeout() {
        let mut ended = Process::spawn(&mut shell("echo one; echo two"), Stop::Kill);
        assert_eq!(
            ended.wait_for_line(READY_TIMEOUT, |l| l == "two"),
            Ok("two".to_owned())
        );
        assert_eq!(
            ended.wait_for_line(READY_TIMEOUT, |_| true),
            Err(WaitError::Ended)
        );

        let mut silent = Process::spawn(&mut shell("exec sleep 30"), Stop::Kill);
        let timeout = Duration::from_millis(100);
        let started = Instant::now();
        assert_eq!(
            silent.wait_for_urls(&[""], timeout),
            Err(WaitError::Timeout(timeout))
        );
        assert!(started.elapsed() >= timeout);
    }

    #[test]
    fn spawn_announcing_returns_the_urls_or_fails_with_stderr() {
        let (_process, urls) = Process::spawn_announcing(
            &mut shell("echo 'serving on http://127.0.0.1:3,'; exec sleep 30"),
            Stop::Kill,
            &[""],
        );
        assert_eq!(urls, ["http://127.0.0.1:3"]);

        let failed = std::panic::catch_unwind(|| {
            let mut command = shell("echo 'error: bad key' >&2; exit 1");
            command.stderr(Stdio::piped());
            Process::spawn_announcing(&mut command, Stop::Kill, &["broker"])
        });
        let message = failed.unwrap_err();
        let message = message.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("\"sh\" announced no URL for [\"broker\"]"),
            "{message}"
        );
        assert!(message.ends_with("error: bad key\n"), "{message}");
    }

    #[test]
    fn stderr_after_failure_returns_what_the_process_wrote() {
        let mut command = shell("echo 'error: no key' >&2; exit 1");
        command.stderr(Stdio::piped());
        let mut process = Process::spawn(&mut command, Stop::Kill);
        let error = process.wait_for_urls(&[""], READY_TIMEOUT).unwrap_err();
        assert_eq!(error, WaitError::Ended);
        assert_eq!(process.stderr_after_failure(&error), "error: no key\n");
    }

    #[test]
    fn sibling_binary_finds_a_file_beside_the_binary_or_says_how_to_build_it() {
        let dir = tempfile::tempdir().unwrap();
        let tomoe = dir.path().join("tomoe");
        let app = dir
            .path()
            .join(format!("app{}", std::env::consts::EXE_SUFFIX));
        std::fs::write(&app, "").unwrap();
        assert_eq!(sibling_binary(&tomoe, "app", "tomoe-app"), app);
        let missing = std::panic::catch_unwind(|| sibling_binary(&tomoe, "other", "tomoe-other"));
        let message = missing.unwrap_err();
        let message = message.downcast_ref::<String>().unwrap();
        assert!(
            message.ends_with("is missing: build it with `cargo build -p tomoe-other` (cargo test --workspace does)"),
            "{message}"
        );
    }

    /// Whether the process `pid` still exists (a zombie counts as gone).
    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| !stat.contains(") Z "))
            .unwrap_or(false)
    }

    #[test]
    fn dropping_stops_the_process_as_its_stop_says() {
        // Kill: at once.
        let process = Process::spawn(&mut shell("exec sleep 30"), Stop::Kill);
        let pid = process.id();
        assert!(alive(pid));
        drop(process);
        assert!(!alive(pid));

        // Terminate: SIGTERM, which the script handles by saying so and ending.
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("terminated");
        let script = format!(
            "trap 'echo bye > {}; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
            marker.display()
        );
        let mut process = Process::spawn(&mut shell(&script), Stop::Terminate);
        process
            .wait_for_line(READY_TIMEOUT, |l| l == "ready")
            .unwrap();
        let pid = process.id();
        let started = Instant::now();
        process.stop();
        assert!(!alive(pid));
        assert!(started.elapsed() < TERMINATE_GRACE);
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "bye\n");
    }
}
