//! Every transition of the update agent, against real Uptane repositories served
//! over HTTP on loopback, a real broker and a scripted app host whose apps behave
//! as their image says: `healthy`, `crash` (reports healthy, then exits 1),
//! `silent` (never reports) or `unstartable` (the host refuses to run it).
//! Every crash point of an install is followed by a restart of the agent.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tempfile::TempDir;
use tokio::sync::{mpsc, watch};
use tomoe_broker::{Broker, BrokerConfig, Field, Permissions};
use tomoe_ota::metadata::{TargetFile, UptaneCustom};
use tomoe_ota::{
    generate_key, CrashPoint, InstallPolicy, InstallationStatus, Lifetimes, Repository,
    RepositoryConfig, RoleConfig,
};
use tomoe_types::{Tenant, VehicleMode, WorkloadHealth, WorkloadState};
use tomoe_update::{
    Agent, AgentConfig, App, AppHost, AppStatus, HostError, Progress, UpdateStatus, APP_HARDWARE_ID,
};
use tomoe_vss::Value;

const VIN: &str = "TOMOE0000000000U1";
const APP: &str = "estimator";

/// One app as the scripted host runs it.
#[derive(Debug, Clone)]
struct Running {
    command: PathBuf,
    tenant: Option<Tenant>,
    status: AppStatus,
    /// Polls of the status since the last start.
    polls: u32,
}

/// An app host that behaves as the image it runs says (see the module docs).
#[derive(Debug, Clone, Default)]
struct ScriptedHost {
    apps: Arc<Mutex<BTreeMap<String, Running>>>,
    next_pid: Arc<Mutex<u32>>,
}

impl ScriptedHost {
    fn with_app(name: &str, command: &Path) -> ScriptedHost {
        let host = ScriptedHost::default();
        host.start(name, command);
        host
    }

    fn start(&self, name: &str, command: &Path) {
        let pid = {
            let mut next = self.next_pid.lock().unwrap();
            *next += 1;
            *next + 100
        };
        let mut apps = self.apps.lock().unwrap();
        let restarts = apps.get(name).map_or(0, |app| app.status.restarts);
        apps.insert(
            name.to_string(),
            Running {
                command: command.to_path_buf(),
                tenant: None,
                status: AppStatus {
                    state: WorkloadState::Running,
                    health: WorkloadHealth::Unknown,
                    pid: Some(pid),
                    restarts,
                    reason: String::new(),
                },
                polls: 0,
            },
        );
    }

    fn command(&self, name: &str) -> PathBuf {
        self.apps.lock().unwrap()[name].command.clone()
    }
}

impl AppHost for ScriptedHost {
    async fn apps(&self) -> Result<Vec<App>, HostError> {
        Ok(self
            .apps
            .lock()
            .unwrap()
            .iter()
            .map(|(name, app)| App {
                name: name.clone(),
                command: app.command.clone(),
                tenant: app.tenant.clone(),
            })
            .collect())
    }

    async fn status(&self, name: &str) -> Result<Option<AppStatus>, HostError> {
        let mut apps = self.apps.lock().unwrap();
        let Some(app) = apps.get_mut(name) else {
            return Ok(None);
        };
        app.polls += 1;
        let behaviour = std::fs::read_to_string(&app.command).unwrap_or_default();
        let crash = behaviour.starts_with("crash");
        if behaviour.starts_with("healthy") || (crash && app.polls < 3) {
            app.status.health = WorkloadHealth::Healthy;
        } else if crash {
            app.status = AppStatus {
                state: WorkloadState::Backoff,
                health: WorkloadHealth::Unknown,
                pid: None,
                restarts: app.status.restarts + 1,
                reason: "exited with status 1".into(),
            };
        }
        Ok(Some(app.status.clone()))
    }

    async fn run_from(
        &self,
        name: &str,
        command: &Path,
        tenant: Option<&Tenant>,
    ) -> Result<(), HostError> {
        let behaviour = std::fs::read_to_string(command).unwrap_or_default();
        if behaviour.starts_with("unstartable") {
            return Err(HostError(format!("cannot start {}", command.display())));
        }
        self.start(name, command);
        self.apps.lock().unwrap().get_mut(name).unwrap().tenant = tenant.cloned();
        Ok(())
    }
}

