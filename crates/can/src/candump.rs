//! The candump -L log format: `(1673517316.123456) can0 123#DEADBEEF`.
//!
//! One frame per line: the timestamp in seconds with six decimals, the channel,
//! then the frame. A standard id has 3 hex digits and an extended id 8. After
//! `#` comes the payload in hex; `##` starts an FD frame, followed by the flags
//! nibble and the payload; `#R` is a remote frame, optionally followed by the
//! requested length digit.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, Write};
use std::path::Path;
use std::sync::Arc;

use crate::frame::{check_classic_len, check_fd_len, check_id, MAX_FD_LEN};
use crate::{CanError, Frame};

/// Malformed lines reported one by one before the reader goes quiet.
const WARNED_LINES: u64 = 10;

/// Parses one candump -L line (trailing whitespace allowed).
///
/// Each call allocates the channel name; [`CandumpReader`] shares one name per
/// channel instead.
pub fn parse_line(line: &str) -> Result<Frame, CanError> {
    parse(line.as_bytes(), &mut Vec::new()).map_err(|reason| CanError::Malformed { reason })
}

/// Parses `line`, taking the channel name from `channels` or adding it there.
fn parse(line: &[u8], channels: &mut Vec<Arc<str>>) -> Result<Frame, String> {
    let mut fields = line
        .split(u8::is_ascii_whitespace)
        .filter(|f| !f.is_empty());
    let (Some(time), Some(channel), Some(body), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(format!(
            "expected 3 fields (timestamp, channel, frame), found {}",
            line.split(u8::is_ascii_whitespace)
                .filter(|f| !f.is_empty())
                .count()
        ));
    };

    let timestamp = match time {
        [b'(', digits @ .., b')'] => parse_timestamp(digits)
            .ok_or_else(|| format!("invalid timestamp \"{}\"", lossy(digits)))?,
        _ => {
            return Err(format!(
                "timestamp \"{}\" is not in parentheses",
                lossy(time)
            ))
        }
    };

    let channel = intern(channel, channels)?;

    let Some(hash) = body.iter().position(|&b| b == b'#') else {
        return Err(format!("missing \"#\" in frame \"{}\"", lossy(body)));
    };
    let (id_text, rest) = (&body[..hash], &body[hash + 1..]);
    let extended = match id_text.len() {
        3 => false,
        8 => true,
        _ => {
            return Err(format!(
                "id \"{}\" must have 3 or 8 hex digits",
                lossy(id_text)
            ))
        }
    };
    let id = parse_hex(id_text).ok_or_else(|| format!("invalid id \"{}\"", lossy(id_text)))?;
    check_id(id, extended)?;

    if let Some(fd_rest) = rest.strip_prefix(b"#") {
        let (&flags_digit, data_text) = fd_rest
            .split_first()
            .ok_or_else(|| "missing fd flags after \"##\"".to_string())?;
        let flags = hex_value(flags_digit)
            .ok_or_else(|| format!("invalid fd flags \"{}\"", char::from(flags_digit)))?;
        let mut data = [0; MAX_FD_LEN];
        let len = parse_data(data_text, &mut data)?;
        check_fd_len(len)?;
        let mut frame = Frame::from_parts(channel, id, extended, &data[..len]);
        frame.set_fd(flags);
        Ok(frame.with_timestamp(timestamp))
    } else if let Some(remote_rest) = rest.strip_prefix(b"R") {
        let len = match remote_rest {
            [] => 0,
            [digit @ b'0'..=b'8'] => digit - b'0',
            _ => {
                return Err(format!(
                    "invalid remote frame length \"{}\"",
                    lossy(remote_rest)
                ))
            }
        };
        let mut frame = Frame::from_parts(channel, id, extended, &[]);
        frame.set_remote(len);
        Ok(frame.with_timestamp(timestamp))
    } else {
        let mut data = [0; MAX_FD_LEN];
        let len = parse_data(rest, &mut data)?;
        check_classic_len(len)?;
        Ok(Frame::from_parts(channel, id, extended, &data[..len]).with_timestamp(timestamp))
    }
}

