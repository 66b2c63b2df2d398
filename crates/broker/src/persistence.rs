//! The plug-in point for durable storage.

use std::time::SystemTime;

use tomoe_vss::Value;

use crate::Field;

/// A stored value of one field of one leaf, keyed by path so that it survives
/// catalog changes that renumber ids.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDatapoint {
    /// The leaf's path.
    pub path: String,
    /// Current value or actuator target.
    pub field: Field,
    /// The value; `None` records that the value was reset.
    pub value: Option<Value>,
    /// When the value was written.
    pub timestamp: SystemTime,
}

/// An error of the durable store.
pub type PersistenceError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Durable storage for the values that must survive a restart.
///
/// The broker calls [`Persistence::save`] before it changes anything in memory, and
/// refuses the write when saving fails.
pub trait Persistence: Send + Sync {
    /// Every stored datapoint.
    fn load(&self) -> Result<Vec<StoredDatapoint>, PersistenceError>;
    /// Stores `datapoints` atomically: all or none.
    fn save(&self, datapoints: &[StoredDatapoint]) -> Result<(), PersistenceError>;
}
