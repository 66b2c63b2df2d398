//! The broker as a user sees it: a real `tomoe serve` process, real gRPC over TCP.
//!
//! One test per kind of bad input; each checks the status code, that the message
//! names the problem, and that nothing stored changed.

mod support;

use futures::StreamExt;
use kuksa_rust_sdk::v1_proto as v1;
use kuksa_rust_sdk::v2_proto as v2;
use support::{path, token, value, ServerProcess};
use tonic::Code;
use v2::value::TypedValue as T;

const SPEED: &str = "Vehicle.Speed";
const SOC: &str = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed";
const MODE: &str = "Vehicle.Powertrain.Transmission.PerformanceMode";
const DOOR: &str = "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen";
const VIN: &str = "Vehicle.VehicleIdentification.VIN";

fn insecure() -> (tempfile::TempDir, ServerProcess) {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--insecure"]);
    (dir, server)
}

async fn publish(
    client: &mut v2::val_client::ValClient<support::WithToken>,
    signal: &str,
    typed: T,
) -> Result<(), tonic::Status> {
    client
        .publish_value(v2::PublishValueRequest {
            signal_id: path(signal),
            data_point: Some(v2::Datapoint {
                timestamp: None,
                value: value(typed),
            }),
        })
        .await
        .map(|_| ())
}

async fn current(
    client: &mut v2::val_client::ValClient<support::WithToken>,
    signal: &str,
) -> Option<T> {
    client
        .get_value(v2::GetValueRequest {
            signal_id: path(signal),
        })
        .await
        .unwrap()
        .into_inner()
        .data_point
        .and_then(|dp| dp.value)
        .and_then(|v| v.typed_value)
}

fn assert_status(result: Result<(), tonic::Status>, code: Code, fragment: &str) {
    let status = result.expect_err("the request must be refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(fragment),
        "message {:?} lacks {fragment:?}",
        status.message()
    );
}

#[tokio::test]
async fn bad_input_unknown_path() {
    let (_dir, server) = insecure();
    let mut client = server.v2(None).await;
    let result = client
        .get_value(v2::GetValueRequest {
            signal_id: path("Vehicle.NoSuchSignal"),
        })
        .await
        .map(|_| ());
    assert_status(result, Code::NotFound, "\"Vehicle.NoSuchSignal\"");
    assert_status(
        publish(&mut client, "Vehicle.NoSuchSignal", T::Float(1.0)).await,
        Code::NotFound,
        "Vehicle.NoSuchSignal",
    );
    let mut v1_client = server.v1(None).await;
    let response = v1_client
        .get(v1::GetRequest {
            entries: vec![v1::EntryRequest {
                path: "Vehicle.Nope".into(),
                view: 0,
                fields: vec![],
            }],
        })
        .await
        .unwrap()
        .into_inner();
    let error = response.errors[0].error.clone().unwrap();
    assert_eq!((error.code, error.reason.as_str()), (404, "not_found"));
    assert!(error.message.contains("Vehicle.Nope"), "{}", error.message);
}

#[tokio::test]
async fn bad_input_wrong_datatype() {
    let (_dir, server) = insecure();
    let mut client = server.v2(None).await;
    publish(&mut client, SPEED, T::Float(50.0)).await.unwrap();
    assert_status(
        publish(&mut client, SPEED, T::String("fast".into())).await,
        Code::InvalidArgument,
        "wrong type for \"Vehicle.Speed\": expected float, got string",
    );
    assert_status(
        publish(&mut client, SPEED, T::Double(60.0)).await,
        Code::InvalidArgument,
        "expected float, got double",
    );
    assert_eq!(current(&mut client, SPEED).await, Some(T::Float(50.0)));
    // The v1 API reports the same problem per entry.
    let mut v1_client = server.v1(None).await;
    let response = v1_client
        .set(v1::SetRequest {
            updates: vec![v1::EntryUpdate {
                entry: Some(v1::DataEntry {
                    path: SPEED.into(),
                    value: Some(v1::Datapoint {
                        timestamp: None,
                        value: Some(v1::datapoint::Value::Bool(true)),
                    }),
                    actuator_target: None,
                    metadata: None,
                }),
                fields: vec![v1::Field::Value as i32],
            }],
        })
        .await
        .unwrap()
        .into_inner();
    let error = response.errors[0].error.clone().unwrap();
    assert_eq!((error.code, error.reason.as_str()), (400, "type mismatch"));
    assert_eq!(current(&mut client, SPEED).await, Some(T::Float(50.0)));
}

