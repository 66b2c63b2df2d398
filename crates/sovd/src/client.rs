//! A client of the API, for the `tomoe diag` commands: each call is one
//! request (or a few), and every error names the resource and what the server said.

use std::time::Duration;

use serde_json::{json, Value};

use crate::entities::Collection;
use crate::CLIENT_HEADER;

/// The API's default address, as `tomoe up` serves it.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080/sovd/v1";

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server could not be reached.
    #[error("cannot reach the diagnostic API at {url}: {reason} (is `tomoe up` running?)")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server refused the request.
    #[error("{method} {path}: {status}: {message}")]
    Refused {
        /// The method.
        method: String,
        /// The path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The problem's message.
        message: String,
    },
    /// The answer was not what the API documents.
    #[error("{path}: unexpected answer: {reason}")]
    Unexpected {
        /// The path.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// An argument is not valid.
    #[error("{0}")]
    Argument(String),
}

/// An entity named on the command line: `bms`, `components/bms` or `apps/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityPath {
    /// Its collection.
    pub collection: Collection,
    /// Its id.
    pub id: String,
}

impl std::str::FromStr for EntityPath {
    type Err = ClientError;

    fn from_str(text: &str) -> Result<EntityPath, ClientError> {
        let (collection, id) = match text.split_once('/') {
            Some(("components", id)) => (Collection::Components, id),
            Some(("apps", id)) => (Collection::Apps, id),
            Some(_) => {
                return Err(ClientError::Argument(format!(
                    "\"{text}\" is not an entity: use ID, components/ID or apps/ID"
                )))
            }
            None => (Collection::Components, text),
        };
        if id.is_empty() || id.contains('/') {
            return Err(ClientError::Argument(format!(
                "\"{text}\" is not an entity: use ID, components/ID or apps/ID"
            )));
        }
        Ok(EntityPath {
            collection,
            id: id.to_owned(),
        })
    }
}

impl std::fmt::Display for EntityPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.collection.as_str(), self.id)
    }
}

