//! A vehicle's gateway ECU and a backend joined by real Zenoh sessions over TCP on
//! loopback: telemetry as the policy says, commands authorized by the JWT they carry.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tomoe_auth::TokenIssuer;
use tomoe_broker::{Broker, Permissions};
use tomoe_test_support::broker::default_broker;
use tomoe_test_support::net::free_zenoh_endpoint;
use tomoe_vss::Value;
use tomoe_zenoh::{Bridge, BridgeConfig, Gateway, TelemetryPolicy};

const VEHICLE: &str = "fleet-car-7";
const LIMIT: &str = "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit";

fn publish(broker: &Broker, path: &str, value: Value) {
    let id = broker.resolve_path(path).unwrap();
    broker
        .publish(&Permissions::allow_all(), &[(id, Some(value))])
        .unwrap();
}

/// The backend's side: a plain Zenoh session that connects to the vehicle.
async fn backend(endpoint: &str) -> zenoh::Session {
    let mut config = zenoh::Config::default();
    config.insert_json5("mode", "\"client\"").unwrap();
    config
        .insert_json5("connect/endpoints", &format!("[\"{endpoint}\"]"))
        .unwrap();
    config
        .insert_json5("scouting/multicast/enabled", "false")
        .unwrap();
    zenoh::open(config).await.unwrap()
}

/// A vehicle with a gateway: telemetry of the speed (200 ms, deadband 1 km/h) and
/// the gear (on change); tokens of `issuer` accepted.
async fn vehicle(endpoint: &str, issuer: &TokenIssuer) -> (Broker, Bridge) {
    let broker = default_broker();
    let mut config = BridgeConfig::new(VEHICLE, "gateway").unwrap();
    config
        .merge_str(&format!("listen = [\"{endpoint}\"]"))
        .unwrap();
    let policy = TelemetryPolicy::parse(
        "[[signal]]\npaths = [\"Vehicle.Speed\"]\nmin_interval_ms = 200\ndeadband = 1.0\n\
         [[signal]]\npaths = [\"Vehicle.Powertrain.Transmission.SelectedGear\"]\n",
    )
    .unwrap();
    let gateway = Gateway {
        policy,
        verifiers: vec![Arc::new(issuer.verifier())],
    };
    let bridge = Bridge::start(broker.clone(), config, Some(gateway))
        .await
        .unwrap();
    (broker, bridge)
}

