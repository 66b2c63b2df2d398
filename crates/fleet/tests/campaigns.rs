//! Update campaigns end to end: simulated vehicles of two brands register, check
//! for updates with Uptane full verification against the backend's director and
//! image repository over HTTP, install or roll back, and report signed manifests;
//! the campaign rolls out wave by wave and pauses on its own. Real PostgreSQL.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tomoe_auth::TokenIssuer;
use tomoe_fleet::client::FleetClient;
use tomoe_fleet::http::{router, AccessPolicy, HttpConfig};
use tomoe_fleet::simulate::{fleet_of, SimulatedFleet, SimulatedModel, SimulationConfig};
use tomoe_fleet::{
    CampaignAction, CampaignRequest, CampaignState, Director, DirectorKeys, Fleet, Targeting,
    UpdateStatus,
};
use tomoe_ota::metadata::{RoleName, Signed, Targets};
use tomoe_ota::{RepositoryDir, RepositoryKind, TargetSpec};
use tomoe_test_support::PostgresServer;

const OLD: &str = "range-estimator-1.0";
const NEW: &str = "range-estimator-2.0";

struct Backend {
    url: String,
    fleet: Fleet,
    issuer: TokenIssuer,
    dir: tempfile::TempDir,
    director: Arc<Director>,
    _database: PostgresServer,
}

