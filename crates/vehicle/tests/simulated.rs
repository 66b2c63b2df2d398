//! The simulated driver parks at the end of every cycle: a simulated car used to
//! stay in Drive forever after its first trip, so parked-only apps and updates
//! waited for ever.

use std::path::PathBuf;

use tomoe_sim::{Cycle, Gear};
use tomoe_vehicle::{LoadedProfile, Profile, Scenario, SimulatedVehicle};

fn kona() -> LoadedProfile {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../profiles");
    let (dir, profile) = Profile::find("hyundai-kona-ev-2019", &dir).unwrap();
    LoadedProfile::load(&dir, profile).unwrap()
}

/// Runs `vehicle` for `seconds` of vehicle time in 0.1 s steps; the gear and
/// speed of each step.
fn run(vehicle: &mut SimulatedVehicle, seconds: f64) -> Vec<(Gear, f64)> {
    let steps = (seconds / 0.1).round() as usize;
    (0..steps)
        .map(|step| {
            let sample = vehicle.step(0.1, step as f64 * 0.1).sample.unwrap();
            (sample.gear, sample.speed_mps)
        })
        .collect()
}

#[test]
fn the_driver_parks_after_each_cycle_then_drives_again() {
    let profile = kona();
    let catalog = profile.catalog().unwrap();
    let cycle = Cycle::hwfet();
    let duration = cycle.duration_s();
    let mut vehicle = SimulatedVehicle::new(&profile, &catalog, Scenario::Cycle(cycle), 0.8)
        .unwrap()
        .with_park_time(60.0);
    let trip = run(&mut vehicle, duration);
    assert!(trip.iter().any(|(gear, _)| *gear == Gear::Drive));
    // The end of the cycle: Park, standing, for the park time.
    let parked = run(&mut vehicle, 58.0);
    assert!(
        parked
            .iter()
            .skip(5)
            .all(|(gear, speed)| *gear == Gear::Park && *speed < 0.01),
        "{:?}",
        &parked[..10]
    );
    // Then the next trip.
    let next = run(&mut vehicle, 120.0);
    assert!(next
        .iter()
        .any(|(gear, speed)| *gear == Gear::Drive && *speed > 1.0));
}
