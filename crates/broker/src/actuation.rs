//! Actuation providers: the requests they receive and how they answer.

use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{mpsc, oneshot};
use tomoe_vss::{EntryType, LeafId, Value};

use crate::broker::{not_an_actuator, Inner};
use crate::{Access, BrokerError, Permissions};

/// An actuation request routed to the provider that claimed the actuators.
#[derive(Debug, Clone, PartialEq)]
pub struct ActuationRequest {
    /// The actuators and the values requested for them.
    pub targets: Vec<(LeafId, Value)>,
    /// Where a confirming provider ([`Broker::open_confirming_provider`]) answers
    /// the request; `None` for the requests of an ordinary provider.
    pub confirmation: Option<Confirmation>,
}

/// The answer channel of one actuation request to a confirming provider: the caller
/// of [`Broker::actuate_confirmed`] waits for it. Answering twice keeps the first.
#[derive(Clone)]
pub struct Confirmation(Arc<Mutex<Option<AnswerSender>>>);

/// Where a confirming provider's answer goes.
pub(crate) type AnswerSender = oneshot::Sender<Result<(), String>>;
/// Where the caller of a confirmed actuation waits for it.
pub(crate) type AnswerReceiver = oneshot::Receiver<Result<(), String>>;

impl Confirmation {
    pub(crate) fn new(sender: AnswerSender) -> Confirmation {
        Confirmation(Arc::new(Mutex::new(Some(sender))))
    }

    /// Answers the request: `Ok` when the actuation was carried out or passed on,
    /// otherwise the reason it failed, which the caller receives as
    /// [`BrokerError::ProviderFailed`].
    pub fn answer(&self, result: Result<(), String>) {
        if let Some(sender) = self.0.lock().ok().and_then(|mut slot| slot.take()) {
            let _ = sender.send(result);
        }
    }
}

impl std::fmt::Debug for Confirmation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Confirmation")
    }
}

impl PartialEq for Confirmation {
    fn eq(&self, other: &Confirmation) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Identifies one actuation provider of a broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProviderId(u64);

impl ProviderId {
    pub(crate) fn new(handle: u64) -> ProviderId {
        ProviderId(handle)
    }
}

/// One open actuation provider.
pub(crate) struct ProviderSlot {
    pub(crate) sender: mpsc::Sender<ActuationRequest>,
    /// Whether its requests carry a [`Confirmation`] that callers may wait for.
    pub(crate) confirms: bool,
}

impl ProviderSlot {
    pub(crate) fn is_live(&self) -> bool {
        !self.sender.is_closed()
    }
}

/// A provider of actuators: receives the actuation requests for the actuators it claimed.
pub struct ActuationProvider {
    handle: u64,
    receiver: mpsc::Receiver<ActuationRequest>,
    broker: Weak<Inner>,
}

impl std::fmt::Debug for ActuationProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActuationProvider")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl ActuationProvider {
    pub(crate) fn new(
        handle: u64,
        receiver: mpsc::Receiver<ActuationRequest>,
        broker: Weak<Inner>,
    ) -> ActuationProvider {
        ActuationProvider {
            handle,
            receiver,
            broker,
        }
    }

    /// Claims actuators. Needs actuate access to each; fails without claiming any if
    /// one is not an actuator or another provider holds it. Claiming an actuator this
    /// provider already holds is allowed.
    pub fn claim(&self, permissions: &Permissions, ids: &[LeafId]) -> Result<(), BrokerError> {
        let Some(inner) = self.broker.upgrade() else {
            return Ok(());
        };
        for id in ids {
            let leaf = inner
                .catalog
                .leaf_by_id(*id)
                .ok_or(BrokerError::UnknownId { id: id.0.into() })?;
            crate::publication::authorize(
                &inner.config.private_branches,
                permissions,
                Access::Actuate,
                &leaf.path,
            )?;
            if leaf.entry_type != EntryType::Actuator {
                return Err(not_an_actuator(leaf));
            }
        }
        let mut state = inner.state.write().expect("broker state lock poisoned");
        let contested: Vec<String> = ids
            .iter()
            .filter(|id| {
                state.claims.get(id).is_some_and(|holder| {
                    *holder != self.handle
                        && state
                            .providers
                            .get(holder)
                            .is_some_and(ProviderSlot::is_live)
                })
            })
            .filter_map(|id| inner.catalog.leaf_by_id(*id).map(|l| l.path.clone()))
            .collect();
        if !contested.is_empty() {
            return Err(BrokerError::AlreadyClaimed { paths: contested });
        }
        for id in ids {
            state.claims.insert(*id, self.handle);
        }
        Ok(())
    }

    /// The next actuation request; `None` when the broker is gone.
    pub async fn next(&mut self) -> Option<ActuationRequest> {
        self.receiver.recv().await
    }

    /// This provider's id, as [`Broker::claimed_actuators`] names it.
    pub fn id(&self) -> ProviderId {
        ProviderId(self.handle)
    }

    /// Gives up the claims on `ids` that this provider holds; others are untouched.
    pub fn release(&self, ids: &[LeafId]) {
        if let Some(inner) = self.broker.upgrade() {
            if let Ok(mut state) = inner.state.write() {
                for id in ids {
                    if state.claims.get(id) == Some(&self.handle) {
                        state.claims.remove(id);
                    }
                }
            }
        }
    }
}

impl Drop for ActuationProvider {
    fn drop(&mut self) {
        if let Some(inner) = self.broker.upgrade() {
            if let Ok(mut state) = inner.state.write() {
                state.providers.remove(&self.handle);
                let handle = self.handle;
                state.claims.retain(|_, holder| *holder != handle);
            }
        }
    }
}
