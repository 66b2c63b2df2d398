//! One OS, many brands: the tenants of the alliance and the variants they sell.
//!
//! - [`Alliance`]: the alliance file (`alliance/alliance.toml`) declares each
//!   [`Tenant`]: the public keys of its JWT issuer ([`Alliance::token_verifiers`]
//!   binds each to its tenant), its private VSS branch under `Vehicle.Private` with
//!   the overlay that fills it ([`Alliance::private_branches`],
//!   [`Alliance::add_overlays`]) and its image-repository delegation keys.
//! - [`Variant`]: `variants/<id>.toml` is a badge on a hardware profile: brand,
//!   model and other identification attributes written into VSS, the apps it
//!   ships (each of a tenant), its OTA channel and the tenants present (the badge's
//!   brand, the hardware maker and the alliance). [`Variant::check`] lists every
//!   problem: the overlay does not apply, an app's declared path does not exist or
//!   lies in the private branch of a tenant other than the app's own or absent.
//!
//! Non-goals: issuing tenants' tokens (each tenant runs its own issuer) and
//! signing images (the OTA crate's repository tooling).

mod alliance;
mod error;
mod variant;

pub use alliance::{default_alliance_dir, Alliance, TenantSpec, ALLIANCE_FILE, PRIVATE_ROOT};
pub use error::AllianceError;
pub use tomoe_types::Tenant;
pub use variant::{
    default_variants_dir, AppInstall, AppOutcome, Variant, VariantApp, VariantProblem,
    VariantTable, VariantTenants,
};
