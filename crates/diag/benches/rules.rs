//! What a fault rule costs per signal update: the Kona profile's rules fed the
//! updates of one of their signals, and one signal read by many rules.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use tokio::time::Instant;
use tomoe_diag::{DiagnosticsSpec, RuleSet};
use tomoe_vss::Value;

fn kona() -> DiagnosticsSpec {
    DiagnosticsSpec::read(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../profiles/hyundai-kona-ev-2019/diagnostics.toml"),
    )
    .unwrap()
}

fn many_rules(count: usize) -> DiagnosticsSpec {
    let mut text = String::from("[[ecu]]\nid = \"bms\"\nname = \"BMS\"\n");
    for index in 0..count {
        text.push_str(&format!(
            "[[rule]]\ncode = \"P1{index:03X}\"\nname = \"r\"\necu = \"bms\"\nsignal = \"Vehicle.Powertrain.TractionBattery.Temperature.Max\"\nabove = {}.0\ndebounce_ms = 1000\n",
            60 + index
        ));
    }
    DiagnosticsSpec::parse(&text, "bench").unwrap()
}

fn updates(c: &mut Criterion) {
    let catalog = tomoe_vss::default_catalog().unwrap();
    let temperature = catalog
        .leaf("Vehicle.Powertrain.TractionBattery.Temperature.Max")
        .unwrap()
        .id;
    let unwatched = catalog
        .leaf("Vehicle.Cabin.Door.Row1.DriverSide.IsOpen")
        .unwrap()
        .id;
    let mut group = c.benchmark_group("rule evaluation per signal update");
    for (name, spec) in [
        ("kona profile (6 rules; 2 read the signal)", kona()),
        ("one signal read by 100 rules", many_rules(100)),
    ] {
        let mut rules = RuleSet::new(&spec, &catalog).unwrap();
        let mut reports = Vec::new();
        let now = Instant::now();
        // Two passing values in turn: the steady state, no report.
        let values = [Value::Float(30.0), Value::Float(31.0)];
        rules.update(temperature, Some(&values[0]), now, &mut reports);
        reports.clear();
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i ^= 1;
                rules.update(temperature, Some(black_box(&values[i])), now, &mut reports);
            })
        });
        assert!(reports.is_empty());
    }
    let mut rules = RuleSet::new(&kona(), &catalog).unwrap();
    let mut reports = Vec::new();
    let now = Instant::now();
    group.bench_function("a signal no rule reads", |b| {
        b.iter(|| {
            rules.update(
                black_box(unwatched),
                Some(&Value::Bool(true)),
                now,
                &mut reports,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, updates);
criterion_main!(benches);
