//! The broker counts published values, accepted actuations and refusals by kind.

use tomoe_broker::{BatchPolicy, Broker, BrokerConfig, Permissions};
use tomoe_vss::Value;

fn refusals(broker: &Broker, kind: &str) -> u64 {
    broker
        .health()
        .refusals
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, n)| *n)
        .expect("every kind is listed")
}

#[test]
fn writes_are_counted_by_outcome() {
    let broker = Broker::new(
        tomoe_vss::default_catalog().unwrap(),
        BrokerConfig::default(),
        None,
    )
    .unwrap();
    let all = Permissions::allow_all();
    let speed = broker.resolve_path("Vehicle.Speed").unwrap();
    assert_eq!(broker.health().published_values, 0);
    broker
        .publish(&all, &[(speed, Some(Value::Float(10.0)))])
        .unwrap();
    broker
        .publish_batch(
            &all,
            &[
                (speed, Some(Value::Float(11.0))),
                (speed, Some(Value::String("fast".into()))),
            ],
            BatchPolicy::ValidOnly,
        )
        .unwrap();
    assert_eq!(broker.health().published_values, 2);
    assert_eq!(refusals(&broker, "invalid_value"), 1);

    // A sensor has no target; an unclaimed actuator has no provider.
    assert!(broker
        .set_targets(&all, &[(speed, Value::Float(1.0))])
        .is_err());
    assert_eq!(refusals(&broker, "not_an_actuator"), 1);
    let wipers = broker
        .resolve_path("Vehicle.Body.Windshield.Front.Wiping.Mode")
        .unwrap();
    let mode = Value::String("OFF".into());
    assert!(broker.actuate(&all, &[(wipers, mode.clone())]).is_err());
    assert_eq!(refusals(&broker, "no_provider"), 1);
    assert_eq!(broker.health().actuation_requests, 0);
    broker.set_targets(&all, &[(wipers, mode)]).unwrap();
    assert_eq!(broker.health().actuation_requests, 1);
    assert_eq!(broker.health().published_values, 2, "targets are no values");
}
