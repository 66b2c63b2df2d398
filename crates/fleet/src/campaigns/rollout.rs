//! How a campaign moves: vehicles' manifests move their rows, and each move may
//! pause the campaign, offer its next wave or complete it.

use sqlx::{Postgres, Transaction};
use tomoe_ota::{InstallationStatus, VehicleManifest};

use super::{CampaignState, UpdateStatus};
use crate::FleetError;

/// Longest reason a vehicle gives that is kept, in characters.
const MAX_REASON_CHARS: usize = 1024;

/// A campaign row of the vehicle that its manifest may move.
#[derive(sqlx::FromRow)]
struct Row {
    campaign_id: i64,
    ecu_id: String,
    status: String,
    image: String,
    image_target: serde_json::Value,
}

/// Moves the campaign rows of `vehicle` along with what its manifest reports, then
/// re-evaluates each campaign touched. Runs inside the manifest's transaction,
/// which holds the vehicle's row. What would change is read first without a lock;
/// only a campaign with a change is locked (in id order, before its rows), and the
/// row is read again under the lock.
pub(crate) async fn apply_manifest(
    tx: &mut Transaction<'static, Postgres>,
    vehicle: &str,
    manifest: &VehicleManifest,
) -> Result<(), FleetError> {
    let rows: Vec<Row> = sqlx::query_as(ROWS)
        .bind(vehicle)
        .fetch_all(&mut **tx)
        .await?;
    let mut changed: Vec<i64> = rows
        .iter()
        .filter(|row| next_status(row, manifest).is_some())
        .map(|row| row.campaign_id)
        .collect();
    changed.sort_unstable();
    for campaign in changed {
        let state: String =
            sqlx::query_scalar("SELECT state FROM campaigns WHERE id = $1 FOR UPDATE")
                .bind(campaign)
                .fetch_one(&mut **tx)
                .await?;
        let row: Option<Row> = sqlx::query_as(&format!("{ROWS} AND cv.campaign_id = $2"))
            .bind(vehicle)
            .bind(campaign)
            .fetch_optional(&mut **tx)
            .await?;
        let Some((next, reason)) = row.as_ref().and_then(|row| next_status(row, manifest)) else {
            continue;
        };
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
        if CampaignState::parse(&state)? == CampaignState::Active {
            evaluate(tx, campaign).await?;
        }
    }
    Ok(())
}

/// The vehicle's rows a manifest may move: updates under way, and cancelled ones
/// (a vehicle may have installed the image just before the cancel).
const ROWS: &str = "SELECT cv.campaign_id, cv.ecu_id, cv.status, c.image, c.image_target
     FROM campaign_vehicles cv JOIN campaigns c ON c.id = cv.campaign_id
     WHERE cv.vehicle_id = $1 AND cv.status IN ('offered', 'downloading', 'cancelled')";

/// Where `manifest` moves `row`, and the vehicle's reason; `None` when it stays.
/// `installed` needs the ECU's own report of running the image (its file name and
/// SHA-256); the installation reports move the rest, the last one for the image
/// counting. A cancelled row only becomes installed.
fn next_status(row: &Row, manifest: &VehicleManifest) -> Option<(UpdateStatus, String)> {
    let current = UpdateStatus::parse(&row.status).ok()?;
    let sha256 = row
        .image_target
        .get("hashes")
        .and_then(|h| h.get("sha256"))
        .and_then(|h| h.as_str());
    let runs_image = manifest.ecu_version_reports.iter().any(|report| {
        report.ecu_identifier == row.ecu_id
            && report.installed_image.filename == row.image
            && report
                .installed_image
                .hashes
                .get("sha256")
                .zip(sha256)
                .is_some_and(|(reported, expected)| reported.eq_ignore_ascii_case(expected))
    });
    let next = if runs_image {
        (UpdateStatus::Installed, String::new())
    } else if current == UpdateStatus::Cancelled {
        return None;
    } else {
        let reported = manifest
            .installation_reports
            .iter()
            .rfind(|r| r.ecu_identifier == row.ecu_id && r.target == row.image)?;
        match reported.status {
            InstallationStatus::Downloading => (UpdateStatus::Downloading, String::new()),
            InstallationStatus::RolledBack => (UpdateStatus::RolledBack, clean(&reported.reason)),
            InstallationStatus::Failed => (UpdateStatus::Failed, clean(&reported.reason)),
            // Installed by its report but not by its ECU's: wait for the ECU.
            InstallationStatus::Installed => return None,
        }
    };
    (next.0 != current).then_some(next)
}

/// A vehicle's reason as kept: control characters (terminal escapes, NUL) as
/// spaces, at most [`MAX_REASON_CHARS`].
fn clean(reason: &str) -> String {
    reason
        .chars()
        .take(MAX_REASON_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Pauses an active campaign whose failure rate passed its threshold, or offers
/// its next wave when the open ones are done, or completes it.
///
/// The failure rate is failures over outcomes (installed, rolled back, failed),
/// both counted since the last resume. It is judged once as many outcomes as the
/// canary has vehicles came in since then, or when the open waves are done: a
/// first report alone does not pause a campaign, and a wave never opens while the
/// failures since the resume are too many.
pub(super) async fn evaluate(
    tx: &mut Transaction<'static, Postgres>,
    id: i64,
) -> Result<(), FleetError> {
    let (state, threshold, open_wave, baseline_failures, baseline_outcomes): (
        String,
        f64,
        i32,
        i32,
        i32,
    ) = sqlx::query_as(
        "SELECT state, failure_threshold, open_wave, baseline_failures, baseline_outcomes
         FROM campaigns WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    if CampaignState::parse(&state)? != CampaignState::Active {
        return Ok(());
    }
    let (outcomes, failures, unfinished, canary, last_wave): (i64, i64, i64, i64, i32) =
        sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status IN ('installed', 'failed', 'rolled_back')),
                    count(*) FILTER (WHERE status IN ('failed', 'rolled_back')),
                    count(*) FILTER (WHERE status IN ('offered', 'downloading')),
                    count(*) FILTER (WHERE wave = 0),
                    COALESCE(max(wave), 0)
             FROM campaign_vehicles WHERE campaign_id = $1",
        )
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    let failures = failures - i64::from(baseline_failures);
    let outcomes = outcomes - i64::from(baseline_outcomes);
    let judged = outcomes >= canary.max(1) || unfinished == 0;
    if judged && outcomes > 0 && failures as f64 / outcomes as f64 > threshold {
        let reason = format!(
            "failure rate {failures}/{outcomes} ({:.1} %) passed the threshold of {:.1} %",
            100.0 * failures as f64 / outcomes as f64,
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

#[cfg(test)]
mod tests {
    #[test]
    fn reasons_lose_control_characters_and_length() {
        assert_eq!(super::clean("bad\u{1b}[31m\0x"), "bad [31m x");
        assert_eq!(super::clean(&"x".repeat(5000)).len(), 1024);
    }
}
