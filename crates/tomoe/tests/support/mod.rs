//! Test support: a `tomoe serve` process on loopback and clients for it.
//!
//! Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use kuksa_rust_sdk::v1_proto as v1;
use kuksa_rust_sdk::v2_proto as v2;
use tomoe_test_support::{Process, Stop};

/// A running broker process; killed on drop.
pub struct ServerProcess {
    process: Process,
    /// The URL clients connect to.
    pub url: String,
}

/// The `tomoe` binary under test.
pub fn tomoe_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tomoe")
}

impl ServerProcess {
    /// Starts `tomoe serve` with `extra` arguments on a free loopback port and waits
    /// until it listens.
    pub fn start(data_dir: &Path, extra: &[&str]) -> ServerProcess {
        let mut command = Command::new(tomoe_bin());
        command
            .args(["serve", "--address", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stderr(Stdio::piped());
        let (process, mut urls) = Process::spawn_announcing(&mut command, Stop::Kill, &[""]);
        ServerProcess {
            url: urls.remove(0),
            process,
        }
    }

    /// Stops the process and waits for it.
    pub fn stop(self) {
        self.process.stop();
    }

    /// The process, to signal it or wait for it.
    pub fn process_mut(&mut self) -> &mut Process {
        &mut self.process
    }

    /// The v1 and v2 clients presenting `token`, if any.
    pub async fn connection(&self, token: Option<&str>) -> tomoe_kuksa::Connection {
        tomoe_kuksa::Connector::new(self.url.clone())
            .token(token)
            .connect()
            .await
            .expect("connect to the broker")
    }

    /// A v2 client presenting `token`, if any.
    pub async fn v2(&self, token: Option<&str>) -> v2::val_client::ValClient<WithToken> {
        self.connection(token).await.v2
    }

    /// A v1 client presenting `token`, if any.
    pub async fn v1(&self, token: Option<&str>) -> v1::val_client::ValClient<WithToken> {
        self.connection(token).await.v1
    }
}

/// A channel whose requests carry a bearer token.
pub type WithToken = tomoe_kuksa::AuthChannel;

/// A v2 signal id by path.
pub fn path(path: &str) -> Option<v2::SignalId> {
    Some(tomoe_kuksa::signal_by_path(path))
}

/// A v2 value.
pub fn value(typed: v2::value::TypedValue) -> Option<v2::Value> {
    Some(v2::Value {
        typed_value: Some(typed),
    })
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fixtures folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A JWT signed with `key_file` (a fixture), granting `scope`, expiring `lifetime_secs` from now (negative: expired).
pub fn token(key_file: &str, scope: &str, lifetime_secs: i64) -> String {
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        sub: &'a str,
        iss: &'a str,
        aud: Vec<&'a str>,
        iat: u64,
        exp: u64,
        scope: &'a str,
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = Claims {
        sub: "tomoe-test",
        iss: "tomoe-tests",
        aud: vec!["kuksa.val"],
        iat: now,
        exp: (now as i64 + lifetime_secs) as u64,
        scope,
    };
    let pem = std::fs::read(fixtures().join("jwt").join(key_file)).unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap()
}

/// Runs the `tomoe` CLI with `args` and returns (exit code, stdout, stderr).
pub fn cli(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(tomoe_bin())
        .args(args)
        .env_remove("TOMOE_TOKEN")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `tomoe up --idle` on loopback ports with `data_dir`, stopped as `stop` says when
/// dropped; returns the broker and runtime URLs it announces.
pub fn up_idle(data_dir: &Path, stop: Stop) -> (Process, String, String) {
    up_idle_with(data_dir, stop, &[])
}

/// [`up_idle`] with extra environment variables for `tomoe up`.
pub fn up_idle_with(
    data_dir: &Path,
    stop: Stop,
    env: &[(&str, &std::ffi::OsStr)],
) -> (Process, String, String) {
    let mut command = Command::new(tomoe_bin());
    command
        .args([
            "up",
            "--idle",
            "--address",
            "127.0.0.1:0",
            "--runtime-address",
            "127.0.0.1:0",
            "--http-address",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .envs(env.iter().copied())
        .stderr(Stdio::null());
    let (up, urls) = Process::spawn_announcing(&mut command, stop, &["broker", "runtime"]);
    let [broker, runtime] = <[String; 2]>::try_from(urls).expect("two URLs");
    (up, broker, runtime)
}
