//! `tomoe-loadgen`: measures provider → subscriber throughput and latency of a
//! broker speaking the KUKSA `kuksa.val.v2` gRPC API.
//!
//! One provider publishes batches of values for N float/double sensors over an
//! `OpenProviderStream`; M subscribers, each on its own connection, subscribe to all
//! of them. Every batch carries a sequence number in its values, so a subscriber
//! knows when each update it receives was sent. S of the subscribers are
//! deliberately slow (they sleep after every message): the broker is expected to
//! disconnect them with `RESOURCE_EXHAUSTED`, and the fast subscribers should not
//! notice. To see whether they do, compare a run with `--subscribers 4
//! --slow-subscribers 1` against a baseline with the same fast subscribers and no
//! slow one, `--subscribers 3 --slow-subscribers 0`.

mod provider;
mod report;
mod signals;
mod spawn;
mod subscriber;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use clap::Parser;
use kuksa_rust_sdk::v2_proto as proto;
use tokio::sync::{oneshot, watch};
use tonic::transport::Endpoint;

use crate::signals::SendLog;
use crate::subscriber::Progress;

/// How long a single setup call (GetServerInfo, ListMetadata) may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long fast subscribers may take, after publishing stops, to receive the rest.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Measure provider → subscriber throughput and latency of a KUKSA v2 broker.
///
/// One provider publishes N float/double sensors over `OpenProviderStream`; M
/// subscribers (S of them deliberately slow) each subscribe to all N on their own
/// connection. The run lasts `--duration` seconds plus a few seconds of setup and
/// draining, then prints per-subscriber throughput and latency.
#[derive(Debug, Parser)]
#[command(name = "tomoe-loadgen", version)]
struct Args {
    /// gRPC URL of the broker to measure (ignored with --spawn). It must allow
    /// unauthenticated access, e.g. `tomoe serve --insecure`.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:55555")]
    broker: String,

    /// gRPC URL of another broker for the subscribers (default: the provider's
    /// broker). Measures the path between two brokers, for example two ECUs joined
    /// by Zenoh: the provider publishes on one, the subscribers read on the other.
    /// Both must serve the same catalog.
    #[arg(long, value_name = "URL")]
    subscribe_broker: Option<String>,

    /// Number of signals to publish and subscribe to: the first N float/double
    /// sensors under `Vehicle` whose min/max admit the values 0..2^24.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    signals: u32,

    /// Number of subscribers, slow ones included; each has its own gRPC connection
    /// and subscribes to all N signals with `buffer_size` 1000.
    #[arg(long, value_name = "M", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    subscribers: u32,

    /// How many of the M subscribers are slow (see --slow-delay-ms). For a baseline
    /// with the same number of fast subscribers, pass 0 and S fewer --subscribers.
    #[arg(long, value_name = "S", default_value_t = 1)]
    slow_subscribers: u32,

    /// How long a slow subscriber sleeps after each message it receives.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    slow_delay_ms: u64,

    /// How long the provider publishes, in seconds (fractions allowed). Setup and
    /// draining add a few seconds; the run always ends by itself.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = positive_seconds)]
    duration: f64,

    /// Target total signal updates per second; 0 publishes as fast as the fast
    /// subscribers keep up (see --window).
    #[arg(long, value_name = "R", default_value_t = 0)]
    rate: u64,

    /// Signals per `PublishValuesRequest` (default: N, i.e. every signal in every
    /// batch). Batches take the signals in turn.
    #[arg(long, value_name = "B", value_parser = clap::value_parser!(u32).range(1..))]
    batch: Option<u32>,

    /// Most batches the provider may be ahead of the slowest fast subscriber. Keeps
    /// "as fast as possible" at what the fast subscribers sustain instead of
    /// overflowing their broker queues (1000); slow subscribers are not waited for.
    #[arg(long, value_name = "BATCHES", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=1000))]
    window: u64,

    /// Print one JSON object with the results instead of the table.
    #[arg(long)]
    json: bool,

    /// Path of a `tomoe` binary: start `PATH serve --address 127.0.0.1:<free port>
    /// --data-dir <temp dir> --insecure`, measure it, and stop it at the end.
    #[arg(long, value_name = "PATH")]
    spawn: Option<PathBuf>,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    let seconds: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0 {
        Ok(seconds)
    } else {
        Err("expected a number of seconds above 0 and at most 86400".to_owned())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match measure(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark `args` describe and prints its results.
async fn measure(args: Args) -> anyhow::Result<()> {
    ensure!(
        args.slow_subscribers <= args.subscribers,
        "--slow-subscribers ({}) cannot exceed --subscribers ({})",
        args.slow_subscribers,
        args.subscribers
    );
    if let Some(batch) = args.batch {
        ensure!(
            batch <= args.signals,
            "--batch ({batch}) cannot exceed --signals ({}): a signal appears at most once per batch",
            args.signals
        );
    }

    let spawned = match &args.spawn {
        Some(program) => {
            eprintln!("starting {} ...", program.display());
            Some(spawn::SpawnedBroker::start(program).await?)
        }
        None => None,
    };
    let url = spawned
        .as_ref()
        .map_or_else(|| args.broker.clone(), |b| b.url.clone());
    let outcome = run(&args, &url).await;
    if let Some(broker) = spawned {
        match broker.stop().await {
            Ok(None) => {}
            Ok(Some(log)) => eprintln!(
                "warning: the spawned broker had exited before the end of the run; its output:\n{log}"
            ),
            Err(error) => eprintln!("warning: {error:#}"),
        }
    }
    let results = outcome?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results.to_json())?);
    } else {
        print!("{}", results.to_table());
    }
    results.verdict()
}

