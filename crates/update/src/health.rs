//! The health window of an app: start it from its new slot and watch it.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tomoe_ota::install::VerifiedSlot;
use tomoe_ota::HealthCheck;
use tomoe_types::{Tenant, WorkloadHealth, WorkloadState};

use crate::agent::Reporter;
use crate::host::{AppHost, AppStatus};
use crate::status::UpdateStatus;

/// The verdict so far on the app under watch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum Verdict {
    /// The new process has not shown whether it works.
    #[default]
    Pending,
    /// It runs and its health check says healthy.
    Healthy,
    /// It failed; final for this window.
    Failed(String),
}

/// What the watch has seen of the new process.
#[derive(Debug, Default)]
struct Watch {
    /// The process of the previous version (its statuses are no verdict).
    old_pid: Option<u32>,
    /// The first process of the new version, once seen.
    new_pid: Option<u32>,
    /// The restart count of the new version's first process.
    restarts: u32,
    verdict: Verdict,
}

impl Watch {
    /// Judges one status of the app. A failure is final: a crash, a stop, a
    /// restart, an unhealthy check or a crash loop inside the window.
    fn judge(&mut self, status: &AppStatus) {
        if matches!(self.verdict, Verdict::Failed(_)) {
            return;
        }
        let reason = |what: &str| {
            if status.reason.is_empty() {
                what.to_string()
            } else {
                format!("{what} ({})", status.reason)
            }
        };
        match status.state {
            WorkloadState::Running => {
                if self.new_pid.is_none() && status.pid == self.old_pid {
                    return; // still the previous version
                }
                match self.new_pid {
                    None => {
                        // The host may count the switch itself as a restart.
                        self.new_pid = status.pid;
                        self.restarts = status.restarts;
                    }
                    Some(pid) if status.pid != Some(pid) || status.restarts > self.restarts => {
                        self.verdict =
                            Verdict::Failed(reason("the app restarted during its health window"));
                        return;
                    }
                    Some(_) => {}
                }
                self.verdict = match status.health {
                    WorkloadHealth::Healthy => Verdict::Healthy,
                    WorkloadHealth::Unhealthy => {
                        Verdict::Failed(reason("the app's health check failed"))
                    }
                    WorkloadHealth::Unknown | WorkloadHealth::None => Verdict::Pending,
                };
            }
            WorkloadState::Failed | WorkloadState::CrashLooping | WorkloadState::Backoff => {
                self.verdict = Verdict::Failed(reason(&format!(
                    "the app is {} during its health window",
                    status.state.as_str()
                )));
            }
            WorkloadState::Stopped | WorkloadState::Succeeded if self.new_pid.is_some() => {
                self.verdict = Verdict::Failed(reason(&format!(
                    "the app {} during its health window",
                    status.state.as_str()
                )));
            }
            WorkloadState::Stopped
            | WorkloadState::Succeeded
            | WorkloadState::Waiting
            | WorkloadState::Stopping => {}
        }
    }
}

/// The health check of one app install: [`start`](HealthCheck::start) hands the
/// app to the [`AppHost`] to run from the new slot and starts a task that polls
/// its status; the installer polls the verdict for the whole window. Dropping it
/// stops the task.
pub struct AppHealth<H: AppHost> {
    host: H,
    app: String,
    tenant: Option<Tenant>,
    handle: Handle,
    poll: Duration,
    reporter: Reporter,
    what: String,
    watch: Arc<Mutex<Watch>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl<H: AppHost> AppHealth<H> {
    /// The health check of `app` on `host`, run as `tenant`'s (the tenant that
    /// signed the new image), polling every `poll`; `what` names the install in
    /// progress reports. Made inside a Tokio runtime, used from a blocking thread.
    pub(crate) fn new(
        host: H,
        app: &str,
        tenant: Option<Tenant>,
        poll: Duration,
        reporter: Reporter,
        what: String,
    ) -> AppHealth<H> {
        AppHealth {
            host,
            app: app.to_string(),
            tenant,
            handle: Handle::current(),
            poll,
            reporter,
            what,
            watch: Arc::default(),
            task: Mutex::new(None),
        }
    }

    fn watch(&self) -> std::sync::MutexGuard<'_, Watch> {
        self.watch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn run_from(&self, command: &Path) -> Result<(), String> {
        let old = self
            .host
            .status(&self.app)
            .await
            .map_err(|error| error.to_string())?;
        {
            let mut watch = self.watch();
            watch.old_pid = old.as_ref().and_then(|status| status.pid);
        }
        self.host
            .run_from(&self.app, command, self.tenant.as_ref())
            .await
            .map_err(|error| format!("the app host refused \"{}\": {error}", command.display()))
    }
}

impl<H: AppHost> HealthCheck for AppHealth<H> {
    fn start(&self, active: &VerifiedSlot) -> Result<(), String> {
        self.reporter
            .publish(UpdateStatus::Installing, &self.what, None);
        let command = active.image_path();
        self.handle.block_on(self.run_from(&command))?;
        self.reporter
            .publish(UpdateStatus::VerifyingHealth, &self.what, None);
        let (host, app, poll, watch) = (
            self.host.clone(),
            self.app.clone(),
            self.poll,
            self.watch.clone(),
        );
        let task = self.handle.spawn(async move {
            loop {
                if let Ok(Some(status)) = host.status(&app).await {
                    watch
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .judge(&status);
                }
                tokio::time::sleep(poll).await;
            }
        });
        *self
            .task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(task);
        Ok(())
    }

