//! The backend's side of the vehicles' link: one Zenoh session ([`BackendLink`])
//! that receives the telemetry of every vehicle (`tomoe/*/telemetry/**`) and the
//! signed version manifests they send as queries (`tomoe/*/manifest`), and
//! [`VehicleLink`], which sends both as a vehicle does, for vehicles without a
//! broker (fleet simulators, test rigs).

use tokio::sync::mpsc;
use zenoh::bytes::Encoding;
use zenoh::query::Query;
use zenoh::Session;

use crate::{BridgeError, ZenohMode, DEFAULT_LEASE_MS};

/// How many received samples may wait for the backend before new ones are dropped.
pub const TELEMETRY_QUEUE: usize = 65_536;

/// How many manifests may wait for the backend before new ones are refused as busy.
pub const MANIFEST_QUEUE: usize = 1024;

/// The largest manifest taken over Zenoh, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024;

/// How long a vehicle waits for the backend's answer to a manifest.
pub const MANIFEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A signed version manifest a vehicle sent, and the query to answer.
#[derive(Debug)]
pub struct ReceivedManifest {
    /// The vehicle (the key's second segment).
    pub vehicle: String,
    /// The manifest as sent.
    pub body: Vec<u8>,
    query: Query,
}

impl ReceivedManifest {
    /// Answers the vehicle: the receipt, or the refusal (both JSON).
    pub async fn answer(self, answer: Result<serde_json::Value, serde_json::Value>) {
        let sent = match answer {
            Ok(receipt) => {
                self.query
                    .reply(self.query.key_expr().clone(), receipt.to_string())
                    .encoding(Encoding::APPLICATION_JSON)
                    .await
            }
            Err(problem) => {
                self.query
                    .reply_err(problem.to_string())
                    .encoding(Encoding::APPLICATION_JSON)
                    .await
            }
        };
        if let Err(error) = sent {
            tracing::debug!(%error, vehicle = self.vehicle, "cannot answer a manifest");
        }
    }
}

/// One telemetry sample as received.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedTelemetry {
    /// The vehicle (the key's second segment).
    pub vehicle: String,
    /// The VSS path.
    pub path: String,
    /// The payload as JSON.
    pub value: serde_json::Value,
    /// When it arrived.
    pub received_at: std::time::SystemTime,
}

/// A backend's Zenoh session and the telemetry it receives.
#[derive(Debug)]
pub struct BackendLink {
    session: Session,
    _subscriber: zenoh::pubsub::Subscriber<()>,
    _manifests: zenoh::query::Queryable<()>,
    samples: Option<mpsc::Receiver<ReceivedTelemetry>>,
    manifests: Option<mpsc::Receiver<ReceivedManifest>>,
}

impl BackendLink {
    /// Opens a session (`mode`, listening on `listen`, connecting to `connect`),
    /// subscribes to every vehicle's telemetry and takes their manifests. Samples
    /// whose key or payload is not telemetry are dropped with a debug log; when the
    /// queue is full, new ones are dropped with a warning. A manifest too large, or
    /// one arriving while [`MANIFEST_QUEUE`] wait, is answered with an error.
    pub async fn open(
        mode: ZenohMode,
        listen: &[String],
        connect: &[String],
    ) -> Result<BackendLink, BridgeError> {
        let config = crate::bridge::session_config(mode, listen, connect, DEFAULT_LEASE_MS)?;
        let session = zenoh::open(config)
            .await
            .map_err(|e| BridgeError::zenoh("cannot open the session", e))?;
        let (sender, samples) = mpsc::channel(TELEMETRY_QUEUE);
        let subscriber = session
            .declare_subscriber("tomoe/*/telemetry/**")
            .callback(move |sample| {
                let key = sample.key_expr().as_str();
                let Some((vehicle, path)) = parse_key(key) else {
                    tracing::debug!(key, "not a telemetry key");
                    return;
                };
                let payload = sample.payload().to_bytes();
                if payload.len() > crate::codec::MAX_VALUE_BYTES {
                    tracing::debug!(key, bytes = payload.len(), "telemetry value too large");
                    return;
                }
                let Ok(value) = serde_json::from_slice(&payload) else {
                    tracing::debug!(key, "telemetry value is not JSON");
                    return;
                };
                if sender
                    .try_send(ReceivedTelemetry {
                        vehicle,
                        path,
                        value,
                        received_at: std::time::SystemTime::now(),
                    })
                    .is_err()
                {
                    tracing::warn!(key, "the backend is behind: a telemetry sample was dropped");
                }
            })
            .await
            .map_err(|e| BridgeError::zenoh("cannot subscribe to telemetry", e))?;
        let (sender, manifests) = mpsc::channel(MANIFEST_QUEUE);
        let queryable = session
            .declare_queryable("tomoe/*/manifest")
            .callback(move |query| {
                let vehicle = query
                    .key_expr()
                    .as_str()
                    .strip_prefix("tomoe/")
                    .and_then(|rest| rest.strip_suffix("/manifest"))
                    .unwrap_or_default()
                    .to_owned();
                let body = query.payload().map(|p| p.to_bytes().into_owned());
                let refusal = match &body {
                    None => Some("the query carries no manifest".to_owned()),
                    Some(body) if body.len() > MAX_MANIFEST_BYTES => Some(format!(
                        "manifest: {} bytes, more than {MAX_MANIFEST_BYTES}",
                        body.len()
                    )),
                    Some(_) => None,
                };
                let received = ReceivedManifest {
                    vehicle,
                    body: body.unwrap_or_default(),
                    query,
                };
                let refused = match refusal {
                    Some(reason) => Some((received, reason)),
                    None => sender.try_send(received).err().map(|e| {
                        (
                            e.into_inner(),
                            "the backend is busy; send the manifest again later".to_owned(),
                        )
                    }),
                };
                if let Some((received, reason)) = refused {
                    let problem =
                        serde_json::json!({"title": "refused", "status": 400, "detail": reason});
                    tokio::spawn(received.answer(Err(problem)));
                }
            })
            .await
            .map_err(|e| BridgeError::zenoh("cannot take manifests", e))?;
        Ok(BackendLink {
            session,
            _subscriber: subscriber,
            _manifests: queryable,
            samples: Some(samples),
            manifests: Some(manifests),
        })
    }

