//! Cyclic subscriptions: a data resource or an entity's faults, sampled at an
//! interval and sent as server-sent events until the subscription expires.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::Stream;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::entities::{Collection, Resolved};
use crate::error::SovdError;
use crate::faults::{fault_list, FaultFilter};
use crate::locks::new_id;
use crate::{json_body, rfc3339, SovdState};

/// Subscriptions alive at once.
pub const MAX_SUBSCRIPTIONS: usize = 64;

/// Longest a subscription may live, in seconds.
pub const MAX_SUBSCRIPTION_DURATION_S: u64 = 3600;

/// How often a subscription samples its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    /// Every 100 ms.
    Fast,
    /// Every second.
    Normal,
    /// Every 5 s.
    Slow,
}

impl Interval {
    fn period(self) -> Duration {
        match self {
            Interval::Fast => Duration::from_millis(100),
            Interval::Normal => Duration::from_secs(1),
            Interval::Slow => Duration::from_secs(5),
        }
    }
}

/// The event protocol (server-sent events only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Server-sent events.
    Sse,
}

/// A subscription request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRequest {
    /// What to observe: this entity's `faults` or `data/<id>`, relative or as a
    /// full path (`/sovd/v1/components/bms/data/Vehicle.Speed`).
    pub resource: String,
    /// How often to sample.
    pub interval: Interval,
    /// How long the subscription lives, in seconds (1 to 3600).
    pub duration: u64,
    /// `sse` (the default).
    #[serde(default)]
    pub protocol: Option<Protocol>,
}

/// A subscription.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionInfo {
    /// Its id.
    pub id: String,
    /// What it observes.
    pub observed_resource: String,
    /// Where its events are.
    pub event_source: String,
    /// `sse`.
    pub protocol: Protocol,
    /// How often it samples.
    pub interval: Interval,
}

/// An entity's subscriptions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionList {
    /// The subscriptions.
    pub items: Vec<SubscriptionInfo>,
}

#[derive(Debug, Clone)]
enum Observed {
    Faults,
    Data(String),
}

#[derive(Debug, Clone)]
struct Subscription {
    entity: Resolved,
    observed: Observed,
    interval: Interval,
    expires: Instant,
    caller: Caller,
}

impl Subscription {
    fn info(&self, id: &str) -> SubscriptionInfo {
        let base = format!("{}/cyclic-subscriptions/{id}", self.entity.path);
        SubscriptionInfo {
            id: id.to_owned(),
            observed_resource: match &self.observed {
                Observed::Faults => format!("{}/faults", self.entity.path),
                Observed::Data(data) => format!("{}/data/{data}", self.entity.path),
            },
            event_source: format!("{base}/events"),
            protocol: Protocol::Sse,
            interval: self.interval,
        }
    }
}

/// The subscriptions, by id.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    by_id: HashMap<String, Subscription>,
}

impl Subscriptions {
    fn prune(&mut self) {
        let now = Instant::now();
        self.by_id.retain(|_, s| s.expires > now);
    }
}

fn observed(entity: &Resolved, resource: &str) -> Result<Observed, SovdError> {
    let relative = resource
        .strip_prefix(&entity.path)
        .map(|rest| rest.trim_start_matches('/'))
        .unwrap_or(resource);
    if relative == "faults" {
        return Ok(Observed::Faults);
    }
    if let Some(data) = relative.strip_prefix("data/").filter(|d| !d.is_empty()) {
        return Ok(Observed::Data(data.to_owned()));
    }
    Err(SovdError::bad_request(format!(
        "resource \"{}\" is not {}/faults or {}/data/ID",
        resource.chars().take(200).collect::<String>(),
        entity.path,
        entity.path
    )))
}

/// Subscribes to a resource of an entity.
#[utoipa::path(post, path = "/{collection}/{entity_id}/cyclic-subscriptions", tag = "subscriptions",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms")),
    request_body = SubscriptionRequest,
    responses((status = 201, description = "Subscribed", body = SubscriptionInfo,
        headers(("Location" = String, description = "The subscription")))))]
pub(crate) async fn create(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id)): Path<(Collection, String)>,
    body: Bytes,
) -> Result<Response, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    let resource = format!("{}/cyclic-subscriptions", entity.path);
    let request: SubscriptionRequest = json_body(&body, &resource)?.ok_or_else(|| {
        SovdError::bad_request(format!(
            "{resource}: the body must be {{\"resource\": ..., \"interval\": ..., \"duration\": ...}}"
        ))
    })?;
    if !(1..=MAX_SUBSCRIPTION_DURATION_S).contains(&request.duration) {
        return Err(SovdError::bad_request(format!(
            "duration must be 1 to {MAX_SUBSCRIPTION_DURATION_S} seconds, not {}",
            request.duration
        )));
    }
    let observed = observed(&entity, &request.resource)?;
    if let Observed::Data(data) = &observed {
        // The resource must exist and be readable by the caller now.
        crate::data::read_value(&state, &caller, &entity, data).await?;
    }
    let subscription = Subscription {
        entity,
        observed,
        interval: request.interval,
        expires: Instant::now() + Duration::from_secs(request.duration),
        caller,
    };
    let id = new_id();
    let info = subscription.info(&id);
    {
        let mut subscriptions = state.subscriptions();
        subscriptions.prune();
        if subscriptions.by_id.len() >= MAX_SUBSCRIPTIONS {
            return Err(SovdError::too_many(format!(
                "{MAX_SUBSCRIPTIONS} subscriptions are alive"
            )));
        }
        subscriptions.by_id.insert(id.clone(), subscription);
    }
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("{resource}/{id}"))],
        Json(info),
    )
        .into_response())
}