impl Backend {
    async fn start() -> Option<Backend> {
        let database = PostgresServer::start()?;
        let fleet = Fleet::connect(&database.create_database()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let mut image =
            RepositoryDir::init(&dir.path().join("image"), RepositoryKind::Image, None, now)
                .unwrap();
        for (name, bytes, hardware, release) in [
            (OLD, &b"range estimator 1.0"[..], "tomoe-app", 1),
            (NEW, &b"range estimator 2.0, better"[..], "tomoe-app", 2),
            (
                "brake-controller-3.1",
                &b"brakes"[..],
                "brake-controller",
                3,
            ),
        ] {
            let spec = TargetSpec {
                ecu: None,
                uptane: Some((hardware.into(), release)),
            };
            image.add(name, bytes, &spec, now).unwrap();
        }
        let offline = dir.path().join("director-offline");
        RepositoryDir::init(&offline, RepositoryKind::Director, None, now).unwrap();
        publish_online(&offline, &dir.path().join("director"));
        let director = Arc::new(Director::new(
            DirectorKeys::load(&dir.path().join("director")).unwrap(),
        ));
        let issuer = TokenIssuer::generate();
        let app = router(
            fleet.clone(),
            HttpConfig {
                access: AccessPolicy {
                    verifiers: vec![Arc::new(issuer.verifier())],
                },
                director: Some(director.clone()),
                image_repository: Some(dir.path().join("image")),
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Some(Backend {
            url,
            fleet,
            issuer,
            dir,
            director,
            _database: database,
        })
    }

    fn client(&self, scope: &str) -> FleetClient {
        let token = self
            .issuer
            .issue("operator", scope, Duration::from_secs(3600))
            .unwrap();
        FleetClient::new(&self.url, Some(token)).unwrap()
    }

    fn simulation(&self, check_interval: Duration) -> SimulationConfig {
        SimulationConfig {
            server: self.url.clone(),
            director_root: std::fs::read(self.dir.path().join("director-offline/1.root.json"))
                .unwrap(),
            image_root: std::fs::read(self.dir.path().join("image/1.root.json")).unwrap(),
            app_hardware_id: "tomoe-app".into(),
            installed: Some(OLD.into()),
            check_interval,
            zenoh: None,
        }
    }

    /// The director targets the backend signs for `vehicle` now.
    async fn director_targets(&self, vehicle: &str) -> Targets {
        let http = reqwest::Client::new();
        // The timestamp first, as a vehicle does: it signs what changed.
        let timestamp = http
            .get(format!("{}/director/{vehicle}/timestamp.json", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(timestamp.status(), 200);
        let targets: Signed<Targets> = http
            .get(format!("{}/director/{vehicle}/targets.json", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        targets.signed
    }
}

/// What the server of a director holds: the roots and the online keys, never the root key.
fn publish_online(offline: &Path, online: &Path) {
    std::fs::create_dir_all(online.join("keys")).unwrap();
    for entry in std::fs::read_dir(offline).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with(".root.json") {
            std::fs::copy(&path, online.join(&name)).unwrap();
        }
    }
    for role in ["targets", "snapshot", "timestamp"] {
        let key = format!("keys/{role}.pem");
        std::fs::copy(offline.join(&key), online.join(&key)).unwrap();
    }
}

fn models() -> Vec<SimulatedModel> {
    ["hyundai:kona:hyundai-kona-ev", "nissan:leaf:nissan-leaf"]
        .iter()
        .map(|m| m.parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_then_waves_and_failures_past_the_threshold_pause_the_campaign() {
    let Some(backend) = Backend::start().await else {
        return;
    };
    let operator = backend.client("fleet:write");
    let mut fleet = SimulatedFleet::register(
        backend.simulation(Duration::from_millis(300)),
        operator.clone(),
        fleet_of(50, &models(), "e2e", 0.0, 1),
    )
    .await
    .unwrap();
    let created = operator
        .create_campaign(&CampaignRequest {
            name: "range estimator 2.0 for the Kona".into(),
            image: NEW.into(),
            targeting: Targeting {
                brand: Some("hyundai".into()),
                model: Some("kona".into()),
                ..Targeting::default()
            },
            canary_fraction: 0.2,
            waves: 2,
            failure_threshold: 0.2,
        })
        .await
        .unwrap();
    assert_eq!(created.vehicles, 25, "every Kona, no Leaf");
    assert_eq!(created.counts[&UpdateStatus::Offered], 5, "a 20 % canary");
    assert_eq!(created.counts[&UpdateStatus::Waiting], 20);
    let rows = operator
        .campaign_vehicles(created.id, None, None, 1000)
        .await
        .unwrap()
        .items;
    let wave = |n: u32| -> Vec<String> {
        rows.iter()
            .filter(|r| r.wave == n)
            .map(|r| r.vehicle_id.clone())
            .collect()
    };
    let (canary, first, second) = (wave(0), wave(1), wave(2));
    assert_eq!((canary.len(), first.len(), second.len()), (5, 10, 10));
    // One canary failure (20 %, not past the threshold), then three in the first
    // wave: 4 of 15 (26.7 %) pauses the campaign before the second wave.
    let failing: BTreeSet<String> = canary[..1].iter().chain(&first[..3]).cloned().collect();
    for id in &failing {
        fleet.set_fails(id, true);
    }
    let watcher = operator.clone();
    let id = created.id;
    let reports = fleet
        .run(async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let status = watcher.campaign(id).await.unwrap();
                let unsettled = status.counts[&UpdateStatus::Offered]
                    + status.counts[&UpdateStatus::Downloading];
                if status.state != CampaignState::Active && unsettled == 0 {
                    return;
                }
                assert!(Instant::now() < deadline, "campaign stuck: {status:#?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .unwrap();
    // What the run sustained counts what the vehicles did: every check and report.
    let sustained = &reports.sustained;
    assert_eq!(sustained.vehicles, 50);
    assert_eq!(
        sustained.update_checks.count,
        reports.vehicles.iter().map(|r| r.checks).sum::<u64>()
    );
    assert!(sustained.manifest_reports.count >= 25, "{sustained:?}");
    assert!(sustained.update_checks.p99_ms >= sustained.update_checks.p50_ms);
    let reports = reports.vehicles;

    let status = operator.campaign(id).await.unwrap();
    assert_eq!(status.state, CampaignState::Paused, "{status:#?}");
    assert!(
        status
            .state_reason
            .contains("passed the threshold of 20.0 %"),
        "{}",
        status.state_reason
    );
    assert_eq!(status.open_wave, 1, "the second wave is never offered");
    assert_eq!(status.counts[&UpdateStatus::RolledBack], 4);
    assert_eq!(status.counts[&UpdateStatus::Installed], 11);
    assert_eq!(status.counts[&UpdateStatus::Waiting], 10);
    let rows = operator
        .campaign_vehicles(id, None, None, 1000)
        .await
        .unwrap()
        .items;
    for report in &reports {
        let row = rows.iter().find(|r| r.vehicle_id == report.id);
        assert_eq!(report.errors, 0, "{report:?}");
        let backend_says = operator.vehicle(&report.id).await.unwrap().installed;
        let app = backend_says
            .iter()
            .find(|i| i.ecu_id == "app:range-estimator")
            .unwrap();
        if failing.contains(&report.id) {
            assert_eq!(report.rolled_back, [NEW], "{report:?}");
            assert_eq!(report.installed, OLD);
            let row = row.unwrap();
            assert_eq!(row.status, UpdateStatus::RolledBack);
            assert!(row.reason.contains("simulated failure"), "{row:?}");
            assert_eq!(app.filename, OLD);
        } else if canary.contains(&report.id) || first.contains(&report.id) {
            assert_eq!(report.installed, NEW, "{report:?}");
            assert_eq!(row.unwrap().status, UpdateStatus::Installed);
            assert_eq!((app.filename.as_str(), app.release_counter), (NEW, 2));
        } else {
            // The second wave and every Leaf: never offered the update.
            assert_eq!(report.installed, OLD, "{report:?}");
            assert_eq!(app.filename, OLD);
            if report.brand == "nissan" {
                assert!(row.is_none(), "a Leaf in a Kona campaign: {row:?}");
                assert!(backend
                    .director_targets(&report.id)
                    .await
                    .targets
                    .is_empty());
            } else {
                let row = row.unwrap();
                assert_eq!(row.status, UpdateStatus::Waiting);
                assert_eq!(row.fetched_at, None, "{row:?}");
            }
        }
    }
    assert_eq!(reports.len(), 50);

    // Resuming acknowledges the failures and offers the second wave; cancelling
    // withdraws it again.
    let resumed = operator
        .campaign_action(id, CampaignAction::Resume, "")
        .await
        .unwrap();
    assert_eq!(resumed.state, CampaignState::Active);
    assert_eq!(resumed.open_wave, 2);
    assert_eq!(resumed.counts[&UpdateStatus::Offered], 10);
    assert_eq!(resumed.failure_rate, 0.0);
    let targets = backend.director_targets(&second[0]).await;
    let assigned = &targets.targets[NEW];
    let custom = assigned.uptane().unwrap();
    assert_eq!(
        custom.ecu_identifier.as_deref(),
        Some("app:range-estimator")
    );
    let cancelled = operator
        .campaign_action(id, CampaignAction::Cancel, "a better fix is coming")
        .await
        .unwrap();
    assert_eq!(cancelled.state, CampaignState::Cancelled);
    assert_eq!(cancelled.state_reason, "a better fix is coming");
    assert_eq!(cancelled.counts[&UpdateStatus::Cancelled], 10);
    let withdrawn = backend.director_targets(&second[0]).await;
    assert!(withdrawn.targets.is_empty());
    assert!(withdrawn.version > targets.version, "versions only rise");
    // A vehicle that installed the image keeps it listed: the director never asks
    // it to go back (its client would refuse a lower release).
    let installed = canary.iter().find(|id| !failing.contains(*id)).unwrap();
    let kept = backend.director_targets(installed).await;
    assert!(kept.targets.contains_key(NEW), "{kept:?}");
    let again = operator
        .campaign_action(id, CampaignAction::Resume, "")
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(409), "{again}");
    assert!(again.to_string().contains("is cancelled"), "{again}");
}

#[tokio::test]
async fn a_campaign_targeting_nothing_or_malformed_is_refused_and_nothing_is_stored() {
    let Some(backend) = Backend::start().await else {
        return;
    };
    let operator = backend.client("fleet:write");
    SimulatedFleet::register(
        backend.simulation(Duration::from_secs(60)),
        operator.clone(),
        fleet_of(4, &models(), "bad", 0.0, 1),
    )
    .await
    .unwrap();
    let request = |edit: &dyn Fn(&mut CampaignRequest)| {
        let mut request = CampaignRequest {
            name: "fix".into(),
            image: NEW.into(),
            targeting: Targeting::default(),
            canary_fraction: 0.5,
            waves: 1,
            failure_threshold: 0.1,
        };
        edit(&mut request);
        request
    };
    for (case, request, status, expected) in [
        (
            "a brand no vehicle has",
            request(&|r| r.targeting.brand = Some("tesla".into())),
            422,
            "targets nothing: no vehicle matches (brand \"tesla\"",
        ),
        (
            "a version no vehicle runs",
            request(&|r| r.targeting.current_version = Some("range-estimator-0.1".into())),
            422,
            "targets nothing",
        ),
        (
            "an image not in the image repository",
            request(&|r| r.image = "range-estimator-9.9".into()),
            400,
            "image: no target \"range-estimator-9.9\" in the image repository (3 targets)",
        ),
        (
            "another hardware than the image's",
            request(&|r| r.targeting.hardware_id = Some("tomoe-gateway".into())),
            400,
            "targeting.hardware_id: \"tomoe-gateway\", but range-estimator-2.0 is built for \"tomoe-app\"",
        ),
        (
            "an image for hardware no vehicle has",
            request(&|r| r.image = "brake-controller-3.1".into()),
            422,
            "targets nothing",
        ),
        (
            "no canary",
            request(&|r| r.canary_fraction = 0.0),
            400,
            "canary_fraction: 0: expected more than 0 and at most 1",
        ),
        (
            "a canary of NaN",
            request(&|r| r.canary_fraction = f64::NAN),
            400,
            "canary_fraction",
        ),
        ("no waves", request(&|r| r.waves = 0), 400, "waves: 0: expected 1 to 100"),
        (
            "a threshold above 1",
            request(&|r| r.failure_threshold = 1.5),
            400,
            "failure_threshold: 1.5: expected 0 to 1",
        ),
        (
            "a control character in the name",
            request(&|r| r.name = "fix\u{7}".into()),
            400,
            "name: expected 1 to 128 bytes of printable text",
        ),
    ] {
        let error = operator.create_campaign(&request).await.unwrap_err();
        assert_eq!(error.status(), Some(status), "{case}: {error}");
        assert!(error.to_string().contains(expected), "{case}: {error}");
    }
    // Raw bodies: unknown fields and wrong types are named with where.
    let http = reqwest::Client::new();
    let token = backend
        .issuer
        .issue("operator", "fleet:write", Duration::from_secs(60))
        .unwrap();
    for (body, expected) in [
        (r#"{"name":"x","ima"#, "body: EOF while parsing"),
        (
            r#"{"name":"x","image":"i","target":{}}"#,
            "unknown field `target`",
        ),
        (
            r#"{"name":"x","image":"i","waves":"2"}"#,
            "waves: invalid type: string",
        ),
        (
            r#"{"name":"x","image":"i","targeting":{"brand":7}}"#,
            "targeting.brand: invalid type",
        ),
        (
            &format!("{{\"name\":{}1{}}}", "[".repeat(5000), "]".repeat(5000)),
            "name: invalid type: sequence",
        ),
    ] {
        let response = http
            .post(format!("{}/fleet/v1/campaigns", backend.url))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let text = response.text().await.unwrap();
        assert!(text.contains(expected), "{body}: {text}");
    }
    // Who may create and steer campaigns.
    let reader = backend.client("fleet");
    let error = reader.create_campaign(&request(&|_| {})).await.unwrap_err();
    assert_eq!(error.status(), Some(403), "{error}");
    let anonymous = FleetClient::new(&backend.url, None).unwrap();
    assert_eq!(anonymous.campaigns().await.unwrap_err().status(), Some(401));
    // Unknown campaigns and actions.
    let error = operator
        .campaign_action(999, CampaignAction::Pause, "")
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(404), "{error}");
    for (path, status) in [
        ("/fleet/v1/campaigns/abc", 400),
        ("/fleet/v1/campaigns/-1", 400),
        ("/fleet/v1/campaigns/1/vehicles?status=broken", 400),
    ] {
        let response = http
            .get(format!("{}{path}", backend.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
    }
    let response = http
        .post(format!("{}/fleet/v1/campaigns/1/explode", backend.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // Nothing was stored by any of it.
    assert!(operator.campaigns().await.unwrap().is_empty());
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM campaign_vehicles")
        .fetch_one(backend.fleet.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn director_metadata_is_verified_by_vehicles_across_an_online_key_rotation() {
    let Some(backend) = Backend::start().await else {
        return;
    };
    let operator = backend.client("fleet:write");
    let config = backend.simulation(Duration::from_secs(60));
    SimulatedFleet::register(
        config.clone(),
        operator.clone(),
        fleet_of(2, &models()[..1], "rot", 0.0, 1),
    )
    .await
    .unwrap();
    let vehicle = "rot-hyundai-00001";
    let mut primary = tomoe_ota::Primary::new(
        vehicle,
        vec![tomoe_ota::Ecu::new("app:range-estimator", "tomoe-app")],
        &config.director_root,
        &config.image_root,
        tomoe_ota::Limits::default(),
    )
    .unwrap();
    let url = backend.url.clone();
    let check = move |mut primary: tomoe_ota::Primary| {
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let director =
                    tomoe_ota::HttpFetcher::new(&format!("{url}/director/{vehicle}/")).unwrap();
                let image = tomoe_ota::HttpFetcher::new(&format!("{url}/image/")).unwrap();
                let approved = primary.check(&director, &image, SystemTime::now());
                (primary, approved)
            })
            .await
            .unwrap()
        }
    };
    let approved;
    (primary, approved) = check(primary).await;
    assert!(approved.unwrap().is_empty(), "nothing assigned yet");
    let version = primary.director().targets().unwrap().version;
    // The same metadata again while nothing changed: no new version.
    let same;
    (primary, same) = check(primary).await;
    same.unwrap();
    assert_eq!(primary.director().targets().unwrap().version, version);

    operator
        .create_campaign(&CampaignRequest {
            name: "all at once".into(),
            image: NEW.into(),
            targeting: Targeting::default(),
            canary_fraction: 1.0,
            waves: 1,
            failure_threshold: 0.5,
        })
        .await
        .unwrap();
    // Rotate the director's targets key offline, publish the new root and key.
    let offline = backend.dir.path().join("director-offline");
    let rotation = RepositoryDir::open(&offline)
        .unwrap()
        .rotate(RoleName::Targets, SystemTime::now())
        .unwrap();
    let online = backend.dir.path().join("director");
    publish_online(&offline, &online);
    assert!(backend.director.reload().unwrap(), "a new root and key");
    assert!(
        !backend.director.reload().unwrap(),
        "nothing new the second time"
    );
    let rotated;
    (primary, rotated) = check(primary).await;
    let rotated = rotated.unwrap();
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0].target, NEW);
    assert!(primary.director().targets().unwrap().version > version);
    let signed_by = &backend.director_targets(vehicle).await;
    assert!(signed_by.targets.contains_key(NEW));
    let _ = rotation;

    // What the server must never hold, and keys that do not match the root.
    std::fs::copy(offline.join("keys/root.pem"), online.join("keys/root.pem")).unwrap();
    let error = DirectorKeys::load(&online).unwrap_err().to_string();
    assert!(error.contains("keep it offline"), "{error}");
    std::fs::remove_file(online.join("keys/root.pem")).unwrap();
    std::fs::copy(
        offline.join("keys/snapshot.pem"),
        online.join("keys/targets.pem"),
    )
    .unwrap();
    let error = DirectorKeys::load(&online).unwrap_err().to_string();
    assert!(
        error.contains("is not a targets key of root version 2"),
        "{error}"
    );
    assert!(backend.director.reload().is_err());
    std::fs::copy(
        offline.join("keys/targets.pem"),
        online.join("keys/targets.pem"),
    )
    .unwrap();
    // A root not signed by the one before it is refused, as a vehicle refuses it.
    let second_root = std::fs::read_to_string(online.join("2.root.json")).unwrap();
    std::fs::write(
        online.join("2.root.json"),
        second_root.replacen(
            "\"consistent_snapshot\": false",
            "\"consistent_snapshot\": true",
            1,
        ),
    )
    .unwrap();
    let error = DirectorKeys::load(&online).unwrap_err().to_string();
    assert!(error.contains("the root chain"), "{error}");
    std::fs::write(online.join("2.root.json"), second_root).unwrap();
    assert!(DirectorKeys::load(&online).is_ok());
    // The keys in use stay in use.
    let (_, still) = check(primary).await;
    still.unwrap();

    // Files a director does not serve, vehicles it does not know.
    let http = reqwest::Client::new();
    for (path, status) in [
        (format!("/director/{vehicle}/keys%2Froot.pem"), 404),
        (format!("/director/{vehicle}/3.root.json"), 404),
        (format!("/director/{vehicle}/manifest.json"), 404),
        ("/director/nobody/timestamp.json".to_owned(), 404),
        ("/director/nobody/root.json".to_owned(), 404),
        ("/director/..%2F..%2Fetc/targets.json".to_owned(), 404),
    ] {
        let response = http
            .get(format!("{}{path}", backend.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
    }
}
