//! Logs: an app's log (what its process wrote), as SOVD log entries.

use std::io::{Read, Seek, SeekFrom};

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::entities::{Collection, EntityKind};
use crate::error::SovdError;
use crate::{query_pairs, SovdState};

/// Most log entries returned by one request (the newest).
pub const MAX_LOG_ENTRIES: usize = 1000;

/// Bytes read from the end of a log file at most.
const MAX_LOG_READ_BYTES: u64 = 1024 * 1024;

/// Where an entity's log is.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogLinks {
    /// The entries.
    pub entries: String,
}

/// Where a log line comes from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogContext {
    /// `app`.
    #[serde(rename = "type")]
    pub context_type: String,
    /// The app.
    pub application_id: String,
}

/// How serious a log entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogSeverity {
    /// The process cannot go on.
    Fatal,
    /// An error.
    Error,
    /// A warning.
    Warn,
    /// Information (also lines that say nothing of their severity).
    Info,
    /// Debugging detail.
    Debug,
}

impl LogSeverity {
    fn parse(text: &str) -> Option<LogSeverity> {
        match text.to_ascii_lowercase().as_str() {
            "fatal" => Some(LogSeverity::Fatal),
            "error" => Some(LogSeverity::Error),
            "warn" | "warning" => Some(LogSeverity::Warn),
            "info" => Some(LogSeverity::Info),
            "debug" | "trace" => Some(LogSeverity::Debug),
            _ => None,
        }
    }
}

/// One log line.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogEntry {
    /// When it was written, if the line says (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Its severity, as the line says (`info` if it does not).
    pub severity: LogSeverity,
    /// The line.
    pub msg: String,
    /// Where it comes from.
    pub context: LogContext,
}

/// Log entries, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogEntries {
    /// The entries.
    pub items: Vec<LogEntry>,
}

/// Where an entity's log entries are.
#[utoipa::path(get, path = "/{collection}/{entity_id}/logs", tag = "logs",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms")),
    responses((status = 200, description = "Links", body = LogLinks)))]
pub(crate) async fn links(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id)): Path<(Collection, String)>,
) -> Result<Json<LogLinks>, SovdError> {
    caller.require_read()?;
    let entity = state.resolve(collection, &id).await?;
    Ok(Json(LogLinks {
        entries: format!("{}/logs/entries", entity.path),
    }))
}

fn entry(line: &str, app: &str) -> LogEntry {
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or_default();
    let timestamp = humantime::parse_rfc3339_weak(first.trim_end_matches('Z'))
        .or_else(|_| humantime::parse_rfc3339(first))
        .ok()
        .map(crate::rfc3339);
    let severity = line
        .split_whitespace()
        .take(3)
        .find_map(|word| LogSeverity::parse(word.trim_matches(|c: char| !c.is_alphanumeric())))
        .unwrap_or(LogSeverity::Info);
    LogEntry {
        timestamp,
        severity,
        msg: line.to_owned(),
        context: LogContext {
            context_type: "app".into(),
            application_id: app.to_owned(),
        },
    }
}

fn tail(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(error) => return Err(error),
    };
    let length = file.metadata()?.len();
    let start = length.saturating_sub(MAX_LOG_READ_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(MAX_LOG_READ_BYTES).read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // A read that starts mid-file starts mid-line: drop that partial line.
    Ok(if start > 0 {
        text.split_once('\n')
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_default()
    } else {
        text
    })
}

/// An entity's log entries: an app's log lines (the newest, at most 1000);
/// components keep no log of their own here.
#[utoipa::path(get, path = "/{collection}/{entity_id}/logs/entries", tag = "logs",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("severity" = Option<LogSeverity>, Query, description = "Entries at least this severe"),
        ("limit" = Option<usize>, Query, description = "At most this many entries (the newest; 1000 at most)")),
    responses((status = 200, description = "The entries", body = LogEntries)))]
pub(crate) async fn entries(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id)): Path<(Collection, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<LogEntries>, SovdError> {
    caller.require_read()?;
    let mut severity = LogSeverity::Debug;
    let mut limit = MAX_LOG_ENTRIES;
    for (key, value) in query_pairs(query.as_deref())? {
        match key.as_str() {
            "severity" => {
                severity = LogSeverity::parse(&value).ok_or_else(|| {
                    SovdError::bad_request(format!(
                        "severity must be fatal, error, warn, info or debug, not \"{value}\""
                    ))
                })?
            }
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LOG_ENTRIES).contains(n))
                    .ok_or_else(|| {
                        SovdError::bad_request(format!(
                            "limit must be 1 to {MAX_LOG_ENTRIES}, not \"{value}\""
                        ))
                    })?
            }
            other => {
                return Err(SovdError::bad_request(format!(
                    "unknown query parameter \"{}\" (expected severity or limit)",
                    other.chars().take(64).collect::<String>()
                )))
            }
        }
    }
    let entity = state.resolve(collection, &id).await?;
    let (EntityKind::App, Some(runtime)) = (&entity.kind, &state.config().runtime) else {
        return Ok(Json(LogEntries { items: Vec::new() }));
    };
    let path = runtime.log_path(entity.entity.id());
    let text = tokio::task::spawn_blocking(move || tail(&path))
        .await
        .map_err(|e| SovdError::unavailable(format!("reading the log: {e}")))?
        .map_err(|e| {
            SovdError::unavailable(format!("reading the log of {}: {e}", entity.entity))
        })?;
    let app = entity.entity.id();
    let mut items: Vec<LogEntry> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| entry(line, app))
        .filter(|e| e.severity <= severity)
        .collect();
    if items.len() > limit {
        items.drain(..items.len() - limit);
    }
    Ok(Json(LogEntries { items }))
}