/// An entity's subscriptions.
#[utoipa::path(get, path = "/{collection}/{entity_id}/cyclic-subscriptions", tag = "subscriptions",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms")),
    responses((status = 200, description = "The subscriptions", body = SubscriptionList)))]
pub(crate) async fn list(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id)): Path<(Collection, String)>,
) -> Result<Json<SubscriptionList>, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    let mut subscriptions = state.subscriptions();
    subscriptions.prune();
    let items = subscriptions
        .by_id
        .iter()
        .filter(|(_, s)| s.entity.entity == entity.entity)
        .map(|(id, s)| s.info(id))
        .collect();
    Ok(Json(SubscriptionList { items }))
}

fn find(state: &SovdState, entity: &Resolved, id: &str) -> Result<Subscription, SovdError> {
    let mut subscriptions = state.subscriptions();
    subscriptions.prune();
    subscriptions
        .by_id
        .get(id)
        .filter(|s| s.entity.entity == entity.entity)
        .cloned()
        .ok_or_else(|| {
            SovdError::not_found(format!(
                "{} has no subscription {}",
                entity.entity,
                id.chars().take(64).collect::<String>()
            ))
        })
}

/// One subscription.
#[utoipa::path(get, path = "/{collection}/{entity_id}/cyclic-subscriptions/{subscription_id}", tag = "subscriptions",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("subscription_id" = String, Path, description = "The subscription")),
    responses((status = 200, description = "The subscription", body = SubscriptionInfo)))]
pub(crate) async fn get(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, subscription_id)): Path<(Collection, String, String)>,
) -> Result<Json<SubscriptionInfo>, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    Ok(Json(
        find(&state, &entity, &subscription_id)?.info(&subscription_id),
    ))
}

/// Ends a subscription.
#[utoipa::path(delete, path = "/{collection}/{entity_id}/cyclic-subscriptions/{subscription_id}", tag = "subscriptions",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("subscription_id" = String, Path, description = "The subscription")),
    responses((status = 204, description = "Ended")))]
pub(crate) async fn delete(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, subscription_id)): Path<(Collection, String, String)>,
) -> Result<StatusCode, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    find(&state, &entity, &subscription_id)?;
    state.subscriptions().by_id.remove(&subscription_id);
    Ok(StatusCode::NO_CONTENT)
}

async fn sample(state: &SovdState, subscription: &Subscription) -> serde_json::Value {
    let timestamp = rfc3339(SystemTime::now());
    let payload = match &subscription.observed {
        Observed::Faults => serde_json::to_value(fault_list(
            state,
            &subscription.entity.entity,
            &FaultFilter::default(),
        ))
        .map_err(|e| SovdError::unavailable(e.to_string())),
        Observed::Data(data) => {
            crate::data::read_value(state, &subscription.caller, &subscription.entity, data)
                .await
                .and_then(|v| {
                    serde_json::to_value(v).map_err(|e| SovdError::unavailable(e.to_string()))
                })
        }
    };
    match payload {
        Ok(payload) => serde_json::json!({ "timestamp": timestamp, "payload": payload }),
        Err(error) => {
            let problem = error.problem();
            serde_json::json!({
                "timestamp": timestamp,
                "error": { "error_code": problem.error_code, "message": problem.message },
            })
        }
    }
}

/// The subscription's events: one `data: {"timestamp", "payload"}` per interval
/// (or `"error"` when sampling fails), until it expires or is deleted.
#[utoipa::path(get, path = "/{collection}/{entity_id}/cyclic-subscriptions/{subscription_id}/events", tag = "subscriptions",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("subscription_id" = String, Path, description = "The subscription")),
    responses((status = 200, description = "Server-sent events", content_type = "text/event-stream", body = String)))]
pub(crate) async fn events(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, subscription_id)): Path<(Collection, String, String)>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    let subscription = find(&state, &entity, &subscription_id)?;
    let stream = futures::stream::unfold(
        (
            state,
            subscription,
            subscription_id,
            None::<tokio::time::Interval>,
        ),
        |(state, subscription, id, ticker)| async move {
            let mut ticker = match ticker {
                Some(ticker) => ticker,
                None => tokio::time::interval(subscription.interval.period()),
            };
            ticker.tick().await;
            let alive = {
                let mut subscriptions = state.subscriptions();
                subscriptions.prune();
                subscriptions.by_id.contains_key(&id)
            };
            if !alive {
                return None;
            }
            let data = sample(&state, &subscription).await;
            let event = Event::default().data(data.to_string());
            Some((Ok(event), (state, subscription, id, Some(ticker))))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
