//! Vehicle version manifests: verified against the vehicle's registered primary key,
//! refused when older than the last one, stored, and turned into what each ECU runs.

use chrono::{DateTime, Timelike, Utc};
use ed25519_dalek::pkcs8::DecodePublicKey;
use serde::Serialize;

use crate::{Fleet, FleetError};

/// Largest manifest accepted, in bytes (as the file-based director takes).
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024;

/// What the backend answers to a stored manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ManifestReceipt {
    /// The vehicle.
    pub vehicle: String,
    /// ECUs reported.
    pub ecus: usize,
    /// Whether it was new (`false`: the same manifest was sent again).
    pub new: bool,
    /// Whether its signature was verified against the registered primary key:
    /// always, here (the file-based director answers `false` without a key).
    pub verified: bool,
}

/// What one ECU runs, according to the latest manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct InstalledImage {
    /// The ECU.
    pub ecu_id: String,
    /// The image's target name.
    pub filename: String,
    /// Its SHA-256, if reported.
    pub sha256: Option<String>,
    /// Its length in bytes.
    pub length: i64,
    /// Its release counter.
    pub release_counter: i64,
    /// Why the ECU refused its last update, if it did.
    pub attacks_detected: String,
    /// The manifest's time.
    pub reported_at: DateTime<Utc>,
}

impl Fleet {
    /// Verifies and stores a signed manifest `body` sent by vehicle `vehicle`.
    /// Refused, with nothing stored, when the vehicle is unknown, the signature is not
    /// its primary's, it is for another vehicle, names an ECU the vehicle does not
    /// have, or is older than the last one stored (a replay).
    pub async fn report_manifest(
        &self,
        vehicle: &str,
        body: &[u8],
    ) -> Result<ManifestReceipt, FleetError> {
        if !crate::inventory::is_id(vehicle) {
            return Err(FleetError::UnknownVehicle(
                vehicle.chars().take(80).collect(),
            ));
        }
        if body.len() > MAX_MANIFEST_BYTES {
            return Err(FleetError::invalid(
                "manifest",
                format!("{} bytes, more than {MAX_MANIFEST_BYTES}", body.len()),
            ));
        }
        // The signature is checked before any lock is taken, so that junk costs the
        // database one read; the row lock then orders two manifests of one vehicle,
        // and the key is read again under it (it may have changed in between).
        let registered: Option<String> =
            sqlx::query_scalar("SELECT primary_key FROM vehicles WHERE id = $1")
                .bind(vehicle)
                .fetch_optional(&self.pool)
                .await?;
        let registered =
            registered.ok_or_else(|| FleetError::UnknownVehicle(vehicle.to_owned()))?;
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(&registered).map_err(|e| {
            FleetError::invalid(
                "primary_key",
                format!("the registered key is unusable: {e}"),
            )
        })?;
        let manifest = tomoe_ota::verify_manifest(body, &key)
            .map_err(|e| FleetError::invalid("manifest", e.to_string()))?;
        if manifest.vin != vehicle {
            return Err(FleetError::invalid(
                "manifest.vin",
                format!("the manifest is for {:?}, not {vehicle:?}", manifest.vin),
            ));
        }
        // The database keeps microseconds: compare at that precision.
        let signed_at: DateTime<Utc> = manifest.timestamp.into();
        let signed_at = signed_at
            .with_nanosecond(signed_at.nanosecond() / 1000 * 1000)
            .unwrap_or(signed_at);
        if signed_at > Utc::now() + chrono::Duration::seconds(crate::MAX_CLOCK_AHEAD_SECS) {
            return Err(FleetError::invalid(
                "manifest.timestamp",
                format!("{signed_at} is ahead of the backend's clock"),
            ));
        }
        let mut tx = self.pool.begin().await?;
        let locked: Option<String> =
            sqlx::query_scalar("SELECT primary_key FROM vehicles WHERE id = $1 FOR UPDATE")
                .bind(vehicle)
                .fetch_optional(&mut *tx)
                .await?;
        if locked.as_deref() != Some(registered.as_str()) {
            return Err(FleetError::invalid(
                "primary_key",
                "the vehicle's key changed while its manifest was checked; send it again",
            ));
        }
        let ecus: Vec<String> = sqlx::query_scalar("SELECT ecu_id FROM ecus WHERE vehicle_id = $1")
            .bind(vehicle)
            .fetch_all(&mut *tx)
            .await?;
        for (index, report) in manifest.ecu_version_reports.iter().enumerate() {
            if !ecus.contains(&report.ecu_identifier) {
                return Err(FleetError::invalid(
                    format!("manifest.ecu_version_reports[{index}]"),
                    format!(
                        "{:?} is not an ECU of {vehicle} (registered: {})",
                        report.ecu_identifier,
                        ecus.join(", ")
                    ),
                ));
            }
        }
        let last: Option<(DateTime<Utc>, serde_json::Value)> = sqlx::query_as(
            "SELECT signed_at, body FROM manifests WHERE vehicle_id = $1
             ORDER BY signed_at DESC LIMIT 1",
        )
        .bind(vehicle)
        .fetch_optional(&mut *tx)
        .await?;
        let json: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| FleetError::invalid("manifest", e.to_string()))?;
        if let Some((last_at, last_body)) = last {
            if signed_at < last_at || (signed_at == last_at && last_body != json) {
                return Err(FleetError::Replayed {
                    vehicle: vehicle.to_owned(),
                    signed_at,
                    last: last_at,
                });
            }
            if signed_at == last_at {
                // The same manifest again (a retry, or a captured copy): nothing new,
                // and no sign of life either.
                tx.rollback().await?;
                return Ok(ManifestReceipt {
                    vehicle: vehicle.to_owned(),
                    ecus: manifest.ecu_version_reports.len(),
                    new: false,
                    verified: true,
                });
            }
        }
        sqlx::query("INSERT INTO manifests (vehicle_id, signed_at, body) VALUES ($1, $2, $3)")
            .bind(vehicle)
            .bind(signed_at)
            .bind(&json)
            .execute(&mut *tx)
            .await?;
        for report in &manifest.ecu_version_reports {
            let image = &report.installed_image;
            sqlx::query(
                "INSERT INTO installed (vehicle_id, ecu_id, filename, sha256, length,
                                        release_counter, attacks_detected, reported_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (vehicle_id, ecu_id) DO UPDATE SET
                    filename = excluded.filename, sha256 = excluded.sha256,
                    length = excluded.length, release_counter = excluded.release_counter,
                    attacks_detected = excluded.attacks_detected,
                    reported_at = excluded.reported_at",
            )
            .bind(vehicle)
            .bind(&report.ecu_identifier)
            .bind(&image.filename)
            .bind(image.hashes.get("sha256"))
            .bind(i64::try_from(image.length).unwrap_or(i64::MAX))
            .bind(i64::try_from(report.release_counter).unwrap_or(i64::MAX))
            .bind(&report.attacks_detected)
            .bind(signed_at)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE vehicles SET last_seen = now() WHERE id = $1")
            .bind(vehicle)
            .execute(&mut *tx)
            .await?;
        crate::campaigns::apply_manifest(&mut tx, vehicle, &manifest).await?;
        tx.commit().await?;
        tracing::info!(
            vehicle,
            ecus = manifest.ecu_version_reports.len(),
            "stored a vehicle manifest"
        );
        Ok(ManifestReceipt {
            vehicle: vehicle.to_owned(),
            ecus: manifest.ecu_version_reports.len(),
            new: true,
            verified: true,
        })
    }