/// Sets up, runs and tears down one measurement against the broker at `url`.
async fn run(args: &Args, url: &str) -> anyhow::Result<report::Results> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("invalid broker URL {url:?}"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    let control = tokio::time::timeout(Duration::from_secs(10), endpoint.connect())
        .await
        .with_context(|| format!("connecting to {url} timed out"))?
        .with_context(|| format!("cannot connect to {url}"))?;
    let mut client = proto::val_client::ValClient::new(control.clone());
    let info = tokio::time::timeout(
        CALL_TIMEOUT,
        client.get_server_info(proto::GetServerInfoRequest {}),
    )
    .await
    .with_context(|| format!("GetServerInfo on {url} timed out"))?
    .with_context(|| format!("GetServerInfo on {url} failed"))?
    .into_inner();
    let signals: Arc<[signals::Signal]> = tokio::time::timeout(
        CALL_TIMEOUT,
        signals::choose(control.clone(), args.signals as usize),
    )
    .await
    .context("ListMetadata timed out")??
    .into();

    // The subscribers' broker: the provider's, or another one serving the same
    // signals under the same ids.
    let subscribe_endpoint = match &args.subscribe_broker {
        None => endpoint.clone(),
        Some(other) => {
            let endpoint = Endpoint::from_shared(other.clone())
                .with_context(|| format!("invalid broker URL {other:?}"))?
                .connect_timeout(Duration::from_secs(5))
                .tcp_nodelay(true);
            let channel = tokio::time::timeout(Duration::from_secs(10), endpoint.connect())
                .await
                .with_context(|| format!("connecting to {other} timed out"))?
                .with_context(|| format!("cannot connect to {other}"))?;
            let theirs = tokio::time::timeout(
                CALL_TIMEOUT,
                signals::choose(channel, args.signals as usize),
            )
            .await
            .context("ListMetadata timed out")??;
            let same = theirs.len() == signals.len()
                && theirs
                    .iter()
                    .zip(signals.iter())
                    .all(|(a, b)| a.path == b.path && a.id == b.id);
            ensure!(
                same,
                "{other} does not serve the signals of {url} under the same ids: the two brokers need the same catalog"
            );
            endpoint
        }
    };
    let fast = (args.subscribers - args.slow_subscribers) as usize;
    let log = Arc::new(SendLog::new());
    let progress = Arc::new(Progress::new(fast));
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut readiness = Vec::new();
    for number in 1..=args.subscribers as usize {
        let slow = number > fast;
        let spec = subscriber::Spec {
            number,
            slow_delay: slow.then(|| Duration::from_millis(args.slow_delay_ms)),
            progress_slot: (!slow).then_some(number - 1),
        };
        let (ready, ready_rx) = oneshot::channel();
        readiness.push(ready_rx);
        tasks.push(tokio::spawn(subscriber::run(
            spec,
            subscribe_endpoint.clone(),
            signals.clone(),
            log.clone(),
            progress.clone(),
            ready,
            stop_rx.clone(),
        )));
    }
    for (index, ready) in readiness.into_iter().enumerate() {
        if ready.await.is_err() {
            // The task ended before subscribing; its error says why.
            let task = tasks.swap_remove(index);
            for other in &tasks {
                other.abort();
            }
            return Err(match task.await {
                Ok(Err(error)) => error,
                Ok(Ok(_)) => anyhow::anyhow!("subscriber {} ended during setup", index + 1),
                Err(error) => {
                    anyhow::anyhow!("subscriber {} panicked during setup: {error}", index + 1)
                }
            });
        }
    }

    let provider = provider::Provider::open(control.clone(), &signals).await?;
    let plan = provider::Plan {
        duration: Duration::from_secs_f64(args.duration),
        rate: (args.rate > 0).then_some(args.rate),
        batch: args.batch.unwrap_or(args.signals) as usize,
        window: args.window,
    };
    eprintln!(
        "publishing {} signals to {} subscriber(s) ({} slow) for {} s ...",
        signals.len(),
        args.subscribers,
        args.slow_subscribers,
        args.duration
    );
    let mut published = provider.publish(&plan, &signals, &log, &progress).await?;

    // Let the fast subscribers receive what is still in flight.
    let drain_deadline = Instant::now() + DRAIN_TIMEOUT;
    while progress
        .slowest()
        .is_some_and(|received| received < published.updates)
        && Instant::now() < drain_deadline
    {
        tokio::select! {
            () = progress.changed() => {}
            () = tokio::time::sleep_until(drain_deadline.into()) => {}
        }
    }
    let ended = Instant::now();
    let _ = stop.send(true);
    let mut subscribers = Vec::new();
    for (index, task) in tasks.into_iter().enumerate() {
        let abort = task.abort_handle();
        match tokio::time::timeout(subscriber::SLOW_DRAIN_LIMIT + Duration::from_secs(5), task)
            .await
        {
            Ok(Ok(Ok(report))) => subscribers.push(report),
            Ok(Ok(Err(error))) => return Err(error),
            Ok(Err(error)) => bail!("subscriber {} panicked: {error}", index + 1),
            Err(_) => {
                abort.abort();
                bail!("subscriber {} did not stop in time", index + 1);
            }
        }
    }
    provider.close(&mut published).await;

    Ok(report::Results {
        url: match &args.subscribe_broker {
            Some(other) => format!("{url}, subscribers at {other}"),
            None => url.to_owned(),
        },
        server: format!("{} {}", info.name, info.version),
        spawned: args.spawn.is_some(),
        signals: signals.len(),
        subscribers: args.subscribers as usize,
        slow_delay: Duration::from_millis(args.slow_delay_ms),
        plan,
        published,
        ended,
        reports: subscribers,
    })
}
