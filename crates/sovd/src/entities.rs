//! The entity model and discovery: components (ECUs, CAN buses, the platform's
//! parts), apps (the runtime's workloads), areas and functions, with relations.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use tomoe_diag::{Entity, PlatformComponent};
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::error::SovdError;
use crate::{include_schema, query_pairs, respond, SovdState, BASE_PATH};

/// The entity collections that carry resources (data, faults, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Collection {
    /// ECUs, CAN buses and the platform's parts.
    Components,
    /// The runtime's workloads.
    Apps,
}

impl Collection {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Collection::Components => "components",
            Collection::Apps => "apps",
        }
    }
}

/// What an entity is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntityKind {
    /// An ECU of the profile (index into the diagnostics spec).
    Ecu(usize),
    /// A CAN bus of the profile (index into the buses).
    Bus(usize),
    /// A part of the platform.
    Platform(PlatformComponent),
    /// A workload of the runtime.
    App,
}

/// An entity that exists.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub kind: EntityKind,
    pub entity: Entity,
    pub name: String,
    /// Its path (`/sovd/v1/components/bms`).
    pub path: String,
}

/// A reference to an entity in a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntityReference {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Where it is.
    pub href: String,
    /// What kind of entity it is (`ecu`, `can-bus`, `platform`, `app`, `area`, `function`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// A list of entities.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntityList {
    /// The entities.
    pub items: Vec<EntityReference>,
}

/// What an entity offers: links to its resources and relations.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntityCapabilities {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its data resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Its fault memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faults: Option<String>,
    /// Its operations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operations: Option<String>,
    /// Its locks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locks: Option<String>,
    /// Its modes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modes: Option<String>,
    /// Its logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
    /// Its cyclic subscriptions.
    #[serde(
        rename = "cyclic-subscriptions",
        skip_serializing_if = "Option::is_none"
    )]
    pub cyclic_subscriptions: Option<String>,
    /// The apps a component hosts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<String>,
    /// The component an app runs on.
    #[serde(rename = "is-located-on", skip_serializing_if = "Option::is_none")]
    pub is_located_on: Option<String>,
    /// The areas a component belongs to.
    #[serde(rename = "belongs-to", skip_serializing_if = "Option::is_none")]
    pub belongs_to: Option<String>,
    /// The components an area contains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// The components a function depends on.
    #[serde(rename = "depends-on", skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<String>,
}

/// The server's own entry point.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServerCapabilities {
    /// The components.
    pub components: String,
    /// The apps.
    pub apps: String,
    /// The areas.
    pub areas: String,
    /// The functions.
    pub functions: String,
    /// The updates.
    pub updates: String,
    /// The OpenAPI document.
    pub docs: String,
}

/// One SOVD version the server speaks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SovdInfo {
    /// The standard's version.
    pub version: String,
    /// Where its resources are.
    pub base_uri: String,
    /// Who made the server.
    pub vendor_info: VendorInfo,
}

/// The server's maker and version.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VendorInfo {
    /// `Tomoe`.
    pub name: String,
    /// Tomoe's version.
    pub version: String,
}

/// The versions the server speaks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionInfo {
    /// One entry per version.
    pub sovd_info: Vec<SovdInfo>,
}

fn href(parts: &[&str]) -> String {
    let mut path = BASE_PATH.to_owned();
    for part in parts {
        path.push('/');
        path.push_str(part);
    }
    path
}

/// The area a platform component or a bus belongs to.
const PLATFORM_AREA: &str = "platform";
const NETWORK_AREA: &str = "network";

fn area_name(id: &str) -> String {
    let mut chars = id.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars)
            .collect::<String>()
            .replace('-', " "),
        None => String::new(),
    }
}

impl SovdState {
    /// Every component: ECUs, buses, platform parts.
    pub(crate) fn components(&self) -> Vec<Resolved> {
        let config = self.config();
        let mut list = Vec::new();
        for (index, ecu) in config.diagnostics.ecus.iter().enumerate() {
            list.push(Resolved {
                kind: EntityKind::Ecu(index),
                entity: Entity::Component(ecu.id.clone()),
                name: ecu.name.clone(),
                path: href(&["components", &ecu.id]),
            });
        }
        for (index, bus) in config.buses.iter().enumerate() {
            let id = format!("can-{}", bus.name);
            list.push(Resolved {
                kind: EntityKind::Bus(index),
                entity: Entity::Component(id.clone()),
                name: format!("CAN bus {} ({})", bus.name, bus.channel),
                path: href(&["components", &id]),
            });
        }
        for part in PlatformComponent::ALL {
            list.push(Resolved {
                kind: EntityKind::Platform(part),
                entity: part.entity(),
                name: part.name().to_owned(),
                path: href(&["components", part.id()]),
            });
        }
        list
    }

