//! The Tomoe signal broker core: current and target values of every VSS leaf,
//! validated writes, subscriptions with bounded fan-out, and actuation routing to
//! providers.
//!
//! The core knows the VSS catalog ([`tomoe_vss`]) and nothing of transports: the
//! KUKSA gRPC API, the CAN feeders and the app runtime are front ends that call
//! [`Broker`] methods with the caller's [`Permissions`]. Durable storage plugs in
//! through the [`Persistence`] trait.
//!
//! # Guarantees
//!
//! - Every write is checked against the catalog (datatype, range, allowed values)
//!   and against the caller's permissions before anything changes; a refused batch
//!   changes nothing. The error of a refused batch ([`BrokerError::Refused`]) names
//!   the entry (its index and path) and the reason; [`Broker::publish_batch`] reports
//!   every refused entry and can publish the valid rest.
//! - Fan-out never waits for a subscriber: each subscription has a bounded queue, and
//!   a subscriber whose queue is full is disconnected and told how many updates it
//!   missed ([`SubscriptionEvent::Lagged`]). Producers and other subscribers are
//!   unaffected.
//! - An actuation request reaches the provider that claimed the actuator; without one
//!   it is refused with [`BrokerError::NoProvider`].
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use tomoe_broker::{Broker, BrokerConfig, Field, Permissions, SubscriptionEvent};
//! use tomoe_vss::Value;
//!
//! let broker = Broker::new(tomoe_vss::default_catalog().unwrap(), BrokerConfig::default(), None).unwrap();
//! let all = Permissions::allow_all();
//! let speed = broker.resolve_path("Vehicle.Speed").unwrap();
//! let mut subscription = broker.subscribe(&all, &[speed], Field::Current, 16, false).unwrap();
//! broker.publish(&all, &[(speed, Some(Value::Float(42.0)))]).unwrap();
//! match subscription.next().await {
//!     Some(SubscriptionEvent::Changes(changes)) => assert_eq!(changes[0].datapoint.value, Some(Value::Float(42.0))),
//!     other => panic!("unexpected {other:?}"),
//! }
//! # }
//! ```

mod actuation;
mod broker;
mod budget;
mod error;
mod health;
mod permissions;
mod persistence;
mod publication;
mod queue;

pub use actuation::{ActuationProvider, ActuationRequest, Confirmation, ProviderId};
pub use broker::{
    BatchOutcome, BatchPolicy, Broker, BrokerConfig, Change, Datapoint, Field, Subscription,
    SubscriptionEvent, MAX_QUEUE_CAPACITY, MAX_SUBSCRIBER_QUEUE_BYTES,
};
pub use budget::MAX_ANSWER_BYTES;

/// How long [`Broker::actuate_confirmed`] callers (the gRPC `Actuate` and
/// `BatchActuate`, the SOVD data write) wait for a confirming provider's answer.
pub const CONFIRMATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
pub use error::{Access, BrokerError, RefusedEntry};
pub use health::{BrokerHealth, REFUSAL_KINDS};
pub use permissions::{Permissions, PrivateBranch};
pub use persistence::{Persistence, PersistenceError, StoredDatapoint};
pub use publication::refused_publications;
