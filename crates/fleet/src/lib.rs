//! The alliance's fleet backend: what every vehicle is, runs and reports, kept in
//! PostgreSQL.
//!
//! - **inventory** ([`Fleet::register`], [`Fleet::vehicle`], [`Fleet::vehicles`]):
//!   each vehicle with its brand, model and profile, the hardware id of each ECU,
//!   the common parts installed (a battery pack's catalog id), and the primary ECU's
//!   public key that signs its version manifests;
//! - **what vehicles run** ([`Fleet::report_manifest`], [`Fleet::installed`]): each
//!   signed version manifest verified against the registered key, refused when older
//!   than the last (a replay), stored, and the image of each ECU kept current;
//! - **telemetry** ([`Fleet::ingest_telemetry`], [`Fleet::latest_telemetry`],
//!   [`Fleet::mean_by_model`]): values of the paths each vehicle's policy selects, in a
//!   table partitioned by day with retention ([`Fleet::drop_old_telemetry`]);
//! - **campaigns** ([`Fleet::create_campaign`], [`Fleet::campaign`],
//!   [`Fleet::campaign_action`]): an image rolled out to the vehicles a targeting
//!   selects, canary first, then waves, paused on its own when the reported failure
//!   rate passes a threshold;
//! - **the director** ([`Fleet::director_file`], [`DirectorKeys`]): each vehicle's
//!   Uptane director metadata, generated from the campaigns and signed with the
//!   director's online keys.
//!
//! [`http::router`] serves it over HTTP: the operator API (JWT scopes `fleet`,
//! `fleet:write`) and the director's manifest endpoint.
//!
//! The schema lives in `crates/fleet/migrations`, applied by [`Fleet::connect`];
//! `docs/fleet.md` describes the data model.

mod campaigns;
pub mod client;
mod director;
mod error;
pub mod http;
mod inventory;
mod manifests;
pub mod simulate;
mod telemetry;

pub use campaigns::{
    plan_waves, CampaignAction, CampaignRequest, CampaignState, CampaignStatus, CampaignVehicle,
    Targeting, UpdateStatus, MAX_CAMPAIGN_PAGE, MAX_WAVES,
};
pub use director::{Director, DirectorFile, DirectorKeys, LIFETIME_SECS, REFRESH_BEFORE_SECS};
pub use error::FleetError;
pub use inventory::{
    EcuRecord, PartRecord, Registration, VehicleFilter, VehicleRecord, VehicleSummary, MAX_ECUS,
    MAX_PARTS,
};
pub use manifests::{InstalledImage, ManifestReceipt, MAX_MANIFEST_BYTES};
pub use telemetry::{
    IngestOutcome, LatestValue, ModelMean, TelemetryPoint, TelemetrySample, MAX_CLOCK_AHEAD_SECS,
    MAX_INGEST_BATCH, MAX_TELEMETRY_VALUE_BYTES, MAX_WINDOW_ROWS,
};

use sqlx::postgres::{PgPool, PgPoolOptions};

/// Most connections one backend node opens to the database.
pub const MAX_CONNECTIONS: u32 = 16;

/// The fleet backend's state: a pool of connections to its PostgreSQL database.
#[derive(Debug, Clone)]
pub struct Fleet {
    pool: PgPool,
    /// The days whose telemetry partition is known to exist.
    partitions: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<chrono::NaiveDate>>>,
    /// Telemetry policies parsed, by their text.
    policies: PolicyCache,
}

/// Parsed telemetry policies by their text, shared by a backend node's requests.
type PolicyCache = std::sync::Arc<
    std::sync::Mutex<
        std::collections::HashMap<String, std::sync::Arc<tomoe_zenoh::TelemetryPolicy>>,
    >,
>;

impl Fleet {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) and brings
    /// its schema up to date.
    pub async fn connect(url: &str) -> Result<Fleet, FleetError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|source| FleetError::Connect {
                url: redact(url),
                source,
            })?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(FleetError::Migrate)?;
        Ok(Fleet {
            pool,
            partitions: Default::default(),
            policies: Default::default(),
        })
    }

    /// The connection pool, for the other parts of the backend.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            super::redact("postgres://fleet:s3cret@db:5432/tomoe"),
            "postgres://fleet:***@db:5432/tomoe"
        );
        assert_eq!(
            super::redact("postgres://fleet@db/tomoe"),
            "postgres://fleet@db/tomoe"
        );
    }
}
