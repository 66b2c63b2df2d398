//! The inventory: vehicles, their ECUs and their common parts.

use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::DecodePublicKey;
use serde::{Deserialize, Serialize};

use crate::{Fleet, FleetError};

/// Most ECUs one vehicle may list.
pub const MAX_ECUS: usize = 64;

/// Most common parts one vehicle may list.
pub const MAX_PARTS: usize = 64;

/// Longest primary public key accepted (PEM).
const MAX_KEY_BYTES: usize = 4096;

/// What registers a vehicle: sent once, by the factory or the dealer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The vehicle's id: 1 to 64 ASCII letters, digits, `-` or `_`.
    pub id: String,
    /// The brand it is sold under.
    pub brand: String,
    /// Its model.
    pub model: String,
    /// The vehicle profile it runs.
    pub profile: String,
    /// The primary ECU's Ed25519 public key, SPKI PEM.
    pub primary_key: String,
    /// Its ECUs; exactly one is the primary.
    pub ecus: Vec<EcuRecord>,
    /// The common parts installed.
    #[serde(default)]
    pub parts: Vec<PartRecord>,
}

/// One ECU of a vehicle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct EcuRecord {
    /// Its id within the vehicle.
    pub ecu_id: String,
    /// The hardware it is, which an update's image must be built for.
    pub hardware_id: String,
    /// Whether it is the primary ECU (the one that talks to the backend).
    #[serde(default)]
    pub is_primary: bool,
}

/// A common part installed in a vehicle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct PartRecord {
    /// Where it is installed, for example `traction-battery`.
    pub slot: String,
    /// Its id in the parts catalog.
    pub catalog_id: String,
}

/// A registered vehicle in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleRecord {
    /// What identifies it and what it is.
    #[serde(flatten)]
    pub summary: VehicleSummary,
    /// The primary ECU's public key.
    pub primary_key: String,
    /// Its ECUs, by id.
    pub ecus: Vec<EcuRecord>,
    /// Its common parts, by slot.
    pub parts: Vec<PartRecord>,
}

/// A registered vehicle, as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct VehicleSummary {
    /// Its id.
    pub id: String,
    /// Its brand.
    pub brand: String,
    /// Its model.
    pub model: String,
    /// Its vehicle profile.
    pub profile: String,
    /// When it was registered.
    pub registered_at: DateTime<Utc>,
    /// When it last reached the backend, if ever.
    pub last_seen: Option<DateTime<Utc>>,
}

/// A row of `vehicles`.
#[derive(sqlx::FromRow)]
struct VehicleRow {
    #[sqlx(flatten)]
    summary: VehicleSummary,
    primary_key: String,
}

/// Which vehicles a list shows: every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VehicleFilter {
    /// This brand only.
    pub brand: Option<String>,
    /// This model only.
    pub model: Option<String>,
    /// This profile only.
    pub profile: Option<String>,
    /// Vehicles with an ECU of this hardware id.
    pub hardware_id: Option<String>,
    /// Vehicles with this common part installed.
    pub part: Option<String>,
}

impl Registration {
    /// Checks every field, naming the first that is wrong.
    pub fn check(&self) -> Result<(), FleetError> {
        check_id("id", &self.id)?;
        check_text("brand", &self.brand, 64)?;
        check_text("model", &self.model, 64)?;
        check_text("profile", &self.profile, 128)?;
        if self.primary_key.len() > MAX_KEY_BYTES {
            return Err(FleetError::invalid(
                "primary_key",
                format!(
                    "{} bytes, more than {MAX_KEY_BYTES}",
                    self.primary_key.len()
                ),
            ));
        }
        ed25519_dalek::VerifyingKey::from_public_key_pem(&self.primary_key).map_err(|e| {
            FleetError::invalid(
                "primary_key",
                format!("not an Ed25519 public key in PEM: {e}"),
            )
        })?;
        if self.ecus.is_empty() || self.ecus.len() > MAX_ECUS {
            return Err(FleetError::invalid(
                "ecus",
                format!("{} ECUs: expected 1 to {MAX_ECUS}", self.ecus.len()),
            ));
        }
        for (index, ecu) in self.ecus.iter().enumerate() {
            if !is_ecu_id(&ecu.ecu_id) {
                return Err(FleetError::invalid(
                    format!("ecus[{index}].ecu_id"),
                    format!(
                        "{:?} is not an ECU id: use 1 to 64 ASCII letters, digits, '-', '_', '.' or ':'",
                        ecu.ecu_id.chars().take(80).collect::<String>()
                    ),
                ));
            }
            check_text(&format!("ecus[{index}].hardware_id"), &ecu.hardware_id, 128)?;
            if self.ecus[..index].iter().any(|e| e.ecu_id == ecu.ecu_id) {
                return Err(FleetError::invalid(
                    format!("ecus[{index}].ecu_id"),
                    format!("{:?} is listed twice", ecu.ecu_id),
                ));
            }
        }
        let primaries = self.ecus.iter().filter(|e| e.is_primary).count();
        if primaries != 1 {
            return Err(FleetError::invalid(
                "ecus",
                format!("{primaries} primary ECUs: exactly one must be the primary"),
            ));
        }
        if self.parts.len() > MAX_PARTS {
            return Err(FleetError::invalid(
                "parts",
                format!("{} parts, more than {MAX_PARTS}", self.parts.len()),
            ));
        }
        for (index, part) in self.parts.iter().enumerate() {
            check_id(&format!("parts[{index}].slot"), &part.slot)?;
            check_text(&format!("parts[{index}].catalog_id"), &part.catalog_id, 128)?;
            if self.parts[..index].iter().any(|p| p.slot == part.slot) {
                return Err(FleetError::invalid(
                    format!("parts[{index}].slot"),
                    format!("{:?} is listed twice", part.slot),
                ));
            }
        }
        Ok(())
    }
}

