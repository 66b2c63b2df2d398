//! Two brokers joined by real Zenoh sessions over TCP on loopback: a zonal ECU that
//! owns the vehicle's signals and an actuator, a central ECU that imports them.

use std::time::{Duration, Instant};

use tomoe_broker::{Broker, BrokerError, Field, Permissions};
use tomoe_test_support::broker::default_broker;
use tomoe_test_support::net::free_zenoh_endpoint;
use tomoe_vss::Value;
use tomoe_zenoh::{Bridge, BridgeConfig, RefusalReason};

const VEHICLE: &str = "test-car";
const HORN: &str = "Vehicle.Body.Horn.IsActive";

fn zonal_config(endpoint: &str) -> BridgeConfig {
    let mut config = BridgeConfig::new(VEHICLE, "zonal").unwrap();
    config
        .merge_str(&format!(
            "listen = [\"{endpoint}\"]\nexport = [\"Vehicle.**\"]\n\
             [[import]]\nfrom = \"central\"\npaths = [\"Vehicle.Powertrain.TractionBattery.Range\"]"
        ))
        .unwrap();
    config
}

fn central_config(endpoint: &str) -> BridgeConfig {
    let mut config = BridgeConfig::new(VEHICLE, "central").unwrap();
    config
        .merge_str(&format!(
            "connect = [\"{endpoint}\"]\nexport = [\"Vehicle.Powertrain.TractionBattery.Range\"]\n\
             [[import]]\nfrom = \"zonal\"\npaths = [\"Vehicle.**\"]"
        ))
        .unwrap();
    config
}

/// Polls `check` until it holds or `limit` passes; returns how long it took.
async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

fn current(broker: &Broker, path: &str) -> Option<Value> {
    let id = broker.resolve_path(path).unwrap();
    broker
        .get(&Permissions::allow_all(), &[id], Field::Current)
        .unwrap()
        .remove(0)
        .value
}

fn publish(broker: &Broker, path: &str, value: Value) {
    let id = broker.resolve_path(path).unwrap();
    broker
        .publish(&Permissions::allow_all(), &[(id, Some(value))])
        .unwrap();
}

async fn actuate(broker: &Broker, path: &str, value: Value) -> Result<(), BrokerError> {
    let id = broker.resolve_path(path).unwrap();
    broker
        .actuate_confirmed(
            &Permissions::allow_all(),
            &[(id, value)],
            Duration::from_secs(3),
        )
        .await
}

