//! The inventory against a real PostgreSQL server (a throwaway cluster).

use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePublicKey};
use tomoe_fleet::{EcuRecord, Fleet, FleetError, PartRecord, Registration, VehicleFilter};
use tomoe_test_support::PostgresServer;

fn key() -> String {
    ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng)
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

fn registration(id: &str, brand: &str, model: &str, pack: &str) -> Registration {
    Registration {
        id: id.to_owned(),
        brand: brand.to_owned(),
        model: model.to_owned(),
        profile: format!("{}-{}", brand.to_lowercase(), model.to_lowercase()),
        primary_key: key(),
        ecus: vec![
            EcuRecord {
                ecu_id: "central".into(),
                hardware_id: "tomoe-cc-1".into(),
                is_primary: true,
            },
            EcuRecord {
                ecu_id: "zonal".into(),
                hardware_id: format!("{}-zc-2", brand.to_lowercase()),
                is_primary: false,
            },
        ],
        parts: vec![PartRecord {
            slot: "traction-battery".into(),
            catalog_id: pack.into(),
        }],
    }
}

async fn count(fleet: &Fleet, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(fleet.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn vehicles_register_list_and_refuse_what_is_wrong() {
    let Some(server) = PostgresServer::start() else {
        return;
    };
    let url = server.create_database();
    let fleet = Fleet::connect(&url).await.unwrap();
    // Migrations are applied once: connecting again changes nothing.
    let fleet = {
        drop(fleet);
        Fleet::connect(&url).await.unwrap()
    };

    for n in 0..6 {
        let (brand, model, pack) = if n % 2 == 0 {
            ("Nissan", "Leaf", "pack-62kwh-nmc")
        } else {
            ("Honda", "e", "pack-35kwh-nmc")
        };
        fleet
            .register(&registration(&format!("car-{n}"), brand, model, pack))
            .await
            .unwrap();
    }
    let all = fleet
        .vehicles(&VehicleFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 6);
    let leaves = VehicleFilter {
        brand: Some("Nissan".into()),
        ..VehicleFilter::default()
    };
    let ids: Vec<String> = fleet
        .vehicles(&leaves, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(ids, ["car-0", "car-2", "car-4"]);
    // Pages: two at a time, after the last id seen.
    let page = fleet.vehicles(&leaves, Some("car-0"), 2).await.unwrap();
    assert_eq!(
        page.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
        ["car-2", "car-4"]
    );
    for (filter, expected) in [
        (
            VehicleFilter {
                hardware_id: Some("honda-zc-2".into()),
                ..VehicleFilter::default()
            },
            3,
        ),
        (
            VehicleFilter {
                part: Some("pack-62kwh-nmc".into()),
                ..VehicleFilter::default()
            },
            3,
        ),
        (
            VehicleFilter {
                hardware_id: Some("tomoe-cc-1".into()),
                model: Some("e".into()),
                ..VehicleFilter::default()
            },
            3,
        ),
        (
            VehicleFilter {
                brand: Some("Mitsubishi".into()),
                ..VehicleFilter::default()
            },
            0,
        ),
    ] {
        assert_eq!(
            fleet.vehicles(&filter, None, 100).await.unwrap().len(),
            expected,
            "{filter:?}"
        );
    }
    let car = fleet.vehicle("car-1").await.unwrap();
    assert_eq!(car.summary.brand, "Honda");
    assert_eq!(car.ecus.len(), 2);
    assert!(car
        .ecus
        .iter()
        .any(|e| e.is_primary && e.ecu_id == "central"));
    assert_eq!(car.parts[0].catalog_id, "pack-35kwh-nmc");
    assert!(car.summary.last_seen.is_none());
    assert!(matches!(
        fleet.vehicle("car-99").await,
        Err(FleetError::UnknownVehicle(id)) if id == "car-99"
    ));

    // Wrong registrations: refused, naming the field; nothing stored.
    let (vehicles, ecus, parts) = (
        count(&fleet, "vehicles").await,
        count(&fleet, "ecus").await,
        count(&fleet, "parts").await,
    );
    let good = registration("car-new", "Nissan", "Leaf", "pack-62kwh-nmc");
    let cases: Vec<(Registration, &str)> = vec![
        (
            Registration {
                id: "car/1".into(),
                ..good.clone()
            },
            "id:",
        ),
        (
            Registration {
                id: String::new(),
                ..good.clone()
            },
            "id:",
        ),
        (
            Registration {
                brand: "\u{7}".into(),
                ..good.clone()
            },
            "brand:",
        ),
        (
            Registration {
                model: "x".repeat(65),
                ..good.clone()
            },
            "model:",
        ),
        (
            Registration {
                primary_key: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
                ..good.clone()
            },
            "primary_key:",
        ),
        (
            Registration {
                primary_key: "k".repeat(5000),
                ..good.clone()
            },
            "primary_key:",
        ),
        (
            Registration {
                ecus: Vec::new(),
                ..good.clone()
            },
            "ecus:",
        ),
        (
            Registration {
                ecus: vec![good.ecus[0].clone(), good.ecus[0].clone()],
                ..good.clone()
            },
            "ecus[1].ecu_id:",
        ),
        (
            Registration {
                ecus: vec![EcuRecord {
                    is_primary: false,
                    ..good.ecus[0].clone()
                }],
                ..good.clone()
            },
            "0 primary ECUs",
        ),
        (
            Registration {
                parts: vec![good.parts[0].clone(), good.parts[0].clone()],
                ..good.clone()
            },
            "parts[1].slot:",
        ),
        (
            Registration {
                id: "car-0".into(),
                ..good.clone()
            },
            "registered already",
        ),
    ];
    for (registration, expected) in cases {
        let error = fleet.register(&registration).await.unwrap_err();
        assert!(error.to_string().contains(expected), "{expected}: {error}");
    }
    assert_eq!(count(&fleet, "vehicles").await, vehicles);
    assert_eq!(count(&fleet, "ecus").await, ecus);
    assert_eq!(count(&fleet, "parts").await, parts);
    // The original car-0 is untouched by the refused duplicate.
    assert_eq!(
        fleet.vehicle("car-0").await.unwrap().summary.brand,
        "Nissan"
    );
}

#[tokio::test]
async fn an_unreachable_database_is_named_without_its_password() {
    let port = tomoe_test_support::net::closed_port().port();
    let error = Fleet::connect(&format!("postgres://fleet:s3cret@127.0.0.1:{port}/tomoe"))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}
