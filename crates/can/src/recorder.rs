//! Recording frames as a candump -L log.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use async_trait::async_trait;

use crate::{CanError, CandumpWriter, Frame, FrameSink};

/// A [`FrameSink`] writing candump -L lines to a file or any `Write`.
///
/// Output is buffered. [`FrameSink::flush`] and [`LogRecorder::finish`] write the
/// buffer out and report errors; dropping the recorder flushes too, but can only
/// log a failure as a warning. Writes are ordinary blocking writes of the buffer,
/// which suits local files.
#[derive(Debug)]
pub struct LogRecorder<W: Write = File> {
    /// `None` once finished.
    writer: Option<CandumpWriter<BufWriter<W>>>,
    name: String,
}

impl LogRecorder {
    /// Creates (or truncates) a log file.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, CanError> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|source| CanError::Open {
            file: path.display().to_string(),
            source,
        })?;
        Ok(Self::new(file, path.display().to_string()))
    }
}

impl<W: Write> LogRecorder<W> {
    /// Records to `writer`; `name` (usually the path) appears in error messages.
    pub fn new(writer: W, name: impl Into<String>) -> Self {
        Self {
            writer: Some(CandumpWriter::new(BufWriter::with_capacity(
                64 * 1024,
                writer,
            ))),
            name: name.into(),
        }
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> Result<W, CanError> {
        let writer = self
            .writer
            .take()
            .expect("the writer is present until the recorder is finished or dropped");
        writer
            .into_inner()
            .into_inner()
            .map_err(|error| self.write_error(error.into_error()))
    }

    fn write_error(&self, source: std::io::Error) -> CanError {
        CanError::Write {
            file: self.name.clone(),
            source,
        }
    }

    fn writer(&mut self) -> &mut CandumpWriter<BufWriter<W>> {
        self.writer
            .as_mut()
            .expect("the writer is present until the recorder is finished or dropped")
    }
}

#[async_trait]
impl<W: Write + Send> FrameSink for LogRecorder<W> {
    async fn send(&mut self, frame: &Frame) -> Result<(), CanError> {
        self.writer()
            .write_frame(frame)
            .map_err(|error| self.write_error(error))
    }

    async fn flush(&mut self) -> Result<(), CanError> {
        self.writer()
            .flush()
            .map_err(|error| self.write_error(error))
    }
}

impl<W: Write> Drop for LogRecorder<W> {
    fn drop(&mut self) {
        if let Some(writer) = &mut self.writer {
            if let Err(error) = writer.flush() {
                tracing::warn!(file = %self.name, %error, "cannot flush candump log");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_line;

    const LINES: [&str; 3] = [
        "(1.000000) can0 123#00",
        "(2.000000) can1 12345678##1AABB",
        "(3.000000) can0 7FF#R",
    ];

    #[tokio::test]
    async fn records_lines() {
        let mut recorder = LogRecorder::new(Vec::new(), "memory");
        for line in LINES {
            recorder.send(&parse_line(line).unwrap()).await.unwrap();
        }
        let written = String::from_utf8(recorder.finish().unwrap()).unwrap();
        assert_eq!(written, LINES.map(|l| format!("{l}\n")).concat());
    }

    #[tokio::test]
    async fn drop_flushes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        {
            let mut recorder = LogRecorder::create(&path).unwrap();
            recorder.send(&parse_line(LINES[0]).unwrap()).await.unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", LINES[0])
        );
    }

    #[tokio::test]
    async fn write_errors_name_the_log() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut recorder = LogRecorder::new(Broken, "broken.log");
        recorder.send(&parse_line(LINES[0]).unwrap()).await.unwrap();
        let error = recorder.flush().await.unwrap_err();
        assert_eq!(error.to_string(), "cannot write \"broken.log\"");
    }
}
