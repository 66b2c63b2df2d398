//! The platform's self-diagnosis: its own parts as SOVD components, and the
//! faults they raise (a crash-looping app, a rolled-back update, a dropped
//! subscriber, a failing store) turned into trouble codes with environment data.

use std::collections::BTreeMap;
use std::time::Duration;

use tomoe_broker::Broker;
use tomoe_runtime::{Runtime, WorkloadStatus};
use tomoe_types::{WorkloadHealth, WorkloadState};
use tomoe_update::{Progress, UpdateStatus};

use crate::dtc::{DtcCode, Severity};
use crate::memory::{Entity, FaultMemory, FaultReport, FaultSource, TestResult};

/// A part of the platform, an SOVD component of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlatformComponent {
    /// The signal broker.
    Broker,
    /// The app runtime.
    Runtime,
    /// The OTA update agent.
    UpdateAgent,
    /// The CAN feeder (decoding and supervision).
    CanFeeder,
    /// The durable store.
    Store,
}

impl PlatformComponent {
    /// Every platform component.
    pub const ALL: [PlatformComponent; 5] = [
        PlatformComponent::Broker,
        PlatformComponent::Runtime,
        PlatformComponent::UpdateAgent,
        PlatformComponent::CanFeeder,
        PlatformComponent::Store,
    ];

    /// The component id (`update-agent`).
    pub fn id(self) -> &'static str {
        match self {
            PlatformComponent::Broker => "broker",
            PlatformComponent::Runtime => "runtime",
            PlatformComponent::UpdateAgent => "update-agent",
            PlatformComponent::CanFeeder => "can-feeder",
            PlatformComponent::Store => "store",
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            PlatformComponent::Broker => "Signal broker",
            PlatformComponent::Runtime => "App runtime",
            PlatformComponent::UpdateAgent => "OTA update agent",
            PlatformComponent::CanFeeder => "CAN feeder",
            PlatformComponent::Store => "Durable store",
        }
    }

    /// The component with `id`.
    pub fn from_id(id: &str) -> Option<PlatformComponent> {
        PlatformComponent::ALL.into_iter().find(|c| c.id() == id)
    }

    /// Its entity.
    pub fn entity(self) -> Entity {
        Entity::Component(self.id().to_owned())
    }
}

/// A fault the platform diagnoses in itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlatformFault {
    /// An app failed too often in a row and is left stopped.
    AppCrashLooping,
    /// An app exited with an error and is not restarted.
    AppFailed,
    /// An app's health check fails.
    AppUnhealthy,
    /// An update failed its health window and was rolled back.
    UpdateRolledBack,
    /// An update check or install failed.
    UpdateFailed,
    /// The repositories' metadata failed verification (a possible attack).
    MetadataRefused,
    /// A subscriber fell behind and was disconnected.
    SubscriberLagged,
    /// The durable store refused a write.
    StoreWriteFailed,
}

impl PlatformFault {
    /// Every platform fault.
    pub const ALL: [PlatformFault; 8] = [
        PlatformFault::AppCrashLooping,
        PlatformFault::AppFailed,
        PlatformFault::AppUnhealthy,
        PlatformFault::UpdateRolledBack,
        PlatformFault::UpdateFailed,
        PlatformFault::MetadataRefused,
        PlatformFault::SubscriberLagged,
        PlatformFault::StoreWriteFailed,
    ];

    /// Its code, in the manufacturer-controlled network range (U3xxx).
    pub fn code(self) -> DtcCode {
        let code = match self {
            PlatformFault::AppCrashLooping => "U3001",
            PlatformFault::AppFailed => "U3002",
            PlatformFault::AppUnhealthy => "U3003",
            PlatformFault::UpdateRolledBack => "U3010",
            PlatformFault::UpdateFailed => "U3011",
            PlatformFault::MetadataRefused => "U3012",
            PlatformFault::SubscriberLagged => "U3020",
            PlatformFault::StoreWriteFailed => "U3030",
        };
        code.parse().expect("platform codes are valid")
    }

