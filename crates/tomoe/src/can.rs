//! `tomoe can decode|replay|record`.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use kuksa_rust_sdk::v2_proto as v2;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tomoe_broker::Permissions;
use tomoe_can::{
    CandumpReader, FrameSink, FrameSource, LogRecorder, LogReplay, Pacing, ReplayOptions,
};
use tomoe_dbc::Database;
use tomoe_kuksa::value_to_v2;
use tomoe_vehicle::{default_profiles_dir, Feeder, LoadedProfile, Profile};
use tomoe_vss::{LeafId, Value};

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

fn pacing(speed: f64) -> anyhow::Result<Pacing> {
    if !speed.is_finite() || speed < 0.0 {
        bail!("--speed must be 0 (as fast as possible) or a positive factor, not {speed}");
    }
    Ok(if speed == 0.0 {
        Pacing::AsFastAsPossible
    } else if speed == 1.0 {
        Pacing::Realtime
    } else {
        Pacing::Scaled(speed)
    })
}

/// Loads the profile and its log for `tomoe can replay`.
fn replay_inputs(args: &CanReplayArgs) -> anyhow::Result<(LoadedProfile, std::path::PathBuf)> {
    let (dir, profile) = Profile::find(&args.profile, &default_profiles_dir())?;
    let log = match &args.log {
        Some(log) => log.clone(),
        None => profile
            .replay_log(&dir)
            .ok_or_else(|| anyhow!("profile \"{}\" names no log; give --log FILE", profile.id))?,
    };
    let loaded = LoadedProfile::load(&dir, profile).context("cannot load the profile")?;
    Ok((loaded, log))
}

pub async fn replay(args: CanReplayArgs) -> anyhow::Result<()> {
    let (profile, log) = replay_inputs(&args)?;
    let options = ReplayOptions {
        pacing: pacing(args.speed)?,
        looped: args.looped,
        channels: profile
            .buses
            .iter()
            .map(|b| b.spec.channel.clone())
            .collect(),
        skip_malformed: true,
    };
    let replay = LogReplay::open(&log, options)
        .with_context(|| format!("cannot open the log {}", log.display()))?;
    match args.broker.clone() {
        Some(url) => replay_remote(&args, &profile, replay, &url).await,
        None => replay_embedded(&args, &profile, replay).await,
    }
}

