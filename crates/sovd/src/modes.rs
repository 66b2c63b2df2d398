//! Modes: the vehicle mode (read only, from the state manager) and each
//! entity's diagnostic session (`DEFAULT` or `EXTENDED`, set by the lock holder).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use tomoe_diag::Entity;
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::entities::Collection;
use crate::error::SovdError;
use crate::{json_body, SovdState};

/// A diagnostic session (UDS `DiagnosticSessionControl`, 0x10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum DiagnosticSession {
    /// The default session.
    #[default]
    Default,
    /// The extended session a workshop uses.
    Extended,
}

/// The diagnostic session of each entity that left the default one.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_entity: HashMap<Entity, DiagnosticSession>,
}

impl Sessions {
    /// Back to the default session (the lock was released).
    pub(crate) fn reset(&mut self, entity: &Entity) {
        self.by_entity.remove(entity);
    }

    fn get(&self, entity: &Entity) -> DiagnosticSession {
        self.by_entity.get(entity).copied().unwrap_or_default()
    }
}

/// A mode in a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModeReference {
    /// Its id (`session`, `vehicle`).
    pub id: String,
    /// Its name.
    pub name: String,
}

/// An entity's modes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModeList {
    /// The modes.
    pub items: Vec<ModeReference>,
}

/// A mode's value.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModeValue {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its value (`DEFAULT`, `PARKED`, ...).
    pub value: String,
}

/// A request to change a mode.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModeRequest {
    /// The new value.
    pub value: String,
    /// Ignored: the session lasts as long as the caller's lock.
    #[serde(default)]
    pub mode_expiration: Option<u64>,
}

const MODES: [(&str, &str); 2] = [
    ("session", "Diagnostic session"),
    (
        "vehicle",
        "Vehicle mode (from the state manager; read only)",
    ),
];

/// An entity's modes.
#[utoipa::path(get, path = "/{collection}/{entity_id}/modes", tag = "modes",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms")),
    responses((status = 200, description = "The modes", body = ModeList)))]
pub(crate) async fn list(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id)): Path<(Collection, String)>,
) -> Result<Json<ModeList>, SovdError> {
    caller.require_read()?;
    state.resolve(collection, &id).await?;
    Ok(Json(ModeList {
        items: MODES
            .iter()
            .map(|(id, name)| ModeReference {
                id: (*id).to_owned(),
                name: (*name).to_owned(),
            })
            .collect(),
    }))
}

fn mode_name(mode_id: &str) -> Result<&'static str, SovdError> {
    MODES
        .iter()
        .find(|(id, _)| *id == mode_id)
        .map(|(_, name)| *name)
        .ok_or_else(|| {
            SovdError::not_found(format!(
                "no mode {} (expected session or vehicle)",
                mode_id.chars().take(64).collect::<String>()
            ))
        })
}

/// One mode's value.
#[utoipa::path(get, path = "/{collection}/{entity_id}/modes/{mode_id}", tag = "modes",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("mode_id" = String, Path, description = "session or vehicle", example = "session")),
    responses((status = 200, description = "The mode", body = ModeValue)))]
pub(crate) async fn get(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, mode_id)): Path<(Collection, String, String)>,
) -> Result<Json<ModeValue>, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    let name = mode_name(&mode_id)?;
    let value = if mode_id == "vehicle" {
        state.config().mode.borrow().as_str().to_owned()
    } else {
        match state.sessions().get(&entity.entity) {
            DiagnosticSession::Default => "DEFAULT".to_owned(),
            DiagnosticSession::Extended => "EXTENDED".to_owned(),
        }
    };
    Ok(Json(ModeValue {
        id: mode_id,
        name: name.to_owned(),
        value,
    }))
}

/// Changes the diagnostic session; the caller must hold the entity's lock.
#[utoipa::path(put, path = "/{collection}/{entity_id}/modes/{mode_id}", tag = "modes",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("mode_id" = String, Path, description = "session", example = "session")),
    request_body = ModeRequest,
    responses((status = 200, description = "The new value", body = ModeValue)))]
pub(crate) async fn put(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, mode_id)): Path<(Collection, String, String)>,
    body: Bytes,
) -> Result<Json<ModeValue>, SovdError> {
    caller.require_write("changing a mode")?;
    let entity = state.resolve(collection, &id).await?;
    let name = mode_name(&mode_id)?;
    let resource = format!("{}/modes/{mode_id}", entity.path);
    if mode_id == "vehicle" {
        return Err(SovdError::conflict(
            "the vehicle mode is derived from the vehicle's signals and cannot be set",
        )
        .at(resource));
    }
    let request: ModeRequest = json_body(&body, &resource)?.ok_or_else(|| {
        SovdError::bad_request(format!(
            "{resource}: the body must be {{\"value\": \"EXTENDED\"}}"
        ))
    })?;
    let session = match request.value.to_ascii_uppercase().as_str() {
        "DEFAULT" => DiagnosticSession::Default,
        "EXTENDED" => DiagnosticSession::Extended,
        _ => {
            return Err(SovdError::bad_request(format!(
                "{resource}: the session is DEFAULT or EXTENDED, not \"{}\"",
                request.value.chars().take(64).collect::<String>()
            )))
        }
    };
    state.require_lock(&caller, &entity)?;
    let mut sessions = state.sessions();
    match session {
        DiagnosticSession::Default => sessions.reset(&entity.entity),
        DiagnosticSession::Extended => {
            sessions.by_entity.insert(entity.entity.clone(), session);
        }
    }
    Ok(Json(ModeValue {
        id: mode_id,
        name: name.to_owned(),
        value: match session {
            DiagnosticSession::Default => "DEFAULT",
            DiagnosticSession::Extended => "EXTENDED",
        }
        .to_owned(),
    }))
}