    /// The manifests received, in arrival order (once; `None` after the first call).
    pub fn take_manifests(&mut self) -> Option<mpsc::Receiver<ReceivedManifest>> {
        self.manifests.take()
    }

    /// The received samples, in arrival order (once; `None` after the first call).
    pub fn take_samples(&mut self) -> Option<mpsc::Receiver<ReceivedTelemetry>> {
        self.samples.take()
    }

    /// Closes the session.
    pub async fn close(self) {
        if let Err(error) = self.session.close().await {
            tracing::warn!(%error, "closing the Zenoh session failed");
        }
    }
}

/// A Zenoh session that speaks for any number of vehicles to the backend:
/// telemetry on the keys and in the encoding a vehicle's gateway uses, and signed
/// manifests as queries.
#[derive(Debug)]
pub struct VehicleLink {
    session: Session,
}

impl VehicleLink {
    /// Opens a session (`mode`, listening on `listen`, connecting to `connect`).
    pub async fn open(
        mode: ZenohMode,
        listen: &[String],
        connect: &[String],
    ) -> Result<VehicleLink, BridgeError> {
        let config = crate::bridge::session_config(mode, listen, connect, DEFAULT_LEASE_MS)?;
        let session = zenoh::open(config)
            .await
            .map_err(|e| BridgeError::zenoh("cannot open the session", e))?;
        Ok(VehicleLink { session })
    }

    /// Sends vehicle `vehicle`'s signed manifest `body` to the backend and waits
    /// for its answer: the receipt, or the refusal (JSON, or text when the backend
    /// cannot be reached).
    pub async fn send_manifest(
        &self,
        vehicle: &str,
        body: Vec<u8>,
    ) -> Result<serde_json::Value, String> {
        crate::keys::check_name(crate::keys::NameKind::Vehicle, vehicle)
            .map_err(|e| e.to_string())?;
        let replies = self
            .session
            .get(crate::keys::KeySpace::new(vehicle).manifest())
            .payload(body)
            .encoding(Encoding::APPLICATION_JSON)
            .timeout(MANIFEST_TIMEOUT)
            .await
            .map_err(|e| format!("cannot send the manifest: {e}"))?;
        let reply = replies
            .recv_async()
            .await
            .map_err(|_| format!("no backend answered within {MANIFEST_TIMEOUT:?}"))?;
        let text = |payload: &zenoh::bytes::ZBytes| {
            payload
                .try_to_string()
                .map(|s| s.into_owned())
                .unwrap_or_default()
        };
        match reply.result() {
            Ok(sample) => serde_json::from_str(&text(sample.payload()))
                .map_err(|e| format!("the backend's receipt is not JSON: {e}")),
            Err(error) => Err(text(error.payload())),
        }
    }

    /// Sends `value` of `path` (a VSS path) as vehicle `vehicle`'s telemetry.
    pub async fn send(
        &self,
        vehicle: &str,
        path: &str,
        value: &serde_json::Value,
    ) -> Result<(), BridgeError> {
        crate::keys::check_name(crate::keys::NameKind::Vehicle, vehicle)?;
        let key = crate::keys::KeySpace::new(vehicle).telemetry(path);
        let payload = serde_json::to_vec(value).expect("JSON serializes");
        self.session
            .put(key, payload)
            .encoding(Encoding::APPLICATION_JSON)
            .await
            .map_err(|e| BridgeError::zenoh("cannot send telemetry", e))
    }

    /// Closes the session.
    pub async fn close(self) {
        if let Err(error) = self.session.close().await {
            tracing::warn!(%error, "closing the Zenoh session failed");
        }
    }
}

/// The vehicle and VSS path of a telemetry key.
fn parse_key(key: &str) -> Option<(String, String)> {
    let rest = key.strip_prefix("tomoe/")?;
    let (vehicle, rest) = rest.split_once('/')?;
    let path = rest.strip_prefix("telemetry/")?;
    crate::keys::check_name(crate::keys::NameKind::Vehicle, vehicle).ok()?;
    (!path.is_empty()).then(|| (vehicle.to_owned(), path.replace('/', ".")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn telemetry_keys_name_the_vehicle_and_path() {
        assert_eq!(
            super::parse_key("tomoe/kona-1/telemetry/Vehicle/Speed"),
            Some(("kona-1".into(), "Vehicle.Speed".into()))
        );
        assert_eq!(super::parse_key("tomoe/kona-1/vss/Vehicle/Speed"), None);
        assert_eq!(super::parse_key("tomoe/kona-1/telemetry/"), None);
    }
}