/// Sends a command and returns the answer: `Ok(json)` or `Err(error json)`.
async fn command(
    backend: &zenoh::Session,
    kind: &str,
    token: Option<&str>,
    payload: &str,
) -> Result<serde_json::Value, serde_json::Value> {
    let key = format!("tomoe/{VEHICLE}/command/{kind}");
    let start = Instant::now();
    loop {
        let mut get = backend
            .get(&key)
            .payload(payload.to_owned())
            .timeout(tomoe_zenoh::COMMAND_TIMEOUT);
        if let Some(token) = token {
            get = get.attachment(token.to_owned());
        }
        let replies = get.await.unwrap();
        // The queryable may not be known to a just-connected backend yet: retry.
        if let Ok(reply) = replies.recv_async().await {
            let json = |bytes: &zenoh::bytes::ZBytes| {
                serde_json::from_slice::<serde_json::Value>(&bytes.to_bytes()).unwrap()
            };
            return match reply.result() {
                Ok(sample) => Ok(json(sample.payload())),
                Err(error) => Err(json(error.payload())),
            };
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no answer to {key}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn code(answer: &Result<serde_json::Value, serde_json::Value>) -> &str {
    answer
        .as_ref()
        .expect_err("an error answer")
        .get("code")
        .and_then(|c| c.as_str())
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_leaves_as_the_policy_says() {
    let endpoint = free_zenoh_endpoint();
    let issuer = TokenIssuer::generate();
    let (broker, bridge) = vehicle(&endpoint, &issuer).await;
    let backend = backend(&endpoint).await;
    let received = Arc::new(Mutex::new(Vec::<(String, String, String)>::new()));
    let sink = received.clone();
    let _subscriber = backend
        .declare_subscriber(format!("tomoe/{VEHICLE}/telemetry/**"))
        .callback(move |sample| {
            let attachment = sample
                .attachment()
                .map(|a| a.try_to_string().unwrap().into_owned())
                .unwrap_or_default();
            sink.lock().unwrap().push((
                sample.key_expr().to_string(),
                sample.payload().try_to_string().unwrap().into_owned(),
                attachment,
            ));
        })
        .await
        .unwrap();
    let speed_key = format!("tomoe/{VEHICLE}/telemetry/Vehicle/Speed");
    let speeds = |received: &[(String, String, String)]| -> Vec<String> {
        received
            .iter()
            .filter(|(key, _, _)| *key == speed_key)
            .map(|(_, value, _)| value.clone())
            .collect()
    };
    // Until the backend's subscription reached the vehicle, send a first value again
    // and again (each a change beyond the deadband).
    let start = Instant::now();
    let mut first = 100.0;
    while speeds(&received.lock().unwrap()).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "no telemetry");
        first += 10.0;
        publish(&broker, "Vehicle.Speed", Value::Float(first));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    received.lock().unwrap().clear();

    // Within one interval: a move inside the deadband, then two real ones, and
    // a signal no rule selects.
    publish(&broker, "Vehicle.Speed", Value::Float(first + 0.5));
    publish(&broker, "Vehicle.Speed", Value::Float(first + 5.0));
    publish(&broker, "Vehicle.Speed", Value::Float(first + 7.0));
    publish(
        &broker,
        "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed",
        Value::Float(50.0),
    );
    publish(
        &broker,
        "Vehicle.Powertrain.Transmission.SelectedGear",
        Value::Int32(127),
    );
    let start = Instant::now();
    while !speeds(&received.lock().unwrap()).contains(&format!("{}.0", first + 7.0)) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the latest speed did not follow: {:?}",
            received.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = received.lock().unwrap().clone();
    let sent_speeds = speeds(&received);
    // The first move after a quiet interval goes at once; the rest of the interval
    // collapses into its latest value.
    assert!(
        sent_speeds.len() <= 2 && !sent_speeds.contains(&format!("{}", first + 0.5)),
        "{sent_speeds:?}"
    );
    assert!(received
        .iter()
        .all(|(key, _, ecu)| !key.contains("StateOfCharge") && ecu == "gateway"));
    assert!(received
        .iter()
        .any(|(key, value, _)| key.ends_with("Transmission/SelectedGear") && value == "127"));
    assert!(bridge.stats().telemetry_sent >= 2);
    assert!(bridge.stats().telemetry_bytes > 0);
    bridge.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_held_to_the_token_they_carry() {
    let endpoint = free_zenoh_endpoint();
    let issuer = TokenIssuer::generate();
    let (broker, bridge) = vehicle(&endpoint, &issuer).await;
    let backend = backend(&endpoint).await;
    publish(&broker, "Vehicle.Speed", Value::Float(42.0));
    let hour = Duration::from_secs(3600);
    let reader = issuer.issue("backend", "read:Vehicle.Speed", hour).unwrap();
    let actuator = issuer
        .issue("backend", &format!("actuate:{LIMIT}"), hour)
        .unwrap();

    // Reads: allowed within the token's scope only.
    let values = command(&backend, "get", Some(&reader), "[\"Vehicle.Speed\"]")
        .await
        .unwrap();
    assert_eq!(values, serde_json::json!({"Vehicle.Speed": 42.0}));
    let answer = command(
        &backend,
        "get",
        Some(&reader),
        "[\"Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed\"]",
    )
    .await;
    assert_eq!(code(&answer), "permission_denied", "{answer:?}");

    // Tokens that are missing, signed by another key, expired or mangled.
    let stranger = TokenIssuer::generate()
        .issue("backend", "read:Vehicle.Speed", hour)
        .unwrap();
    let expired = issuer
        .issue_at(
            "backend",
            "read:Vehicle.Speed",
            std::time::SystemTime::now() - 2 * hour,
            hour,
        )
        .unwrap();
    for token in [
        None,
        Some(stranger.as_str()),
        Some(expired.as_str()),
        Some("x.y.z"),
    ] {
        let answer = command(&backend, "get", token, "[\"Vehicle.Speed\"]").await;
        assert_eq!(code(&answer), "unauthenticated", "{token:?}: {answer:?}");
    }

    // Payloads that are not what the command takes.
    for (kind, payload, expected) in [
        ("get", "{", "invalid_argument"),
        ("get", "{\"Vehicle.Speed\": 1}", "invalid_argument"),
        ("get", "[\"Vehicle.NoSuchThing\"]", "not_found"),
        ("get", "[1]", "invalid_argument"),
        ("actuate", "[]", "invalid_argument"),
        ("actuate", "{}", "invalid_argument"),
        (
            "actuate",
            "{\"Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit\": \"full\"}",
            "invalid_argument",
        ),
        ("reboot", "{}", "not_found"),
    ] {
        let answer = command(&backend, kind, Some(&actuator), payload).await;
        assert_eq!(code(&answer), expected, "{kind} {payload}: {answer:?}");
    }
    let huge = format!("[{}]", vec!["\"Vehicle.Speed\""; 20_000].join(","));
    let answer = command(&backend, "get", Some(&reader), &huge).await;
    assert_eq!(code(&answer), "invalid_argument", "{answer:?}");

    // Actuation: no provider yet, then one that answers; a read token may not actuate.
    let limit = format!("{{\"{LIMIT}\": 80}}");
    let answer = command(&backend, "actuate", Some(&actuator), &limit).await;
    assert_eq!(code(&answer), "unavailable", "{answer:?}");
    let id = broker.resolve_path(LIMIT).unwrap();
    let mut provider = broker.open_confirming_provider();
    provider.claim(&Permissions::allow_all(), &[id]).unwrap();
    let seen = tokio::spawn(async move {
        let request = provider.next().await.unwrap();
        let targets = request.targets.clone();
        request.confirmation.unwrap().answer(Ok(()));
        targets
    });
    let answer = command(&backend, "actuate", Some(&actuator), &limit).await;
    assert_eq!(answer, Ok(serde_json::json!({})));
    assert_eq!(seen.await.unwrap(), vec![(id, Value::Uint32(80))]);
    let answer = command(&backend, "actuate", Some(&reader), &limit).await;
    assert_eq!(code(&answer), "permission_denied", "{answer:?}");

    let stats = bridge.stats();
    assert_eq!(stats.commands_served, 2);
    assert!(stats.commands_refused >= 15, "{stats:?}");
    bridge.close().await;
}
