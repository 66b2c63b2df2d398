//! VISS conformance over real WebSocket and HTTP connections to a server on
//! 127.0.0.1: every message type and filter, and the standard errors.

use std::time::{Duration, SystemTime};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value as Json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tomoe_auth::TokenIssuer;
use tomoe_broker::{Broker, BrokerConfig, Permissions};
use tomoe_history::{History, HistoryConfig, RetentionRule};
use tomoe_viss::{AccessPolicy, VissConfig};
use tomoe_vss::{PathPattern, Value};

/// How long a test waits for a message before it gives up (a hang guard, not a
/// timing assertion).
const PATIENCE: Duration = Duration::from_secs(20);

/// The calls the server reported: method and status.
type Calls = std::sync::Arc<std::sync::Mutex<Vec<(&'static str, &'static str)>>>;

struct Server {
    address: std::net::SocketAddr,
    broker: Broker,
    issuer: TokenIssuer,
    calls: Calls,
}

impl Server {
    async fn start(anonymous: bool) -> Server {
        let broker = Broker::new(
            tomoe_vss::default_catalog().unwrap(),
            BrokerConfig::default(),
            None,
        )
        .unwrap();
        let history = History::start(
            &broker,
            HistoryConfig {
                rules: vec![RetentionRule::new(
                    PathPattern::parse("Vehicle.Speed").unwrap(),
                )],
                ..HistoryConfig::default()
            },
        )
        .unwrap();
        let issuer = TokenIssuer::generate();
        let calls = Calls::default();
        let seen = calls.clone();
        let config = VissConfig {
            broker: broker.clone(),
            history: Some(history),
            access: AccessPolicy {
                verifiers: vec![std::sync::Arc::new(issuer.verifier())],
                anonymous,
            },
            observer: Some(std::sync::Arc::new(move |api, method, status, _| {
                assert_eq!(api, "viss");
                seen.lock().unwrap().push((method, status));
            })),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(tomoe_viss::serve(listener, config, std::future::pending()));
        Server {
            address,
            broker,
            issuer,
            calls,
        }
    }

    fn token(&self, scope: &str) -> String {
        self.issuer
            .issue("test", scope, Duration::from_secs(3600))
            .unwrap()
    }

    fn full_token(&self) -> String {
        self.token("read:Vehicle actuate:Vehicle")
    }

    fn publish(&self, path: &str, value: Value) {
        let id = self.broker.resolve_path(path).unwrap();
        self.broker
            .publish(&Permissions::allow_all(), &[(id, Some(value))])
            .unwrap();
    }

    async fn connect(&self, protocol: Option<&str>) -> Client {
        let mut request = format!("ws://{}/", self.address)
            .into_client_request()
            .unwrap();
        if let Some(protocol) = protocol {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
        }
        let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        let chosen = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(chosen.as_deref(), protocol);
        Client { socket, next: 0 }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

struct Client {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next: u64,
}

impl Client {
    async fn send(&mut self, message: Json) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    async fn receive(&mut self) -> Json {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("no message in time")
                .expect("connection open")
                .unwrap();
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    }

    /// Sends `message` with a fresh requestId and returns the response to it.
    async fn request(&mut self, mut message: Json) -> Json {
        self.next += 1;
        let id = format!("r{}", self.next);
        message["requestId"] = json!(id);
        self.send(message).await;
        loop {
            let response = self.receive().await;
            if response["requestId"] == json!(id) {
                assert!(response["ts"].is_string(), "{response}");
                return response;
            }
        }
    }

    /// The next `subscription` event of `subscription`.
    async fn event(&mut self, subscription: &Json) -> Json {
        loop {
            let message = self.receive().await;
            if message["action"] == "subscription" && message["subscriptionId"] == *subscription {
                return message;
            }
        }
    }
}

fn error_of(response: &Json) -> (String, String) {
    let error = &response["error"];
    (
        error["number"].as_str().unwrap_or_default().to_owned(),
        error["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

fn assert_error(response: &Json, number: &str, reason: &str) {
    assert_eq!(
        error_of(response),
        (number.to_owned(), reason.to_owned()),
        "{response}"
    );
    assert!(response["error"]["description"].is_string());
}

fn is_rfc3339(ts: &Json) -> bool {
    ts.as_str()
        .is_some_and(|ts| chrono::DateTime::parse_from_rfc3339(ts).is_ok())
}

#[tokio::test]
async fn get_reads_a_signal_and_searches_with_paths() {
    let server = Server::start(false).await;
    server.publish("Vehicle.Speed", Value::Float(42.5));
    let token = server.full_token();
    let mut client = server.connect(Some("VISS-v3")).await;
    let response = client
        .request(json!({"action": "get", "path": "Vehicle/Speed", "authorization": token}))
        .await;
    assert_eq!(response["action"], "get");
    assert_eq!(response["data"]["path"], "Vehicle.Speed");
    assert_eq!(response["data"]["dp"]["value"], "42.5");
    assert!(is_rfc3339(&response["data"]["dp"]["ts"]));
    assert!(is_rfc3339(&response["ts"]));
    // A search: VISS v2 `type`, a wildcard below the path.
    server.publish(
        "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen",
        Value::Bool(true),
    );
    let response = client
        .request(
            json!({"action": "get", "path": "Vehicle.Cabin.Door", "authorization": token,
            "filter": {"type": "paths", "parameter": "*.*.IsOpen"}}),
        )
        .await;
    let data = response["data"].as_array().expect("an array");
    assert_eq!(data.len(), 4, "{response}");
    let driver = data
        .iter()
        .find(|d| d["path"] == "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen")
        .unwrap();
    assert_eq!(driver["dp"]["value"], "true");
    let other = data
        .iter()
        .find(|d| d["path"] == "Vehicle.Cabin.Door.Row2.DriverSide.IsOpen")
        .unwrap();
    assert_eq!(other["dp"]["value"], tomoe_viss::NOT_AVAILABLE);
    // VISS v3: an array of filters, several paths.
    let response = client
        .request(json!({"action": "get", "path": "Vehicle", "authorization": token,
            "filter": [{"variant": "paths", "parameter": ["Speed", "Cabin.Door.Row1.DriverSide.IsOpen"]}]}))
        .await;
    assert_eq!(response["data"].as_array().unwrap().len(), 2, "{response}");
}

#[tokio::test]
async fn metadata_of_a_subtree_and_of_the_whole_tree() {
    let server = Server::start(true).await;
    let mut client = server.connect(Some("VISSv2")).await;
    let response = client
        .request(json!({"action": "get", "path": "Vehicle", "filter": {"variant": "metadata", "parameter": "0"}}))
        .await;
    let vehicle = &response["metadata"]["Vehicle"];
    assert_eq!(vehicle["type"], "branch");
    let speed = &vehicle["children"]["Speed"];
    assert_eq!(speed["type"], "sensor");
    assert_eq!(speed["datatype"], "float");
    assert_eq!(speed["unit"], "km/h");
    assert_eq!(
        vehicle["children"]["Cabin"]["children"]["Door"]["children"]["Row1"]["children"]
            ["DriverSide"]["children"]["IsOpen"]["type"],
        "actuator"
    );
    // One level deep: the children are there, their children are not.
    let response = client
        .request(json!({"action": "get", "path": "Vehicle.Cabin", "filter": {"type": "static-metadata", "parameter": "1"}}))
        .await;
    let cabin = &response["metadata"]["Cabin"];
    assert_eq!(cabin["children"]["Door"]["type"], "branch");
    assert_eq!(cabin["children"]["Door"]["children"], json!({}));
    // A leaf.
    let response = client
        .request(
            json!({"action": "get", "path": "Vehicle.Speed", "filter": {"variant": "metadata"}}),
        )
        .await;
    assert_eq!(response["metadata"]["Speed"]["datatype"], "float");
}

#[tokio::test]
async fn server_capabilities_over_websocket_and_http() {
    let server = Server::start(true).await;
    let mut client = server.connect(None).await;
    let response = client
        .request(json!({"action": "get", "path": "Vehicle",
            "filter": {"type": "dynamic-metadata", "parameter": "server_capabilities"}}))
        .await;
    let capabilities = &response["metadata"]["server_capabilities"];
    for filter in [
        "paths",
        "timebased",
        "range",
        "change",
        "curvelog",
        "history",
        "metadata",
    ] {
        assert!(
            capabilities["filter"]
                .as_array()
                .unwrap()
                .contains(&json!(filter)),
            "{filter}"
        );
    }
    let http: Json = reqwest::get(server.url("/"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(http["metadata"]["server_capabilities"], *capabilities);
}

#[tokio::test]
async fn set_reaches_the_actuator_s_provider_and_a_sensor_is_refused() {
    let server = Server::start(false).await;
    let all = Permissions::allow_all();
    let trunk = server
        .broker
        .resolve_path("Vehicle.Body.Trunk.Rear.IsOpen")
        .unwrap();
    let mut provider = server.broker.open_provider();
    provider.claim(&all, &[trunk]).unwrap();
    let token = server.full_token();
    let mut client = server.connect(Some("VISS-v2")).await;
    let response = client
        .request(json!({"action": "set", "path": "Vehicle.Body.Trunk.Rear.IsOpen", "value": "true", "authorization": token}))
        .await;
    assert!(response.get("error").is_none(), "{response}");
    assert_eq!(response["action"], "set");
    let request = tokio::time::timeout(PATIENCE, provider.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.targets, vec![(trunk, Value::Bool(true))]);
    // A sensor, a wrong type, a branch, an unknown path.
    let response = client
        .request(json!({"action": "set", "path": "Vehicle.Speed", "value": "10", "authorization": token}))
        .await;
    assert_error(&response, "400", "invalid_data");
    let response = client
        .request(json!({"action": "set", "path": "Vehicle.Body.Trunk.Rear.IsOpen", "value": "maybe", "authorization": token}))
        .await;
    assert_error(&response, "400", "invalid_data");
    let response = client
        .request(
            json!({"action": "set", "path": "Vehicle.Body", "value": "1", "authorization": token}),
        )
        .await;
    assert_error(&response, "400", "invalid_data");
    let response = client
        .request(
            json!({"action": "set", "path": "Vehicle.Nope", "value": "1", "authorization": token}),
        )
        .await;
    assert_error(&response, "404", "invalid_path");
    // An actuator nobody provides.
    let response = client
        .request(json!({"action": "set", "path": "Vehicle.Body.Hood.IsOpen", "value": true, "authorization": token}))
        .await;
    assert_error(&response, "503", "service_unavailable");
}

#[tokio::test]
async fn subscribe_sends_every_change_until_unsubscribed() {
    let server = Server::start(true).await;
    let mut client = server.connect(Some("VISSv3")).await;
    let response = client
        .request(json!({"action": "subscribe", "path": "Vehicle.Speed"}))
        .await;
    assert_eq!(response["action"], "subscribe");
    let id = response["subscriptionId"].clone();
    assert!(id.is_string(), "{response}");
    server.publish("Vehicle.Speed", Value::Float(10.0));
    let event = client.event(&id).await;
    assert_eq!(event["data"]["path"], "Vehicle.Speed");
    assert_eq!(event["data"]["dp"]["value"], "10");
    assert!(is_rfc3339(&event["ts"]));
    let response = client
        .request(json!({"action": "unsubscribe", "subscriptionId": id}))
        .await;
    assert!(response.get("error").is_none(), "{response}");
    let response = client
        .request(json!({"action": "unsubscribe", "subscriptionId": id}))
        .await;
    assert_error(&response, "404", "unavailable_data");
}

#[tokio::test]
async fn timebased_sends_the_latest_values_every_period() {
    let server = Server::start(true).await;
    server.publish("Vehicle.Speed", Value::Float(7.0));
    let mut client = server.connect(None).await;
    let response = client
        .request(json!({"action": "subscribe", "path": "Vehicle.Speed",
            "filter": {"variant": "timebased", "parameter": {"period": "50"}}}))
        .await;
    let id = response["subscriptionId"].clone();
    for _ in 0..3 {
        let event = client.event(&id).await;
        assert_eq!(event["data"]["dp"]["value"], "7");
    }
}

#[tokio::test]
async fn range_sends_only_values_inside_the_range() {
    let server = Server::start(true).await;
    let mut client = server.connect(None).await;
    let response = client
        .request(json!({"action": "subscribe", "path": "Vehicle.Speed",
            "filter": {"variant": "range", "parameter": [{"logic-op": "gt", "boundary": "49"}, {"logic-op": "lt", "boundary": "51"}]}}))
        .await;
    let id = response["subscriptionId"].clone();
    for v in [10.0, 50.0, 60.0, 50.5] {
        server.publish("Vehicle.Speed", Value::Float(v));
    }
    assert_eq!(client.event(&id).await["data"]["dp"]["value"], "50");
    assert_eq!(client.event(&id).await["data"]["dp"]["value"], "50.5");
}

#[tokio::test]
async fn change_sends_values_that_moved_by_more_than_diff() {
    let server = Server::start(true).await;
    let mut client = server.connect(None).await;
    let response = client
        .request(json!({"action": "subscribe", "path": "Vehicle.Speed",
            "filter": [{"variant": "change", "parameter": {"logic-op": "gt", "diff": "10"}}]}))
        .await;
    let id = response["subscriptionId"].clone();
    for v in [0.0, 5.0, 11.0, 15.0, 30.0] {
        server.publish("Vehicle.Speed", Value::Float(v));
    }
    assert_eq!(client.event(&id).await["data"]["dp"]["value"], "0");
    assert_eq!(client.event(&id).await["data"]["dp"]["value"], "11");
    assert_eq!(client.event(&id).await["data"]["dp"]["value"], "30");
}

#[tokio::test]
async fn curvelog_sends_the_kept_points_when_the_buffer_is_full() {
    let server = Server::start(true).await;
    let mut client = server.connect(None).await;
    let response = client
        .request(json!({"action": "subscribe", "path": "Vehicle.Speed",
            "filter": {"variant": "curvelog", "parameter": {"maxerr": "0.5", "bufsize": "3"}}}))
        .await;
    let id = response["subscriptionId"].clone();
    // A zigzag: every point is a corner, whatever the timestamps.
    for v in [0.0, 10.0, 0.0, 10.0, 0.0, 10.0, 0.0] {
        server.publish("Vehicle.Speed", Value::Float(v));
    }
    let event = client.event(&id).await;
    let values: Vec<&str> = event["data"]["dp"]
        .as_array()
        .unwrap()
        .iter()
        .map(|dp| dp["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["0", "10", "0"]);
    let event = client.event(&id).await;
    assert_eq!(event["data"]["dp"].as_array().unwrap().len(), 3);
    // Curve logging needs numbers.
    let response = client
        .request(
            json!({"action": "subscribe", "path": "Vehicle.VehicleIdentification.VIN",
            "filter": {"variant": "curvelog", "parameter": {"maxerr": "0.5", "bufsize": "3"}}}),
        )
        .await;
    assert_error(&response, "400", "bad_request");
}

#[tokio::test]
async fn history_answers_a_time_window() {
    let server = Server::start(true).await;
    for v in [1.0, 2.0, 3.0] {
        server.publish("Vehicle.Speed", Value::Float(v));
    }
    let mut client = server.connect(None).await;
    let request = json!({"action": "get", "path": "Vehicle.Speed",
        "filter": {"variant": "history", "parameter": "PT1H"}});
    // The history feed records asynchronously: ask until all three are there.
    let response = loop {
        let response = client.request(request.clone()).await;
        if response["data"]["dp"]
            .as_array()
            .is_some_and(|dp| dp.len() == 3)
        {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let values: Vec<&str> = response["data"]["dp"]
        .as_array()
        .unwrap()
        .iter()
        .map(|dp| dp["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["1", "2", "3"]);
    assert!(is_rfc3339(&response["data"]["dp"][0]["ts"]));
    // Over HTTP too.
    let http: Json = reqwest::get(server.url(
        "/Vehicle/Speed?filter=%7B%22variant%22%3A%22history%22%2C%22parameter%22%3A%22PT10M%22%7D",
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(http["data"]["dp"].as_array().unwrap().len(), 3, "{http}");
    // A signal that is not recorded, a bad duration.
    let response = client
        .request(json!({"action": "get", "path": "Vehicle.TraveledDistance",
            "filter": {"variant": "history", "parameter": "PT1H"}}))
        .await;
    assert_error(&response, "404", "unavailable_data");
    let response = client
        .request(json!({"action": "get", "path": "Vehicle.Speed",
            "filter": {"variant": "history", "parameter": "an hour"}}))
        .await;
    assert_error(&response, "400", "bad_request");
}

#[tokio::test]
async fn bad_requests_get_the_standard_errors() {
    let server = Server::start(false).await;
    let token = server.full_token();
    let mut client = server.connect(None).await;
    let response = client
        .request(json!({"action": "get", "path": "Vehicle.Nope", "authorization": token}))
        .await;
    assert_error(&response, "404", "invalid_path");
    let response = client
        .request(
            json!({"action": "get", "path": "Vehicle.Speed", "authorization": token,
            "filter": {"variant": "bogus", "parameter": "x"}}),
        )
        .await;
    assert_error(&response, "400", "bad_request");
    let response = client
        .request(
            json!({"action": "get", "path": "Vehicle.Speed", "authorization": token,
            "filter": {"variant": "timebased", "parameter": {"period": "100"}}}),
        )
        .await;
    assert_error(&response, "400", "bad_request");
    let response = client
        .request(json!({"action": "fly", "path": "Vehicle.Speed"}))
        .await;
    assert_error(&response, "400", "bad_request");
    let response = client
        .request(json!({"action": "get", "path": "Vehicle.Speed"}))
        .await;
    assert_error(&response, "401", "missing_token");
    let expired = server
        .issuer
        .issue_at(
            "test",
            "read:Vehicle",
            SystemTime::now() - Duration::from_secs(7200),
            Duration::from_secs(3600),
        )
        .unwrap();
    let response = client
        .request(json!({"action": "get", "path": "Vehicle.Speed", "authorization": expired}))
        .await;
    assert_error(&response, "401", "expired_token");
    let response = client
        .request(
            json!({"action": "subscribe", "path": "Vehicle.Speed", "authorization": "not.a.token"}),
        )
        .await;
    assert_error(&response, "401", "invalid_token");
    let cabin_only = server.token("read:Vehicle.Cabin");
    let response = client
        .request(json!({"action": "get", "path": "Vehicle.Speed", "authorization": cabin_only}))
        .await;
    assert_error(&response, "403", "forbidden_request");
    let response = client
        .request(json!({"action": "set", "path": "Vehicle.Body.Trunk.Rear.IsOpen", "value": "true", "authorization": cabin_only}))
        .await;
    assert_error(&response, "403", "forbidden_request");
    // Not JSON: an error without a requestId.
    client
        .socket
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    loop {
        let response = client.receive().await;
        if response.get("requestId").is_none() {
            assert_error(&response, "400", "bad_request");
            break;
        }
    }
    // Every request was reported for metrics, by method and status.
    let calls = server.calls.lock().unwrap().clone();
    for expected in [
        ("ws get", "404"),
        ("ws get", "400"),
        ("ws invalid", "400"),
        ("ws get", "401"),
        ("ws subscribe", "401"),
        ("ws get", "403"),
        ("ws set", "403"),
    ] {
        assert!(calls.contains(&expected), "{expected:?} not in {calls:?}");
    }
    assert_eq!(
        calls.iter().filter(|(m, _)| *m == "ws invalid").count(),
        2,
        "{calls:?}"
    );
}

#[tokio::test]
async fn a_subscription_ends_when_its_token_expires() {
    let server = Server::start(false).await;
    let token = server
        .issuer
        .issue("test", "read:Vehicle", Duration::from_secs(2))
        .unwrap();
    let mut client = server.connect(None).await;
    let response = client
        .request(json!({"action": "subscribe", "path": "Vehicle.Speed", "authorization": token}))
        .await;
    if response.get("error").is_some() {
        // The machine was slow enough for the token to expire first.
        assert_error(&response, "401", "expired_token");
        return;
    }
    let id = response["subscriptionId"].clone();
    loop {
        let event = client.event(&id).await;
        if event.get("error").is_some() {
            assert_error(&event, "401", "expired_token");
            break;
        }
    }
}

#[tokio::test]
async fn http_get_and_post_with_bearer_tokens() {
    let server = Server::start(false).await;
    server.publish("Vehicle.Speed", Value::Float(88.0));
    let token = server.full_token();
    let http = reqwest::Client::new();
    let response = http
        .get(server.url("/Vehicle/Speed"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Json = response.json().await.unwrap();
    assert_eq!(body["data"]["dp"]["value"], "88");
    assert!(is_rfc3339(&body["ts"]));
    let response = http
        .get(server.url("/Vehicle.Cabin.Door"))
        .query(&[("filter", r#"{"variant":"paths","parameter":"*/*/IsOpen"}"#)])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let body: Json = response.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 4, "{body}");
    let response = http.get(server.url("/Vehicle/Speed")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let body: Json = response.json().await.unwrap();
    assert_error(&body, "401", "missing_token");
    let response = http
        .get(server.url("/Vehicle/Nope"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = http
        .get(server.url("/Vehicle/Speed?filter=nope"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = http
        .post(server.url("/Vehicle/Speed"))
        .bearer_auth(&token)
        .json(&json!({"value": "12"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Json = response.json().await.unwrap();
    assert_error(&body, "400", "invalid_data");
    let all = Permissions::allow_all();
    let trunk = server
        .broker
        .resolve_path("Vehicle.Body.Trunk.Rear.IsOpen")
        .unwrap();
    let mut provider = server.broker.open_provider();
    provider.claim(&all, &[trunk]).unwrap();
    let response = http
        .post(server.url("/Vehicle/Body/Trunk/Rear/IsOpen"))
        .bearer_auth(&token)
        .json(&json!({"value": "true"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request = provider.next().await.unwrap();
    assert_eq!(request.targets, vec![(trunk, Value::Bool(true))]);
    // A body over the limit.
    let response = http
        .post(server.url("/Vehicle/Body/Trunk/Rear/IsOpen"))
        .bearer_auth(&token)
        .body(vec![b' '; tomoe_viss::MAX_MESSAGE_BYTES + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let calls = server.calls.lock().unwrap().clone();
    for expected in [
        ("http get", "200"),
        ("http get", "401"),
        ("http get", "404"),
        ("http get", "400"),
        ("http set", "400"),
        ("http set", "200"),
        ("http set", "413"),
    ] {
        assert!(calls.contains(&expected), "{expected:?} not in {calls:?}");
    }
}

#[tokio::test]
async fn subscriptions_per_connection_are_bounded() {
    let server = Server::start(true).await;
    let mut client = server.connect(None).await;
    for _ in 0..tomoe_viss::MAX_SUBSCRIPTIONS_PER_CONNECTION {
        let response = client
            .request(json!({"action": "subscribe", "path": "Vehicle.Speed"}))
            .await;
        assert!(response["subscriptionId"].is_string(), "{response}");
    }
    let response = client
        .request(json!({"action": "subscribe", "path": "Vehicle.Speed"}))
        .await;
    assert_error(&response, "503", "service_unavailable");
}

#[tokio::test]
async fn without_keys_only_loopback_pages_may_open_a_websocket() {
    let server = Server::start(true).await;
    for (origin, allowed) in [
        ("http://127.0.0.1:8080", true),
        ("http://localhost:8080", true),
        ("https://evil.example", false),
        ("http://127.0.0.1.evil.example", false),
    ] {
        let mut request = format!("ws://{}/", server.address)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        let result = tokio_tungstenite::connect_async(request).await;
        assert_eq!(result.is_ok(), allowed, "{origin}");
    }
}
