//! The bridge between one broker and a Zenoh session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tomoe_broker::{
    ActuationProvider, ActuationRequest, Broker, BrokerError, Field, Permissions,
    SubscriptionEvent, CONFIRMATION_TIMEOUT, MAX_QUEUE_CAPACITY,
};
use tomoe_vss::{EntryType, LeafId, Value};
use zenoh::bytes::Encoding;
use zenoh::key_expr::KeyExpr;
use zenoh::liveliness::LivelinessToken;
use zenoh::query::{ConsolidationMode, QueryTarget};
use zenoh::sample::{Locality, Sample, SampleKind};
use zenoh::Session;

use crate::codec::{self, DecodeError};
use crate::keys::KeySpace;
use crate::stats::{Counters, StatsReader};
use crate::{BridgeConfig, BridgeError, BridgeStats, Gateway, RefusalReason};

/// How often the actuators claimed here are compared with the provider tokens.
const PROVIDER_SCAN_INTERVAL: Duration = Duration::from_millis(250);

/// How often refusals beyond the first few of each kind are summed up in the log.
const REFUSAL_REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// How long a request for present values waits for answers.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// How long an actuation query to another ECU waits: less than the broker's own
/// confirmation timeout, so that the caller learns which ECU did not answer.
const ACTUATE_QUERY_TIMEOUT: Duration = Duration::from_millis(1500);

/// Largest actuation request accepted from another ECU.
const MAX_ACTUATE_BYTES: usize = 256 * 1024;

/// A running bridge. Dropping it stops its tasks; [`Bridge::close`] also closes the
/// Zenoh session, so that peers see this ECU leave at once.
pub struct Bridge {
    session: Session,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    _token: LivelinessToken,
    _signals: zenoh::pubsub::Subscriber<()>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("vehicle", &self.shared.config.vehicle_id)
            .field("ecu", &self.shared.config.ecu)
            .finish_non_exhaustive()
    }
}

/// What the bridge's tasks share.
pub(crate) struct Shared {
    pub(crate) broker: Broker,
    pub(crate) config: BridgeConfig,
    pub(crate) keys: KeySpace,
    pub(crate) counters: Arc<Counters>,
    /// Imported leaves and the ECU each value came from.
    sources: Mutex<HashMap<LeafId, String>>,
    /// Actuators provided on another ECU, claimed here by the forwarding provider.
    remote_actuators: Mutex<HashMap<LeafId, String>>,
}

