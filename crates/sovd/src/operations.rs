//! Operations, run as asynchronous executions: clear an entity's fault memory,
//! restart an app, run the broker's self-test, check for updates, swap the
//! traction battery pack.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tomoe_broker::{Field, Permissions, SubscriptionEvent};
use tomoe_diag::{ClearScope, Entity, PlatformComponent};
use tomoe_vss::Value;
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::data::{DataError, GenericError};
use crate::entities::{Collection, EntityKind, Resolved};
use crate::error::SovdError;
use crate::locks::new_id;
use crate::{json_body, SovdState};

/// Executions kept at once; the oldest finished one makes room for a new one.
pub const MAX_EXECUTIONS: usize = 64;

/// Longest timeout an execution may ask for, in seconds (the default is 60).
pub const MAX_EXECUTION_TIMEOUT_S: u64 = 300;

/// The operations Tomoe offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    ClearFaultMemory,
    Restart,
    SelfTest,
    CheckForUpdates,
    BatterySwap,
}

/// The VSS leaf whose ECU (the battery management system) offers `battery-swap`.
const BATTERY_LEAF: &str = "Vehicle.Powertrain.TractionBattery.NetCapacity";

/// The battery pack service behind the `battery-swap` operation (in `tomoe up`,
/// `tomoe_vehicle::PackService`). Verdicts are JSON: `{vehicle, installed, pack,
/// fits, reasons: [{check, outcome, detail}], swap?}`.
pub trait BatteryService: Send + Sync {
    /// The fit verdict of catalog pack `pack` for the vehicle; changes nothing.
    fn check(&self, pack: &str) -> Result<serde_json::Value, BatterySwapError>;
    /// Swaps `pack` in at `soc_percent` (the service's default if `None`), asked
    /// for by `who`; the verdict with the swap record.
    fn swap(
        &self,
        pack: &str,
        soc_percent: Option<f64>,
        who: &str,
    ) -> Result<serde_json::Value, BatterySwapError>;
}

/// Why a battery pack was not swapped in.
#[derive(Debug, Clone, PartialEq)]
pub enum BatterySwapError {
    /// The request is at fault (unknown pack, a part that is not a pack, a bad
    /// state of charge): a 400, nothing stored.
    BadInput(String),
    /// The pack does not fit: the verdict lists every check.
    Refused {
        /// The failed checks, in words.
        message: String,
        /// The verdict.
        verdict: serde_json::Value,
    },
    /// The platform failed (the swap history cannot be written, ...).
    Failed(String),
}

impl Operation {
    fn id(self) -> &'static str {
        match self {
            Operation::ClearFaultMemory => "clear-fault-memory",
            Operation::Restart => "restart",
            Operation::SelfTest => "self-test",
            Operation::CheckForUpdates => "check-for-updates",
            Operation::BatterySwap => "battery-swap",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Operation::ClearFaultMemory => {
                "Clear the entity's faults (parameters {\"all\": true}: every entity's)"
            }
            Operation::Restart => "Restart the app",
            Operation::SelfTest => "Broker self-test: a publication seen by a subscriber",
            Operation::CheckForUpdates => "Ask the update agent to check for updates now",
            Operation::BatterySwap => {
                "Install another traction battery pack from the parts catalog (parameters {\"pack\": ID, \"soc\": PERCENT, \"check_only\": BOOL}) after the fit check"
            }
        }
    }

    fn of(state: &SovdState, kind: &EntityKind) -> Vec<Operation> {
        let mut operations = vec![Operation::ClearFaultMemory];
        match kind {
            EntityKind::App => operations.push(Operation::Restart),
            EntityKind::Platform(PlatformComponent::Broker) => operations.push(Operation::SelfTest),
            EntityKind::Platform(PlatformComponent::UpdateAgent) => {
                operations.push(Operation::CheckForUpdates)
            }
            EntityKind::Ecu(index) if Some(*index) == battery_ecu(state) => {
                operations.push(Operation::BatterySwap)
            }
            _ => {}
        }
        operations
    }
}

