//! The SOVD API over real HTTP: discovery, data, faults with locks, operations,
//! authorization and bad requests.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value as Json};
use tomoe_broker::{Broker, BrokerConfig, Permissions};
use tomoe_diag::{DiagnosticsSpec, FaultMemory, RuleSet};
use tomoe_sovd::{AccessPolicy, BusInfo, SovdConfig, VehicleInfo};
use tomoe_types::VehicleMode;
use tomoe_vss::Value;

const KONA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../profiles/hyundai-kona-ev-2019/diagnostics.toml"
);

struct Server {
    url: String,
    broker: Broker,
    _dir: tempfile::TempDir,
    _mode: tokio::sync::watch::Sender<VehicleMode>,
}

async fn start(access: AccessPolicy) -> Server {
    start_with(access, None).await
}

async fn start_with(
    access: AccessPolicy,
    battery: Option<Arc<dyn tomoe_sovd::BatteryService>>,
) -> Server {
    let catalog = tomoe_vss::default_catalog().unwrap();
    let broker = Broker::new(catalog, BrokerConfig::default(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let memory = FaultMemory::open(dir.path()).unwrap();
    let diagnostics = DiagnosticsSpec::read(std::path::Path::new(KONA)).unwrap();
    let rules = RuleSet::new(&diagnostics, broker.catalog()).unwrap();
    tokio::spawn(tomoe_diag::run_rules(
        rules,
        broker.clone(),
        Permissions::allow_all(),
        memory.clone(),
    ));
    tokio::spawn(tomoe_diag::publish_dtc_list(
        broker.clone(),
        Permissions::allow_all(),
        memory.clone(),
    ));
    let (mode_sender, mode) = tokio::sync::watch::channel(VehicleMode::Parked);
    let router = tomoe_sovd::router(SovdConfig {
        broker: broker.clone(),
        memory,
        diagnostics,
        buses: vec![BusInfo {
            name: "pcan".into(),
            channel: "can0".into(),
            dbc: "pcan.dbc".into(),
        }],
        can: tomoe_diag::CanStats::default(),
        vehicle: VehicleInfo::default(),
        runtime: None,
        updates: None,
        mode,
        access,
        battery,
    });
    Server {
        url: format!("{}/sovd/v1", tomoe_test_support::http::serve(router).await),
        broker,
        _dir: dir,
        _mode: mode_sender,
    }
}

fn dev() -> AccessPolicy {
    AccessPolicy {
        verifiers: Vec::new(),
        anonymous: true,
    }
}

async fn get(client: &Client, url: &str) -> (StatusCode, Json) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Json::Null))
}