    /// What it means.
    pub fn name(self) -> &'static str {
        match self {
            PlatformFault::AppCrashLooping => "App crash-looping",
            PlatformFault::AppFailed => "App failed",
            PlatformFault::AppUnhealthy => "App health check failing",
            PlatformFault::UpdateRolledBack => "Update rolled back",
            PlatformFault::UpdateFailed => "Update check or install failed",
            PlatformFault::MetadataRefused => "Update metadata failed verification",
            PlatformFault::SubscriberLagged => "Subscriber dropped for lagging",
            PlatformFault::StoreWriteFailed => "Durable store write failed",
        }
    }

    /// The component it belongs to.
    pub fn component(self) -> PlatformComponent {
        match self {
            PlatformFault::AppCrashLooping
            | PlatformFault::AppFailed
            | PlatformFault::AppUnhealthy => PlatformComponent::Runtime,
            PlatformFault::UpdateRolledBack
            | PlatformFault::UpdateFailed
            | PlatformFault::MetadataRefused => PlatformComponent::UpdateAgent,
            PlatformFault::SubscriberLagged => PlatformComponent::Broker,
            PlatformFault::StoreWriteFailed => PlatformComponent::Store,
        }
    }

    /// How serious it is.
    pub fn severity(self) -> Severity {
        match self {
            PlatformFault::MetadataRefused | PlatformFault::StoreWriteFailed => Severity::Error,
            PlatformFault::AppCrashLooping
            | PlatformFault::AppFailed
            | PlatformFault::UpdateRolledBack => Severity::Error,
            PlatformFault::UpdateFailed
            | PlatformFault::SubscriberLagged
            | PlatformFault::AppUnhealthy => Severity::Warning,
        }
    }

    /// A report of this fault on `entity` (its component unless an app is given).
    pub fn report(self, entity: Entity, failed: Option<BTreeMap<String, String>>) -> FaultReport {
        FaultReport {
            entity,
            code: self.code(),
            name: self.name().to_owned(),
            severity: self.severity(),
            source: FaultSource::Platform,
            warning_indicator: false,
            result: match failed {
                Some(environment) => TestResult::Failed {
                    snapshot: BTreeMap::new(),
                    environment,
                },
                None => TestResult::Passed,
            },
        }
    }
}

fn environment<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn store(memory: &FaultMemory, report: FaultReport) {
    if let Err(error) = memory.report(report) {
        tracing::error!(%error, "a platform fault could not be stored");
    }
}

/// Turns one status change of the update agent into test results: a rollback,
/// a failure and refused metadata fail their tests; a commit passes them.
pub fn report_update(memory: &FaultMemory, progress: &Progress) {
    let agent = PlatformComponent::UpdateAgent.entity();
    let detail = &progress.detail;
    let env = || {
        environment([
            ("app", detail.app.clone().unwrap_or_default()),
            (
                "version",
                detail.version.map(|v| v.to_string()).unwrap_or_default(),
            ),
            ("error", progress.reason.clone()),
        ])
    };
    match progress.status {
        UpdateStatus::RolledBack => {
            store(
                memory,
                PlatformFault::UpdateRolledBack.report(agent.clone(), Some(env())),
            );
            if let Some(app) = &detail.app {
                store(
                    memory,
                    PlatformFault::UpdateRolledBack.report(Entity::App(app.clone()), Some(env())),
                );
            }
        }
        UpdateStatus::Failed if detail.metadata_refused => {
            store(
                memory,
                PlatformFault::MetadataRefused.report(agent, Some(env())),
            );
        }
        UpdateStatus::Failed => {
            store(
                memory,
                PlatformFault::UpdateFailed.report(agent, Some(env())),
            );
        }
        UpdateStatus::Committed => {
            for fault in [
                PlatformFault::UpdateRolledBack,
                PlatformFault::UpdateFailed,
                PlatformFault::MetadataRefused,
            ] {
                store(memory, fault.report(agent.clone(), None));
            }
            if let Some(app) = &detail.app {
                store(
                    memory,
                    PlatformFault::UpdateRolledBack.report(Entity::App(app.clone()), None),
                );
            }
        }
        _ => {}
    }
}

/// Watches the runtime's workloads and the broker's health counters.
#[derive(Debug)]
pub struct PlatformMonitor {
    memory: FaultMemory,
    broker: Broker,
    runtime: Option<Runtime>,
    lagged: u64,
    storage_failures: u64,
}

