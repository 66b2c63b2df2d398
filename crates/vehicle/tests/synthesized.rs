//! VSS values encoded into each brand's frames decode back to the same values.

use std::path::PathBuf;

use tomoe_broker::{Broker, BrokerConfig, Field, Permissions};
use tomoe_vehicle::{BrokerSink, Feeder, FrameSynthesizer, LoadedProfile, Profile};
use tomoe_vss::Value;

fn number(value: &Value) -> f64 {
    match value {
        Value::Float(v) => f64::from(*v),
        Value::Double(v) => *v,
        Value::Int32(v) => f64::from(*v),
        Value::Uint32(v) => f64::from(*v),
        Value::Bool(b) => f64::from(u8::from(*b)),
        other => panic!("not a number: {other:?}"),
    }
}

#[test]
fn every_profile_round_trips_speed_through_its_own_dbc() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../profiles");
    let mut carried_speed = 0;
    for (path, profile) in Profile::list(&dir).unwrap() {
        let id = profile.id.clone();
        let loaded = LoadedProfile::load(&path, profile).unwrap();
        let broker = Broker::new(loaded.catalog().unwrap(), BrokerConfig::default(), None).unwrap();
        let mut synthesizer = FrameSynthesizer::new(&loaded, broker.catalog());
        let mut feeder = Feeder::new(&loaded, broker.catalog_arc());
        let checks = [
            ("Vehicle.Speed", Value::Float(57.0)),
            (
                "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed",
                Value::Float(64.5),
            ),
            (
                "Vehicle.Powertrain.TractionBattery.CurrentVoltage",
                Value::Float(351.0),
            ),
            (
                "Vehicle.Chassis.Accelerator.PedalPosition",
                Value::Uint32(40),
            ),
        ];
        let mut expected = Vec::new();
        for (path, value) in &checks {
            let leaf = broker.resolve_path(path).unwrap();
            if synthesizer.carries(leaf) {
                synthesizer.set(leaf, value.clone());
                expected.push((*path, leaf, value.clone()));
            }
        }
        for frame in synthesizer.frames(1.0) {
            feeder.process(&frame);
        }
        let mut sink = BrokerSink::new(broker.clone(), Permissions::allow_all());
        let published = futures::executor::block_on(feeder.flush(&mut sink)).unwrap();
        assert!(published > 0, "{id}");
        for (path, leaf, value) in expected {
            let got = broker
                .get(&Permissions::allow_all(), &[leaf], Field::Current)
                .unwrap()[0]
                .value
                .clone();
            let got = got.unwrap_or_else(|| panic!("{id}: {path} did not come back"));
            let tolerance = 1.0;
            assert!(
                (number(&got) - number(&value)).abs() <= tolerance,
                "{id}: {path} sent {value:?}, got {got:?}"
            );
            if path == "Vehicle.Speed" {
                carried_speed += 1;
            }
        }
    }
    assert!(
        carried_speed >= 4,
        "only {carried_speed} profiles carry Vehicle.Speed"
    );
}
