//! Heartbeats to the app runtime.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::client::env_token;
use crate::{HeartbeatError, SdkError};

/// How long one heartbeat waits for the runtime's answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Tells the app runtime that this workload is alive.
///
/// The runtime supervises each workload it starts and may restart one whose
/// heartbeats stop. A heartbeat is an empty `POST` to
/// `{TOMOE_RUNTIME}/v1/workloads/{TOMOE_WORKLOAD}/heartbeat` with the workload's
/// token as `authorization: Bearer …`; the runtime accepts it with `204 No Content`.
/// Only `http://` runtime URLs are supported: the runtime listens on the vehicle
/// computer itself.
///
/// # Example
///
/// ```no_run
/// # async fn example() {
/// use std::time::Duration;
///
/// // None when the app was not started by the runtime (for example in development).
/// if let Some(heartbeat) = tomoe_sdk::Heartbeat::from_env() {
///     heartbeat.spawn(Duration::from_secs(1));
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct Heartbeat {
    url: String,
    token: Option<String>,
    http: hyper_util::client::legacy::Client<HttpConnector, Empty<Bytes>>,
}

impl std::fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("Heartbeat")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Heartbeat {
    /// Heartbeats for `workload` to the runtime whose HTTP API is at `runtime`
    /// (for example `http://127.0.0.1:55556`), presenting `token` when given.
    ///
    /// # Example
    ///
    /// ```
    /// let heartbeat = tomoe_sdk::Heartbeat::new("http://127.0.0.1:55556", "range-estimator", None);
    /// assert_eq!(
    ///     heartbeat.url(),
    ///     "http://127.0.0.1:55556/v1/workloads/range-estimator/heartbeat"
    /// );
    /// ```
    pub fn new(runtime: &str, workload: &str, token: Option<String>) -> Heartbeat {
        let url = format!(
            "{}/v1/workloads/{}/heartbeat",
            runtime.trim().trim_end_matches('/'),
            path_segment(workload)
        );
        Heartbeat {
            url,
            token,
            http: hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Heartbeats as the runtime tells a workload to: to `TOMOE_RUNTIME` for
    /// `TOMOE_WORKLOAD`, with the token in `TOMOE_TOKEN` if set. `None` when
    /// `TOMOE_RUNTIME` or `TOMOE_WORKLOAD` is unset or empty, that is when the app
    /// does not run under the runtime.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), tomoe_sdk::SdkError> {
    /// if let Some(heartbeat) = tomoe_sdk::Heartbeat::from_env() {
    ///     heartbeat.beat().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Option<Heartbeat> {
        let variable = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let runtime = variable("TOMOE_RUNTIME")?;
        let workload = variable("TOMOE_WORKLOAD")?;
        Some(Heartbeat::new(&runtime, &workload, env_token()))
    }

    /// The URL heartbeats go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one heartbeat and waits (at most five seconds) for the runtime to
    /// accept it.
    ///
    /// # Errors
    ///
    /// [`SdkError::Heartbeat`] when the runtime cannot be reached, does not answer
    /// in time, or answers with anything but 204 No Content (for example 401 for a
    /// token that is not the workload's, or 404 for an unknown workload).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn example(heartbeat: tomoe_sdk::Heartbeat) {
    /// if let Err(error) = heartbeat.beat().await {
    ///     eprintln!("{error}: {}", std::error::Error::source(&error).unwrap());
    /// }
    /// # }
    /// ```
    pub async fn beat(&self) -> Result<(), SdkError> {
        self.try_beat().await.map_err(|source| SdkError::Heartbeat {
            url: self.url.clone(),
            source,
        })
    }

    async fn try_beat(&self) -> Result<(), HeartbeatError> {
        let uri: hyper::Uri = self
            .url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| HeartbeatError::InvalidUrl(e.to_string()))?;
        if uri.scheme_str() != Some("http") {
            return Err(HeartbeatError::InvalidUrl(
                "only http:// runtime URLs are supported".to_owned(),
            ));
        }
        let mut request = hyper::Request::post(uri);
        if let Some(token) = &self.token {
            request = request.header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", token.trim()),
            );
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| HeartbeatError::InvalidUrl(e.to_string()))?;
        let response = tokio::time::timeout(TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| HeartbeatError::Timeout(TIMEOUT))?
            .map_err(|e| HeartbeatError::Unreachable(Box::new(e)))?;
        let status = response.status();
        if status == hyper::StatusCode::NO_CONTENT {
            return Ok(());
        }
        // The body usually says why; it is read briefly and only in part.
        let body = match tokio::time::timeout(TIMEOUT, response.into_body().collect()).await {
            Ok(Ok(collected)) => {
                let bytes = collected.to_bytes();
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]);
                text.trim().to_owned()
            }
            _ => String::new(),
        };
        Err(HeartbeatError::Rejected {
            status: status.as_u16(),
            body,
        })
    }

    /// Sends a heartbeat now and then every `interval`, in a task of its own, until
    /// the returned handle is aborted or the runtime shuts down. Failures are
    /// logged (with `tracing`) and do not stop the beating: the runtime may be
    /// restarting.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn example() {
    /// use std::time::Duration;
    /// let heartbeat = tomoe_sdk::Heartbeat::new("http://127.0.0.1:55556", "my-app", None);
    /// let beating = heartbeat.spawn(Duration::from_millis(500));
    /// // ... the app's work ...
    /// beating.abort();
    /// # }
    /// ```
    pub fn spawn(self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let span = tracing::debug_span!("tomoe-sdk-heartbeat", url = %self.url);
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut failing = false;
                loop {
                    ticker.tick().await;
                    match self.beat().await {
                        Ok(()) => {
                            if failing {
                                tracing::info!("heartbeats accepted again");
                            }
                            failing = false;
                        }
                        Err(error) => {
                            let reason = std::error::Error::source(&error)
                                .map(ToString::to_string)
                                .unwrap_or_default();
                            if failing {
                                tracing::debug!(%error, %reason, "heartbeat failed");
                            } else {
                                tracing::warn!(%error, %reason, "heartbeat failed");
                            }
                            failing = true;
                        }
                    }
                }
            },
            span,
        ))
    }
}

/// `text` as one URL path segment: unreserved characters stay, others are
/// percent-encoded.
fn path_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_url_names_the_workload() {
        let heartbeat = Heartbeat::new("http://127.0.0.1:55556/", "range-estimator", None);
        assert_eq!(
            heartbeat.url(),
            "http://127.0.0.1:55556/v1/workloads/range-estimator/heartbeat"
        );
    }

    #[test]
    fn workload_names_are_percent_encoded() {
        assert_eq!(path_segment("my app/1"), "my%20app%2F1");
        assert_eq!(path_segment("a-b_c.d~e"), "a-b_c.d~e");
    }

    #[tokio::test]
    async fn only_http_runtimes_are_supported() {
        let heartbeat = Heartbeat::new("https://runtime.example", "app", None);
        let error = heartbeat.beat().await.unwrap_err();
        assert!(
            matches!(
                &error,
                SdkError::Heartbeat {
                    source: HeartbeatError::InvalidUrl(_),
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
