//! The SDK against a real broker over gRPC on loopback, and heartbeats against a
//! small HTTP server standing in for the app runtime.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{Stream, StreamExt};
use tomoe_grpc::Authorization;
use tomoe_sdk::{
    ActuationRequest, Client, Code, Heartbeat, HeartbeatError, SdkError, Update, Value,
};
use tomoe_test_support::broker::start_broker;
use tomoe_test_support::closed_port_url;
use tomoe_test_support::http::RuntimeStandIn;

const SPEED: &str = "Vehicle.Speed";
const RANGE: &str = "Vehicle.Tomoe.RangeEstimate";
const MODE: &str = "Vehicle.Tomoe.Mode";
const WASHER: &str = "Vehicle.Body.Windshield.Front.WasherFluid.Level";
const LOCK: &str = "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked";
const WINDOW: &str = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position";

async fn client(url: &str) -> Client {
    Client::connect(url, None).await.unwrap()
}

/// The next item of `stream`, failing the test after five seconds.
async fn next<S: Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an item within five seconds")
        .expect("the stream goes on")
}

/// Skips updates until one for `path` with a value arrives.
async fn next_value(updates: &mut tomoe_sdk::Subscription, path: &str) -> Update {
    loop {
        let update = next(updates).await.unwrap();
        if update.path == path && update.value.is_some() {
            return update;
        }
    }
}

#[tokio::test]
async fn sdk_publish_then_get_reads_the_value() {
    let url = start_broker(Authorization::AllowAll).await;
    let mut client = client(&url).await;
    assert_eq!(client.get(SPEED).await.unwrap(), None);
    // A Rust f64 goes to the float leaf as a float.
    client.publish(SPEED, 42.5).await.unwrap();
    assert_eq!(client.get(SPEED).await.unwrap(), Some(Value::Float(42.5)));
    client.publish(MODE, "DRIVING").await.unwrap();
    assert_eq!(
        client.get_as::<String>(MODE).await.unwrap().as_deref(),
        Some("DRIVING")
    );
    assert_eq!(client.url(), url);
}

#[tokio::test]
async fn sdk_get_as_widens_numbers() {
    let url = start_broker(Authorization::AllowAll).await;
    let mut client = client(&url).await;
    client.publish(SPEED, 80.25f32).await.unwrap();
    assert_eq!(client.get_as::<f64>(SPEED).await.unwrap(), Some(80.25));
    assert_eq!(client.get_as::<f32>(SPEED).await.unwrap(), Some(80.25));
    // An i32 goes to the uint8 leaf as its wire type, uint32.
    client.publish(WASHER, 55).await.unwrap();
    assert_eq!(client.get(WASHER).await.unwrap(), Some(Value::Uint32(55)));
    assert_eq!(client.get_as::<i64>(WASHER).await.unwrap(), Some(55));
    assert_eq!(client.get_as::<f64>(WASHER).await.unwrap(), Some(55.0));
    assert_eq!(client.get_as::<u32>(RANGE).await.unwrap(), None);
    assert_eq!(
        client.datatype(WASHER).await.unwrap(),
        tomoe_sdk::DataType::Uint8
    );
}

#[tokio::test]
async fn sdk_type_errors_name_the_path() {
    let url = start_broker(Authorization::AllowAll).await;
    let mut client = client(&url).await;
    client.publish(SPEED, 10.0).await.unwrap();
    let error = client.get_as::<bool>(SPEED).await.unwrap_err();
    assert!(
        matches!(&error, SdkError::Type { path, .. } if path == SPEED),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "wrong type for \"Vehicle.Speed\": expected bool, got float 10"
    );
    let error = client.publish(SPEED, "fast").await.unwrap_err();
    assert!(matches!(error, SdkError::Type { .. }), "{error:?}");
    let error = client.publish(WASHER, 7.5).await.unwrap_err();
    assert!(error.to_string().contains(WASHER), "{error}");
    let error = client.publish(WASHER, 300).await.unwrap_err();
    assert!(error.to_string().contains("expected uint8"), "{error}");
}

