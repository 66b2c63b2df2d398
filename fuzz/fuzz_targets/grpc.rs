//! gRPC requests, structure-aware: sequences of `kuksa.val.v2` and `v1` calls with
//! fuzzed signals, values, patterns, buffer sizes and tokens, sent over loopback
//! TCP to a real broker that verifies JWTs. Every call must answer (an error is
//! fine); the broker must neither panic nor stop answering.
#![no_main]
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use futures::StreamExt;
use kuksa_rust_sdk::{v1_proto as v1, v2_proto as v2};
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;
use tomoe_auth::TokenIssuer;
use tomoe_broker::{Broker, BrokerConfig};
use tomoe_grpc::{AnonymousAccess, Authorization, ServerConfig, TokenPolicy};
use tomoe_vss::Value;
use tonic::transport::Channel;

const KNOWN: &[&str] = &[
    "Vehicle.Speed",
    "Vehicle.VehicleIdentification.VIN",
    "Vehicle.Body.Trunk.Rear.IsOpen",
    "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature",
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
    "Vehicle.CurrentLocation.Latitude",
    "Vehicle.*",
    "Vehicle.**",
    "Vehicle.Cabin.**.IsOpen",
    "",
];

#[derive(Debug, Arbitrary)]
enum Signal {
    Known(u8),
    Path(String),
    Id(i32),
}

/// A value of any wire type, whatever the signal's datatype.
#[derive(Debug, Arbitrary)]
enum FuzzValue {
    String(String),
    Bool(bool),
    Int32(i32),
    Int64(i64),
    Uint32(u32),
    Uint64(u64),
    Float(f32),
    Double(f64),
    StringArray(Vec<String>),
    BoolArray(Vec<bool>),
    Int32Array(Vec<i32>),
    Uint64Array(Vec<u64>),
    DoubleArray(Vec<f64>),
}

