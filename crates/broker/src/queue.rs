//! Subscriber queues: one shared copy of each published batch, a byte budget per
//! subscriber, and the fan-out that never waits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tomoe_vss::Value;

use crate::{Change, Field, MAX_SUBSCRIBER_QUEUE_BYTES};

pub(crate) struct SubscriptionSlot {
    pub(crate) wants: Vec<bool>,
    pub(crate) field: Field,
    pub(crate) sender: mpsc::Sender<QueuedBatch>,
    pub(crate) dropped: Arc<AtomicU64>,
    /// Bytes of values waiting in the queue (see [`MAX_SUBSCRIBER_QUEUE_BYTES`]).
    pub(crate) queued_bytes: Arc<AtomicUsize>,
}

/// One batch waiting in a subscriber's queue: the published changes, shared by
/// every subscriber, and which of them this subscriber wants.
pub(crate) struct QueuedBatch {
    changes: Arc<[Change]>,
    /// Indices into `changes`; `None` for all of them.
    picked: Option<Vec<u32>>,
    /// Bytes of the picked values, as counted against the queue's budget.
    pub(crate) bytes: usize,
}

impl QueuedBatch {
    pub(crate) fn new(changes: Vec<Change>) -> QueuedBatch {
        let bytes = changes.iter().map(change_bytes).sum();
        QueuedBatch {
            changes: changes.into(),
            picked: None,
            bytes,
        }
    }

    /// The wanted changes, as owned values for the subscriber.
    pub(crate) fn into_changes(self) -> Vec<Change> {
        match self.picked {
            None => self.changes.to_vec(),
            Some(picked) => picked
                .iter()
                .map(|index| self.changes[*index as usize].clone())
                .collect(),
        }
    }
}

/// What one change costs in a queue: its value's bytes plus the change itself.
fn change_bytes(change: &Change) -> usize {
    std::mem::size_of::<Change>()
        + change
            .datapoint
            .value
            .as_ref()
            .map_or(0, Value::approx_bytes)
}

/// Sends each subscription the changes it wants, never waiting: a full queue, or
/// one holding [`MAX_SUBSCRIBER_QUEUE_BYTES`], disconnects that subscriber. The
/// values are shared by all queues, never copied per subscriber.
/// Returns how many subscribers were disconnected for lagging.
pub(crate) fn fan_out(
    subscriptions: &mut HashMap<u64, SubscriptionSlot>,
    changes: Vec<Change>,
) -> u64 {
    if subscriptions.is_empty() {
        return 0;
    }
    let mut lagged = 0;
    let sizes: Vec<usize> = changes.iter().map(change_bytes).collect();
    let changes: Arc<[Change]> = changes.into();
    let mut gone = Vec::new();
    for (handle, slot) in subscriptions.iter() {
        let picked: Vec<u32> = (0..changes.len() as u32)
            .filter(|index| {
                let change = &changes[*index as usize];
                change.field == slot.field && slot.wants[change.leaf.0 as usize]
            })
            .collect();
        if picked.is_empty() {
            continue;
        }
        let bytes = picked.iter().map(|index| sizes[*index as usize]).sum();
        let queued = slot.queued_bytes.load(Ordering::Relaxed);
        let over_budget = queued > 0 && queued + bytes > MAX_SUBSCRIBER_QUEUE_BYTES;
        let batch = QueuedBatch {
            changes: changes.clone(),
            picked: (picked.len() < changes.len()).then_some(picked),
            bytes,
        };
        let sent = if over_budget {
            Err(mpsc::error::TrySendError::Full(batch))
        } else {
            slot.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
            slot.sender.try_send(batch)
        };
        match sent {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(batch)) => {
                if !over_budget {
                    slot.queued_bytes.fetch_sub(batch.bytes, Ordering::Relaxed);
                }
                slot.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    subscription = handle,
                    queued_bytes = queued,
                    "subscriber lagged behind; disconnecting it"
                );
                lagged += 1;
                gone.push(*handle);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => gone.push(*handle),
        }
    }
    for handle in gone {
        subscriptions.remove(&handle);
    }
    lagged
}
