//! The tenant wall over real gRPC: `tomoe serve --alliance` with the demo alliance,
//! tokens signed with the tenants' demo keys (alliance/demo-keys).
//!
//! A Nissan token whose scopes allow everything still cannot read, subscribe to,
//! publish or actuate anything in Honda's private branch; it reads common VSS and
//! Nissan's own branch. A token signed with Nissan's key that claims to be Honda's
//! is refused outright.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use kuksa_rust_sdk::v1_proto as v1;
use kuksa_rust_sdk::v2_proto as v2;
use support::{path, repo_root, value, ServerProcess};
use tonic::Code;
use v2::value::TypedValue as T;

const HONDA_SENSOR: &str = "Vehicle.Private.Honda.DriverAttention";
const HONDA_ACTUATOR: &str = "Vehicle.Private.Honda.Cabin.AmbientTheme";
const NISSAN_SENSOR: &str = "Vehicle.Private.Nissan.BatteryHealth";
const WALL: &str = "is private to tenant honda and the token's tenant is nissan; no scope grants another tenant's private branch";

/// A token signed with tenant `key`'s demo key, granting `scope`, with a `tenant`
/// claim when given.
fn tenant_token(key: &str, tenant: Option<&str>, scope: &str) -> String {
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        sub: &'a str,
        aud: [&'a str; 1],
        iat: u64,
        exp: u64,
        scope: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        tenant: Option<&'a str>,
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = Claims {
        sub: "tenant-test",
        aud: ["kuksa.val"],
        iat: now,
        exp: now + 600,
        scope,
        tenant,
    };
    let pem =
        std::fs::read(repo_root().join(format!("alliance/demo-keys/{key}-token.pem"))).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_pem(&pem).unwrap(),
    )
    .unwrap()
}

fn serve() -> (tempfile::TempDir, ServerProcess) {
    let dir = tempfile::tempdir().unwrap();
    let alliance = repo_root().join("alliance");
    let server = ServerProcess::start(dir.path(), &["--alliance", alliance.to_str().unwrap()]);
    (dir, server)
}

fn assert_denied<T: std::fmt::Debug>(result: Result<T, tonic::Status>, what: &str) {
    let status = result.expect_err(what);
    assert_eq!(status.code(), Code::PermissionDenied, "{what}: {status:?}");
    assert!(
        status.message().contains(WALL),
        "{what}: {}",
        status.message()
    );
}

#[tokio::test]
async fn a_nissan_token_with_every_scope_stays_out_of_hondas_branch() {
    let (_dir, server) = serve();
    let everything = tenant_token("nissan", None, "read:** actuate:** provide:**");
    let mut client = server.v2(Some(&everything)).await;

    // Common VSS and Nissan's own branch: allowed.
    for allowed in ["Vehicle.Speed", NISSAN_SENSOR] {
        client
            .get_value(v2::GetValueRequest {
                signal_id: path(allowed),
            })
            .await
            .unwrap_or_else(|status| panic!("{allowed}: {status:?}"));
    }
    client
        .publish_value(v2::PublishValueRequest {
            signal_id: path(NISSAN_SENSOR),
            data_point: Some(v2::Datapoint {
                timestamp: None,
                value: value(T::Float(93.5)),
            }),
        })
        .await
        .unwrap();

    // Honda's branch: refused whatever the scopes say, with the reason.
    assert_denied(
        client
            .get_value(v2::GetValueRequest {
                signal_id: path(HONDA_SENSOR),
            })
            .await,
        "v2 GetValue",
    );
    assert_denied(
        client
            .actuate(v2::ActuateRequest {
                signal_id: path(HONDA_ACTUATOR),
                value: value(T::String("SPORT".into())),
            })
            .await,
        "v2 Actuate",
    );
    assert_denied(
        client
            .publish_value(v2::PublishValueRequest {
                signal_id: path(HONDA_SENSOR),
                data_point: Some(v2::Datapoint {
                    timestamp: None,
                    value: value(T::Uint32(3)),
                }),
            })
            .await,
        "v2 PublishValue",
    );
    assert_denied(
        client
            .subscribe(v2::SubscribeRequest {
                signal_paths: vec![HONDA_SENSOR.into()],
                buffer_size: 0,
                filter: None,
            })
            .await,
        "v2 Subscribe",
    );

    // v1 with a wildcard over the branch: every entry refused with 403.
    let mut v1_client = server.v1(Some(&everything)).await;
    let response = v1_client
        .get(v1::GetRequest {
            entries: vec![v1::EntryRequest {
                path: "Vehicle.Private.Honda.*".into(),
                view: 0,
                fields: vec![],
            }],
        })
        .await;
    match response {
        Err(status) => {
            assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
            assert!(status.message().contains(WALL), "{}", status.message());
        }
        Ok(response) => {
            let response = response.into_inner();
            assert!(response.entries.is_empty(), "{:?}", response.entries);
            let named = response
                .error
                .iter()
                .chain(response.errors.iter().filter_map(|e| e.error.as_ref()));
            let errors: Vec<&v1::Error> = named.collect();
            assert!(
                errors
                    .iter()
                    .any(|error| error.code == 403 && error.message.contains(WALL)),
                "{response:?}"
            );
        }
    }
    let result = v1_client
        .set(v1::SetRequest {
            updates: vec![v1::EntryUpdate {
                entry: Some(v1::DataEntry {
                    path: HONDA_ACTUATOR.into(),
                    value: None,
                    actuator_target: Some(v1::Datapoint {
                        timestamp: None,
                        value: Some(v1::datapoint::Value::String("NIGHT".into())),
                    }),
                    metadata: None,
                }),
                fields: vec![v1::Field::ActuatorTarget as i32],
            }],
        })
        .await;
    match result {
        Err(status) => assert_eq!(status.code(), Code::PermissionDenied, "{status:?}"),
        Ok(response) => {
            let response = response.into_inner();
            let refused = response.error.is_some() || !response.errors.is_empty();
            assert!(
                refused,
                "v1 Set of a Honda actuator went through: {response:?}"
            );
        }
    }
}

#[tokio::test]
async fn hondas_own_token_reaches_its_branch_and_a_borrowed_key_is_refused() {
    let (_dir, server) = serve();
    let honda = tenant_token("honda", Some("honda"), "read:Vehicle.Private.**");
    let mut client = server.v2(Some(&honda)).await;
    client
        .get_value(v2::GetValueRequest {
            signal_id: path(HONDA_SENSOR),
        })
        .await
        .unwrap();
    let status = client
        .get_value(v2::GetValueRequest {
            signal_id: path(NISSAN_SENSOR),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status
            .message()
            .contains("private to tenant nissan and the token's tenant is honda"),
        "{}",
        status.message()
    );

    // Nissan's key cannot mint Honda's tokens.
    let forged = tenant_token("nissan", Some("honda"), "read:**");
    let mut client = server.v2(Some(&forged)).await;
    let status = client
        .get_value(v2::GetValueRequest {
            signal_id: path(HONDA_SENSOR),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status
            .message()
            .contains("signed with tenant nissan's key but claims tenant honda"),
        "{}",
        status.message()
    );
}