#[tokio::test]
async fn sdk_unknown_paths_are_not_found() {
    let url = start_broker(Authorization::AllowAll).await;
    let mut client = client(&url).await;
    let error = client.get("Vehicle.Nope").await.unwrap_err();
    assert!(
        matches!(&error, SdkError::NotFound(path) if path == "Vehicle.Nope"),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "path not found: \"Vehicle.Nope\"");
    let error = client.publish("Vehicle.Nope", 1.0).await.unwrap_err();
    assert!(
        matches!(&error, SdkError::NotFound(path) if path == "Vehicle.Nope"),
        "{error:?}"
    );
    // A branch is not a signal.
    let error = client.publish("Vehicle.Cabin", 1.0).await.unwrap_err();
    assert!(
        matches!(&error, SdkError::NotFound(path) if path == "Vehicle.Cabin"),
        "{error:?}"
    );
    let error = client
        .subscribe(&[SPEED, "Vehicle.Nope"])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, SdkError::NotFound(path) if path == "Vehicle.Nope"),
        "{error:?}"
    );
}

#[tokio::test]
async fn sdk_broker_refusals_carry_code_and_message() {
    let url = start_broker(Authorization::AllowAll).await;
    let mut client = client(&url).await;
    // The range estimate has min 0.
    let error = client.publish(RANGE, -5.0).await.unwrap_err();
    match &error {
        SdkError::Refused {
            path,
            code,
            message,
        } => {
            assert_eq!(path, RANGE);
            assert_eq!(*code, Code::InvalidArgument);
            assert!(message.contains(RANGE), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(
        error
            .to_string()
            .starts_with("broker refused \"Vehicle.Tomoe.RangeEstimate\""),
        "{error}"
    );
}

#[tokio::test]
async fn sdk_connect_errors_name_the_url() {
    let error = Client::connect("not a url", None).await.unwrap_err();
    assert!(matches!(error, SdkError::InvalidUrl { .. }), "{error:?}");
    // A port nothing listens on.
    let url = closed_port_url();
    let error = Client::connect(&url, None).await.unwrap_err();
    assert!(matches!(error, SdkError::Connect { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("cannot connect to the broker at {url}")
    );
    let error = Client::connect(&url, Some("bad\ntoken".into()))
        .await
        .unwrap_err();
    assert!(matches!(error, SdkError::InvalidToken), "{error:?}");
}

#[tokio::test]
async fn sdk_subscribe_receives_one_update_per_signal() {
    let url = start_broker(Authorization::AllowAll).await;
    let mut publisher = client(&url).await;
    publisher.publish(SPEED, 5.0).await.unwrap();
    let mut subscriber = client(&url).await;
    let mut updates = subscriber.subscribe(&[SPEED, MODE]).await.unwrap();
    // The current values come first.
    let first = next_value(&mut updates, SPEED).await;
    assert_eq!(first.value, Some(Value::Float(5.0)));
    let before = SystemTime::now() - Duration::from_secs(1);
    publisher.publish(SPEED, 12.0).await.unwrap();
    let update = next_value(&mut updates, SPEED).await;
    assert_eq!(update.value, Some(Value::Float(12.0)));
    assert!(update.timestamp >= before && update.timestamp > UNIX_EPOCH);
    publisher.publish(MODE, "PARKED").await.unwrap();
    let update = next_value(&mut updates, MODE).await;
    assert_eq!(update.value, Some(Value::String("PARKED".into())));
}

#[tokio::test]
async fn sdk_provider_receives_actuation_from_another_client() {
    let url = start_broker(Authorization::AllowAll).await;
    let mut provider = client(&url).await;
    let mut requests = provider.provide_actuators(&[LOCK, WINDOW]).await.unwrap();
    let mut app = client(&url).await;
    app.actuate(LOCK, true).await.unwrap();
    let request = next(&mut requests).await.unwrap();
    assert_eq!(
        request,
        ActuationRequest {
            path: LOCK.into(),
            value: Value::Bool(true)
        }
    );
    // An i32 reaches the uint8 actuator as its wire type.
    app.actuate(WINDOW, 40).await.unwrap();
    let request = next(&mut requests).await.unwrap();
    assert_eq!(request.path, WINDOW);
    assert_eq!(request.value, Value::Uint32(40));
    // The provider carries it out and reports the new state.
    provider
        .publish(&request.path, request.value)
        .await
        .unwrap();
    assert_eq!(app.get_as::<u32>(WINDOW).await.unwrap(), Some(40));

    // A second provider cannot claim the same actuator.
    let mut rival = client(&url).await;
    let error = rival.provide_actuators(&[LOCK]).await.unwrap_err();
    assert!(
        matches!(
            &error,
            SdkError::Refused {
                code: Code::AlreadyExists,
                ..
            }
        ),
        "{error:?}"
    );

    // Dropping the stream releases the claim.
    drop(requests);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match app.actuate(LOCK, false).await {
            Err(SdkError::Refused {
                code: Code::Unavailable,
                message,
                ..
            }) => {
                assert!(message.contains(LOCK), "{message}");
                break;
            }
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still claimed: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn sdk_actuate_without_provider_is_unavailable() {
    let url = start_broker(Authorization::AllowAll).await;
    let mut app = client(&url).await;
    let error = app.actuate(LOCK, true).await.unwrap_err();
    assert!(
        matches!(&error, SdkError::Refused { code: Code::Unavailable, path, .. } if path == LOCK),
        "{error:?}"
    );
    let error = app.provide_actuators(&["Vehicle.Nope"]).await.unwrap_err();
    assert!(matches!(error, SdkError::NotFound(_)), "{error:?}");
}

/// A JWT for `scope`, signed with a key generated for the test, and the verifier
/// that accepts it.
fn jwt(scope: &str) -> (String, Authorization) {
    let key = rcgen::KeyPair::generate().unwrap();
    let verifier =
        tomoe_auth::TokenVerifier::from_pem(key.public_key_pem().as_bytes(), "test key").unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "sub": "sdk-test", "iss": "sdk-test", "aud": ["kuksa.val"],
        "iat": now, "exp": now + 600, "scope": scope,
    });
    let encoding = jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &encoding,
    )
    .unwrap();
    (token, Authorization::Jwt(Arc::new(verifier)))
}

#[tokio::test]
async fn sdk_presents_the_token() {
    let (token, authorization) = jwt("read:Vehicle.Speed provide:Vehicle.Speed");
    let url = start_broker(authorization).await;
    let mut client = Client::connect(&url, Some(token)).await.unwrap();
    client.publish(SPEED, 3.0).await.unwrap();
    assert_eq!(client.get_as::<f64>(SPEED).await.unwrap(), Some(3.0));
    let error = client.get(MODE).await.unwrap_err();
    match &error {
        SdkError::Refused { code, message, .. } => {
            assert_eq!(*code, Code::PermissionDenied);
            assert!(message.contains(MODE), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut anonymous = Client::connect(&url, None).await.unwrap();
    let error = anonymous.get(SPEED).await.unwrap_err();
    assert!(
        matches!(
            &error,
            SdkError::Refused {
                code: Code::Unauthenticated,
                ..
            }
        ),
        "{error:?}"
    );
}

/// A stand-in runtime API: accepts heartbeats of workload `known` with 204 and
/// answers 404 for any other workload.
async fn runtime() -> RuntimeStandIn {
    RuntimeStandIn::start(|name| name == "known").await
}

#[tokio::test]
async fn heartbeat_posts_with_the_token() {
    let runtime = runtime().await;
    let url = runtime.url();
    Heartbeat::new(url, "known", Some("secret".into()))
        .beat()
        .await
        .unwrap();
    Heartbeat::new(url, "known", None).beat().await.unwrap();
    assert_eq!(
        runtime.heartbeats(),
        [
            (
                "/v1/workloads/known/heartbeat".to_owned(),
                Some("Bearer secret".to_owned())
            ),
            ("/v1/workloads/known/heartbeat".to_owned(), None),
        ]
    );
}

#[tokio::test]
async fn heartbeat_refusals_are_errors() {
    let runtime = runtime().await;
    let url = runtime.url();
    let error = Heartbeat::new(url, "stranger", None)
        .beat()
        .await
        .unwrap_err();
    match &error {
        SdkError::Heartbeat {
            url: heartbeat_url,
            source: HeartbeatError::Rejected { status, body },
        } => {
            assert_eq!(
                *heartbeat_url,
                format!("{url}/v1/workloads/stranger/heartbeat")
            );
            assert_eq!(*status, 404);
            assert_eq!(body, "no workload \"stranger\"");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let closed = closed_port_url();
    let error = Heartbeat::new(&closed, "known", None)
        .beat()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            SdkError::Heartbeat {
                source: HeartbeatError::Unreachable(_),
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn heartbeat_spawn_beats_periodically() {
    let runtime = runtime().await;
    let beating =
        Heartbeat::new(runtime.url(), "known", Some("t".into())).spawn(Duration::from_millis(20));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while runtime.heartbeats().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "fewer than 3 heartbeats"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    beating.abort();
    assert!(beating.await.unwrap_err().is_cancelled());
}
