//! How a campaign moves: vehicles' manifests move their rows, and each move may
//! pause the campaign, offer its next wave or complete it.

use sqlx::{Postgres, Transaction};
use tomoe_ota::{InstallationStatus, VehicleManifest};

use super::{CampaignState, UpdateStatus};
use crate::FleetError;

pub(crate) async fn apply_manifest(
    tx: &mut Transaction<'static, Postgres>,
    vehicle: &str,
    manifest: &VehicleManifest,
) -> Result<(), FleetError> {
    let campaigns: Vec<i64> = sqlx::query_scalar(
        "SELECT c.id FROM campaigns c
         WHERE c.state IN ('active', 'paused') AND EXISTS (
             SELECT 1 FROM campaign_vehicles cv WHERE cv.campaign_id = c.id
               AND cv.vehicle_id = $1 AND cv.status IN ('offered', 'downloading'))
         ORDER BY c.id FOR UPDATE",
    )
    .bind(vehicle)
    .fetch_all(&mut **tx)
    .await?;
    for campaign in campaigns {
        let (ecu, status, image, target): (String, String, String, serde_json::Value) =
            sqlx::query_as(
                "SELECT cv.ecu_id, cv.status, c.image, c.image_target
                 FROM campaign_vehicles cv JOIN campaigns c ON c.id = cv.campaign_id
                 WHERE cv.campaign_id = $1 AND cv.vehicle_id = $2",
            )
            .bind(campaign)
            .bind(vehicle)
            .fetch_one(&mut **tx)
            .await?;
        let current = UpdateStatus::parse(&status)?;
        let sha256 = target
            .get("hashes")
            .and_then(|h| h.get("sha256"))
            .and_then(|h| h.as_str())
            .map(str::to_owned);
        let runs_image = manifest.ecu_version_reports.iter().any(|report| {
            report.ecu_identifier == ecu
                && report.installed_image.filename == image
                && report.installed_image.hashes.get("sha256") == sha256.as_ref()
        });
        let reported = manifest
            .installation_reports
            .iter()
            .find(|r| r.ecu_identifier == ecu && r.target == image);
        let (next, reason) = if runs_image {
            (UpdateStatus::Installed, String::new())
        } else {
            match reported.map(|r| (r.status, r.reason.as_str())) {
                Some((InstallationStatus::Downloading, _)) => {
                    (UpdateStatus::Downloading, String::new())
                }
                Some((InstallationStatus::RolledBack, reason)) => (
                    UpdateStatus::RolledBack,
                    reason.chars().take(1024).collect(),
                ),
                Some((InstallationStatus::Failed, reason)) => {
                    (UpdateStatus::Failed, reason.chars().take(1024).collect())
                }
                // Installed by its report but not by its ECU's: wait for the ECU.
                Some((InstallationStatus::Installed, _)) | None => continue,
            }
        };
        if next == current {
            continue;
        }
        sqlx::query(
            "UPDATE campaign_vehicles SET status = $3, reason = $4, updated_at = now()
             WHERE campaign_id = $1 AND vehicle_id = $2",
        )
        .bind(campaign)
        .bind(vehicle)
        .bind(next.as_str())
        .bind(&reason)
        .execute(&mut **tx)
        .await?;
        tracing::info!(campaign, vehicle, status = %next, reason, "update status");
        evaluate(tx, campaign).await?;
    }
    Ok(())
}

/// Pauses an active campaign whose failure rate passed its threshold, or offers
/// its next wave when the open ones are done, or completes it.
pub(super) async fn evaluate(
    tx: &mut Transaction<'static, Postgres>,
    id: i64,
) -> Result<(), FleetError> {
    let (state, threshold, open_wave, baseline_failures, baseline_offered): (
        String,
        f64,
        i32,
        i32,
        i32,
    ) = sqlx::query_as(
        "SELECT state, failure_threshold, open_wave, baseline_failures, baseline_offered
         FROM campaigns WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    if CampaignState::parse(&state)? != CampaignState::Active {
        return Ok(());
    }
    let (offered, failures, unfinished, last_wave): (i64, i64, i64, i32) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status NOT IN ('waiting', 'cancelled')),
                count(*) FILTER (WHERE status IN ('failed', 'rolled_back')),
                count(*) FILTER (WHERE status IN ('offered', 'downloading')),
                COALESCE(max(wave), 0)
         FROM campaign_vehicles WHERE campaign_id = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    let (failures, offered) = (
        failures - i64::from(baseline_failures),
        offered - i64::from(baseline_offered),
    );
    if offered > 0 && failures as f64 / offered as f64 > threshold {
        let reason = format!(
            "failure rate {failures}/{offered} ({:.1} %) passed the threshold of {:.1} %",
            100.0 * failures as f64 / offered as f64,
            100.0 * threshold
        );
        tracing::warn!(campaign = id, reason, "campaign paused");
        return set_state(tx, id, CampaignState::Paused, &reason).await;
    }
    if unfinished > 0 {
        return Ok(());
    }
    if open_wave >= last_wave {
        return set_state(tx, id, CampaignState::Completed, "").await;
    }
    sqlx::query(
        "UPDATE campaign_vehicles SET status = 'offered', updated_at = now()
         WHERE campaign_id = $1 AND wave = $2 AND status = 'waiting'",
    )
    .bind(id)
    .bind(open_wave + 1)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE campaigns SET open_wave = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(open_wave + 1)
        .execute(&mut **tx)
        .await?;
    tracing::info!(campaign = id, wave = open_wave + 1, "offered the next wave");
    Ok(())
}

pub(super) async fn set_state(
    tx: &mut Transaction<'static, Postgres>,
    id: i64,
    state: CampaignState,
    reason: &str,
) -> Result<(), FleetError> {
    sqlx::query(
        "UPDATE campaigns SET state = $2, state_reason = $3, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(state.as_str())
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
