//! Test support: a `tomoe serve` process on loopback and clients for it.
//!
//! Each test binary uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use kuksa_rust_sdk::v1_proto as v1;
use kuksa_rust_sdk::v2_proto as v2;

/// A running broker process; killed on drop.
pub struct ServerProcess {
    child: Child,
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
        let mut child = Command::new(tomoe_bin())
            .args(["serve", "--address", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the tomoe binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the ready line");
        let Some(url) = line
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        else {
            let output = child.wait_with_output().expect("collect the output");
            panic!(
                "broker did not start: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        ServerProcess {
            url: url.to_owned(),
            child,
        }
    }

    /// Stops the process and waits for it.
    pub fn stop(mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
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

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
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

/// Stops a `tomoe` process the way Ctrl-C does (SIGTERM), so that it stops its
/// workloads; kills it if it has not ended after ten seconds.
pub fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().ok();
    child.wait().ok();
}