    /// Verifies and stores the manifests `manifests` brings (from a
    /// [`tomoe_zenoh::backend::BackendLink`]) as [`Fleet::report_manifest`] does,
    /// answering each vehicle with the receipt or the refusal (problem details, as
    /// over HTTP); several at a time, until the link closes.
    pub async fn serve_manifests(
        &self,
        mut manifests: tokio::sync::mpsc::Receiver<tomoe_zenoh::backend::ReceivedManifest>,
    ) {
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(
            (crate::MAX_CONNECTIONS / 2) as usize,
        ));
        while let Some(received) = manifests.recv().await {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let fleet = self.clone();
            tokio::spawn(async move {
                let answer = match fleet
                    .report_manifest(&received.vehicle, &received.body)
                    .await
                {
                    Ok(receipt) => Ok(serde_json::to_value(receipt).expect("JSON")),
                    Err(error) => {
                        tracing::warn!(vehicle = received.vehicle, %error, "refused a vehicle manifest");
                        Err(crate::http::problem_json(error))
                    }
                };
                received.answer(answer).await;
                drop(permit);
            });
        }
    }

    /// What each ECU of `vehicle` runs, by ECU, according to its latest manifest.
    pub async fn installed(&self, vehicle: &str) -> Result<Vec<InstalledImage>, FleetError> {
        self.vehicle_exists(vehicle).await?;
        Ok(sqlx::query_as::<_, InstalledImage>(
            "SELECT ecu_id, filename, sha256, length, release_counter, attacks_detected, reported_at
             FROM installed WHERE vehicle_id = $1 ORDER BY ecu_id",
        )
        .bind(vehicle)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many manifests of `vehicle` are stored.
    pub async fn manifest_count(&self, vehicle: &str) -> Result<i64, FleetError> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM manifests WHERE vehicle_id = $1")
                .bind(vehicle)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub(crate) async fn vehicle_exists(&self, vehicle: &str) -> Result<(), FleetError> {
        if !crate::inventory::is_id(vehicle) {
            return Err(FleetError::UnknownVehicle(
                vehicle.chars().take(80).collect(),
            ));
        }
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM vehicles WHERE id = $1")
            .bind(vehicle)
            .fetch_optional(&self.pool)
            .await?;
        found
            .map(|_| ())
            .ok_or_else(|| FleetError::UnknownVehicle(vehicle.to_owned()))
    }
}