#[tokio::test]
async fn bad_input_out_of_range() {
    let (_dir, server) = insecure();
    let mut client = server.v2(None).await;
    publish(&mut client, SOC, T::Float(80.0)).await.unwrap();
    assert_status(publish(&mut client, SOC, T::Float(150.0)).await, Code::InvalidArgument, "value 150 is out of range for \"Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed\" (allowed range 0..=100)");
    assert_status(
        publish(&mut client, SOC, T::Float(-1.0)).await,
        Code::InvalidArgument,
        "out of range",
    );
    // uint8 signal given 300: outside the datatype itself.
    assert_status(
        publish(&mut client, "Vehicle.Body.Hood.Position", T::Uint32(300)).await,
        Code::InvalidArgument,
        "out of range for \"Vehicle.Body.Hood.Position\"",
    );
    assert_eq!(current(&mut client, SOC).await, Some(T::Float(80.0)));
}

#[tokio::test]
async fn bad_input_value_not_allowed() {
    let (_dir, server) = insecure();
    let mut client = server.v2(None).await;
    publish(&mut client, MODE, T::String("SPORT".into()))
        .await
        .unwrap();
    assert_status(publish(&mut client, MODE, T::String("TURBO".into())).await, Code::InvalidArgument, "value TURBO is not allowed for \"Vehicle.Powertrain.Transmission.PerformanceMode\" (allowed: NORMAL, SPORT, ECONOMY, SNOW, RAIN)");
    assert_eq!(
        current(&mut client, MODE).await,
        Some(T::String("SPORT".into()))
    );
}

