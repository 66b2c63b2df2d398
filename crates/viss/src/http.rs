//! VISS over HTTP: `GET /Vehicle/Speed?filter=...` reads, `POST` with
//! `{"value": ...}` sets, `GET /` answers the server capabilities; a WebSocket
//! upgrade on `/` opens a VISS WebSocket session.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use axum::middleware::Next;

use axum::extract::{FromRequestParts, Path, Query, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};

use crate::ops::timestamp;
use crate::request::{self, Action, Object};
use crate::{capabilities, Viss, VissError, MAX_MESSAGE_BYTES, SUBPROTOCOLS};

fn reply(result: Result<Object, VissError>) -> Response {
    let (status, mut body) = match result {
        Ok(body) => (StatusCode::OK, body),
        Err(error) => {
            let status =
                StatusCode::from_u16(error.number).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut body = Object::new();
            body.insert("error".into(), error.to_json());
            (status, body)
        }
    };
    body.insert("ts".into(), json!(timestamp(SystemTime::now())));
    let mut response = (status, axum::Json(Json::Object(body))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    response
}

/// The token of an `Authorization: Bearer` header, if any.
fn token(headers: &HeaderMap) -> Result<Option<&str>, VissError> {
    match headers.get(header::AUTHORIZATION) {
        None => Ok(None),
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| VissError::new(401, "invalid_token", "Access token is invalid"))?;
            Ok(Some(tomoe_auth::bearer_token(value)?))
        }
    }
}

/// `/`: a WebSocket session when the request asks for an upgrade, the server
/// capabilities otherwise.
pub(crate) async fn root(State(viss): State<Viss>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade {
        let mut body = Object::new();
        body.insert(
            "metadata".into(),
            json!({ "server_capabilities": capabilities() }),
        );
        return reply(Ok(body));
    }
    if viss.anonymous() && !loopback_origin(&parts.headers) {
        // Without tokens any web page the browser shows could drive the vehicle.
        return reply(Err(VissError::new(
            403,
            "forbidden_request",
            "Without token keys, only pages from a loopback origin may open a VISS WebSocket",
        )));
    }
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &viss).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let Ok(permit) = viss.connections.clone().try_acquire_owned() else {
        return reply(Err(VissError::unavailable_service(format!(
            "The server holds {} WebSocket connections, its maximum; try again later",
            crate::MAX_CONNECTIONS
        ))));
    };
    ws.protocols(SUBPROTOCOLS)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| crate::ws::connection(viss, socket, permit))
}

/// Whether the request has no `Origin` (not a browser) or one on a loopback host.
fn loopback_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default());
    let host = host.map(|h| match h.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => h,
    });
    matches!(host, Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// `GET /Vehicle/Speed?filter={...}`.
pub(crate) async fn get(
    State(viss): State<Viss>,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut message = json!({ "action": "get", "path": path });
    let result = match query.get("filter").map(|f| serde_json::from_str::<Json>(f)) {
        Some(Err(e)) => Err(VissError::bad_request(format!(
            "Missing or invalid filter: not JSON: {e}"
        ))),
        filter => {
            if let Some(Ok(filter)) = filter {
                message["filter"] = filter;
            }
            handle(&viss, &message, &headers).await
        }
    };
    reply(result)
}

/// `POST /Vehicle/Body/Trunk/Rear/IsOpen` with `{"value": "true"}`.
pub(crate) async fn post(
    State(viss): State<Viss>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let value = match serde_json::from_slice::<Json>(&body) {
        Ok(Json::Object(mut object)) => object.remove("value"),
        _ => None,
    };
    let result = match value {
        None => Err(VissError::bad_request(
            "Missing or invalid value: the body is {\"value\": ...}",
        )),
        Some(value) => {
            let message = json!({ "action": "set", "path": path, "value": value });
            handle(&viss, &message, &headers).await
        }
    };
    reply(result)
}

async fn handle(viss: &Viss, message: &Json, headers: &HeaderMap) -> Result<Object, VissError> {
    let request = request::parse(message)?;
    let permissions = viss.permissions(token(headers)?)?;
    match request.action {
        Action::Get => viss.get_off_thread(permissions, request).await,
        _ => viss.set(&permissions, &request).await,
    }
}

/// Reports every HTTP request but a WebSocket upgrade (whose messages are
/// reported one by one) to the observer, by method and status: also those
/// refused before a handler runs (a body over the limit, a method not allowed).
pub(crate) async fn observe(State(viss): State<Viss>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = match *request.method() {
        axum::http::Method::GET => "http get",
        axum::http::Method::POST => "http set",
        _ => "http other",
    };
    let response = next.run(request).await;
    let status = response.status();
    if status != StatusCode::SWITCHING_PROTOCOLS {
        viss.observe_status(method, status.as_u16(), started);
    }
    response
}
