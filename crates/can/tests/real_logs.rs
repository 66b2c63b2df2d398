//! Reads the real candump -L logs kept in the shared data folder and writes them back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tomoe_can::{
    parse_line, CandumpReader, CandumpWriter, FrameSource, LogReplay, Pacing, ReplayOptions,
};

/// The shared log folder beside the repository, or `None` (and a note) when absent.
fn shared_logs_dir() -> Option<PathBuf> {
    tomoe_test_support::shared_data().map(|data| data.join("logs"))
}

/// Every `.log` file under `dir`, sorted.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flat_map(|entry| {
            std::fs::read_dir(entry.unwrap().path())
                .into_iter()
                .flatten()
        })
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    files.sort();
    files
}

#[test]
fn real_logs_round_trip_byte_for_byte() {
    let Some(dir) = shared_logs_dir() else { return };
    let expected_frames = [
        ("rav4_2017_2018-08-02--08-34-47_seg40.log", 98800),
        ("221217-1-2021-pcan-bcan-no-key.log", 14294),
        ("230112-7-2019-pcan-ccan-power-off-on-ready-off.log", 39546),
    ];
    let files = log_files(&dir);
    assert_eq!(files.len(), expected_frames.len(), "{files:?}");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let original = std::fs::read(&path).unwrap();

        let mut writer = CandumpWriter::new(Vec::with_capacity(original.len()));
        let mut count = 0;
        let mut channels: Vec<Arc<str>> = Vec::new();
        for frame in CandumpReader::open(&path).unwrap() {
            let frame = frame.unwrap_or_else(|e| panic!("{e}"));
            writer.write_frame(&frame).unwrap();
            if !channels.iter().any(|c| Arc::ptr_eq(c, frame.channel())) {
                channels.push(Arc::clone(frame.channel()));
            }
            count += 1;
        }
        let written = writer.into_inner();
        assert!(
            written == original,
            "{name}: written log differs from the original"
        );
        let (_, expected) = expected_frames
            .iter()
            .find(|(file, _)| *file == name)
            .unwrap_or_else(|| panic!("unexpected log {name}"));
        assert_eq!(count, *expected, "{name}");
        // Interning: one shared name per channel.
        assert_eq!(channels.len(), 2, "{name}: {channels:?}");

        // Line by line through parse_line and Display, too.
        for line in std::str::from_utf8(&original).unwrap().lines() {
            assert_eq!(parse_line(line).unwrap().to_string(), line);
        }
    }
}

#[tokio::test]
async fn real_log_replays_filtered_as_fast_as_possible() {
    let Some(dir) = shared_logs_dir() else { return };
    let path = dir.join("kona-ev/221217-1-2021-pcan-bcan-no-key.log");
    let options = ReplayOptions {
        pacing: Pacing::AsFastAsPossible,
        channels: vec!["can1".into()],
        ..Default::default()
    };
    let mut replay = LogReplay::open(&path, options).unwrap();
    let mut count = 0;
    while let Some(frame) = replay.recv().await.unwrap() {
        assert_eq!(&**frame.channel(), "can1");
        count += 1;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|line| line.split(' ').nth(1) == Some("can1"))
        .count();
    assert_eq!(count, expected);
}
