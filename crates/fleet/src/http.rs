//! The backend's HTTP API (axum): the operator API under `/fleet/v1`, authorized by
//! JWT (`fleet`, `fleet:write`), and the director's manifest endpoint under
//! `/director`, which the `tomoe-ota` client already uses and which the manifest's
//! own signature authenticates.
//!
//! | method and path | access | what |
//! |---|---|---|
//! | `POST /fleet/v1/vehicles` | `fleet:write` | register a vehicle ([`Registration`]) |
//! | `GET /fleet/v1/vehicles?brand=&model=&profile=&hardware_id=&part=&after=&limit=` | `fleet` | list, a page at a time |
//! | `GET /fleet/v1/vehicles/{id}` | `fleet` | one vehicle and what its ECUs run |
//! | `POST /director/{vin}/manifest` | the primary's signature | store a signed version manifest |
//!
//! Errors are `application/problem+json` (RFC 9457) naming what is wrong and where.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tomoe_auth::{FleetAccess, TokenVerifier};

use crate::{
    Fleet, FleetError, InstalledImage, Registration, VehicleFilter, VehicleRecord, VehicleSummary,
    MAX_MANIFEST_BYTES,
};

/// Largest request body accepted (a manifest; registrations are far smaller).
pub const MAX_BODY_BYTES: usize = MAX_MANIFEST_BYTES;

/// Largest page of a vehicle list.
pub const MAX_PAGE: u32 = 1000;

/// Who may use the operator API.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    /// Keys that verify operators' tokens.
    pub verifiers: Vec<Arc<TokenVerifier>>,
}

#[derive(Clone)]
struct AppState {
    fleet: Fleet,
    access: Arc<AccessPolicy>,
}

/// The HTTP API of `fleet` (see the module documentation).
pub fn router(fleet: Fleet, access: AccessPolicy) -> Router {
    Router::new()
        .route("/fleet/v1/vehicles", post(register).get(list))
        .route("/fleet/v1/vehicles/{id}", get(vehicle))
        .route("/director/{vin}/manifest", post(manifest))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(AppState {
            fleet,
            access: Arc::new(access),
        })
}

/// An error answer: RFC 9457 problem details.
#[derive(Debug, Serialize)]
struct Problem {
    title: &'static str,
    status: u16,
    detail: String,
}

impl Problem {
    fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            title,
            status: status.as_u16(),
            detail: detail.into(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(&self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl From<FleetError> for Problem {
    fn from(error: FleetError) -> Problem {
        match &error {
            FleetError::Invalid { .. } => {
                Problem::new(StatusCode::BAD_REQUEST, "invalid input", error.to_string())
            }
            FleetError::UnknownVehicle(_) => {
                Problem::new(StatusCode::NOT_FOUND, "unknown vehicle", error.to_string())
            }
            FleetError::AlreadyRegistered(_) => Problem::new(
                StatusCode::CONFLICT,
                "already registered",
                error.to_string(),
            ),
            FleetError::Replayed { .. } => {
                Problem::new(StatusCode::CONFLICT, "replayed manifest", error.to_string())
            }
            // Data the database refuses (class 22: a NUL byte, a value out of range)
            // or a constraint it enforces (class 23): the client's input, not a failure.
            FleetError::Database(sqlx::Error::Database(db))
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("22") || c.starts_with("23")) =>
            {
                let status = if db.code().is_some_and(|c| c.starts_with("23")) {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::BAD_REQUEST
                };
                Problem::new(status, "invalid input", db.message().to_owned())
            }
            _ => {
                tracing::error!(error = %error, source = ?std::error::Error::source(&error), "fleet database failure");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database unavailable",
                    "the fleet database failed; try again",
                )
            }
        }
    }
}

/// Checks the request's bearer token for `needed` access.
fn authorize(state: &AppState, headers: &HeaderMap, needed: FleetAccess) -> Result<(), Problem> {
    let unauthorized =
        |detail: String| Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
    let header = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("no bearer token: send Authorization: Bearer <JWT>".into()))?
        .to_str()
        .map_err(|_| unauthorized("the Authorization header is not text".into()))?;
    let token = tomoe_auth::bearer_token(header).map_err(|e| unauthorized(e.to_string()))?;
    let grant =
        tomoe_auth::verify_any_grant(state.access.verifiers.iter().map(|v| v.as_ref()), token)
            .map_err(|e| unauthorized(e.to_string()))?;
    if grant.fleet < needed {
        let scope = match needed {
            FleetAccess::Write => "fleet:write",
            _ => "fleet",
        };
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("the token's scope does not grant {scope}"),
        ));
    }
    Ok(())
}

/// A JSON body parsed with the path of the first wrong field in the error.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid input",
            format!("{}: {}", e.path(), e.inner()),
        )
    })
}

#[derive(Serialize)]
struct Registered {
    id: String,
}

async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Registered>), Problem> {
    authorize(&state, &headers, FleetAccess::Write)?;
    let registration: Registration = parse_json(&body)?;
    state.fleet.register(&registration).await?;
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            id: registration.id,
        }),
    ))
}

/// Query of a vehicle list: the filter and the page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    brand: Option<String>,
    model: Option<String>,
    profile: Option<String>,
    hardware_id: Option<String>,
    part: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

/// A page of vehicles; `next` is the `after` of the next page, if there is one.
#[derive(Serialize)]
struct Page {
    items: Vec<VehicleSummary>,
    next: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page>, Problem> {
    authorize(&state, &headers, FleetAccess::Read)?;
    let Query(query) =
        query.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid input", e.body_text()))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid input",
            format!("limit: {limit}: expected 1 to {MAX_PAGE}"),
        ));
    }
    let filter = VehicleFilter {
        brand: query.brand,
        model: query.model,
        profile: query.profile,
        hardware_id: query.hardware_id,
        part: query.part,
    };
    let items = state
        .fleet
        .vehicles(&filter, query.after.as_deref(), limit)
        .await?;
    let next = (items.len() == limit as usize)
        .then(|| items.last().map(|v| v.id.clone()))
        .flatten();
    Ok(Json(Page { items, next }))
}

/// A vehicle and what its ECUs run.
#[derive(Serialize)]
struct VehicleDetail {
    #[serde(flatten)]
    record: VehicleRecord,
    installed: Vec<InstalledImage>,
}

async fn vehicle(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<VehicleDetail>, Problem> {
    authorize(&state, &headers, FleetAccess::Read)?;
    let record = state.fleet.vehicle(&id).await?;
    let installed = state.fleet.installed(&id).await?;
    Ok(Json(VehicleDetail { record, installed }))
}

async fn manifest(
    State(state): State<AppState>,
    Path(vin): Path<String>,
    body: Bytes,
) -> Result<Json<crate::ManifestReceipt>, Problem> {
    let receipt = state.fleet.report_manifest(&vin, &body).await;
    if let Err(error) = &receipt {
        tracing::warn!(vehicle = vin, %error, "refused a vehicle manifest");
    }
    Ok(Json(receipt?))
}
