//! A throwaway PostgreSQL cluster for tests: `initdb` in a temporary directory, a
//! server on a free loopback port, stopped (fast shutdown) and removed when dropped.
//!
//! The server binaries are Debian's (`/usr/lib/postgresql/<version>/bin`), or those
//! in `TOMOE_PG_BINDIR`. PostgreSQL refuses to run as root: as root, the cluster
//! belongs to the `postgres` user and its programs run through `runuser`.
//!
//! Where PostgreSQL is not installed, [`PostgresServer::start`] returns `None` and says
//! so on stderr, unless `TOMOE_REQUIRE_POSTGRES=1` (as in CI and `scripts/test`),
//! which makes it panic instead.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running throwaway PostgreSQL server.
#[derive(Debug)]
pub struct PostgresServer {
    child: Child,
    bin: PathBuf,
    port: u16,
    dir: PathBuf,
    user: Option<String>,
}

/// How the server trades durability for speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fsync`, `synchronous_commit` and `full_page_writes` off: for tests.
    Fast,
    /// PostgreSQL's defaults (every commit flushed to disk): for benchmarks.
    Durable,
}

/// Databases created so far in this process, for unique names.
static DATABASES: AtomicU32 = AtomicU32::new(0);

impl PostgresServer {
    /// Starts a fresh cluster with the fast, non-durable settings of a test, or
    /// returns `None` (after saying why) where PostgreSQL is not installed and not
    /// required.
    ///
    /// # Panics
    ///
    /// When PostgreSQL is required but missing, or does not start.
    pub fn start() -> Option<PostgresServer> {
        Self::start_with(Durability::Fast)
    }

    /// Starts a fresh cluster with PostgreSQL's default, durable settings (as a
    /// production server runs), or `None` as [`PostgresServer::start`].
    ///
    /// # Panics
    ///
    /// As [`PostgresServer::start`].
    pub fn start_durable() -> Option<PostgresServer> {
        Self::start_with(Durability::Durable)
    }

    /// Starts a fresh cluster with the given durability, or `None` as
    /// [`PostgresServer::start`].
    ///
    /// # Panics
    ///
    /// As [`PostgresServer::start`].
    pub fn start_with(durability: Durability) -> Option<PostgresServer> {
        let Some(bin) = bin_dir() else {
            let required = std::env::var_os("TOMOE_REQUIRE_POSTGRES").is_some_and(|v| v == "1");
            assert!(
                !required,
                "TOMOE_REQUIRE_POSTGRES=1 but no PostgreSQL server binaries were found \
                 (apt-get install postgresql, or set TOMOE_PG_BINDIR)"
            );
            eprintln!(
                "skipped: PostgreSQL is not installed (apt-get install postgresql; \
                 TOMOE_REQUIRE_POSTGRES=1 makes this a failure)"
            );
            return None;
        };
        let root = is_root();
        let user = root.then(|| "postgres".to_owned());
        // Under root the cluster belongs to postgres, who may not enter $TMPDIR.
        let base = if root {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!(
            "tomoe-pg-{}-{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        if let Some(user) = &user {
            let status = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&dir)
                .status()
                .expect("run chown");
            assert!(status.success(), "cannot give {} to {user}", dir.display());
        }
        let data = dir.join("data");
        // Run from the cluster's directory: the postgres user may not enter ours.
        let output = as_user(user.as_deref(), &bin.join("initdb"))
            .current_dir(&dir)
            .args([
                "--auth=trust",
                "--username=postgres",
                "--no-sync",
                "--encoding=UTF8",
            ])
            .arg("-D")
            .arg(&data)
            .output()
            .expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let port = free_port();
        let mut command = as_user(user.as_deref(), &bin.join("postgres"));
        command
            .current_dir(&dir)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
                "-c",
                "timezone=UTC",
            ]);
        if durability == Durability::Fast {
            // A test cluster: durability is not the point, speed is.
            command.args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("server.log")).expect("create the server log"))
            .spawn()
            .expect("start postgres");
        let mut server = PostgresServer {
            child,
            bin,
            port,
            dir,
            user,
        };
        server.wait_ready();
        Some(server)
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a new, empty database and returns its URL.
    ///
    /// # Panics
    ///
    /// When the database cannot be created.
    pub fn create_database(&self) -> String {
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        let output = self
            .psql()
            .args(["-d", "postgres", "-c", &format!("CREATE DATABASE {name}")])
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "cannot create database {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.url(&name)
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// `psql` against this server, as its superuser.
    pub fn psql(&self) -> Command {
        let mut command = Command::new(self.bin.join("psql"));
        command.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
        ]);
        command
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                panic!("PostgreSQL exited ({status}) before accepting connections:\n{log}");
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(
                start.elapsed() < START_TIMEOUT,
                "PostgreSQL did not accept connections on port {} within {START_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // Fast shutdown: open sessions are ended, not waited for. The child may be
        // `runuser`, so the server is told by pg_ctl, as its own user.
        let stopped = as_user(self.user.as_deref(), &self.bin.join("pg_ctl"))
            .current_dir(&self.dir)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["stop", "-m", "fast", "-w", "-t", "10"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            if let Ok(pid) = i32::try_from(self.child.id()) {
                kill(Pid::from_raw(pid), Signal::SIGINT).ok();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// The directory of the server binaries, if PostgreSQL is installed.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TOMOE_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").is_file().then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program`, run as `user` when given (through `runuser`), else as this process.
fn as_user(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", user, "--"]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_starts_creates_databases_and_goes_away() {
        let Some(server) = PostgresServer::start() else {
            return;
        };
        let url = server.create_database();
        let name = url.rsplit('/').next().unwrap().to_owned();
        let output = server
            .psql()
            .args(["-d", &name, "-At", "-c", "SELECT 40 + 2"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "42");
        let dir = server.dir.clone();
        drop(server);
        assert!(!dir.exists());
    }

    fn setting(server: &PostgresServer, name: &str) -> String {
        let output = server
            .psql()
            .args(["-d", "postgres", "-At", "-c", &format!("SHOW {name}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    #[test]
    fn a_durable_cluster_keeps_the_default_settings_and_a_test_cluster_does_not() {
        let Some(durable) = PostgresServer::start_durable() else {
            return;
        };
        for name in ["fsync", "synchronous_commit", "full_page_writes"] {
            assert_eq!(setting(&durable, name), "on", "{name} on a durable cluster");
        }
        drop(durable);
        let fast = PostgresServer::start().unwrap();
        for name in ["fsync", "synchronous_commit", "full_page_writes"] {
            assert_eq!(setting(&fast, name), "off", "{name} on a test cluster");
        }
    }
}
