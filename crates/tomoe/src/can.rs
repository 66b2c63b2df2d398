//! `tomoe can decode|replay|record`.

use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tomoe_broker::Permissions;
use tomoe_can::{CandumpReader, FrameSink, FrameSource, LogRecorder, LogReplay, Pacing};
use tomoe_dbc::Database;
use tomoe_vehicle::{
    default_profiles_dir, replay_source, BrokerSink, Feeder, FlushPolicy, LoadedProfile, Profile,
    RemoteSink,
};

use crate::cli::{CanDecodeArgs, CanRecordArgs, CanReplayArgs};

/// A spinner on standard error counting frames (hidden when stderr is not a terminal).
fn frame_spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {pos} frames ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

pub fn decode(args: CanDecodeArgs) -> anyhow::Result<()> {
    let database = Database::from_file(&args.dbc).context("cannot load the DBC")?;
    for warning in database.warnings() {
        tracing::warn!("{warning}");
    }
    let reader = CandumpReader::open(&args.log).context("cannot open the log")?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let spinner = frame_spinner("decoding");
    let mut names: Vec<String> = Vec::new();
    for frame in reader {
        let frame = frame.context("cannot read the log")?;
        spinner.inc(1);
        if args
            .channel
            .as_deref()
            .is_some_and(|c| c != &**frame.channel())
        {
            continue;
        }
        let Some(message) = database.message_for(frame.id(), frame.is_extended()) else {
            continue;
        };
        let mut signals = serde_json::Map::new();
        names.clear();
        let complete = message.decode(frame.data(), |index, value| {
            signals.insert(message.signals()[index].name().to_owned(), json!(value));
        });
        let mut record = json!({
            "t": frame.timestamp(),
            "channel": &**frame.channel(),
            "id": frame.id(),
            "message": message.name(),
            "signals": signals,
        });
        if !complete {
            record["truncated"] = json!(true);
        }
        writeln!(out, "{record}")?;
    }
    spinner.finish_and_clear();
    out.flush()?;
    Ok(())
}

pub async fn replay(args: CanReplayArgs) -> anyhow::Result<()> {
    let (dir, profile) = Profile::find(&args.profile, &default_profiles_dir())?;
    let log = args.log.clone().or_else(|| profile.replay_log(&dir));
    let log =
        log.ok_or_else(|| anyhow!("profile \"{}\" names no log; give --log FILE", profile.id))?;
    let profile = LoadedProfile::load(&dir, profile).context("cannot load the profile")?;
    let pacing = Pacing::from_factor(args.speed).ok_or_else(|| {
        anyhow!(
            "--speed must be 0 (as fast as possible) or a positive factor, not {}",
            args.speed
        )
    })?;
    let replay = replay_source(&profile, &log, pacing, args.looped)
        .with_context(|| format!("cannot open the log {}", log.display()))?;
    // In real time each frame's values go out at once; as fast as possible, in batches.
    let policy = if args.speed == 0.0 {
        FlushPolicy::frames(256)
    } else {
        FlushPolicy::every_frame()
    };
    let mut source = Counted {
        inner: replay,
        spinner: frame_spinner("replaying"),
    };
    let feeder = match args.broker.clone() {
        Some(url) => replay_remote(&args, &profile, &mut source, policy, &url).await?,
        None => return replay_embedded(&args, &profile, &mut source, policy).await,
    };
    source.spinner.finish_and_clear();
    report(args.json, &feeder)
}

/// A frame source that counts its frames on a spinner.
struct Counted<S> {
    inner: S,
    spinner: ProgressBar,
}

#[async_trait::async_trait]
impl<S: FrameSource> FrameSource for Counted<S> {
    async fn recv(&mut self) -> Result<Option<tomoe_can::Frame>, tomoe_can::CanError> {
        let frame = self.inner.recv().await?;
        if frame.is_some() {
            self.spinner.inc(1);
        }
        Ok(frame)
    }
}

/// Replays into an embedded broker that also serves the KUKSA API.
async fn replay_embedded(
    args: &CanReplayArgs,
    profile: &LoadedProfile,
    source: &mut Counted<LogReplay>,
    policy: FlushPolicy,
) -> anyhow::Result<()> {
    let setup = args.embedded.setup(profile.catalog()?)?;
    let prepared = crate::serve::prepare(setup).await?;
    let broker = prepared.broker.clone();
    out!("{} (vehicle {})", prepared.banner, profile.profile.id)
        .context("cannot write to standard output")?;
    let server = tokio::spawn(
        prepared
            .server
            .run(prepared.listener, crate::serve::shutdown_signal()),
    );
    let mut feeder = Feeder::new(profile, broker.catalog_arc());
    let mut sink = BrokerSink::new(broker, Permissions::allow_all());
    feeder
        .run(source, &mut sink, policy, crate::serve::shutdown_signal())
        .await
        .context("the replay stopped")?;
    source.spinner.finish_and_clear();
    report(args.json, &feeder)?;
    if !server.is_finished() {
        out!("log finished; the broker keeps serving until Ctrl-C")
            .context("cannot write to standard output")?;
    }
    server
        .await
        .context("the server task failed")?
        .context("the gRPC server stopped")?;
    Ok(())
}

fn report(json_output: bool, feeder: &Feeder) -> anyhow::Result<()> {
    let stats = feeder.stats();
    if json_output {
        out!(
            "{}",
            json!({"frames": stats.frames, "decoded": stats.decoded, "unknown": stats.unknown,
                   "published": stats.published, "rejected": stats.rejected, "rules": feeder.rule_count()})
        )?;
    } else {
        out!(
            "{} frames, {} decoded, {} VSS values published ({} rejected by the catalog), {} mapping rules",
            stats.frames,
            stats.decoded,
            stats.published,
            stats.rejected,
            feeder.rule_count()
        )?;
    }
    Ok(())
}

/// Replays into a running broker over gRPC, as a KUKSA provider; returns the feeder
/// for its counters.
async fn replay_remote(
    args: &CanReplayArgs,
    profile: &LoadedProfile,
    source: &mut Counted<LogReplay>,
    policy: FlushPolicy,
    url: &str,
) -> anyhow::Result<Feeder> {
    let catalog = Arc::new(profile.catalog()?);
    let mut sink = RemoteSink::connect(url, args.token.as_deref(), catalog.clone()).await?;
    let mut feeder = Feeder::new(profile, catalog);
    feeder
        .run(source, &mut sink, policy, crate::serve::shutdown_signal())
        .await
        .context("the replay stopped")?;
    Ok(feeder)
}

pub async fn record(args: CanRecordArgs) -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let mut source = tomoe_can::SocketCan::open(&args.interface)?;
        let mut recorder = LogRecorder::create(&args.output)
            .with_context(|| format!("cannot create {}", args.output.display()))?;
        let spinner = frame_spinner(&format!("recording {}", args.interface));
        let deadline = args
            .duration
            .map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s.max(0.0)));
        loop {
            let until_deadline = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = crate::serve::shutdown_signal() => break,
                _ = until_deadline => break,
                frame = source.recv() => {
                    let Some(frame) = frame? else { break };
                    recorder.send(&frame).await?;
                    spinner.inc(1);
                }
            }
        }
        let frames = spinner.position();
        spinner.finish_and_clear();
        recorder.finish()?;
        out!(
            "recorded {frames} frames from {} to {}",
            args.interface,
            args.output.display()
        )?;
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = args;
        anyhow::bail!("recording needs SocketCAN, which only Linux has")
    }
}
