//! Locks: a client locks an entity before it writes to it (data, faults,
//! modes); while the lock lives, other clients' writes get 409.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tomoe_diag::Entity;
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::entities::{Collection, Resolved};
use crate::error::SovdError;
use crate::{json_body, rfc3339, SovdState};

/// Most locks held at once across all entities.
pub const MAX_LOCKS: usize = 256;

/// Longest a lock may be asked to live, in seconds.
pub const MAX_LOCK_EXPIRATION_S: u64 = 3600;

#[derive(Debug, Clone)]
pub(crate) struct Lock {
    id: String,
    owner: String,
    expires: Instant,
    expires_at: SystemTime,
}

/// The locks, one per entity at most.
#[derive(Debug, Default)]
pub(crate) struct Locks {
    by_entity: HashMap<Entity, Lock>,
}

impl Locks {
    fn prune(&mut self) {
        let now = Instant::now();
        self.by_entity.retain(|_, lock| lock.expires > now);
    }
}

/// A lock request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockRequest {
    /// How long the lock lives, in seconds (1 to 3600).
    pub lock_expiration: u64,
}

/// A lock.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LockInfo {
    /// Its id.
    pub id: String,
    /// Whether the caller owns it.
    pub owned: bool,
    /// When it expires (RFC 3339).
    pub lock_expiration: String,
}

/// An entity's locks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LockList {
    /// The locks (at most one).
    pub items: Vec<LockInfo>,
}

pub(crate) fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl SovdState {
    /// Refuses a write to `entity` unless `caller` holds its lock.
    pub(crate) fn require_lock(&self, caller: &Caller, entity: &Resolved) -> Result<(), SovdError> {
        let mut locks = self.locks();
        locks.prune();
        match locks.by_entity.get(&entity.entity) {
            Some(lock) if lock.owner == caller.client => Ok(()),
            Some(_) => Err(SovdError::conflict(format!(
                "{} is locked by another client",
                entity.entity
            ))
            .at(format!("{}/locks", entity.path))),
            None => Err(SovdError::conflict(format!(
                "{} is not locked: lock it first (POST {}/locks)",
                entity.entity, entity.path
            ))
            .at(format!("{}/locks", entity.path))),
        }
    }

    /// Refuses an operation on `entity` while another client holds its lock.
    pub(crate) fn refuse_if_locked_by_other(
        &self,
        caller: &Caller,
        entity: &Resolved,
    ) -> Result<(), SovdError> {
        let mut locks = self.locks();
        locks.prune();
        match locks.by_entity.get(&entity.entity) {
            Some(lock) if lock.owner != caller.client => Err(SovdError::conflict(format!(
                "{} is locked by another client",
                entity.entity
            ))),
            _ => Ok(()),
        }
    }
}

fn info(lock: &Lock, caller: &Caller) -> LockInfo {
    LockInfo {
        id: lock.id.clone(),
        owned: lock.owner == caller.client,
        lock_expiration: rfc3339(lock.expires_at),
    }
}

/// Locks an entity (or renews the caller's lock).
#[utoipa::path(post, path = "/{collection}/{entity_id}/locks", tag = "locks",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms")),
    request_body = LockRequest,
    responses((status = 201, description = "Locked", body = LockInfo,
            headers(("Location" = String, description = "The lock"))),
        (status = 200, description = "The caller's lock was renewed", body = LockInfo)))]
