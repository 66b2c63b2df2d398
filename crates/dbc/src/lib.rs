//! DBC files compiled into CAN frame decoders and encoders.
//!
//! [`Database::from_text`] parses a DBC with the `can-dbc` crate, tolerating the
//! defects real files have (a statement the parser cannot read is skipped with a
//! warning naming the file and line; semantic problems such as a standard id above
//! 0x7FF, a value table for a missing signal or overlapping signals are reported as
//! [`Warning`]s), and compiles every message into a [`Message`] whose signals carry
//! precomputed bit positions. Decoding a frame does no string or hash lookups and no
//! allocation: [`Database::message_for`] finds the message through a direct table for
//! standard ids and a binary search for extended ids, and [`Message::decode`] calls
//! back with each signal's index and physical value.
//!
//! Values follow cantools (scaling on, value tables off): physical = raw × factor +
//! offset in IEEE double arithmetic; IEEE float signals (`SIG_VALTYPE_`) are
//! reinterpreted before scaling. A frame shorter than its message's length yields the
//! signals that lie wholly within the received bytes and skips the others.
//!
//! Non-goals: IO (callers hand over the file's text), VSS mapping, CAN transport.
//!
//! # Example
//!
//! ```
//! let dbc = "VERSION \"\"\n\nBO_ 256 Speed: 2 Vector__XXX\n SG_ VehicleSpeed : 0|16@1+ (0.01,0) [0|655.35] \"km/h\" Vector__XXX\n";
//! let database = tomoe_dbc::Database::from_text(dbc, "speed.dbc").unwrap();
//! let message = database.message_for(0x100, false).unwrap();
//! let mut decoded = Vec::new();
//! message.decode(&[0x10, 0x27], |signal, value| decoded.push((signal, value)));
//! assert_eq!(decoded, vec![(0, 100.0)]);
//! assert_eq!(message.signals()[0].name(), "VehicleSpeed");
//! ```

mod codec;
mod database;

pub use codec::{ByteOrder, Message, Multiplexing, Signal, ValueKind};
pub use database::{
    Database, DbcError, Warning, MAX_DBC_BYTES, MAX_DBC_PARSE_BYTES, MAX_OVERLAP_WARNINGS,
};