    fn healthy(&self) -> Option<bool> {
        match self.watch().verdict {
            Verdict::Pending => None,
            Verdict::Healthy => Some(true),
            Verdict::Failed(_) => Some(false),
        }
    }

    fn failure(&self) -> Option<String> {
        match &self.watch().verdict {
            Verdict::Failed(reason) => Some(reason.clone()),
            _ => None,
        }
    }
}

impl<H: AppHost> Drop for AppHealth<H> {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: WorkloadState, health: WorkloadHealth, pid: u32, restarts: u32) -> AppStatus {
        AppStatus {
            state,
            health,
            pid: Some(pid),
            restarts,
            reason: String::new(),
        }
    }

    fn watch() -> Watch {
        Watch {
            old_pid: Some(10),
            restarts: 2,
            ..Watch::default()
        }
    }

    use WorkloadHealth::{Healthy, Unhealthy, Unknown};
    use WorkloadState::{Backoff, CrashLooping, Running, Stopped, Stopping, Waiting};

    #[test]
    fn the_previous_process_is_no_verdict() {
        let mut watch = watch();
        watch.judge(&status(Running, Healthy, 10, 2));
        watch.judge(&status(Stopping, Healthy, 10, 2));
        watch.judge(&status(Waiting, Unknown, 10, 2));
        assert_eq!(watch.verdict, Verdict::Pending);
        // The switch itself may count as a restart.
        watch.judge(&status(Running, Unknown, 11, 3));
        assert_eq!(watch.verdict, Verdict::Pending);
        watch.judge(&status(Running, Healthy, 11, 3));
        assert_eq!(watch.verdict, Verdict::Healthy);
    }

    #[test]
    fn healthy_then_crashing_fails_for_good() {
        let mut watch = watch();
        watch.judge(&status(Running, Healthy, 11, 2));
        watch.judge(&AppStatus {
            reason: "exited with status 1".into(),
            ..status(Backoff, Unknown, 11, 3)
        });
        assert_eq!(
            watch.verdict,
            Verdict::Failed(
                "the app is backoff during its health window (exited with status 1)".into()
            )
        );
        watch.judge(&status(Running, Healthy, 12, 3));
        assert!(matches!(watch.verdict, Verdict::Failed(_)));
    }

    #[test]
    fn a_restart_between_two_polls_fails() {
        let mut watch = watch();
        watch.judge(&status(Running, Healthy, 11, 2));
        watch.judge(&status(Running, Healthy, 12, 3));
        assert_eq!(
            watch.verdict,
            Verdict::Failed("the app restarted during its health window".into())
        );
    }

    #[test]
    fn unhealthy_crash_looping_and_stopped_fail() {
        for (state, health, expected) in [
            (Running, Unhealthy, "the app's health check failed"),
            (
                CrashLooping,
                Unknown,
                "the app is crash-looping during its health window",
            ),
        ] {
            let mut watch = watch();
            watch.judge(&status(state, health, 11, 2));
            assert_eq!(watch.verdict, Verdict::Failed(expected.into()));
        }
        let mut watch = watch();
        watch.judge(&status(Stopped, Unknown, 11, 2));
        assert_eq!(watch.verdict, Verdict::Pending, "stopped before it started");
        watch.judge(&status(Running, Unknown, 11, 2));
        watch.judge(&status(Stopped, Unknown, 11, 2));
        assert_eq!(
            watch.verdict,
            Verdict::Failed("the app stopped during its health window".into())
        );
    }
}