fn assert_problem(response: &reqwest::Response, status: StatusCode) {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn discovery_lists_ecus_buses_and_the_platform() {
    let server = start(dev()).await;
    let client = Client::new();
    let (status, components) = get(&client, &format!("{}/components", server.url)).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = components["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for id in [
        "bms",
        "vcu",
        "ieb",
        "igpm",
        "can-pcan",
        "broker",
        "runtime",
        "update-agent",
        "can-feeder",
        "store",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let (_, bms) = get(&client, &format!("{}/components/bms", server.url)).await;
    assert_eq!(bms["name"], "Battery management system");
    assert_eq!(bms["faults"], "/sovd/v1/components/bms/faults");
    assert_eq!(bms["belongs-to"], "/sovd/v1/components/bms/belongs-to");
    let (_, areas) = get(
        &client,
        &format!("{}/components/bms/belongs-to", server.url),
    )
    .await;
    assert_eq!(areas["items"][0]["id"], "powertrain");
    let (_, contains) = get(&client, &format!("{}/areas/platform/contains", server.url)).await;
    assert_eq!(contains["items"].as_array().unwrap().len(), 5);
    let (_, functions) = get(
        &client,
        &format!("{}/functions/charging/depends-on", server.url),
    )
    .await;
    assert_eq!(functions["items"].as_array().unwrap().len(), 2);
    let (_, schema) = get(
        &client,
        &format!("{}/components?include-schema=true", server.url),
    )
    .await;
    assert!(schema["schema"].is_object(), "{schema}");

    let response = client
        .get(format!("{}/components/nope", server.url))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::NOT_FOUND);
    let problem: Json = response.json().await.unwrap();
    assert_eq!(problem["error_code"], "vendor-specific");
    assert_eq!(problem["vendor_code"], "not-found");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("components/nope"),
        "{problem}"
    );
    let response = client
        .get(format!("{}/nope/x", server.url))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::BAD_REQUEST);
    let response = client
        .patch(format!("{}/components", server.url))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_rule_raises_a_fault_with_its_freeze_frame_and_a_lock_guards_its_clearing() {
    let server = start(dev()).await;
    let client = Client::new();
    let catalog = server.broker.catalog();
    let leaf = |path: &str| catalog.leaf(path).unwrap().id;
    server
        .broker
        .publish(
            &Permissions::allow_all(),
            &[
                (leaf("Vehicle.Speed"), Some(Value::Float(88.0))),
                (
                    leaf("Vehicle.Powertrain.TractionBattery.Temperature.Max"),
                    Some(Value::Float(61.5)),
                ),
            ],
        )
        .unwrap();
    let (status, value) = get(
        &client,
        &format!(
            "{}/components/bms/data/Vehicle.Powertrain.TractionBattery.Temperature.Max",
            server.url
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value["data"], json!(61.5));

    // The rule debounces for 1 s.
    let faults_url = format!("{}/components/bms/faults", server.url);
    let mut faults = Json::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        faults = get(&client, &faults_url).await.1;
        if !faults["items"].as_array().unwrap().is_empty() {
            break;
        }
    }
    let fault = &faults["items"][0];
    assert_eq!(fault["code"], "P0A7E");
    assert_eq!(fault["severity"], 1);
    assert_eq!(fault["status"]["confirmedDTC"], "1");
    assert_eq!(fault["status"]["mask"], "0xAF");
    assert_eq!(fault["status"]["aggregatedStatus"], "active");
    let (_, filtered) = get(&client, &format!("{faults_url}?status[pendingDTC]=0")).await;
    assert!(filtered["items"].as_array().unwrap().is_empty());
    let (_, filtered) = get(
        &client,
        &format!("{faults_url}?status[mask]=0x08&severity=1"),
    )
    .await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    let response = client
        .get(format!("{faults_url}?status[bogus]=1"))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::BAD_REQUEST);

    let (_, details) = get(&client, &format!("{faults_url}/P0A7E")).await;
    let snapshot = &details["environment_data"]["snapshots"]["data"]["1"]["values"];
    assert_eq!(snapshot["Vehicle.Speed"], json!(88.0));
    assert_eq!(
        details["environment_data"]["extended_data_records"]["data"]["occurrence_counter"],
        1
    );
    // The DTC list follows the memory.
    let dtc = || {
        server
            .broker
            .get(
                &Permissions::allow_all(),
                &[leaf("Vehicle.OBD.DTCList")],
                tomoe_broker::Field::Current,
            )
            .unwrap()
            .remove(0)
            .value
    };
    assert_eq!(dtc(), Some(Value::StringArray(vec!["P0A7E".into()])));

    // Clearing needs a lock; another client's lock refuses it.
    let response = client.delete(&faults_url).send().await.unwrap();
    assert_problem(&response, StatusCode::CONFLICT);
    let locks_url = format!("{}/components/bms/locks", server.url);
    let response = client
        .post(&locks_url)
        .header("x-sovd-client", "workshop-a")
        .json(&json!({"lock_expiration": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let lock: Json = response.json().await.unwrap();
    assert!(location.ends_with(lock["id"].as_str().unwrap()));
    let response = client
        .post(&locks_url)
        .header("x-sovd-client", "workshop-b")
        .json(&json!({"lock_expiration": 60}))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::CONFLICT);
    let response = client
        .delete(format!("{faults_url}/P0A7E"))
        .header("x-sovd-client", "workshop-b")
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::CONFLICT);
    let response = client
        .delete(format!("{faults_url}/P0A7E"))
        .header("x-sovd-client", "workshop-a")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(get(&client, &faults_url).await.1["items"]
        .as_array()
        .unwrap()
        .is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(dtc(), Some(Value::StringArray(Vec::new())));
}

async fn run_operation(client: &Client, url: &str, body: Json) -> Json {
    let response = client.post(url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let base = url.split("/sovd/v1").next().unwrap();
    for _ in 0..100 {
        let (_, status) = get(client, &format!("{base}{location}")).await;
        if status["status"] != "running" {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the execution did not finish");
}

#[tokio::test]
async fn operations_run_as_executions() {
    let server = start(dev()).await;
    let client = Client::new();
    let (_, operations) = get(
        &client,
        &format!("{}/components/broker/operations", server.url),
    )
    .await;
    let ids: Vec<&str> = operations["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["clear-fault-memory", "self-test"]);
    let result = run_operation(
        &client,
        &format!(
            "{}/components/broker/operations/self-test/executions",
            server.url
        ),
        json!({}),
    )
    .await;
    assert_eq!(result["status"], "completed", "{result}");
    assert!(
        result["parameters"]["round_trip_us"].as_u64().is_some(),
        "{result}"
    );
    let result = run_operation(
        &client,
        &format!(
            "{}/components/bms/operations/clear-fault-memory/executions",
            server.url
        ),
        json!({"parameters": {"all": true}}),
    )
    .await;
    assert_eq!(result["status"], "completed", "{result}");
    let response = client
        .post(format!(
            "{}/components/bms/operations/self-test/executions",
            server.url
        ))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::NOT_FOUND);
    let response = client
        .post(format!(
            "{}/components/bms/operations/clear-fault-memory/executions",
            server.url
        ))
        .json(&json!({"timeout": 100000}))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bad_bodies_get_problems() {
    let server = start(dev()).await;
    let client = Client::new();
    let locks_url = format!("{}/components/bms/locks", server.url);
    for (body, status) in [
        ("{".to_owned(), StatusCode::BAD_REQUEST),
        (
            "{\"lock_expiration\": -1}".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "{\"lock_expiration\": 99999}".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "{\"lock_expiration\": 5, \"x\": 1}".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)),
            StatusCode::BAD_REQUEST,
        ),
        ("x".repeat(100_000), StatusCode::PAYLOAD_TOO_LARGE),
    ] {
        let response = client
            .post(&locks_url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(&response, status);
    }
    // Writing a sensor is refused; an actuator without a provider too.
    let response = client
        .put(format!(
            "{}/components/bms/data/Vehicle.Powertrain.TractionBattery.Temperature.Max",
            server.url
        ))
        .json(&json!({"data": 1.0}))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::CONFLICT);
}

#[tokio::test]
async fn tokens_need_the_diag_scopes() {
    let issuer = tomoe_auth::TokenIssuer::generate();
    let server = start(AccessPolicy {
        verifiers: vec![Arc::new(issuer.verifier())],
        anonymous: false,
    })
    .await;
    let client = Client::new();
    let url = format!("{}/components/bms/faults", server.url);
    let response = client.get(&url).send().await.unwrap();
    assert_problem(&response, StatusCode::UNAUTHORIZED);
    let token = |scope: &str| {
        issuer
            .issue("tester", scope, Duration::from_secs(60))
            .unwrap()
    };
    let response = client
        .get(&url)
        .bearer_auth(token("read:Vehicle"))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::FORBIDDEN);
    let response = client
        .get(&url)
        .bearer_auth(token("diag"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = client
        .delete(&url)
        .bearer_auth(token("diag"))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::FORBIDDEN);
    let response = client
        .post(format!("{}/components/bms/locks", server.url))
        .bearer_auth(token("diag diag:write"))
        .json(&json!({"lock_expiration": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = client
        .delete(&url)
        .bearer_auth(token("diag diag:write"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // Reading a signal needs the broker's read permission as well.
    let data = format!(
        "{}/components/bms/data/Vehicle.Powertrain.TractionBattery.CurrentVoltage",
        server.url
    );
    let response = client
        .get(&data)
        .bearer_auth(token("diag"))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::FORBIDDEN);
    let response = client
        .get(&data)
        .bearer_auth(token("diag read:Vehicle.Powertrain"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// A battery service that fits every pack but `misfit`, remembering the swaps.
#[derive(Default)]
struct Workshop {
    swaps: std::sync::Mutex<Vec<(String, Option<f64>, String)>>,
}

impl tomoe_sovd::BatteryService for Workshop {
    fn check(&self, pack: &str) -> Result<Json, tomoe_sovd::BatterySwapError> {
        match pack {
            "not-a-pack" => Err(tomoe_sovd::BatterySwapError::BadInput(
                "part \"not-a-pack\" is a charger, not a battery pack".into(),
            )),
            _ => Ok(json!({"pack": pack, "fits": pack != "misfit"})),
        }
    }

    fn swap(
        &self,
        pack: &str,
        soc: Option<f64>,
        who: &str,
    ) -> Result<Json, tomoe_sovd::BatterySwapError> {
        let verdict = self.check(pack)?;
        if verdict["fits"] == false {
            return Err(tomoe_sovd::BatterySwapError::Refused {
                message: "misfit does not fit: mounting".into(),
                verdict,
            });
        }
        self.swaps
            .lock()
            .unwrap()
            .push((pack.to_owned(), soc, who.to_owned()));
        Ok(verdict)
    }
}

#[tokio::test]
async fn battery_swap_is_an_operation_of_the_bms_held_to_diag_write() {
    let issuer = tomoe_auth::TokenIssuer::generate();
    let workshop = Arc::new(Workshop::default());
    let server = start_with(
        AccessPolicy {
            verifiers: vec![Arc::new(issuer.verifier())],
            anonymous: false,
        },
        Some(workshop.clone()),
    )
    .await;
    let client = Client::new();
    let token = |scope: &str| {
        issuer
            .issue("mechanic", scope, Duration::from_secs(60))
            .unwrap()
    };
    let operations: Json = client
        .get(format!("{}/components/bms/operations", server.url))
        .bearer_auth(token("diag"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(operations["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|op| op["id"] == "battery-swap"));
    let vcu: Json = client
        .get(format!("{}/components/vcu/operations", server.url))
        .bearer_auth(token("diag"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!vcu.to_string().contains("battery-swap"), "{vcu}");

    let url = format!(
        "{}/components/bms/operations/battery-swap/executions",
        server.url
    );
    let body = json!({"parameters": {"pack": "kia-e-niro-64kwh", "soc": 40}});
    let response = client
        .post(&url)
        .bearer_auth(token("diag"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::FORBIDDEN);
    let response = client
        .post(&url)
        .bearer_auth(token("diag diag:write"))
        .json(&json!({"parameters": {"pack": "not-a-pack"}}))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::BAD_REQUEST);
    assert!(workshop.swaps.lock().unwrap().is_empty());

    let run = |body: Json| {
        let (client, url, token) = (client.clone(), url.clone(), token("diag diag:write"));
        async move {
            let response = client
                .post(&url)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            let id = response.json::<Json>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            loop {
                let status: Json = client
                    .get(format!("{url}/{id}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if status["status"] != "running" {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let status = run(body).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["parameters"]["fits"], true);
    assert_eq!(
        *workshop.swaps.lock().unwrap(),
        [(
            "kia-e-niro-64kwh".to_owned(),
            Some(40.0),
            "token:mechanic".to_owned()
        )]
    );
    let status = run(json!({"parameters": {"pack": "misfit"}})).await;
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["parameters"]["fits"], false);
    assert_eq!(
        status["error"][0]["error"]["message"],
        "misfit does not fit: mounting"
    );
    let status = run(json!({"parameters": {"pack": "misfit", "check_only": true}})).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["parameters"]["fits"], false);
    assert_eq!(workshop.swaps.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_lists_problems() {
    let document = serde_json::to_value(tomoe_sovd::openapi()).unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let faults = &document["paths"]["/sovd/v1/{collection}/{entity_id}/faults"];
    assert!(faults["get"]["responses"]["200"].is_object());
    assert!(
        faults["delete"]["responses"]["409"]["content"]["application/problem+json"].is_object()
    );
    // Every reference resolves.
    fn refs(value: &Json, out: &mut Vec<String>) {
        match value {
            Json::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", Json::String(target)) => out.push(target.clone()),
                        _ => refs(value, out),
                    }
                }
            }
            Json::Array(items) => items.iter().for_each(|item| refs(item, out)),
            _ => {}
        }
    }
    let mut targets = Vec::new();
    refs(&document, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let name = target.trim_start_matches("#/components/schemas/");
        assert!(
            document["components"]["schemas"][name].is_object(),
            "unresolved reference {target}"
        );
    }
    let server = start(dev()).await;
    let (status, served) = get(&Client::new(), &format!("{}/docs", server.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served, document);
}

#[tokio::test]
async fn an_actuator_is_written_through_the_broker_by_the_lock_holder() {
    let server = start(dev()).await;
    let client = Client::new();
    let path = "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit";
    let leaf = server.broker.catalog().leaf(path).unwrap().id;
    let url = format!("{}/components/bms/data/{path}", server.url);
    // No provider yet, no lock: refused.
    let response = client
        .put(&url)
        .json(&json!({"data": 80}))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::CONFLICT);
    let mut provider = server.broker.open_provider();
    provider.claim(&Permissions::allow_all(), &[leaf]).unwrap();
    client
        .post(format!("{}/components/bms/locks", server.url))
        .json(&json!({"lock_expiration": 30}))
        .send()
        .await
        .unwrap();
    for (body, status) in [
        (json!({"data": 101}), StatusCode::BAD_REQUEST),
        (json!({"data": "eighty"}), StatusCode::BAD_REQUEST),
        (json!({"value": 80}), StatusCode::BAD_REQUEST),
    ] {
        let response = client.put(&url).json(&body).send().await.unwrap();
        assert_problem(&response, status);
    }
    let response = client
        .put(&url)
        .json(&json!({"data": 80}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let request = tokio::time::timeout(Duration::from_secs(2), provider.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.targets, vec![(leaf, Value::Uint32(80))]);
}

#[tokio::test]
async fn modes_the_session_follows_the_lock_and_the_vehicle_mode_is_read_only() {
    let server = start(dev()).await;
    let client = Client::new();
    let modes = format!("{}/components/vcu/modes", server.url);
    let (_, vehicle) = get(&client, &format!("{modes}/vehicle")).await;
    assert_eq!(vehicle["value"], "PARKED");
    let response = client
        .put(format!("{modes}/vehicle"))
        .json(&json!({"value": "DRIVING"}))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::CONFLICT);
    let session = format!("{modes}/session");
    let response = client
        .put(&session)
        .json(&json!({"value": "EXTENDED"}))
        .send()
        .await
        .unwrap();
    assert_problem(&response, StatusCode::CONFLICT);
    let lock: Json = client
        .post(format!("{}/components/vcu/locks", server.url))
        .json(&json!({"lock_expiration": 30}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = client
        .put(&session)
        .json(&json!({"value": "extended"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(get(&client, &session).await.1["value"], "EXTENDED");
    let response = client
        .delete(format!(
            "{}/components/vcu/locks/{}",
            server.url,
            lock["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(get(&client, &session).await.1["value"], "DEFAULT");
}

#[tokio::test]
async fn a_cyclic_subscription_streams_server_sent_events_until_it_ends() {
    let server = start(dev()).await;
    let client = Client::new();
    let soc = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current";
    let leaf = server.broker.catalog().leaf(soc).unwrap().id;
    server
        .broker
        .publish(
            &Permissions::allow_all(),
            &[(leaf, Some(Value::Float(55.5)))],
        )
        .unwrap();
    let subscriptions = format!("{}/components/bms/cyclic-subscriptions", server.url);
    let response = client
        .post(&subscriptions)
        .json(&json!({"resource": format!("data/{soc}"), "interval": "fast", "duration": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let subscription: Json = response.json().await.unwrap();
    assert_eq!(
        subscription["observed_resource"],
        format!("/sovd/v1/components/bms/data/{soc}")
    );
    let base = server.url.trim_end_matches("/sovd/v1");
    let response = client
        .get(format!(
            "{base}{}",
            subscription["event_source"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    // The stream ends by itself after the 1 s duration.
    let body = tokio::time::timeout(Duration::from_secs(5), response.text())
        .await
        .expect("the stream ends when the subscription does")
        .unwrap();
    let events: Vec<Json> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|data| serde_json::from_str(data.trim()).unwrap())
        .collect();
    assert!(events.len() >= 3, "{body}");
    assert_eq!(events[0]["payload"]["data"], json!(55.5));
    assert!(events[0]["timestamp"].as_str().unwrap().ends_with('Z'));
    for (body, expected) in [
        (
            json!({"resource": "logs", "interval": "fast", "duration": 1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"resource": "faults", "interval": "often", "duration": 1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"resource": "faults", "interval": "slow", "duration": 0}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"resource": "data/Vehicle.Nope", "interval": "slow", "duration": 5}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let response = client
            .post(&subscriptions)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(&response, expected);
    }
}
