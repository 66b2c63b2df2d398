//! Everything diagnostics runs in a platform, started in one call.

use std::path::Path;

use tokio::sync::watch;
use tomoe_broker::{Broker, Permissions};
use tomoe_can::BusReceiver;
use tomoe_runtime::Runtime;
use tomoe_types::VehicleMode;

use crate::memory::{FaultMemory, MemoryError};
use crate::platform::{run_platform_monitor, PlatformMonitor};
use crate::spec::{DiagnosticsSpec, SpecError, DIAGNOSTICS_FILE};
use crate::supervision::{run_can_supervision, CanSupervisor, SupervisedBus};
use crate::{publish_dtc_list, run_rules, RuleSet};

/// Why diagnostics could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiagError {
    /// The fault memory cannot be opened.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The profile's diagnostics file is wrong.
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// What diagnostics run over.
pub struct DiagnosticsSetup<'a> {
    /// Where the fault memory lives.
    pub data_dir: &'a Path,
    /// The profile's ECUs and rules.
    pub spec: &'a DiagnosticsSpec,
    /// The profile's buses, for the CAN supervision.
    pub buses: &'a [SupervisedBus<'a>],
    /// The frames of the vehicle's buses, if any flow.
    pub frames: Option<BusReceiver>,
    /// The broker whose signals the rules read.
    pub broker: Broker,
    /// The app runtime, if one runs.
    pub runtime: Option<Runtime>,
    /// The vehicle mode: a change from `OFF` starts an operation cycle.
    pub mode: watch::Receiver<VehicleMode>,
}

impl DiagnosticsSpec {
    /// The diagnostics file of the profile in `dir`, or none (no ECUs, no rules)
    /// when the profile has no such file.
    pub fn for_profile(dir: &Path) -> Result<DiagnosticsSpec, SpecError> {
        let path = dir.join(DIAGNOSTICS_FILE);
        if path.exists() {
            DiagnosticsSpec::read(&path)
        } else {
            Ok(DiagnosticsSpec::default())
        }
    }
}

/// What [`start`] started: the fault memory and the CAN counters.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    /// The fault memory.
    pub memory: FaultMemory,
    /// What the CAN supervision counts per bus.
    pub can: crate::CanStats,
}

/// Opens the fault memory and starts, as tasks of the current Tokio runtime, the
/// fault rules, the CAN supervision, the platform monitor, the DTC list
/// publisher and the operation cycles (one per start, then one whenever the
/// vehicle leaves `OFF`).
pub fn start(setup: DiagnosticsSetup<'_>) -> Result<Diagnostics, DiagError> {
    let memory = FaultMemory::open(setup.data_dir)?;
    let catalog_origin = setup.data_dir.display().to_string();
    setup.spec.check(setup.broker.catalog(), &catalog_origin)?;
    let rules = RuleSet::new(setup.spec, setup.broker.catalog())?;
    let supervisor = CanSupervisor::new(setup.spec, setup.buses)?;
    let can = supervisor.stats();
    memory.new_operation_cycle()?;
    let permissions = Permissions::allow_all();
    tokio::spawn(run_rules(
        rules,
        setup.broker.clone(),
        permissions.clone(),
        memory.clone(),
    ));
    if let Some(frames) = setup.frames {
        tokio::spawn(run_can_supervision(
            supervisor,
            frames,
            memory.clone(),
            setup.mode.clone(),
        ));
    }
    tokio::spawn(run_platform_monitor(PlatformMonitor::new(
        memory.clone(),
        setup.broker.clone(),
        setup.runtime,
    )));
    tokio::spawn(publish_dtc_list(setup.broker, permissions, memory.clone()));
    let cycles = memory.clone();
    let mut mode = setup.mode;
    tokio::spawn(async move {
        let mut previous = *mode.borrow();
        while mode.changed().await.is_ok() {
            let now = *mode.borrow();
            if previous == VehicleMode::Off && now != VehicleMode::Off {
                if let Err(error) = cycles.new_operation_cycle() {
                    tracing::error!(%error, "cannot start a new operation cycle");
                }
            }
            previous = now;
        }
    });
    Ok(Diagnostics { memory, can })
}