/// The ECU that offers `battery-swap`: the first whose signals include
/// [`BATTERY_LEAF`], when a battery service is configured.
fn battery_ecu(state: &SovdState) -> Option<usize> {
    state.config().battery.as_ref()?;
    let leaf = state.config().broker.catalog().leaf(BATTERY_LEAF)?.id;
    (0..state.config().diagnostics.ecus.len())
        .find(|&index| state.ecu_signals(index).1.contains(&leaf))
}

/// The parameters of `battery-swap`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SwapParameters {
    pack: String,
    #[serde(default)]
    soc: Option<f64>,
    #[serde(default)]
    check_only: bool,
}

/// Why an execution failed, and what it returned all the same.
#[derive(Debug)]
struct Failure {
    message: String,
    parameters: Option<serde_json::Value>,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            parameters: None,
        }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure::from(message.to_owned())
    }
}

/// What an execution is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionState {
    /// Running.
    Running,
    /// Done.
    Completed,
    /// Failed, timed out or stopped.
    Failed,
}

#[derive(Debug)]
struct Execution {
    entity: Entity,
    operation: &'static str,
    state: ExecutionState,
    parameters: Option<serde_json::Value>,
    error: Option<String>,
    task: Option<tokio::task::AbortHandle>,
    created: Instant,
}

/// The executions, by id.
#[derive(Debug, Default)]
pub(crate) struct Executions {
    by_id: HashMap<String, Execution>,
}

/// An operation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperationDescription {
    /// Its id.
    pub id: String,
    /// What it does.
    pub name: String,
    /// Whether the caller must prove to be near the vehicle (never, here).
    pub proximity_proof_required: bool,
    /// Whether it runs as an asynchronous execution (always, here).
    pub asynchronous_execution: bool,
}

/// An entity's operations.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperationList {
    /// The operations.
    pub items: Vec<OperationDescription>,
}

/// One operation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperationDetails {
    /// The operation.
    pub item: OperationDescription,
}

/// A request to run an operation.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionRequest {
    /// Seconds before the execution fails (1 to 300; 60 if not given).
    #[serde(default)]
    pub timeout: Option<u64>,
    /// The operation's parameters.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<serde_json::Value>,
}

/// A request to control a running execution.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionControl {
    /// `stop` (the only capability offered).
    pub capability: String,
}

/// An execution, as started or controlled.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecutionStarted {
    /// Its id.
    pub id: String,
    /// Its state.
    pub status: ExecutionState,
}

/// An execution's id.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecutionReference {
    /// Its id.
    pub id: String,
}

/// An operation's executions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecutionList {
    /// The executions.
    pub items: Vec<ExecutionReference>,
}

/// Where an execution stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecutionStatus {
    /// Its id.
    pub id: String,
    /// Its state.
    pub status: ExecutionState,
    /// `execute`.
    pub capability: String,
    /// What the operation returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<serde_json::Value>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error: Vec<DataError>,
}

fn operation(state: &SovdState, entity: &Resolved, id: &str) -> Result<Operation, SovdError> {
    Operation::of(state, &entity.kind)
        .into_iter()
        .find(|op| op.id() == id)
        .ok_or_else(|| {
            SovdError::not_found(format!(
                "{} has no operation {}",
                entity.entity,
                id.chars().take(64).collect::<String>()
            ))
        })
}

fn description(operation: Operation) -> OperationDescription {
    OperationDescription {
        id: operation.id().to_owned(),
        name: operation.name().to_owned(),
        proximity_proof_required: false,
        asynchronous_execution: true,
    }
}

/// An entity's operations.
#[utoipa::path(get, path = "/{collection}/{entity_id}/operations", tag = "operations",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms")),
    responses((status = 200, description = "The operations", body = OperationList)))]
pub(crate) async fn list(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id)): Path<(Collection, String)>,
) -> Result<Json<OperationList>, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    Ok(Json(OperationList {
        items: Operation::of(&state, &entity.kind)
            .into_iter()
            .map(description)
            .collect(),
    }))
}

