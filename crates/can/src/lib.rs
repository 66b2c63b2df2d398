//! CAN frames and the IO around them.
//!
//! This crate moves raw CAN frames: it reads and writes candump -L logs, replays
//! logs at their recorded pace, connects parts of a program through an in-process
//! bus, and talks to live interfaces through Linux SocketCAN. Everything that
//! produces frames is a [`FrameSource`] and everything that consumes them a
//! [`FrameSink`], so a log replay, a simulated bus and a real interface can take
//! each other's place.
//!
//! Non-goals: this crate does not decode frames into signals (no DBC; that is a
//! separate crate) and knows nothing of the broker.
//!
//! # Overview
//!
//! - [`Frame`]: one classic, FD or remote frame with timestamp and channel; the
//!   payload is stored inline. Its `Display` is the candump -L line.
//! - [`parse_line`], [`CandumpReader`], [`CandumpWriter`]: the candump -L format.
//!   Lines read from a candump log are written back byte for byte.
//! - [`LogReplay`] with [`Pacing`] and [`ReplayOptions`]: a log as a frame source,
//!   in real time, scaled, or as fast as possible, optionally looped and filtered
//!   by channel.
//! - [`Bus`], [`BusSender`], [`BusReceiver`]: an in-process bus for tests and
//!   simulation.
//! - [`LogRecorder`]: a frame sink that writes a candump -L log.
//! - `SocketCan` (Linux only): a live interface as source and sink.
//! - [`CanError`]: the one error type.
//!
//! # Example
//!
//! ```
//! use tomoe_can::{parse_line, CandumpWriter};
//!
//! let line = "(1673517316.123456) can0 123##1DEADBEEF";
//! let frame = parse_line(line)?;
//! assert_eq!(frame.id(), 0x123);
//! assert!(frame.is_fd() && frame.is_brs());
//! assert_eq!(frame.data(), [0xDE, 0xAD, 0xBE, 0xEF]);
//!
//! let mut writer = CandumpWriter::new(Vec::new());
//! writer.write_frame(&frame)?;
//! assert_eq!(writer.into_inner(), format!("{line}\n").into_bytes());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use async_trait::async_trait;

mod bus;
mod candump;
mod error;
mod frame;
mod recorder;
mod replay;
mod router;
#[cfg(target_os = "linux")]
mod socketcan;

pub use bus::{Bus, BusReceiver, BusSender};
pub use candump::{parse_line, CandumpReader, CandumpWriter};
pub use error::CanError;
pub use frame::{Frame, MAX_CLASSIC_LEN, MAX_EXTENDED_ID, MAX_FD_LEN, MAX_STANDARD_ID};
pub use recorder::LogRecorder;
pub use replay::{LogReplay, Pacing, ReplayOptions, MAX_REPLAY_GAP_S};
pub use router::ChannelRouter;
#[cfg(target_os = "linux")]
pub use socketcan::SocketCan;

/// Something that produces frames: a log replay, a bus receiver, an interface.
#[async_trait]
pub trait FrameSource: Send {
    /// Waits for the next frame; `Ok(None)` once the source has ended.
    ///
    /// After an error the source may still be usable (see the implementation).
    /// The implementations in this crate are cancel-safe.
    async fn recv(&mut self) -> Result<Option<Frame>, CanError>;
}

/// Something that consumes frames: a bus sender, a recorder, an interface.
#[async_trait]
pub trait FrameSink: Send {
    /// Sends one frame.
    async fn send(&mut self, frame: &Frame) -> Result<(), CanError>;

    /// Pushes out anything buffered; does nothing for unbuffered sinks.
    async fn flush(&mut self) -> Result<(), CanError> {
        Ok(())
    }
}
