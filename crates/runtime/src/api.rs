//! The runtime's HTTP API (JSON), used by the `tomoe` CLI and by workloads' heartbeats.
//!
//! | method and path | what |
//! |---|---|
//! | `POST /v1/manifests` (YAML body) | apply a manifest; 400 lists every problem |
//! | `GET /v1/workloads` | status of every workload |
//! | `GET /v1/workloads/{name}` | status of one |
//! | `POST /v1/workloads/{name}/start`, `.../stop` | enable or disable |
//! | `DELETE /v1/workloads/{name}` | stop and forget |
//! | `GET /v1/workloads/{name}/logs?tail=N&follow=true` | its log (streamed with follow) |
//! | `POST /v1/workloads/{name}/heartbeat` | a heartbeat, with the workload's bearer token |
//!
//! The API listens on loopback; it trusts local callers for control (like a local
//! container engine's socket) and checks the workload's token for heartbeats.

use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tracing::Instrument;

use crate::{Manifest, Runtime, RuntimeError};

/// The API's routes over `runtime`.
pub fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/v1/manifests", post(apply))
        .route("/v1/workloads", get(list))
        .route("/v1/workloads/{name}", get(describe).delete(delete))
        .route("/v1/workloads/{name}/start", post(start))
        .route("/v1/workloads/{name}/stop", post(stop))
        .route("/v1/workloads/{name}/logs", get(logs))
        .route("/v1/workloads/{name}/heartbeat", post(heartbeat))
        .with_state(runtime)
}

fn error_response(error: RuntimeError) -> Response {
    let status = match &error {
        RuntimeError::Manifest(_) => StatusCode::BAD_REQUEST,
        RuntimeError::NotFound(_) => StatusCode::NOT_FOUND,
        RuntimeError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = match &error {
        RuntimeError::Manifest(manifest) => {
            json!({"error": "invalid manifest", "problems": manifest.problems})
        }
        other => json!({"error": other.to_string()}),
    };
    (status, Json(body)).into_response()
}

/// The query of `POST /v1/manifests`.
#[derive(Debug, Deserialize)]
struct ApplyQuery {
    /// The directory the manifest was read from: relative paths in it resolve
    /// against it (`Manifest::resolve_paths`); without it, against the runtime's
    /// working directory.
    base: Option<std::path::PathBuf>,
}

async fn apply(
    State(runtime): State<Runtime>,
    Query(query): Query<ApplyQuery>,
    body: String,
) -> Response {
    // Parsing is CPU work on untrusted text: off the async workers.
    let parsed = tokio::task::spawn_blocking(move || Manifest::parse(&body)).await;
    let mut manifest = match parsed {
        Ok(Ok(manifest)) => manifest,
        Ok(Err(error)) => return error_response(error.into()),
        Err(_) => return error_response(RuntimeError::Stopped),
    };
    if let Some(base) = query.base.filter(|base| base.is_absolute()) {
        manifest.resolve_paths(&base);
    }
    match runtime.apply(manifest).await {
        Ok(applied) => Json(json!({"applied": applied})).into_response(),
        Err(error) => error_response(error),
    }
}

async fn list(State(runtime): State<Runtime>) -> Response {
    match runtime.list().await {
        Ok(workloads) => Json(workloads).into_response(),
        Err(error) => error_response(error),
    }
}

async fn describe(State(runtime): State<Runtime>, Path(name): Path<String>) -> Response {
    match runtime.list().await {
        Ok(workloads) => match workloads.into_iter().find(|w| w.name == name) {
            Some(status) => Json(status).into_response(),
            None => error_response(RuntimeError::NotFound(name)),
        },
        Err(error) => error_response(error),
    }
}

async fn start(State(runtime): State<Runtime>, Path(name): Path<String>) -> Response {
    match runtime.start_workload(&name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error_response(error),
    }
}

async fn stop(State(runtime): State<Runtime>, Path(name): Path<String>) -> Response {
    match runtime.stop_workload(&name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error_response(error),
    }
}

async fn delete(State(runtime): State<Runtime>, Path(name): Path<String>) -> Response {
    match runtime.delete_workload(&name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error_response(error),
    }
}

async fn heartbeat(
    State(runtime): State<Runtime>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    match runtime.heartbeat(&name, token).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error_response(error),
    }
}

/// Query of the logs endpoint.
#[derive(Debug, Deserialize)]
struct LogQuery {
    #[serde(default)]
    follow: bool,
    tail: Option<usize>,
}

async fn logs(
    State(runtime): State<Runtime>,
    Path(name): Path<String>,
    Query(query): Query<LogQuery>,
) -> Response {
    match runtime.list().await {
        Ok(workloads) if workloads.iter().any(|w| w.name == name) => {}
        Ok(_) => return error_response(RuntimeError::NotFound(name)),
        Err(error) => return error_response(error),
    }
    let path = runtime.log_path(&name);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let shown = match query.tail {
        Some(n) => {
            let lines: Vec<&str> = text.lines().collect();
            let mut tail = lines[lines.len().saturating_sub(n)..].join("\n");
            if !tail.is_empty() {
                tail.push('\n');
            }
            tail
        }
        None => text.clone(),
    };
    if !query.follow {
        return shown.into_response();
    }
    // Follow: send what is there, then what gets appended, until the client goes.
    let start = text.len() as u64;
    let stream = follow_stream(&name, shown, path, start);
    Body::from_stream(stream).into_response()
}

fn follow_stream(
    workload: &str,
    first: String,
    path: std::path::PathBuf,
    start: u64,
) -> tokio_stream::wrappers::ReceiverStream<Result<String, std::io::Error>> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(16);
    let span = tracing::info_span!("runtime-log-follow", workload = %workload);
    tokio::spawn(
        async move {
            if sender.send(Ok(first)).await.is_err() {
                return;
            }
            let mut offset = start;
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let chunk = (|| -> std::io::Result<String> {
                    let mut file = std::fs::File::open(&path)?;
                    let length = file.metadata()?.len();
                    if length < offset {
                        // Rotated: start over at the beginning of the new file.
                        offset = 0;
                    }
                    file.seek(SeekFrom::Start(offset))?;
                    let mut text = String::new();
                    file.read_to_string(&mut text)?;
                    offset += text.len() as u64;
                    Ok(text)
                })();
                match chunk {
                    Ok(text) if text.is_empty() => {
                        if sender.is_closed() {
                            return;
                        }
                    }
                    Ok(text) => {
                        if sender.send(Ok(text)).await.is_err() {
                            return;
                        }
                    }
                    Err(_) => {}
                }
            }
        }
        .instrument(span),
    );
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}
