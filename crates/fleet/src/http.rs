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
//! | `POST /fleet/v1/campaigns` | `fleet:write` | create a campaign ([`CampaignRequest`]) |
//! | `GET /fleet/v1/campaigns` | `fleet` | every campaign with its counts |
//! | `GET /fleet/v1/campaigns/{id}` | `fleet` | one campaign ([`CampaignStatus`]) |
//! | `GET /fleet/v1/campaigns/{id}/vehicles?status=&after=&limit=` | `fleet` | its vehicles, a page at a time |
//! | `POST /fleet/v1/campaigns/{id}/{pause,resume,cancel}` | `fleet:write` | change its state (body: optional `{"reason": ...}`) |
//! | `GET /fleet/v1/vehicles/{id}/telemetry?path=&since=&until=&limit=` | `fleet` | a time window of one path, or every latest value without `path` |
//! | `PUT /fleet/v1/vehicles/{id}/telemetry-policy` | `fleet:write` | the vehicle's telemetry policy (TOML, as `--telemetry-policy` reads): what it may send |
//! | `GET /fleet/v1/telemetry/mean?path=&since=` | `fleet` | the mean of a numeric path by brand and model |
//! | `GET /director/{vin}/{file}` | none (the metadata is signed) | the vehicle's director metadata: `root.json`, `N.root.json`, `timestamp.json`, `snapshot.json`, `targets.json` |
//! | `POST /director/{vin}/manifest` | the primary's signature | store a signed version manifest |
//! | `GET /image/{file}` | none (signed) | the image repository, when the backend serves it |
//!
//! Errors are `application/problem+json` (RFC 9457) naming what is wrong and where.

use std::path::PathBuf;
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
    CampaignAction, CampaignRequest, CampaignStatus, CampaignVehicle, Director, DirectorFile,
    Fleet, FleetError, InstalledImage, Registration, UpdateStatus, VehicleFilter, VehicleRecord,
    VehicleSummary, MAX_MANIFEST_BYTES,
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

/// What the HTTP API serves besides the database.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Who may use the operator API.
    pub access: AccessPolicy,
    /// The director's keys; without them `/director/{vin}/` takes manifests only.
    pub director: Option<Arc<Director>>,
    /// The image repository directory: campaigns take their images' descriptions
    /// from its `targets.json`, and it is served under `/image/`.
    pub image_repository: Option<PathBuf>,
}

#[derive(Clone)]
struct AppState {
    fleet: Fleet,
    access: Arc<AccessPolicy>,
    director: Option<Arc<Director>>,
    image_repository: Option<PathBuf>,
}

/// The HTTP API of `fleet` (see the module documentation).
pub fn router(fleet: Fleet, config: HttpConfig) -> Router {
    let images = config
        .image_repository
        .clone()
        .map(tomoe_ota::server::image_router);
    let router = Router::new()
        .route("/fleet/v1/vehicles", post(register).get(list))
        .route("/fleet/v1/vehicles/{id}", get(vehicle))
        .route("/fleet/v1/vehicles/{id}/telemetry", get(telemetry))
        .route(
            "/fleet/v1/vehicles/{id}/telemetry-policy",
            axum::routing::put(set_policy),
        )
        .route("/fleet/v1/telemetry/mean", get(telemetry_mean))
        .route("/fleet/v1/campaigns", post(create_campaign).get(campaigns))
        .route("/fleet/v1/campaigns/{id}", get(campaign))
        .route("/fleet/v1/campaigns/{id}/vehicles", get(campaign_vehicles))
        .route("/fleet/v1/campaigns/{id}/{action}", post(campaign_action))
        .route("/director/{vin}/manifest", post(manifest))
        .route("/director/{vin}/{file}", get(director_file))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(AppState {
            fleet,
            access: Arc::new(config.access),
            director: config.director,
            image_repository: config.image_repository,
        });
    match images {
        Some(images) => router.merge(images),
        None => router,
    }
}

