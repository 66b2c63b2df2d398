//! The diagnostic API: ASAM SOVD (ISO 17978-3) over HTTP, served by `tomoe up`
//! under `/sovd/v1`.
//!
//! The resource model follows the standard and Eclipse OpenSOVD's field names:
//! entity collections (`components`, `apps`, `areas`, `functions`) with their
//! relations; per entity `data`, `faults`, `operations` (asynchronous
//! executions), `locks`, `modes`, `logs` and `cyclic-subscriptions` (server-sent
//! events); `updates` at the root. The OpenAPI 3.1 document, served at
//! `/sovd/v1/docs`, is generated from the handlers ([`openapi`]). Errors are
//! `application/problem+json` documents carrying the SOVD `error_code`.
//!
//! Authorization uses the broker's JWT keys: the `diag` scope reads, `diag:write`
//! clears faults, runs operations, takes locks and writes data; without keys
//! (development mode, loopback only) every caller has full access.
//!
//! Non-goals: UDS on the wire (a classic-ECU gateway would map these resources
//! to UDS services, see docs/diagnostics.md), and detecting faults (`tomoe-diag`).

mod caller;
pub mod client;
mod data;
mod entities;
mod error;
mod faults;
mod locks;
mod logs;
mod modes;
mod openapi;
mod operations;
mod subscriptions;
mod updates;

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tomoe_broker::Broker;
use tomoe_diag::{DiagnosticsSpec, FaultMemory};
use tomoe_runtime::Runtime;
use tomoe_types::VehicleMode;

pub use caller::{AccessPolicy, Caller, CLIENT_HEADER, MAX_CLIENT_NAME_BYTES};
pub use data::{DataCategory, ReadValue, ValueMetadata, WriteValue};
pub use entities::{Collection, EntityCapabilities, EntityList, EntityReference, VersionInfo};
pub use error::{ErrorCode, Problem, SovdError, PROBLEM_JSON};
pub use faults::{FaultDetails, FaultItem, FaultList};
pub use locks::{LockInfo, LockRequest, MAX_LOCKS, MAX_LOCK_EXPIRATION_S};
pub use logs::MAX_LOG_ENTRIES;
pub use modes::{DiagnosticSession, ModeRequest, ModeValue};
pub use openapi::openapi;
pub use operations::{BatteryService, BatterySwapError};
pub use operations::{ExecutionRequest, ExecutionState, ExecutionStatus};
pub use operations::{MAX_EXECUTIONS, MAX_EXECUTION_TIMEOUT_S};
pub use subscriptions::{Interval, SubscriptionInfo, SubscriptionRequest};
pub use subscriptions::{MAX_SUBSCRIPTIONS, MAX_SUBSCRIPTION_DURATION_S};
pub use updates::{UpdateTracker, MAX_UPDATE_HISTORY};

/// The path every SOVD resource is under.
pub const BASE_PATH: &str = "/sovd/v1";

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A CAN bus of the vehicle profile, an SOVD component of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusInfo {
    /// The profile's bus name (`pcan`); the component is `can-<name>`.
    pub name: String,
    /// The interface it is on (`can0`).
    pub channel: String,
    /// Its DBC file.
    pub dbc: String,
}

/// What the vehicle is, for the version information and the components' names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VehicleInfo {
    /// The profile id.
    pub profile: String,
    /// Brand, model and year, in words.
    pub description: String,
}

/// Everything the API serves.
#[derive(Clone)]
pub struct SovdConfig {
    /// The broker (data, actuation, self-test).
    pub broker: Broker,
    /// The fault memory.
    pub memory: FaultMemory,
    /// The profile's ECUs, areas and rules.
    pub diagnostics: DiagnosticsSpec,
    /// The profile's CAN buses.
    pub buses: Vec<BusInfo>,
    /// What the CAN supervision counts per bus.
    pub can: tomoe_diag::CanStats,
    /// The vehicle.
    pub vehicle: VehicleInfo,
    /// The app runtime, if one runs.
    pub runtime: Option<Runtime>,
    /// The update agent, if one runs.
    pub updates: Option<UpdateTracker>,
    /// The vehicle mode.
    pub mode: watch::Receiver<VehicleMode>,
    /// Who may call.
    pub access: AccessPolicy,
    /// The battery pack service behind `battery-swap`, if the vehicle has one.
    pub battery: Option<Arc<dyn BatteryService>>,
}

impl std::fmt::Debug for SovdConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SovdConfig")
            .field("vehicle", &self.vehicle)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

/// The server's state; cheap to clone.
#[derive(Clone)]
pub struct SovdState {
    inner: Arc<Inner>,
}