pub(crate) async fn create(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id)): Path<(Collection, String)>,
    body: Bytes,
) -> Result<Response, SovdError> {
    caller.require_write("locking")?;
    let entity = state.resolve(collection, &id).await?;
    let resource = format!("{}/locks", entity.path);
    let request: LockRequest = json_body(&body, &resource)?.ok_or_else(|| {
        SovdError::bad_request(format!(
            "{resource}: the body must be {{\"lock_expiration\": SECONDS}}"
        ))
    })?;
    if !(1..=MAX_LOCK_EXPIRATION_S).contains(&request.lock_expiration) {
        return Err(SovdError::bad_request(format!(
            "lock_expiration must be 1 to {MAX_LOCK_EXPIRATION_S} seconds, not {}",
            request.lock_expiration
        ))
        .with_parameters(serde_json::json!({ "max": MAX_LOCK_EXPIRATION_S })));
    }
    let lifetime = Duration::from_secs(request.lock_expiration);
    let mut locks = state.locks();
    locks.prune();
    let (status, lock) = match locks.by_entity.get_mut(&entity.entity) {
        Some(lock) if lock.owner == caller.client => {
            lock.expires = Instant::now() + lifetime;
            lock.expires_at = SystemTime::now() + lifetime;
            (StatusCode::OK, lock.clone())
        }
        Some(_) => {
            return Err(SovdError::conflict(format!(
                "{} is locked by another client",
                entity.entity
            ))
            .at(resource))
        }
        None => {
            if locks.by_entity.len() >= MAX_LOCKS {
                return Err(SovdError::too_many(format!(
                    "{MAX_LOCKS} locks are held already"
                )));
            }
            let lock = Lock {
                id: new_id(),
                owner: caller.client.clone(),
                expires: Instant::now() + lifetime,
                expires_at: SystemTime::now() + lifetime,
            };
            locks.by_entity.insert(entity.entity.clone(), lock.clone());
            (StatusCode::CREATED, lock)
        }
    };
    drop(locks);
    let location = format!("{resource}/{}", lock.id);
    Ok((
        status,
        [(header::LOCATION, location)],
        Json(info(&lock, &caller)),
    )
        .into_response())
}

/// An entity's locks.
#[utoipa::path(get, path = "/{collection}/{entity_id}/locks", tag = "locks",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms")),
    responses((status = 200, description = "The locks", body = LockList)))]
pub(crate) async fn list(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id)): Path<(Collection, String)>,
) -> Result<Json<LockList>, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    let mut locks = state.locks();
    locks.prune();
    let items = locks
        .by_entity
        .get(&entity.entity)
        .map(|lock| info(lock, &caller))
        .into_iter()
        .collect();
    Ok(Json(LockList { items }))
}

fn find<'a>(locks: &'a Locks, entity: &Resolved, lock_id: &str) -> Result<&'a Lock, SovdError> {
    locks
        .by_entity
        .get(&entity.entity)
        .filter(|lock| lock.id == lock_id)
        .ok_or_else(|| {
            SovdError::not_found(format!(
                "{} has no lock {}",
                entity.entity,
                lock_id.chars().take(64).collect::<String>()
            ))
        })
}

/// One lock.
#[utoipa::path(get, path = "/{collection}/{entity_id}/locks/{lock_id}", tag = "locks",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("lock_id" = String, Path, description = "The lock")),
    responses((status = 200, description = "The lock", body = LockInfo)))]
pub(crate) async fn get(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, lock_id)): Path<(Collection, String, String)>,
) -> Result<Json<LockInfo>, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    let mut locks = state.locks();
    locks.prune();
    Ok(Json(info(find(&locks, &entity, &lock_id)?, &caller)))
}

/// Releases a lock (its owner only).
#[utoipa::path(delete, path = "/{collection}/{entity_id}/locks/{lock_id}", tag = "locks",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("lock_id" = String, Path, description = "The lock")),
    responses((status = 204, description = "Released")))]
pub(crate) async fn delete(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, lock_id)): Path<(Collection, String, String)>,
) -> Result<StatusCode, SovdError> {
    caller.require_write("releasing a lock")?;
    let entity = state.resolve(collection, &id).await?;
    let mut locks = state.locks();
    locks.prune();
    let lock = find(&locks, &entity, &lock_id)?;
    if lock.owner != caller.client {
        return Err(SovdError::conflict(format!(
            "the lock of {} belongs to another client",
            entity.entity
        )));
    }
    locks.by_entity.remove(&entity.entity);
    drop(locks);
    state.sessions().reset(&entity.entity);
    Ok(StatusCode::NO_CONTENT)
}
