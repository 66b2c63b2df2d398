//! The COVESA Vehicle Signal Specification (VSS) catalog as Tomoe understands it.
//!
//! This crate loads VSS release JSON exports (4.0, 5.1 and 6.0 are tested) and
//! overlays on top of them, and answers questions about the result: which leaves
//! exist, what their type, unit and limits are, which leaves a path pattern such as
//! `Vehicle.Cabin.**` selects, and whether a [`Value`] may be written to a leaf.
//!
//! It is deliberately plain data: no IO besides reading the files it is given, no
//! knowledge of brokers, CAN or gRPC. The broker, the CAN mapping layer and the
//! tools build on it.
//!
//! # Example
//!
//! ```
//! use tomoe_vss::{CatalogBuilder, PathPattern, Value};
//!
//! let catalog = CatalogBuilder::new()
//!     .json_str(r#"{"Vehicle": {"type": "branch", "description": "root", "children": {
//!         "Speed": {"type": "sensor", "datatype": "float", "unit": "km/h",
//!                   "min": 0, "max": 400, "description": "speed"}}}}"#, "inline")
//!     .unwrap()
//!     .build()
//!     .unwrap();
//! let speed = catalog.leaf("Vehicle.Speed").unwrap();
//! assert!(speed.check_value(&Value::Float(80.0)).is_ok());
//! assert!(speed.check_value(&Value::Float(500.0)).is_err());
//! let pattern = PathPattern::parse("Vehicle.*").unwrap();
//! assert_eq!(catalog.matching(&pattern).count(), 1);
//! ```

mod catalog;
mod datatype;
mod error;
mod pattern;
mod value;
mod yaml_guard;

pub use catalog::{Branch, Catalog, CatalogBuilder, Leaf, LeafId};
pub use datatype::{DataType, EntryType};
pub use error::{CatalogError, ValueError};
pub use pattern::{PathPattern, PatternError, MAX_PATTERN_BYTES, MAX_PATTERN_SEGMENTS};
pub use value::Value;
pub use yaml_guard::{
    check_yaml_nesting, read_data_file, YamlTooDeep, MAX_DATA_FILE_BYTES, MAX_YAML_FLOW_DEPTH,
    MAX_YAML_INDENT,
};

/// The VSS catalog embedded in Tomoe and used when no catalog file is given
/// (COVESA VSS 5.1 release JSON, MPL-2.0; see `NOTICE`).
pub const DEFAULT_CATALOG_JSON: &str = include_str!("../../../data/vss/vss_release_5.1.json");

/// Name under which the embedded default catalog reports its origin.
pub const DEFAULT_CATALOG_NAME: &str = "embedded VSS 5.1";

/// Tomoe's own overlay (branch `Vehicle.Tomoe`: app estimates, vehicle mode,
/// simulation state), applied on top of every catalog Tomoe serves.
pub const TOMOE_OVERLAY_VSPEC: &str = include_str!("../../../data/vss/tomoe.vspec");

/// Name under which the Tomoe overlay reports its origin.
pub const TOMOE_OVERLAY_NAME: &str = "embedded Tomoe overlay";

/// A builder holding the embedded default catalog (VSS 5.1) and the Tomoe overlay;
/// further overlays can be added before building.
pub fn default_builder() -> Result<CatalogBuilder, CatalogError> {
    CatalogBuilder::new()
        .json_str(DEFAULT_CATALOG_JSON, DEFAULT_CATALOG_NAME)?
        .vspec_str(TOMOE_OVERLAY_VSPEC, TOMOE_OVERLAY_NAME)
}

/// Loads the embedded default catalog (VSS 5.1) with the Tomoe overlay.
pub fn default_catalog() -> Result<Catalog, CatalogError> {
    default_builder()?.build()
}

/// The catalog of a VSS release file (the embedded VSS 5.1 when absent) with the
/// Tomoe overlay and then `overlays` applied in order (`.vspec`/`.yaml`/`.yml` as
/// YAML, others as JSON).
pub fn catalog_from_files(
    vss: Option<&std::path::Path>,
    overlays: &[std::path::PathBuf],
) -> Result<Catalog, CatalogError> {
    builder_from_files(vss, overlays)?.build()
}

/// [`catalog_from_files`] before it is built, for more overlays.
pub fn builder_from_files(
    vss: Option<&std::path::Path>,
    overlays: &[std::path::PathBuf],
) -> Result<CatalogBuilder, CatalogError> {
    let mut builder = match vss {
        Some(path) => CatalogBuilder::new()
            .json_file(path)?
            .vspec_str(TOMOE_OVERLAY_VSPEC, TOMOE_OVERLAY_NAME)?,
        None => default_builder()?,
    };
    for overlay in overlays {
        let is_vspec = overlay
            .extension()
            .is_some_and(|e| e == "vspec" || e == "yaml" || e == "yml");
        builder = if is_vspec {
            builder.vspec_file(overlay)?
        } else {
            builder.json_file(overlay)?
        };
    }
    Ok(builder)
}
