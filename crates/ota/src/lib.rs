//! Secure over-the-air updates following Uptane: TUF metadata, repository
//! tooling, and full verification on the primary ECU.
//!
//! - [`metadata`]: the TUF roles (root, targets with delegations, snapshot,
//!   timestamp) as serde types, Ed25519 keys, and signatures over OLPC canonical
//!   JSON. The JSON is plain TUF 1.0, so existing TUF tools read it.
//! - [`Repository`]: create a repository, add targets, re-sign snapshot and
//!   timestamp, rotate role keys through new root versions, write it to a
//!   directory. The same tooling makes image and director repositories;
//!   [`RepositoryDir`] keeps one in a directory with its keys and rotates them.
//! - [`TrustedRepository`]: the TUF client workflow for one repository, reading
//!   through a [`Fetcher`] ([`FsFetcher`] for a directory).
//! - [`Primary`]: Uptane full verification of a director and an image
//!   repository, the cross-check between them ([`cross_check`]) and streamed,
//!   verified image download ([`download_image`]).
//! - [`HttpFetcher`]: the [`Fetcher`] over HTTP, with timeouts, a minimum transfer
//!   rate and streamed size limits; [`server::ota_router`] serves an image
//!   repository and per-vehicle director repositories, and receives signed
//!   [`VehicleManifest`]s.
//! - [`install`]: A/B slots per ECU, a crash-safe install state machine in redb
//!   ([`Installer`], with [`Installer::recover`]), a health window with rollback
//!   ([`HealthCheck`]) and an install policy gate ([`InstallPolicy`]).
//! - [`delegation`]: target lookup through delegated targets roles (TUF 1.0.30
//!   §5.6.7, [`TrustedRepository::resolve_target`]), so that each brand signs its
//!   own apps; [`ApprovedImage::signed_by`] names the role that vouched for an image.
//! - [`reference`](mod@reference): reading the Uptane reference implementation's spelling
//!   (base64 signatures with a `method`, `ecuIdentifiers`, `hardwareIds`, a
//!   director serving root and targets only), and verifying its RSA keys'
//!   RSASSA-PSS/SHA-256 signatures (keys of [`MIN_RSA_KEY_BITS`] to
//!   [`MAX_RSA_KEY_BITS`] bits; verification only, Tomoe signs with Ed25519).
//!
//! Every refusal is an [`OtaError`] whose message starts with the attack it stops,
//! such as `rollback: image timestamp version 1 is older than the trusted version 3`.
//!
//! The caller passes the time for metadata checks; only the installer's health
//! window reads a (monotonic) clock.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use tomoe_ota::{generate_key, Lifetimes, Limits, Repository, RepositoryConfig, RoleConfig, TrustedRepository, FsFetcher};
//!
//! let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
//! let key = generate_key();
//! let role = RoleConfig { keys: vec![key.verifying_key()], threshold: 1 };
//! let config = RepositoryConfig { root: role.clone(), targets: role.clone(), snapshot: role.clone(), timestamp: role };
//! let mut repository = Repository::create(&config, Lifetimes::default(), vec![key], now).unwrap();
//! repository.add_target("app.bin", b"image bytes", None).unwrap();
//! repository.publish(now).unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! repository.write_to(dir.path()).unwrap();
//!
//! let mut client = TrustedRepository::new("image", &repository.root_file()).unwrap();
//! client.update(&FsFetcher::new(dir.path()), &Limits::default(), now).unwrap();
//! assert_eq!(client.targets().unwrap().targets["app.bin"].length, 11);
//! ```

mod client;
pub mod delegation;
mod error;
mod http;
pub mod install;
mod keys;
mod manifest;
pub mod metadata;
pub mod reference;
mod repository;
mod repository_dir;
pub mod server;
mod uptane;
mod verify;

pub use client::{Fetcher, FsFetcher, Limits, TrustedRepository};
pub use delegation::{MAX_DELEGATIONS, TOP_LEVEL_TARGETS};
pub use error::OtaError;
pub use http::{HttpConfig, HttpFetcher, MinimumRate};
pub use install::{
    CrashPoint, HealthCheck, InstallError, InstallPolicy, Installer, InstallerConfig, Outcome,
    VehicleConditions,
};
pub use keys::{generate_key, key_id, read_key, write_key};
pub use manifest::{
    public_key_pem, read_public_key, sign_manifest, verify_manifest, EcuVersionReport, ImageReport,
    InstallationReport, InstallationStatus, SignedManifest, VehicleManifest,
};
pub use repository::{Lifetimes, Repository, RepositoryConfig, RoleConfig, TARGETS_DIR};
pub use repository_dir::{
    RepositoryDir, RepositoryKind, Rotation, TargetSpec, DELEGATED_KEYS_DIR, KEYS_DIR,
};
pub use uptane::{
    cross_check, cross_check_with, download_image, ApprovedImage, Ecu, ImageLookup, InstalledImage,
    PlannedInstall, Primary,
};
pub use verify::{MAX_RSA_KEY_BITS, MIN_RSA_KEY_BITS};
