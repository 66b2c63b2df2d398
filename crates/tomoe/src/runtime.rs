//! `tomoe apply|ps|logs|start|stop|delete|describe`: the app runtime's HTTP API.

use anyhow::{anyhow, Context};
use futures::StreamExt;
use serde_json::Value as Json;
use tomoe_runtime::client::{Action, RuntimeClient};
use tomoe_runtime::WorkloadStatus;

use crate::cli::{ApplyArgs, LogsArgs, RuntimeArgs, WorkloadArgs};

pub async fn apply(args: ApplyArgs) -> anyhow::Result<()> {
    let body = RuntimeClient::new(&args.runtime.runtime)
        .apply_file(&args.file)
        .await?;
    if args.runtime.json {
        out!("{body}")?;
    } else {
        for name in body["applied"].as_array().into_iter().flatten() {
            out!("{} applied", name.as_str().unwrap_or(""))?;
        }
    }
    Ok(())
}

pub async fn ps(args: RuntimeArgs) -> anyhow::Result<()> {
    let body = RuntimeClient::new(&args.runtime).list().await?;
    if args.json {
        out!("{body}")?;
        return Ok(());
    }
    let workloads: Vec<WorkloadStatus> =
        serde_json::from_value(body).context("unexpected answer from the runtime")?;
    out!(
        "{:<24} {:<14} {:>8} {:>8} {:<10} DETAIL",
        "NAME",
        "STATE",
        "PID",
        "RESTARTS",
        "HEALTH"
    )?;
    for workload in workloads {
        let pid = workload
            .pid
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into());
        let detail = match (workload.reason.as_str(), &workload.last_exit) {
            ("", Some(exit)) => format!("last exit: {exit}"),
            (reason, _) => reason.to_owned(),
        };
        out!(
            "{:<24} {:<14} {:>8} {:>8} {:<10} {}",
            workload.name,
            workload.state.as_str(),
            pid,
            workload.restarts,
            workload.health.as_str(),
            detail
        )?;
    }
    Ok(())
}

pub async fn describe(args: WorkloadArgs) -> anyhow::Result<()> {
    let body = RuntimeClient::new(&args.runtime.runtime)
        .describe(&args.name)
        .await?;
    if args.runtime.json {
        out!("{body}")?;
        return Ok(());
    }
    let object = body
        .as_object()
        .ok_or_else(|| anyhow!("unexpected answer from the runtime"))?;
    for (key, value) in object {
        let text = match value {
            Json::String(s) => s.clone(),
            Json::Null => "-".into(),
            other => other.to_string(),
        };
        out!("{:<22} {}", format!("{key}:"), text)?;
    }
    Ok(())
}

/// `tomoe start|stop|delete`.
pub async fn act(args: WorkloadArgs, action: Action) -> anyhow::Result<()> {
    RuntimeClient::new(&args.runtime.runtime)
        .act(&args.name, action)
        .await?;
    if !args.runtime.json {
        let done = match action {
            Action::Start => "started",
            Action::Stop => "stopped",
            Action::Delete => "deleted",
        };
        out!("{} {done}", args.name)?;
    }
    Ok(())
}

pub async fn logs(args: LogsArgs) -> anyhow::Result<()> {
    let response = RuntimeClient::new(&args.runtime.runtime)
        .logs(&args.name, args.follow, args.tail)
        .await?;
    let mut stream = response.bytes_stream();
    use std::io::Write;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            chunk = stream.next() => match chunk {
                Some(chunk) => {
                    let chunk = chunk.context("the log stream broke")?;
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(&chunk)?;
                    stdout.flush()?;
                }
                None => return Ok(()),
            }
        }
    }
}
