//! Decode-only throughput on the real RAV4 log (98 800 frames, two buses).
//!
//! `cargo bench -p tomoe-dbc --bench decode`; needs the shared data folder beside the
//! repository. Frames are parsed from the log once, outside the measurement.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tomoe_can::{CandumpReader, Frame};
use tomoe_dbc::Database;

/// `relative` in the shared data folder; a benchmark skips rather than fails
/// without it, whatever `TOMOE_REQUIRE_SHARED` says.
fn shared(relative: &str) -> PathBuf {
    tomoe_test_support::shared_data_dir().join(relative)
}

fn decode(c: &mut Criterion) {
    let log = shared("logs/comma2k19-rav4/rav4_2017_2018-08-02--08-34-47_seg40.log");
    if !log.is_file() {
        eprintln!("skipping: {} is absent", log.display());
        return;
    }
    let frames: Vec<Frame> = CandumpReader::open(&log)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let powertrain =
        Database::from_file(&shared("dbc/opendbc/toyota_new_mc_pt_generated.dbc")).unwrap();
    let radar = Database::from_file(&shared("dbc/opendbc/toyota_adas.dbc")).unwrap();
    let mut group = c.benchmark_group("rav4_log");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("decode_all_signals", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for frame in &frames {
                let database = if &**frame.channel() == "can0" {
                    &powertrain
                } else {
                    &radar
                };
                if let Some(message) = database.message_for(frame.id(), frame.is_extended()) {
                    message.decode(frame.data(), |_, value| sum += value);
                }
            }
            std::hint::black_box(sum)
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
