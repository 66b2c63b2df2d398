//! The Kona EV 2019 profile against its real log, and actuator write-back.

use std::path::PathBuf;

use tomoe_broker::{Broker, BrokerConfig, Field, Permissions};
use tomoe_can::{Bus, FrameSource, LogReplay, Pacing, ReplayOptions};
use tomoe_vehicle::{
    check_profile, BrokerSink, Feeder, FlushPolicy, LoadedProfile, Profile, Severity, WriteBack,
};
use tomoe_vss::Value;

fn profiles_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../profiles")
}

fn kona() -> LoadedProfile {
    let (dir, profile) = Profile::find("hyundai-kona-ev-2019", &profiles_dir()).unwrap();
    LoadedProfile::load(&dir, profile).unwrap()
}

fn broker_for(profile: &LoadedProfile) -> Broker {
    Broker::new(profile.catalog().unwrap(), BrokerConfig::default(), None).unwrap()
}

/// The profile's replay log, which lies in the shared data folder.
fn shared_log(profile: &LoadedProfile) -> Option<PathBuf> {
    tomoe_test_support::shared_path(profile.profile.replay_log(&profile.dir).unwrap())
}

fn current(broker: &Broker, path: &str) -> Option<Value> {
    let id = broker.resolve_path(path).unwrap();
    broker
        .get(&Permissions::allow_all(), &[id], Field::Current)
        .unwrap()[0]
        .value
        .clone()
}

#[tokio::test]
async fn replaying_the_kona_log_fills_speed_soc_and_voltage() {
    let profile = kona();
    let Some(log) = shared_log(&profile) else {
        return;
    };
    let broker = broker_for(&profile);
    let mut feeder = Feeder::new(&profile, broker.catalog_arc());
    assert!(
        feeder.skipped_rules().is_empty(),
        "{:?}",
        feeder.skipped_rules()
    );
    let options = ReplayOptions {
        pacing: Pacing::AsFastAsPossible,
        ..ReplayOptions::default()
    };
    let mut replay = LogReplay::open(&log, options).unwrap();
    let mut sink = BrokerSink::new(broker.clone(), Permissions::allow_all());
    feeder
        .run(
            &mut replay,
            &mut sink,
            FlushPolicy::every_frame(),
            std::future::pending(),
        )
        .await
        .unwrap();
    let stats = feeder.stats();
    assert_eq!(stats.frames, 39546);
    assert!(stats.published > 100, "{stats:?}");
    assert_eq!(
        current(&broker, "Vehicle.Speed"),
        Some(Value::Float(0.0)),
        "the car stands still in this log"
    );
    let Some(Value::Float(soc)) = current(
        &broker,
        "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed",
    ) else {
        panic!("no state of charge")
    };
    assert!((30.0..=40.0).contains(&soc), "state of charge {soc}");
    let Some(Value::Float(voltage)) =
        current(&broker, "Vehicle.Powertrain.TractionBattery.CurrentVoltage")
    else {
        panic!("no pack voltage")
    };
    assert!((300.0..=420.0).contains(&voltage), "pack voltage {voltage}");
}

#[tokio::test]
async fn a_target_change_goes_to_the_bus_as_an_encoded_frame() {
    let profile = kona();
    let broker = broker_for(&profile);
    let write_back = WriteBack::new(&profile, broker.catalog());
    assert!(!write_back.actuators().is_empty());
    let bus = Bus::new(16);
    let mut receiver = bus.receiver();
    tokio::spawn(write_back.run(
        broker.clone(),
        Permissions::allow_all(),
        Box::new(bus.sender()),
    ));

    let limit = broker
        .resolve_path("Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit")
        .unwrap();
    // The write-back claims the actuator asynchronously; retry until it has.
    let mut delivered = false;
    for _ in 0..100 {
        if broker
            .actuate(&Permissions::allow_all(), &[(limit, Value::Uint32(80))])
            .is_ok()
        {
            delivered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(delivered, "the write-back never claimed the actuator");
    let frame = receiver.recv().await.unwrap().unwrap();
    let database = &profile.buses[0].database;
    let message = database
        .message_for(frame.id(), frame.is_extended())
        .unwrap();
    let mut decoded = Vec::new();
    message.decode(frame.data(), |index, value| {
        decoded.push((message.signals()[index].name().to_owned(), value))
    });
    assert!(
        decoded.contains(&("SetACChargeLimit".to_owned(), 80.0)),
        "{decoded:?}"
    );
    // The other signals of the frame come from the profile's defaults.
    assert!(
        decoded.contains(&("SetDCChargeLimit".to_owned(), 127.5)),
        "{decoded:?}"
    );
    assert_eq!(&**frame.channel(), "can0");
}

#[test]
fn every_shipped_profile_checks_without_errors() {
    let catalog = tomoe_vss::default_catalog().unwrap();
    let profiles = Profile::list(&profiles_dir()).unwrap();
    assert!(profiles.len() >= 5, "{} profiles", profiles.len());
    for (dir, profile) in profiles {
        let id = profile.id.clone();
        let loaded = LoadedProfile::load(&dir, profile).unwrap_or_else(|e| panic!("{id}: {e}"));
        let catalog = if loaded.profile.catalog.vss == "embedded" {
            catalog.clone()
        } else {
            loaded.catalog().unwrap()
        };
        let errors: Vec<String> = check_profile(&loaded, &catalog)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.to_string())
            .collect();
        assert!(errors.is_empty(), "{id}:\n{}", errors.join("\n"));
    }
}
