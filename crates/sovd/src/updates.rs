//! Updates: the update agent's installs, as SOVD update packages with a status,
//! kept from the agent's progress.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use tokio::sync::Notify;
use tomoe_update::{Progress, UpdateStatus};
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::error::SovdError;
use crate::{rfc3339, SovdState};

/// Installs remembered, the oldest forgotten first.
pub const MAX_UPDATE_HISTORY: usize = 100;

#[derive(Debug, Clone)]
struct Install {
    id: String,
    status: UpdateStatus,
    reason: String,
    app: Option<String>,
    version: Option<u64>,
    started: SystemTime,
    finished: Option<SystemTime>,
}

#[derive(Debug, Default)]
struct History {
    installs: VecDeque<Install>,
    next: u64,
    last: Option<Progress>,
}

/// Follows the update agent: its installs and its last status; and asks it to
/// check now. Cheap to clone.
#[derive(Debug, Clone)]
pub struct UpdateTracker {
    trigger: Arc<Notify>,
    history: Arc<Mutex<History>>,
}

impl UpdateTracker {
    /// A tracker of the agent whose check trigger is `trigger`.
    pub fn new(trigger: Arc<Notify>) -> UpdateTracker {
        UpdateTracker {
            trigger,
            history: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one status change of the agent.
    pub fn record(&self, progress: &Progress) {
        let mut history = self.lock();
        history.last = Some(progress.clone());
        let open = history
            .installs
            .back()
            .is_some_and(|install| install.finished.is_none());
        match progress.status {
            UpdateStatus::Downloading if !open => {
                history.next += 1;
                let id = format!("install-{}", history.next);
                if history.installs.len() >= MAX_UPDATE_HISTORY {
                    history.installs.pop_front();
                }
                history.installs.push_back(Install {
                    id,
                    status: progress.status,
                    reason: progress.reason.clone(),
                    app: progress.detail.app.clone(),
                    version: progress.detail.version,
                    started: SystemTime::now(),
                    finished: None,
                });
            }
            UpdateStatus::Downloading
            | UpdateStatus::Installing
            | UpdateStatus::VerifyingHealth
                if open =>
            {
                if let Some(install) = history.installs.back_mut() {
                    install.status = progress.status;
                }
            }
            UpdateStatus::Committed | UpdateStatus::RolledBack | UpdateStatus::Failed if open => {
                if let Some(install) = history.installs.back_mut() {
                    install.status = progress.status;
                    install.reason = progress.reason.clone();
                    install.app = progress.detail.app.clone().or(install.app.take());
                    install.version = progress.detail.version.or(install.version);
                    install.finished = Some(SystemTime::now());
                }
            }
            _ => {}
        }
    }

    /// The agent's last status.
    pub fn last(&self) -> Option<Progress> {
        self.lock().last.clone()
    }

    /// Asks the agent to check now.
    pub fn check_now(&self) {
        self.trigger.notify_one();
    }
}

/// The update packages (installs) known.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpdateList {
    /// Their ids.
    pub items: Vec<String>,
}

/// One update package.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpdatePackage {
    /// Its id.
    pub id: String,
    /// What it installs.
    pub update_name: String,
    /// Whether it runs without a client's action (the agent installs by itself).
    pub automated: bool,
    /// Where it comes from.
    pub origin: Vec<String>,
    /// What the agent said.
    pub notes: String,
    /// The apps it updates.
    pub updated_components: Vec<String>,
    /// When it started (RFC 3339).
    pub started: String,
}

/// Where an update stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpdateStatusInfo {
    /// `execute`: the agent prepares and executes in one go.
    pub phase: String,
    /// `pending`, `inProgress`, `completed` or `failed`.
    pub status: String,
    /// Percent done.
    pub progress: u8,
    /// The agent's own status (`VERIFYING_HEALTH`, `ROLLED_BACK`, ...).
    pub step: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::data::GenericError>,
}

fn tracker(state: &SovdState) -> Result<&UpdateTracker, SovdError> {
    state.config().updates.as_ref().ok_or_else(|| {
        SovdError::not_found("no update agent runs (start tomoe up with --ota-director)")
    })
}

fn find(state: &SovdState, id: &str) -> Result<Install, SovdError> {
    let tracker = tracker(state)?;
    let history = tracker.lock();
    history
        .installs
        .iter()
        .find(|install| install.id == id)
        .cloned()
        .ok_or_else(|| {
            SovdError::not_found(format!(
                "no update {}",
                id.chars().take(64).collect::<String>()
            ))
        })
}

/// The update packages known.
#[utoipa::path(get, path = "/updates", tag = "updates",
    responses((status = 200, description = "The updates", body = UpdateList)))]
pub(crate) async fn list(
    State(state): State<SovdState>,
    caller: Caller,
) -> Result<Json<UpdateList>, SovdError> {
    caller.require_read()?;
    let items = match &state.config().updates {
        Some(tracker) => tracker
            .lock()
            .installs
            .iter()
            .map(|i| i.id.clone())
            .collect(),
        None => Vec::new(),
    };
    Ok(Json(UpdateList { items }))
}

/// One update package.
#[utoipa::path(get, path = "/updates/{update_id}", tag = "updates",
    params(("update_id" = String, Path, description = "The update", example = "install-1")),
    responses((status = 200, description = "The update", body = UpdatePackage)))]
pub(crate) async fn get(
    State(state): State<SovdState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UpdatePackage>, SovdError> {
    caller.require_read()?;
    let install = find(&state, &id)?;
    Ok(Json(UpdatePackage {
        update_name: match (&install.app, install.version) {
            (Some(app), Some(version)) => format!("{app} version {version}"),
            (Some(app), None) => app.clone(),
            _ => install.reason.clone(),
        },
        id: install.id,
        automated: true,
        origin: vec!["remote".into()],
        notes: install.reason,
        updated_components: install.app.into_iter().collect(),
        started: rfc3339(install.started),
    }))
}

/// Where an update stands.
#[utoipa::path(get, path = "/updates/{update_id}/status", tag = "updates",
    params(("update_id" = String, Path, description = "The update", example = "install-1")),
    responses((status = 200, description = "Its status", body = UpdateStatusInfo)))]
pub(crate) async fn status(
    State(state): State<SovdState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UpdateStatusInfo>, SovdError> {
    caller.require_read()?;
    let install = find(&state, &id)?;
    let (status, progress) = match install.status {
        UpdateStatus::Idle | UpdateStatus::Waiting => ("pending", 0),
        UpdateStatus::Downloading => ("inProgress", 25),
        UpdateStatus::Installing => ("inProgress", 50),
        UpdateStatus::VerifyingHealth => ("inProgress", 75),
        UpdateStatus::Committed => ("completed", 100),
        UpdateStatus::RolledBack | UpdateStatus::Failed => ("failed", 100),
    };
    Ok(Json(UpdateStatusInfo {
        phase: "execute".into(),
        status: status.into(),
        progress,
        step: install.status.as_str().into(),
        error: (status == "failed").then(|| crate::data::GenericError {
            error_code: "vendor-specific".into(),
            message: install.reason.clone(),
        }),
    }))
}