/// One operation.
#[utoipa::path(get, path = "/{collection}/{entity_id}/operations/{operation_id}", tag = "operations",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("operation_id" = String, Path, description = "The operation", example = "clear-fault-memory")),
    responses((status = 200, description = "The operation", body = OperationDetails)))]
pub(crate) async fn get(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, operation_id)): Path<(Collection, String, String)>,
) -> Result<Json<OperationDetails>, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    Ok(Json(OperationDetails {
        item: description(operation(&state, &entity, &operation_id)?),
    }))
}

/// Starts an execution of an operation. Refused while another client holds the
/// entity's lock.
#[utoipa::path(post, path = "/{collection}/{entity_id}/operations/{operation_id}/executions", tag = "operations",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("operation_id" = String, Path, description = "The operation", example = "clear-fault-memory")),
    request_body(content = Option<ExecutionRequest>, description = "Optional timeout and parameters"),
    responses((status = 202, description = "Started", body = ExecutionStarted,
        headers(("Location" = String, description = "The execution")))))]
pub(crate) async fn start(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, operation_id)): Path<(Collection, String, String)>,
    body: Bytes,
) -> Result<Response, SovdError> {
    caller.require_write("running an operation")?;
    let entity = state.resolve(collection, &id).await?;
    let operation = operation(&state, &entity, &operation_id)?;
    let resource = format!("{}/operations/{}/executions", entity.path, operation.id());
    let request: ExecutionRequest = json_body(&body, &resource)?.unwrap_or_default();
    let timeout = request.timeout.unwrap_or(60);
    if !(1..=MAX_EXECUTION_TIMEOUT_S).contains(&timeout) {
        return Err(SovdError::bad_request(format!(
            "timeout must be 1 to {MAX_EXECUTION_TIMEOUT_S} seconds, not {timeout}"
        )));
    }
    let swap = if operation == Operation::BatterySwap {
        Some(swap_parameters(&state, request.parameters.clone())?)
    } else {
        None
    };
    let all = match &request.parameters {
        _ if swap.is_some() => false,
        None => false,
        Some(serde_json::Value::Object(map))
            if operation == Operation::ClearFaultMemory && map.keys().all(|k| k == "all") =>
        {
            match map.get("all") {
                None => false,
                Some(serde_json::Value::Bool(all)) => *all,
                Some(_) => {
                    return Err(SovdError::bad_request(
                        "parameters.all must be true or false",
                    ))
                }
            }
        }
        Some(serde_json::Value::Object(map)) if map.is_empty() => false,
        Some(_) => {
            return Err(SovdError::bad_request(format!(
                "{} takes {}",
                operation.id(),
                if operation == Operation::ClearFaultMemory {
                    "no parameters but {\"all\": true|false}"
                } else {
                    "no parameters"
                }
            )))
        }
    };
    state.refuse_if_locked_by_other(&caller, &entity)?;
    let execution_id = new_id();
    {
        let mut executions = state.executions();
        if executions.by_id.len() >= MAX_EXECUTIONS {
            let oldest = executions
                .by_id
                .iter()
                .filter(|(_, e)| e.state != ExecutionState::Running)
                .min_by_key(|(_, e)| e.created)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(oldest) => {
                    executions.by_id.remove(&oldest);
                }
                None => {
                    return Err(SovdError::too_many(format!(
                        "{MAX_EXECUTIONS} executions are running"
                    )))
                }
            }
        }
        executions.by_id.insert(
            execution_id.clone(),
            Execution {
                entity: entity.entity.clone(),
                operation: operation.id(),
                state: ExecutionState::Running,
                parameters: None,
                error: None,
                task: None,
                created: Instant::now(),
            },
        );
    }
    let task_state = state.clone();
    let task_id = execution_id.clone();
    let task_entity = entity.clone();
    let who = caller.client.clone();
    let task = tokio::spawn(async move {
        let result = tokio::time::timeout(
            Duration::from_secs(timeout),
            run(&task_state, &task_entity, operation, all, swap, who),
        )
        .await
        .unwrap_or_else(|_| Err(format!("timed out after {timeout} s").into()));
        let mut executions = task_state.executions();
        if let Some(execution) = executions.by_id.get_mut(&task_id) {
            execution.task = None;
            match result {
                Ok(parameters) => {
                    execution.state = ExecutionState::Completed;
                    execution.parameters = Some(parameters);
                }
                Err(failure) => {
                    execution.state = ExecutionState::Failed;
                    execution.error = Some(failure.message);
                    execution.parameters = failure.parameters;
                }
            }
        }
    });
    if let Some(execution) = state.executions().by_id.get_mut(&execution_id) {
        if execution.state == ExecutionState::Running {
            execution.task = Some(task.abort_handle());
        }
    }
    let location = format!("{resource}/{execution_id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(ExecutionStarted {
            id: execution_id,
            status: ExecutionState::Running,
        }),
    )
        .into_response())
}

