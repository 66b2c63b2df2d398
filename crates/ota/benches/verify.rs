//! Verification throughput of an image download: `download_image` streams a
//! 64 MiB image from a repository directory, checks its length, SHA-256 and
//! SHA-512, and writes it to a sink that discards it.

use std::io;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tomoe_ota::metadata::UptaneCustom;
use tomoe_ota::{
    download_image, generate_key, ApprovedImage, FsFetcher, Lifetimes, Limits, Repository,
    RepositoryConfig, RoleConfig,
};

const IMAGE_BYTES: usize = 64 * 1024 * 1024;

fn verify(criterion: &mut Criterion) {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let key = generate_key();
    let role = RoleConfig {
        keys: vec![key.verifying_key()],
        threshold: 1,
    };
    let config = RepositoryConfig {
        root: role.clone(),
        targets: role.clone(),
        snapshot: role.clone(),
        timestamp: role,
    };
    let mut repository =
        Repository::create(&config, Lifetimes::default(), vec![key], now).expect("create");
    // Not all zeros, so that nothing along the way can shortcut the bytes.
    let image: Vec<u8> = (0..IMAGE_BYTES)
        .map(|index| (index as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3])
        .collect();
    let custom = UptaneCustom {
        ecu_identifier: None,
        hardware_identifier: "bench-hw".into(),
        release_counter: 1,
    };
    repository
        .add_target("bench.bin", &image, Some(&custom))
        .expect("add target");
    repository.publish(now).expect("publish");
    let dir = tempfile::tempdir().expect("temporary directory");
    repository.write_to(dir.path()).expect("write repository");
    drop(image);
    let approved = ApprovedImage {
        ecu_identifier: "bench-ecu".into(),
        target: "bench.bin".into(),
        file: repository.targets().signed.targets["bench.bin"].clone(),
        release_counter: 1,
        signed_by: "targets".into(),
    };
    let fetcher = FsFetcher::new(dir.path());
    let limits = Limits::default();

    let mut group = criterion.benchmark_group("ota");
    group.throughput(Throughput::Bytes(IMAGE_BYTES as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("download_image_64MiB", |bencher| {
        bencher.iter(|| {
            download_image(&fetcher, &approved, &limits, &mut io::sink()).expect("verified")
        })
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