impl PlatformMonitor {
    /// A monitor reporting to `memory`; counters start from the broker's present ones.
    pub fn new(memory: FaultMemory, broker: Broker, runtime: Option<Runtime>) -> PlatformMonitor {
        let health = broker.health();
        PlatformMonitor {
            memory,
            broker,
            runtime,
            lagged: health.lagged_subscribers,
            storage_failures: health.storage_failures,
        }
    }

    /// Checks everything once.
    pub async fn check(&mut self) {
        if let Some(runtime) = &self.runtime {
            match runtime.list().await {
                Ok(workloads) => self.check_workloads(&workloads),
                Err(error) => tracing::debug!(%error, "the runtime did not answer"),
            }
        }
        let health = self.broker.health();
        let broker = PlatformComponent::Broker.entity();
        if health.lagged_subscribers > self.lagged {
            let env = environment([(
                "dropped_subscribers",
                (health.lagged_subscribers - self.lagged).to_string(),
            )]);
            store(
                &self.memory,
                PlatformFault::SubscriberLagged.report(broker, Some(env)),
            );
        } else {
            store(
                &self.memory,
                PlatformFault::SubscriberLagged.report(broker, None),
            );
        }
        self.lagged = health.lagged_subscribers;
        let store_entity = PlatformComponent::Store.entity();
        if health.storage_failures > self.storage_failures {
            let env = environment([
                (
                    "failures",
                    (health.storage_failures - self.storage_failures).to_string(),
                ),
                (
                    "error",
                    health.last_storage_error.clone().unwrap_or_default(),
                ),
            ]);
            store(
                &self.memory,
                PlatformFault::StoreWriteFailed.report(store_entity, Some(env)),
            );
        } else {
            store(
                &self.memory,
                PlatformFault::StoreWriteFailed.report(store_entity, None),
            );
        }
        self.storage_failures = health.storage_failures;
    }

    fn check_workloads(&self, workloads: &[WorkloadStatus]) {
        let runtime = PlatformComponent::Runtime.entity();
        let crash_looping = |w: &WorkloadStatus| w.state == WorkloadState::CrashLooping;
        let failed = |w: &WorkloadStatus| w.state == WorkloadState::Failed;
        let unhealthy = |w: &WorkloadStatus| {
            w.state == WorkloadState::Running && w.health == WorkloadHealth::Unhealthy
        };
        let checks: [(PlatformFault, &WorkloadTest); 3] = [
            (PlatformFault::AppCrashLooping, &crash_looping),
            (PlatformFault::AppFailed, &failed),
            (PlatformFault::AppUnhealthy, &unhealthy),
        ];
        for (fault, fails) in checks {
            let affected: Vec<&WorkloadStatus> = workloads.iter().filter(|w| fails(w)).collect();
            for workload in workloads {
                let app = Entity::App(workload.name.clone());
                if fails(workload) {
                    store(
                        &self.memory,
                        fault.report(app, Some(workload_env(workload))),
                    );
                } else if workload.state == WorkloadState::Running {
                    store(&self.memory, fault.report(app, None));
                }
            }
            match affected.first() {
                Some(first) => {
                    let mut env = workload_env(first);
                    env.insert(
                        "apps".to_owned(),
                        affected
                            .iter()
                            .map(|w| w.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    );
                    store(&self.memory, fault.report(runtime.clone(), Some(env)));
                }
                None => store(&self.memory, fault.report(runtime.clone(), None)),
            }
        }
    }
}

/// Whether a workload fails one of the runtime's tests.
type WorkloadTest = dyn Fn(&WorkloadStatus) -> bool;

fn workload_env(workload: &WorkloadStatus) -> BTreeMap<String, String> {
    environment([
        ("app", workload.name.clone()),
        ("state", workload.state.to_string()),
        ("reason", workload.reason.clone()),
        ("last_exit", workload.last_exit.clone().unwrap_or_default()),
        ("restarts", workload.restarts.to_string()),
        ("health", workload.health.to_string()),
        (
            "consecutive_failures",
            workload.consecutive_failures.to_string(),
        ),
    ])
}

/// How often [`run_platform_monitor`] looks.
pub const MONITOR_INTERVAL: Duration = Duration::from_secs(1);

/// Runs `monitor` every [`MONITOR_INTERVAL`], forever.
pub async fn run_platform_monitor(mut monitor: PlatformMonitor) {
    let mut ticker = tokio::time::interval(MONITOR_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        monitor.check().await;
    }
}