/// Reads the parameters of `battery-swap` and checks the pack at once, so that
/// bad input is a 400 and starts no execution.
fn swap_parameters(
    state: &SovdState,
    parameters: Option<serde_json::Value>,
) -> Result<SwapParameters, SovdError> {
    let usage = "battery-swap takes {\"pack\": \"<parts-catalog id>\", \"soc\": <percent, optional>, \"check_only\": <true|false, optional>}";
    let parameters = parameters
        .ok_or_else(|| SovdError::bad_request(format!("parameters.pack is missing: {usage}")))?;
    let parameters: SwapParameters = serde_json::from_value(parameters)
        .map_err(|e| SovdError::bad_request(format!("parameters: {e}; {usage}")))?;
    if let Some(soc) = parameters.soc {
        if !(0.0..=100.0).contains(&soc) {
            return Err(SovdError::bad_request(format!(
                "parameters.soc must be a percentage from 0 to 100, not {soc}"
            )));
        }
    }
    let service = state
        .config()
        .battery
        .as_ref()
        .ok_or_else(|| SovdError::not_found("no battery pack service runs"))?;
    match service.check(&parameters.pack) {
        Ok(_) => Ok(parameters),
        Err(BatterySwapError::BadInput(message)) => Err(SovdError::bad_request(format!(
            "parameters.pack: {message}"
        ))),
        // Refusals and platform failures are the execution's result.
        Err(BatterySwapError::Refused { .. } | BatterySwapError::Failed(_)) => Ok(parameters),
    }
}

/// Runs `battery-swap`: the verdict, and the swap when the pack fits and
/// `check_only` is not set. A pack that does not fit fails the execution, with
/// the verdict as its parameters.
fn battery_swap(
    state: &SovdState,
    parameters: &SwapParameters,
    who: &str,
) -> Result<serde_json::Value, Failure> {
    let service = state
        .config()
        .battery
        .as_ref()
        .ok_or("no battery pack service runs")?;
    let result = if parameters.check_only {
        service.check(&parameters.pack)
    } else {
        service.swap(&parameters.pack, parameters.soc, who)
    };
    match result {
        Ok(verdict) => Ok(verdict),
        Err(BatterySwapError::Refused { verdict, .. }) if parameters.check_only => Ok(verdict),
        Err(BatterySwapError::Refused { message, verdict }) => Err(Failure {
            message,
            parameters: Some(verdict),
        }),
        Err(BatterySwapError::BadInput(message) | BatterySwapError::Failed(message)) => {
            Err(message.into())
        }
    }
}

