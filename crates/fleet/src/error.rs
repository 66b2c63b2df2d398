//! Errors of the fleet backend.

/// Why a fleet operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The database cannot be reached.
    #[error("cannot connect to the fleet database {url}")]
    Connect {
        /// The database URL, password hidden.
        url: String,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// The schema cannot be brought up to date.
    #[error("cannot apply the fleet database migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("fleet database error")]
    Database(#[from] sqlx::Error),
    /// Input that is not valid: what and why.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, for example `ecus[1].hardware_id`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No vehicle has this id.
    #[error("no vehicle {0:?} is registered")]
    UnknownVehicle(String),
    /// A manifest older than the last one stored: a replay, or a vehicle whose
    /// clock went back.
    #[error("a manifest of {vehicle} signed at {signed_at} is older than the last one stored ({last}): refused as a replay")]
    Replayed {
        /// The vehicle.
        vehicle: String,
        /// The refused manifest's time.
        signed_at: chrono::DateTime<chrono::Utc>,
        /// The stored manifest's time.
        last: chrono::DateTime<chrono::Utc>,
    },
    /// A campaign whose targeting matches no vehicle: nothing was created.
    #[error("the campaign targets nothing: {0}")]
    NothingTargeted(String),
    /// No campaign has this id.
    #[error("no campaign {0}")]
    UnknownCampaign(i64),
    /// An action the campaign's state does not allow.
    #[error("campaign {id} is {state}: it cannot be {action}")]
    CampaignState {
        /// The campaign.
        id: i64,
        /// Its state.
        state: crate::CampaignState,
        /// What was asked (`paused`, `resumed`, `cancelled`).
        action: String,
    },
    /// The backend has no director keys or image repository for this request.
    #[error("{0}")]
    NotConfigured(String),
    /// A vehicle with this id is registered already.
    #[error("vehicle {0:?} is registered already")]
    AlreadyRegistered(String),
}

impl FleetError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> FleetError {
        FleetError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
