//! Data resources: the VSS signals an ECU owns (current values; actuators
//! writable through the broker's actuation path) and the platform's and apps'
//! own system information.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tomoe_broker::{BrokerError, Field};
use tomoe_diag::PlatformComponent;
use tomoe_vss::{EntryType, Leaf, Value};
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::entities::{Collection, EntityKind, Resolved};
use crate::error::SovdError;
use crate::{include_schema, json_body, query_pairs, respond, SovdState};

/// A data category (ISO 17978-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum DataCategory {
    /// Identification (VSS attributes).
    #[serde(rename = "identData")]
    IdentData,
    /// Live values (VSS sensors and actuators).
    #[serde(rename = "currentData")]
    CurrentData,
    /// System information of the platform and its apps.
    #[serde(rename = "sysInfo")]
    SysInfo,
}

impl DataCategory {
    const ALL: [DataCategory; 3] = [
        DataCategory::IdentData,
        DataCategory::CurrentData,
        DataCategory::SysInfo,
    ];

    fn as_str(self) -> &'static str {
        match self {
            DataCategory::IdentData => "identData",
            DataCategory::CurrentData => "currentData",
            DataCategory::SysInfo => "sysInfo",
        }
    }

    fn parse(text: &str) -> Result<DataCategory, SovdError> {
        DataCategory::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                SovdError::bad_request(format!(
                    "unknown data category \"{text}\" (expected identData, currentData or sysInfo)"
                ))
            })
    }
}

/// What a data resource is.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ValueMetadata {
    /// Its id: a VSS path, or a system information name.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its category.
    pub category: DataCategory,
    /// The groups it is in (its VSS branch).
    pub groups: Vec<String>,
}

/// The data resources of an entity.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DataList {
    /// The resources.
    pub items: Vec<ValueMetadata>,
}

/// A category present in an entity's data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CategoryItem {
    /// The category.
    pub item: DataCategory,
}

/// The categories of an entity's data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CategoryList {
    /// The categories.
    pub items: Vec<CategoryItem>,
}

/// A group of an entity's data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DataGroup {
    /// The group (a VSS branch, or `system`).
    pub id: String,
    /// The category of its members.
    pub category: DataCategory,
}

/// The groups of an entity's data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupList {
    /// The groups.
    pub items: Vec<DataGroup>,
}

/// An error about part of a response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DataError {
    /// A JSON pointer to the part.
    pub path: String,
    /// What is wrong.
    pub error: GenericError,
}

/// An SOVD error inside a response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GenericError {
    /// The SOVD error code.
    pub error_code: String,
    /// What is wrong.
    pub message: String,
}

/// A value read.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReadValue {
    /// The resource.
    pub id: String,
    /// Its value; `null` when none is available.
    pub data: serde_json::Value,
    /// Why no value is available, if so.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<DataError>,
}

/// A value to write.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteValue {
    /// The value, in the VSS datatype of the signal.
    pub data: serde_json::Value,
}

/// One data resource of an entity.
pub(crate) enum Item<'a> {
    Signal(&'a Leaf),
    System(&'static str, &'static str),
}

impl Item<'_> {
    fn metadata(&self) -> ValueMetadata {
        match self {
            Item::Signal(leaf) => ValueMetadata {
                id: leaf.path.clone(),
                name: leaf.path.clone(),
                category: if leaf.entry_type == EntryType::Attribute {
                    DataCategory::IdentData
                } else {
                    DataCategory::CurrentData
                },
                groups: leaf
                    .path
                    .rsplit_once('.')
                    .map(|(branch, _)| vec![branch.to_owned()])
                    .unwrap_or_default(),
            },
            Item::System(id, name) => ValueMetadata {
                id: (*id).to_owned(),
                name: (*name).to_owned(),
                category: DataCategory::SysInfo,
                groups: vec!["system".to_owned()],
            },
        }
    }
}

/// The system information items of each kind of entity.
fn system_items(kind: &EntityKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        EntityKind::Platform(PlatformComponent::Broker) => &[
            ("signals", "Signals in the catalog"),
            ("subscribers", "Live subscriptions"),
            (
                "lagged-subscribers",
                "Subscribers dropped for lagging since the start",
            ),
            (
                "storage-failures",
                "Writes refused by the store since the start",
            ),
        ],
        EntityKind::Platform(PlatformComponent::Runtime) => {
            &[("workloads", "Workloads and their states")]
        }
        EntityKind::Platform(PlatformComponent::UpdateAgent) => &[
            ("status", "The update agent's status"),
            ("reason", "What the status concerns"),
        ],
        EntityKind::Platform(PlatformComponent::Store) => &[
            ("fault-memory", "Faults stored"),
            (
                "storage-failures",
                "Writes refused by the store since the start",
            ),
        ],
        EntityKind::Platform(PlatformComponent::CanFeeder) => &[("buses", "The CAN buses read")],
        EntityKind::Bus(_) => &[
            ("channel", "The interface the bus is on"),
            ("dbc", "The bus's DBC file"),
            ("frames", "Frames seen since the start"),
            ("unknown-ids", "Frames whose id the DBC does not know"),
            ("decode-errors", "Frames shorter than their DBC message"),
            (
                "counter-errors",
                "Frames whose rolling counter did not advance by one",
            ),
        ],
        EntityKind::App => &[
            ("state", "Lifecycle state"),
            ("restarts", "Restarts"),
            ("health", "Health check result"),
            ("pid", "Process id"),
            ("uptime-s", "Seconds since the process started"),
            ("last-exit", "How the last run ended"),
        ],
        EntityKind::Ecu(_) => &[],
    }
}