async fn run(
    state: &SovdState,
    entity: &Resolved,
    operation: Operation,
    all: bool,
    swap: Option<SwapParameters>,
    who: String,
) -> Result<serde_json::Value, Failure> {
    let config = state.config();
    match operation {
        Operation::ClearFaultMemory => {
            let scope = ClearScope {
                entity: (!all).then(|| entity.entity.clone()),
                code: None,
            };
            let cleared = config.memory.clear(&scope).map_err(|e| e.to_string())?;
            Ok(
                json!({ "cleared": cleared.iter().map(|f| format!("{}/{}", f.entity, f.code)).collect::<Vec<_>>() }),
            )
        }
        Operation::Restart => {
            let runtime = config.runtime.as_ref().ok_or("no app runtime runs")?;
            runtime
                .restart_workload(entity.entity.id())
                .await
                .map_err(|e| e.to_string())?;
            Ok(json!({ "restarted": entity.entity.id() }))
        }
        Operation::SelfTest => self_test(state).await.map_err(Failure::from),
        Operation::BatterySwap => {
            let parameters = swap.ok_or("battery-swap needs parameters")?;
            let state = state.clone();
            tokio::task::spawn_blocking(move || battery_swap(&state, &parameters, &who))
                .await
                .map_err(|e| Failure::from(format!("the battery swap failed: {e}")))?
        }
        Operation::CheckForUpdates => {
            let tracker = config
                .updates
                .as_ref()
                .ok_or("no update agent runs (start tomoe up with --ota-director)")?;
            tracker.check_now();
            Ok(json!({
                "requested": true,
                "status": tracker.last().map(|p| p.status.as_str()),
            }))
        }
    }
}

/// The broker's self-test: a publication of the DTC list (its present value, so
/// nothing changes) must reach a subscriber; the health counters are reported.
async fn self_test(state: &SovdState) -> Result<serde_json::Value, String> {
    let config = state.config();
    let broker = &config.broker;
    let leaf = tomoe_diag::DTC_LIST_PATHS
        .iter()
        .find_map(|path| broker.catalog().leaf(path))
        .ok_or("the catalog has no DTC list signal to test with")?;
    let permissions = Permissions::allow_all();
    let mut subscription = broker
        .subscribe(&permissions, &[leaf.id], Field::Current, 1, false)
        .map_err(|e| format!("subscribe: {e}"))?;
    let codes = config.memory.confirmed_codes();
    let started = Instant::now();
    broker
        .publish(&permissions, &[(leaf.id, Some(Value::StringArray(codes)))])
        .map_err(|e| format!("publish: {e}"))?;
    let event = tokio::time::timeout(Duration::from_secs(2), subscription.next())
        .await
        .map_err(|_| "the publication did not reach the subscriber within 2 s".to_owned())?;
    let round_trip = started.elapsed();
    match event {
        Some(SubscriptionEvent::Changes(_)) => {}
        other => {
            return Err(format!(
                "the subscriber got {other:?} instead of the publication"
            ))
        }
    }
    let health = broker.health();
    Ok(json!({
        "round_trip_us": round_trip.as_micros() as u64,
        "signals": broker.catalog().len(),
        "subscribers": broker.subscription_count(),
        "lagged_subscribers": health.lagged_subscribers,
        "storage_failures": health.storage_failures,
        "last_storage_error": health.last_storage_error,
    }))
}

fn find_execution<'a>(
    executions: &'a mut Executions,
    entity: &Resolved,
    operation: Operation,
    execution_id: &str,
) -> Result<&'a mut Execution, SovdError> {
    executions
        .by_id
        .get_mut(execution_id)
        .filter(|e| e.entity == entity.entity && e.operation == operation.id())
        .ok_or_else(|| {
            SovdError::not_found(format!(
                "{} has no execution {} of {}",
                entity.entity,
                execution_id.chars().take(64).collect::<String>(),
                operation.id()
            ))
        })
}

/// An operation's executions.
#[utoipa::path(get, path = "/{collection}/{entity_id}/operations/{operation_id}/executions", tag = "operations",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("operation_id" = String, Path, description = "The operation", example = "clear-fault-memory")),
    responses((status = 200, description = "The executions", body = ExecutionList)))]
pub(crate) async fn executions(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, operation_id)): Path<(Collection, String, String)>,
) -> Result<Json<ExecutionList>, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    let operation = operation(&state, &entity, &operation_id)?;
    let executions = state.executions();
    let mut items: Vec<(&Instant, String)> = executions
        .by_id
        .iter()
        .filter(|(_, e)| e.entity == entity.entity && e.operation == operation.id())
        .map(|(id, e)| (&e.created, id.clone()))
        .collect();
    items.sort();
    Ok(Json(ExecutionList {
        items: items
            .into_iter()
            .map(|(_, id)| ExecutionReference { id })
            .collect(),
    }))
}