/// Actuates until the outcome passes `accept` (the other ECU's provider tokens take
/// a moment to arrive) or 10 s pass; returns the accepted outcome.
async fn actuate_until(
    broker: &Broker,
    value: Value,
    accept: impl Fn(&Result<(), BrokerError>) -> bool,
) -> Result<(), BrokerError> {
    let start = Instant::now();
    loop {
        let outcome = actuate(broker, HORN, value.clone()).await;
        if accept(&outcome) {
            return outcome;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{outcome:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_flow_both_ways_and_present_values_reach_a_late_joiner() {
    let endpoint = free_zenoh_endpoint();
    let zonal_broker = default_broker();
    publish(&zonal_broker, "Vehicle.Speed", Value::Float(12.5));
    let zonal = Bridge::start(zonal_broker.clone(), zonal_config(&endpoint), None)
        .await
        .unwrap();
    let central_broker = default_broker();
    let central = Bridge::start(central_broker.clone(), central_config(&endpoint), None)
        .await
        .unwrap();

    // A value set before the central ECU joined arrives by query.
    eventually("present value", Duration::from_secs(10), || {
        current(&central_broker, "Vehicle.Speed") == Some(Value::Float(12.5))
    })
    .await;
    // Changes follow as they happen; a subscriber on the central broker sees them.
    let speed = central_broker.resolve_path("Vehicle.Speed").unwrap();
    let mut subscription = central_broker
        .subscribe(
            &Permissions::allow_all(),
            &[speed],
            Field::Current,
            16,
            false,
        )
        .unwrap();
    publish(&zonal_broker, "Vehicle.Speed", Value::Float(80.0));
    let event = tokio::time::timeout(Duration::from_secs(5), subscription.next())
        .await
        .unwrap()
        .unwrap();
    match event {
        tomoe_broker::SubscriptionEvent::Changes(changes) => {
            assert_eq!(changes[0].datapoint.value, Some(Value::Float(80.0)))
        }
        other => panic!("unexpected {other:?}"),
    }
    // The other way: the central ECU exports what it computes.
    publish(
        &central_broker,
        "Vehicle.Powertrain.TractionBattery.Range",
        Value::Uint32(310_000),
    );
    eventually("range on the zonal ECU", Duration::from_secs(5), || {
        current(&zonal_broker, "Vehicle.Powertrain.TractionBattery.Range")
            == Some(Value::Uint32(310_000))
    })
    .await;
    // The zonal ECU exports Vehicle.** but never sends back what it imported...
    // ...and the central one never imports what it exports itself.
    assert!(zonal.stats().exported > 0);
    assert!(central.stats().imported > 0);
    assert_eq!(central.stats().peers, vec!["zonal".to_owned()]);
    zonal.close().await;
    central.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_samples_are_refused_counted_and_never_stored() {
    let endpoint = free_zenoh_endpoint();
    let central_broker = default_broker();
    let mut config = BridgeConfig::new(VEHICLE, "central").unwrap();
    config
        .merge_str(&format!(
            "listen = [\"{endpoint}\"]\n[[import]]\nfrom = \"zonal\"\npaths = [\"Vehicle.Speed\", \"Vehicle.Cabin.Door.Row1.DriverSide.IsOpen\"]"
        ))
        .unwrap();
    let central = Bridge::start(central_broker.clone(), config, None)
        .await
        .unwrap();

    // An independent session sends what an attacker or a broken ECU would.
    let mut raw = zenoh::Config::default();
    raw.insert_json5("mode", "\"peer\"").unwrap();
    raw.insert_json5("connect/endpoints", &format!("[\"{endpoint}\"]"))
        .unwrap();
    raw.insert_json5("scouting/multicast/enabled", "false")
        .unwrap();
    let session = zenoh::open(raw).await.unwrap();
    let key = |path: &str| format!("tomoe/{VEHICLE}/vss/{}", path.replace('.', "/"));
    let speed = key("Vehicle.Speed");
    // Wait for the link: a valid value arrives.
    let deadline = Instant::now() + Duration::from_secs(10);
    while current(&central_broker, "Vehicle.Speed") != Some(Value::Float(1.0)) {
        assert!(Instant::now() < deadline, "no link to the central bridge");
        session
            .put(speed.as_str(), "1.0")
            .attachment("zonal")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sends: [(String, Vec<u8>, Option<&str>); 8] = [
        (speed.clone(), b"{not json".to_vec(), Some("zonal")),
        (speed.clone(), b"\"fast\"".to_vec(), Some("zonal")),
        (
            speed.clone(),
            "[".repeat(100_000).into_bytes(),
            Some("zonal"),
        ),
        (speed.clone(), b"99.0".to_vec(), None),
        (speed.clone(), b"99.0".to_vec(), Some("intruder")),
        // A sender that claims to be the receiving ECU itself.
        (speed.clone(), b"99.0".to_vec(), Some("central")),
        (key("Vehicle.NoSuchSignal"), b"1".to_vec(), Some("zonal")),
        (
            key("Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"),
            b"3".to_vec(),
            Some("zonal"),
        ),
    ];
    for (key, payload, sender) in sends {
        // Blocking, not dropped when the link is busy: each one must arrive.
        let put = session
            .put(key.as_str(), payload)
            .congestion_control(zenoh::qos::CongestionControl::Block);
        match sender {
            Some(sender) => put.attachment(sender).await.unwrap(),
            None => put.await.unwrap(),
        }
    }
    eventually("every refusal counted", Duration::from_secs(5), || {
        let stats = central.stats();
        stats.refused(RefusalReason::Malformed) >= 2
            && stats.refused(RefusalReason::InvalidValue) >= 2
            && stats.refused(RefusalReason::NoSender) >= 1
            && stats.refused(RefusalReason::NotPermitted) >= 2
            && stats.refused(RefusalReason::UnknownPath) >= 1
    })
    .await;
    assert_eq!(
        current(&central_broker, "Vehicle.Speed"),
        Some(Value::Float(1.0))
    );
    assert_eq!(
        current(&central_broker, "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"),
        None
    );
    session.close().await.unwrap();
    central.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actuation_crosses_ecus_and_liveness_follows_the_link() {
    let endpoint = free_zenoh_endpoint();
    let zonal_broker = default_broker();
    let horn = zonal_broker.resolve_path(HORN).unwrap();
    // The zonal ECU's provider of the horn answers every request.
    let mut provider = zonal_broker.open_provider();
    provider.claim(&Permissions::allow_all(), &[horn]).unwrap();
    let zonal = Bridge::start(zonal_broker.clone(), zonal_config(&endpoint), None)
        .await
        .unwrap();
    let central_broker = default_broker();
    let central = Bridge::start(central_broker.clone(), central_config(&endpoint), None)
        .await
        .unwrap();
    publish(&zonal_broker, "Vehicle.Speed", Value::Float(30.0));

    // Once the central ECU learned who provides the horn, an app there actuates it.
    actuate_until(&central_broker, Value::Bool(true), Result::is_ok)
        .await
        .unwrap();
    let request = tokio::time::timeout(Duration::from_secs(5), provider.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.targets, vec![(horn, Value::Bool(true))]);
    // Only one provider across the vehicle: a local claim on the central ECU fails.
    let local = central_broker.open_provider();
    let central_horn = central_broker.resolve_path(HORN).unwrap();
    assert!(matches!(
        local.claim(&Permissions::allow_all(), &[central_horn]),
        Err(BrokerError::AlreadyClaimed { .. })
    ));
    drop(local);
    // The zonal provider's error comes back to the central caller.
    drop(provider);
    let mut failing = zonal_broker.open_confirming_provider();
    failing.claim(&Permissions::allow_all(), &[horn]).unwrap();
    let answer = tokio::spawn(async move {
        while let Some(request) = failing.next().await {
            if let Some(confirmation) = request.confirmation {
                confirmation.answer(Err("horn relay open".to_owned()));
            }
        }
    });
    let error = actuate_until(&central_broker, Value::Bool(true), |outcome| {
        outcome
            .as_ref()
            .is_err_and(|e| e.to_string().contains("horn relay open"))
    })
    .await
    .unwrap_err();
    assert!(
        matches!(error, BrokerError::ProviderFailed { .. }),
        "{error}"
    );
    answer.abort();
    let _ = answer.await;
    let mut provider = zonal_broker.open_provider();
    provider.claim(&Permissions::allow_all(), &[horn]).unwrap();
    eventually("speed imported", Duration::from_secs(5), || {
        current(&central_broker, "Vehicle.Speed") == Some(Value::Float(30.0))
    })
    .await;

    // The zonal ECU goes away: its signals become unavailable and its actuators
    // have no provider on the central ECU.
    zonal.close().await;
    let took = eventually("signals unavailable", Duration::from_secs(5), || {
        current(&central_broker, "Vehicle.Speed").is_none()
    })
    .await;
    eprintln!("signals unavailable {took:?} after the zonal ECU left");
    eventually("actuator released", Duration::from_secs(5), || {
        central_broker.claimed_actuators().is_empty()
    })
    .await;
    let error = actuate(&central_broker, HORN, Value::Bool(false))
        .await
        .unwrap_err();
    assert!(
        matches!(error.reason(), BrokerError::NoProvider { .. }),
        "{error}"
    );

    // It comes back on the same endpoint: values and actuation resume by themselves.
    let zonal = Bridge::start(zonal_broker.clone(), zonal_config(&endpoint), None)
        .await
        .unwrap();
    eventually("signals back", Duration::from_secs(10), || {
        current(&central_broker, "Vehicle.Speed") == Some(Value::Float(30.0))
    })
    .await;
    actuate_until(&central_broker, Value::Bool(false), Result::is_ok)
        .await
        .unwrap();
    let request = tokio::time::timeout(Duration::from_secs(5), provider.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.targets, vec![(horn, Value::Bool(false))]);
    zonal.close().await;
    central.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ecu_claiming_an_actuator_is_ignored_and_counted() {
    let endpoint = free_zenoh_endpoint();
    let zonal_broker = default_broker();
    let horn = zonal_broker.resolve_path(HORN).unwrap();
    let mut provider = zonal_broker.open_provider();
    provider.claim(&Permissions::allow_all(), &[horn]).unwrap();
    let zonal = Bridge::start(zonal_broker.clone(), zonal_config(&endpoint), None)
        .await
        .unwrap();
    // The central ECU accepts the body's signals from two zonal ECUs.
    let central_broker = default_broker();
    let mut config = central_config(&endpoint);
    config
        .merge_str("[[import]]\nfrom = \"zonal2\"\npaths = [\"Vehicle.Body.**\"]")
        .unwrap();
    let central = Bridge::start(central_broker.clone(), config, None)
        .await
        .unwrap();
    actuate_until(&central_broker, Value::Bool(true), Result::is_ok)
        .await
        .unwrap();
    assert!(provider.next().await.is_some());

    // A second ECU announces the same actuator: the first keeps it.
    let mut raw = zenoh::Config::default();
    raw.insert_json5("connect/endpoints", &format!("[\"{endpoint}\"]"))
        .unwrap();
    raw.insert_json5("scouting/multicast/enabled", "false")
        .unwrap();
    let session = zenoh::open(raw).await.unwrap();
    let _token = session
        .liveliness()
        .declare_token(format!(
            "tomoe/{VEHICLE}/provider/zonal2/{}",
            HORN.replace('.', "/")
        ))
        .await
        .unwrap();
    eventually("the conflict counted", Duration::from_secs(5), || {
        central.stats().claim_conflicts == 1
    })
    .await;
    actuate(&central_broker, HORN, Value::Bool(false))
        .await
        .unwrap();
    let request = tokio::time::timeout(Duration::from_secs(5), provider.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.targets, vec![(horn, Value::Bool(false))]);
    zonal.close().await;
    central.close().await;
}