#[tokio::test]
async fn bad_input_target_of_a_sensor() {
    let (_dir, server) = insecure();
    let mut v1_client = server.v1(None).await;
    let status = v1_client
        .set(v1::SetRequest {
            updates: vec![v1::EntryUpdate {
                entry: Some(v1::DataEntry {
                    path: SPEED.into(),
                    value: None,
                    actuator_target: Some(v1::Datapoint {
                        timestamp: None,
                        value: Some(v1::datapoint::Value::Float(5.0)),
                    }),
                    metadata: None,
                }),
                fields: vec![v1::Field::ActuatorTarget as i32],
            }],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("\"Vehicle.Speed\", a sensor"),
        "{}",
        status.message()
    );
    let mut client = server.v2(None).await;
    let result = client
        .actuate(v2::ActuateRequest {
            signal_id: path(SPEED),
            value: value(T::Float(5.0)),
        })
        .await
        .map(|_| ());
    assert_status(
        result,
        Code::InvalidArgument,
        "\"Vehicle.Speed\" is a sensor, not an actuator",
    );
    assert_eq!(current(&mut client, SPEED).await, None);
}

#[tokio::test]
async fn bad_input_actuate_without_provider() {
    let (_dir, server) = insecure();
    let mut client = server.v2(None).await;
    let result = client
        .actuate(v2::ActuateRequest {
            signal_id: path(DOOR),
            value: value(T::Bool(true)),
        })
        .await
        .map(|_| ());
    assert_status(
        result,
        Code::Unavailable,
        "provider for \"Vehicle.Cabin.Door.Row1.DriverSide.IsOpen\"",
    );
    let batch = v2::BatchActuateRequest {
        actuate_requests: vec![v2::ActuateRequest {
            signal_id: path(DOOR),
            value: value(T::Bool(true)),
        }],
    };
    assert_status(
        client.batch_actuate(batch).await.map(|_| ()),
        Code::Unavailable,
        "does not exist",
    );
    // No target was stored by the refused request.
    let mut v1_client = server.v1(None).await;
    let response = v1_client
        .get(v1::GetRequest {
            entries: vec![v1::EntryRequest {
                path: DOOR.into(),
                view: v1::View::TargetValue as i32,
                fields: vec![],
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        response.entries[0]
            .actuator_target
            .as_ref()
            .and_then(|dp| dp.value.clone()),
        None
    );
}

#[tokio::test]
async fn bad_input_malformed_requests() {
    let (_dir, server) = insecure();
    let mut client = server.v2(None).await;
    let result = client
        .get_value(v2::GetValueRequest { signal_id: None })
        .await
        .map(|_| ());
    assert_status(result, Code::InvalidArgument, "no signal id provided");
    let result = client
        .publish_value(v2::PublishValueRequest {
            signal_id: path(SPEED),
            data_point: None,
        })
        .await
        .map(|_| ());
    assert_status(result, Code::InvalidArgument, "no data_point provided");
    let result = client
        .actuate(v2::ActuateRequest {
            signal_id: path(DOOR),
            value: None,
        })
        .await
        .map(|_| ());
    assert_status(
        result,
        Code::InvalidArgument,
        "no value provided for \"Vehicle.Cabin.Door.Row1.DriverSide.IsOpen\"",
    );
    let result = client
        .list_metadata(v2::ListMetadataRequest {
            root: "Vehicle..Speed".into(),
            filter: String::new(),
        })
        .await
        .map(|_| ());
    assert_status(
        result,
        Code::InvalidArgument,
        "invalid path pattern \"Vehicle..Speed\"",
    );
    let result = client
        .subscribe(v2::SubscribeRequest {
            signal_paths: vec![],
            buffer_size: 0,
            filter: None,
        })
        .await
        .map(|_| ());
    assert_status(result, Code::InvalidArgument, "no signal paths requested");
    let result = client
        .subscribe(v2::SubscribeRequest {
            signal_paths: vec![SPEED.into()],
            buffer_size: 5000,
            filter: None,
        })
        .await
        .map(|_| ());
    assert_status(
        result,
        Code::InvalidArgument,
        "buffer size 5000 is above the maximum of 1000",
    );
    assert_eq!(current(&mut client, SPEED).await, None);
}

/// A broker that verifies tokens with the fixture key.
fn secured() -> (tempfile::TempDir, ServerProcess) {
    let dir = tempfile::tempdir().unwrap();
    let key = support::fixtures().join("jwt/signing.pub");
    let server = ServerProcess::start(dir.path(), &["--jwt-public-key", key.to_str().unwrap()]);
    (dir, server)
}

#[tokio::test]
async fn bad_input_unauthorized() {
    let (_dir, server) = secured();
    let provider = token("signing.key", "provide:Vehicle.Speed", 600);
    publish(&mut server.v2(Some(&provider)).await, SPEED, T::Float(30.0))
        .await
        .unwrap();

    // Wrong scope: may read, may not publish.
    let reader = token("signing.key", "read:Vehicle.Speed", 600);
    let mut client = server.v2(Some(&reader)).await;
    assert_status(
        publish(&mut client, SPEED, T::Float(99.0)).await,
        Code::PermissionDenied,
        "no provide access to \"Vehicle.Speed\"",
    );
    let result = client
        .get_value(v2::GetValueRequest {
            signal_id: path(SOC),
        })
        .await
        .map(|_| ());
    assert_status(
        result,
        Code::PermissionDenied,
        "no read access to \"Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed\"",
    );
    assert_eq!(current(&mut client, SPEED).await, Some(T::Float(30.0)));

    // Expired token.
    let expired = token("signing.key", "provide:Vehicle.Speed", -120);
    assert_status(
        publish(&mut server.v2(Some(&expired)).await, SPEED, T::Float(99.0)).await,
        Code::Unauthenticated,
        "expired",
    );

    // Signed with another key.
    let forged = token("other.key", "provide:Vehicle.Speed", 600);
    assert_status(
        publish(&mut server.v2(Some(&forged)).await, SPEED, T::Float(99.0)).await,
        Code::Unauthenticated,
        "bad signature",
    );

    // No token, and a malformed header.
    assert_status(
        publish(&mut server.v2(None).await, SPEED, T::Float(99.0)).await,
        Code::Unauthenticated,
        "no auth token provided",
    );
    assert_status(
        publish(
            &mut server.v2(Some("not-a-jwt")).await,
            SPEED,
            T::Float(99.0),
        )
        .await,
        Code::Unauthenticated,
        "invalid auth token",
    );

    // v1 Set with a read-only token: per-entry 403.
    let mut v1_client = server.v1(Some(&reader)).await;
    let response = v1_client
        .set(v1::SetRequest {
            updates: vec![v1::EntryUpdate {
                entry: Some(v1::DataEntry {
                    path: SPEED.into(),
                    value: Some(v1::Datapoint {
                        timestamp: None,
                        value: Some(v1::datapoint::Value::Float(1.0)),
                    }),
                    actuator_target: None,
                    metadata: None,
                }),
                fields: vec![v1::Field::Value as i32],
            }],
        })
        .await
        .unwrap()
        .into_inner();
    let error = response.errors[0].error.clone().unwrap();
    assert_eq!((error.code, error.reason.as_str()), (403, "forbidden"));
    assert_eq!(current(&mut client, SPEED).await, Some(T::Float(30.0)));
}

#[tokio::test]
async fn refuses_to_start_without_auth_choice() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let (code, _, stderr) =
        support::cli(&["serve", "--address", "127.0.0.1:0", "--data-dir", data_dir]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("refusing to start without authorization"),
        "{stderr}"
    );
}

#[tokio::test]
async fn values_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--insecure", "--persist", "Vehicle.TraveledDistance"];
    let server = ServerProcess::start(dir.path(), &args);
    let mut client = server.v2(None).await;
    publish(&mut client, VIN, T::String("JN1TOMOE000000001".into()))
        .await
        .unwrap();
    publish(&mut client, "Vehicle.TraveledDistance", T::Float(12345.5))
        .await
        .unwrap();
    publish(&mut client, SPEED, T::Float(88.0)).await.unwrap();
    let (code, _, stderr) =
        support::cli(&["set", "--broker", &server.url, "--target", MODE, "ECONOMY"]);
    assert_eq!(code, 0, "{stderr}");
    server.stop();

    let server = ServerProcess::start(dir.path(), &args);
    let mut client = server.v2(None).await;
    assert_eq!(
        current(&mut client, VIN).await,
        Some(T::String("JN1TOMOE000000001".into()))
    );
    assert_eq!(
        current(&mut client, "Vehicle.TraveledDistance").await,
        Some(T::Float(12345.5))
    );
    // Sensors not opted in start empty after a restart.
    assert_eq!(current(&mut client, SPEED).await, None);
    let (code, stdout, stderr) =
        support::cli(&["get", "--broker", &server.url, "--json", "--target", MODE]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\"value\":\"ECONOMY\""), "{stdout}");
}

#[tokio::test]
async fn corrupt_database_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tomoe.redb");
    let garbage = b"precious but unreadable".repeat(64);
    std::fs::write(&file, &garbage).unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let (code, _, stderr) = support::cli(&[
        "serve",
        "--insecure",
        "--address",
        "127.0.0.1:0",
        "--data-dir",
        data_dir,
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("is not a redb database") && stderr.contains("tomoe.redb"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), garbage);
}

#[tokio::test]
async fn an_empty_database_file_is_refused_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tomoe.redb");
    std::fs::write(&file, b"").unwrap();
    let (code, _, stderr) = support::cli(&[
        "serve",
        "--insecure",
        "--address",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is empty (0 bytes)"), "{stderr}");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 0);
}

#[tokio::test]
async fn subscription_delivers_initial_value_then_updates_for_a_branch() {
    let (_dir, server) = insecure();
    let mut client = server.v2(None).await;
    publish(
        &mut client,
        "Vehicle.Cabin.Door.Row1.PassengerSide.IsOpen",
        T::Bool(false),
    )
    .await
    .unwrap();
    let request = v2::SubscribeRequest {
        signal_paths: vec!["Vehicle.Cabin.Door.*.*.IsOpen".into()],
        buffer_size: 10,
        filter: None,
    };
    let mut stream = client.subscribe(request).await.unwrap().into_inner();
    let initial = stream.next().await.unwrap().unwrap();
    assert_eq!(initial.entries.len(), 4);
    publish(&mut server.v2(None).await, DOOR, T::Bool(true))
        .await
        .unwrap();
    let update = stream.next().await.unwrap().unwrap();
    let datapoint = &update.entries[DOOR];
    assert_eq!(
        datapoint.value.clone().and_then(|v| v.typed_value),
        Some(T::Bool(true))
    );
}

#[tokio::test]
async fn provider_receives_actuation_requests() {
    let (_dir, server) = insecure();
    let mut provider = server.v2(None).await;
    let (outbound, receiver) = tokio::sync::mpsc::channel(4);
    outbound
        .send(v2::OpenProviderStreamRequest {
            action: Some(
                v2::open_provider_stream_request::Action::ProvideActuationRequest(
                    v2::ProvideActuationRequest {
                        actuator_identifiers: vec![path(DOOR).unwrap()],
                    },
                ),
            ),
        })
        .await
        .unwrap();
    let mut inbound = provider
        .open_provider_stream(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await
        .unwrap()
        .into_inner();
    let ack = inbound.next().await.unwrap().unwrap();
    assert!(matches!(
        ack.action,
        Some(v2::open_provider_stream_response::Action::ProvideActuationResponse(_))
    ));

    // A second provider for the same actuator is refused.
    let mut rival = server.v2(None).await;
    let (rival_out, rival_in) = tokio::sync::mpsc::channel(4);
    rival_out
        .send(v2::OpenProviderStreamRequest {
            action: Some(
                v2::open_provider_stream_request::Action::ProvideActuationRequest(
                    v2::ProvideActuationRequest {
                        actuator_identifiers: vec![path(DOOR).unwrap()],
                    },
                ),
            ),
        })
        .await
        .unwrap();
    let mut rival_stream = rival
        .open_provider_stream(tokio_stream::wrappers::ReceiverStream::new(rival_in))
        .await
        .unwrap()
        .into_inner();
    let refused = rival_stream.next().await.unwrap().unwrap_err();
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");

    let mut client = server.v2(None).await;
    client
        .actuate(v2::ActuateRequest {
            signal_id: path(DOOR),
            value: value(T::Bool(true)),
        })
        .await
        .unwrap();
    let request = inbound.next().await.unwrap().unwrap();
    let Some(v2::open_provider_stream_response::Action::BatchActuateStreamRequest(batch)) =
        request.action
    else {
        panic!("expected an actuation request, got {request:?}");
    };
    assert_eq!(
        batch.actuate_requests[0]
            .value
            .clone()
            .and_then(|v| v.typed_value),
        Some(T::Bool(true))
    );
    drop(outbound);
}

#[tokio::test]
async fn cli_reports_broker_errors_with_exit_code() {
    let (_dir, server) = insecure();
    let (code, _, stderr) = support::cli(&["set", "--broker", &server.url, SOC, "150"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("out of range"), "{stderr}");
    let (code, _, stderr) = support::cli(&["get", "--broker", &server.url, "Vehicle.Nope"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("path not found: \"Vehicle.Nope\""),
        "{stderr}"
    );
    let (code, stdout, _) = support::cli(&["metadata", "--broker", &server.url, "--json", SPEED]);
    assert_eq!(code, 0);
    let parsed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(parsed[0]["unit"], "km/h");
    assert_eq!(parsed[0]["datatype"], "float");
}

#[tokio::test]
async fn tls_serves_clients_that_trust_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(
        &data,
        &[
            "--insecure",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let url = server.url.replace("127.0.0.1", "localhost");
    let (code, stdout, stderr) = support::cli(&[
        "metadata",
        "--broker",
        &url,
        "--ca-cert",
        cert.to_str().unwrap(),
        SPEED,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Vehicle.Speed"), "{stdout}");
    // Without trusting the certificate the client refuses the connection.
    let (code, _, _) = support::cli(&["metadata", "--broker", &url, SPEED]);
    assert_eq!(code, 1);
}

#[tokio::test]
async fn bad_tls_key_fails_before_the_broker_announces_itself() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let data_dir = dir.path().join("data");
    let (code, stdout, stderr) = support::cli(&[
        "serve",
        "--insecure",
        "--address",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty(), "announced despite a bad key: {stdout}");
    assert!(stderr.contains("invalid TLS configuration"), "{stderr}");
}

#[tokio::test]
async fn streams_end_when_the_token_expires() {
    let (_dir, server) = secured();
    let short = token("signing.key", "read:Vehicle.Speed actuate:Vehicle.Cabin", 2);
    let mut client = server.v2(Some(&short)).await;
    let request = v2::SubscribeRequest {
        signal_paths: vec![SPEED.into()],
        buffer_size: 0,
        filter: None,
    };
    let mut stream = client.subscribe(request).await.unwrap().into_inner();
    stream.next().await.unwrap().unwrap(); // initial value
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .unwrap();
    let status = ended.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains("permission expired"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn provider_keeps_its_claim_after_half_closing_its_side() {
    let (_dir, server) = insecure();
    let mut provider = server.v2(None).await;
    let claim = v2::OpenProviderStreamRequest {
        action: Some(
            v2::open_provider_stream_request::Action::ProvideActuationRequest(
                v2::ProvideActuationRequest {
                    actuator_identifiers: vec![path(DOOR).unwrap()],
                },
            ),
        ),
    };
    // The request stream ends right after the claim, as the Python kuksa-client's does.
    let mut inbound = provider
        .open_provider_stream(futures::stream::iter(vec![claim]))
        .await
        .unwrap()
        .into_inner();
    inbound.next().await.unwrap().unwrap();
    let mut client = server.v2(None).await;
    client
        .actuate(v2::ActuateRequest {
            signal_id: path(DOOR),
            value: value(T::Bool(false)),
        })
        .await
        .unwrap();
    let request = inbound.next().await.unwrap().unwrap();
    assert!(matches!(
        request.action,
        Some(v2::open_provider_stream_response::Action::BatchActuateStreamRequest(_))
    ));
    // Cancelling the call releases the claim.
    drop(inbound);
    drop(provider);
    let mut released = false;
    for _ in 0..50 {
        let result = client
            .actuate(v2::ActuateRequest {
                signal_id: path(DOOR),
                value: value(T::Bool(true)),
            })
            .await;
        if result
            .as_ref()
            .is_err_and(|s| s.code() == Code::Unavailable)
        {
            released = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(released, "the claim outlived the provider's call");
}

#[tokio::test]
async fn one_connection_holds_a_bounded_number_of_streams() {
    // 10,000 subscriptions on one connection used to take 134 MB of the broker;
    // the server now allows 256 streams per connection and the client queues the rest.
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--insecure"]);
    let client = server.v2(None).await;
    let mut open = Vec::new();
    for _ in 0..tomoe_grpc::MAX_STREAMS_PER_CONNECTION {
        let mut client = client.clone();
        let stream = client
            .subscribe(v2::SubscribeRequest {
                signal_paths: vec!["Vehicle.Speed".into()],
                buffer_size: 0,
                filter: None,
            })
            .await
            .expect("a subscription within the limit opens");
        open.push(stream);
    }
    let mut one_more = client.clone();
    let over = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        one_more.subscribe(v2::SubscribeRequest {
            signal_paths: vec!["Vehicle.Speed".into()],
            buffer_size: 0,
            filter: None,
        }),
    )
    .await;
    assert!(
        over.is_err(),
        "stream {} was opened at once",
        open.len() + 1
    );
    // A stream that ends makes room.
    open.pop();
    let next = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        one_more.subscribe(v2::SubscribeRequest {
            signal_paths: vec!["Vehicle.Speed".into()],
            buffer_size: 0,
            filter: None,
        }),
    )
    .await;
    assert!(matches!(next, Ok(Ok(_))), "{next:?}");
    server.stop();
}
