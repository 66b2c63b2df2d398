//! The vehicle's link to its backend: telemetry out as the policy says, commands in
//! as Zenoh queries that carry the caller's JWT.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tomoe_auth::{AuthError, TokenVerifier};
use tomoe_broker::{
    BrokerError, Field, Permissions, SubscriptionEvent, CONFIRMATION_TIMEOUT, MAX_QUEUE_CAPACITY,
};
use tomoe_vss::{LeafId, Value};
use zenoh::bytes::{Encoding, ZBytes};
use zenoh::query::Query;
use zenoh::Session;

use crate::bridge::Shared;
use crate::codec;
use crate::keys::CommandKind;
use crate::telemetry::{TelemetryFilter, TelemetryPolicy};

/// Largest command payload accepted.
pub const MAX_COMMAND_BYTES: usize = 256 * 1024;

/// Most paths one `get` command may name.
pub const MAX_COMMAND_PATHS: usize = 1000;

/// What makes an ECU the vehicle's gateway to its backend: the telemetry policy and
/// the keys that commands' tokens must be signed with (the same as for local
/// clients).
#[derive(Debug, Clone)]
pub struct Gateway {
    /// What leaves the vehicle.
    pub policy: TelemetryPolicy,
    /// Keys that verify a command's token. Without any, every command is refused.
    pub verifiers: Vec<Arc<TokenVerifier>>,
}

/// Why a command was refused: the `code` of its JSON error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandCode {
    /// No token, or one that does not verify (signature, expiry, claims).
    Unauthenticated,
    /// The token's scope does not allow it.
    PermissionDenied,
    /// An unknown path or command.
    NotFound,
    /// The payload is not what the command takes.
    InvalidArgument,
    /// The actuator's provider is absent, busy or failed.
    Unavailable,
}

/// The JSON error answer to a command.
#[derive(Debug, Serialize)]
struct CommandError {
    code: CommandCode,
    message: String,
}

impl CommandError {
    fn new(code: CommandCode, message: impl Into<String>) -> CommandError {
        CommandError {
            code,
            message: message.into(),
        }
    }

    fn auth(error: &AuthError) -> CommandError {
        CommandError::new(CommandCode::Unauthenticated, error.to_string())
    }

    fn broker(error: &BrokerError) -> CommandError {
        let code = match error.reason() {
            BrokerError::NoProvider { .. }
            | BrokerError::ProviderOverloaded { .. }
            | BrokerError::ProviderFailed { .. } => CommandCode::Unavailable,
            BrokerError::PermissionDenied { .. } | BrokerError::PrivateBranch { .. } => {
                CommandCode::PermissionDenied
            }
            BrokerError::PermissionExpired => CommandCode::Unauthenticated,
            BrokerError::NotFound { .. } | BrokerError::UnknownId { .. } => CommandCode::NotFound,
            _ => CommandCode::InvalidArgument,
        };
        CommandError::new(code, error.reason().to_string())
    }
}