/// Digits with at most one decimal point; anything `f64::from_str` would also
/// take (`inf`, exponents, signs) is refused.
fn parse_timestamp(digits: &[u8]) -> Option<f64> {
    let valid = !digits.is_empty()
        && digits.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        && digits.iter().filter(|b| **b == b'.').count() <= 1
        && digits != b".";
    if !valid {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn intern(name: &[u8], channels: &mut Vec<Arc<str>>) -> Result<Arc<str>, String> {
    if let Some(known) = channels.iter().find(|c| c.as_bytes() == name) {
        return Ok(Arc::clone(known));
    }
    let name = std::str::from_utf8(name)
        .map_err(|_| format!("channel \"{}\" is not valid utf-8", lossy(name)))?;
    let channel: Arc<str> = Arc::from(name);
    channels.push(Arc::clone(&channel));
    Ok(channel)
}

fn parse_hex(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0u32, |acc, &b| Some(acc << 4 | u32::from(hex_value(b)?)))
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// Hex byte pairs, optionally separated by dots as `cansend` accepts them.
fn parse_data(text: &[u8], out: &mut [u8; MAX_FD_LEN]) -> Result<usize, String> {
    let mut len = 0;
    let mut digits = text.iter().copied().filter(|&b| b != b'.');
    while let Some(high) = digits.next() {
        let Some(low) = digits.next() else {
            return Err(format!(
                "data \"{}\" has an odd number of hex digits",
                lossy(text)
            ));
        };
        let (Some(high), Some(low)) = (hex_value(high), hex_value(low)) else {
            return Err(format!("invalid hex data \"{}\"", lossy(text)));
        };
        if len == MAX_FD_LEN {
            return Err(format!("more than {MAX_FD_LEN} data bytes"));
        }
        out[len] = high << 4 | low;
        len += 1;
    }
    Ok(len)
}

fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Writes `frame` as a candump -L line, without the line end.
fn write_line(frame: &Frame, out: &mut impl fmt::Write) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    write!(out, "({:.6}) {} ", frame.timestamp(), frame.channel())?;
    if frame.is_extended() {
        write!(out, "{:08X}#", frame.id())?;
    } else {
        write!(out, "{:03X}#", frame.id())?;
    }
    if frame.is_remote() {
        out.write_char('R')?;
        if frame.data_len() > 0 {
            out.write_char(char::from(HEX[frame.data_len()]))?;
        }
        return Ok(());
    }
    if frame.is_fd() {
        out.write_char('#')?;
        out.write_char(char::from(HEX[usize::from(frame.fd_flags() & 0xF)]))?;
    }
    for byte in frame.data() {
        out.write_char(char::from(HEX[usize::from(byte >> 4)]))?;
        out.write_char(char::from(HEX[usize::from(byte & 0xF)]))?;
    }
    Ok(())
}

/// Formats the frame as its candump -L line (without a line end).
impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_line(self, f)
    }
}

/// Reads frames from a candump -L log, one line at a time.
///
/// Iterating yields `Result<Frame, CanError>`. A malformed line yields
/// [`CanError::MalformedLine`] naming the log and line, and reading goes on with
/// the next line if the caller keeps iterating; after [`skip_malformed`](Self::skip_malformed)
/// such lines are logged as warnings and skipped instead. A read error ends the
/// iteration. Blank lines are ignored. Equal channel names share one `Arc<str>`.
#[derive(Debug)]
pub struct CandumpReader<R> {
    reader: R,
    name: String,
    line_number: u64,
    line: Vec<u8>,
    channels: Vec<Arc<str>>,
    skip_malformed: bool,
    skipped: u64,
    failed: bool,
}

impl CandumpReader<BufReader<File>> {
    /// Opens a log file; errors name the path.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CanError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| CanError::Open {
            file: path.display().to_string(),
            source,
        })?;
        Ok(Self::new(
            BufReader::with_capacity(64 * 1024, file),
            path.display().to_string(),
        ))
    }
}

