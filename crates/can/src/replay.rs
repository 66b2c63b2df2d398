//! Replay of candump -L logs as a frame source.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek};
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::{CanError, CandumpReader, Frame, FrameSource};

/// Smallest pause between the last frame of a pass and the first of the next.
const MIN_LOOP_GAP: f64 = 0.001;

/// How fast a [`LogReplay`] hands out frames.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Pacing {
    /// At the pace the log was recorded.
    #[default]
    Realtime,
    /// Faster or slower by a factor: 2.0 is twice as fast, 0.5 half as fast.
    Scaled(f64),
    /// Without waiting.
    AsFastAsPossible,
}

impl Pacing {
    /// The pacing of a speed factor: 0 as fast as possible, 1 real time, any
    /// other positive factor scaled; `None` for a negative or non-finite factor.
    pub fn from_factor(factor: f64) -> Option<Pacing> {
        match factor {
            f if !f.is_finite() || f < 0.0 => None,
            0.0 => Some(Pacing::AsFastAsPossible),
            1.0 => Some(Pacing::Realtime),
            f => Some(Pacing::Scaled(f)),
        }
    }
}

/// Options of a [`LogReplay`].
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// How fast frames are handed out.
    pub pacing: Pacing,
    /// Start again at the end of the log, shifting timestamps so they keep increasing.
    pub looped: bool,
    /// Replay only these channels; empty means all.
    pub channels: Vec<String>,
    /// Skip malformed lines with a warning instead of ending with an error.
    pub skip_malformed: bool,
}

/// A [`FrameSource`] replaying a candump -L log.
///
/// Pacing follows the log's own timestamps relative to the first replayed frame:
/// a frame stamped `t` is handed out `(t - t_first) / speed` after the first. A
/// frame stamped earlier than one before it (logs merged from several channels
/// are not always sorted) goes out without waiting. Frames keep their log
/// timestamps; in loop mode each pass is shifted past the end of the previous one
/// by the span of the log plus its mean frame interval (at least 1 ms).
///
/// The log is read with ordinary buffered reads as frames are needed, so logs of
/// any size replay in constant memory. `recv` is cancel-safe: a frame that was
/// waiting for its time is kept for the next call.
#[derive(Debug)]
pub struct LogReplay<R = BufReader<File>> {
    reader: CandumpReader<R>,
    /// Speed factor, `None` for as fast as possible.
    speed: Option<f64>,
    looped: bool,
    channels: Vec<String>,
    /// Wall-clock instant and log timestamp of the first replayed frame.
    start: Option<(Instant, f64)>,
    /// Whether the first pass through the log is still running.
    first_pass: bool,
    /// Largest timestamp and frame count of the first pass, for the loop shift.
    max_timestamp: f64,
    frames_in_pass: u64,
    /// Shift added to the timestamps of the current pass.
    shift: f64,
    /// The timestamp of the previous frame handed out, to spot gaps.
    previous: Option<f64>,
    pending: Option<Frame>,
}

/// The longest gap between two frames of a log that a paced replay waits for, in
/// seconds of log time; a longer gap (a corrupt or spliced log: a timestamp of 2^32 s
/// once stalled a replay for 50 days) is skipped with a warning.
pub const MAX_REPLAY_GAP_S: f64 = 60.0;

impl LogReplay {
    /// Opens a log file for replay.
    pub fn open(path: impl AsRef<Path>, options: ReplayOptions) -> Result<Self, CanError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| CanError::Open {
            file: path.display().to_string(),
            source,
        })?;
        Self::from_reader(
            BufReader::with_capacity(64 * 1024, file),
            path.display().to_string(),
            options,
        )
    }
}

impl<R: BufRead + Seek + Send> LogReplay<R> {
    /// Replays the log read from `reader`; `name` appears in error messages.
    pub fn from_reader(
        reader: R,
        name: impl Into<String>,
        options: ReplayOptions,
    ) -> Result<Self, CanError> {
        let speed = match options.pacing {
            Pacing::Realtime => Some(1.0),
            Pacing::Scaled(speed) if speed.is_finite() && speed > 0.0 => Some(speed),
            Pacing::Scaled(speed) => return Err(CanError::InvalidSpeed { speed }),
            Pacing::AsFastAsPossible => None,
        };
        let mut reader = CandumpReader::new(reader, name);
        if options.skip_malformed {
            reader = reader.skip_malformed();
        }
        Ok(Self {
            reader,
            speed,
            looped: options.looped,
            channels: options.channels,
            start: None,
            first_pass: true,
            max_timestamp: f64::NEG_INFINITY,
            frames_in_pass: 0,
            shift: 0.0,
            previous: None,
            pending: None,
        })
    }

