//! Battery pack swaps through `PackService`: the fit check decides, a fitting pack
//! is recorded, published and driven with, a refused one changes nothing.

use std::path::{Path, PathBuf};

use tomoe_broker::{Broker, BrokerConfig, Field};
use tomoe_sim::Cycle;
use tomoe_vehicle::{
    LoadedProfile, PackError, PackService, Profile, Scenario, SimulatedVehicle,
    DEFAULT_SWAP_SOC_PERCENT,
};
use tomoe_vss::Value;

fn repo(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(dir)
}

fn profile(id: &str) -> LoadedProfile {
    let (dir, profile) = Profile::find(id, &repo("profiles")).unwrap();
    LoadedProfile::load(&dir, profile).unwrap()
}

/// The shipped catalog plus `kia-e-niro-48kwh`: the e-Niro pack with 48 kWh
/// usable (a pack whose capacity differs, so that the swap shows).
fn parts_with_a_smaller_pack(dir: &Path) {
    for entry in std::fs::read_dir(repo("parts")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let kia = std::fs::read_to_string(repo("parts/kia-e-niro-64kwh.toml")).unwrap();
    let smaller = kia
        .replace("id = \"kia-e-niro-64kwh\"", "id = \"kia-e-niro-48kwh\"")
        .replace("usable_energy = \"64 kWh\"", "usable_energy = \"48 kWh\"");
    std::fs::write(dir.join("kia-e-niro-48kwh.toml"), smaller).unwrap();
}

fn broker_for(profile: &LoadedProfile) -> Broker {
    Broker::new(profile.catalog().unwrap(), BrokerConfig::default(), None).unwrap()
}

fn current(broker: &Broker, path: &str) -> Option<Value> {
    let leaf = broker.catalog().leaf(path).unwrap().id;
    broker
        .get(
            &tomoe_broker::Permissions::allow_all(),
            &[leaf],
            Field::Current,
        )
        .unwrap()
        .remove(0)
        .value
}

#[test]
fn the_kia_pack_goes_into_the_kona_and_stays_after_a_restart() {
    let parts = tempfile::tempdir().unwrap();
    parts_with_a_smaller_pack(parts.path());
    let data = tempfile::tempdir().unwrap();
    let kona = profile("hyundai-kona-ev-2019");
    let broker = broker_for(&kona);
    let service = PackService::open(&kona, parts.path(), data.path(), Some(broker.clone()))
        .unwrap()
        .unwrap();
    assert_eq!(service.installed(), "hyundai-kona-64kwh");
    assert_eq!(
        current(&broker, "Vehicle.Powertrain.TractionBattery.Id"),
        Some(Value::String("hyundai-kona-64kwh".into()))
    );
    let catalog = kona.catalog().unwrap();
    let mut vehicle = SimulatedVehicle::new(&kona, &catalog, Scenario::Cycle(Cycle::udds()), 0.8)
        .unwrap()
        .with_packs(service.changes());
    for step in 0..300 {
        vehicle.step(0.1, step as f64 * 0.1);
    }
    let before = vehicle.simulator().params().battery.usable_capacity_ah;

    let check = service.check("kia-e-niro-48kwh").unwrap();
    assert!(check.fits, "{:?}", check.failed());
    assert_eq!(check.reasons.len(), 10);
    assert!(
        service.history().unwrap().is_empty(),
        "a check stores nothing"
    );

    let verdict = service
        .swap("kia-e-niro-48kwh", Some(30.0), "anonymous:workshop")
        .unwrap();
    assert!(verdict.fits);
    let record = verdict.swap.clone().unwrap();
    assert_eq!(record.old_pack, "hyundai-kona-64kwh");
    assert_eq!(record.new_pack, "kia-e-niro-48kwh");
    assert_eq!(record.who, "anonymous:workshop");
    assert_eq!(record.soc_percent, 30.0);
    // VSS shows the new pack.
    assert_eq!(
        current(&broker, "Vehicle.Powertrain.TractionBattery.Id"),
        Some(Value::String("kia-e-niro-48kwh".into()))
    );
    assert_eq!(
        current(&broker, "Vehicle.Powertrain.TractionBattery.NetCapacity"),
        Some(Value::Uint32(48))
    );
    assert_eq!(
        current(&broker, "Vehicle.Powertrain.TractionBattery.GrossCapacity"),
        Some(Value::Uint32(68))
    );
    assert_eq!(
        current(&broker, "Vehicle.Powertrain.TractionBattery.NominalVoltage"),
        Some(Value::Uint32(356))
    );
    // The simulated vehicle drives on with it, from the stated state of charge.
    let output = vehicle.step(0.1, 30.0);
    let sample = output.sample.unwrap();
    assert!((sample.soc - 0.30).abs() < 0.001, "{}", sample.soc);
    let after = vehicle.simulator().params().battery.usable_capacity_ah;
    assert!((after - 48_000.0 / 356.0).abs() < 1e-9, "{after}");
    assert!(after < before);
    for step in 0..300 {
        vehicle.step(0.1, 30.0 + step as f64 * 0.1);
    }
    drop(service);

    // A restart: the vehicle comes up with the swapped pack.
    let broker = broker_for(&kona);
    let service = PackService::open(&kona, parts.path(), data.path(), Some(broker.clone()))
        .unwrap()
        .unwrap();
    assert_eq!(service.installed(), "kia-e-niro-48kwh");
    assert_eq!(service.history().unwrap(), [record]);
    assert_eq!(
        current(&broker, "Vehicle.Powertrain.TractionBattery.NetCapacity"),
        Some(Value::Uint32(48))
    );
    let vehicle = SimulatedVehicle::new(&kona, &catalog, Scenario::Cycle(Cycle::udds()), 0.8)
        .unwrap()
        .with_packs(service.changes());
    assert!((vehicle.simulator().params().battery.usable_capacity_ah - after).abs() < 1e-9);
    assert_eq!(
        vehicle.simulator().soc(),
        0.8,
        "at start the vehicle's --soc holds"
    );
}

#[test]
fn the_honda_e_pack_is_refused_by_the_leaf_with_every_reason_and_nothing_changes() {
    let data = tempfile::tempdir().unwrap();
    let leaf = profile("nissan-leaf-2018");
    let broker = broker_for(&leaf);
    let service = PackService::open(&leaf, &repo("parts"), data.path(), Some(broker.clone()))
        .unwrap()
        .unwrap();
    let id_before = current(&broker, "Vehicle.Powertrain.TractionBattery.Id");
    let catalog = leaf.catalog().unwrap();
    let vehicle = SimulatedVehicle::new(&leaf, &catalog, Scenario::Cycle(Cycle::udds()), 0.8)
        .unwrap()
        .with_packs(service.changes());
    let battery = vehicle.simulator().params().battery.clone();
    let error = service
        .swap("honda-e-35kwh", None, "anonymous:workshop")
        .unwrap_err();
    let PackError::Refused(verdict) = &error else {
        panic!("{error}")
    };
    assert!(!verdict.fits);
    let failed: Vec<&str> = verdict
        .reasons
        .iter()
        .filter(|r| r.outcome == tomoe_parts::Outcome::Fail)
        .map(|r| r.check.as_str())
        .collect();
    assert_eq!(
        failed,
        ["mounting", "hv-connector", "cooling", "bms-protocol"]
    );
    let message = error.to_string();
    for check in &failed {
        assert!(message.contains(check), "{message}");
    }
    assert!(!error.is_bad_input());
    assert_eq!(service.installed(), "nissan-leaf-40kwh");
    assert!(service.history().unwrap().is_empty());
    assert_eq!(
        current(&broker, "Vehicle.Powertrain.TractionBattery.Id"),
        id_before
    );
    let mut vehicle = vehicle;
    vehicle.step(0.1, 0.1);
    assert_eq!(vehicle.simulator().params().battery, battery);
    drop(service);
    let history = tomoe_store::PackHistory::open(data.path()).unwrap();
    assert!(history.all().unwrap().is_empty());
}

#[test]
fn unknown_ids_parts_of_other_kinds_and_bad_charges_are_bad_input() {
    let data = tempfile::tempdir().unwrap();
    let kona = profile("hyundai-kona-ev-2019");
    let service = PackService::open(&kona, &repo("parts"), data.path(), None)
        .unwrap()
        .unwrap();
    let unknown = service.swap("no-such-pack", None, "t").unwrap_err();
    assert!(unknown.is_bad_input());
    assert!(
        unknown
            .to_string()
            .contains("\"no-such-pack\" is not in the parts catalog"),
        "{unknown}"
    );
    let charger = service.swap("honda-e-charger", None, "t").unwrap_err();
    assert!(charger.is_bad_input());
    assert!(
        charger
            .to_string()
            .contains("is a charger, not a battery pack"),
        "{charger}"
    );
    let soc = service
        .swap("kia-e-niro-64kwh", Some(120.0), "t")
        .unwrap_err();
    assert!(soc.is_bad_input(), "{soc}");
    assert!(service.check("honda-e-mcf5").unwrap_err().is_bad_input());
    assert!(service.history().unwrap().is_empty());
    assert_eq!(service.installed(), "hyundai-kona-64kwh");
    assert_eq!(DEFAULT_SWAP_SOC_PERCENT, 50.0);
}