struct Inner {
    config: SovdConfig,
    /// Per ECU of the diagnostics spec: the leaves its patterns select, in catalog
    /// order, and the same as a set.
    ecu_signals: Vec<(
        Vec<tomoe_vss::LeafId>,
        std::collections::HashSet<tomoe_vss::LeafId>,
    )>,
    locks: Mutex<locks::Locks>,
    executions: Mutex<operations::Executions>,
    sessions: Mutex<modes::Sessions>,
    subscriptions: Mutex<subscriptions::Subscriptions>,
}

impl SovdState {
    /// The state over `config`.
    pub fn new(config: SovdConfig) -> SovdState {
        let catalog = config.broker.catalog();
        let ecu_signals = config
            .diagnostics
            .ecus
            .iter()
            .map(|ecu| {
                let mut set = std::collections::HashSet::new();
                for pattern in &ecu.signals {
                    if let Ok(pattern) = tomoe_vss::PathPattern::parse(pattern) {
                        set.extend(catalog.matching(&pattern).map(|leaf| leaf.id));
                    }
                }
                let mut list: Vec<tomoe_vss::LeafId> = set.iter().copied().collect();
                list.sort();
                (list, set)
            })
            .collect();
        SovdState {
            inner: Arc::new(Inner {
                ecu_signals,
                config,
                locks: Mutex::default(),
                executions: Mutex::default(),
                sessions: Mutex::default(),
                subscriptions: Mutex::default(),
            }),
        }
    }

    pub(crate) fn config(&self) -> &SovdConfig {
        &self.inner.config
    }

    /// The leaves ECU `index` owns (catalog order) and the same as a set.
    pub(crate) fn ecu_signals(
        &self,
        index: usize,
    ) -> (
        &[tomoe_vss::LeafId],
        &std::collections::HashSet<tomoe_vss::LeafId>,
    ) {
        let (list, set) = &self.inner.ecu_signals[index];
        (list, set)
    }

    pub(crate) fn locks(&self) -> std::sync::MutexGuard<'_, locks::Locks> {
        self.inner.locks.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn executions(&self) -> std::sync::MutexGuard<'_, operations::Executions> {
        self.inner
            .executions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn sessions(&self) -> std::sync::MutexGuard<'_, modes::Sessions> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn subscriptions(&self) -> std::sync::MutexGuard<'_, subscriptions::Subscriptions> {
        self.inner
            .subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// The API's routes (under [`BASE_PATH`]), with the OpenAPI document at
/// `/sovd/v1/docs` and the version information at `/sovd/version-info`.
pub fn router(config: SovdConfig) -> axum::Router {
    let state = SovdState::new(config);
    let (router, api) = openapi::routes().split_for_parts();
    let api = openapi::finish(api);
    let document = Arc::new(api);
    router
        .route(
            &format!("{BASE_PATH}/docs"),
            axum::routing::get(move || {
                let document = document.clone();
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(error::problems_only))
}

/// The time as RFC 3339 text with milliseconds.
pub(crate) fn rfc3339(time: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// The time `ms` milliseconds after the Unix epoch, as RFC 3339.
pub(crate) fn rfc3339_ms(ms: u64) -> String {
    rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
}

/// Parses a query string into pairs; a malformed one is a 400.
pub(crate) fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, SovdError> {
    match query {
        None | Some("") => Ok(Vec::new()),
        Some(query) => serde_urlencoded::from_str(query)
            .map_err(|e| SovdError::bad_request(format!("the query string is malformed: {e}"))),
    }
}

/// Whether `include-schema=true` is among `pairs`; another value is a 400.
pub(crate) fn include_schema(pairs: &[(String, String)]) -> Result<bool, SovdError> {
    let mut include = false;
    for (key, value) in pairs {
        if key == "include-schema" {
            include = parse_bool(value).ok_or_else(|| {
                SovdError::bad_request(format!(
                    "include-schema must be true or false, not \"{value}\""
                ))
            })?;
        }
    }
    Ok(include)
}

/// `true`/`false`/`1`/`0`, ignoring ASCII case.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// `value` as JSON, with the `schema` of `T` added when asked for.
pub(crate) fn respond<T: serde::Serialize + utoipa::ToSchema>(
    value: &T,
    include: bool,
) -> axum::Json<serde_json::Value> {
    let mut json = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    if include {
        if let serde_json::Value::Object(map) = &mut json {
            map.insert("schema".to_owned(), openapi::schema_of::<T>());
        }
    }
    axum::Json(json)
}

/// Reads a JSON body of at most [`MAX_BODY_BYTES`]; an empty body is `None`.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<Option<T>, SovdError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    // serde_json refuses nesting deeper than 128 levels.
    serde_json::from_slice(body).map(Some).map_err(|e| {
        SovdError::bad_request(format!(
            "the body of {what} is not valid JSON of the expected shape: {e}"
        ))
    })
}
