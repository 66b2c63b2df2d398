//! The Eclipse KUKSA protocol (`kuksa.val.v1` and `kuksa.val.v2`) as Tomoe speaks
//! it, on the protocol types of the published `kuksa-rust-sdk` crate.
//!
//! Both sides of the API use this crate: the broker's gRPC front end
//! (`tomoe-grpc`) and the clients (`tomoe-sdk`, the `tomoe` CLI). It holds what
//! the protocol defines and nothing the broker decides:
//!
//! - [`codes`]: the numeric datatype and entry-type codes.
//! - [`value`]: [`Value`](tomoe_vss::Value)s and datapoints to and from the v1 and
//!   v2 protobuf types.
//! - [`wire`]: the wire variant of a leaf's datatype ([`for_datatype`]) and array
//!   packing.
//! - [`metadata`]: a catalog leaf as v1 or v2 metadata, and finding a signal in a
//!   `ListMetadata` answer.
//! - [`signal`]: v2 `SignalID`s, by path or by id.
//! - [`connect`]: the bearer-token interceptor and a [`Connector`] that returns
//!   v1 and v2 client stubs presenting the token.
//! - [`client`]: what a client does with them (read, publish, set targets,
//!   actuate, subscribe), with values typed by the leaf's datatype.
//!
//! It depends on `tomoe-vss` only, so a client links it without any server crate.
//!
//! # Example
//!
//! ```
//! use tomoe_kuksa::{value_from_v2, value_to_v2};
//! use tomoe_vss::Value;
//!
//! let wire = value_to_v2(&Value::Float(42.0));
//! assert_eq!(value_from_v2(wire), Some(Value::Float(42.0)));
//! ```

pub mod client;
pub mod codes;
pub mod connect;
pub mod metadata;
pub mod signal;
pub mod value;
pub mod wire;

/// The `kuksa.val.v1` protocol types (messages and client stubs).
pub use kuksa_rust_sdk::v1_proto as v1;
/// The `kuksa.val.v2` protocol types (messages and client stubs).
pub use kuksa_rust_sdk::v2_proto as v2;

pub use client::{ClientError, Reading};
pub use codes::{datatype_code, datatype_from_code, entry_type_code, entry_type_from_code};
pub use connect::{
    AuthChannel, ConnectError, Connection, Connector, TokenInterceptor, V1Client, V2Client,
};
pub use metadata::{find_signal, metadata_to_v1, metadata_to_v2};
pub use signal::{signal_by_id, signal_by_path, signal_of, SignalIdError};
pub use value::{
    datapoint_to_v1, datapoint_to_v2, value_from_v1, value_from_v2, value_to_v1, value_to_v2,
};
pub use wire::{for_datatype, pack_array};
