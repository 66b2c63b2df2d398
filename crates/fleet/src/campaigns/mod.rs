//! Update campaigns: an image from the image repository rolled out to the vehicles
//! a targeting selects, a canary wave first, then waves, paused on its own when the
//! failure rate the vehicles report passes the campaign's threshold.
//!
//! Each targeted vehicle gets one row (its first ECU of the image's hardware id)
//! placed in a wave by a hash of the campaign and vehicle ids: a fixed, uniform
//! draw. Wave 0 (the canary, `canary_fraction` of the vehicles) is offered at once;
//! the next wave is offered when every vehicle of the open waves has an outcome and
//! the failure rate is within the threshold. The failure rate is the failed and
//! rolled-back vehicles over those with an outcome, both counted since the last
//! resume, judged once the canary's number of outcomes came in or the open waves
//! are done. A vehicle's status moves with its signed manifests: `downloading`,
//! `rolled_back` and `failed` from its installation reports, `installed` when its
//! ECU reports running the image. Outcomes are final.

mod rollout;
mod types;

pub(crate) use rollout::apply_manifest;
pub use types::*;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tomoe_ota::metadata::TargetFile;

use crate::{Fleet, FleetError};
use rollout::{evaluate, set_state};

impl Fleet {
    /// Creates a campaign rolling `image_target` (the image repository's description
    /// of `request.image`) out to the vehicles `request.targeting` selects, and
    /// offers the canary wave. Refused, with nothing stored, when a field is wrong,
    /// the image has no Uptane hardware id and release counter, or no vehicle matches.
    pub async fn create_campaign(
        &self,
        request: &CampaignRequest,
        image_target: &TargetFile,
    ) -> Result<CampaignStatus, FleetError> {
        request.check()?;
        let custom = image_target.uptane().map_err(|reason| {
            FleetError::invalid("image", format!("{}: {reason}", request.image))
        })?;
        if !image_target.hashes.contains_key("sha256") {
            return Err(FleetError::invalid(
                "image",
                format!(
                    "{}: the image repository lists no SHA-256 for it, which vehicles report",
                    request.image
                ),
            ));
        }
        if let Some(hardware) = &request.targeting.hardware_id {
            if *hardware != custom.hardware_identifier {
                return Err(FleetError::invalid(
                    "targeting.hardware_id",
                    format!(
                        "{hardware:?}, but {} is built for {:?}",
                        request.image, custom.hardware_identifier
                    ),
                ));
            }
        }
        let release_counter = i64::try_from(custom.release_counter)
            .map_err(|_| FleetError::invalid("image", "its release counter is too large"))?;
        let mut tx = self.pool.begin().await?;
        // One creation at a time: two campaigns created together could otherwise
        // both take a vehicle that is in neither yet.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tomoe-fleet/create-campaign'))")
            .execute(&mut *tx)
            .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO campaigns (name, image, image_target, hardware_id, release_counter,
                                    targeting, canary_fraction, waves, failure_threshold, state)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active') RETURNING id",
        )
        .bind(&request.name)
        .bind(&request.image)
        .bind(serde_json::to_value(image_target).expect("JSON"))
        .bind(&custom.hardware_identifier)
        .bind(release_counter)
        .bind(serde_json::to_value(&request.targeting).expect("JSON"))
        .bind(request.canary_fraction)
        .bind(request.waves as i32)
        .bind(request.failure_threshold)
        .fetch_one(&mut *tx)
        .await?;
        // One ECU per vehicle: the first of the image's hardware id that is not
        // already at the release or in another running campaign. Drawn in a fixed,
        // uniform order: the hash of campaign and vehicle.
        let targets: Vec<(String, String)> = sqlx::query_as(
            "SELECT vehicle_id, ecu_id FROM (
                 SELECT DISTINCT ON (v.id) v.id AS vehicle_id, e.ecu_id
                 FROM vehicles v JOIN ecus e ON e.vehicle_id = v.id
                 LEFT JOIN installed i ON i.vehicle_id = e.vehicle_id AND i.ecu_id = e.ecu_id
                 WHERE e.hardware_id = $2
                   AND ($3::text IS NULL OR v.brand = $3)
                   AND ($4::text IS NULL OR v.model = $4)
                   AND ($5::text IS NULL OR v.profile = $5)
                   AND ($6::text IS NULL OR i.filename = $6)
                   AND (i.release_counter IS NULL OR i.release_counter < $7)
                   AND NOT EXISTS (
                       SELECT 1 FROM campaign_vehicles cv JOIN campaigns c ON c.id = cv.campaign_id
                       WHERE cv.vehicle_id = e.vehicle_id AND cv.ecu_id = e.ecu_id
                         AND c.id <> $1 AND c.state IN ('active', 'paused')
                         AND cv.status IN ('waiting', 'offered', 'downloading'))
                   -- A director lists an image once per vehicle: not for a second ECU.
                   AND NOT EXISTS (
                       SELECT 1 FROM campaign_vehicles cv JOIN campaigns c ON c.id = cv.campaign_id
                       WHERE cv.vehicle_id = e.vehicle_id AND c.image = $8 AND c.id <> $1
                         AND cv.status IN ('waiting', 'offered', 'downloading', 'installed'))
                 ORDER BY v.id, e.ecu_id) chosen
             ORDER BY md5($1::text || '/' || vehicle_id), vehicle_id",
        )
        .bind(id)
        .bind(&custom.hardware_identifier)
        .bind(&request.targeting.brand)
        .bind(&request.targeting.model)
        .bind(&request.targeting.profile)
        .bind(&request.targeting.current_version)
        .bind(release_counter)
        .bind(&request.image)
        .fetch_all(&mut *tx)
        .await?;
        if targets.is_empty() {
            return Err(FleetError::NothingTargeted(format!(
                "no vehicle matches ({}, an ECU of hardware {:?} below release {release_counter}, in no other running campaign)",
                request.targeting, custom.hardware_identifier
            )));
        }
        let waves = plan_waves(targets.len(), request.canary_fraction, request.waves);
        let (vehicles, ecus): (Vec<String>, Vec<String>) = targets.into_iter().unzip();
        let waves: Vec<i32> = waves.into_iter().map(|w| w as i32).collect();
        sqlx::query(
            "INSERT INTO campaign_vehicles (campaign_id, vehicle_id, ecu_id, wave, status)
             SELECT $1, v, e, w, CASE WHEN w = 0 THEN 'offered' ELSE 'waiting' END
             FROM UNNEST($2::text[], $3::text[], $4::int[]) AS t(v, e, w)",
        )
        .bind(id)
        .bind(&vehicles)
        .bind(&ecus)
        .bind(&waves)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(
            campaign = id,
            image = request.image,
            vehicles = vehicles.len(),
            "created an update campaign"
        );
        self.campaign(id).await
    }

    /// Campaign `id` and its counts.
    pub async fn campaign(&self, id: i64) -> Result<CampaignStatus, FleetError> {
        let row: Option<CampaignRow> = sqlx::query_as(
            "SELECT id, name, image, hardware_id, release_counter, targeting, canary_fraction,
                    waves, failure_threshold, state, state_reason, open_wave,
                    baseline_failures, baseline_outcomes, created_at, updated_at
             FROM campaigns WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let row = row.ok_or(FleetError::UnknownCampaign(id))?;
        let counts: Vec<(i32, String, i64)> = sqlx::query_as(
            "SELECT wave, status, count(*) FROM campaign_vehicles WHERE campaign_id = $1
             GROUP BY wave, status ORDER BY wave",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        row.into_status(&counts)
    }

    /// Every campaign, newest first.
    pub async fn campaigns(&self) -> Result<Vec<CampaignStatus>, FleetError> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM campaigns ORDER BY id DESC")
            .fetch_all(&self.pool)
            .await?;
        let mut campaigns = Vec::with_capacity(ids.len());
        for id in ids {
            campaigns.push(self.campaign(id).await?);
        }
        Ok(campaigns)
    }

    /// A page of campaign `id`'s vehicles, by vehicle id after `after`, of one
    /// status if given.
    pub async fn campaign_vehicles(
        &self,
        id: i64,
        status: Option<UpdateStatus>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CampaignVehicle>, FleetError> {
        self.campaign_exists(id).await?;
        let rows: Vec<VehicleRow> = sqlx::query_as(
            "SELECT vehicle_id, ecu_id, wave, status, reason, fetched_at, updated_at
             FROM campaign_vehicles
             WHERE campaign_id = $1 AND ($2::text IS NULL OR status = $2)
               AND ($3::text IS NULL OR vehicle_id > $3)
             ORDER BY vehicle_id LIMIT $4",
        )
        .bind(id)
        .bind(status.map(UpdateStatus::as_str))
        .bind(after)
        .bind(i64::from(limit.min(MAX_CAMPAIGN_PAGE)))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(CampaignVehicle {
                    vehicle_id: row.vehicle_id,
                    ecu_id: row.ecu_id,
                    wave: row.wave as u32,
                    status: UpdateStatus::parse(&row.status)?,
                    reason: row.reason,
                    fetched_at: row.fetched_at,
                    updated_at: row.updated_at,
                })
            })
            .collect()
    }

    /// Pauses, resumes or cancels campaign `id`. Resuming acknowledges the failures
    /// so far and offers the next wave if the open ones are done.
    pub async fn campaign_action(
        &self,
        id: i64,
        action: CampaignAction,
        reason: &str,
    ) -> Result<CampaignStatus, FleetError> {
        let mut tx = self.pool.begin().await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM campaigns WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let state = CampaignState::parse(&state.ok_or(FleetError::UnknownCampaign(id))?)?;
        let refuse = |what: &str| {
            Err(FleetError::CampaignState {
                id,
                state,
                action: what.to_owned(),
            })
        };
        match (action, state) {
            (CampaignAction::Pause, CampaignState::Active) => {
                let reason = if reason.is_empty() {
                    "paused by an operator"
                } else {
                    reason
                };
                set_state(&mut tx, id, CampaignState::Paused, reason).await?;
            }
            (CampaignAction::Resume, CampaignState::Paused) => {
                sqlx::query(
                    "UPDATE campaigns SET state = 'active', state_reason = '', updated_at = now(),
                         baseline_failures = (SELECT count(*) FROM campaign_vehicles
                             WHERE campaign_id = $1 AND status IN ('failed', 'rolled_back')),
                         baseline_outcomes = (SELECT count(*) FROM campaign_vehicles
                             WHERE campaign_id = $1
                               AND status IN ('installed', 'failed', 'rolled_back'))
                     WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                evaluate(&mut tx, id).await?;
            }
            (CampaignAction::Cancel, CampaignState::Active | CampaignState::Paused) => {
                let reason = if reason.is_empty() {
                    "cancelled by an operator"
                } else {
                    reason
                };
                set_state(&mut tx, id, CampaignState::Cancelled, reason).await?;
                sqlx::query(
                    "UPDATE campaign_vehicles SET status = 'cancelled', updated_at = now()
                     WHERE campaign_id = $1 AND status IN ('waiting', 'offered', 'downloading')",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            (CampaignAction::Pause, _) => return refuse("paused"),
            (CampaignAction::Resume, _) => return refuse("resumed"),
            (CampaignAction::Cancel, _) => return refuse("cancelled"),
        }
        tx.commit().await?;
        tracing::info!(campaign = id, ?action, "campaign action");
        self.campaign(id).await
    }

    async fn campaign_exists(&self, id: i64) -> Result<(), FleetError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM campaigns WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        found.map(|_| ()).ok_or(FleetError::UnknownCampaign(id))
    }
}

/// Moves the campaign rows of `vehicle` along with what its manifest reports, then
/// re-evaluates each campaign touched. Runs inside the manifest's transaction,
/// which holds the vehicle's row; campaign rows are locked before their vehicles'.

#[derive(sqlx::FromRow)]
struct VehicleRow {
    vehicle_id: String,
    ecu_id: String,
    wave: i32,
    status: String,
    reason: String,
    fetched_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct CampaignRow {
    id: i64,
    name: String,
    image: String,
    hardware_id: String,
    release_counter: i64,
    targeting: serde_json::Value,
    canary_fraction: f64,
    waves: i32,
    failure_threshold: f64,
    state: String,
    state_reason: String,
    open_wave: i32,
    baseline_failures: i32,
    baseline_outcomes: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl CampaignRow {
    fn into_status(self, counts: &[(i32, String, i64)]) -> Result<CampaignStatus, FleetError> {
        let zero = || -> BTreeMap<UpdateStatus, i64> {
            UpdateStatus::ALL.iter().map(|s| (*s, 0)).collect()
        };
        let mut total = zero();
        let mut by_wave = Vec::new();
        for (wave, status, count) in counts {
            let status = UpdateStatus::parse(status)?;
            let wave = *wave as usize;
            while by_wave.len() <= wave {
                by_wave.push(zero());
            }
            *by_wave[wave].entry(status).or_default() += count;
            *total.entry(status).or_default() += count;
        }
        let vehicles = total.values().sum();
        let failures = total[&UpdateStatus::Failed] + total[&UpdateStatus::RolledBack]
            - i64::from(self.baseline_failures);
        let outcomes = total[&UpdateStatus::Installed]
            + total[&UpdateStatus::Failed]
            + total[&UpdateStatus::RolledBack]
            - i64::from(self.baseline_outcomes);
        Ok(CampaignStatus {
            id: self.id,
            name: self.name,
            image: self.image,
            hardware_id: self.hardware_id,
            release_counter: self.release_counter,
            targeting: serde_json::from_value(self.targeting)
                .map_err(|e| FleetError::invalid("campaigns.targeting", e.to_string()))?,
            canary_fraction: self.canary_fraction,
            waves: self.waves as u32,
            failure_threshold: self.failure_threshold,
            state: CampaignState::parse(&self.state)?,
            state_reason: self.state_reason,
            open_wave: self.open_wave as u32,
            vehicles,
            counts: total,
            by_wave,
            failure_rate: if outcomes > 0 {
                failures.max(0) as f64 / outcomes as f64
            } else {
                0.0
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}