/// An image and a director repository on disk, served on loopback.
struct Repositories {
    dir: TempDir,
    image: Repository,
    director: Repository,
    address: SocketAddr,
}

fn repository(now: SystemTime) -> Repository {
    let key = generate_key();
    let role = RoleConfig {
        keys: vec![key.verifying_key()],
        threshold: 1,
    };
    let config = RepositoryConfig {
        root: role.clone(),
        targets: role.clone(),
        snapshot: role.clone(),
        timestamp: role,
    };
    Repository::create(&config, Lifetimes::default(), vec![key], now).unwrap()
}

impl Repositories {
    async fn serve() -> Repositories {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let mut repositories = Repositories {
            image: repository(now),
            director: repository(now),
            address: "127.0.0.1:0".parse().unwrap(),
            dir,
        };
        repositories.image.publish(now).unwrap();
        repositories.director.publish(now).unwrap();
        repositories.write();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        repositories.address = listener.local_addr().unwrap();
        let router = tomoe_ota::server::ota_router(
            repositories.dir.path().join("image"),
            repositories.dir.path().join("director"),
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        repositories
    }

    fn write(&self) {
        self.image.write_to(&self.dir.path().join("image")).unwrap();
        self.director
            .write_to(&self.dir.path().join("director").join(VIN))
            .unwrap();
    }

    /// Publishes `bytes` as release `counter` of the app and assigns it.
    fn publish(&mut self, bytes: &[u8], counter: u64) {
        let now = SystemTime::now();
        let custom = UptaneCustom {
            ecu_identifier: None,
            hardware_identifier: APP_HARDWARE_ID.into(),
            release_counter: counter,
        };
        self.image.add_target("app", bytes, Some(&custom)).unwrap();
        self.image.publish(now).unwrap();
        let assigned = UptaneCustom {
            ecu_identifier: Some(format!("app:{APP}")),
            ..custom
        };
        self.director
            .add_target_description("app", TargetFile::describe(bytes, Some(&assigned)))
            .unwrap();
        self.director.publish(now).unwrap();
        self.write();
    }
}

/// The agent, its host and broker, and the vehicle's mode.
struct Vehicle {
    dir: TempDir,
    repositories: Repositories,
    host: ScriptedHost,
    broker: Broker,
    mode: watch::Sender<VehicleMode>,
}

impl Vehicle {
    async fn new() -> Vehicle {
        let dir = tempfile::tempdir().unwrap();
        let factory = dir.path().join("factory");
        std::fs::write(&factory, "healthy factory image").unwrap();
        Vehicle {
            host: ScriptedHost::with_app(APP, &factory),
            repositories: Repositories::serve().await,
            broker: Broker::new(
                tomoe_vss::default_catalog().unwrap(),
                BrokerConfig::default(),
                None,
            )
            .unwrap(),
            mode: watch::channel(VehicleMode::Parked).0,
            dir,
        }
    }

    /// The installation reports of the last manifest the director stored.
    fn reported(&self) -> Vec<tomoe_ota::InstallationReport> {
        let path = self
            .repositories
            .dir
            .path()
            .join("director")
            .join(VIN)
            .join("manifest.json");
        let bytes = std::fs::read(path).unwrap();
        tomoe_ota::SignedManifest::parse_unverified(&bytes)
            .unwrap()
            .signed
            .installation_reports
    }

    fn factory(&self) -> PathBuf {
        self.dir.path().join("factory")
    }

    fn agent(
        &self,
        crash_at: Option<CrashPoint>,
    ) -> (Agent<ScriptedHost>, mpsc::UnboundedReceiver<Progress>) {
        let url = format!("http://{}", self.repositories.address);
        Agent::new(
            AgentConfig {
                director_url: format!("{url}/director"),
                image_url: format!("{url}/image"),
                vin: VIN.into(),
                director_root: self.repositories.director.root_file(),
                image_root: self.repositories.image.root_file(),
                root: self.dir.path().join("ota"),
                interval: Duration::from_secs(3600),
                health_window: Duration::from_millis(600),
                policy: InstallPolicy::default(),
                crash_at,
            },
            self.broker.clone(),
            self.host.clone(),
            self.mode.subscribe(),
        )
        .unwrap()
    }

