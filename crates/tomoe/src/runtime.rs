//! `tomoe apply|ps|logs|start|stop|delete|describe`: the app runtime's HTTP API.

use anyhow::{anyhow, bail, Context};
use futures::StreamExt;
use serde_json::Value as Json;
use tomoe_runtime::WorkloadStatus;

use crate::cli::{ApplyArgs, LogsArgs, RuntimeArgs, WorkloadArgs};

fn url(args: &RuntimeArgs, path: &str) -> String {
    format!("{}{path}", args.runtime.trim_end_matches('/'))
}

/// Turns an error answer of the runtime into an error with its message.
async fn check(response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body: Json = response.json().await.unwrap_or(Json::Null);
    let mut message = body["error"]
        .as_str()
        .unwrap_or("request failed")
        .to_owned();
    if let Some(problems) = body["problems"].as_array() {
        for problem in problems {
            message.push_str(&format!(
                "\n  {}: {}",
                problem["location"].as_str().unwrap_or(""),
                problem["message"].as_str().unwrap_or("")
            ));
        }
    }
    bail!("the runtime refused ({status}): {message}")
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn send(
    request: reqwest::RequestBuilder,
    args: &RuntimeArgs,
) -> anyhow::Result<reqwest::Response> {
    let response = request.send().await.with_context(|| {
        format!(
            "cannot reach the runtime at {} (is `tomoe up` running?)",
            args.runtime
        )
    })?;
    check(response).await
}

pub async fn apply(args: ApplyArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let response = send(
        client()
            .post(url(&args.runtime, "/v1/manifests"))
            .body(text),
        &args.runtime,
    )
    .await?;
    let body: Json = response.json().await?;
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
    let body: Json = send(client().get(url(&args, "/v1/workloads")), &args)
        .await?
        .json()
        .await?;
    if args.json {
        out!("{body}")?;
        return Ok(());
    }
    let workloads: Vec<WorkloadStatus> =
        serde_json::from_value(body).context("unexpected answer from the runtime")?;
    out!(
        "{:<24} {:<14} {:>8} {:>8} {:<10} {}",
        "NAME",
        "STATE",
        "PID",
        "RESTARTS",
        "HEALTH",
        "DETAIL"
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
    let path = format!("/v1/workloads/{}", args.name);
    let body: Json = send(client().get(url(&args.runtime, &path)), &args.runtime)
        .await?
        .json()
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

async fn action(
    args: WorkloadArgs,
    method: reqwest::Method,
    suffix: &str,
    done: &str,
) -> anyhow::Result<()> {
    let path = format!("/v1/workloads/{}{suffix}", args.name);
    send(
        client().request(method, url(&args.runtime, &path)),
        &args.runtime,
    )
    .await?;
    if !args.runtime.json {
        out!("{} {done}", args.name)?;
    }
    Ok(())
}

pub async fn start(args: WorkloadArgs) -> anyhow::Result<()> {
    action(args, reqwest::Method::POST, "/start", "started").await
}

pub async fn stop(args: WorkloadArgs) -> anyhow::Result<()> {
    action(args, reqwest::Method::POST, "/stop", "stopped").await
}

pub async fn delete(args: WorkloadArgs) -> anyhow::Result<()> {
    action(args, reqwest::Method::DELETE, "", "deleted").await
}

pub async fn logs(args: LogsArgs) -> anyhow::Result<()> {
    let mut path = format!("/v1/workloads/{}/logs?follow={}", args.name, args.follow);
    if let Some(tail) = args.tail {
        path.push_str(&format!("&tail={tail}"));
    }
    let response = send(client().get(url(&args.runtime, &path)), &args.runtime).await?;
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