/// An error answer: RFC 9457 problem details.
#[derive(Debug, Serialize)]
pub(crate) struct Problem {
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
            FleetError::NothingTargeted(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "nothing targeted",
                error.to_string(),
            ),
            FleetError::UnknownCampaign(_) => {
                Problem::new(StatusCode::NOT_FOUND, "unknown campaign", error.to_string())
            }
            FleetError::CampaignState { .. } => {
                Problem::new(StatusCode::CONFLICT, "campaign state", error.to_string())
            }
            FleetError::NotConfigured(_) => {
                Problem::new(StatusCode::NOT_FOUND, "not configured", error.to_string())
            }
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

/// The problem details of `error`, as JSON: what Zenoh answers carry.
pub(crate) fn problem_json(error: FleetError) -> serde_json::Value {
    serde_json::to_value(Problem::from(error)).expect("JSON")
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
            // A body cut short or not JSON has no field to name: say it is the body.
            match e.path().to_string().as_str() {
                "?" | "." => format!("body: {}", e.inner()),
                path => format!("{path}: {}", e.inner()),
            },
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

/// A page of a list; `next` is the `after` of the next page, if there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, in id order.
    pub items: Vec<T>,
    /// Where the next page starts, if there is one.
    pub next: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<VehicleSummary>>, Problem> {
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

/// A page of vehicles as a table, with where the next page starts.
impl std::fmt::Display for Page<VehicleSummary> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header = ("ID", "BRAND", "MODEL", "PROFILE");
        write!(
            f,
            "{:<28} {:<12} {:<12} {:<24} LAST SEEN",
            header.0, header.1, header.2, header.3
        )?;
        for v in &self.items {
            let seen = v.last_seen.map_or("never".to_owned(), |t| t.to_rfc3339());
            let (id, brand, model, profile) = (&v.id, &v.brand, &v.model, &v.profile);
            write!(f, "\n{id:<28} {brand:<12} {model:<12} {profile:<24} {seen}")?;
        }
        match &self.next {
            Some(next) => write!(f, "\n(more: --after {next})"),
            None => Ok(()),
        }
    }
}

/// A page of a campaign's vehicles as a table, with where the next page starts.
impl std::fmt::Display for Page<CampaignVehicle> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header = ("VEHICLE", "ECU", "WAVE", "STATUS");
        write!(
            f,
            "{:<28} {:<22} {:>4} {:<12} REASON",
            header.0, header.1, header.2, header.3
        )?;
        for v in &self.items {
            let (id, ecu, wave, status) = (&v.vehicle_id, &v.ecu_id, v.wave, v.status.as_str());
            write!(
                f,
                "\n{id:<28} {ecu:<22} {wave:>4} {status:<12} {}",
                v.reason
            )?;
        }
        match &self.next {
            Some(next) => write!(f, "\n(more: --after {next})"),
            None => Ok(()),
        }
    }
}

/// A vehicle and what its ECUs run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleDetail {
    /// The vehicle.
    #[serde(flatten)]
    pub record: VehicleRecord,
    /// What each ECU runs, by its latest manifest.
    pub installed: Vec<InstalledImage>,
}

impl std::fmt::Display for VehicleDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let summary = &self.record.summary;
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map_or("never".to_owned(), |t| t.to_rfc3339())
        };
        writeln!(
            f,
            "{}: {} {} (profile {})",
            summary.id, summary.brand, summary.model, summary.profile
        )?;
        write!(
            f,
            "  registered {}, last seen {}",
            summary.registered_at.to_rfc3339(),
            time(summary.last_seen)
        )?;
        for ecu in &self.record.ecus {
            let runs = self
                .installed
                .iter()
                .find(|i| i.ecu_id == ecu.ecu_id)
                .map_or("(not in its manifests)".to_owned(), |i| {
                    format!("{} (release {})", i.filename, i.release_counter)
                });
            let primary = if ecu.is_primary { ", primary" } else { "" };
            write!(
                f,
                "\n  ECU {} ({}{primary}): {runs}",
                ecu.ecu_id, ecu.hardware_id
            )?;
        }
        for part in &self.record.parts {
            write!(f, "\n  part {}: {}", part.slot, part.catalog_id)?;
        }
        Ok(())
    }
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