/// Whether `id` is one plain segment, as Zenoh keys and repository paths need.
pub(crate) fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `id` is an ECU id: an id that may also hold `.` and `:`, as the update
/// agent's app ECUs (`app:range-estimator`) do.
pub(crate) fn is_ecu_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// An id, or an error naming `field`.
fn check_id(field: &str, id: &str) -> Result<(), FleetError> {
    if is_id(id) {
        Ok(())
    } else {
        Err(FleetError::invalid(
            field,
            format!(
                "{:?} is not an id: use 1 to 64 ASCII letters, digits, '-' or '_'",
                id.chars().take(80).collect::<String>()
            ),
        ))
    }
}

/// A name: printable, 1 to `max` bytes.
fn check_text(field: &str, text: &str, max: usize) -> Result<(), FleetError> {
    if text.is_empty() || text.len() > max || text.chars().any(char::is_control) {
        return Err(FleetError::invalid(
            field,
            format!("expected 1 to {max} bytes of printable text"),
        ));
    }
    Ok(())
}

impl Fleet {
    /// Registers a vehicle; refused when any field is invalid or the id is taken.
    /// All of it is stored, or nothing.
    pub async fn register(&self, registration: &Registration) -> Result<(), FleetError> {
        registration.check()?;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO vehicles (id, brand, model, profile, primary_key)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&registration.id)
        .bind(&registration.brand)
        .bind(&registration.model)
        .bind(&registration.profile)
        .bind(&registration.primary_key)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(FleetError::AlreadyRegistered(registration.id.clone()));
        }
        for ecu in &registration.ecus {
            sqlx::query(
                "INSERT INTO ecus (vehicle_id, ecu_id, hardware_id, is_primary) VALUES ($1, $2, $3, $4)",
            )
            .bind(&registration.id)
            .bind(&ecu.ecu_id)
            .bind(&ecu.hardware_id)
            .bind(ecu.is_primary)
            .execute(&mut *tx)
            .await?;
        }
        for part in &registration.parts {
            sqlx::query("INSERT INTO parts (vehicle_id, slot, catalog_id) VALUES ($1, $2, $3)")
                .bind(&registration.id)
                .bind(&part.slot)
                .bind(&part.catalog_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        tracing::info!(vehicle = %registration.id, brand = %registration.brand, model = %registration.model, "vehicle registered");
        Ok(())
    }

    /// A vehicle in full.
    pub async fn vehicle(&self, id: &str) -> Result<VehicleRecord, FleetError> {
        if !is_id(id) {
            return Err(FleetError::UnknownVehicle(id.chars().take(80).collect()));
        }
        let row = sqlx::query_as::<_, VehicleRow>(
            "SELECT id, brand, model, profile, primary_key, registered_at, last_seen
             FROM vehicles WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(VehicleRow {
            summary,
            primary_key,
        }) = row
        else {
            return Err(FleetError::UnknownVehicle(id.to_owned()));
        };
        let id = summary.id.clone();
        let ecus = sqlx::query_as::<_, EcuRecord>(
            "SELECT ecu_id, hardware_id, is_primary FROM ecus WHERE vehicle_id = $1 ORDER BY ecu_id",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await?;
        let parts = sqlx::query_as::<_, PartRecord>(
            "SELECT slot, catalog_id FROM parts WHERE vehicle_id = $1 ORDER BY slot",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await?;
        Ok(VehicleRecord {
            summary,
            primary_key,
            ecus,
            parts,
        })
    }

    /// The vehicles `filter` selects, by id, at most `limit` after `after` (the
    /// last id of the previous page).
    pub async fn vehicles(
        &self,
        filter: &VehicleFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<VehicleSummary>, FleetError> {
        let rows = sqlx::query_as::<_, VehicleSummary>(
            "SELECT v.id, v.brand, v.model, v.profile, v.registered_at, v.last_seen
             FROM vehicles v
             WHERE ($1::text IS NULL OR v.brand = $1)
               AND ($2::text IS NULL OR v.model = $2)
               AND ($3::text IS NULL OR v.profile = $3)
               AND ($4::text IS NULL OR EXISTS
                    (SELECT 1 FROM ecus e WHERE e.vehicle_id = v.id AND e.hardware_id = $4))
               AND ($5::text IS NULL OR EXISTS
                    (SELECT 1 FROM parts p WHERE p.vehicle_id = v.id AND p.catalog_id = $5))
               AND ($6::text IS NULL OR v.id > $6)
             ORDER BY v.id
             LIMIT $7",
        )
        .bind(&filter.brand)
        .bind(&filter.model)
        .bind(&filter.profile)
        .bind(&filter.hardware_id)
        .bind(&filter.part)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}
