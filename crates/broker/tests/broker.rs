//! Behaviour of the broker core, through its public API.

use std::sync::{Arc, Mutex};

use tomoe_broker::{
    BatchPolicy, Broker, BrokerConfig, BrokerError, Field, Permissions, Persistence,
    PersistenceError, StoredDatapoint, SubscriptionEvent,
};
use tomoe_vss::{CatalogBuilder, LeafId, PathPattern, Value, ValueError};

const CATALOG: &str = r#"{"Vehicle": {"type": "branch", "description": "root", "children": {
    "Speed": {"type": "sensor", "datatype": "float", "unit": "km/h", "min": 0, "max": 250, "description": "speed"},
    "VehicleIdentification": {"type": "branch", "description": "id", "children": {
        "VIN": {"type": "attribute", "datatype": "string", "description": "vin"},
        "Model": {"type": "attribute", "datatype": "string", "default": "Tomoe", "description": "model"}}},
    "Cabin": {"type": "branch", "description": "cabin", "children": {
        "Light": {"type": "actuator", "datatype": "string", "allowed": ["OFF", "ON"], "description": "light"},
        "Fan": {"type": "actuator", "datatype": "uint8", "max": 10, "description": "fan"}}}
}}}"#;

fn broker_with(persistence: Option<Arc<dyn Persistence>>) -> Broker {
    let catalog = CatalogBuilder::new()
        .json_str(CATALOG, "test")
        .unwrap()
        .build()
        .unwrap();
    Broker::new(catalog, BrokerConfig::default(), persistence).unwrap()
}

fn broker() -> Broker {
    broker_with(None)
}

fn id(broker: &Broker, path: &str) -> LeafId {
    broker.resolve_path(path).unwrap()
}

fn current(broker: &Broker, path: &str) -> Option<Value> {
    broker
        .get(
            &Permissions::allow_all(),
            &[id(broker, path)],
            Field::Current,
        )
        .unwrap()[0]
        .value
        .clone()
}

#[test]
fn attributes_start_at_their_default() {
    let broker = broker();
    assert_eq!(
        current(&broker, "Vehicle.VehicleIdentification.Model"),
        Some(Value::String("Tomoe".into()))
    );
    assert_eq!(current(&broker, "Vehicle.Speed"), None);
}

#[test]
fn invalid_writes_are_refused_and_change_nothing() {
    let broker = broker();
    let all = Permissions::allow_all();
    let speed = id(&broker, "Vehicle.Speed");
    broker
        .publish(&all, &[(speed, Some(Value::Float(50.0)))])
        .unwrap();
    let wrong_type = broker
        .publish(&all, &[(speed, Some(Value::Int32(5)))])
        .unwrap_err();
    assert!(
        matches!(
            wrong_type.reason(),
            BrokerError::InvalidValue(ValueError::WrongType { .. })
        ),
        "{wrong_type}"
    );
    let out_of_range = broker
        .publish(&all, &[(speed, Some(Value::Float(999.0)))])
        .unwrap_err();
    assert!(
        out_of_range
            .reason()
            .to_string()
            .contains("out of range for \"Vehicle.Speed\""),
        "{out_of_range}"
    );
    // A batch with one bad entry changes none of its entries.
    let vin = id(&broker, "Vehicle.VehicleIdentification.VIN");
    let batch = [
        (vin, Some(Value::String("X".into()))),
        (speed, Some(Value::Float(-1.0))),
    ];
    assert!(broker.publish(&all, &batch).is_err());
    assert_eq!(current(&broker, "Vehicle.Speed"), Some(Value::Float(50.0)));
    assert_eq!(current(&broker, "Vehicle.VehicleIdentification.VIN"), None);
}

#[test]
fn targets_only_for_actuators() {
    let broker = broker();
    let all = Permissions::allow_all();
    let error = broker
        .set_targets(&all, &[(id(&broker, "Vehicle.Speed"), Value::Float(1.0))])
        .unwrap_err();
    assert_eq!(
        error.reason().to_string(),
        "\"Vehicle.Speed\" is a sensor, not an actuator: it has no target value"
    );
    let light = id(&broker, "Vehicle.Cabin.Light");
    let error = broker
        .set_targets(&all, &[(light, Value::String("DIM".into()))])
        .unwrap_err();
    assert!(
        error.reason().to_string().contains("not allowed"),
        "{error}"
    );
    broker
        .set_targets(&all, &[(light, Value::String("ON".into()))])
        .unwrap();
    let target = broker.get(&all, &[light], Field::Target).unwrap();
    assert_eq!(target[0].value, Some(Value::String("ON".into())));
}