fn invalid(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid input", detail)
}

fn campaign_id(text: &str) -> Result<i64, Problem> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            invalid(format!(
                "campaign id: {:?} is not a campaign id (a positive number)",
                text.chars().take(40).collect::<String>()
            ))
        })
}

/// Reads `name`'s description from the image repository's `targets.json`.
async fn image_target(
    state: &AppState,
    name: &str,
) -> Result<tomoe_ota::metadata::TargetFile, Problem> {
    let dir = state.image_repository.as_ref().ok_or_else(|| {
        Problem::from(FleetError::NotConfigured(
            "this backend has no image repository (fleet serve --image-repository DIR)".into(),
        ))
    })?;
    let path = dir.join("targets.json");
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        tracing::error!(path = %path.display(), error = %e, "cannot read the image repository");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "image repository unavailable",
            "the image repository's targets.json cannot be read",
        )
    })?;
    let targets: tomoe_ota::metadata::Signed<tomoe_ota::metadata::Targets> =
        serde_json::from_slice(&bytes).map_err(|e| {
            tracing::error!(path = %path.display(), error = %e, "the image repository's targets.json is not targets metadata");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "image repository unavailable",
                "the image repository's targets.json is not targets metadata",
            )
        })?;
    let count = targets.signed.targets.len();
    targets.signed.targets.get(name).cloned().ok_or_else(|| {
        invalid(format!(
            "image: no target {name:?} in the image repository ({count} targets)"
        ))
    })
}

