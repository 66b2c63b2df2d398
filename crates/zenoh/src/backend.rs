//! The backend's side of the vehicles' link: one Zenoh session that receives the
//! telemetry of every vehicle (`tomoe/*/telemetry/**`), and [`TelemetrySender`],
//! which sends telemetry as a vehicle's gateway does, for vehicles without a
//! broker (fleet simulators, test rigs).

use tokio::sync::mpsc;
use zenoh::Session;

use crate::{BridgeError, ZenohMode, DEFAULT_LEASE_MS};

/// How many received samples may wait for the backend before new ones are dropped.
pub const TELEMETRY_QUEUE: usize = 65_536;

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
pub struct TelemetryReceiver {
    session: Session,
    _subscriber: zenoh::pubsub::Subscriber<()>,
    samples: Option<mpsc::Receiver<ReceivedTelemetry>>,
}

impl TelemetryReceiver {
    /// Opens a session (`mode`, listening on `listen`, connecting to `connect`) and
    /// subscribes to every vehicle's telemetry. Samples whose key or payload is not
    /// telemetry are dropped with a debug log; when the queue is full, new ones are
    /// dropped with a warning.
    pub async fn open(
        mode: ZenohMode,
        listen: &[String],
        connect: &[String],
    ) -> Result<TelemetryReceiver, BridgeError> {
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
        Ok(TelemetryReceiver {
            session,
            _subscriber: subscriber,
            samples: Some(samples),
        })
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

/// A Zenoh session that sends telemetry for any number of vehicles, on the keys
/// and in the encoding a vehicle's gateway uses.
#[derive(Debug)]
pub struct TelemetrySender {
    session: Session,
}

impl TelemetrySender {
    /// Opens a session (`mode`, listening on `listen`, connecting to `connect`).
    pub async fn open(
        mode: ZenohMode,
        listen: &[String],
        connect: &[String],
    ) -> Result<TelemetrySender, BridgeError> {
        let config = crate::bridge::session_config(mode, listen, connect, DEFAULT_LEASE_MS)?;
        let session = zenoh::open(config)
            .await
            .map_err(|e| BridgeError::zenoh("cannot open the session", e))?;
        Ok(TelemetrySender { session })
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
            .encoding(zenoh::bytes::Encoding::APPLICATION_JSON)
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