#[tokio::test]
async fn subscribers_get_initial_values_then_changes() {
    let broker = broker();
    let all = Permissions::allow_all();
    let ids = broker.resolve_pattern("Vehicle.Cabin").unwrap();
    let mut subscription = broker
        .subscribe(&all, &ids, Field::Current, 8, true)
        .unwrap();
    let Some(SubscriptionEvent::Changes(initial)) = subscription.next().await else {
        panic!("no initial event")
    };
    assert_eq!(initial.len(), 2);
    broker
        .publish(
            &all,
            &[(id(&broker, "Vehicle.Speed"), Some(Value::Float(3.0)))],
        )
        .unwrap();
    broker
        .publish(
            &all,
            &[(id(&broker, "Vehicle.Cabin.Fan"), Some(Value::Uint32(3)))],
        )
        .unwrap();
    let Some(SubscriptionEvent::Changes(changes)) = subscription.next().await else {
        panic!("no change")
    };
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].datapoint.value, Some(Value::Uint32(3)));
}

#[tokio::test]
async fn slow_subscriber_is_disconnected_without_blocking_others() {
    let broker = broker();
    let all = Permissions::allow_all();
    let speed = id(&broker, "Vehicle.Speed");
    let mut slow = broker
        .subscribe(&all, &[speed], Field::Current, 2, false)
        .unwrap();
    let mut fast = broker
        .subscribe(&all, &[speed], Field::Current, 100, false)
        .unwrap();
    for i in 0..10 {
        broker
            .publish(&all, &[(speed, Some(Value::Float(i as f32)))])
            .unwrap();
        let Some(SubscriptionEvent::Changes(changes)) = fast.next().await else {
            panic!("fast subscriber starved")
        };
        assert_eq!(changes[0].datapoint.value, Some(Value::Float(i as f32)));
    }
    // The two batches that fit are still delivered, then the lag is reported.
    for expected in [0.0, 1.0] {
        let Some(SubscriptionEvent::Changes(changes)) = slow.next().await else {
            panic!("queued batch lost")
        };
        assert_eq!(changes[0].datapoint.value, Some(Value::Float(expected)));
    }
    assert_eq!(
        slow.next().await,
        Some(SubscriptionEvent::Lagged { dropped: 1 })
    );
    assert_eq!(slow.next().await, None);
    assert_eq!(broker.subscription_count(), 1);
}

#[tokio::test]
async fn actuation_goes_to_the_claiming_provider() {
    let broker = broker();
    let all = Permissions::allow_all();
    let light = id(&broker, "Vehicle.Cabin.Light");
    let error = broker
        .actuate(&all, &[(light, Value::String("ON".into()))])
        .unwrap_err();
    assert!(
        matches!(error.reason(), BrokerError::NoProvider { .. }),
        "{error}"
    );
    assert_eq!(
        error.reason().to_string(),
        format!(
            "provider for \"Vehicle.Cabin.Light\" (id {}) does not exist",
            light.0
        )
    );

    let mut provider = broker.open_provider();
    provider.claim(&all, &[light]).unwrap();
    let rival = broker.open_provider();
    let error = rival.claim(&all, &[light]).unwrap_err();
    assert!(
        matches!(error, BrokerError::AlreadyClaimed { .. }),
        "{error}"
    );

    broker
        .actuate(&all, &[(light, Value::String("ON".into()))])
        .unwrap();
    let request = provider.next().await.unwrap();
    assert_eq!(request.targets, vec![(light, Value::String("ON".into()))]);

    drop(provider);
    let error = broker
        .actuate(&all, &[(light, Value::String("OFF".into()))])
        .unwrap_err();
    assert!(matches!(error.reason(), BrokerError::NoProvider { .. }));
    rival.claim(&all, &[light]).unwrap();
}

#[test]
fn permissions_are_enforced_per_access() {
    let broker = broker();
    let reader = Permissions::none().with_read(PathPattern::parse("Vehicle.Speed").unwrap());
    let speed = id(&broker, "Vehicle.Speed");
    assert!(broker.get(&reader, &[speed], Field::Current).is_ok());
    let error = broker
        .publish(&reader, &[(speed, Some(Value::Float(1.0)))])
        .unwrap_err();
    assert_eq!(
        error.reason().to_string(),
        "permission denied: no provide access to \"Vehicle.Speed\""
    );
    let light = id(&broker, "Vehicle.Cabin.Light");
    assert!(matches!(
        broker.get(&reader, &[light], Field::Current),
        Err(BrokerError::PermissionDenied { .. })
    ));
}

/// A store that records saves and can be told to fail.
#[derive(Default)]
struct RecordingStore {
    saved: Mutex<Vec<StoredDatapoint>>,
    fail: Mutex<bool>,
}

