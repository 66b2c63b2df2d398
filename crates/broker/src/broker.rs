//! The broker: state, writes, subscriptions and actuation routing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tomoe_vss::{Catalog, EntryType, Leaf, LeafId, PathPattern, Value};

use crate::actuation::{
    ActuationProvider, ActuationRequest, AnswerReceiver, Confirmation, ProviderId, ProviderSlot,
};
use crate::health::{BrokerHealth, HealthCounters};
use crate::permissions::PrivateBranch;
use crate::publication::{authorize, check_publication, refused};
use crate::queue::{fan_out, QueuedBatch, SubscriptionSlot};
use crate::{Access, BrokerError, Permissions, Persistence, RefusedEntry, StoredDatapoint};

/// Largest subscription or provider queue a client may ask for.
pub const MAX_QUEUE_CAPACITY: usize = 1000;

/// Bytes of values one subscriber may have waiting in its queue; a subscriber that
/// falls further behind is disconnected with [`SubscriptionEvent::Lagged`]. Queued
/// values are shared between subscribers, not copied, so this bounds what one slow
/// subscriber keeps alive, not what each costs. A single batch larger than this is
/// still delivered to a subscriber whose queue is empty.
pub const MAX_SUBSCRIBER_QUEUE_BYTES: usize = 8 * 1024 * 1024;

/// Which value of a leaf a write or subscription is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The current value (sensors, attributes, and what actuators report).
    Current,
    /// The target value of an actuator.
    Target,
}

/// A value with the time the broker accepted it.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    /// The value; `None` when none is available.
    pub value: Option<Value>,
    /// When the broker accepted the value (or started, for a value never written).
    pub timestamp: SystemTime,
}

/// One changed field of one leaf, as delivered to subscribers.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The leaf.
    pub leaf: LeafId,
    /// Which of its values changed.
    pub field: Field,
    /// The new datapoint.
    pub datapoint: Datapoint,
}

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum SubscriptionEvent {
    /// One batch of changes, in the order they were accepted.
    Changes(Vec<Change>),
    /// The subscriber fell behind: its queue overflowed and it was disconnected.
    /// Everything queued before the overflow has been delivered; from the batch that
    /// did not fit on (`dropped` counts the batches refused) nothing is. No further
    /// events follow.
    Lagged {
        /// How many batches were dropped.
        dropped: u64,
    },
}

/// How [`Broker::publish_batch`] treats a batch with refused entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchPolicy {
    /// A refused entry refuses the batch: nothing is published.
    AllOrNothing,
    /// The entries that pass are published as one batch; the refused ones are dropped.
    ValidOnly,
}

/// What [`Broker::publish_batch`] did with a batch.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// How many entries were published.
    pub published: usize,
    /// The refused entries, in batch order, each with its reason.
    pub refused: Vec<RefusedEntry>,
}

/// Tunables of the broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Queue capacity of a subscription whose client asks for none (0).
    pub default_queue_capacity: usize,
    /// Queue capacity of each actuation provider.
    pub provider_queue_capacity: usize,
    /// Sensors (and actuators) whose current value is also persisted.
    pub persist_current: Vec<PathPattern>,
    /// Branches only their tenant may touch, whatever a caller's scopes say.
    pub private_branches: Vec<PrivateBranch>,
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        BrokerConfig {
            default_queue_capacity: 256,
            provider_queue_capacity: 256,
            persist_current: Vec::new(),
            private_branches: Vec::new(),
        }
    }
}

/// The signal broker. Cheap to clone: clones share the same state.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) config: BrokerConfig,
    persistence: Option<Arc<dyn Persistence>>,
    /// Per leaf: whether its current value goes to the durable store.
    persist_current: Vec<bool>,
    /// Serializes writes that reach the store, so that disk and memory agree on order.
    persist_lock: Mutex<()>,
    pub(crate) state: RwLock<State>,
    next_handle: AtomicU64,
    health: HealthCounters,
}

