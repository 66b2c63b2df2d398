//! Starting a private broker for one run (`--spawn`).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use kuksa_rust_sdk::v2_proto as proto;
use tokio::process::{Child, Command};
use tonic::transport::Endpoint;

/// How long the broker may take to answer after being started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A broker process started by the load generator, with its scratch directory.
#[derive(Debug)]
pub(crate) struct SpawnedBroker {
    child: Child,
    /// Holds the data directory and the broker's log; removed on drop.
    dir: tempfile::TempDir,
    /// Where the broker listens, as a gRPC URL.
    pub(crate) url: String,
}

impl SpawnedBroker {
    /// Starts `program serve --address 127.0.0.1:<free port> --data-dir <temp dir>
    /// --insecure` and waits until it answers `GetServerInfo`.
    pub(crate) async fn start(program: &Path) -> anyhow::Result<SpawnedBroker> {
        let dir = tempfile::Builder::new()
            .prefix("tomoe-loadgen-")
            .tempdir()
            .context("cannot create a temporary directory for the broker")?;
        let data_dir = dir.path().join("data");
        std::fs::create_dir(&data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let address = free_address()?;
        let log_path = dir.path().join("broker.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .context("cannot duplicate the broker log handle")?;
        let child = Command::new(program)
            .arg("serve")
            .arg("--address")
            .arg(address.to_string())
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--insecure")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let mut broker = SpawnedBroker {
            child,
            dir,
            url: format!("http://{address}"),
        };
        broker.wait_until_serving().await?;
        Ok(broker)
    }

    /// Polls the broker until it answers, it exits, or [`START_TIMEOUT`] passes.
    async fn wait_until_serving(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let endpoint =
            Endpoint::from_shared(self.url.clone())?.connect_timeout(Duration::from_secs(1));
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .context("cannot poll the broker process")?
            {
                bail!(
                    "the broker exited during startup ({status}); its output:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(channel) = endpoint.connect().await {
                let mut client = proto::val_client::ValClient::new(channel);
                if client
                    .get_server_info(proto::GetServerInfoRequest {})
                    .await
                    .is_ok()
                {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "the broker did not answer on {} within {START_TIMEOUT:?}; its output:\n{}",
                    self.url,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines the broker wrote.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        if tail.is_empty() {
            "(nothing)".to_owned()
        } else {
            tail
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("broker.log")
    }

    /// Stops the broker. If it had already exited (it should not have), returns
    /// the end of its output.
    pub(crate) async fn stop(mut self) -> anyhow::Result<Option<String>> {
        let exited = self
            .child
            .try_wait()
            .context("cannot poll the broker process")?;
        if exited.is_none() {
            self.child.start_kill().context("cannot stop the broker")?;
        }
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .context("the broker did not exit within 10 s of being killed")?
            .context("cannot wait for the broker")?;
        Ok(exited.map(|status| format!("(exit status: {status})\n{}", self.log_tail())))
    }
}

/// A loopback address with a port that was free a moment ago.
fn free_address() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot find a free port on 127.0.0.1")?;
    listener.local_addr().context("cannot read the free port")
}