    fn get(&self, path: &str) -> Option<Value> {
        let leaf = self.broker.catalog().leaf(path).unwrap().id;
        self.broker
            .get(&Permissions::allow_all(), &[leaf], Field::Current)
            .unwrap()[0]
            .value
            .clone()
    }

    fn slot_image(&self, slot: char) -> PathBuf {
        self.dir
            .path()
            .join(format!("ota/app.{APP}/slot-{slot}/app"))
    }
}

fn statuses(events: &mut mpsc::UnboundedReceiver<Progress>) -> Vec<UpdateStatus> {
    let mut seen = Vec::new();
    while let Ok(progress) = events.try_recv() {
        seen.push(progress.status);
    }
    seen
}

use UpdateStatus::{
    Committed, Downloading, Failed, Installing, RolledBack, VerifyingHealth, Waiting,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_is_provisioned_and_a_new_release_committed_after_its_window() {
    let mut vehicle = Vehicle::new().await;
    let (mut agent, mut events) = vehicle.agent(None);
    agent.cycle().await;
    // First sight: the slots are provisioned from the executable the app runs.
    assert!(vehicle
        .dir
        .path()
        .join(format!("ota/app.{APP}/active"))
        .is_file());
    assert_eq!(vehicle.host.command(APP), vehicle.factory());
    assert_eq!(statuses(&mut events), []);

    vehicle.repositories.publish(b"healthy release 2", 2);
    let started = std::time::Instant::now();
    agent.cycle().await;
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "committed before the window passed"
    );
    assert_eq!(
        statuses(&mut events),
        [Downloading, Installing, VerifyingHealth, Committed]
    );
    assert_eq!(vehicle.host.command(APP), vehicle.slot_image('b'));
    assert_eq!(
        vehicle.get("Vehicle.Tomoe.Ota.Status"),
        Some(Value::String("COMMITTED".into()))
    );
    assert_eq!(
        vehicle.get("Vehicle.Tomoe.Ota.InstalledVersion"),
        Some(Value::Uint32(2))
    );

    // Nothing new: nothing happens.
    agent.cycle().await;
    assert_eq!(statuses(&mut events), []);

    // After a restart the installed version is published again.
    drop(agent);
    let other_broker = Broker::new(
        tomoe_vss::default_catalog().unwrap(),
        BrokerConfig::default(),
        None,
    )
    .unwrap();
    vehicle.broker = other_broker;
    let (mut restarted, _events) = vehicle.agent(None);
    restarted.cycle().await;
    assert_eq!(
        vehicle.get("Vehicle.Tomoe.Ota.InstalledVersion"),
        Some(Value::Uint32(2))
    );
    assert_eq!(vehicle.host.command(APP), vehicle.slot_image('b'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_waits_while_driving() {
    let mut vehicle = Vehicle::new().await;
    let (mut agent, mut events) = vehicle.agent(None);
    agent.cycle().await;
    vehicle.repositories.publish(b"healthy release 2", 2);
    vehicle.mode.send_replace(VehicleMode::Driving);
    agent.cycle().await;
    assert_eq!(statuses(&mut events), [Waiting]);
    let reason = agent.status().unwrap().reason;
    assert_eq!(
        reason,
        "waiting: vehicle is driving; installs run in parked or charging"
    );
    assert_eq!(vehicle.host.command(APP), vehicle.factory());

    vehicle.mode.send_replace(VehicleMode::Parked);
    agent.cycle().await;
    assert_eq!(
        statuses(&mut events),
        [Downloading, Installing, VerifyingHealth, Committed]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_inside_the_window_roll_back_and_are_not_tried_again() {
    for (image, reason) in [
        (
            &b"crash after two polls"[..],
            "the app is backoff during its health window (exited with status 1)",
        ),
        (
            b"silent",
            "no healthy report within the 600ms health window",
        ),
        (
            b"unstartable",
            "it could not be started: the app host refused",
        ),
    ] {
        let mut vehicle = Vehicle::new().await;
        let (mut agent, mut events) = vehicle.agent(None);
        agent.cycle().await;
        vehicle.repositories.publish(image, 2);
        agent.cycle().await;
        let seen = statuses(&mut events);
        assert_eq!(seen.first(), Some(&Downloading), "{seen:?}");
        assert_eq!(seen.last(), Some(&RolledBack), "{seen:?}");
        let status = agent.status().unwrap();
        assert!(
            status.reason.contains(reason),
            "{}: {status}",
            String::from_utf8_lossy(image)
        );
        // The app runs what it ran before, and the director learns why.
        assert_eq!(vehicle.host.command(APP), vehicle.factory());
        let reports = vehicle.reported();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].status, InstallationStatus::RolledBack);
        assert_eq!(reports[0].ecu_identifier, format!("app:{APP}"));
        assert!(reports[0].reason.contains(reason), "{reports:?}");
        agent.cycle().await;
        assert_eq!(
            statuses(&mut events),
            [],
            "a rejected image is not tried again"
        );
        // Still offered, it is reported once more, as rolled back before.
        let reports = vehicle.reported();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].status, InstallationStatus::RolledBack);
        assert!(reports[0].reason.contains("before"), "{reports:?}");
        // A later release installs.
        vehicle.repositories.publish(b"healthy release 3", 3);
        agent.cycle().await;
        assert_eq!(statuses(&mut events).last(), Some(&Committed));
        let reports = vehicle.reported();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].status, InstallationStatus::Installed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_repository_fails_the_check_and_recovers() {
    let mut vehicle = Vehicle::new().await;
    let (mut agent, mut events) = vehicle.agent(None);
    agent.cycle().await;
    // The director's targets are tampered with after signing.
    vehicle.repositories.publish(b"healthy release 2", 2);
    let targets = vehicle
        .repositories
        .dir
        .path()
        .join("director")
        .join(VIN)
        .join("targets.json");
    let honest = std::fs::read(&targets).unwrap();
    let tampered = String::from_utf8(honest.clone())
        .unwrap()
        .replace("\"release_counter\":2", "\"release_counter\":9")
        .replace("\"release_counter\": 2", "\"release_counter\": 9");
    std::fs::write(&targets, tampered).unwrap();
    agent.cycle().await;
    assert_eq!(statuses(&mut events), [Failed]);
    let reason = agent.status().unwrap().reason;
    assert!(reason.starts_with("update refused: "), "{reason}");
    assert_eq!(vehicle.host.command(APP), vehicle.factory());

    std::fs::write(&targets, honest).unwrap();
    agent.cycle().await;
    assert_eq!(
        statuses(&mut events),
        [Downloading, Installing, VerifyingHealth, Committed]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_at_every_crash_point_ends_consistent() {
    for point in CrashPoint::ALL {
        let mut vehicle = Vehicle::new().await;
        let rollback = point.on_rollback_path();
        let image: &[u8] = if rollback {
            b"crash after two polls"
        } else {
            b"healthy release 2"
        };
        {
            let (mut agent, mut events) = vehicle.agent(None);
            agent.cycle().await;
            vehicle.repositories.publish(image, 2);
            drop(agent);
            let (mut crashing, _) = vehicle.agent(Some(point));
            crashing.cycle().await;
            let status = crashing.status().unwrap();
            assert_eq!(status.status, Failed, "{point}: {status}");
            assert!(status.reason.contains("crash"), "{point}: {status}");
            statuses(&mut events);
        }
        // The restart recovers the slots, points the app at the active one and
        // finishes the job.
        let (mut agent, mut events) = vehicle.agent(None);
        for _ in 0..3 {
            agent.cycle().await;
        }
        let seen = statuses(&mut events);
        let expected = if rollback {
            vehicle.factory()
        } else {
            vehicle.slot_image('b')
        };
        let running = vehicle.host.command(APP);
        if rollback {
            assert_eq!(seen.last(), Some(&RolledBack), "{point}: {seen:?}");
            assert!(
                running == expected
                    || running
                        == vehicle
                            .dir
                            .path()
                            .join(format!("ota/app.{APP}/slot-a/factory")),
                "{point}: runs {}",
                running.display()
            );
            assert_eq!(
                std::fs::read(&running).unwrap(),
                b"healthy factory image",
                "{point}"
            );
        } else {
            assert_eq!(running, expected, "{point}: {seen:?}");
            assert_eq!(
                vehicle.get("Vehicle.Tomoe.Ota.InstalledVersion"),
                Some(Value::Uint32(2)),
                "{point}"
            );
            assert!(!seen.contains(&Failed), "{point}: {seen:?}");
        }
    }
}
