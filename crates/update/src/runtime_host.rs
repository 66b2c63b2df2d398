//! The app runtime is the update agent's app host.

use std::path::{Path, PathBuf};

use tomoe_runtime::manifest::API_VERSION;
use tomoe_runtime::{Manifest, Runtime, RuntimeError};
use tomoe_types::Tenant;

use crate::host::{App, AppHost, AppStatus, HostError};

fn host_error(error: RuntimeError) -> HostError {
    HostError(error.to_string())
}

impl AppHost for Runtime {
    async fn apps(&self) -> Result<Vec<App>, HostError> {
        let mut apps = Vec::new();
        for status in self.list().await.map_err(host_error)? {
            if let Some(spec) = self.workload_spec(&status.name).await.map_err(host_error)? {
                apps.push(App {
                    name: spec.name,
                    command: PathBuf::from(spec.command),
                    tenant: spec.tenant,
                });
            }
        }
        Ok(apps)
    }

    async fn status(&self, name: &str) -> Result<Option<AppStatus>, HostError> {
        let workloads = self.list().await.map_err(host_error)?;
        Ok(workloads
            .into_iter()
            .find(|workload| workload.name == name)
            .map(|workload| AppStatus {
                state: workload.state,
                health: workload.health,
                pid: workload.pid,
                restarts: workload.restarts,
                reason: match workload.last_exit {
                    Some(exit) if workload.reason.is_empty() => exit,
                    Some(exit) => format!("{}; last run: {exit}", workload.reason),
                    None => workload.reason,
                },
            }))
    }

    async fn run_from(
        &self,
        name: &str,
        command: &Path,
        tenant: Option<&Tenant>,
    ) -> Result<(), HostError> {
        let mut spec = self
            .workload_spec(name)
            .await
            .map_err(host_error)?
            .ok_or_else(|| HostError(format!("no workload \"{name}\"")))?;
        let command = command.to_string_lossy().into_owned();
        if spec.command == command && spec.tenant.as_ref() == tenant {
            // The same path with a new image behind it (the slot it ran from was
            // rewritten): a re-apply of an unchanged spec would keep the old process.
            return self.restart_workload(name).await.map_err(host_error);
        }
        spec.command = command;
        spec.tenant = tenant.cloned();
        self.apply(Manifest {
            api_version: API_VERSION.to_string(),
            kind: None,
            workloads: vec![spec],
        })
        .await
        .map_err(host_error)?;
        Ok(())
    }
}
