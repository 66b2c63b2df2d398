//! `tomoe fleet serve` as an operator runs it: against a real PostgreSQL, announcing
//! its URL, serving the operator API to tokens with the fleet scopes.

mod support;

use std::process::{Command, Stdio};

use tomoe_test_support::{PostgresServer, Process, Stop};

#[test]
fn the_fleet_backend_serves_operators_and_names_a_bad_database() {
    let Some(server) = PostgresServer::start() else {
        return;
    };
    let key = support::fixtures().join("jwt/signing.pub");
    let mut command = Command::new(support::tomoe_bin());
    command
        .args(["fleet", "serve", "--address", "127.0.0.1:0", "--database"])
        .arg(server.create_database())
        .arg("--jwt-public-key")
        .arg(&key)
        .stderr(Stdio::piped());
    let (backend, mut urls) =
        Process::spawn_announcing(&mut command, Stop::Terminate, &["tomoe fleet"]);
    let base = urls.remove(0);
    let http = reqwest::blocking::Client::new();
    let writer = support::token("signing.key", "fleet:write", 3600);
    let registration = serde_json::json!({
        "id": "honda-e-1",
        "brand": "Honda",
        "model": "e",
        "profile": "honda-e-2020",
        "primary_key": "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
        "ecus": [{"ecu_id": "central", "hardware_id": "tomoe-cc-1", "is_primary": true}],
    });
    let response = http
        .post(format!("{base}/fleet/v1/vehicles"))
        .bearer_auth(&writer)
        .json(&registration)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 201, "{:?}", response.text());
    let list: serde_json::Value = http
        .get(format!("{base}/fleet/v1/vehicles"))
        .bearer_auth(support::token("signing.key", "fleet", 3600))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list["items"][0]["id"], "honda-e-1");
    let response = http
        .get(format!("{base}/fleet/v1/vehicles"))
        .bearer_auth(support::token("other.key", "fleet", 3600))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    backend.stop();

    // No database there: a clear error, the password never printed, exit code 1.
    let closed = tomoe_test_support::net::closed_port();
    let (code, stdout, stderr) = support::cli(&[
        "fleet",
        "serve",
        "--address",
        "127.0.0.1:0",
        "--database",
        &format!("postgres://fleet:hunter2@{closed}/tomoe"),
        "--jwt-public-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains(&closed.to_string()), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    // Vehicles' Zenoh links are not authenticated yet: no open listener by accident.
    let (code, _, stderr) = support::cli(&[
        "fleet",
        "serve",
        "--database",
        "postgres://fleet@127.0.0.1:1/tomoe",
        "--jwt-public-key",
        key.to_str().unwrap(),
        "--zenoh-listen",
        "tcp/0.0.0.0:7447",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--insecure-zenoh"), "{stderr}");
}
