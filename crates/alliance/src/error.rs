//! Errors of the alliance and variant files.

use std::path::PathBuf;

/// Why an alliance or variant file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AllianceError {
    /// A file cannot be read or parsed, or holds a wrong value.
    #[error("{}: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        problem: String,
    },
    /// No variant has this id.
    #[error("no variant \"{id}\" in {} (known: {known})", dir.display())]
    UnknownVariant {
        /// The id asked for.
        id: String,
        /// The variants directory.
        dir: PathBuf,
        /// The ids there.
        known: String,
    },
    /// A tenant's token key cannot be used.
    #[error("tenant {tenant}: {source}")]
    TokenKey {
        /// The tenant.
        tenant: tomoe_types::Tenant,
        /// Why.
        #[source]
        source: tomoe_auth::AuthError,
    },
    /// An overlay does not apply to the catalog.
    #[error("{origin}: {source}")]
    Overlay {
        /// The overlay.
        origin: String,
        /// Why.
        #[source]
        source: tomoe_vss::CatalogError,
    },
}