/// Where an execution stands.
#[utoipa::path(get, path = "/{collection}/{entity_id}/operations/{operation_id}/executions/{execution_id}", tag = "operations",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("operation_id" = String, Path, description = "The operation", example = "clear-fault-memory"),
        ("execution_id" = String, Path, description = "The execution")),
    responses((status = 200, description = "The execution", body = ExecutionStatus)))]
pub(crate) async fn execution(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, operation_id, execution_id)): Path<(Collection, String, String, String)>,
) -> Result<Json<ExecutionStatus>, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    let operation = operation(&state, &entity, &operation_id)?;
    let mut executions = state.executions();
    let execution = find_execution(&mut executions, &entity, operation, &execution_id)?;
    Ok(Json(ExecutionStatus {
        id: execution_id,
        status: execution.state,
        capability: "execute".into(),
        parameters: execution.parameters.clone(),
        error: execution
            .error
            .iter()
            .map(|message| DataError {
                path: "/parameters".into(),
                error: GenericError {
                    error_code: "vendor-specific".into(),
                    message: message.clone(),
                },
            })
            .collect(),
    }))
}

fn stop(execution: &mut Execution) {
    if let Some(task) = execution.task.take() {
        task.abort();
    }
    if execution.state == ExecutionState::Running {
        execution.state = ExecutionState::Failed;
        execution.error = Some("stopped by a client".into());
    }
}

/// Controls an execution: `{"capability": "stop"}` stops it.
#[utoipa::path(put, path = "/{collection}/{entity_id}/operations/{operation_id}/executions/{execution_id}", tag = "operations",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("operation_id" = String, Path, description = "The operation", example = "clear-fault-memory"),
        ("execution_id" = String, Path, description = "The execution")),
    request_body = ExecutionControl,
    responses((status = 200, description = "Its state now", body = ExecutionStarted)))]
pub(crate) async fn control(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, operation_id, execution_id)): Path<(Collection, String, String, String)>,
    body: Bytes,
) -> Result<Json<ExecutionStarted>, SovdError> {
    caller.require_write("controlling an execution")?;
    let entity = state.resolve(collection, &id).await?;
    let operation = operation(&state, &entity, &operation_id)?;
    let request: ExecutionControl = json_body(&body, "an execution control")?
        .ok_or_else(|| SovdError::bad_request("the body must be {\"capability\": \"stop\"}"))?;
    if request.capability != "stop" {
        return Err(SovdError::bad_request(format!(
            "capability \"{}\" is not offered (only stop)",
            request.capability.chars().take(64).collect::<String>()
        )));
    }
    let mut executions = state.executions();
    let execution = find_execution(&mut executions, &entity, operation, &execution_id)?;
    stop(execution);
    Ok(Json(ExecutionStarted {
        id: execution_id,
        status: execution.state,
    }))
}

/// Stops an execution if it runs, and forgets it.
#[utoipa::path(delete, path = "/{collection}/{entity_id}/operations/{operation_id}/executions/{execution_id}", tag = "operations",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("operation_id" = String, Path, description = "The operation", example = "clear-fault-memory"),
        ("execution_id" = String, Path, description = "The execution")),
    responses((status = 204, description = "Stopped and removed")))]
pub(crate) async fn cancel(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, operation_id, execution_id)): Path<(Collection, String, String, String)>,
) -> Result<StatusCode, SovdError> {
    caller.require_write("cancelling an execution")?;
    let entity = state.resolve(collection, &id).await?;
    let operation = operation(&state, &entity, &operation_id)?;
    let mut executions = state.executions();
    let execution = find_execution(&mut executions, &entity, operation, &execution_id)?;
    stop(execution);
    executions.by_id.remove(&execution_id);
    Ok(StatusCode::NO_CONTENT)
}
