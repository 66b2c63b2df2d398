//! The fleet backend's HTTP API over TCP on loopback, against a real PostgreSQL.

use std::time::Duration;

use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePublicKey};
use ed25519_dalek::SigningKey;
use tomoe_auth::TokenIssuer;
use tomoe_fleet::http::{router, AccessPolicy, HttpConfig};
use tomoe_fleet::Fleet;
use tomoe_test_support::PostgresServer;

async fn serve(fleet: Fleet, issuer: &TokenIssuer) -> String {
    let app = router(
        fleet,
        HttpConfig {
            access: AccessPolicy {
                verifiers: vec![std::sync::Arc::new(issuer.verifier())],
            },
            director: None,
            image_repository: None,
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn registration(id: &str, key: &SigningKey) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "brand": "Nissan",
        "model": "Leaf",
        "profile": "nissan-leaf-2018",
        "primary_key": key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap(),
        "ecus": [{"ecu_id": "central", "hardware_id": "tomoe-cc-1", "is_primary": true}],
        "parts": [{"slot": "traction-battery", "catalog_id": "pack-40kwh-nmc"}],
    })
}

#[tokio::test]
async fn operators_register_and_list_vehicles_as_their_token_allows() {
    let Some(server) = PostgresServer::start() else {
        return;
    };
    let fleet = Fleet::connect(&server.create_database()).await.unwrap();
    let issuer = TokenIssuer::generate();
    let base = serve(fleet, &issuer).await;
    let http = reqwest::Client::new();
    let hour = Duration::from_secs(3600);
    let writer = issuer.issue("factory", "fleet:write", hour).unwrap();
    let reader = issuer.issue("dashboard", "fleet", hour).unwrap();
    let driver = issuer.issue("app", "read:Vehicle.Speed", hour).unwrap();
    let stranger = TokenIssuer::generate()
        .issue("x", "fleet:write", hour)
        .unwrap();
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let vehicles = format!("{base}/fleet/v1/vehicles");

    // Who may register.
    for (token, status) in [
        (None, 401),
        (Some(&stranger), 401),
        (Some(&driver), 403),
        (Some(&reader), 403),
        (Some(&writer), 201),
        (Some(&writer), 409),
    ] {
        let mut request = http.post(&vehicles).json(&registration("leaf-1", &key));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status().as_u16(),
            status,
            "{:?}",
            response.text().await
        );
    }
    // Bad bodies are named, with where.
    for (body, expected) in [
        ("{".to_owned(), "EOF"),
        (
            serde_json::json!({"id": "leaf-2", "brand": 7}).to_string(),
            "brand",
        ),
        (
            {
                let mut r = registration("leaf-2", &key);
                r["ecus"][0]["colour"] = "red".into();
                r.to_string()
            },
            "ecus[0]",
        ),
        (
            {
                let mut r = registration("leaf-2", &key);
                r["primary_key"] = "nope".into();
                r.to_string()
            },
            "primary_key:",
        ),
    ] {
        let response = http
            .post(&vehicles)
            .bearer_auth(&writer)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: serde_json::Value = response.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(expected),
            "{expected}: {problem}"
        );
    }
    let response = http
        .post(&vehicles)
        .bearer_auth(&writer)
        .body(vec![b' '; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);

    // Reading: a reader may, a signal token may not.
    for n in 2..=5 {
        let response = http
            .post(&vehicles)
            .bearer_auth(&writer)
            .json(&registration(
                &format!("leaf-{n}"),
                &SigningKey::generate(&mut rand_core::OsRng),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
    }
    let page: serde_json::Value = http
        .get(format!("{vehicles}?brand=Nissan&limit=2"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["next"], "leaf-2");
    let rest: serde_json::Value = http
        .get(format!("{vehicles}?brand=Nissan&limit=10&after=leaf-2"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 3);
    assert!(rest["next"].is_null());
    for (url, token, status) in [
        (format!("{vehicles}?limit=0"), &reader, 400),
        (format!("{vehicles}?colour=red"), &reader, 400),
        (vehicles.clone(), &driver, 403),
        (format!("{vehicles}/leaf-1"), &reader, 200),
        (format!("{vehicles}/leaf-99"), &reader, 404),
        (format!("{vehicles}/leaf%00"), &reader, 404),
        (format!("{vehicles}?brand=%00"), &reader, 400),
    ] {
        let response = http.get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{url}");
    }
    let leaf: serde_json::Value = http
        .get(format!("{vehicles}/leaf-1"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(leaf["parts"][0]["catalog_id"], "pack-40kwh-nmc");
    assert_eq!(leaf["installed"], serde_json::json!([]));

    // A manifest: the signature is the vehicle's credential; junk is refused.
    let manifest = tomoe_ota::VehicleManifest {
        vin: "leaf-1".into(),
        primary_ecu: "central".into(),
        ecu_version_reports: vec![tomoe_ota::EcuVersionReport {
            ecu_identifier: "central".into(),
            installed_image: tomoe_ota::ImageReport {
                filename: "apps/range-estimator-1.0".into(),
                length: 10,
                hashes: Default::default(),
            },
            release_counter: 1,
            attacks_detected: String::new(),
        }],
        nonce: None,
        timestamp: std::time::SystemTime::now(),
        installation_reports: Vec::new(),
    };
    let body = tomoe_ota::sign_manifest(&manifest, &key)
        .unwrap()
        .to_file_bytes();
    let post = |vin: &str, body: Vec<u8>| {
        http.post(format!("{base}/director/{vin}/manifest"))
            .body(body)
            .send()
    };
    assert_eq!(
        post("leaf-1", body.clone())
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        post("leaf-2", body.clone())
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        post("leaf-99", body.clone())
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        post("leaf-1", b"[]".to_vec())
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    let leaf: serde_json::Value = http
        .get(format!("{vehicles}/leaf-1"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(leaf["installed"][0]["filename"], "apps/range-estimator-1.0");
    assert!(!leaf["last_seen"].is_null());
}

#[tokio::test]
async fn telemetry_queries_refuse_bad_windows_by_name() {
    let Some(server) = PostgresServer::start() else {
        return;
    };
    let fleet = Fleet::connect(&server.create_database()).await.unwrap();
    let issuer = TokenIssuer::generate();
    let base = serve(fleet, &issuer).await;
    let http = reqwest::Client::new();
    let hour = Duration::from_secs(3600);
    let writer = issuer.issue("factory", "fleet:write", hour).unwrap();
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let response = http
        .post(format!("{base}/fleet/v1/vehicles"))
        .bearer_auth(&writer)
        .json(&registration("leaf-1", &key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let telemetry = format!("{base}/fleet/v1/vehicles/leaf-1/telemetry");
    for (query, status, expected) in [
        ("?path=Vehicle.Speed", 200, "[]"),
        ("", 200, "[]"),
        (
            "?path=Vehicle.Speed&until=-262143-01-01T00:00:00Z",
            400,
            "too early",
        ),
        (
            "?path=Vehicle.Speed&since=2030-01-01T00:00:00Z&until=2029-01-01T00:00:00Z",
            400,
            "is after until",
        ),
        ("?path=Vehicle.Speed&limit=0", 400, "limit: 0"),
        ("?path=Vehicle.Speed&since=yesterday", 400, "since"),
        ("?since=2029-01-01T00:00:00Z", 400, "need a path"),
        ("?path=Vehicle.Speed&color=red", 400, "unknown field"),
    ] {
        let response = http
            .get(format!("{telemetry}{query}"))
            .bearer_auth(&writer)
            .send()
            .await
            .unwrap();
        let code = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(code, status, "{query}: {text}");
        assert!(text.contains(expected), "{query}: {text}");
    }
    let response = http
        .get(format!("{base}/fleet/v1/vehicles/nobody/telemetry"))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // A policy that does not parse is refused by name; a good one is taken.
    for (policy, status) in [
        ("[[signal]]\npaths = 7\n", 400),
        ("[[signal]]\npaths = [\"Vehicle.Speed\"]\n", 204),
    ] {
        let response = http
            .put(format!("{base}/fleet/v1/vehicles/leaf-1/telemetry-policy"))
            .bearer_auth(&writer)
            .body(policy)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{policy}");
    }
}