impl Persistence for RecordingStore {
    fn load(&self) -> Result<Vec<StoredDatapoint>, PersistenceError> {
        Ok(self.saved.lock().unwrap().clone())
    }
    fn save(&self, datapoints: &[StoredDatapoint]) -> Result<(), PersistenceError> {
        if *self.fail.lock().unwrap() {
            return Err("disk full".into());
        }
        self.saved.lock().unwrap().extend_from_slice(datapoints);
        Ok(())
    }
}

#[test]
fn durable_fields_are_saved_and_restored() {
    let store = Arc::new(RecordingStore::default());
    let broker = broker_with(Some(store.clone()));
    let all = Permissions::allow_all();
    broker
        .publish(
            &all,
            &[(
                id(&broker, "Vehicle.VehicleIdentification.VIN"),
                Some(Value::String("JN1".into())),
            )],
        )
        .unwrap();
    broker
        .publish(
            &all,
            &[(id(&broker, "Vehicle.Speed"), Some(Value::Float(9.0)))],
        )
        .unwrap();
    broker
        .set_targets(
            &all,
            &[(id(&broker, "Vehicle.Cabin.Fan"), Value::Uint32(4))],
        )
        .unwrap();
    // Sensors are not durable unless opted in.
    assert_eq!(store.saved.lock().unwrap().len(), 2);

    let restarted = broker_with(Some(store.clone()));
    assert_eq!(
        current(&restarted, "Vehicle.VehicleIdentification.VIN"),
        Some(Value::String("JN1".into()))
    );
    assert_eq!(current(&restarted, "Vehicle.Speed"), None);
    let fan = id(&restarted, "Vehicle.Cabin.Fan");
    assert_eq!(
        restarted.get(&all, &[fan], Field::Target).unwrap()[0].value,
        Some(Value::Uint32(4))
    );
}

#[test]
fn failed_save_changes_nothing() {
    let store = Arc::new(RecordingStore::default());
    let broker = broker_with(Some(store.clone()));
    let all = Permissions::allow_all();
    let vin = id(&broker, "Vehicle.VehicleIdentification.VIN");
    broker
        .publish(&all, &[(vin, Some(Value::String("A".into())))])
        .unwrap();
    *store.fail.lock().unwrap() = true;
    let error = broker
        .publish(&all, &[(vin, Some(Value::String("B".into())))])
        .unwrap_err();
    assert!(matches!(error, BrokerError::Storage(_)), "{error}");
    assert_eq!(
        current(&broker, "Vehicle.VehicleIdentification.VIN"),
        Some(Value::String("A".into()))
    );
}

/// Asserts that `error` refuses entry `index` on `path` and that its chain reads `message`.
fn check_refused(error: &BrokerError, index: usize, path: &str, message: &str) {
    let BrokerError::Refused(entry) = error else {
        panic!("not a refused entry: {error:?}");
    };
    assert_eq!((entry.index, entry.path.as_str()), (index, path), "{error}");
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    assert_eq!(chain, message);
}

#[tokio::test]
async fn a_refused_batch_names_the_entry_and_the_reason() {
    let broker = broker();
    let all = Permissions::allow_all();
    let speed = id(&broker, "Vehicle.Speed");
    let vin = id(&broker, "Vehicle.VehicleIdentification.VIN");
    let light = id(&broker, "Vehicle.Cabin.Light");
    let fan = id(&broker, "Vehicle.Cabin.Fan");

    // publish
    let error = broker
        .publish(
            &all,
            &[
                (vin, Some(Value::String("X".into()))),
                (speed, Some(Value::Float(-1.0))),
            ],
        )
        .unwrap_err();
    check_refused(
        &error,
        1,
        "Vehicle.Speed",
        &format!(
            "entry 1 of the batch (\"Vehicle.Speed\") refused: {}",
            error.reason()
        ),
    );
    assert!(matches!(
        error.reason(),
        BrokerError::InvalidValue(ValueError::OutOfRange { .. })
    ));
    let error = broker
        .publish(&all, &[(LeafId(9999), Some(Value::Float(1.0)))])
        .unwrap_err();
    check_refused(
        &error,
        0,
        "",
        "entry 0 of the batch (signal id 9999) refused: signal id 9999 not found",
    );

    // set_targets
    let error = broker
        .set_targets(
            &all,
            &[
                (light, Value::String("ON".into())),
                (fan, Value::Uint32(11)),
            ],
        )
        .unwrap_err();
    check_refused(
        &error,
        1,
        "Vehicle.Cabin.Fan",
        &format!(
            "entry 1 of the batch (\"Vehicle.Cabin.Fan\") refused: {}",
            error.reason()
        ),
    );
    assert_eq!(
        broker.get(&all, &[light], Field::Target).unwrap()[0].value,
        None,
        "a refused batch changes nothing"
    );

    // actuate: the light has a provider, the fan has none.
    let provider = broker.open_provider();
    provider.claim(&all, &[light]).unwrap();
    let error = broker
        .actuate(
            &all,
            &[(light, Value::String("ON".into())), (fan, Value::Uint32(3))],
        )
        .unwrap_err();
    check_refused(
        &error,
        1,
        "Vehicle.Cabin.Fan",
        &format!(
            "entry 1 of the batch (\"Vehicle.Cabin.Fan\") refused: provider for \"Vehicle.Cabin.Fan\" (id {}) does not exist",
            fan.0
        ),
    );
    assert_eq!(
        broker.get(&all, &[light], Field::Target).unwrap()[0].value,
        None
    );
}

