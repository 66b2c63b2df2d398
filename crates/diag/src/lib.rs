//! Diagnostics: the fault memory and what feeds it.
//!
//! - [`FaultMemory`] keeps one record per (entity, trouble code) with the UDS
//!   status byte ([`DtcStatus`]), occurrence and aging counters, freeze frames and
//!   extended data, in `<data-dir>/diag.redb`, so faults survive a restart.
//! - [`DiagnosticsSpec`] is a vehicle profile's `diagnostics.toml`: its ECUs
//!   (SOVD components) and fault rules over VSS signals. [`RuleSet`] evaluates the
//!   rules on every change and debounces them; [`run_rules`] drives it from a broker.
//! - [`CanSupervisor`] raises an ECU's "lost communication" code when one of its
//!   messages stays away for three cycle times.
//! - [`PlatformMonitor`] and [`report_update`] diagnose the platform itself:
//!   crash-looping apps, rolled-back updates, refused metadata, dropped
//!   subscribers, store failures.
//! - [`publish_dtc_list`] keeps `Vehicle.OBD.DTCList` equal to the confirmed codes.
//!
//! Non-goals: the REST API (`tomoe-sovd`) and UDS on the wire.

mod dtc;
mod engine;
mod memory;
mod platform;
mod publish;
mod service;
mod spec;
mod supervision;

pub use dtc::{DtcCode, DtcStatus, InvalidDtc, Severity};
pub use engine::{run_rules, RuleSet};
pub use memory::{
    ClearScope, Entity, Fault, FaultEvent, FaultMemory, FaultReport, FaultSource, MemoryError,
    Snapshot, TestResult, AGING_CYCLES, DATABASE_FILE, MAX_ENVIRONMENT_VALUE_BYTES,
    MAX_STORED_FAULTS,
};
pub use platform::{
    report_update, run_platform_monitor, PlatformComponent, PlatformFault, PlatformMonitor,
    MONITOR_INTERVAL,
};
pub use publish::{publish_dtc_list, DTC_LIST_PATHS};
pub use service::{start, DiagError, Diagnostics, DiagnosticsSetup};
pub use spec::{
    is_entity_id, Condition, DiagnosticsSpec, EcuSpec, FaultRule, FunctionSpec, SpecError,
    DIAGNOSTICS_FILE, MAX_DEBOUNCE, MAX_DIAGNOSTICS_BYTES,
};
pub use supervision::{
    run_can_supervision, BusCounters, CanStats, CanSupervisor, SupervisedBus, MIN_TIMEOUT_S,
    TIMEOUT_FACTOR,
};
