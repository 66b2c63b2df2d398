//! A client of the runtime's HTTP API ([`crate::api`]), as the `tomoe` CLI uses it.

use serde_json::Value as Json;

/// Why a request to the runtime failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The runtime did not answer.
    #[error("cannot reach the runtime at {url} (is `tomoe up` running?)")]
    Unreachable {
        /// The runtime's URL.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The runtime refused; the message lists each manifest problem with its place.
    #[error("the runtime refused ({status}): {message}")]
    Refused {
        /// The HTTP status.
        status: reqwest::StatusCode,
        /// The runtime's message.
        message: String,
    },
    /// The manifest file cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The answer was not what the API promises.
    #[error("unexpected answer from the runtime: {0}")]
    Unexpected(String),
}

/// What a workload action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start a stopped workload.
    Start,
    /// Stop a workload (it stays stopped).
    Stop,
    /// Stop and forget a workload.
    Delete,
}

/// A client of one runtime.
#[derive(Debug, Clone)]
pub struct RuntimeClient {
    url: String,
    http: reqwest::Client,
}

impl RuntimeClient {
    /// A client of the runtime at `url` (`http://127.0.0.1:55556`).
    pub fn new(url: &str) -> RuntimeClient {
        RuntimeClient {
            url: url.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let response = request
            .send()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: self.url.clone(),
                source,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body: Json = response.json().await.unwrap_or(Json::Null);
        let mut message = body["error"]
            .as_str()
            .unwrap_or("request failed")
            .to_owned();
        for problem in body["problems"].as_array().into_iter().flatten() {
            message.push_str(&format!(
                "\n  {}: {}",
                problem["location"].as_str().unwrap_or(""),
                problem["message"].as_str().unwrap_or("")
            ));
        }
        Err(ClientError::Refused { status, message })
    }

    async fn json(&self, request: reqwest::RequestBuilder) -> Result<Json, ClientError> {
        self.send(request)
            .await?
            .json()
            .await
            .map_err(|error| ClientError::Unexpected(error.to_string()))
    }

    /// Applies the manifest file `path`; relative paths in it resolve against its
    /// directory.
    pub async fn apply_file(&self, path: &std::path::Path) -> Result<Json, ClientError> {
        let read = |source| ClientError::Read {
            path: path.to_path_buf(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(read)?;
        let absolute = std::path::absolute(path).map_err(read)?;
        self.apply(text, absolute.parent()).await
    }

    /// Applies a manifest (YAML text) read from directory `base`, against which
    /// its relative paths resolve; the runtime's answer (`{"applied": [...]}`).
    pub async fn apply(
        &self,
        manifest: String,
        base: Option<&std::path::Path>,
    ) -> Result<Json, ClientError> {
        let mut request = self.http.post(format!("{}/v1/manifests", self.url));
        if let Some(base) = base {
            request = request.query(&[("base", base)]);
        }
        self.json(request.body(manifest)).await
    }

    /// The status of every workload, as JSON.
    pub async fn list(&self) -> Result<Json, ClientError> {
        self.json(self.http.get(format!("{}/v1/workloads", self.url)))
            .await
    }

    /// One workload's status and spec, as JSON.
    pub async fn describe(&self, name: &str) -> Result<Json, ClientError> {
        self.json(self.http.get(format!("{}/v1/workloads/{name}", self.url)))
            .await
    }

    /// Starts, stops or deletes workload `name`.
    pub async fn act(&self, name: &str, action: Action) -> Result<(), ClientError> {
        let url = format!("{}/v1/workloads/{name}", self.url);
        let request = match action {
            Action::Start => self.http.post(format!("{url}/start")),
            Action::Stop => self.http.post(format!("{url}/stop")),
            Action::Delete => self.http.delete(url),
        };
        self.send(request).await.map(drop)
    }

    /// The log of workload `name` (its last `tail` lines), followed while it
    /// writes if `follow`; the response's body streams it.
    pub async fn logs(
        &self,
        name: &str,
        follow: bool,
        tail: Option<usize>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut url = format!("{}/v1/workloads/{name}/logs?follow={follow}", self.url);
        if let Some(tail) = tail {
            url.push_str(&format!("&tail={tail}"));
        }
        self.send(self.http.get(url)).await
    }
}
