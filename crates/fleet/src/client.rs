//! A typed client of the backend's HTTP API, for the operator CLI (`tomoe fleet
//! vehicles | vehicle | campaign ...`) and the fleet simulator.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tomoe_ota::SignedManifest;

use crate::http::{ActionBody, Page, VehicleDetail};
use crate::{
    CampaignAction, CampaignRequest, CampaignStatus, CampaignVehicle, ManifestReceipt,
    Registration, UpdateStatus, VehicleFilter, VehicleSummary,
};

/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL given is not one.
    #[error("{url:?} is not a backend URL: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The backend cannot be reached, or the exchange broke off.
    #[error("cannot reach the fleet backend at {url}: {source}")]
    Unreachable {
        /// The request's URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The backend refused: its problem details.
    #[error("{title} ({status}): {detail}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The problem's title.
        title: String,
        /// What is wrong and where.
        detail: String,
    },
    /// The answer is not what the API documents.
    #[error("unexpected answer from {url}: {reason}")]
    Unexpected {
        /// The request's URL.
        url: String,
        /// Why.
        reason: String,
    },
}

impl ClientError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A request body.
enum Body<'a, T> {
    Json(&'a T),
    Text(&'a str),
}

/// The problem details the backend answers errors with.
#[derive(Deserialize)]
struct Problem {
    title: String,
    detail: String,
}

/// A client of one backend, with an operator's token.
#[derive(Debug, Clone)]
pub struct FleetClient {
    base: Url,
    token: Option<String>,
    http: reqwest::Client,
}

impl FleetClient {
    /// A client of the backend at `base_url` (`http://127.0.0.1:8470`), sending
    /// `token` as the bearer token of operator requests.
    pub fn new(base_url: &str, token: Option<String>) -> Result<FleetClient, ClientError> {
        let mut base = Url::parse(base_url).map_err(|e| ClientError::Url {
            url: base_url.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::Url {
                url: base_url.to_owned(),
                reason: "expected http:// or https://".into(),
            });
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|source| ClientError::Unreachable {
                url: base_url.to_owned(),
                source,
            })?;
        Ok(FleetClient { base, token, http })
    }

    /// The backend's URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Registers a vehicle.
    pub async fn register(&self, registration: &Registration) -> Result<(), ClientError> {
        self.send::<serde_json::Value>(
            Method::POST,
            &["fleet", "v1", "vehicles"],
            &[],
            Some(Body::Json(registration)),
        )
        .await
        .map(|_| ())
    }

    /// A page of vehicles matching `filter`, after vehicle id `after`.
    pub async fn vehicles(
        &self,
        filter: &VehicleFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<VehicleSummary>, ClientError> {
        let mut query: Vec<(&str, String)> = [
            ("brand", &filter.brand),
            ("model", &filter.model),
            ("profile", &filter.profile),
            ("hardware_id", &filter.hardware_id),
            ("part", &filter.part),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
        .collect();
        if let Some(after) = after {
            query.push(("after", after.to_owned()));
        }
        query.push(("limit", limit.to_string()));
        self.send(
            Method::GET,
            &["fleet", "v1", "vehicles"],
            &query,
            None::<Body<()>>,
        )
        .await
    }

    /// One vehicle and what its ECUs run.
    pub async fn vehicle(&self, id: &str) -> Result<VehicleDetail, ClientError> {
        self.send(
            Method::GET,
            &["fleet", "v1", "vehicles", id],
            &[],
            None::<Body<()>>,
        )
        .await
    }

    /// Sets vehicle `id`'s telemetry policy (TOML).
    pub async fn set_telemetry_policy(&self, id: &str, policy: &str) -> Result<(), ClientError> {
        self.send::<()>(
            Method::PUT,
            &["fleet", "v1", "vehicles", id, "telemetry-policy"],
            &[],
            Some(Body::<()>::Text(policy)),
        )
        .await
    }

    /// Creates a campaign.
    pub async fn create_campaign(
        &self,
        request: &CampaignRequest,
    ) -> Result<CampaignStatus, ClientError> {
        self.send(
            Method::POST,
            &["fleet", "v1", "campaigns"],
            &[],
            Some(Body::Json(request)),
        )
        .await
    }

    /// Every campaign, newest first.
    pub async fn campaigns(&self) -> Result<Vec<CampaignStatus>, ClientError> {
        self.send(
            Method::GET,
            &["fleet", "v1", "campaigns"],
            &[],
            None::<Body<()>>,
        )
        .await
    }

    /// One campaign.
    pub async fn campaign(&self, id: i64) -> Result<CampaignStatus, ClientError> {
        self.send(
            Method::GET,
            &["fleet", "v1", "campaigns", &id.to_string()],
            &[],
            None::<Body<()>>,
        )
        .await
    }

    /// A page of a campaign's vehicles.
    pub async fn campaign_vehicles(
        &self,
        id: i64,
        status: Option<UpdateStatus>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<CampaignVehicle>, ClientError> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(status) = status {
            query.push(("status", status.as_str().to_owned()));
        }
        if let Some(after) = after {
            query.push(("after", after.to_owned()));
        }
        self.send(
            Method::GET,
            &["fleet", "v1", "campaigns", &id.to_string(), "vehicles"],
            &query,
            None::<Body<()>>,
        )
        .await
    }

    /// Pauses, resumes or cancels a campaign.
    pub async fn campaign_action(
        &self,
        id: i64,
        action: CampaignAction,
        reason: &str,
    ) -> Result<CampaignStatus, ClientError> {
        let action = match action {
            CampaignAction::Pause => "pause",
            CampaignAction::Resume => "resume",
            CampaignAction::Cancel => "cancel",
        };
        let body = ActionBody {
            reason: reason.to_owned(),
        };
        self.send(
            Method::POST,
            &["fleet", "v1", "campaigns", &id.to_string(), action],
            &[],
            Some(Body::Json(&body)),
        )
        .await
    }

    /// Sends vehicle `vin`'s signed version manifest to the director.
    pub async fn send_manifest(
        &self,
        vin: &str,
        manifest: &SignedManifest,
    ) -> Result<ManifestReceipt, ClientError> {
        self.send(
            Method::POST,
            &["director", vin, "manifest"],
            &[],
            Some(Body::Json(manifest)),
        )
        .await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<Body<'_, impl Serialize>>,
    ) -> Result<T, ClientError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ClientError::Url {
                url: self.base.to_string(),
                reason: "it cannot have a path".into(),
            })?
            .pop_if_empty()
            .extend(path);
        let mut request = self.http.request(method, url.clone()).query(query);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        match body {
            Some(Body::Json(body)) => request = request.json(body),
            Some(Body::Text(text)) => {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .body(text.to_owned())
            }
            None => {}
        }
        let unreachable = |source| ClientError::Unreachable {
            url: url.to_string(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<Problem>(&bytes) {
                Ok(problem) => ClientError::Refused {
                    status: status.as_u16(),
                    title: problem.title,
                    detail: problem.detail,
                },
                Err(_) => ClientError::Refused {
                    status: status.as_u16(),
                    title: status
                        .canonical_reason()
                        .unwrap_or("refused")
                        .to_lowercase(),
                    detail: String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
                },
            });
        }
        if status == StatusCode::NO_CONTENT {
            return serde_json::from_value(serde_json::Value::Null).map_err(|e| {
                ClientError::Unexpected {
                    url: url.to_string(),
                    reason: e.to_string(),
                }
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected {
            url: url.to_string(),
            reason: e.to_string(),
        })
    }
}
