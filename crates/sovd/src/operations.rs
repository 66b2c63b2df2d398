//! Operations, run as asynchronous executions: clear an entity's fault memory,
//! restart an app, run the broker's self-test, check for updates.

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
}

impl Operation {
    fn id(self) -> &'static str {
        match self {
            Operation::ClearFaultMemory => "clear-fault-memory",
            Operation::Restart => "restart",
            Operation::SelfTest => "self-test",
            Operation::CheckForUpdates => "check-for-updates",
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
        }
    }

    fn of(kind: &EntityKind) -> Vec<Operation> {
        let mut operations = vec![Operation::ClearFaultMemory];
        match kind {
            EntityKind::App => operations.push(Operation::Restart),
            EntityKind::Platform(PlatformComponent::Broker) => operations.push(Operation::SelfTest),
            EntityKind::Platform(PlatformComponent::UpdateAgent) => {
                operations.push(Operation::CheckForUpdates)
            }
            _ => {}
        }
        operations
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

fn operation(entity: &Resolved, id: &str) -> Result<Operation, SovdError> {
    Operation::of(&entity.kind)
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
        items: Operation::of(&entity.kind)
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
        item: description(operation(&entity, &operation_id)?),
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
    let operation = operation(&entity, &operation_id)?;
    let resource = format!("{}/operations/{}/executions", entity.path, operation.id());
    let request: ExecutionRequest = json_body(&body, &resource)?.unwrap_or_default();
    let timeout = request.timeout.unwrap_or(60);
    if !(1..=MAX_EXECUTION_TIMEOUT_S).contains(&timeout) {
        return Err(SovdError::bad_request(format!(
            "timeout must be 1 to {MAX_EXECUTION_TIMEOUT_S} seconds, not {timeout}"
        )));
    }
    let all = match &request.parameters {
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
    let task = tokio::spawn(async move {
        let result = tokio::time::timeout(
            Duration::from_secs(timeout),
            run(&task_state, &task_entity, operation, all),
        )
        .await
        .unwrap_or_else(|_| Err(format!("timed out after {timeout} s")));
        let mut executions = task_state.executions();
        if let Some(execution) = executions.by_id.get_mut(&task_id) {
            execution.task = None;
            match result {
                Ok(parameters) => {
                    execution.state = ExecutionState::Completed;
                    execution.parameters = Some(parameters);
                }
                Err(error) => {
                    execution.state = ExecutionState::Failed;
                    execution.error = Some(error);
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

async fn run(
    state: &SovdState,
    entity: &Resolved,
    operation: Operation,
    all: bool,
) -> Result<serde_json::Value, String> {
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
        Operation::SelfTest => self_test(state).await,
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
    let operation = operation(&entity, &operation_id)?;
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
    let operation = operation(&entity, &operation_id)?;
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
    let operation = operation(&entity, &operation_id)?;
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
    let operation = operation(&entity, &operation_id)?;
    let mut executions = state.executions();
    let execution = find_execution(&mut executions, &entity, operation, &execution_id)?;
    stop(execution);
    executions.by_id.remove(&execution_id);
    Ok(StatusCode::NO_CONTENT)
}