impl Bridge {
    /// Opens the Zenoh session and starts exporting, importing and forwarding; with a
    /// `gateway`, also sending telemetry and serving the backend's commands.
    pub async fn start(
        broker: Broker,
        config: BridgeConfig,
        gateway: Option<Gateway>,
    ) -> Result<Bridge, BridgeError> {
        let session = zenoh::open(zenoh_config(&config)?)
            .await
            .map_err(|e| BridgeError::zenoh("cannot open the session", e))?;
        let keys = KeySpace::new(&config.vehicle_id);
        let shared = Arc::new(Shared {
            broker,
            keys: keys.clone(),
            config,
            counters: Arc::default(),
            sources: Mutex::new(HashMap::new()),
            remote_actuators: Mutex::new(HashMap::new()),
        });

        let importer = shared.clone();
        let signals = session
            .declare_subscriber(keys.all_signals())
            .allowed_origin(Locality::Remote)
            .callback(move |sample| importer.import(&sample))
            .await
            .map_err(|e| BridgeError::zenoh("cannot subscribe to the vehicle's signals", e))?;
        let token = session
            .liveliness()
            .declare_token(keys.ecu(&shared.config.ecu))
            .await
            .map_err(|e| BridgeError::zenoh("cannot declare this ECU's liveliness token", e))?;

        let mut tasks = Vec::new();
        let exported = shared.exported_leaves();
        if !exported.is_empty() {
            tasks.push(tokio::spawn(export(
                session.clone(),
                shared.clone(),
                exported.clone(),
            )));
            let queryable = session
                .declare_queryable(keys.all_signals())
                .await
                .map_err(|e| BridgeError::zenoh("cannot serve present values", e))?;
            tasks.push(tokio::spawn(serve_values(
                queryable,
                shared.clone(),
                exported,
            )));
            let actuate = session
                .declare_queryable(keys.actuate(&shared.config.ecu))
                .await
                .map_err(|e| BridgeError::zenoh("cannot serve actuation", e))?;
            tasks.push(tokio::spawn(serve_actuation(actuate, shared.clone())));
        }
        tasks.push(tokio::spawn(report_refusals(shared.clone())));
        let forwarder = shared.broker.open_confirming_provider();
        tasks.push(tokio::spawn(announce_providers(
            session.clone(),
            shared.clone(),
            forwarder.id(),
        )));
        if !shared.config.import.is_empty() {
            let peers = session
                .liveliness()
                .declare_subscriber(keys.all_ecus())
                .history(true)
                .await
                .map_err(|e| BridgeError::zenoh("cannot watch the other ECUs", e))?;
            tasks.push(tokio::spawn(watch_peers(
                session.clone(),
                shared.clone(),
                peers,
            )));
            let providers = session
                .liveliness()
                .declare_subscriber(keys.all_providers())
                .history(true)
                .await
                .map_err(|e| BridgeError::zenoh("cannot watch the other ECUs' actuators", e))?;
            tasks.push(tokio::spawn(forward_actuation(
                session.clone(),
                shared.clone(),
                providers,
                forwarder,
            )));
        }
        if let Some(gateway) = gateway {
            let commands = session
                .declare_queryable(keys.all_commands())
                .await
                .map_err(|e| BridgeError::zenoh("cannot serve the backend's commands", e))?;
            tasks.push(tokio::spawn(crate::gateway::serve_commands(
                commands,
                shared.clone(),
                Arc::new(gateway.verifiers),
            )));
            tasks.push(tokio::spawn(crate::gateway::publish_telemetry(
                session.clone(),
                shared.clone(),
                gateway.policy,
            )));
        }
        tracing::info!(
            vehicle = %shared.config.vehicle_id,
            ecu = %shared.config.ecu,
            zid = %session.zid(),
            "Zenoh bridge started"
        );
        Ok(Bridge {
            session,
            shared,
            tasks,
            _token: token,
            _signals: signals,
        })
    }

    /// What the bridge counted so far.
    pub fn stats(&self) -> BridgeStats {
        self.shared.counters.snapshot()
    }

    /// A handle that reads the counters while the bridge runs (for a metrics scrape).
    pub fn stats_reader(&self) -> StatsReader {
        StatsReader(self.shared.counters.clone())
    }

    /// This instance's Zenoh id.
    pub fn zenoh_id(&self) -> String {
        self.session.zid().to_string()
    }

