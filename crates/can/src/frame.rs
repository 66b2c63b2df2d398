//! The CAN frame.

use std::sync::Arc;

use crate::CanError;

/// Largest standard (11-bit) identifier.
pub const MAX_STANDARD_ID: u32 = 0x7FF;
/// Largest extended (29-bit) identifier.
pub const MAX_EXTENDED_ID: u32 = 0x1FFF_FFFF;
/// Largest payload of a classic CAN frame.
pub const MAX_CLASSIC_LEN: usize = 8;
/// Largest payload of a CAN FD frame.
pub const MAX_FD_LEN: usize = 64;

/// One CAN frame as seen on a bus: classic, FD or remote.
///
/// The payload is stored inline (no heap allocation); cloning copies it and
/// bumps the reference count of the channel name. Frames are built with
/// [`Frame::new`], [`Frame::new_fd`] or [`Frame::new_remote`], which check the
/// identifier range and payload length, so every `Frame` can be sent and written.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    timestamp: f64,
    channel: Arc<str>,
    id: u32,
    extended: bool,
    fd: bool,
    remote: bool,
    fd_flags: u8,
    len: u8,
    /// Bytes past `len` are always zero, so the derived `PartialEq` is exact.
    data: [u8; MAX_FD_LEN],
}

impl Frame {
    /// A classic data frame with up to 8 bytes; timestamp 0.
    pub fn new(
        channel: impl Into<Arc<str>>,
        id: u32,
        extended: bool,
        data: &[u8],
    ) -> Result<Self, CanError> {
        check_id(id, extended).map_err(invalid)?;
        check_classic_len(data.len()).map_err(invalid)?;
        Ok(Self::from_parts(channel.into(), id, extended, data))
    }

    /// A CAN FD frame with a valid FD length (0–8, 12, 16, 20, 24, 32, 48 or 64
    /// bytes) and the flags nibble of candump (bit 0 BRS, bit 1 ESI, bit 2 FDF).
    pub fn new_fd(
        channel: impl Into<Arc<str>>,
        id: u32,
        extended: bool,
        data: &[u8],
        flags: u8,
    ) -> Result<Self, CanError> {
        check_id(id, extended).map_err(invalid)?;
        check_fd_len(data.len()).map_err(invalid)?;
        if flags > 0xF {
            return Err(invalid(format!("fd flags {flags:#X} do not fit in 4 bits")));
        }
        let mut frame = Self::from_parts(channel.into(), id, extended, data);
        frame.fd = true;
        frame.fd_flags = flags;
        Ok(frame)
    }

    /// A classic remote (RTR) frame requesting `len` bytes (0–8).
    pub fn new_remote(
        channel: impl Into<Arc<str>>,
        id: u32,
        extended: bool,
        len: u8,
    ) -> Result<Self, CanError> {
        check_id(id, extended).map_err(invalid)?;
        check_classic_len(usize::from(len)).map_err(invalid)?;
        let mut frame = Self::from_parts(channel.into(), id, extended, &[]);
        frame.remote = true;
        frame.len = len;
        Ok(frame)
    }

    /// Unchecked assembly; callers have validated `id` and `data`.
    pub(crate) fn from_parts(channel: Arc<str>, id: u32, extended: bool, data: &[u8]) -> Self {
        let mut bytes = [0; MAX_FD_LEN];
        bytes[..data.len()].copy_from_slice(data);
        Self {
            timestamp: 0.0,
            channel,
            id,
            extended,
            fd: false,
            remote: false,
            fd_flags: 0,
            len: data.len() as u8,
            data: bytes,
        }
    }

    /// The same frame with another timestamp (seconds, as in candump -L).
    pub fn with_timestamp(mut self, timestamp: f64) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// The same frame on another channel.
    pub fn with_channel(mut self, channel: impl Into<Arc<str>>) -> Self {
        self.channel = channel.into();
        self
    }

    pub(crate) fn set_fd(&mut self, flags: u8) {
        self.fd = true;
        self.fd_flags = flags;
    }

    pub(crate) fn set_remote(&mut self, len: u8) {
        self.remote = true;
        self.len = len;
    }

    /// Reception time in seconds (Unix time for live frames, the log's clock for replays).
    pub fn timestamp(&self) -> f64 {
        self.timestamp
    }