impl<R: BufRead> CandumpReader<R> {
    /// Reads from `reader`; `name` (usually the path) appears in error messages.
    pub fn new(reader: R, name: impl Into<String>) -> Self {
        Self {
            reader,
            name: name.into(),
            line_number: 0,
            line: Vec::with_capacity(128),
            channels: Vec::new(),
            skip_malformed: false,
            skipped: 0,
            failed: false,
        }
    }

    /// Skips malformed lines with a warning instead of yielding errors.
    pub fn skip_malformed(mut self) -> Self {
        self.skip_malformed = true;
        self
    }

    /// The log's name as used in errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of the line read last, counted from 1.
    pub fn line_number(&self) -> u64 {
        self.line_number
    }

    /// Number of malformed lines skipped so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Reads the next frame; `None` at the end of the log or after a read error.
    pub fn read_frame(&mut self) -> Option<Result<Frame, CanError>> {
        if self.failed {
            return None;
        }
        loop {
            self.line.clear();
            match self.reader.read_until(b'\n', &mut self.line) {
                Ok(0) => return None,
                Ok(_) => self.line_number += 1,
                Err(source) => {
                    self.failed = true;
                    return Some(Err(CanError::Read {
                        file: self.name.clone(),
                        source,
                    }));
                }
            }
            if self.line.trim_ascii().is_empty() {
                continue;
            }
            match parse(&self.line, &mut self.channels) {
                Ok(frame) => return Some(Ok(frame)),
                Err(reason) if self.skip_malformed => {
                    self.skipped += 1;
                    if self.skipped <= WARNED_LINES {
                        tracing::warn!(file = %self.name, line = self.line_number, %reason, "skipping malformed candump line");
                    }
                    if self.skipped == WARNED_LINES {
                        tracing::warn!(file = %self.name, "further malformed lines are skipped without a warning");
                    }
                }
                Err(reason) => {
                    return Some(Err(CanError::MalformedLine {
                        file: self.name.clone(),
                        line: self.line_number,
                        reason,
                    }))
                }
            }
        }
    }
}

impl<R: BufRead + Seek> CandumpReader<R> {
    /// Goes back to the first line.
    pub fn rewind(&mut self) -> Result<(), CanError> {
        self.reader.rewind().map_err(|source| CanError::Read {
            file: self.name.clone(),
            source,
        })?;
        self.line_number = 0;
        self.failed = false;
        Ok(())
    }
}

impl<R: BufRead> Iterator for CandumpReader<R> {
    type Item = Result<Frame, CanError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_frame()
    }
}

/// Writes frames as candump -L lines.
///
/// Lines of frames read from a candump -L log come out byte for byte as they were
/// read, provided the log used candump's own spelling: six decimals, upper-case
/// hex, no dots in the payload. Each frame is one `write_all`; wrap the writer in
/// a `BufWriter` for files.
#[derive(Debug)]
pub struct CandumpWriter<W> {
    writer: W,
    line: String,
}

impl<W: Write> CandumpWriter<W> {
    /// Writes to `writer`.
    pub fn new(writer: W) -> Self {
        Self {
            writer,
            line: String::with_capacity(200),
        }
    }

    /// Writes one frame and a line end.
    pub fn write_frame(&mut self, frame: &Frame) -> io::Result<()> {
        self.line.clear();
        // Formatting into a String cannot fail.
        let _ = write_line(frame, &mut self.line);
        self.line.push('\n');
        self.writer.write_all(self.line.as_bytes())
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.writer
    }