    /// Stops the bridge and closes the session.
    pub async fn close(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        if let Err(error) = self.session.close().await {
            tracing::warn!(%error, "closing the Zenoh session failed");
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The Zenoh configuration of a bridge.
fn zenoh_config(config: &BridgeConfig) -> Result<zenoh::Config, BridgeError> {
    session_config(
        config.mode,
        &config.listen,
        &config.connect,
        config.lease_ms,
    )
}

/// The Zenoh configuration Tomoe uses everywhere: the endpoints and mode given,
/// multicast scouting off (peers are named, nothing is sent to addresses no one
/// configured) and a short lease, so that a lost link is noticed within about a
/// second.
pub(crate) fn session_config(
    mode: crate::ZenohMode,
    listen: &[String],
    connect: &[String],
    lease_ms: u64,
) -> Result<zenoh::Config, BridgeError> {
    let mut zenoh = zenoh::Config::default();
    let settings = [
        ("mode", serde_json::json!(mode.as_str())),
        ("listen/endpoints", serde_json::json!(listen)),
        ("connect/endpoints", serde_json::json!(connect)),
        ("scouting/multicast/enabled", serde_json::json!(false)),
        ("transport/link/tx/lease", serde_json::json!(lease_ms)),
        (
            "connect/retry",
            serde_json::json!({"period_init_ms": 250, "period_max_ms": 1000, "period_increase_factor": 2}),
        ),
    ];
    for (key, value) in settings {
        zenoh
            .insert_json5(key, &value.to_string())
            .map_err(|e| BridgeError::zenoh(format!("setting {key} = {value}"), e))?;
    }
    Ok(zenoh)
}

impl Shared {
    /// The leaves this ECU exports, with their keys.
    fn exported_leaves(&self) -> Vec<(LeafId, KeyExpr<'static>)> {
        self.broker
            .catalog()
            .leaves()
            .filter(|leaf| self.config.exports(&leaf.path))
            .filter_map(|leaf| {
                KeyExpr::try_from(self.keys.signal(&leaf.path))
                    .ok()
                    .map(|key| (leaf.id, key))
            })
            .collect()
    }

    /// Publishes one incoming sample into the local broker, or refuses it.
    fn import(&self, sample: &Sample) {
        let key = sample.key_expr().as_str();
        let sender = sample
            .attachment()
            .and_then(|a| a.try_to_string().ok().map(|s| s.into_owned()));
        let Some(sender) = sender else {
            self.counters
                .refuse(RefusalReason::NoSender, key, "no ECU name attached");
            return;
        };
        // This ECU's own samples never reach its subscriber (remote origin only): one
        // naming this ECU comes from someone else.
        if sender == self.config.ecu {
            self.counters.refuse(
                RefusalReason::NotPermitted,
                key,
                &format!("another sender claims to be this ECU ({sender})"),
            );
            return;
        }
        let catalog = self.broker.catalog();
        let Some(leaf) = self
            .keys
            .path_of_signal(key)
            .and_then(|path| catalog.leaf(&path))
        else {
            self.counters
                .refuse(RefusalReason::UnknownPath, key, "no such signal");
            return;
        };
        if !self.config.may_import(&sender, &leaf.path) {
            self.counters.refuse(
                RefusalReason::NotPermitted,
                key,
                &format!("{sender} may not provide {}", leaf.path),
            );
            return;
        }
        let value = match sample.kind() {
            SampleKind::Delete => None,
            SampleKind::Put => match codec::decode(leaf, &sample.payload().to_bytes()) {
                Ok(value) => value,
                Err(error) => {
                    let reason = match error {
                        DecodeError::TooLarge(_) | DecodeError::NotJson(_) => {
                            RefusalReason::Malformed
                        }
                        DecodeError::Invalid(_) => RefusalReason::InvalidValue,
                    };
                    self.counters.refuse(reason, key, &error.to_string());
                    return;
                }
            },
        };
        let mut sources = self.sources.lock().expect("sources lock poisoned");
        match self
            .broker
            .publish(&Permissions::allow_all(), &[(leaf.id, value)])
        {
            Ok(()) => {
                sources.insert(leaf.id, sender);
                self.counters
                    .imported
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(error) => {
                self.counters
                    .refuse(RefusalReason::InvalidValue, key, &error.to_string())
            }
        }
    }

    /// Marks every signal last received from `ecu` as not available.
    fn forget_peer(&self, ecu: &str) {
        let mut sources = self.sources.lock().expect("sources lock poisoned");
        let gone: Vec<(LeafId, Option<Value>)> = sources
            .iter()
            .filter(|(_, from)| from.as_str() == ecu)
            .map(|(leaf, _)| (*leaf, None))
            .collect();
        sources.retain(|_, from| from.as_str() != ecu);
        if gone.is_empty() {
            return;
        }
        tracing::warn!(
            ecu,
            signals = gone.len(),
            "lost the link to an ECU; its signals are unavailable"
        );
        if let Err(error) = self.broker.publish(&Permissions::allow_all(), &gone) {
            tracing::error!(%error, ecu, "cannot mark an ECU's signals unavailable");
        }
    }

    fn imports_from(&self, ecu: &str) -> bool {
        ecu != self.config.ecu && self.config.import.iter().any(|rule| rule.from == ecu)
    }
}

/// Sums up in the log the refusals that were no longer logged one by one (only the
/// first ten of each reason are), once a minute while there are any.
async fn report_refusals(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(REFUSAL_REPORT_INTERVAL);
    interval.tick().await;
    let mut reported = shared.counters.snapshot().refused;
    loop {
        interval.tick().await;
        let now = shared.counters.snapshot().refused;
        let total = |refused: &[(RefusalReason, u64)]| refused.iter().map(|(_, n)| n).sum::<u64>();
        let new = total(&now) - total(&reported);
        if new > 0 && now.iter().any(|(_, n)| *n > 10) {
            tracing::warn!(
                new,
                totals = ?now,
                "refused more samples from Zenoh in the last {REFUSAL_REPORT_INTERVAL:?}"
            );
        }
        reported = now;
    }
}

/// Sends the exported signals' values as they change.
async fn export(session: Session, shared: Arc<Shared>, leaves: Vec<(LeafId, KeyExpr<'static>)>) {
    let keys: HashMap<LeafId, KeyExpr<'static>> = leaves.iter().cloned().collect();
    let ids: Vec<LeafId> = leaves.iter().map(|(id, _)| *id).collect();
    let ecu = shared.config.ecu.clone();
    let mut publishers = HashMap::new();
    loop {
        let mut subscription = match shared.broker.subscribe(
            &Permissions::allow_all(),
            &ids,
            Field::Current,
            MAX_QUEUE_CAPACITY,
            true,
        ) {
            Ok(subscription) => subscription,
            Err(error) => {
                tracing::error!(%error, "cannot subscribe to the exported signals");
                return;
            }
        };
        let mut first = true;
        while let Some(event) = subscription.next().await {
            let changes = match event {
                SubscriptionEvent::Changes(changes) => changes,
                SubscriptionEvent::Lagged { dropped } => {
                    tracing::warn!(
                        dropped,
                        "export fell behind; starting over from present values"
                    );
                    break;
                }
            };
            for change in changes {
                // Values never set are not announced; a value that becomes
                // unavailable later is (as null).
                if first && change.datapoint.value.is_none() {
                    continue;
                }
                let Some(key) = keys.get(&change.leaf) else {
                    continue;
                };
                if let std::collections::hash_map::Entry::Vacant(slot) =
                    publishers.entry(change.leaf)
                {
                    match session
                        .declare_publisher(key.clone())
                        .encoding(Encoding::APPLICATION_JSON)
                        .await
                    {
                        Ok(publisher) => {
                            slot.insert(publisher);
                        }
                        Err(error) => {
                            tracing::error!(%error, %key, "cannot declare a publisher");
                            continue;
                        }
                    }
                }
                let payload = codec::encode(change.datapoint.value.as_ref());
                let publisher = &publishers[&change.leaf];
                if let Err(error) = publisher.put(payload).attachment(ecu.as_str()).await {
                    tracing::debug!(%error, %key, "cannot send a value");
                } else {
                    shared
                        .counters
                        .exported
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            first = false;
        }
        if session.is_closed() {
            return;
        }
    }
}

/// Answers queries for present values of exported signals.
async fn serve_values(
    queryable: zenoh::query::Queryable<zenoh::handlers::FifoChannelHandler<zenoh::query::Query>>,
    shared: Arc<Shared>,
    leaves: Vec<(LeafId, KeyExpr<'static>)>,
) {
    let ecu = shared.config.ecu.clone();
    while let Ok(query) = queryable.recv_async().await {
        let wanted: Vec<&(LeafId, KeyExpr<'static>)> = leaves
            .iter()
            .filter(|(_, key)| key.intersects(query.key_expr()))
            .collect();
        for chunk in wanted.chunks(100) {
            let ids: Vec<LeafId> = chunk.iter().map(|(id, _)| *id).collect();
            let Ok(values) = shared
                .broker
                .get(&Permissions::allow_all(), &ids, Field::Current)
            else {
                continue;
            };
            for ((_, key), datapoint) in chunk.iter().zip(values) {
                let Some(value) = datapoint.value else {
                    continue;
                };
                if let Err(error) = query
                    .reply(key.clone(), codec::encode(Some(&value)))
                    .encoding(Encoding::APPLICATION_JSON)
                    .attachment(ecu.as_str())
                    .await
                {
                    tracing::debug!(%error, "cannot answer a query for present values");
                }
            }
        }
    }
}

/// Keeps one liveliness token per actuator that a provider on this ECU claimed and
/// this ECU exports, so that other ECUs know whom to ask.
async fn announce_providers(
    session: Session,
    shared: Arc<Shared>,
    forwarder: tomoe_broker::ProviderId,
) {
    let mut tokens: HashMap<LeafId, LivelinessToken> = HashMap::new();
    let mut interval = tokio::time::interval(PROVIDER_SCAN_INTERVAL);
    loop {
        interval.tick().await;
        let claimed: Vec<LeafId> = shared
            .broker
            .claimed_actuators()
            .into_iter()
            .filter(|(_, provider)| *provider != forwarder)
            .map(|(leaf, _)| leaf)
            .filter(|leaf| {
                shared
                    .broker
                    .leaf(*leaf)
                    .is_ok_and(|leaf| shared.config.exports(&leaf.path))
            })
            .collect();
        tokens.retain(|leaf, _| claimed.contains(leaf));
        for leaf in claimed {
            if tokens.contains_key(&leaf) {
                continue;
            }
            let Ok(path) = shared.broker.leaf(leaf).map(|l| l.path.clone()) else {
                continue;
            };
            match session
                .liveliness()
                .declare_token(shared.keys.provider(&shared.config.ecu, &path))
                .await
            {
                Ok(token) => {
                    tokens.insert(leaf, token);
                }
                Err(error) => {
                    tracing::warn!(%error, path, "cannot announce an actuator");
                    if session.is_closed() {
                        return;
                    }
                }
            }
        }
    }
}

/// Follows the other ECUs' liveliness: a peer that appears is asked for its present
/// values; one that goes has its signals marked unavailable.
async fn watch_peers(
    session: Session,
    shared: Arc<Shared>,
    peers: zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<Sample>>,
) {
    while let Ok(sample) = peers.recv_async().await {
        let Some(ecu) = shared.keys.ecu_of_token(sample.key_expr().as_str()) else {
            continue;
        };
        if !shared.imports_from(ecu) {
            continue;
        }
        let ecu = ecu.to_owned();
        match sample.kind() {
            SampleKind::Put => {
                tracing::info!(ecu, "an ECU joined");
                shared
                    .counters
                    .peers
                    .lock()
                    .expect("peers lock poisoned")
                    .insert(ecu.clone());
                fetch_present_values(&session, &shared).await;
            }
            SampleKind::Delete => {
                shared
                    .counters
                    .peers
                    .lock()
                    .expect("peers lock poisoned")
                    .remove(&ecu);
                shared.forget_peer(&ecu);
            }
        }
    }
}

/// Asks every exporting ECU for its present values and imports the answers.
async fn fetch_present_values(session: &Session, shared: &Shared) {
    let replies = match session
        .get(shared.keys.all_signals())
        .allowed_destination(Locality::Remote)
        .target(QueryTarget::All)
        .consolidation(ConsolidationMode::None)
        .timeout(FETCH_TIMEOUT)
        .await
    {
        Ok(replies) => replies,
        Err(error) => {
            tracing::warn!(%error, "cannot ask for present values");
            return;
        }
    };
    while let Ok(reply) = replies.recv_async().await {
        if let Ok(sample) = reply.result() {
            shared.import(sample);
        }
    }
}

/// Claims the actuators that other ECUs provide and passes each request for them on
/// as a query to the providing ECU.
async fn forward_actuation(
    session: Session,
    shared: Arc<Shared>,
    providers: zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<Sample>>,
    mut forwarder: ActuationProvider,
) {
    let all = Permissions::allow_all();
    loop {
        tokio::select! {
            token = providers.recv_async() => {
                let Ok(token) = token else { return };
                let Some((ecu, path)) = shared.keys.provider_of_token(token.key_expr().as_str()) else {
                    continue;
                };
                if !shared.imports_from(&ecu) || !shared.config.may_import(&ecu, &path) {
                    continue;
                }
                let Some(leaf) = shared.broker.catalog().leaf(&path) else { continue };
                if leaf.entry_type != EntryType::Actuator {
                    continue;
                }
                let id = leaf.id;
                let mut remote = shared.remote_actuators.lock().expect("remote lock poisoned");
                match token.kind() {
                    SampleKind::Put => match remote.get(&id) {
                        Some(owner) if *owner != ecu => {
                            shared.counters.claim_conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            tracing::error!(ecu, owner, path, "two ECUs provide one actuator; the later one is ignored");
                        }
                        Some(_) => {}
                        None => match forwarder.claim(&all, &[id]) {
                        Ok(()) => {
                            tracing::debug!(ecu, path, "actuator provided by another ECU");
                            remote.insert(id, ecu);
                        }
                        Err(error) => {
                            shared.counters.claim_conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            tracing::error!(ecu, path, %error, "two ECUs provide one actuator; the remote one is ignored");
                        }
                        },
                    },
                    SampleKind::Delete => {
                        if remote.get(&id) == Some(&ecu) {
                            remote.remove(&id);
                            forwarder.release(&[id]);
                        }
                    }
                }
            }
            request = forwarder.next() => {
                let Some(request) = request else { return };
                tokio::spawn(forward_one(session.clone(), shared.clone(), request));
            }
        }
    }
}

/// Sends one actuation request to the ECUs that provide its actuators and answers
/// with the first failure, or success.
async fn forward_one(session: Session, shared: Arc<Shared>, request: ActuationRequest) {
    let mut by_ecu: Vec<(String, serde_json::Map<String, serde_json::Value>)> = Vec::new();
    let mut missing = None;
    {
        let remote = shared
            .remote_actuators
            .lock()
            .expect("remote lock poisoned");
        for (leaf, value) in &request.targets {
            let path = shared
                .broker
                .leaf(*leaf)
                .map(|l| l.path.clone())
                .unwrap_or_default();
            let Some(ecu) = remote.get(leaf) else {
                missing = Some(path);
                continue;
            };
            let entry = match by_ecu.iter_mut().find(|(e, _)| e == ecu) {
                Some(entry) => entry,
                None => {
                    by_ecu.push((ecu.clone(), serde_json::Map::new()));
                    by_ecu.last_mut().expect("just pushed")
                }
            };
            entry.1.insert(path, value.to_json());
        }
    }
    let mut outcome = match missing {
        Some(path) => Err(format!("{path} lost its provider on the other ECU")),
        None => Ok(()),
    };
    for (ecu, targets) in by_ecu {
        if outcome.is_err() {
            break;
        }
        shared
            .counters
            .actuations_forwarded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        outcome = actuate_remote(&session, &shared.keys.actuate(&ecu), &ecu, targets).await;
    }
    if let Some(confirmation) = request.confirmation {
        confirmation.answer(outcome);
    }
}

/// One actuation query; the answer of the ECU, or why there was none.
async fn actuate_remote(
    session: &Session,
    key: &str,
    ecu: &str,
    targets: serde_json::Map<String, serde_json::Value>,
) -> Result<(), String> {
    let payload = serde_json::Value::Object(targets).to_string();
    let replies = session
        .get(key)
        .payload(payload)
        .encoding(Encoding::APPLICATION_JSON)
        .target(QueryTarget::All)
        .timeout(ACTUATE_QUERY_TIMEOUT)
        .await
        .map_err(|e| format!("cannot reach ECU {ecu}: {e}"))?;
    match replies.recv_async().await {
        Ok(reply) => match reply.result() {
            Ok(_) => Ok(()),
            Err(error) => Err(format!(
                "ECU {ecu}: {}",
                error
                    .payload()
                    .try_to_string()
                    .map(|s| s.into_owned())
                    .unwrap_or_else(|_| "refused".to_owned())
            )),
        },
        Err(_) => Err(format!(
            "ECU {ecu} did not answer within {ACTUATE_QUERY_TIMEOUT:?}"
        )),
    }
}

/// Carries out actuation requests from other ECUs for actuators this ECU exports.
async fn serve_actuation(
    queryable: zenoh::query::Queryable<zenoh::handlers::FifoChannelHandler<zenoh::query::Query>>,
    shared: Arc<Shared>,
) {
    while let Ok(query) = queryable.recv_async().await {
        let shared = shared.clone();
        tokio::spawn(async move {
            let result = match parse_actuation(&shared, query.payload()) {
                Ok(targets) => {
                    let permissions = shared
                        .config
                        .export
                        .iter()
                        .fold(Permissions::none(), |permissions, pattern| {
                            permissions.with_actuate(pattern.clone())
                        });
                    shared
                        .broker
                        .actuate_confirmed(&permissions, &targets, CONFIRMATION_TIMEOUT)
                        .await
                        .map_err(|e| error_json(&e))
                }
                Err(message) => Err(serde_json::json!({
                    "code": "invalid_argument",
                    "message": message,
                })
                .to_string()),
            };
            shared
                .counters
                .actuations_served
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let sent = match result {
                Ok(()) => {
                    query
                        .reply(query.key_expr().clone(), "{}")
                        .encoding(Encoding::APPLICATION_JSON)
                        .await
                }
                Err(error) => {
                    query
                        .reply_err(error)
                        .encoding(Encoding::APPLICATION_JSON)
                        .await
                }
            };
            if let Err(error) = sent {
                tracing::debug!(%error, "cannot answer an actuation query");
            }
        });
    }
}

/// The targets of an actuation query: a JSON object of VSS paths and values.
fn parse_actuation(
    shared: &Shared,
    payload: Option<&zenoh::bytes::ZBytes>,
) -> Result<Vec<(LeafId, Value)>, String> {
    let payload = payload.ok_or("no payload: expected a JSON object of paths and values")?;
    if payload.len() > MAX_ACTUATE_BYTES {
        return Err(format!(
            "{} bytes, more than the {MAX_ACTUATE_BYTES} allowed",
            payload.len()
        ));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&payload.to_bytes()).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(targets) = json else {
        return Err("expected a JSON object of paths and values".to_owned());
    };
    if targets.is_empty() {
        return Err("no actuators named".to_owned());
    }
    let catalog = shared.broker.catalog();
    targets
        .iter()
        .map(|(path, value)| {
            let leaf = catalog
                .leaf(path)
                .ok_or_else(|| format!("{path}: no such signal"))?;
            if !shared.config.exports(path) {
                return Err(format!("{path}: not provided by this ECU"));
            }
            let value =
                Value::from_json(value, leaf.datatype).map_err(|e| format!("{path}: {e}"))?;
            Ok((leaf.id, value))
        })
        .collect()
}

/// A broker error as the JSON answer to an actuation query.
fn error_json(error: &BrokerError) -> String {
    let code = match error.reason() {
        BrokerError::NoProvider { .. }
        | BrokerError::ProviderOverloaded { .. }
        | BrokerError::ProviderFailed { .. } => "unavailable",
        BrokerError::PermissionDenied { .. }
        | BrokerError::PrivateBranch { .. }
        | BrokerError::PermissionExpired => "permission_denied",
        BrokerError::NotFound { .. } | BrokerError::UnknownId { .. } => "not_found",
        _ => "invalid_argument",
    };
    serde_json::json!({ "code": code, "message": error.reason().to_string() }).to_string()
}