    /// Interface or log channel name, such as `can0`.
    pub fn channel(&self) -> &Arc<str> {
        &self.channel
    }

    /// The identifier, without flags.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether the identifier is extended (29-bit).
    pub fn is_extended(&self) -> bool {
        self.extended
    }

    /// Whether this is a CAN FD frame.
    pub fn is_fd(&self) -> bool {
        self.fd
    }

    /// Whether this is a remote (RTR) frame.
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// The FD flags nibble (bit 0 BRS, bit 1 ESI, bit 2 FDF); 0 for classic frames.
    pub fn fd_flags(&self) -> u8 {
        self.fd_flags
    }

    /// Whether an FD frame uses a bit rate switch for its payload.
    pub fn is_brs(&self) -> bool {
        self.fd_flags & 0x1 != 0
    }

    /// Whether an FD frame's sender was error passive.
    pub fn is_esi(&self) -> bool {
        self.fd_flags & 0x2 != 0
    }

    /// Payload length in bytes; for a remote frame, the requested length.
    pub fn data_len(&self) -> usize {
        usize::from(self.len)
    }

    /// The payload; empty for a remote frame.
    pub fn data(&self) -> &[u8] {
        if self.remote {
            &[]
        } else {
            &self.data[..usize::from(self.len)]
        }
    }
}

fn invalid(reason: String) -> CanError {
    CanError::InvalidFrame { reason }
}

pub(crate) fn check_id(id: u32, extended: bool) -> Result<(), String> {
    match extended {
        false if id > MAX_STANDARD_ID => Err(format!(
            "standard id {id:X} out of range (max {MAX_STANDARD_ID:X})"
        )),
        true if id > MAX_EXTENDED_ID => Err(format!(
            "extended id {id:X} out of range (max {MAX_EXTENDED_ID:X})"
        )),
        _ => Ok(()),
    }
}

pub(crate) fn check_classic_len(len: usize) -> Result<(), String> {
    if len > MAX_CLASSIC_LEN {
        return Err(format!(
            "classic frame has {len} data bytes (max {MAX_CLASSIC_LEN})"
        ));
    }
    Ok(())
}

pub(crate) fn check_fd_len(len: usize) -> Result<(), String> {
    if !matches!(len, 0..=8 | 12 | 16 | 20 | 24 | 32 | 48 | 64) {
        return Err(format!("{len} data bytes is not a valid can fd length"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_check_ids_and_lengths() {
        let error = |r: Result<Frame, CanError>| r.unwrap_err().to_string();
        assert_eq!(
            error(Frame::new("can0", 0x800, false, &[])),
            "invalid frame: standard id 800 out of range (max 7FF)"
        );
        assert_eq!(
            error(Frame::new("can0", 0x2000_0000, true, &[])),
            "invalid frame: extended id 20000000 out of range (max 1FFFFFFF)"
        );
        assert_eq!(
            error(Frame::new("can0", 1, false, &[0; 9])),
            "invalid frame: classic frame has 9 data bytes (max 8)"
        );
        assert_eq!(
            error(Frame::new_fd("can0", 1, false, &[0; 9], 0)),
            "invalid frame: 9 data bytes is not a valid can fd length"
        );
        assert_eq!(
            error(Frame::new_fd("can0", 1, false, &[], 0x10)),
            "invalid frame: fd flags 0x10 do not fit in 4 bits"
        );
        assert_eq!(
            error(Frame::new_remote("can0", 1, false, 9)),
            "invalid frame: classic frame has 9 data bytes (max 8)"
        );
    }

    #[test]
    fn accessors() {
        let frame = Frame::new_fd("can1", 0x1234_5678, true, &[1; 12], 0x3)
            .unwrap()
            .with_timestamp(1.5);
        assert_eq!(frame.timestamp(), 1.5);
        assert_eq!(&**frame.channel(), "can1");
        assert_eq!(frame.id(), 0x1234_5678);
        assert!(frame.is_extended() && frame.is_fd() && !frame.is_remote());
        assert!(frame.is_brs() && frame.is_esi());
        assert_eq!(frame.data(), [1; 12]);

        let remote = Frame::new_remote("can0", 0x7FF, false, 4).unwrap();
        assert!(remote.is_remote());
        assert_eq!(remote.data_len(), 4);
        assert!(remote.data().is_empty());
    }
}