/// Replays into an embedded broker that also serves the KUKSA API.
async fn replay_embedded(
    args: &CanReplayArgs,
    profile: &LoadedProfile,
    mut replay: LogReplay,
) -> anyhow::Result<()> {
    let catalog = profile.catalog()?;
    let prepared = crate::serve::prepare(&args.embedded, catalog).await?;
    let broker = prepared.broker.clone();
    out!("{} (vehicle {})", prepared.banner, profile.profile.id)
        .context("cannot write to standard output")?;
    let server = tokio::spawn(
        prepared
            .server
            .run(prepared.listener, crate::serve::shutdown_signal()),
    );
    let permissions = Permissions::allow_all();
    let mut feeder = Feeder::new(profile, broker.catalog_arc());
    let spinner = frame_spinner("replaying");
    let realtime = !matches!(args.speed, 0.0);
    loop {
        tokio::select! {
            _ = crate::serve::shutdown_signal() => break,
            frame = replay.recv() => {
                let Some(frame) = frame.context("cannot read the log")? else { break };
                feeder.process(&frame);
                spinner.inc(1);
                if realtime || feeder.stats().frames.is_multiple_of(256) {
                    feeder.publish(&broker, &permissions).context("the broker refused the values")?;
                }
            }
        }
    }
    feeder
        .publish(&broker, &permissions)
        .context("the broker refused the values")?;
    spinner.finish_and_clear();
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

/// Replays into a running broker over gRPC, as a KUKSA provider.
async fn replay_remote(
    args: &CanReplayArgs,
    profile: &LoadedProfile,
    mut replay: LogReplay,
    url: &str,
) -> anyhow::Result<()> {
    let mut client = tomoe_kuksa::Connector::new(url)
        .token(args.token.as_deref())
        .connect()
        .await?
        .v2;
    // Map the profile catalog's leaves to the remote broker's ids by path.
    let metadata = client
        .list_metadata(v2::ListMetadataRequest {
            root: "**".into(),
            filter: String::new(),
        })
        .await
        .map_err(|s| anyhow!("the broker refused to list metadata: {}", s.message()))?
        .into_inner()
        .metadata;
    let remote_ids: HashMap<String, i32> = metadata.into_iter().map(|m| (m.path, m.id)).collect();
    let catalog = Arc::new(profile.catalog()?);
    let mut feeder = Feeder::new(profile, catalog.clone());
    let (outbound, inbound) = mpsc::channel(64);
    let mut responses = client
        .open_provider_stream(ReceiverStream::new(inbound))
        .await
        .map_err(|s| anyhow!("the broker refused the provider stream: {}", s.message()))?
        .into_inner();
    let mut ids_of = |leaf: LeafId| -> Option<i32> {
        catalog
            .leaf_by_id(leaf)
            .and_then(|l| remote_ids.get(&l.path))
            .copied()
    };
    let spinner = frame_spinner("replaying");
    let realtime = !matches!(args.speed, 0.0);
    let mut request_id = 0u32;
    loop {
        tokio::select! {
            _ = crate::serve::shutdown_signal() => break,
            response = futures::StreamExt::next(&mut responses) => match response {
                Some(Ok(message)) => {
                    if let Some(v2::open_provider_stream_response::Action::PublishValuesResponse(r)) = message.action {
                        for (id, error) in r.status {
                            tracing::warn!(id, message = %error.message, "the broker refused a value");
                        }
                    }
                }
                Some(Err(status)) => bail!("the broker ended the provider stream: {}", status.message()),
                None => bail!("the broker closed the provider stream"),
            },
            frame = replay.recv() => {
                let Some(frame) = frame.context("cannot read the log")? else { break };
                feeder.process(&frame);
                spinner.inc(1);
                if feeder.has_pending() && (realtime || feeder.stats().frames.is_multiple_of(256)) {
                    request_id = request_id.wrapping_add(1);
                    send_batch(&outbound, &mut ids_of, feeder.take_pending(), request_id).await?;
                }
            }
        }
    }
    if feeder.has_pending() {
        send_batch(
            &outbound,
            &mut ids_of,
            feeder.take_pending(),
            request_id.wrapping_add(1),
        )
        .await?;
    }
    spinner.finish_and_clear();
    drop(outbound);
    // Let the broker take the last batch before the call ends.
    while let Ok(Some(_)) = tokio::time::timeout(
        Duration::from_millis(500),
        futures::StreamExt::next(&mut responses),
    )
    .await
    {}
    report(args.json, &feeder)
}

async fn send_batch(
    outbound: &mpsc::Sender<v2::OpenProviderStreamRequest>,
    ids_of: &mut impl FnMut(LeafId) -> Option<i32>,
    updates: Vec<(LeafId, Option<Value>)>,
    request_id: u32,
) -> anyhow::Result<()> {
    let data_points = updates
        .into_iter()
        .filter_map(|(leaf, value)| {
            ids_of(leaf).map(|id| {
                (
                    id,
                    v2::Datapoint {
                        timestamp: None,
                        value: value.as_ref().map(value_to_v2),
                    },
                )
            })
        })
        .collect();
    let request = v2::OpenProviderStreamRequest {
        action: Some(
            v2::open_provider_stream_request::Action::PublishValuesRequest(
                v2::PublishValuesRequest {
                    request_id,
                    data_points,
                },
            ),
        ),
    };
    outbound
        .send(request)
        .await
        .map_err(|_| anyhow!("the provider stream closed"))
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
        bail!("recording needs SocketCAN, which only Linux has")
    }
}