    /// Every app the runtime knows.
    pub(crate) async fn apps(&self) -> Result<Vec<Resolved>, SovdError> {
        let Some(runtime) = &self.config().runtime else {
            return Ok(Vec::new());
        };
        let workloads = runtime
            .list()
            .await
            .map_err(|e| SovdError::unavailable(format!("the app runtime: {e}")))?;
        Ok(workloads
            .into_iter()
            .map(|w| Resolved {
                kind: EntityKind::App,
                entity: Entity::App(w.name.clone()),
                path: href(&["apps", &w.name]),
                name: w.name,
            })
            .collect())
    }

    /// The entity `id` of `collection`, or 404.
    pub(crate) async fn resolve(
        &self,
        collection: Collection,
        id: &str,
    ) -> Result<Resolved, SovdError> {
        let found = match collection {
            Collection::Components => self.components().into_iter().find(|c| c.entity.id() == id),
            Collection::Apps => self.apps().await?.into_iter().find(|a| a.entity.id() == id),
        };
        found.ok_or_else(|| {
            SovdError::not_found(format!(
                "no entity {}/{}",
                collection.as_str(),
                id.chars().take(200).collect::<String>()
            ))
            .at(href(&[collection.as_str(), id]))
        })
    }

    /// The areas: those the ECUs name, `network` for the buses, `platform`.
    pub(crate) fn areas(&self) -> Vec<(String, Vec<Resolved>)> {
        let components = self.components();
        let mut areas: Vec<(String, Vec<Resolved>)> = Vec::new();
        for component in components {
            let area = match &component.kind {
                EntityKind::Ecu(index) => match &self.config().diagnostics.ecus[*index].area {
                    Some(area) => area.clone(),
                    None => continue,
                },
                EntityKind::Bus(_) => NETWORK_AREA.to_owned(),
                EntityKind::Platform(_) => PLATFORM_AREA.to_owned(),
                EntityKind::App => continue,
            };
            match areas.iter_mut().find(|(id, _)| *id == area) {
                Some((_, members)) => members.push(component),
                None => areas.push((area, vec![component])),
            }
        }
        areas
    }
}

fn reference(resolved: &Resolved) -> EntityReference {
    let tag = match resolved.kind {
        EntityKind::Ecu(_) => "ecu",
        EntityKind::Bus(_) => "can-bus",
        EntityKind::Platform(_) => "platform",
        EntityKind::App => "app",
    };
    EntityReference {
        id: resolved.entity.id().to_owned(),
        name: resolved.name.clone(),
        href: resolved.path.clone(),
        tags: vec![tag.to_owned()],
    }
}

/// The versions of SOVD this server speaks.
#[utoipa::path(get, path = "/sovd/version-info", tag = "discovery",
    responses((status = 200, description = "The versions", body = VersionInfo)))]
pub(crate) async fn version_info() -> Json<VersionInfo> {
    Json(VersionInfo {
        sovd_info: vec![SovdInfo {
            version: "1.1.0".into(),
            base_uri: BASE_PATH.into(),
            vendor_info: VendorInfo {
                name: "Tomoe".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
        }],
    })
}

/// The server's entry point: links to the collections.
#[utoipa::path(get, path = "/sovd/v1", tag = "discovery",
    responses((status = 200, description = "Links to the collections", body = ServerCapabilities)))]
pub(crate) async fn root(caller: Caller) -> Result<Json<ServerCapabilities>, SovdError> {
    caller.require_read()?;
    Ok(Json(ServerCapabilities {
        components: href(&["components"]),
        apps: href(&["apps"]),
        areas: href(&["areas"]),
        functions: href(&["functions"]),
        updates: href(&["updates"]),
        docs: href(&["docs"]),
    }))
}

/// The entities of a collection.
#[utoipa::path(get, path = "/{collection}", tag = "discovery",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("include-schema" = Option<bool>, Query, description = "Add the response's JSON schema")),
    responses((status = 200, description = "The entities", body = EntityList)))]