pub(crate) struct State {
    current: Vec<Datapoint>,
    target: Vec<Datapoint>,
    subscriptions: HashMap<u64, SubscriptionSlot>,
    pub(crate) providers: HashMap<u64, ProviderSlot>,
    pub(crate) claims: HashMap<LeafId, u64>,
}

/// A routed request: the provider's queue, whether it confirms, and the request.
type Routed = (mpsc::Sender<ActuationRequest>, bool, ActuationRequest);

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("leaves", &self.inner.catalog.len())
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// Creates a broker over `catalog`, restoring stored values from `persistence`.
    ///
    /// Attributes start at their catalog default. A stored value whose path is no
    /// longer in the catalog, or which no longer fits its leaf, is skipped with a
    /// warning and left in the store untouched.
    pub fn new(
        catalog: Catalog,
        config: BrokerConfig,
        persistence: Option<Arc<dyn Persistence>>,
    ) -> Result<Broker, BrokerError> {
        let started = SystemTime::now();
        let empty = Datapoint {
            value: None,
            timestamp: started,
        };
        let current: Vec<Datapoint> = catalog
            .leaves()
            .map(|leaf| Datapoint {
                value: leaf.default.clone(),
                timestamp: started,
            })
            .collect();
        let target = vec![empty; catalog.len()];
        let persist_current: Vec<bool> = catalog
            .leaves()
            .map(|leaf| config.persist_current.iter().any(|p| p.selects(&leaf.path)))
            .collect();
        let mut state = State {
            current,
            target,
            subscriptions: HashMap::new(),
            providers: HashMap::new(),
            claims: HashMap::new(),
        };
        if let Some(store) = &persistence {
            let stored = store.load().map_err(BrokerError::Restore)?;
            let mut restored = 0usize;
            for datapoint in stored {
                let Some(leaf) = catalog.leaf(&datapoint.path) else {
                    tracing::warn!(path = %datapoint.path, "stored value for a path not in the catalog; ignored");
                    continue;
                };
                let still_durable = match datapoint.field {
                    Field::Target => leaf.entry_type == EntryType::Actuator,
                    Field::Current => {
                        leaf.entry_type == EntryType::Attribute
                            || persist_current[leaf.id.0 as usize]
                    }
                };
                if !still_durable {
                    tracing::debug!(path = %datapoint.path, "stored value no longer configured as durable; ignored");
                    continue;
                }
                if let Some(value) = &datapoint.value {
                    if let Err(error) = leaf.check_value(value) {
                        tracing::warn!(path = %datapoint.path, %error, "stored value no longer valid; ignored");
                        continue;
                    }
                }
                let slot = match datapoint.field {
                    Field::Current => &mut state.current,
                    Field::Target => &mut state.target,
                };
                slot[leaf.id.0 as usize] = Datapoint {
                    value: datapoint.value,
                    timestamp: datapoint.timestamp,
                };
                restored += 1;
            }
            tracing::info!(restored, "restored stored values");
        }
        Ok(Broker {
            inner: Arc::new(Inner {
                catalog: Arc::new(catalog),
                config,
                persistence,
                persist_current,
                persist_lock: Mutex::new(()),
                state: RwLock::new(state),
                next_handle: AtomicU64::new(1),
                health: HealthCounters::default(),
            }),
        })
    }

    /// The catalog the broker serves.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// A shared handle to the catalog.
    pub fn catalog_arc(&self) -> Arc<Catalog> {
        self.inner.catalog.clone()
    }

    /// The leaf with `id`, or [`BrokerError::UnknownId`].
    pub fn leaf(&self, id: LeafId) -> Result<&Leaf, BrokerError> {
        self.inner
            .catalog
            .leaf_by_id(id)
            .ok_or(BrokerError::UnknownId { id: id.0.into() })
    }

    /// The id of the leaf at `path`, or [`BrokerError::NotFound`].
    pub fn resolve_path(&self, path: &str) -> Result<LeafId, BrokerError> {
        self.inner
            .catalog
            .leaf(path)
            .map(|leaf| leaf.id)
            .ok_or_else(|| BrokerError::NotFound {
                path: path.to_owned(),
            })
    }

    /// The id of the leaf with numeric `id` as sent by a client.
    pub fn resolve_id(&self, id: i64) -> Result<LeafId, BrokerError> {
        u32::try_from(id)
            .ok()
            .map(LeafId)
            .filter(|leaf| (leaf.0 as usize) < self.inner.catalog.len())
            .ok_or(BrokerError::UnknownId { id })
    }

    /// The leaves a path, branch or pattern selects; [`BrokerError::NotFound`] when none.
    pub fn resolve_pattern(&self, pattern: &str) -> Result<Vec<LeafId>, BrokerError> {
        let parsed = PathPattern::parse(pattern)?;
        let ids: Vec<LeafId> = self
            .inner
            .catalog
            .matching(&parsed)
            .map(|leaf| leaf.id)
            .collect();
        if ids.is_empty() {
            return Err(BrokerError::NotFound {
                path: pattern.to_owned(),
            });
        }
        Ok(ids)
    }

    /// Reads `field` of each leaf in `ids`.
    pub fn get(
        &self,
        permissions: &Permissions,
        ids: &[LeafId],
        field: Field,
    ) -> Result<Vec<Datapoint>, BrokerError> {
        for id in ids {
            let leaf = self.leaf(*id)?;
            authorize(
                &self.inner.config.private_branches,
                permissions,
                Access::Read,
                &leaf.path,
            )?;
            if field == Field::Target && leaf.entry_type != EntryType::Actuator {
                return Err(not_an_actuator(leaf));
            }
        }
        let state = self.inner.state.read().expect("broker state lock poisoned");
        let values = match field {
            Field::Current => &state.current,
            Field::Target => &state.target,
        };
        crate::budget::check_answer(values, ids)?;
        Ok(ids.iter().map(|id| values[id.0 as usize].clone()).collect())
    }

    /// Publishes current values (a provider's job). `None` marks a value as not
    /// available. The whole batch is checked first; a refused batch changes nothing,
    /// and the error ([`BrokerError::Refused`]) names the first refused entry.
    pub fn publish(
        &self,
        permissions: &Permissions,
        updates: &[(LeafId, Option<Value>)],
    ) -> Result<(), BrokerError> {
        let catalog = &self.inner.catalog;
        let branches = &self.inner.config.private_branches;
        for (index, (id, value)) in updates.iter().enumerate() {
            check_publication(catalog, branches, permissions, *id, value.as_ref())
                .map_err(|reason| self.refuse(index, *id, reason))?;
        }
        let changes = updates
            .iter()
            .map(|(id, value)| (*id, Field::Current, value.clone()))
            .collect();
        self.apply(changes)
    }

    /// Publishes current values and reports every refused entry with its reason.
    /// With [`BatchPolicy::AllOrNothing`] a refused entry refuses the batch, as
    /// [`Broker::publish`] does; with [`BatchPolicy::ValidOnly`] the entries that pass
    /// are published atomically and the refused ones dropped. An error is a failure of
    /// the batch as a whole (the store); then nothing changed.
    pub fn publish_batch(
        &self,
        permissions: &Permissions,
        updates: &[(LeafId, Option<Value>)],
        policy: BatchPolicy,
    ) -> Result<BatchOutcome, BrokerError> {
        let catalog = &self.inner.catalog;
        let branches = &self.inner.config.private_branches;
        let mut outcome = BatchOutcome::default();
        let mut changes = Vec::with_capacity(updates.len());
        for (index, (id, value)) in updates.iter().enumerate() {
            match check_publication(catalog, branches, permissions, *id, value.as_ref()) {
                Ok(()) => changes.push((*id, Field::Current, value.clone())),
                Err(reason) => outcome.refused.push(self.refuse(index, *id, reason)),
            }
        }
        if changes.is_empty()
            || (policy == BatchPolicy::AllOrNothing && !outcome.refused.is_empty())
        {
            return Ok(outcome);
        }
        outcome.published = changes.len();
        self.apply(changes)?;
        Ok(outcome)
    }

    /// Sets actuator targets without requiring a provider (the KUKSA v1 `Set` of
    /// `actuator_target`). The targets are stored and announced to target
    /// subscribers; where a provider has claimed an actuator it also receives the
    /// request.
    pub fn set_targets(
        &self,
        permissions: &Permissions,
        updates: &[(LeafId, Value)],
    ) -> Result<(), BrokerError> {
        self.check_targets(permissions, updates)?;
        let changes = updates
            .iter()
            .map(|(id, value)| (*id, Field::Target, Some(value.clone())))
            .collect();
        self.apply(changes)?;
        let state = self.inner.state.read().expect("broker state lock poisoned");
        let routed = self.route(&state, updates, false)?;
        for (sender, _, request) in routed {
            // Best effort: the target is stored; a full provider queue only loses the nudge.
            if sender.try_send(request).is_err() {
                tracing::warn!("provider queue full; stored target not forwarded");
            }
        }
        self.inner.health.actuated();
        Ok(())
    }

    /// Requests actuation (the KUKSA v2 `Actuate`/`BatchActuate`): every actuator in
    /// the batch must have a provider, or nothing happens. Accepted targets are stored
    /// and announced to target subscribers. Returns once the requests are queued at
    /// their providers; [`Broker::actuate_confirmed`] also waits for the answers of
    /// confirming providers.
    pub fn actuate(
        &self,
        permissions: &Permissions,
        updates: &[(LeafId, Value)],
    ) -> Result<(), BrokerError> {
        self.start_actuation(permissions, updates).map(drop)
    }

    /// Requests actuation like [`Broker::actuate`], then waits up to `timeout` for
    /// every confirming provider's answer (a provider on another ECU, reached over
    /// the network, answers once the actuator's own provider there took the
    /// request). A failure, a provider that went away and no answer in time are
    /// [`BrokerError::ProviderFailed`]; the stored targets stay as requested.
    pub async fn actuate_confirmed(
        &self,
        permissions: &Permissions,
        updates: &[(LeafId, Value)],
        timeout: Duration,
    ) -> Result<(), BrokerError> {
        let pending = self.start_actuation(permissions, updates)?;
        for (leaf, answer) in pending {
            let path = self.leaf(leaf)?.path.clone();
            let reason = match tokio::time::timeout(timeout, answer).await {
                Ok(Ok(Ok(()))) => continue,
                Ok(Ok(Err(reason))) => reason,
                Ok(Err(_)) => "the provider went away before answering".to_owned(),
                Err(_) => format!("the provider did not answer within {timeout:?}"),
            };
            let error = BrokerError::ProviderFailed { path, reason };
            self.inner.health.refused(&error);
            return Err(error);
        }
        Ok(())
    }

    /// Checks, routes and queues an actuation; returns, for each request sent to a
    /// confirming provider, its first actuator and the answer to wait for.
    fn start_actuation(
        &self,
        permissions: &Permissions,
        updates: &[(LeafId, Value)],
    ) -> Result<Vec<(LeafId, AnswerReceiver)>, BrokerError> {
        if updates.is_empty() {
            self.inner.health.refused(&BrokerError::Empty);
            return Err(BrokerError::Empty);
        }
        self.check_targets(permissions, updates)?;
        let routed = {
            let state = self.inner.state.read().expect("broker state lock poisoned");
            self.route(&state, updates, true)?
        };
        // Reserve a queue slot at every provider first, so that either all of them
        // get their request or none does.
        let mut permits = Vec::with_capacity(routed.len());
        for (sender, _, request) in &routed {
            let (leaf, _) = &request.targets[0];
            let path = self.leaf(*leaf)?.path.clone();
            let index = updates.iter().position(|(id, _)| id == leaf).unwrap_or(0);
            let permit = sender.clone().try_reserve_owned().map_err(|error| {
                let reason = match error {
                    mpsc::error::TrySendError::Full(_) => BrokerError::ProviderOverloaded { path },
                    mpsc::error::TrySendError::Closed(_) => {
                        BrokerError::NoProvider { path, id: leaf.0 }
                    }
                };
                self.refuse(index, *leaf, reason)
            })?;
            permits.push(permit);
        }
        let changes = updates
            .iter()
            .map(|(id, value)| (*id, Field::Target, Some(value.clone())))
            .collect();
        self.apply(changes)?;
        let mut pending = Vec::new();
        for (permit, (_, confirms, mut request)) in permits.into_iter().zip(routed) {
            if confirms {
                let (sender, receiver) = oneshot::channel();
                request.confirmation = Some(Confirmation::new(sender));
                pending.push((request.targets[0].0, receiver));
            }
            permit.send(request);
        }
        self.inner.health.actuated();
        Ok(pending)
    }

    /// Checks every target; the error names the first refused entry.
    fn check_targets(
        &self,
        permissions: &Permissions,
        updates: &[(LeafId, Value)],
    ) -> Result<(), BrokerError> {
        for (index, (id, value)) in updates.iter().enumerate() {
            self.check_target(permissions, *id, value)
                .map_err(|reason| self.refuse(index, *id, reason))?;
        }
        Ok(())
    }

    fn check_target(
        &self,
        permissions: &Permissions,
        id: LeafId,
        value: &Value,
    ) -> Result<(), BrokerError> {
        let leaf = self.leaf(id)?;
        authorize(
            &self.inner.config.private_branches,
            permissions,
            Access::Actuate,
            &leaf.path,
        )?;
        if leaf.entry_type != EntryType::Actuator {
            return Err(not_an_actuator(leaf));
        }
        leaf.check_value(value)?;
        Ok(())
    }

    /// Groups `updates` by the provider that claimed them. With `require_provider`,
    /// an unclaimed actuator is an error; otherwise it is skipped.
    fn route(
        &self,
        state: &State,
        updates: &[(LeafId, Value)],
        require_provider: bool,
    ) -> Result<Vec<Routed>, BrokerError> {
        let mut by_provider: Vec<(u64, ActuationRequest)> = Vec::new();
        for (index, (id, value)) in updates.iter().enumerate() {
            let provider = state.claims.get(id).filter(|handle| {
                state
                    .providers
                    .get(handle)
                    .is_some_and(ProviderSlot::is_live)
            });
            let Some(handle) = provider else {
                if require_provider {
                    let leaf = self.leaf(*id)?;
                    let reason = BrokerError::NoProvider {
                        path: leaf.path.clone(),
                        id: id.0,
                    };
                    return Err(self.refuse(index, *id, reason).into());
                }
                continue;
            };
            match by_provider.iter_mut().find(|(h, _)| h == handle) {
                Some((_, request)) => request.targets.push((*id, value.clone())),
                None => by_provider.push((
                    *handle,
                    ActuationRequest {
                        targets: vec![(*id, value.clone())],
                        confirmation: None,
                    },
                )),
            }
        }
        Ok(by_provider
            .into_iter()
            .filter_map(|(handle, request)| {
                state
                    .providers
                    .get(&handle)
                    .map(|slot| (slot.sender.clone(), slot.confirms, request))
            })
            .collect())
    }

    /// Stores changes (durably where configured), then fans them out.
    fn apply(&self, changes: Vec<(LeafId, Field, Option<Value>)>) -> Result<(), BrokerError> {
        let now = SystemTime::now();
        let durable: Vec<StoredDatapoint> = match &self.inner.persistence {
            None => Vec::new(),
            Some(_) => changes
                .iter()
                .filter(|(id, field, _)| self.is_durable(*id, *field))
                .map(|(id, field, value)| StoredDatapoint {
                    path: self
                        .inner
                        .catalog
                        .leaf_by_id(*id)
                        .map(|l| l.path.clone())
                        .unwrap_or_default(),
                    field: *field,
                    value: value.clone(),
                    timestamp: now,
                })
                .collect(),
        };
        let _persist_guard = if durable.is_empty() {
            None
        } else {
            let guard = self
                .inner
                .persist_lock
                .lock()
                .expect("persist lock poisoned");
            if let Some(store) = &self.inner.persistence {
                if let Err(error) = store.save(&durable) {
                    self.inner.health.storage_failed(&error);
                    return Err(BrokerError::Storage(error));
                }
            }
            Some(guard)
        };
        let mut state = self
            .inner
            .state
            .write()
            .expect("broker state lock poisoned");
        let published = changes
            .iter()
            .filter(|(_, field, _)| *field == Field::Current)
            .count();
        self.inner.health.published(published as u64);
        let mut delivered = Vec::with_capacity(changes.len());
        for (id, field, value) in changes {
            let datapoint = Datapoint {
                value,
                timestamp: now,
            };
            let slot = match field {
                Field::Current => &mut state.current,
                Field::Target => &mut state.target,
            };
            slot[id.0 as usize] = datapoint.clone();
            delivered.push(Change {
                leaf: id,
                field,
                datapoint,
            });
        }
        self.inner
            .health
            .lagged(fan_out(&mut state.subscriptions, delivered));
        Ok(())
    }

    fn is_durable(&self, id: LeafId, field: Field) -> bool {
        let Some(leaf) = self.inner.catalog.leaf_by_id(id) else {
            return false;
        };
        match field {
            Field::Target => true,
            Field::Current => {
                leaf.entry_type == EntryType::Attribute || self.inner.persist_current[id.0 as usize]
            }
        }
    }

    /// Subscribes to `field` of the leaves in `ids`.
    ///
    /// `queue_capacity` bounds the subscriber's queue (0 picks the configured
    /// default); with `initial`, the first event holds the present values of every
    /// leaf, taken atomically with the registration.
    pub fn subscribe(
        &self,
        permissions: &Permissions,
        ids: &[LeafId],
        field: Field,
        queue_capacity: usize,
        initial: bool,
    ) -> Result<Subscription, BrokerError> {
        if ids.is_empty() {
            return Err(BrokerError::Empty);
        }
        if queue_capacity > MAX_QUEUE_CAPACITY {
            return Err(BrokerError::BufferTooLarge {
                requested: queue_capacity,
                max: MAX_QUEUE_CAPACITY,
            });
        }
        let mut wants = vec![false; self.inner.catalog.len()];
        for id in ids {
            let leaf = self.leaf(*id)?;
            authorize(
                &self.inner.config.private_branches,
                permissions,
                Access::Read,
                &leaf.path,
            )?;
            if field == Field::Target && leaf.entry_type != EntryType::Actuator {
                return Err(not_an_actuator(leaf));
            }
            wants[id.0 as usize] = true;
        }
        let capacity = if queue_capacity == 0 {
            self.inner.config.default_queue_capacity
        } else {
            queue_capacity
        };
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let handle = self.inner.next_handle.fetch_add(1, Ordering::Relaxed);
        let mut state = self
            .inner
            .state
            .write()
            .expect("broker state lock poisoned");
        if initial {
            let values = match field {
                Field::Current => &state.current,
                Field::Target => &state.target,
            };
            let mut seen = vec![false; wants.len()];
            let snapshot: Vec<Change> = ids
                .iter()
                .filter(|id| !std::mem::replace(&mut seen[id.0 as usize], true))
                .map(|id| Change {
                    leaf: *id,
                    field,
                    datapoint: values[id.0 as usize].clone(),
                })
                .collect();
            // The queue is new and has room for at least one batch.
            let batch = QueuedBatch::new(snapshot);
            queued_bytes.fetch_add(batch.bytes, Ordering::Relaxed);
            let _ = sender.try_send(batch);
        }
        state.subscriptions.insert(
            handle,
            SubscriptionSlot {
                wants,
                field,
                sender,
                dropped: dropped.clone(),
                queued_bytes: queued_bytes.clone(),
            },
        );
        Ok(Subscription {
            handle,
            receiver,
            dropped,
            queued_bytes,
            broker: Arc::downgrade(&self.inner),
            lag_reported: false,
        })
    }

    /// Opens an actuation provider with no claims yet; claim actuators with
    /// [`ActuationProvider::claim`]. Dropping the provider releases its claims.
    pub fn open_provider(&self) -> ActuationProvider {
        self.open_provider_slot(false)
    }

    /// Opens a provider whose requests carry a [`Confirmation`] to answer: callers
    /// of [`Broker::actuate_confirmed`] wait for it. For providers that pass requests
    /// on (to another ECU) and learn whether they succeeded.
    pub fn open_confirming_provider(&self) -> ActuationProvider {
        self.open_provider_slot(true)
    }

    fn open_provider_slot(&self, confirms: bool) -> ActuationProvider {
        let (sender, receiver) = mpsc::channel(self.inner.config.provider_queue_capacity.max(1));
        let handle = self.inner.next_handle.fetch_add(1, Ordering::Relaxed);
        self.inner
            .state
            .write()
            .expect("broker state lock poisoned")
            .providers
            .insert(handle, ProviderSlot { sender, confirms });
        ActuationProvider::new(handle, receiver, Arc::downgrade(&self.inner))
    }

    /// The actuators that a live provider has claimed, each with its provider.
    pub fn claimed_actuators(&self) -> Vec<(LeafId, ProviderId)> {
        let state = self.inner.state.read().expect("broker state lock poisoned");
        let mut claimed: Vec<(LeafId, ProviderId)> = state
            .claims
            .iter()
            .filter(|(_, handle)| {
                state
                    .providers
                    .get(handle)
                    .is_some_and(ProviderSlot::is_live)
            })
            .map(|(leaf, handle)| (*leaf, ProviderId::new(*handle)))
            .collect();
        claimed.sort_by_key(|(leaf, _)| leaf.0);
        claimed
    }

    /// Builds the error entry of a refused write and counts it by its kind.
    fn refuse(&self, index: usize, id: LeafId, reason: BrokerError) -> RefusedEntry {
        self.inner.health.refused(&reason);
        refused(&self.inner.catalog, index, id, reason)
    }

    /// What the broker counted about its own health.
    pub fn health(&self) -> BrokerHealth {
        self.inner.health.snapshot()
    }

    /// Number of live subscriptions (for diagnostics and tests).
    pub fn subscription_count(&self) -> usize {
        self.inner
            .state
            .read()
            .expect("broker state lock poisoned")
            .subscriptions
            .len()
    }
}