    /// Reads the next frame to replay, with the loop shift applied.
    fn next_frame(&mut self) -> Result<Option<Frame>, CanError> {
        loop {
            match self.reader.read_frame() {
                Some(Ok(frame)) => {
                    if !self.channels.is_empty()
                        && !self.channels.iter().any(|c| **c == **frame.channel())
                    {
                        continue;
                    }
                    if self.first_pass {
                        self.frames_in_pass += 1;
                        self.max_timestamp = self.max_timestamp.max(frame.timestamp());
                    }
                    let timestamp = frame.timestamp() + self.shift;
                    return Ok(Some(frame.with_timestamp(timestamp)));
                }
                Some(Err(error)) => return Err(error),
                None if self.looped && self.frames_in_pass > 0 => {
                    let first = self.start.map_or(0.0, |(_, first)| first);
                    let span = (self.max_timestamp - first).max(0.0);
                    let gap = if self.frames_in_pass > 1 {
                        span / (self.frames_in_pass - 1) as f64
                    } else {
                        0.0
                    };
                    self.first_pass = false;
                    self.shift += span + gap.max(MIN_LOOP_GAP);
                    self.reader.rewind()?;
                    tracing::debug!(file = %self.reader.name(), shift = self.shift, "replay starts over");
                }
                None => return Ok(None),
            }
        }
    }
}

#[async_trait]
impl<R: BufRead + Seek + Send> FrameSource for LogReplay<R> {
    async fn recv(&mut self) -> Result<Option<Frame>, CanError> {
        if self.pending.is_none() {
            self.pending = self.next_frame()?;
        }
        let Some(frame) = &self.pending else {
            return Ok(None);
        };
        let timestamp = frame.timestamp();
        if let Some(previous) = self.previous {
            if timestamp - previous > MAX_REPLAY_GAP_S {
                tracing::warn!(
                    from = previous,
                    to = timestamp,
                    "gap of more than {MAX_REPLAY_GAP_S} s in the log; replay goes on at once"
                );
                self.start = Some((Instant::now(), timestamp));
            }
        }
        self.previous = Some(timestamp);
        let (start, first) = *self
            .start
            .get_or_insert_with(|| (Instant::now(), timestamp));
        if let Some(speed) = self.speed {
            let offset = (frame.timestamp() - first) / speed;
            if let Ok(offset) = Duration::try_from_secs_f64(offset) {
                tokio::time::sleep_until(start + offset).await;
            }
        }
        Ok(self.pending.take())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    const LOG: &str = "(10.000000) can0 100#01\n\
                       (10.500000) can1 200#02\n\
                       (11.000000) can0 101#03\n\
                       (12.000000) can0 102#04\n";

    fn replay(options: ReplayOptions) -> LogReplay<Cursor<&'static str>> {
        LogReplay::from_reader(Cursor::new(LOG), "test.log", options).unwrap()
    }

    /// Receives frames until the end or `limit`, with the time each one came out.
    async fn collect(source: &mut impl FrameSource, limit: usize) -> Vec<(Frame, Duration)> {
        let start = Instant::now();
        let mut frames = Vec::new();
        while frames.len() < limit {
            match source.recv().await.unwrap() {
                Some(frame) => frames.push((frame, start.elapsed())),
                None => break,
            }
        }
        frames
    }

