//! Live CAN interfaces through Linux SocketCAN.

use std::io;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use socketcan::id::FdFlags;
use socketcan::{
    CanAnyFrame, CanDataFrame, CanFdFrame, CanRemoteFrame, EmbeddedFrame, ExtendedId, Id,
    StandardId,
};

use crate::{CanError, Frame, FrameSink, FrameSource};

/// `ENODEV`, which `if_nametoindex` reports for an unknown interface on Linux.
const ENODEV: i32 = 19;

/// A live SocketCAN interface (`can0`, `vcan0`, ...) as a [`FrameSource`] and
/// [`FrameSink`], for classic and FD frames.
///
/// Received frames carry the interface name as channel and the wall-clock time
/// of reception as timestamp. Error frames are not requested from the kernel.
/// Sent frames go to this interface whatever their channel says. Sending an FD
/// frame needs an interface in FD mode; the kernel refuses it otherwise.
#[derive(Debug)]
pub struct SocketCan {
    socket: socketcan::tokio::CanFdSocket,
    interface: Arc<str>,
}

impl SocketCan {
    /// Opens a raw CAN socket on `interface` with FD frames enabled. Call it
    /// inside a tokio runtime: the socket registers with the runtime's reactor.
    pub fn open(interface: &str) -> Result<Self, CanError> {
        let socket = socketcan::tokio::CanFdSocket::open(interface).map_err(|source| {
            if source.raw_os_error() == Some(ENODEV) || source.kind() == io::ErrorKind::NotFound {
                CanError::InterfaceNotFound {
                    interface: interface.to_string(),
                    source,
                }
            } else {
                socket_error(interface, "open", source)
            }
        })?;
        Ok(Self {
            socket,
            interface: Arc::from(interface),
        })
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }
}

#[async_trait]
impl FrameSource for SocketCan {
    /// Waits for the next data, remote or FD frame; a live interface never ends.
    async fn recv(&mut self) -> Result<Option<Frame>, CanError> {
        loop {
            let frame = self
                .socket
                .read_frame()
                .await
                .map_err(|source| socket_error(&self.interface, "read from", source))?;
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            match from_socketcan(&frame, &self.interface) {
                Some(frame) => return Ok(Some(frame.with_timestamp(timestamp))),
                None => tracing::trace!(interface = %self.interface, "ignoring error frame"),
            }
        }
    }
}

#[async_trait]
impl FrameSink for SocketCan {
    async fn send(&mut self, frame: &Frame) -> Result<(), CanError> {
        let raw = to_socketcan(frame)?;
        self.socket
            .write_frame(&raw)
            .await
            .map_err(|source| socket_error(&self.interface, "send to", source))
    }
}

fn socket_error(interface: &str, action: &'static str, source: io::Error) -> CanError {
    CanError::Socket {
        interface: interface.to_string(),
        action,
        source,
    }
}

/// Converts a frame for the kernel. Fails only if the socketcan crate disagrees
/// with the checks `Frame` already made.
fn to_socketcan(frame: &Frame) -> Result<CanAnyFrame, CanError> {
    let refused = || CanError::InvalidFrame {
        reason: format!("socketcan cannot represent frame {frame}"),
    };
    let id = if frame.is_extended() {
        ExtendedId::new(frame.id()).map(Id::Extended)
    } else {
        u16::try_from(frame.id())
            .ok()
            .and_then(StandardId::new)
            .map(Id::Standard)
    }
    .ok_or_else(refused)?;
    let converted = if frame.is_remote() {
        CanRemoteFrame::new_remote(id, frame.data_len()).map(CanAnyFrame::Remote)
    } else if frame.is_fd() {
        let flags = FdFlags::from_bits_truncate(frame.fd_flags());
        CanFdFrame::with_flags(id, frame.data(), flags).map(CanAnyFrame::Fd)
    } else {
        CanDataFrame::new(id, frame.data()).map(CanAnyFrame::Normal)
    };
    converted.ok_or_else(refused)
}

/// Converts a frame from the kernel; `None` for error frames.
fn from_socketcan(raw: &CanAnyFrame, channel: &Arc<str>) -> Option<Frame> {
    let (id, extended) = match raw.id() {
        Id::Standard(id) => (u32::from(id.as_raw()), false),
        Id::Extended(id) => (id.as_raw(), true),
    };
    let mut frame = Frame::from_parts(Arc::clone(channel), id, extended, &[]);
    match raw {
        CanAnyFrame::Normal(data) => {
            frame = Frame::from_parts(Arc::clone(channel), id, extended, data.data());
        }
        CanAnyFrame::Remote(remote) => frame.set_remote(remote.dlc() as u8),
        CanAnyFrame::Fd(fd) => {
            frame = Frame::from_parts(Arc::clone(channel), id, extended, fd.data());
            frame.set_fd(fd.flags().bits() & 0xF);
        }
        CanAnyFrame::Error(_) => return None,
    }
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_line;

    /// Converts the frame of `line` to socketcan and back.
    fn round_trip(line: &str) -> (CanAnyFrame, Frame) {
        let frame = parse_line(line).unwrap();
        let raw = to_socketcan(&frame).unwrap();
        let back = from_socketcan(&raw, frame.channel())
            .unwrap()
            .with_timestamp(frame.timestamp());
        (raw, back)
    }

    #[test]
    fn classic_frames_convert_both_ways() {
        for line in [
            "(1.000000) can0 123#DEADBEEF",
            "(1.000000) can0 7FF#",
            "(1.000000) can0 1FFFFFFF#0011223344556677",
        ] {
            let (raw, back) = round_trip(line);
            assert!(matches!(raw, CanAnyFrame::Normal(_)), "{line}");
            assert_eq!(back.to_string(), line);
        }
        let (raw, _) = round_trip("(1.000000) can0 00000123#01");
        assert!(raw.is_extended());
        assert_eq!(raw.id(), Id::Extended(ExtendedId::new(0x123).unwrap()));
    }

    #[test]
    fn remote_frames_keep_their_length() {
        let (raw, back) = round_trip("(1.000000) can0 123#R4");
        assert!(raw.is_remote_frame());
        assert_eq!(raw.dlc(), 4);
        assert_eq!(back.to_string(), "(1.000000) can0 123#R4");
    }

    #[test]
    fn fd_frames_keep_flags_and_gain_fdf() {
        let (raw, back) = round_trip("(1.000000) can0 18DAF110##3AABBCCDDEEFF001122334455");
        let CanAnyFrame::Fd(fd) = raw else {
            panic!("not an fd frame: {raw:?}");
        };
        assert!(fd.is_brs() && fd.is_esi());
        assert_eq!(fd.data().len(), 12);
        // The socketcan crate marks every FD frame with FDF (bit 2), as recent
        // kernels do for received ones; candump prints that bit too.
        assert_eq!(
            back.to_string(),
            "(1.000000) can0 18DAF110##7AABBCCDDEEFF001122334455"
        );
    }

    #[test]
    fn error_frames_are_dropped() {
        let error =
            socketcan::CanErrorFrame::new_error(0x004, &[0, 0x10, 0, 0, 0, 0, 0, 0]).unwrap();
        assert!(from_socketcan(&CanAnyFrame::Error(error), &Arc::from("can0")).is_none());
    }

    #[test]
    fn missing_interface_is_named() {
        let error = SocketCan::open("tomoe-nope0").unwrap_err();
        assert!(
            matches!(error, CanError::InterfaceNotFound { .. }),
            "{error:?}"
        );
        assert_eq!(error.to_string(), "can interface \"tomoe-nope0\" not found");
    }
}
