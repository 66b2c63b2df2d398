//! The feed loop (`Feeder::run`) on the in-process bus and broker: flush policies,
//! end of the source, stop, and values the broker refuses.

use std::path::PathBuf;
use std::time::Duration;

use tomoe_broker::{Broker, BrokerConfig, Field, Permissions, RefusedEntry};
use tomoe_can::{Bus, Frame, FrameSink};
use tomoe_vehicle::{
    BrokerSink, FeedError, Feeder, FlushPolicy, FrameSynthesizer, LoadedProfile, Profile, Scenario,
    SimulatedVehicle, ValueSink,
};
use tomoe_vss::{LeafId, PathPattern, Value};

const SPEED: &str = "Vehicle.Speed";

fn kona() -> LoadedProfile {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../profiles");
    let (dir, profile) = Profile::find("hyundai-kona-ev-2019", &dir).unwrap();
    LoadedProfile::load(&dir, profile).unwrap()
}

struct Setup {
    profile: LoadedProfile,
    broker: Broker,
    speed: LeafId,
}

fn setup() -> Setup {
    let profile = kona();
    let broker = Broker::new(profile.catalog().unwrap(), BrokerConfig::default(), None).unwrap();
    let speed = broker.resolve_path(SPEED).unwrap();
    Setup {
        profile,
        broker,
        speed,
    }
}

impl Setup {
    /// The frames that carry `speed` (km/h) on the Kona's buses.
    fn speed_frames(&self, speed: f32, timestamp: f64) -> Vec<Frame> {
        let mut synthesizer = FrameSynthesizer::new(&self.profile, self.broker.catalog());
        assert!(synthesizer.carries(self.speed));
        synthesizer.set(self.speed, Value::Float(speed));
        synthesizer.frames(timestamp)
    }

    fn speed(&self) -> Option<Value> {
        self.broker
            .get(&Permissions::allow_all(), &[self.speed], Field::Current)
            .unwrap()[0]
            .value
            .clone()
    }
}

/// The broker sink, recording the size of each batch it is handed.
struct Recording {
    inner: BrokerSink,
    batches: Vec<usize>,
    finished: bool,
}

impl Recording {
    fn new(broker: &Broker, permissions: Permissions) -> Recording {
        Recording {
            inner: BrokerSink::new(broker.clone(), permissions),
            batches: Vec::new(),
            finished: false,
        }
    }
}

impl ValueSink for Recording {
    async fn publish(
        &mut self,
        values: Vec<(LeafId, Option<Value>)>,
    ) -> Result<Vec<RefusedEntry>, FeedError> {
        self.batches.push(values.len());
        self.inner.publish(values).await
    }

    async fn finish(&mut self) -> Result<(), FeedError> {
        self.finished = true;
        Ok(())
    }
}

#[tokio::test]
async fn the_feed_ends_with_its_source_and_flushes_the_rest() {
    let setup = setup();
    let bus = Bus::new(256);
    let mut frames = bus.receiver();
    let mut sender = bus.sender();
    drop(bus);
    for (index, speed) in [10.0, 20.0, 30.0].into_iter().enumerate() {
        for frame in setup.speed_frames(speed, index as f64) {
            sender.send(&frame).await.unwrap();
        }
    }
    drop(sender);
    let mut feeder = Feeder::new(&setup.profile, setup.broker.catalog_arc());
    let mut sink = Recording::new(&setup.broker, Permissions::allow_all());
    // Neither an interval nor a frame count: one batch, when the source ends.
    feeder
        .run(
            &mut frames,
            &mut sink,
            FlushPolicy::default(),
            std::future::pending(),
        )
        .await
        .unwrap();
    assert_eq!(sink.batches.len(), 1, "{:?}", sink.batches);
    assert!(sink.finished);
    assert_eq!(setup.speed(), Some(Value::Float(30.0)));
    let stats = feeder.stats();
    assert_eq!(stats.published as usize, sink.batches[0]);
    assert_eq!(stats.rejected, 0);
}