pub(crate) async fn list(
    State(state): State<SovdState>,
    caller: Caller,
    Path(collection): Path<Collection>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, SovdError> {
    caller.require_read()?;
    let include = include_schema(&query_pairs(query.as_deref())?)?;
    let entities = match collection {
        Collection::Components => state.components(),
        Collection::Apps => state.apps().await?,
    };
    Ok(respond(
        &EntityList {
            items: entities.iter().map(reference).collect(),
        },
        include,
    ))
}

/// One entity's capabilities.
#[utoipa::path(get, path = "/{collection}/{entity_id}", tag = "discovery",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("include-schema" = Option<bool>, Query, description = "Add the response's JSON schema")),
    responses((status = 200, description = "What the entity offers", body = EntityCapabilities)))]
pub(crate) async fn capabilities(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id)): Path<(Collection, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, SovdError> {
    caller.require_read()?;
    let include = include_schema(&query_pairs(query.as_deref())?)?;
    let resolved = state.resolve(collection, &id).await?;
    let link = |resource: &str| Some(format!("{}/{resource}", resolved.path));
    let is_component = collection == Collection::Components;
    let in_area = state
        .areas()
        .iter()
        .any(|(_, members)| members.iter().any(|m| m.entity == resolved.entity));
    let capabilities = EntityCapabilities {
        id: resolved.entity.id().to_owned(),
        name: resolved.name.clone(),
        data: link("data"),
        faults: link("faults"),
        operations: link("operations"),
        locks: link("locks"),
        modes: link("modes"),
        logs: link("logs"),
        cyclic_subscriptions: link("cyclic-subscriptions"),
        hosts: (resolved.kind == EntityKind::Platform(PlatformComponent::Runtime))
            .then(|| format!("{}/hosts", resolved.path)),
        is_located_on: (!is_component).then(|| format!("{}/is-located-on", resolved.path)),
        belongs_to: (is_component && in_area).then(|| format!("{}/belongs-to", resolved.path)),
        contains: None,
        depends_on: None,
    };
    Ok(respond(&capabilities, include))
}

/// The apps a component hosts (the runtime hosts every app).
#[utoipa::path(get, path = "/components/{entity_id}/hosts", tag = "discovery",
    params(("entity_id" = String, Path, description = "The component", example = "runtime")),
    responses((status = 200, description = "The apps it hosts", body = EntityList)))]
pub(crate) async fn hosts(
    State(state): State<SovdState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EntityList>, SovdError> {
    caller.require_read()?;
    let resolved = state.resolve(Collection::Components, &id).await?;
    let items = if resolved.kind == EntityKind::Platform(PlatformComponent::Runtime) {
        state.apps().await?.iter().map(reference).collect()
    } else {
        Vec::new()
    };
    Ok(Json(EntityList { items }))
}

/// The areas a component belongs to.
#[utoipa::path(get, path = "/components/{entity_id}/belongs-to", tag = "discovery",
    params(("entity_id" = String, Path, description = "The component", example = "runtime")),
    responses((status = 200, description = "Its areas", body = EntityList)))]
pub(crate) async fn belongs_to(
    State(state): State<SovdState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EntityList>, SovdError> {
    caller.require_read()?;
    let resolved = state.resolve(Collection::Components, &id).await?;
    let items = state
        .areas()
        .into_iter()
        .filter(|(_, members)| members.iter().any(|m| m.entity == resolved.entity))
        .map(|(area, _)| area_reference(&area))
        .collect();
    Ok(Json(EntityList { items }))
}

/// The component an app runs on: the runtime.
#[utoipa::path(get, path = "/apps/{entity_id}/is-located-on", tag = "discovery",
    params(("entity_id" = String, Path, description = "The app", example = "range-estimator")),
    responses((status = 200, description = "The component it runs on", body = EntityList)))]
pub(crate) async fn is_located_on(
    State(state): State<SovdState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EntityList>, SovdError> {
    caller.require_read()?;
    state.resolve(Collection::Apps, &id).await?;
    let runtime = state
        .components()
        .into_iter()
        .filter(|c| c.kind == EntityKind::Platform(PlatformComponent::Runtime))
        .map(|c| reference(&c))
        .collect();
    Ok(Json(EntityList { items: runtime }))
}

fn area_reference(id: &str) -> EntityReference {
    EntityReference {
        id: id.to_owned(),
        name: area_name(id),
        href: href(&["areas", id]),
        tags: vec!["area".to_owned()],
    }
}

/// The areas.
#[utoipa::path(get, path = "/areas", tag = "discovery",
    responses((status = 200, description = "The areas", body = EntityList)))]