async fn create_campaign(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<CampaignStatus>), Problem> {
    authorize(&state, &headers, FleetAccess::Write)?;
    let request: CampaignRequest = parse_json(&body)?;
    request.check()?;
    let target = image_target(&state, &request.image).await?;
    let created = state.fleet.create_campaign(&request, &target).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn campaigns(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<CampaignStatus>>, Problem> {
    authorize(&state, &headers, FleetAccess::Read)?;
    Ok(Json(state.fleet.campaigns().await?))
}

async fn campaign(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<CampaignStatus>, Problem> {
    authorize(&state, &headers, FleetAccess::Read)?;
    Ok(Json(state.fleet.campaign(campaign_id(&id)?).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignVehiclesQuery {
    status: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

async fn campaign_vehicles(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<CampaignVehiclesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<CampaignVehicle>>, Problem> {
    authorize(&state, &headers, FleetAccess::Read)?;
    let id = campaign_id(&id)?;
    let Query(query) = query.map_err(|e| invalid(e.body_text()))?;
    let status = query
        .status
        .as_deref()
        .map(str::parse::<UpdateStatus>)
        .transpose()?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=crate::MAX_CAMPAIGN_PAGE).contains(&limit) {
        return Err(invalid(format!(
            "limit: {limit}: expected 1 to {}",
            crate::MAX_CAMPAIGN_PAGE
        )));
    }
    let items = state
        .fleet
        .campaign_vehicles(id, status, query.after.as_deref(), limit)
        .await?;
    let next = (items.len() == limit as usize)
        .then(|| items.last().map(|v| v.vehicle_id.clone()))
        .flatten();
    Ok(Json(Page { items, next }))
}

/// The body of a campaign action: why, for the record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// Why (shown in the campaign's status).
    #[serde(default)]
    pub reason: String,
}

async fn campaign_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<CampaignStatus>, Problem> {
    authorize(&state, &headers, FleetAccess::Write)?;
    let id = campaign_id(&id)?;
    let action = match action.as_str() {
        "pause" => CampaignAction::Pause,
        "resume" => CampaignAction::Resume,
        "cancel" => CampaignAction::Cancel,
        other => {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "unknown action",
                format!(
                    "{:?} is not a campaign action: pause, resume or cancel",
                    other.chars().take(40).collect::<String>()
                ),
            ))
        }
    };
    let body: ActionBody = if body.is_empty() {
        ActionBody::default()
    } else {
        parse_json(&body)?
    };
    if body.reason.len() > 1024 || body.reason.chars().any(char::is_control) {
        return Err(invalid(
            "reason: expected at most 1024 bytes of printable text",
        ));
    }
    Ok(Json(
        state
            .fleet
            .campaign_action(id, action, &body.reason)
            .await?,
    ))
}

async fn set_policy(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, Problem> {
    authorize(&state, &headers, FleetAccess::Write)?;
    let text =
        std::str::from_utf8(&body).map_err(|e| invalid(format!("policy: not UTF-8: {e}")))?;
    state.fleet.set_telemetry_policy(&id, text).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetryQuery {
    path: Option<String>,
    since: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
    limit: Option<u32>,
}

async fn telemetry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<TelemetryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    authorize(&state, &headers, FleetAccess::Read)?;
    let Query(query) = query.map_err(|e| invalid(e.body_text()))?;
    let Some(path) = query.path else {
        if query.since.is_some() || query.until.is_some() || query.limit.is_some() {
            return Err(invalid("since, until and limit need a path"));
        }
        return Ok(Json(state.fleet.latest_telemetry(&id).await?).into_response());
    };
    let until = query.until.unwrap_or_else(chrono::Utc::now);
    let since = match query.since {
        Some(since) => since,
        None => until
            .checked_sub_signed(chrono::Duration::hours(1))
            .ok_or_else(|| invalid("until: too early to look an hour back from"))?,
    };
    let limit = query.limit.unwrap_or(1000);
    if !(1..=crate::MAX_WINDOW_ROWS).contains(&limit) {
        return Err(invalid(format!(
            "limit: {limit}: expected 1 to {}",
            crate::MAX_WINDOW_ROWS
        )));
    }
    Ok(Json(
        state
            .fleet
            .telemetry_window(&id, &path, since, until, limit)
            .await?,
    )
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeanQuery {
    path: String,
    since: Option<chrono::DateTime<chrono::Utc>>,
}

async fn telemetry_mean(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<MeanQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    authorize(&state, &headers, FleetAccess::Read)?;
    let Query(query) = query.map_err(|e| invalid(e.body_text()))?;
    let since = query
        .since
        .unwrap_or_else(|| chrono::Utc::now() - chrono::Duration::hours(1));
    Ok(Json(state.fleet.mean_by_model(&query.path, since).await?).into_response())
}

async fn director_file(
    State(state): State<AppState>,
    Path((vin, file)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let director = state.director.as_ref().ok_or_else(|| {
        Problem::from(FleetError::NotConfigured(
            "this backend serves no director metadata (fleet serve --director DIR)".into(),
        ))
    })?;
    let keys = director.keys();
    let signed = match file.as_str() {
        "timestamp.json" => Some(DirectorFile::Timestamp),
        "snapshot.json" => Some(DirectorFile::Snapshot),
        "targets.json" => Some(DirectorFile::Targets),
        _ => None,
    };
    let now = std::time::SystemTime::now();
    let bytes = match signed {
        Some(which) => state.fleet.director_file(&vin, which, &keys, now).await?,
        None => {
            let root = file.as_str();
            state.fleet.vehicle_exists(&vin).await?;
            keys.root_file(root)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| {
                    Problem::new(
                        StatusCode::NOT_FOUND,
                        "no such file",
                        format!(
                            "no director file {:?} (root.json, N.root.json up to {}, timestamp.json, snapshot.json, targets.json)",
                            root.chars().take(80).collect::<String>(),
                            keys.root_version()
                        ),
                    )
                })?
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response())
}
