//! DBC↔VSS mappings in the format of the Eclipse KUKSA CAN provider.
//!
//! A mapping file is a VSS tree (JSON) or a flat YAML `.vspec` overlay whose leaves
//! carry `dbc2vss` (alias `dbc`) and `vss2dbc` entries: the DBC signal, when to
//! forward (`interval_ms`, `on_change`) and a `transform` — a `math` expression in
//! `x` (evaluated by [`Expression`], never as code) or a `mapping` list of
//! `from`/`to` pairs. [`MappingFile`] reads such a file; [`Transform`] applies the
//! conversions; [`Forwarding`] implements the KUKSA evaluation logic (interval, then
//! transform, then change check).
//!
//! Non-goals: decoding frames (tomoe-dbc) and talking to the broker (tomoe-vehicle).
//!
//! # Example
//!
//! ```
//! let yaml = "Vehicle.Speed:\n  type: sensor\n  datatype: float\n  dbc2vss:\n    signal: DI_uiSpeed\n    interval_ms: 100\n    transform:\n      math: \"x * 1.609344\"\n";
//! let mapping = tomoe_mapping::MappingFile::from_vspec_str(yaml, "speed.vspec").unwrap();
//! let rule = &mapping.dbc2vss()[0];
//! assert_eq!(rule.signal, "DI_uiSpeed");
//! assert_eq!(rule.transform.to_vss(100.0, None), Some(tomoe_mapping::Scalar::Number(160.9344)));
//! ```

mod expr;
mod mapping;

pub use expr::{Expression, ExpressionError, MAX_EXPRESSION_BYTES, MAX_EXPRESSION_DEPTH};
pub use mapping::{Dbc2Vss, Forwarding, MappingError, MappingFile, Scalar, Transform, Vss2Dbc};