#[tokio::test]
async fn a_frame_count_policy_flushes_every_n_frames() {
    let setup = setup();
    let per_value = setup.speed_frames(1.0, 0.0).len() as u32;
    let bus = Bus::new(256);
    let mut frames = bus.receiver();
    let mut sender = bus.sender();
    drop(bus);
    for (index, speed) in [10.0, 20.0, 30.0, 40.0].into_iter().enumerate() {
        for frame in setup.speed_frames(speed, index as f64 * 2.0) {
            sender.send(&frame).await.unwrap();
        }
    }
    drop(sender);
    let mut feeder = Feeder::new(&setup.profile, setup.broker.catalog_arc());
    let mut sink = Recording::new(&setup.broker, Permissions::allow_all());
    feeder
        .run(
            &mut frames,
            &mut sink,
            FlushPolicy::frames(2 * per_value),
            std::future::pending(),
        )
        .await
        .unwrap();
    // Two flushes by count, none left for the end.
    assert_eq!(sink.batches.len(), 2, "{:?}", sink.batches);
    assert_eq!(setup.speed(), Some(Value::Float(40.0)));
}

#[tokio::test]
async fn an_interval_policy_flushes_while_the_source_runs_until_stopped() {
    let setup = setup();
    let bus = Bus::new(256);
    let mut frames = bus.receiver();
    let mut sender = bus.sender();
    let mut feeder = Feeder::new(&setup.profile, setup.broker.catalog_arc());
    let mut sink = Recording::new(&setup.broker, Permissions::allow_all());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let feed = feeder.run(
        &mut frames,
        &mut sink,
        FlushPolicy::interval(Duration::from_millis(20)),
        async {
            let _ = stop_rx.await;
        },
    );
    let drive = async {
        for frame in setup.speed_frames(55.0, 0.0) {
            sender.send(&frame).await.unwrap();
        }
        // The source stays open: only the interval can publish the value.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while setup.speed() != Some(Value::Float(55.0)) {
            assert!(tokio::time::Instant::now() < deadline, "never flushed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop_tx.send(()).unwrap();
    };
    let (result, ()) = tokio::join!(feed, drive);
    result.unwrap();
    assert!(sink.finished);
    assert!(bus.receiver_count() > 0, "the bus is still open");
}

#[tokio::test]
async fn values_the_broker_refuses_are_dropped_and_counted() {
    let setup = setup();
    let bus = Bus::new(256);
    let mut frames = bus.receiver();
    let mut sender = bus.sender();
    drop(bus);
    // A frame of the Kona's wheel speeds carries more than the speed; the feeder's
    // sink may provide only the speed.
    let mut synthesizer = FrameSynthesizer::new(&setup.profile, setup.broker.catalog());
    let soc = setup
        .broker
        .resolve_path("Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed")
        .unwrap();
    assert!(synthesizer.carries(soc));
    synthesizer.set(setup.speed, Value::Float(42.0));
    synthesizer.set(soc, Value::Float(64.5));
    for frame in synthesizer.frames(0.0) {
        sender.send(&frame).await.unwrap();
    }
    drop(sender);
    let only_speed = Permissions::none().with_provide(PathPattern::parse(SPEED).unwrap());
    let mut feeder = Feeder::new(&setup.profile, setup.broker.catalog_arc());
    let mut sink = Recording::new(&setup.broker, only_speed);
    feeder
        .run(
            &mut frames,
            &mut sink,
            FlushPolicy::default(),
            std::future::pending(),
        )
        .await
        .unwrap();
    let stats = feeder.stats();
    assert_eq!(setup.speed(), Some(Value::Float(42.0)));
    assert!(stats.rejected >= 1, "{stats:?}");
    assert_eq!(
        stats.published + stats.rejected,
        sink.batches.iter().sum::<usize>() as u64
    );
    let soc_value = setup
        .broker
        .get(&Permissions::allow_all(), &[soc], Field::Current)
        .unwrap()[0]
        .value
        .clone();
    assert_eq!(soc_value, None, "the refused value was dropped");
}

/// A sink that cannot go on ends the feed with its error.
struct Broken;

impl ValueSink for Broken {
    async fn publish(
        &mut self,
        _: Vec<(LeafId, Option<Value>)>,
    ) -> Result<Vec<RefusedEntry>, FeedError> {
        Err(FeedError::Sink("connection closed".into()))
    }
}

#[tokio::test]
async fn a_failing_sink_ends_the_feed() {
    let setup = setup();
    let bus = Bus::new(256);
    let mut frames = bus.receiver();
    let mut sender = bus.sender();
    for frame in setup.speed_frames(12.0, 0.0) {
        sender.send(&frame).await.unwrap();
    }
    let mut feeder = Feeder::new(&setup.profile, setup.broker.catalog_arc());
    let error = feeder
        .run(
            &mut frames,
            &mut Broken,
            FlushPolicy::every_frame(),
            std::future::pending(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "the value sink failed");
    drop(bus);
}

#[tokio::test(start_paused = true)]
async fn a_simulated_vehicle_drives_through_the_bus_and_publishes_the_rest_directly() {
    let setup = setup();
    let vehicle = SimulatedVehicle::new(
        &setup.profile,
        setup.broker.catalog(),
        Scenario::Cycle(tomoe_sim::Cycle::udds()),
        0.8,
    )
    .unwrap();
    let direct: Vec<LeafId> = vehicle
        .static_values()
        .into_iter()
        .map(|(leaf, _)| leaf)
        .collect();
    assert!(!direct.is_empty());
    let bus = Bus::new(4096);
    let mut frames = bus.receiver();
    let mut to_bus = bus.sender();
    let mut direct_sink = BrokerSink::new(setup.broker.clone(), Permissions::allow_all());
    let driver =
        tokio::spawn(async move { vehicle.drive(10.0, &mut to_bus, &mut direct_sink).await });
    let mut feeder = Feeder::new(&setup.profile, setup.broker.catalog_arc());
    let mut sink = BrokerSink::new(setup.broker.clone(), Permissions::allow_all());
    // Three seconds of wall-clock time are thirty of vehicle time at ten times speed.
    feeder
        .run(
            &mut frames,
            &mut sink,
            FlushPolicy::interval(Duration::from_millis(50)),
            tokio::time::sleep(Duration::from_secs(3)),
        )
        .await
        .unwrap();
    assert!(!driver.is_finished(), "the simulator runs until stopped");
    driver.abort();
    let stats = feeder.stats();
    // One frame set per 0.1 s step of vehicle time: about 300 steps.
    assert!(stats.frames > 250, "{stats:?}");
    assert!(stats.published > 0, "{stats:?}");
    assert!(matches!(setup.speed(), Some(Value::Float(_))));
    let values = setup
        .broker
        .get(&Permissions::allow_all(), &direct, Field::Current)
        .unwrap();
    assert!(values.iter().all(|datapoint| datapoint.value.is_some()));
}

#[tokio::test]
async fn a_replay_source_keeps_the_profile_channels_and_forward_copies_it() {
    let setup = setup();
    let channel = setup.profile.buses[0].spec.channel.clone();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mixed.log");
    let frame = &setup.speed_frames(30.0, 0.0)[0];
    std::fs::write(
        &log,
        format!(
            "(1.000000) {channel} {:03X}#{}\n(1.100000) elsewhere 123#00\nnot a candump line\n",
            frame.id(),
            frame
                .data()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
        ),
    )
    .unwrap();
    let mut replay = tomoe_vehicle::replay_source(
        &setup.profile,
        &log,
        tomoe_can::Pacing::AsFastAsPossible,
        false,
    )
    .unwrap();
    let bus = Bus::new(16);
    let mut receiver = bus.receiver();
    tomoe_vehicle::forward(&mut replay, &mut bus.sender())
        .await
        .unwrap();
    drop(bus);
    let mut channels = Vec::new();
    while let Some(frame) = tomoe_can::FrameSource::recv(&mut receiver).await.unwrap() {
        channels.push(frame.channel().to_string());
    }
    assert_eq!(channels, [channel]);
}

#[test]
fn a_log_of_another_vehicle_is_recognised() {
    let setup = setup();
    let channel = setup.profile.buses[0].spec.channel.clone();
    let known = setup.speed_frames(30.0, 0.0)[0].clone();
    // An id no DBC of the Kona profile defines, on the profile's own channel.
    let foreign = Frame::new(channel.as_str(), 0x7FE, false, &[0; 8]).unwrap();
    let mut matching = Feeder::new(&setup.profile, setup.broker.catalog_arc());
    let mut mismatched = Feeder::new(&setup.profile, setup.broker.catalog_arc());
    for index in 0..tomoe_vehicle::MISMATCH_SAMPLE {
        matching.process(&known);
        mismatched.process(if index % 10 < 6 { &foreign } else { &known });
    }
    assert!(
        !matching.stats().looks_mismatched(),
        "{:?}",
        matching.stats()
    );
    assert!(
        mismatched.stats().looks_mismatched(),
        "{:?}",
        mismatched.stats()
    );
}