    fn ids(frames: &[(Frame, Duration)]) -> Vec<u32> {
        frames.iter().map(|(f, _)| f.id()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn as_fast_as_possible_yields_all_frames_in_order() {
        let mut source = replay(ReplayOptions {
            pacing: Pacing::AsFastAsPossible,
            ..Default::default()
        });
        let frames = collect(&mut source, usize::MAX).await;
        assert_eq!(ids(&frames), [0x100, 0x200, 0x101, 0x102]);
        assert!(frames.iter().all(|(_, at)| at.is_zero()));
        assert_eq!(frames[3].0.timestamp(), 12.0);
        assert!(source.recv().await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn realtime_follows_log_timestamps() {
        let frames = collect(&mut replay(ReplayOptions::default()), usize::MAX).await;
        let times: Vec<u64> = frames.iter().map(|(_, at)| at.as_millis() as u64).collect();
        assert_eq!(times, [0, 500, 1000, 2000]);
    }

    #[tokio::test(start_paused = true)]
    async fn scaled_pacing_divides_the_waits() {
        let mut source = replay(ReplayOptions {
            pacing: Pacing::Scaled(2.0),
            ..Default::default()
        });
        let frames = collect(&mut source, usize::MAX).await;
        let times: Vec<u64> = frames.iter().map(|(_, at)| at.as_millis() as u64).collect();
        assert_eq!(times, [0, 250, 500, 1000]);
        assert_eq!(ids(&frames), [0x100, 0x200, 0x101, 0x102]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_gap_in_the_log_is_not_waited_for() {
        let log =
            "(1.000000) can0 100#\n(4294967296.000000) can0 101#\n(4294967297.000000) can0 102#\n";
        let mut source =
            LogReplay::from_reader(Cursor::new(log), "test.log", ReplayOptions::default()).unwrap();
        let frames = collect(&mut source, usize::MAX).await;
        let times: Vec<u64> = frames.iter().map(|(_, at)| at.as_millis() as u64).collect();
        assert_eq!(times, [0, 0, 1000]);
    }

    #[tokio::test(start_paused = true)]
    async fn unsorted_timestamps_do_not_wait() {
        let log = "(5.000000) can0 100#\n(4.000000) can1 200#\n(6.000000) can0 101#\n";
        let mut source =
            LogReplay::from_reader(Cursor::new(log), "test.log", ReplayOptions::default()).unwrap();
        let frames = collect(&mut source, usize::MAX).await;
        let times: Vec<u64> = frames.iter().map(|(_, at)| at.as_millis() as u64).collect();
        assert_eq!(times, [0, 0, 1000]);
    }

    #[tokio::test(start_paused = true)]
    async fn channel_filter() {
        let mut source = replay(ReplayOptions {
            channels: vec!["can1".into()],
            ..Default::default()
        });
        let frames = collect(&mut source, usize::MAX).await;
        assert_eq!(ids(&frames), [0x200]);
        // Pacing starts at the first replayed frame, not the first line of the log.
        assert!(frames[0].1.is_zero());
    }

    #[tokio::test(start_paused = true)]
    async fn loop_shifts_timestamps_past_the_previous_pass() {
        let mut source = replay(ReplayOptions {
            looped: true,
            ..Default::default()
        });
        let frames = collect(&mut source, 10).await;
        assert_eq!(
            ids(&frames),
            [0x100, 0x200, 0x101, 0x102, 0x100, 0x200, 0x101, 0x102, 0x100, 0x200]
        );
        // Span 2 s plus the mean interval 2/3 s per pass.
        let period = 2.0 + 2.0 / 3.0;
        let expected = [10.0, 10.5, 11.0, 12.0].map(|t| t + period);
        for ((frame, _), want) in frames[4..8].iter().zip(expected) {
            assert!((frame.timestamp() - want).abs() < 1e-9, "{frame:?}");
        }
        assert!(frames
            .windows(2)
            .all(|w| w[0].0.timestamp() < w[1].0.timestamp()));
        // Pacing goes on across the restart.
        let restart = frames[4].1.as_secs_f64();
        assert!((restart - period).abs() < 0.002, "{restart}");
    }

    #[tokio::test(start_paused = true)]
    async fn loop_over_nothing_ends() {
        let mut source = replay(ReplayOptions {
            looped: true,
            channels: vec!["can7".into()],
            ..Default::default()
        });
        assert!(source.recv().await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_recv_keeps_the_frame() {
        let mut source = replay(ReplayOptions::default());
        assert_eq!(source.recv().await.unwrap().unwrap().id(), 0x100);
        let cancelled = tokio::time::timeout(Duration::from_millis(100), source.recv()).await;
        assert!(cancelled.is_err());
        assert_eq!(source.recv().await.unwrap().unwrap().id(), 0x200);
    }

    #[tokio::test]
    async fn malformed_line_is_an_error_unless_skipped() {
        let log = "(1.000000) can0 100#\nbad line\n(1.000000) can0 101#\n";
        let mut strict = LogReplay::from_reader(
            Cursor::new(log),
            "bad.log",
            ReplayOptions {
                pacing: Pacing::AsFastAsPossible,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(strict.recv().await.unwrap().is_some());
        assert_eq!(
            strict.recv().await.unwrap_err().to_string(),
            "malformed candump line 2 in \"bad.log\": expected 3 fields (timestamp, channel, frame), found 2"
        );

        let mut tolerant = LogReplay::from_reader(
            Cursor::new(log),
            "bad.log",
            ReplayOptions {
                pacing: Pacing::AsFastAsPossible,
                skip_malformed: true,
                ..Default::default()
            },
        )
        .unwrap();
        let frames = collect(&mut tolerant, usize::MAX).await;
        assert_eq!(ids(&frames), [0x100, 0x101]);
    }

    #[test]
    fn invalid_speed_is_refused() {
        for speed in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let options = ReplayOptions {
                pacing: Pacing::Scaled(speed),
                ..Default::default()
            };
            let error = LogReplay::from_reader(Cursor::new(LOG), "test.log", options).unwrap_err();
            assert!(matches!(error, CanError::InvalidSpeed { .. }), "{error}");
        }
        assert_eq!(
            CanError::InvalidSpeed { speed: 0.0 }.to_string(),
            "invalid replay speed 0: must be a positive finite factor"
        );
    }
}