#[tokio::test]
async fn publish_batch_reports_every_refused_entry() {
    let broker = broker();
    let all = Permissions::allow_all();
    let speed = id(&broker, "Vehicle.Speed");
    let vin = id(&broker, "Vehicle.VehicleIdentification.VIN");
    let model = id(&broker, "Vehicle.VehicleIdentification.Model");
    let mut subscription = broker
        .subscribe(&all, &[speed, vin, model], Field::Current, 16, false)
        .unwrap();
    let batch = [
        (speed, Some(Value::Float(300.0))),
        (vin, Some(Value::String("VIN1".into()))),
        (model, Some(Value::Int32(1))),
    ];

    // All or nothing: both bad entries reported, nothing published.
    let outcome = broker
        .publish_batch(&all, &batch, BatchPolicy::AllOrNothing)
        .unwrap();
    assert_eq!(outcome.published, 0);
    let refused: Vec<(usize, &str)> = outcome
        .refused
        .iter()
        .map(|r| (r.index, r.path.as_str()))
        .collect();
    assert_eq!(
        refused,
        [
            (0, "Vehicle.Speed"),
            (2, "Vehicle.VehicleIdentification.Model")
        ]
    );
    assert_eq!(current(&broker, "Vehicle.VehicleIdentification.VIN"), None);

    // Valid only: the VIN is published, in one batch, and the rest reported.
    let outcome = broker
        .publish_batch(&all, &batch, BatchPolicy::ValidOnly)
        .unwrap();
    assert_eq!(outcome.published, 1);
    assert_eq!(outcome.refused.len(), 2);
    assert!(matches!(
        outcome.refused[0].reason,
        BrokerError::InvalidValue(ValueError::OutOfRange { .. })
    ));
    assert_eq!(
        current(&broker, "Vehicle.VehicleIdentification.VIN"),
        Some(Value::String("VIN1".into()))
    );
    match subscription.next().await {
        Some(SubscriptionEvent::Changes(changes)) => {
            assert_eq!(changes.len(), 1);
            assert_eq!(changes[0].leaf, vin);
        }
        other => panic!("unexpected {other:?}"),
    }

    // Permissions are checked per entry too.
    let reader = Permissions::none().with_provide(PathPattern::parse("Vehicle.Speed").unwrap());
    let outcome = broker
        .publish_batch(
            &reader,
            &[
                (speed, Some(Value::Float(10.0))),
                (vin, Some(Value::String("VIN2".into()))),
            ],
            BatchPolicy::ValidOnly,
        )
        .unwrap();
    assert_eq!(outcome.published, 1);
    assert_eq!(outcome.refused.len(), 1);
    assert!(matches!(
        outcome.refused[0].reason,
        BrokerError::PermissionDenied { .. }
    ));
    assert_eq!(current(&broker, "Vehicle.Speed"), Some(Value::Float(10.0)));

    // The broker's check is available for a front end that feeds a broker elsewhere.
    let refused = tomoe_broker::refused_publications(broker.catalog(), &all, &batch);
    assert_eq!(refused.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 2]);
}

#[test]
fn a_read_that_would_answer_too_much_is_refused_before_copying() {
    // One 1 MiB value named 200 times used to be copied 200 times (2.3 GB peak
    // with larger values); the answer is now counted first.
    let broker = broker();
    let vin = id(&broker, "Vehicle.VehicleIdentification.VIN");
    let big = Value::String("x".repeat(1024 * 1024));
    broker
        .publish(&Permissions::allow_all(), &[(vin, Some(big))])
        .unwrap();
    let once = broker
        .get(&Permissions::allow_all(), &[vin], Field::Current)
        .unwrap();
    assert_eq!(once.len(), 1);
    let error = broker
        .get(&Permissions::allow_all(), &[vin; 200], Field::Current)
        .unwrap_err();
    assert!(
        matches!(error, BrokerError::AnswerTooLarge { limit, .. } if limit == tomoe_broker::MAX_ANSWER_BYTES),
        "{error}"
    );
    assert!(
        error.to_string().contains("ask for fewer signals"),
        "{error}"
    );
}