pub(crate) fn not_an_actuator(leaf: &Leaf) -> BrokerError {
    BrokerError::NotAnActuator {
        path: leaf.path.clone(),
        entry_type: leaf.entry_type,
    }
}

/// A live subscription; dropping it unsubscribes.
pub struct Subscription {
    handle: u64,
    receiver: mpsc::Receiver<QueuedBatch>,
    dropped: Arc<AtomicU64>,
    queued_bytes: Arc<AtomicUsize>,
    broker: Weak<Inner>,
    lag_reported: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next event; `None` when the broker is gone or after a reported lag.
    pub async fn next(&mut self) -> Option<SubscriptionEvent> {
        if self.lag_reported {
            return None;
        }
        // Batches queued before the overflow are delivered first; the broker dropped
        // the sender when it disconnected this subscriber, so the queue then ends.
        match self.receiver.recv().await {
            Some(batch) => {
                self.queued_bytes.fetch_sub(batch.bytes, Ordering::Relaxed);
                Some(SubscriptionEvent::Changes(batch.into_changes()))
            }
            None => {
                let dropped = self.dropped.load(Ordering::Relaxed);
                (dropped > 0 && !self.lag_reported).then(|| {
                    self.lag_reported = true;
                    SubscriptionEvent::Lagged { dropped }
                })
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(inner) = self.broker.upgrade() {
            if let Ok(mut state) = inner.state.write() {
                state.subscriptions.remove(&self.handle);
            }
        }
    }
}