impl SovdState {
    /// The data resources of `entity`.
    pub(crate) fn data_items(&self, entity: &Resolved) -> Vec<Item<'_>> {
        let mut items: Vec<Item<'_>> = system_items(&entity.kind)
            .iter()
            .map(|(id, name)| Item::System(id, name))
            .collect();
        if let EntityKind::Ecu(index) = entity.kind {
            let catalog = self.config().broker.catalog();
            let (leaves, _) = self.ecu_signals(index);
            items.extend(
                leaves
                    .iter()
                    .filter_map(|id| catalog.leaf_by_id(*id))
                    .map(Item::Signal),
            );
        }
        items
    }

    /// The data resource `data_id` of `entity`, if it has one.
    fn data_item(&self, entity: &Resolved, data_id: &str) -> Option<Item<'_>> {
        if let EntityKind::Ecu(index) = entity.kind {
            let leaf = self.config().broker.catalog().leaf(data_id)?;
            let (_, owned) = self.ecu_signals(index);
            return owned.contains(&leaf.id).then_some(Item::Signal(leaf));
        }
        system_items(&entity.kind)
            .iter()
            .find(|(id, _)| *id == data_id)
            .map(|(id, name)| Item::System(id, name))
    }

    /// Reads system information `id` of `entity`.
    async fn system_value(
        &self,
        entity: &Resolved,
        id: &str,
    ) -> Result<serde_json::Value, SovdError> {
        let config = self.config();
        Ok(match (&entity.kind, id) {
            (EntityKind::Platform(PlatformComponent::Broker), "signals") => {
                json!(config.broker.catalog().len())
            }
            (EntityKind::Platform(PlatformComponent::Broker), "subscribers") => {
                json!(config.broker.subscription_count())
            }
            (EntityKind::Platform(PlatformComponent::Broker), "lagged-subscribers") => {
                json!(config.broker.health().lagged_subscribers)
            }
            (
                EntityKind::Platform(PlatformComponent::Broker | PlatformComponent::Store),
                "storage-failures",
            ) => {
                json!(config.broker.health().storage_failures)
            }
            (EntityKind::Platform(PlatformComponent::Store), "fault-memory") => {
                json!(config.memory.faults().len())
            }
            (EntityKind::Platform(PlatformComponent::Runtime), "workloads") => {
                let workloads = match &config.runtime {
                    Some(runtime) => runtime
                        .list()
                        .await
                        .map_err(|e| SovdError::unavailable(format!("the app runtime: {e}")))?,
                    None => Vec::new(),
                };
                serde_json::Value::Object(
                    workloads
                        .into_iter()
                        .map(|w| (w.name, json!(w.state.as_str())))
                        .collect(),
                )
            }
            (EntityKind::Platform(PlatformComponent::UpdateAgent), "status" | "reason") => {
                let last = config.updates.as_ref().and_then(|u| u.last());
                match (id, last) {
                    ("status", Some(p)) => json!(p.status.as_str()),
                    ("reason", Some(p)) => json!(p.reason),
                    _ => serde_json::Value::Null,
                }
            }
            (EntityKind::Platform(PlatformComponent::CanFeeder), "buses") => {
                json!(config.buses.iter().map(|b| &b.name).collect::<Vec<_>>())
            }
            (EntityKind::Bus(index), "channel") => json!(config.buses[*index].channel),
            (EntityKind::Bus(index), "dbc") => json!(config.buses[*index].dbc),
            (EntityKind::Bus(index), counter) => {
                let Some(counters) = config.can.bus(&config.buses[*index].name) else {
                    return Ok(serde_json::Value::Null);
                };
                let value = match counter {
                    "frames" => &counters.frames,
                    "unknown-ids" => &counters.unknown_ids,
                    "decode-errors" => &counters.decode_errors,
                    _ => &counters.counter_errors,
                };
                json!(value.load(std::sync::atomic::Ordering::Relaxed))
            }
            (EntityKind::App, _) => {
                let runtime = config
                    .runtime
                    .as_ref()
                    .ok_or_else(|| SovdError::unavailable("no app runtime runs"))?;
                let status = runtime
                    .list()
                    .await
                    .map_err(|e| SovdError::unavailable(format!("the app runtime: {e}")))?
                    .into_iter()
                    .find(|w| w.name == entity.entity.id())
                    .ok_or_else(|| {
                        SovdError::not_found(format!("no app {}", entity.entity.id()))
                    })?;
                match id {
                    "state" => json!(status.state.as_str()),
                    "restarts" => json!(status.restarts),
                    "health" => json!(status.health.as_str()),
                    "pid" => json!(status.pid),
                    "uptime-s" => json!(status.uptime_s),
                    "last-exit" => json!(status.last_exit),
                    _ => serde_json::Value::Null,
                }
            }
            _ => serde_json::Value::Null,
        })
    }
}