/// A client of one server.
#[derive(Debug, Clone)]
pub struct SovdClient {
    base: String,
    token: Option<String>,
    client_name: String,
    http: reqwest::Client,
}

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl SovdClient {
    /// A client of the API at `base` (`http://127.0.0.1:8080/sovd/v1`), sending
    /// `token` if given; without one it names itself `client_name` (which locks
    /// are held by, in development mode).
    pub fn new(
        base: &str,
        token: Option<String>,
        client_name: &str,
    ) -> Result<SovdClient, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ClientError::Argument(e.to_string()))?;
        Ok(SovdClient {
            base: base.trim_end_matches('/').to_owned(),
            token,
            client_name: client_name.to_owned(),
            http,
        })
    }

    /// The origin (scheme, host, port) of the base URL, for `Location` paths.
    fn origin(&self) -> &str {
        match self.base.find("://") {
            Some(scheme) => match self.base[scheme + 3..].find('/') {
                Some(slash) => &self.base[..scheme + 3 + slash],
                None => &self.base,
            },
            None => &self.base,
        }
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Value), ClientError> {
        let url = if path.starts_with("/sovd/") {
            format!("{}{path}", self.origin())
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self.http.request(method.clone(), &url);
        request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request.header(CLIENT_HEADER, &self.client_name),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let json: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected {
                path: path.to_owned(),
                reason: e.to_string(),
            })?
        };
        if !status.is_success() {
            return Err(ClientError::Refused {
                method: method.to_string(),
                path: path.to_owned(),
                status: status.as_u16(),
                message: json["message"].as_str().unwrap_or("no message").to_owned(),
            });
        }
        Ok((status, headers, json))
    }

    /// `GET path` (relative to the base, or a full `/sovd/...` path).
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        Ok(self.request(reqwest::Method::GET, path, None).await?.2)
    }

    /// The components and the apps, each as (entity, name).
    pub async fn entities(&self) -> Result<Vec<(EntityPath, String, Vec<String>)>, ClientError> {
        let mut entities = Vec::new();
        for collection in [Collection::Components, Collection::Apps] {
            let list = self.get(&format!("/{}", collection.as_str())).await?;
            for item in list["items"].as_array().into_iter().flatten() {
                entities.push((
                    EntityPath {
                        collection,
                        id: item["id"].as_str().unwrap_or_default().to_owned(),
                    },
                    item["name"].as_str().unwrap_or_default().to_owned(),
                    item["tags"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect(),
                ));
            }
        }
        Ok(entities)
    }

    /// The faults of `entity` (`query`: a filter such as `status[confirmedDTC]=1`).
    pub async fn faults(&self, entity: &EntityPath, query: &str) -> Result<Value, ClientError> {
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        self.get(&format!("/{entity}/faults{query}")).await
    }

    /// Locks `entity` for `seconds`; returns the lock.
    pub async fn lock(&self, entity: &EntityPath, seconds: u64) -> Result<Value, ClientError> {
        let (_, _, lock) = self
            .request(
                reqwest::Method::POST,
                &format!("/{entity}/locks"),
                Some(json!({ "lock_expiration": seconds })),
            )
            .await?;
        Ok(lock)
    }

    /// Releases the lock `id` of `entity`.
    pub async fn unlock(&self, entity: &EntityPath, id: &str) -> Result<(), ClientError> {
        self.request(
            reqwest::Method::DELETE,
            &format!("/{entity}/locks/{id}"),
            None,
        )
        .await
        .map(|_| ())
    }

    /// Clears `code` of `entity` (or all its faults), taking and releasing a lock
    /// around it unless `keep_lock`.
    pub async fn clear(&self, entity: &EntityPath, code: Option<&str>) -> Result<(), ClientError> {
        let lock = self.lock(entity, 60).await?;
        let path = match code {
            Some(code) => format!("/{entity}/faults/{code}"),
            None => format!("/{entity}/faults"),
        };
        let cleared = self.request(reqwest::Method::DELETE, &path, None).await;
        let released = self
            .unlock(entity, lock["id"].as_str().unwrap_or_default())
            .await;
        cleared?;
        released
    }

    /// The first component that offers `operation` (`battery-swap`, say).
    pub async fn component_offering(
        &self,
        operation: &str,
    ) -> Result<Option<EntityPath>, ClientError> {
        let components = self.get("/components").await?;
        for item in components["items"].as_array().into_iter().flatten() {
            let id = item["id"].as_str().unwrap_or_default();
            let operations = self.get(&format!("/components/{id}/operations")).await?;
            let items = operations["items"].as_array().into_iter().flatten();
            if items.into_iter().any(|op| op["id"] == operation) {
                return Ok(Some(EntityPath {
                    collection: Collection::Components,
                    id: id.to_owned(),
                }));
            }
        }
        Ok(None)
    }

    /// Runs `operation` on `entity` with `parameters`, waits for it to end (at
    /// most `timeout`) and returns the execution's final status.
    pub async fn run(
        &self,
        entity: &EntityPath,
        operation: &str,
        parameters: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        let mut body = json!({ "timeout": timeout.as_secs().max(1) });
        if let Some(parameters) = parameters {
            body["parameters"] = parameters;
        }
        let path = format!("/{entity}/operations/{operation}/executions");
        let (_, headers, started) = self
            .request(reqwest::Method::POST, &path, Some(body))
            .await?;
        let location = headers
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{path}/{}", started["id"].as_str().unwrap_or_default()));
        let deadline = tokio::time::Instant::now() + timeout + Duration::from_secs(2);
        loop {
            let status = self.get(&location).await?;
            if status["status"] != "running" {
                return Ok(status);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ClientError::Unexpected {
                    path: location,
                    reason: "the execution still runs after its timeout".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_paths_parse() {
        let bms: EntityPath = "bms".parse().unwrap();
        assert_eq!(bms.to_string(), "components/bms");
        let app: EntityPath = "apps/range-estimator".parse().unwrap();
        assert_eq!(app.collection, Collection::Apps);
        assert!("areas/x".parse::<EntityPath>().is_err());
        assert!("apps/".parse::<EntityPath>().is_err());
    }

    #[test]
    fn the_origin_is_cut_from_the_base() {
        let client = SovdClient::new("http://127.0.0.1:8080/sovd/v1/", None, "t").unwrap();
        assert_eq!(client.origin(), "http://127.0.0.1:8080");
    }
}