    /// Returns the underlying writer, unflushed.
    pub fn into_inner(self) -> W {
        self.writer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `line`, checks it writes back unchanged, and returns the frame.
    fn round_trip(line: &str) -> Frame {
        let frame = parse_line(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(frame.to_string(), line);
        frame
    }

    /// Checks the exact error text for `line`.
    fn check_error(line: &str, expected: &str) {
        match parse_line(line) {
            Ok(frame) => panic!("{line}: parsed as {frame:?}"),
            Err(error) => assert_eq!(error.to_string(), expected, "{line}"),
        }
    }

    #[test]
    fn parse_classic_frames() {
        let frame = round_trip("(1673517316.123456) can0 123#DEADBEEF");
        assert_eq!(frame.timestamp(), 1673517316.123456);
        assert_eq!(&**frame.channel(), "can0");
        assert_eq!(frame.id(), 0x123);
        assert!(!frame.is_extended() && !frame.is_fd() && !frame.is_remote());
        assert_eq!(frame.data(), [0xDE, 0xAD, 0xBE, 0xEF]);

        let full = round_trip("(0.000001) vcan0 7FF#0011223344556677");
        assert_eq!(full.data().len(), 8);
    }

    #[test]
    fn parse_extended_ids() {
        let frame = round_trip("(46408.584930) can1 1FFFFFFF#01");
        assert!(frame.is_extended());
        assert_eq!(frame.id(), 0x1FFF_FFFF);
        // A small id written with 8 digits stays extended.
        let small = round_trip("(1.000000) can0 00000123#");
        assert!(small.is_extended());
        assert_eq!(small.id(), 0x123);
    }

    #[test]
    fn parse_fd_frames_with_flags() {
        let frame = round_trip("(1673517316.123456) can0 123##1DEADBEEF");
        assert!(frame.is_fd() && frame.is_brs() && !frame.is_esi());
        assert_eq!(frame.fd_flags(), 1);
        assert_eq!(frame.data(), [0xDE, 0xAD, 0xBE, 0xEF]);

        let long = format!("(2.500000) can0 18DAF110##5{}", "AB".repeat(64));
        let frame = round_trip(&long);
        assert!(frame.is_extended() && frame.is_fd());
        assert_eq!(frame.fd_flags(), 5);
        assert_eq!(frame.data(), [0xAB; 64]);

        let empty = round_trip("(2.500000) can0 123##0");
        assert!(empty.is_fd() && empty.data().is_empty());
    }

    #[test]
    fn parse_remote_frames() {
        let frame = round_trip("(1.000000) can0 123#R");
        assert!(frame.is_remote());
        assert_eq!(frame.data_len(), 0);
        let frame = round_trip("(1.000000) can0 12345678#R8");
        assert!(frame.is_remote() && frame.is_extended());
        assert_eq!(frame.data_len(), 8);
        assert!(frame.data().is_empty());
    }

    #[test]
    fn parse_empty_data() {
        let frame = round_trip("(303.004300) can0 450#");
        assert!(frame.data().is_empty());
        assert!(!frame.is_remote());
    }

    #[test]
    fn parse_tolerates_spelling_variants() {
        let frame = parse_line("(1.5)  can0\t123#de.ad.be.ef\r\n").unwrap();
        assert_eq!(frame.to_string(), "(1.500000) can0 123#DEADBEEF");
    }

    #[test]
    fn parse_malformed_lines() {
        let m = |reason: &str| format!("malformed candump line: {reason}");
        check_error(
            "",
            &m("expected 3 fields (timestamp, channel, frame), found 0"),
        );
        check_error(
            "(1.0) can0 123#00 extra",
            &m("expected 3 fields (timestamp, channel, frame), found 4"),
        );
        check_error(
            "1.0 can0 123#00",
            &m("timestamp \"1.0\" is not in parentheses"),
        );
        check_error("(1.0.0) can0 123#00", &m("invalid timestamp \"1.0.0\""));
        check_error("(inf) can0 123#00", &m("invalid timestamp \"inf\""));
        check_error("(1.0) can0 12300", &m("missing \"#\" in frame \"12300\""));
        check_error(
            "(1.0) can0 1234#00",
            &m("id \"1234\" must have 3 or 8 hex digits"),
        );
        check_error("(1.0) can0 12G#00", &m("invalid id \"12G\""));
        check_error(
            "(1.0) can0 800#00",
            &m("standard id 800 out of range (max 7FF)"),
        );
        check_error(
            "(1.0) can0 20000080#0000000000000000",
            &m("extended id 20000080 out of range (max 1FFFFFFF)"),
        );
        check_error(
            "(1.0) can0 123#DEADBEE",
            &m("data \"DEADBEE\" has an odd number of hex digits"),
        );
        check_error(
            "(1.0) can0 123#DEADBEEG",
            &m("invalid hex data \"DEADBEEG\""),
        );
        check_error(
            "(1.0) can0 123#001122334455667788",
            &m("classic frame has 9 data bytes (max 8)"),
        );
        check_error(
            "(1.0) can0 123##1001122334455667788",
            &m("9 data bytes is not a valid can fd length"),
        );
        check_error(
            &format!("(1.0) can0 123##1{}", "00".repeat(65)),
            &m("more than 64 data bytes"),
        );
        check_error("(1.0) can0 123##", &m("missing fd flags after \"##\""));
        check_error("(1.0) can0 123##X00", &m("invalid fd flags \"X\""));
        check_error("(1.0) can0 123#R9", &m("invalid remote frame length \"9\""));
        check_error(
            "(1.0) can0 123#11223344556677_E",
            &m("invalid hex data \"11223344556677_E\""),
        );
    }

    #[test]
    fn reader_names_file_and_line() {
        let log = "(1.000000) can0 123#00\n\n(2.000000) can0 123#0\n(3.000000) can0 124#01\n";
        let mut reader = CandumpReader::new(log.as_bytes(), "test.log");
        assert_eq!(reader.next().unwrap().unwrap().id(), 0x123);
        let error = reader.next().unwrap().unwrap_err();
        assert_eq!(
            error.to_string(),
            "malformed candump line 3 in \"test.log\": data \"0\" has an odd number of hex digits"
        );
        // The caller may go on after a malformed line.
        assert_eq!(reader.next().unwrap().unwrap().id(), 0x124);
        assert!(reader.next().is_none());
    }

    #[test]
    fn reader_skips_malformed_lines_when_told() {
        let log = "(1.000000) can0 123#00\ngarbage\n(3.000000) can1 124#01\n(4.000000) can0 125#\n";
        let mut reader = CandumpReader::new(log.as_bytes(), "test.log").skip_malformed();
        let frames: Vec<Frame> = reader.by_ref().map(Result::unwrap).collect();
        assert_eq!(frames.len(), 3);
        assert_eq!(reader.skipped(), 1);
        assert_eq!(reader.line_number(), 4);
        // Equal channel names share one allocation.
        assert!(Arc::ptr_eq(frames[0].channel(), frames[2].channel()));
        assert!(!Arc::ptr_eq(frames[0].channel(), frames[1].channel()));
    }

    #[test]
    fn reader_rewinds() {
        let log = "(1.000000) can0 123#00\n(2.000000) can0 124#00\n";
        let mut reader = CandumpReader::new(io::Cursor::new(log), "test.log");
        assert_eq!(reader.by_ref().count(), 2);
        reader.rewind().unwrap();
        assert_eq!(reader.line_number(), 0);
        assert_eq!(reader.count(), 2);
    }

    #[test]
    fn open_names_missing_file() {
        let error = CandumpReader::open("no/such/file.log").unwrap_err();
        assert_eq!(error.to_string(), "cannot open \"no/such/file.log\"");
    }

    #[test]
    fn writer_round_trips() {
        let log = "(1.000000) can0 123#00\n(2.000000) can1 12345678##3\n(3.000000) can0 7FF#R2\n";
        let mut writer = CandumpWriter::new(Vec::new());
        for frame in CandumpReader::new(log.as_bytes(), "test.log") {
            writer.write_frame(&frame.unwrap()).unwrap();
        }
        assert_eq!(String::from_utf8(writer.into_inner()).unwrap(), log);
    }
}
