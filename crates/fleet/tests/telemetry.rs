//! Telemetry against a real PostgreSQL server: only what each vehicle's policy
//! selects is stored, by day, and read back latest, by window and by model.

mod support;

use chrono::{Duration, Utc};
use serde_json::json;
use tomoe_fleet::{Fleet, TelemetrySample};
use tomoe_test_support::PostgresServer;

const POLICY: &str = "[[signal]]\npaths = [\"Vehicle.Speed\", \"Vehicle.Powertrain.TractionBattery.StateOfCharge.*\"]\nmin_interval_ms = 1000\n";
const SOC: &str = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed";

fn sample(
    vehicle: &str,
    path: &str,
    minutes_ago: i64,
    value: serde_json::Value,
) -> TelemetrySample {
    TelemetrySample {
        vehicle: vehicle.into(),
        path: path.into(),
        at: Utc::now() - Duration::minutes(minutes_ago),
        value,
    }
}

async fn rows(fleet: &Fleet) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM telemetry")
        .fetch_one(fleet.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn only_what_the_policy_selects_is_stored_and_read_back() {
    let Some(server) = PostgresServer::start() else {
        return;
    };
    let fleet = Fleet::connect(&server.create_database()).await.unwrap();
    for (id, brand, model) in [
        ("leaf-1", "Nissan", "Leaf"),
        ("leaf-2", "Nissan", "Leaf"),
        ("e-1", "Honda", "e"),
        ("e-2", "Honda", "e"),
    ] {
        support::register(&fleet, id, brand, model).await;
    }
    for id in ["leaf-1", "leaf-2", "e-1"] {
        fleet.set_telemetry_policy(id, POLICY).await.unwrap();
    }
    // A policy that does not parse, or for nobody, is refused.
    let error = fleet
        .set_telemetry_policy("leaf-1", "[[signal]]\npaths = []\n")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("paths is empty"), "{error}");
    assert!(fleet.set_telemetry_policy("nobody", POLICY).await.is_err());

    let batch = vec![
        sample("leaf-1", SOC, 30, json!(80.0)),
        sample("leaf-1", SOC, 10, json!(70.5)),
        sample("leaf-1", "Vehicle.Speed", 10, json!(42.0)),
        sample("leaf-2", SOC, 5, json!(50.0)),
        sample("e-1", SOC, 5, json!(30.0)),
        // A day and eleven days ago: two more partitions.
        sample("e-1", SOC, 24 * 60, json!(90.0)),
        sample("e-1", SOC, 11 * 24 * 60, json!(95.0)),
        // Refused: outside the policy, no policy, unknown vehicle, too large, from the future.
        sample(
            "leaf-1",
            "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen",
            5,
            json!(true),
        ),
        sample("e-2", SOC, 5, json!(10.0)),
        sample("ghost", SOC, 5, json!(10.0)),
        sample("leaf-1", "Vehicle.Speed", 5, json!("x".repeat(70 * 1024))),
        sample("leaf-1", "Vehicle.Speed", -60, json!(1.0)),
        sample("leaf-1", "Vehicle.Speed", 5, json!({"a\u{0}": [1, "b"]})),
    ];
    let outcome = fleet.ingest_telemetry(&batch).await.unwrap();
    assert_eq!(outcome.stored, 7);
    let reasons: Vec<&str> = outcome.refused.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        outcome.refused.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [7, 8, 9, 10, 11, 12]
    );
    for (reason, expected) in reasons.iter().zip([
        "is not in the telemetry policy of leaf-1",
        "e-2 has no telemetry policy",
        "no vehicle \"ghost\"",
        "more than 65536",
        "ahead of the backend's clock",
        "NUL character",
    ]) {
        assert!(reason.contains(expected), "{expected}: {reason}");
    }
    assert_eq!(rows(&fleet).await, 7);

    let latest = fleet.latest_telemetry("leaf-1").await.unwrap();
    assert_eq!(latest.len(), 2);
    assert_eq!(
        latest.iter().find(|v| v.path == SOC).unwrap().value,
        json!(70.5)
    );
    let window = fleet
        .telemetry_window(
            "leaf-1",
            SOC,
            Utc::now() - Duration::hours(1),
            Utc::now(),
            1000,
        )
        .await
        .unwrap();
    assert_eq!(
        window.iter().map(|p| p.value.clone()).collect::<Vec<_>>(),
        [json!(80.0), json!(70.5)]
    );
    let means = fleet
        .mean_by_model(SOC, Utc::now() - Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(means.len(), 2);
    assert_eq!(
        (means[0].brand.as_str(), means[0].vehicles, means[0].mean),
        ("Honda", 1, 30.0)
    );
    assert_eq!(
        (means[1].brand.as_str(), means[1].vehicles, means[1].mean),
        ("Nissan", 2, 60.25)
    );

    // Retention: a week keeps yesterday, drops eleven days ago.
    let dropped = fleet.drop_old_telemetry(7).await.unwrap();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(rows(&fleet).await, 6);
    // A sample for that day again recreates its partition.
    let again = fleet
        .ingest_telemetry(&[sample("e-1", SOC, 11 * 24 * 60, json!(94.0))])
        .await
        .unwrap();
    assert_eq!(again.stored, 1);
}