fn filters(pairs: &[(String, String)]) -> Result<(Vec<DataCategory>, Vec<String>), SovdError> {
    let mut categories = Vec::new();
    let mut groups = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "categories" | "category" => {
                for part in value.split(',').filter(|p| !p.is_empty()) {
                    categories.push(DataCategory::parse(part)?);
                }
            }
            "groups" | "group" => groups.extend(
                value
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            ),
            "include-schema" => {}
            other => {
                return Err(SovdError::bad_request(format!(
                "unknown query parameter \"{}\" (expected categories, groups or include-schema)",
                other.chars().take(64).collect::<String>()
            )))
            }
        }
    }
    Ok((categories, groups))
}

/// The data resources of an entity.
#[utoipa::path(get, path = "/{collection}/{entity_id}/data", tag = "data",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("categories" = Option<String>, Query, description = "Only these categories (comma-separated)"),
        ("groups" = Option<String>, Query, description = "Only these groups (comma-separated)"),
        ("include-schema" = Option<bool>, Query, description = "Add the response's JSON schema")),
    responses((status = 200, description = "The data resources", body = DataList)))]
pub(crate) async fn list(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id)): Path<(Collection, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, SovdError> {
    caller.require_read()?;
    let pairs = query_pairs(query.as_deref())?;
    let include = include_schema(&pairs)?;
    let (categories, groups) = filters(&pairs)?;
    let entity = state.resolve(collection, &id).await?;
    let items = state
        .data_items(&entity)
        .iter()
        .map(Item::metadata)
        .filter(|m| categories.is_empty() || categories.contains(&m.category))
        .filter(|m| groups.is_empty() || m.groups.iter().any(|g| groups.contains(g)))
        .collect();
    Ok(respond(&DataList { items }, include))
}

/// The categories of an entity's data.
#[utoipa::path(get, path = "/{collection}/{entity_id}/data-categories", tag = "data",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms")),
    responses((status = 200, description = "The categories", body = CategoryList)))]
pub(crate) async fn categories(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id)): Path<(Collection, String)>,
) -> Result<Json<CategoryList>, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    let present: Vec<DataCategory> = state
        .data_items(&entity)
        .iter()
        .map(|item| item.metadata().category)
        .collect();
    let items = DataCategory::ALL
        .into_iter()
        .filter(|c| present.contains(c))
        .map(|item| CategoryItem { item })
        .collect();
    Ok(Json(CategoryList { items }))
}

/// The groups of an entity's data.
#[utoipa::path(get, path = "/{collection}/{entity_id}/data-groups", tag = "data",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms")),
    responses((status = 200, description = "The groups", body = GroupList)))]
pub(crate) async fn groups(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id)): Path<(Collection, String)>,
) -> Result<Json<GroupList>, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    let mut items: Vec<DataGroup> = Vec::new();
    for metadata in state.data_items(&entity).iter().map(Item::metadata) {
        for group in metadata.groups {
            if !items.iter().any(|g| g.id == group) {
                items.push(DataGroup {
                    id: group,
                    category: metadata.category,
                });
            }
        }
    }
    Ok(Json(GroupList { items }))
}

/// The broker's refusal as an SOVD error.
pub(crate) fn broker_error(error: BrokerError, path: &str) -> SovdError {
    let message = format!("{path}: {error}");
    let kind = match &error {
        BrokerError::Refused(entry) => &entry.reason,
        other => other,
    };
    match kind {
        BrokerError::PermissionDenied { .. }
        | BrokerError::PrivateBranch { .. }
        | BrokerError::PermissionExpired => SovdError::forbidden(message),
        BrokerError::InvalidValue(_) | BrokerError::InvalidPattern(_) | BrokerError::Empty => {
            SovdError::bad_request(message)
        }
        BrokerError::NotFound { .. } | BrokerError::UnknownId { .. } => {
            SovdError::not_found(message)
        }
        BrokerError::NoProvider { .. }
        | BrokerError::ProviderOverloaded { .. }
        | BrokerError::ProviderFailed { .. }
        | BrokerError::NotAnActuator { .. }
        | BrokerError::AlreadyClaimed { .. } => SovdError::conflict(message),
        _ => SovdError::unavailable(message),
    }
}