/// Publishes the values the policy lets out, as the filter decides.
pub(crate) async fn publish_telemetry(
    session: Session,
    shared: Arc<Shared>,
    policy: TelemetryPolicy,
) {
    let mut filter = TelemetryFilter::new(&policy, shared.broker.catalog());
    let leaves = filter.leaves();
    if leaves.is_empty() {
        tracing::warn!("the telemetry policy selects no signal of this vehicle's catalog");
        return;
    }
    let start = tokio::time::Instant::now();
    let mut publishers = HashMap::new();
    loop {
        let mut subscription = match shared.broker.subscribe(
            &Permissions::allow_all(),
            &leaves,
            Field::Current,
            MAX_QUEUE_CAPACITY,
            true,
        ) {
            Ok(subscription) => subscription,
            Err(error) => {
                tracing::error!(%error, "cannot subscribe to the telemetry signals");
                return;
            }
        };
        let mut first = true;
        loop {
            let due_at = filter.next_due().map(|due| start + due);
            let held = async {
                match due_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let sends = tokio::select! {
                event = subscription.next() => match event {
                    Some(SubscriptionEvent::Changes(changes)) => {
                        let now = start.elapsed();
                        let sends: Vec<(LeafId, Option<Value>)> = changes
                            .into_iter()
                            .filter(|change| !(first && change.datapoint.value.is_none()))
                            .filter_map(|change| {
                                filter
                                    .offer(change.leaf, change.datapoint.value, now)
                                    .map(|value| (change.leaf, value))
                            })
                            .collect();
                        first = false;
                        sends
                    }
                    Some(SubscriptionEvent::Lagged { dropped }) => {
                        tracing::warn!(dropped, "telemetry fell behind; starting over from present values");
                        break;
                    }
                    None => return,
                },
                () = held => filter.due(start.elapsed()),
            };
            for (leaf, value) in sends {
                send_telemetry(&session, &shared, &mut publishers, leaf, value.as_ref()).await;
            }
        }
        if session.is_closed() {
            return;
        }
    }
}

async fn send_telemetry(
    session: &Session,
    shared: &Shared,
    publishers: &mut HashMap<LeafId, zenoh::pubsub::Publisher<'static>>,
    leaf: LeafId,
    value: Option<&Value>,
) {
    if let std::collections::hash_map::Entry::Vacant(slot) = publishers.entry(leaf) {
        let Ok(path) = shared.broker.leaf(leaf).map(|l| l.path.clone()) else {
            return;
        };
        match session
            .declare_publisher(shared.keys.telemetry(&path))
            .encoding(Encoding::APPLICATION_JSON)
            .await
        {
            Ok(publisher) => {
                slot.insert(publisher);
            }
            Err(error) => {
                tracing::error!(%error, path, "cannot declare a telemetry publisher");
                return;
            }
        }
    }
    let publisher = &publishers[&leaf];
    let payload = codec::encode(value);
    let bytes = payload.len() + publisher.key_expr().as_str().len();
    if let Err(error) = publisher
        .put(payload)
        .attachment(shared.config.ecu.as_str())
        .await
    {
        tracing::debug!(%error, "cannot send telemetry");
        return;
    }
    shared
        .counters
        .telemetry_sent
        .fetch_add(1, Ordering::Relaxed);
    shared
        .counters
        .telemetry_bytes
        .fetch_add(bytes as u64, Ordering::Relaxed);
}

/// Answers the backend's commands, each authorized by the token it carries.
pub(crate) async fn serve_commands(
    queryable: zenoh::query::Queryable<zenoh::handlers::FifoChannelHandler<Query>>,
    shared: Arc<Shared>,
    verifiers: Arc<Vec<Arc<TokenVerifier>>>,
) {
    while let Ok(query) = queryable.recv_async().await {
        let shared = shared.clone();
        let verifiers = verifiers.clone();
        tokio::spawn(async move {
            let answer = command(&shared, &verifiers, &query).await;
            let counter = match answer {
                Ok(_) => &shared.counters.commands_served,
                Err(_) => &shared.counters.commands_refused,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let sent = match answer {
                Ok(json) => {
                    query
                        .reply(query.key_expr().clone(), json.to_string())
                        .encoding(Encoding::APPLICATION_JSON)
                        .await
                }
                Err(error) => {
                    tracing::info!(code = ?error.code, message = error.message, "refused a command");
                    query
                        .reply_err(serde_json::to_string(&error).unwrap_or_default())
                        .encoding(Encoding::APPLICATION_JSON)
                        .await
                }
            };
            if let Err(error) = sent {
                tracing::debug!(%error, "cannot answer a command");
            }
        });
    }
}

/// Checks the token, then carries out one command.
async fn command(
    shared: &Shared,
    verifiers: &[Arc<TokenVerifier>],
    query: &Query,
) -> Result<serde_json::Value, CommandError> {
    let kind = shared
        .keys
        .command_of(query.key_expr().as_str())
        .ok_or_else(|| {
            CommandError::new(
                CommandCode::NotFound,
                format!("{}: no such command (actuate, get)", query.key_expr()),
            )
        })?;
    let token = query
        .attachment()
        .and_then(|a| a.try_to_string().ok())
        .ok_or_else(|| {
            CommandError::new(
                CommandCode::Unauthenticated,
                "no token: attach the caller's JWT to the query",
            )
        })?;
    let permissions = tomoe_auth::verify_any(verifiers.iter().map(|v| v.as_ref()), token.trim())
        .map_err(|e| CommandError::auth(&e))?;
    let json = parse_payload(query.payload())?;
    let catalog = shared.broker.catalog();
    let leaf_of = |path: &str| {
        catalog.leaf(path).ok_or_else(|| {
            CommandError::new(CommandCode::NotFound, format!("{path}: no such signal"))
        })
    };
    match kind {
        CommandKind::Actuate => {
            let serde_json::Value::Object(targets) = json else {
                return Err(invalid("expected a JSON object of paths and target values"));
            };
            if targets.is_empty() {
                return Err(invalid("no actuators named"));
            }
            let targets = targets
                .iter()
                .map(|(path, value)| {
                    let leaf = leaf_of(path)?;
                    let value = Value::from_json(value, leaf.datatype)
                        .map_err(|e| invalid(format!("{path}: {e}")))?;
                    Ok((leaf.id, value))
                })
                .collect::<Result<Vec<_>, CommandError>>()?;
            shared
                .broker
                .actuate_confirmed(&permissions, &targets, CONFIRMATION_TIMEOUT)
                .await
                .map_err(|e| CommandError::broker(&e))?;
            Ok(serde_json::json!({}))
        }
        CommandKind::Get => {
            let serde_json::Value::Array(paths) = json else {
                return Err(invalid("expected a JSON array of paths"));
            };
            if paths.len() > MAX_COMMAND_PATHS {
                return Err(invalid(format!(
                    "{} paths, more than the {MAX_COMMAND_PATHS} allowed",
                    paths.len()
                )));
            }
            let paths = paths
                .iter()
                .map(|p| {
                    p.as_str()
                        .ok_or_else(|| invalid(format!("{p}: not a path")))
                })
                .collect::<Result<Vec<&str>, _>>()?;
            let ids = paths
                .iter()
                .map(|p| leaf_of(p).map(|leaf| leaf.id))
                .collect::<Result<Vec<LeafId>, _>>()?;
            let datapoints = shared
                .broker
                .get(&permissions, &ids, Field::Current)
                .map_err(|e| CommandError::broker(&e))?;
            let values: serde_json::Map<String, serde_json::Value> = paths
                .iter()
                .zip(datapoints)
                .map(|(path, datapoint)| {
                    let value = datapoint
                        .value
                        .map_or(serde_json::Value::Null, |v| v.to_json());
                    ((*path).to_owned(), value)
                })
                .collect();
            Ok(serde_json::Value::Object(values))
        }
    }
}

fn invalid(message: impl Into<String>) -> CommandError {
    CommandError::new(CommandCode::InvalidArgument, message)
}

/// The JSON payload of a command, within its size limit.
fn parse_payload(payload: Option<&ZBytes>) -> Result<serde_json::Value, CommandError> {
    let payload = payload.ok_or_else(|| invalid("no payload"))?;
    if payload.len() > MAX_COMMAND_BYTES {
        return Err(invalid(format!(
            "{} bytes, more than the {MAX_COMMAND_BYTES} allowed",
            payload.len()
        )));
    }
    serde_json::from_slice(&payload.to_bytes()).map_err(|e| invalid(format!("not JSON: {e}")))
}

/// How long a backend should wait for a command's answer: the broker's own
/// confirmation timeout plus the way there and back.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