impl FuzzValue {
    fn value(&self) -> Value {
        match self {
            FuzzValue::String(v) => Value::String(v.clone()),
            FuzzValue::Bool(v) => Value::Bool(*v),
            FuzzValue::Int32(v) => Value::Int32(*v),
            FuzzValue::Int64(v) => Value::Int64(*v),
            FuzzValue::Uint32(v) => Value::Uint32(*v),
            FuzzValue::Uint64(v) => Value::Uint64(*v),
            FuzzValue::Float(v) => Value::Float(*v),
            FuzzValue::Double(v) => Value::Double(*v),
            FuzzValue::StringArray(v) => Value::StringArray(v.clone()),
            FuzzValue::BoolArray(v) => Value::BoolArray(v.clone()),
            FuzzValue::Int32Array(v) => Value::Int32Array(v.clone()),
            FuzzValue::Uint64Array(v) => Value::Uint64Array(v.clone()),
            FuzzValue::DoubleArray(v) => Value::DoubleArray(v.clone()),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Token {
    None,
    /// A token the broker's issuer signs, with a fuzzed scope.
    Issued(String),
    /// Any header value.
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Call {
    GetValue(Signal),
    GetValues(Vec<Signal>),
    ListMetadata {
        root: Signal,
        filter: String,
    },
    PublishValue(Signal, Option<FuzzValue>),
    Actuate(Signal, Option<FuzzValue>),
    BatchActuate(Vec<(Signal, Option<FuzzValue>)>),
    Subscribe {
        paths: Vec<Signal>,
        buffer_size: u32,
    },
    SubscribeById {
        ids: Vec<i32>,
        buffer_size: u32,
    },
    Provide {
        claims: Vec<Signal>,
        publish: Vec<(i32, Option<FuzzValue>)>,
    },
    ServerInfo,
    V1Get {
        path: Signal,
        view: i32,
        fields: Vec<i32>,
    },
    V1Set {
        path: Signal,
        value: Option<FuzzValue>,
        fields: Vec<i32>,
    },
    V1Subscribe {
        path: Signal,
        view: i32,
        fields: Vec<i32>,
    },
}

#[derive(Debug, Arbitrary)]
struct Session {
    token: Token,
    calls: Vec<Call>,
}

struct Fixture {
    runtime: Runtime,
    channel: Channel,
    issuer: TokenIssuer,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let issuer = TokenIssuer::generate();
        let policy = TokenPolicy {
            verifiers: vec![std::sync::Arc::new(issuer.verifier())],
            anonymous: AnonymousAccess::Refused,
        };
        let channel = runtime.block_on(async {
            let catalog = tomoe_vss::default_catalog().expect("the default catalog");
            let broker = Broker::new(catalog, BrokerConfig::default(), None).expect("a broker");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a port");
            let address = listener.local_addr().expect("an address");
            let config = ServerConfig {
                authorization: Authorization::Tokens(policy),
                tls: None,
            };
            tokio::spawn(tomoe_grpc::serve(
                broker,
                listener,
                config,
                std::future::pending(),
            ));
            Channel::from_shared(format!("http://{address}"))
                .expect("a URL")
                .connect()
                .await
                .expect("the broker answers")
        });
        Fixture {
            runtime,
            channel,
            issuer,
        }
    })
}

fn path(signal: &Signal) -> String {
    match signal {
        Signal::Known(index) => KNOWN[*index as usize % KNOWN.len()].to_owned(),
        Signal::Path(path) => path.clone(),
        Signal::Id(id) => id.to_string(),
    }
}

fn signal_id(signal: &Signal) -> Option<v2::SignalId> {
    Some(match signal {
        Signal::Id(id) => tomoe_kuksa::signal::signal_by_id(*id),
        other => tomoe_kuksa::signal::signal_by_path(&path(other)),
    })
}

fn v2_value(value: &Option<FuzzValue>) -> Option<v2::Value> {
    value
        .as_ref()
        .map(|value| tomoe_kuksa::value_to_v2(&value.value()))
}

fn request<T>(message: T, token: &Option<String>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(Duration::from_secs(5));
    if let Some(token) = token {
        if let Ok(value) = format!("Bearer {token}").parse() {
            request.metadata_mut().insert("authorization", value);
        }
    }
    request
}

/// The first message of a stream, if one comes soon.
async fn first<S: futures::Stream + Unpin>(stream: &mut S) {
    let _ = tokio::time::timeout(Duration::from_millis(20), stream.next()).await;
}

async fn call(channel: Channel, token: &Option<String>, call: &Call) {
    let mut val = v2::val_client::ValClient::new(channel.clone());
    let mut old = v1::val_client::ValClient::new(channel);
    match call {
        Call::GetValue(signal) => {
            let _ = val
                .get_value(request(
                    v2::GetValueRequest {
                        signal_id: signal_id(signal),
                    },
                    token,
                ))
                .await;
        }
        Call::GetValues(signals) => {
            let signal_ids = signals.iter().filter_map(signal_id).collect();
            let _ = val
                .get_values(request(v2::GetValuesRequest { signal_ids }, token))
                .await;
        }
        Call::ListMetadata { root, filter } => {
            let message = v2::ListMetadataRequest {
                root: path(root),
                filter: filter.clone(),
            };
            let _ = val.list_metadata(request(message, token)).await;
        }
        Call::PublishValue(signal, value) => {
            let message = v2::PublishValueRequest {
                signal_id: signal_id(signal),
                data_point: Some(v2::Datapoint {
                    timestamp: None,
                    value: v2_value(value),
                }),
            };
            let _ = val.publish_value(request(message, token)).await;
        }
        Call::Actuate(signal, value) => {
            let message = v2::ActuateRequest {
                signal_id: signal_id(signal),
                value: v2_value(value),
            };
            let _ = val.actuate(request(message, token)).await;
        }
        Call::BatchActuate(pairs) => {
            let actuate_requests = pairs
                .iter()
                .map(|(signal, value)| v2::ActuateRequest {
                    signal_id: signal_id(signal),
                    value: v2_value(value),
                })
                .collect();
            let _ = val
                .batch_actuate(request(v2::BatchActuateRequest { actuate_requests }, token))
                .await;
        }
        Call::Subscribe { paths, buffer_size } => {
            let message = v2::SubscribeRequest {
                signal_paths: paths.iter().map(path).collect(),
                buffer_size: *buffer_size,
                filter: None,
            };
            if let Ok(response) = val.subscribe(request(message, token)).await {
                first(&mut response.into_inner()).await;
            }
        }
        Call::SubscribeById { ids, buffer_size } => {
            let message = v2::SubscribeByIdRequest {
                signal_ids: ids.clone(),
                buffer_size: *buffer_size,
                filter: None,
            };
            if let Ok(response) = val.subscribe_by_id(request(message, token)).await {
                first(&mut response.into_inner()).await;
            }
        }
        Call::Provide { claims, publish } => {
            use v2::open_provider_stream_request::Action;
            let mut messages = vec![v2::OpenProviderStreamRequest {
                action: Some(Action::ProvideActuationRequest(
                    v2::ProvideActuationRequest {
                        actuator_identifiers: claims.iter().filter_map(signal_id).collect(),
                    },
                )),
            }];
            messages.push(v2::OpenProviderStreamRequest {
                action: Some(Action::PublishValuesRequest(v2::PublishValuesRequest {
                    request_id: 1,
                    data_points: publish
                        .iter()
                        .map(|(id, value)| {
                            (
                                *id,
                                v2::Datapoint {
                                    timestamp: None,
                                    value: v2_value(value),
                                },
                            )
                        })
                        .collect(),
                })),
            });
            let outbound = futures::stream::iter(messages);
            if let Ok(response) = val.open_provider_stream(request(outbound, token)).await {
                let mut inbound = response.into_inner();
                first(&mut inbound).await;
                first(&mut inbound).await;
            }
        }
        Call::ServerInfo => {
            let _ = val
                .get_server_info(request(v2::GetServerInfoRequest {}, token))
                .await;
        }
        Call::V1Get {
            path: signal,
            view,
            fields,
        } => {
            let message = v1::GetRequest {
                entries: vec![v1::EntryRequest {
                    path: path(signal),
                    view: *view,
                    fields: fields.clone(),
                }],
            };
            let _ = old.get(request(message, token)).await;
        }
        Call::V1Set {
            path: signal,
            value,
            fields,
        } => {
            let entry = v1::DataEntry {
                path: path(signal),
                value: value.as_ref().map(|value| v1::Datapoint {
                    timestamp: None,
                    value: Some(tomoe_kuksa::value_to_v1(&value.value())),
                }),
                actuator_target: None,
                metadata: None,
            };
            let message = v1::SetRequest {
                updates: vec![v1::EntryUpdate {
                    entry: Some(entry),
                    fields: fields.clone(),
                }],
            };
            let _ = old.set(request(message, token)).await;
        }
        Call::V1Subscribe {
            path: signal,
            view,
            fields,
        } => {
            let message = v1::SubscribeRequest {
                entries: vec![v1::SubscribeEntry {
                    path: path(signal),
                    view: *view,
                    fields: fields.clone(),
                }],
            };
            if let Ok(response) = old.subscribe(request(message, token)).await {
                first(&mut response.into_inner()).await;
            }
        }
    }
}

fuzz_target!(|session: Session| {
    let fixture = fixture();
    let token = match &session.token {
        Token::None => None,
        Token::Issued(scope) => fixture
            .issuer
            .issue("fuzz", scope, Duration::from_secs(60))
            .ok(),
        Token::Raw(raw) => Some(raw.clone()),
    };
    fixture.runtime.block_on(async {
        for one in session.calls.iter().take(16) {
            call(fixture.channel.clone(), &token, one).await;
        }
        // Whatever came before, the broker still answers.
        let probe = fixture
            .issuer
            .issue("probe", "read:Vehicle.Speed", Duration::from_secs(60))
            .ok();
        let mut val = v2::val_client::ValClient::new(fixture.channel.clone());
        val.get_server_info(request(v2::GetServerInfoRequest {}, &probe))
            .await
            .expect("the broker answers after the session");
    });
});