/// Reads one data resource.
pub(crate) async fn read_value(
    state: &SovdState,
    caller: &Caller,
    entity: &Resolved,
    data_id: &str,
) -> Result<ReadValue, SovdError> {
    let item = state.data_item(entity, data_id).ok_or_else(|| {
        SovdError::not_found(format!(
            "{} has no data {}",
            entity.entity,
            data_id.chars().take(200).collect::<String>()
        ))
        .at(format!("{}/data/{data_id}", entity.path))
    })?;
    match item {
        Item::System(id, _) => Ok(ReadValue {
            id: (*id).to_owned(),
            data: state.system_value(entity, id).await?,
            errors: Vec::new(),
        }),
        Item::Signal(leaf) => {
            let broker = &state.config().broker;
            let datapoint = broker
                .get(&caller.permissions, &[leaf.id], Field::Current)
                .map_err(|e| broker_error(e, &leaf.path))?
                .remove(0);
            let (data, errors) = match datapoint.value {
                Some(value) => (value.to_json(), Vec::new()),
                None => (
                    serde_json::Value::Null,
                    vec![DataError {
                        path: "/data".into(),
                        error: GenericError {
                            error_code: "not-responding".into(),
                            message: format!("{} has no value yet", leaf.path),
                        },
                    }],
                ),
            };
            Ok(ReadValue {
                id: leaf.path.clone(),
                data,
                errors,
            })
        }
    }
}

/// One data resource's value.
#[utoipa::path(get, path = "/{collection}/{entity_id}/data/{data_id}", tag = "data",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("data_id" = String, Path, description = "The data resource (a VSS path for signals)", example = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"),
        ("include-schema" = Option<bool>, Query, description = "Add the response's JSON schema")),
    responses((status = 200, description = "The value", body = ReadValue)))]
pub(crate) async fn read(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, data_id)): Path<(Collection, String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, SovdError> {
    caller.require_read()?;
    let include = include_schema(&query_pairs(query.as_deref())?)?;
    let entity = state.resolve(collection, &id).await?;
    let value = read_value(&state, &caller, &entity, &data_id).await?;
    Ok(respond(&value, include))
}

/// Writes an actuator's target through the broker's actuation path. The caller
/// must hold the entity's lock and the broker permission to actuate it; the
/// actuator's provider must be connected.
#[utoipa::path(put, path = "/{collection}/{entity_id}/data/{data_id}", tag = "data",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("data_id" = String, Path, description = "The actuator's VSS path", example = "Vehicle.Body.Lights.Beam.Low.IsOn")),
    request_body = WriteValue,
    responses((status = 204, description = "The actuation request was accepted")))]
pub(crate) async fn write(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, data_id)): Path<(Collection, String, String)>,
    body: Bytes,
) -> Result<StatusCode, SovdError> {
    caller.require_write("writing data")?;
    let entity = state.resolve(collection, &id).await?;
    let resource = format!("{}/data/{data_id}", entity.path);
    let leaf = match state.data_item(&entity, &data_id) {
        Some(Item::Signal(leaf)) => Some(leaf),
        _ => None,
    }
    .ok_or_else(|| {
        SovdError::not_found(format!(
            "{} has no writable data {}",
            entity.entity,
            data_id.chars().take(200).collect::<String>()
        ))
        .at(resource.clone())
    })?;
    let request: WriteValue = json_body(&body, &resource)?.ok_or_else(|| {
        SovdError::bad_request(format!("{resource}: the body must be {{\"data\": VALUE}}"))
    })?;
    if leaf.entry_type != EntryType::Actuator {
        return Err(SovdError::conflict(format!(
            "{} is a {}; only actuators can be written",
            leaf.path, leaf.entry_type
        ))
        .at(resource));
    }
    state.require_lock(&caller, &entity)?;
    let value = Value::from_json(&request.data, leaf.datatype)
        .map_err(|e| SovdError::bad_request(format!("{}: {e}", leaf.path)).at(resource.clone()))?;
    state
        .config()
        .broker
        .actuate_confirmed(
            &caller.permissions,
            &[(leaf.id, value)],
            tomoe_broker::CONFIRMATION_TIMEOUT,
        )
        .await
        .map_err(|e| broker_error(e, &leaf.path).at(resource))?;
    Ok(StatusCode::NO_CONTENT)
}
