//! VISS over WebSocket: one task reads requests, one writes responses and
//! events from a bounded queue, one task per subscription.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value as Json};
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::task::JoinHandle;

use crate::ops::timestamp;
use crate::request::{self, Action, Object};
use crate::subscription::{self, Kind};
use crate::{
    Viss, VissError, MAX_OUTGOING_MESSAGES, MAX_PENDING_SETS, MAX_SUBSCRIPTIONS_PER_CONNECTION,
};

/// A response to a request: its members plus `action`, `requestId` and `ts`.
pub(crate) fn response(
    action: Option<&str>,
    request_id: Option<&Json>,
    result: Result<Object, VissError>,
) -> String {
    let mut body = match result {
        Ok(body) => body,
        Err(error) => {
            let mut body = Object::new();
            body.insert("error".into(), error.to_json());
            body
        }
    };
    if let Some(action) = action {
        body.insert("action".into(), json!(action));
    }
    if let Some(id) = request_id {
        body.insert("requestId".into(), id.clone());
    }
    body.insert("ts".into(), json!(timestamp(SystemTime::now())));
    Json::Object(body).to_string()
}

pub(crate) async fn connection(viss: Viss, socket: WebSocket, _permit: OwnedSemaphorePermit) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<String>(MAX_OUTGOING_MESSAGES);
    let writer = tokio::spawn(async move {
        while let Some(text) = outgoing.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let mut subscriptions: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut next_id: u64 = 1;
    let pending_sets = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_SETS));
    while let Some(Ok(message)) = stream.next().await {
        let started = Instant::now();
        let invalid = |error: VissError| {
            let result = Err(error);
            viss.observe("ws invalid", &result, started);
            response(None, None, result)
        };
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => break,
            Message::Binary(_) => {
                let error = VissError::bad_request("The request must be a JSON text message");
                if out.send(invalid(error)).await.is_err() {
                    break;
                }
                continue;
            }
            _ => continue,
        };
        let message: Json = match serde_json::from_str(text.as_str()) {
            Ok(message) => message,
            Err(e) => {
                let error = VissError::bad_request(format!("The request is not JSON: {e}"));
                if out.send(invalid(error)).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let (action, request_id) = request::envelope(&message);
        let action = action.as_deref();
        let method = match action {
            Some("get") => "ws get",
            Some("set") => "ws set",
            Some("subscribe") => "ws subscribe",
            Some("unsubscribe") => "ws unsubscribe",
            _ => "ws invalid",
        };
        let reply = |result| {
            viss.observe(method, &result, started);
            response(action, request_id.as_ref(), result)
        };
        let parsed = match request::parse(&message) {
            Ok(parsed) => parsed,
            Err(error) => {
                if out.send(reply(Err(error))).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let permissions = match parsed.action {
            Action::Unsubscribe => None,
            _ => match viss.permissions(parsed.authorization.as_deref()) {
                Ok(permissions) => Some(permissions),
                Err(error) => {
                    if out.send(reply(Err(error))).await.is_err() {
                        break;
                    }
                    continue;
                }
            },
        };
        let answer = match (parsed.action, permissions) {
            (Action::Get, Some(permissions)) => {
                reply(viss.get_off_thread(permissions, parsed).await)
            }
            (Action::Set, Some(permissions)) => {
                // An actuation waits for its provider; other requests go on meanwhile.
                let Ok(permit) = pending_sets.clone().try_acquire_owned() else {
                    let error = VissError::unavailable_service(format!(
                        "A connection may wait for {MAX_PENDING_SETS} set requests at once"
                    ));
                    if out.send(reply(Err(error))).await.is_err() {
                        break;
                    }
                    continue;
                };
                let (viss, out) = (viss.clone(), out.clone());
                let (action, request_id) = (action.map(str::to_owned), request_id.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    let result = viss.set(&permissions, &parsed).await;
                    viss.observe(method, &result, started);
                    let _ = out
                        .send(response(action.as_deref(), request_id.as_ref(), result))
                        .await;
                });
                continue;
            }
            (Action::Subscribe, Some(permissions)) => {
                subscriptions.retain(|_, task| !task.is_finished());
                let started = if subscriptions.len() >= MAX_SUBSCRIPTIONS_PER_CONNECTION {
                    Err(VissError::unavailable_service(format!(
                        "A connection may hold {MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions; unsubscribe first"
                    )))
                } else {
                    let id = next_id.to_string();
                    Kind::from_filters(&parsed.filters)
                        .and_then(|kind| Ok((kind, viss.targets(&parsed)?)))
                        .and_then(|(kind, ids)| {
                            subscription::start(
                                &viss,
                                permissions,
                                ids,
                                kind,
                                id.clone(),
                                out.clone(),
                            )
                        })
                        .map(|task| (id, task))
                };
                match started {
                    Ok((id, task)) => {
                        next_id += 1;
                        let mut body = Object::new();
                        body.insert("subscriptionId".into(), json!(id));
                        // The response goes out before the task can send its first event.
                        if out.send(reply(Ok(body))).await.is_err() {
                            break;
                        }
                        subscriptions.insert(id, tokio::spawn(task));
                        continue;
                    }
                    Err(error) => reply(Err(error)),
                }
            }
            (Action::Unsubscribe, _) => {
                let id = parsed.subscription_id.unwrap_or_default();
                let result = match subscriptions.remove(&id) {
                    Some(task) => {
                        task.abort();
                        let mut body = Object::new();
                        body.insert("subscriptionId".into(), json!(id));
                        Ok(body)
                    }
                    None => Err(VissError::unavailable(format!(
                        "Unknown subscription Id \"{id}\""
                    ))),
                };
                reply(result)
            }
            (_, None) => continue,
        };
        if out.send(answer).await.is_err() {
            break;
        }
    }
    for task in subscriptions.values() {
        task.abort();
    }
    drop(out);
    let _ = writer.await;
}
