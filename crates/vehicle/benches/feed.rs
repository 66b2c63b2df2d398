//! Decode + map + publish into the broker, on the real RAV4 log through its profile.
//!
//! `cargo bench -p tomoe-vehicle --bench feed`; needs the shared data folder beside the
//! repository. Each iteration feeds the whole log (98 800 frames) into a fresh feeder
//! and publishes in batches of 256 frames, as `tomoe can replay --speed 0` does.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tomoe_broker::{Broker, BrokerConfig, Permissions};
use tomoe_can::{CandumpReader, Frame};
use tomoe_vehicle::{BrokerSink, Feeder, LoadedProfile, Profile};

fn feed(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (dir, profile) = Profile::find("toyota-rav4-2017", &root.join("profiles")).unwrap();
    let profile = LoadedProfile::load(&dir, profile).unwrap();
    let log = profile.profile.replay_log(&profile.dir).unwrap();
    if !log.is_file() {
        eprintln!("skipping: {} is absent", log.display());
        return;
    }
    let frames: Vec<Frame> = CandumpReader::open(&log)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let broker = Broker::new(profile.catalog().unwrap(), BrokerConfig::default(), None).unwrap();
    let mut sink = BrokerSink::new(broker.clone(), Permissions::allow_all());
    let mut group = c.benchmark_group("rav4_log");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.sample_size(20);
    group.bench_function("decode_map_publish", |b| {
        b.iter(|| {
            let mut feeder = Feeder::new(&profile, broker.catalog_arc());
            for (index, frame) in frames.iter().enumerate() {
                feeder.process(frame);
                if index % 256 == 255 {
                    futures::executor::block_on(feeder.flush(&mut sink)).unwrap();
                }
            }
            futures::executor::block_on(feeder.flush(&mut sink)).unwrap();
            std::hint::black_box(feeder.stats())
        })
    });
    group.finish();
}

criterion_group!(benches, feed);
criterion_main!(benches);
