//! The simulated driver parks at the end of every cycle: a simulated car used to
//! stay in Drive forever after its first trip, so parked-only apps and updates
//! waited for ever.

use std::path::PathBuf;

use tomoe_sim::{Cycle, Gear};
use tomoe_vehicle::{
    vehicle_parameters, LoadedProfile, Profile, Scenario, SimulatedVehicle, SimulationError,
};

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

fn profile(id: &str) -> LoadedProfile {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../profiles");
    let (dir, profile) = Profile::find(id, &dir).unwrap();
    LoadedProfile::load(&dir, profile).unwrap()
}

fn parts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../parts")
}

#[test]
fn the_simulated_battery_is_the_installed_pack() {
    // The Tesla profile installs the 75 kWh Long Range pack; the simulator's
    // Model 3 preset is the 50 kWh Standard Range Plus.
    let tesla = vehicle_parameters(&profile("tesla-model3"), &parts()).unwrap();
    let usable_kwh = tesla.battery.usable_capacity_ah * tesla.battery.nominal_voltage_v / 1000.0;
    assert!((usable_kwh - 75.0).abs() < 0.01, "{usable_kwh} kWh");
    assert_eq!(
        (tesla.battery.cells_series, tesla.battery.cells_parallel),
        (96, 46)
    );
    let kona = vehicle_parameters(&profile("hyundai-kona-ev-2019"), &parts()).unwrap();
    let usable_kwh = kona.battery.usable_capacity_ah * kona.battery.nominal_voltage_v / 1000.0;
    assert!((usable_kwh - 64.0).abs() < 0.5, "{usable_kwh} kWh");
}

#[test]
fn a_combustion_car_is_not_simulated_as_an_ev() {
    let error = vehicle_parameters(&profile("toyota-rav4-2017"), &parts()).unwrap_err();
    assert!(matches!(error, SimulationError::NotElectric(_)), "{error}");
    assert!(
        error.to_string().contains("--replay LOG or --idle"),
        "{error}"
    );
}
