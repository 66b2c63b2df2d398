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
use tomoe_broker::{refused_publications, Permissions, RefusedEntry};
use tomoe_can::{CandumpReader, FrameSink, FrameSource, LogRecorder, LogReplay, Pacing};
use tomoe_dbc::Database;
use tomoe_kuksa::value_to_v2;
use tomoe_vehicle::{
    default_profiles_dir, replay_source, BrokerSink, FeedError, Feeder, FlushPolicy, LoadedProfile,
    Profile, ValueSink,
};
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
    let replay = replay_source(&profile, &log, pacing(args.speed)?, args.looped)
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
    let (outbound, inbound) = mpsc::channel(64);
    let responses = client
        .open_provider_stream(ReceiverStream::new(inbound))
        .await
        .map_err(|s| anyhow!("the broker refused the provider stream: {}", s.message()))?
        .into_inner();
    let mut sink = RemoteSink::start(outbound, responses, catalog.clone(), remote_ids);
    let mut feeder = Feeder::new(profile, catalog);
    feeder
        .run(source, &mut sink, policy, crate::serve::shutdown_signal())
        .await
        .context("the replay stopped")?;
    Ok(feeder)
}

/// A KUKSA broker reached over gRPC as a [`ValueSink`]: each batch is one
/// `PublishValuesRequest` on a provider stream. The remote broker refuses a batch
/// with one bad entry as a whole, so entries the profile's catalog refuses (by the
/// broker's own rules, `tomoe_broker::refused_publications`) are dropped and
/// reported here first; what the remote broker still refuses is logged.
struct RemoteSink {
    outbound: Option<mpsc::Sender<v2::OpenProviderStreamRequest>>,
    catalog: Arc<tomoe_vss::Catalog>,
    remote_ids: HashMap<String, i32>,
    request_id: u32,
    /// Set by the response reader when the broker ends the stream.
    ended: Arc<std::sync::Mutex<Option<String>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl RemoteSink {
    fn start(
        outbound: mpsc::Sender<v2::OpenProviderStreamRequest>,
        mut responses: tonic::Streaming<v2::OpenProviderStreamResponse>,
        catalog: Arc<tomoe_vss::Catalog>,
        remote_ids: HashMap<String, i32>,
    ) -> RemoteSink {
        let ended = Arc::new(std::sync::Mutex::new(None));
        let reason = ended.clone();
        let reader = tokio::spawn(async move {
            let message = loop {
                match futures::StreamExt::next(&mut responses).await {
                    Some(Ok(message)) => {
                        if let Some(
                            v2::open_provider_stream_response::Action::PublishValuesResponse(r),
                        ) = message.action
                        {
                            for (id, error) in r.status {
                                tracing::warn!(id, message = %error.message, "the broker refused a value");
                            }
                        }
                    }
                    Some(Err(status)) => {
                        break format!("the broker ended the provider stream: {}", status.message())
                    }
                    None => break "the broker closed the provider stream".to_owned(),
                }
            };
            if let Ok(mut ended) = reason.lock() {
                *ended = Some(message);
            }
        });
        RemoteSink {
            outbound: Some(outbound),
            catalog,
            remote_ids,
            request_id: 0,
            ended,
            reader,
        }
    }

    fn ended(&self) -> Option<String> {
        self.ended.lock().ok().and_then(|ended| ended.clone())
    }
}

impl ValueSink for RemoteSink {
    async fn publish(
        &mut self,
        values: Vec<(LeafId, Option<Value>)>,
    ) -> Result<Vec<RefusedEntry>, FeedError> {
        if let Some(reason) = self.ended() {
            return Err(FeedError::Sink(reason.into()));
        }
        let refused = refused_publications(&self.catalog, &Permissions::allow_all(), &values);
        let refused_at: Vec<usize> = refused.iter().map(|entry| entry.index).collect();
        let data_points = values
            .into_iter()
            .enumerate()
            .filter(|(index, _)| refused_at.binary_search(index).is_err())
            .filter_map(|(_, (leaf, value))| {
                let id = self
                    .catalog
                    .leaf_by_id(leaf)
                    .and_then(|l| self.remote_ids.get(&l.path))?;
                let datapoint = v2::Datapoint {
                    timestamp: None,
                    value: value.as_ref().map(value_to_v2),
                };
                Some((*id, datapoint))
            })
            .collect();
        self.request_id = self.request_id.wrapping_add(1);
        let request = v2::OpenProviderStreamRequest {
            action: Some(
                v2::open_provider_stream_request::Action::PublishValuesRequest(
                    v2::PublishValuesRequest {
                        request_id: self.request_id,
                        data_points,
                    },
                ),
            ),
        };
        let outbound = self
            .outbound
            .as_ref()
            .ok_or_else(|| FeedError::Sink("the provider stream is closed".into()))?;
        outbound
            .send(request)
            .await
            .map_err(|_| FeedError::Sink("the provider stream closed".into()))?;
        Ok(refused)
    }

    async fn finish(&mut self) -> Result<(), FeedError> {
        self.outbound = None;
        // Let the broker take the last batch before the call ends.
        let _ = tokio::time::timeout(Duration::from_millis(500), &mut self.reader).await;
        self.reader.abort();
        Ok(())
    }
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
