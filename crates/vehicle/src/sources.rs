//! Where a vehicle's frames come from: the simulator in scaled real time, a replayed
//! candump log, or the profile's live SocketCAN interfaces.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tomoe_can::{CanError, FrameSink, FrameSource, LogReplay, Pacing, ReplayOptions};

use crate::{FeedError, LoadedProfile, SimulatedVehicle, ValueSink};

/// Simulation step, seconds of vehicle time.
const STEP: f64 = 0.1;
/// Wall-clock time between simulation ticks.
const TICK: Duration = Duration::from_millis(100);

impl SimulatedVehicle {
    /// Runs the vehicle in real time scaled by `speed` (2.0 is twice as fast) until
    /// an error: its frames go to `frames`, and what the profile's buses cannot carry
    /// goes to `direct`, as a virtual ECU would publish it. Values `direct` refuses
    /// are logged at debug level.
    pub async fn drive(
        mut self,
        speed: f64,
        frames: &mut (impl FrameSink + ?Sized),
        direct: &mut impl ValueSink,
    ) -> Result<(), FeedError> {
        publish_direct(direct, self.static_values()).await?;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let mut owed = 0.0;
        let mut vehicle_time = 0.0;
        loop {
            ticker.tick().await;
            owed += TICK.as_secs_f64() * speed;
            while owed >= STEP {
                owed -= STEP;
                vehicle_time += STEP;
                let output = self.step(STEP, start + vehicle_time);
                for frame in &output.frames {
                    frames.send(frame).await.map_err(FeedError::Frames)?;
                }
                publish_direct(direct, output.direct).await?;
            }
        }
    }
}

impl SimulatedVehicle {
    /// Drives `duration_s` seconds of vehicle time as fast as the machine goes, with
    /// no clock and no broker: `each` gets the vehicle time after every step and the
    /// VSS values a broker would receive then (what `feeder` decodes from the step's
    /// frames, and the direct values; first the static ones at time 0). For offline
    /// estimates such as a telemetry policy's bandwidth.
    pub fn drive_offline(
        mut self,
        feeder: &mut crate::Feeder,
        duration_s: f64,
        mut each: impl FnMut(f64, Vec<(tomoe_vss::LeafId, Option<tomoe_vss::Value>)>),
    ) {
        each(0.0, self.static_values());
        let mut vehicle_time = 0.0;
        while vehicle_time < duration_s {
            vehicle_time += STEP;
            let output = self.step(STEP, vehicle_time);
            for frame in &output.frames {
                feeder.process(frame);
            }
            let mut values = std::mem::take(&mut feeder.pending);
            values.extend(output.direct);
            each(vehicle_time, values);
        }
    }
}

async fn publish_direct(
    sink: &mut impl ValueSink,
    values: Vec<(tomoe_vss::LeafId, Option<tomoe_vss::Value>)>,
) -> Result<(), FeedError> {
    if values.is_empty() {
        return Ok(());
    }
    for entry in sink.publish(values).await? {
        tracing::debug!(path = %entry.path, reason = %entry.reason, "simulated value refused");
    }
    Ok(())
}

/// A replay of `log` restricted to the channels of `profile`'s buses; malformed
/// lines are skipped with a warning.
pub fn replay_source(
    profile: &LoadedProfile,
    log: &Path,
    pacing: Pacing,
    looped: bool,
) -> Result<LogReplay, CanError> {
    let options = ReplayOptions {
        pacing,
        looped,
        channels: profile
            .buses
            .iter()
            .map(|bus| bus.spec.channel.clone())
            .collect(),
        skip_malformed: true,
    };
    LogReplay::open(log, options)
}

/// Copies every frame of `source` to `sink` until the source ends.
pub async fn forward(
    source: &mut (impl FrameSource + ?Sized),
    sink: &mut (impl FrameSink + ?Sized),
) -> Result<(), FeedError> {
    while let Some(frame) = source.recv().await.map_err(FeedError::Source)? {
        sink.send(&frame).await.map_err(FeedError::Frames)?;
    }
    sink.flush().await.map_err(FeedError::Frames)
}

#[cfg(target_os = "linux")]
pub use live::{live_sink, LiveSource};

#[cfg(target_os = "linux")]
mod live {
    use async_trait::async_trait;
    use tokio::sync::mpsc;
    use tokio::task::JoinSet;
    use tomoe_can::{CanError, ChannelRouter, Frame, FrameSource, SocketCan};

    use crate::LoadedProfile;

    /// The frames of all SocketCAN interfaces of a profile's buses, each frame named
    /// by its bus's channel. Linux only.
    #[derive(Debug)]
    pub struct LiveSource {
        frames: mpsc::Receiver<Result<Frame, CanError>>,
        _readers: JoinSet<()>,
    }

    impl LiveSource {
        /// Opens the interface of every bus of `profile` (its channel names the
        /// interface) and starts reading them; call it inside a Tokio runtime.
        pub fn open(profile: &LoadedProfile) -> Result<LiveSource, CanError> {
            let (sender, frames) = mpsc::channel(1024);
            let mut readers = JoinSet::new();
            for spec in profile.buses.iter().map(|bus| bus.spec.clone()) {
                let mut interface = SocketCan::open(&spec.channel)?;
                let sender = sender.clone();
                readers.spawn(async move {
                    loop {
                        let frame = match interface.recv().await {
                            Ok(Some(frame)) => Ok(frame.with_channel(spec.channel.as_str())),
                            Ok(None) => return,
                            Err(error) => Err(error),
                        };
                        let failed = frame.is_err();
                        if sender.send(frame).await.is_err() || failed {
                            return;
                        }
                    }
                });
            }
            Ok(LiveSource {
                frames,
                _readers: readers,
            })
        }
    }

    #[async_trait]
    impl FrameSource for LiveSource {
        /// The next frame of any interface; `Ok(None)` once all of them have ended.
        async fn recv(&mut self) -> Result<Option<Frame>, CanError> {
            self.frames.recv().await.transpose()
        }
    }

    /// The SocketCAN interfaces of `profile`'s buses as one sink that routes each
    /// frame by its channel, for writing actuator targets. Linux only.
    pub fn live_sink(profile: &LoadedProfile) -> Result<ChannelRouter, CanError> {
        let mut router = ChannelRouter::new();
        for bus in &profile.buses {
            let interface = SocketCan::open(&bus.spec.channel)?;
            router = router.route(&bus.spec.channel, Box::new(interface));
        }
        Ok(router)
    }
}