pub(crate) async fn areas(
    State(state): State<SovdState>,
    caller: Caller,
) -> Result<Json<EntityList>, SovdError> {
    caller.require_read()?;
    let items = state
        .areas()
        .iter()
        .map(|(id, _)| area_reference(id))
        .collect();
    Ok(Json(EntityList { items }))
}

/// One area.
#[utoipa::path(get, path = "/areas/{area_id}", tag = "discovery",
    params(("area_id" = String, Path, description = "The area", example = "powertrain")),
    responses((status = 200, description = "The area", body = EntityCapabilities)))]
pub(crate) async fn area(
    State(state): State<SovdState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EntityCapabilities>, SovdError> {
    caller.require_read()?;
    state
        .areas()
        .iter()
        .find(|(area, _)| *area == id)
        .ok_or_else(|| SovdError::not_found(format!("no area {id}")))?;
    Ok(Json(EntityCapabilities {
        name: area_name(&id),
        contains: Some(href(&["areas", &id, "contains"])),
        id,
        data: None,
        faults: None,
        operations: None,
        locks: None,
        modes: None,
        logs: None,
        cyclic_subscriptions: None,
        hosts: None,
        is_located_on: None,
        belongs_to: None,
        depends_on: None,
    }))
}

/// The components an area contains.
#[utoipa::path(get, path = "/areas/{area_id}/contains", tag = "discovery",
    params(("area_id" = String, Path, description = "The area", example = "powertrain")),
    responses((status = 200, description = "Its components", body = EntityList)))]
pub(crate) async fn contains(
    State(state): State<SovdState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EntityList>, SovdError> {
    caller.require_read()?;
    let areas = state.areas();
    let (_, members) = areas
        .iter()
        .find(|(area, _)| *area == id)
        .ok_or_else(|| SovdError::not_found(format!("no area {id}")))?;
    Ok(Json(EntityList {
        items: members.iter().map(reference).collect(),
    }))
}

/// The functions.
#[utoipa::path(get, path = "/functions", tag = "discovery",
    responses((status = 200, description = "The functions", body = EntityList)))]
pub(crate) async fn functions(
    State(state): State<SovdState>,
    caller: Caller,
) -> Result<Json<EntityList>, SovdError> {
    caller.require_read()?;
    let items = state
        .config()
        .diagnostics
        .functions
        .iter()
        .map(|f| EntityReference {
            id: f.id.clone(),
            name: f.name.clone(),
            href: href(&["functions", &f.id]),
            tags: vec!["function".to_owned()],
        })
        .collect();
    Ok(Json(EntityList { items }))
}

/// One function.
#[utoipa::path(get, path = "/functions/{function_id}", tag = "discovery",
    params(("function_id" = String, Path, description = "The function", example = "charging")),
    responses((status = 200, description = "The function", body = EntityCapabilities)))]
pub(crate) async fn function(
    State(state): State<SovdState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EntityCapabilities>, SovdError> {
    caller.require_read()?;
    let function = state
        .config()
        .diagnostics
        .functions
        .iter()
        .find(|f| f.id == id)
        .ok_or_else(|| SovdError::not_found(format!("no function {id}")))?;
    Ok(Json(EntityCapabilities {
        id: function.id.clone(),
        name: function.name.clone(),
        depends_on: Some(href(&["functions", &function.id, "depends-on"])),
        data: None,
        faults: None,
        operations: None,
        locks: None,
        modes: None,
        logs: None,
        cyclic_subscriptions: None,
        hosts: None,
        is_located_on: None,
        belongs_to: None,
        contains: None,
    }))
}

/// The components a function depends on.
#[utoipa::path(get, path = "/functions/{function_id}/depends-on", tag = "discovery",
    params(("function_id" = String, Path, description = "The function", example = "charging")),
    responses((status = 200, description = "Its components", body = EntityList)))]
pub(crate) async fn depends_on(
    State(state): State<SovdState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EntityList>, SovdError> {
    caller.require_read()?;
    let function = state
        .config()
        .diagnostics
        .functions
        .iter()
        .find(|f| f.id == id)
        .ok_or_else(|| SovdError::not_found(format!("no function {id}")))?;
    let items = state
        .components()
        .iter()
        .filter(|c| function.ecus.iter().any(|e| e == c.entity.id()))
        .map(reference)
        .collect();
    Ok(Json(EntityList { items }))
}
