//! The bandwidth a vehicle's telemetry policy uses: the simulated Kona drives the
//! whole UDDS cycle in vehicle time (no clock, no broker), its values go through the
//! policy's filter, and what would be sent is counted. Compared with sending every
//! change of the same signals, and every change of every signal.
//!
//! `cargo bench -p tomoe-zenoh --bench telemetry_bandwidth [-- POLICY]`
//! (default policy: examples/telemetry-policy.toml).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tomoe_sim::Cycle;
use tomoe_vehicle::{
    default_profiles_dir, Feeder, LoadedProfile, Profile, Scenario, SimulatedVehicle,
};
use tomoe_zenoh::{TelemetryMeter, TelemetryPolicy, TelemetryUsage};

const VEHICLE: &str = "hyundai-kona-ev-2019";

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let policy_file = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map_or_else(
            || repo.join("examples/telemetry-policy.toml"),
            PathBuf::from,
        );
    let policy = TelemetryPolicy::load(&policy_file).expect("a valid policy");
    // The same signals, every change sent; and every signal, every change.
    let selected: Vec<String> = policy
        .rules()
        .iter()
        .flat_map(|r| r.paths.iter().map(|p| format!("\"{}\"", p.as_str())))
        .collect();
    let on_change =
        TelemetryPolicy::parse(&format!("[[signal]]\npaths = [{}]\n", selected.join(", ")))
            .unwrap();
    let everything = TelemetryPolicy::parse("[[signal]]\npaths = [\"Vehicle.**\"]\n").unwrap();

    let (dir, profile) = Profile::find(VEHICLE, &default_profiles_dir()).unwrap();
    let profile = LoadedProfile::load(&dir, profile).unwrap();
    let catalog = profile.catalog().unwrap();
    let cycle = Cycle::udds();
    let duration = cycle.duration_s();
    let vehicle = SimulatedVehicle::new(&profile, &catalog, Scenario::Cycle(cycle), 0.8).unwrap();
    let mut meters = [
        TelemetryMeter::new(&policy, &catalog, VEHICLE, "central"),
        TelemetryMeter::new(&on_change, &catalog, VEHICLE, "central"),
        TelemetryMeter::new(&everything, &catalog, VEHICLE, "central"),
    ];
    let mut feeder = Feeder::new(&profile, Arc::new(catalog));
    let mut last = 0.0;
    vehicle.drive_offline(&mut feeder, duration, |time, values| {
        let now = Duration::from_secs_f64(time);
        for meter in &mut meters {
            meter.record(values.clone(), now);
        }
        last = time;
    });
    let elapsed = Duration::from_secs_f64(last);
    let [policy_usage, on_change_usage, all_usage] = meters.map(|m| m.usage(elapsed));

    println!(
        "telemetry of the simulated {VEHICLE} over one UDDS cycle ({duration:.0} s of vehicle time), policy {}",
        policy_file.display()
    );
    println!("bytes = key + JSON payload + ECU attachment; Zenoh framing not counted\n");
    println!(
        "{:<44} {:>9} {:>10} {:>10} {:>12}",
        "", "samples", "samples/s", "bytes/s", "MB per hour"
    );
    for (label, usage) in [
        ("the policy", &policy_usage),
        ("the same signals, every change", &on_change_usage),
        ("every signal, every change", &all_usage),
    ] {
        line(label, usage);
    }
    println!("\nthe policy's signals, most bytes first:");
    for (path, samples, bytes) in &policy_usage.signals {
        println!("  {path:<64} {samples:>6} samples {bytes:>8} bytes");
    }
}

fn line(label: &str, usage: &TelemetryUsage) {
    let per_second = |n: u64| n as f64 / usage.seconds;
    println!(
        "{label:<44} {:>9} {:>10.2} {:>10.1} {:>12.3}",
        usage.samples,
        per_second(usage.samples),
        per_second(usage.bytes),
        per_second(usage.bytes) * 3600.0 / 1e6
    );
}
