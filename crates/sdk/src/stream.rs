//! The streams the broker sends: subscription updates and actuation requests.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use futures::channel::mpsc;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use kuksa_rust_sdk::v2_proto as v2;
use tomoe_kuksa::signal::{signal_of, Signal};
use tomoe_kuksa::value_from_v2;
use tomoe_vss::Value;
use tonic::Streaming;

use crate::SdkError;

/// A new current value of one signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The signal's VSS path.
    pub path: String,
    /// The value; `None` when the signal has no value (yet, or any more).
    pub value: Option<Value>,
    /// When the value was published (the broker's clock); the time it arrived when
    /// the broker sent no timestamp.
    pub timestamp: SystemTime,
}

/// The updates of a subscription, one [`Update`] per changed signal, from
/// [`Client::subscribe`](crate::Client::subscribe).
///
/// The stream ends after yielding an error (for example when the subscriber fell
/// too far behind and the broker ended the subscription, or the token expired) or
/// when the broker closes it. Dropping it ends the subscription.
pub struct Subscription {
    inner: BoxStream<'static, Result<Update, SdkError>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn new(
        stream: Streaming<v2::SubscribeResponse>,
        paths: Vec<String>,
    ) -> Subscription {
        let state = Some((stream, VecDeque::new()));
        let inner = futures::stream::unfold(state, move |state| {
            let paths = paths.clone();
            async move {
                let (mut stream, mut pending): (_, VecDeque<Update>) = state?;
                loop {
                    if let Some(update) = pending.pop_front() {
                        return Some((Ok(update), Some((stream, pending))));
                    }
                    match stream.message().await {
                        Ok(Some(response)) => {
                            let mut entries: Vec<_> = response.entries.into_iter().collect();
                            entries.sort_by(|a, b| a.0.cmp(&b.0));
                            pending.extend(entries.into_iter().map(|(path, datapoint)| Update {
                                path,
                                value: datapoint.value.and_then(value_from_v2),
                                timestamp: timestamp(datapoint.timestamp),
                            }));
                        }
                        Ok(None) => return None,
                        Err(status) => {
                            let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
                            return Some((Err(SdkError::from_status(&paths, status)), None));
                        }
                    }
                }
            }
        });
        Subscription {
            inner: inner.boxed(),
        }
    }
}

impl Stream for Subscription {
    type Item = Result<Update, SdkError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// A request to move an actuator to a value.
#[derive(Debug, Clone, PartialEq)]
pub struct ActuationRequest {
    /// The actuator's VSS path.
    pub path: String,
    /// The value asked for, in the leaf's wire type.
    pub value: Value,
}

/// The actuation requests for the actuators a provider claimed, from
/// [`Client::provide_actuators`](crate::Client::provide_actuators).
///
/// The claim lasts as long as this stream is kept; dropping it releases the
/// actuators. The stream ends after yielding an error (for example when the
/// token expired) or when the broker closes it.
pub struct ActuationRequests {
    inner: BoxStream<'static, Result<ActuationRequest, SdkError>>,
    // Keeps the request side of the provider stream open: the broker ends the
    // claim when the call ends.
    _requests: mpsc::Sender<v2::OpenProviderStreamRequest>,
}

impl std::fmt::Debug for ActuationRequests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActuationRequests").finish_non_exhaustive()
    }
}

impl ActuationRequests {
    pub(crate) fn new(
        stream: Streaming<v2::OpenProviderStreamResponse>,
        requests: mpsc::Sender<v2::OpenProviderStreamRequest>,
        paths: HashMap<i32, String>,
    ) -> ActuationRequests {
        use v2::open_provider_stream_response::Action;
        let claimed = {
            let mut claimed: Vec<String> = paths.values().cloned().collect();
            claimed.sort_unstable();
            claimed
        };
        let state = Some((stream, VecDeque::new()));
        let inner = futures::stream::unfold(state, move |state| {
            let paths = paths.clone();
            let claimed = claimed.clone();
            async move {
                let (mut stream, mut pending): (_, VecDeque<ActuationRequest>) = state?;
                loop {
                    if let Some(request) = pending.pop_front() {
                        return Some((Ok(request), Some((stream, pending))));
                    }
                    match stream.message().await {
                        Ok(Some(v2::OpenProviderStreamResponse {
                            action: Some(Action::BatchActuateStreamRequest(batch)),
                        })) => {
                            pending.extend(batch.actuate_requests.into_iter().filter_map(
                                |request| {
                                    let path = match signal_of(request.signal_id).ok()? {
                                        Signal::Path(path) => path,
                                        Signal::Id(id) => paths.get(&id)?.clone(),
                                    };
                                    let value = value_from_v2(request.value?)?;
                                    Some(ActuationRequest { path, value })
                                },
                            ));
                        }
                        Ok(Some(_)) => continue,
                        Ok(None) => return None,
                        Err(status) => {
                            let claimed: Vec<&str> = claimed.iter().map(String::as_str).collect();
                            return Some((Err(SdkError::from_status(&claimed, status)), None));
                        }
                    }
                }
            }
        });
        ActuationRequests {
            inner: inner.boxed(),
            _requests: requests,
        }
    }
}

impl Stream for ActuationRequests {
    type Item = Result<ActuationRequest, SdkError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// A wire timestamp as a system time; now when there is none.
fn timestamp(timestamp: Option<prost_types::Timestamp>) -> SystemTime {
    timestamp
        .and_then(|t| SystemTime::try_from(t).ok())
        .unwrap_or_else(SystemTime::now)
}
