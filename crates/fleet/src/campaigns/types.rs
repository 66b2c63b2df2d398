//! The vocabulary of campaigns: what an operator asks for, the states of a
//! campaign and of each of its vehicles, and how vehicles are split into waves.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::FleetError;

/// Most waves after the canary.
pub const MAX_WAVES: u32 = 100;

/// Largest page of a campaign's vehicle list.
pub const MAX_CAMPAIGN_PAGE: u32 = 1000;

/// What an operator asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignRequest {
    /// A name for people.
    pub name: String,
    /// The image's target name in the image repository.
    pub image: String,
    /// Which vehicles.
    #[serde(default)]
    pub targeting: Targeting,
    /// The share of the vehicles in the canary wave (0 < f ≤ 1); default 0.05.
    #[serde(default = "default_canary")]
    pub canary_fraction: f64,
    /// How many waves the rest is split into; default 3.
    #[serde(default = "default_waves")]
    pub waves: u32,
    /// The failure rate that pauses the campaign when passed (0 to 1); default 0.1.
    #[serde(default = "default_threshold")]
    pub failure_threshold: f64,
}

fn default_canary() -> f64 {
    0.05
}
fn default_waves() -> u32 {
    3
}
fn default_threshold() -> f64 {
    0.1
}

/// Which vehicles a campaign is for: every field given must match. The image's
/// hardware id always applies, and vehicles already at the image's release
/// counter or above are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targeting {
    /// This brand only.
    pub brand: Option<String>,
    /// This model only.
    pub model: Option<String>,
    /// This vehicle profile only.
    pub profile: Option<String>,
    /// ECUs of this hardware id (must be the image's, which is the default).
    pub hardware_id: Option<String>,
    /// ECUs running this image now (its target name), as their manifests report.
    pub current_version: Option<String>,
}

impl fmt::Display for Targeting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (name, value) in [
            ("brand", &self.brand),
            ("model", &self.model),
            ("profile", &self.profile),
            ("hardware id", &self.hardware_id),
            ("current version", &self.current_version),
        ] {
            if let Some(value) = value {
                parts.push(format!("{name} {value:?}"));
            }
        }
        if parts.is_empty() {
            f.write_str("any vehicle")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Where a campaign stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Offering its image wave by wave.
    Active,
    /// Offering nothing new (an operator, or the failure rate); vehicles already
    /// offered the image keep it.
    Paused,
    /// Stopped for good: what was not yet installed is withdrawn.
    Cancelled,
    /// Every wave was offered and every vehicle has an outcome.
    Completed,
}

impl CampaignState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CampaignState::Active => "active",
            CampaignState::Paused => "paused",
            CampaignState::Cancelled => "cancelled",
            CampaignState::Completed => "completed",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<CampaignState, FleetError> {
        Ok(match text {
            "active" => CampaignState::Active,
            "paused" => CampaignState::Paused,
            "cancelled" => CampaignState::Cancelled,
            "completed" => CampaignState::Completed,
            other => return Err(FleetError::invalid("campaigns.state", other.to_owned())),
        })
    }
}

impl fmt::Display for CampaignState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one vehicle of a campaign stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStatus {
    /// In a wave not offered yet.
    Waiting,
    /// The director assigns it the image.
    Offered,
    /// The vehicle reported downloading it.
    Downloading,
    /// The vehicle runs it.
    Installed,
    /// The vehicle installed it, it failed its health window, and the old image runs again.
    RolledBack,
    /// The update failed before the image ran.
    Failed,
    /// The campaign was cancelled before the vehicle installed it.
    Cancelled,
}

impl UpdateStatus {
    /// Every status, in the order of a rollout.
    pub const ALL: [UpdateStatus; 7] = [
        UpdateStatus::Waiting,
        UpdateStatus::Offered,
        UpdateStatus::Downloading,
        UpdateStatus::Installed,
        UpdateStatus::RolledBack,
        UpdateStatus::Failed,
        UpdateStatus::Cancelled,
    ];

    /// The name stored and sent: `waiting`, `offered`, `rolled_back`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::Waiting => "waiting",
            UpdateStatus::Offered => "offered",
            UpdateStatus::Downloading => "downloading",
            UpdateStatus::Installed => "installed",
            UpdateStatus::RolledBack => "rolled_back",
            UpdateStatus::Failed => "failed",
            UpdateStatus::Cancelled => "cancelled",
        }
    }

    /// Whether nothing changes it any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            UpdateStatus::Installed
                | UpdateStatus::RolledBack
                | UpdateStatus::Failed
                | UpdateStatus::Cancelled
        )
    }

    pub(crate) fn parse(text: &str) -> Result<UpdateStatus, FleetError> {
        UpdateStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| FleetError::invalid("status", format!("{text:?} is not an update status (waiting, offered, downloading, installed, rolled_back, failed, cancelled)")))
    }
}

impl fmt::Display for UpdateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for UpdateStatus {
    type Err = FleetError;
    fn from_str(text: &str) -> Result<UpdateStatus, FleetError> {
        UpdateStatus::parse(text)
    }
}

/// A campaign and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignStatus {
    /// The campaign's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The image's target name.
    pub image: String,
    /// The hardware id the image is built for.
    pub hardware_id: String,
    /// The image's release counter.
    pub release_counter: i64,
    /// Which vehicles it is for.
    pub targeting: Targeting,
    /// The canary wave's share.
    pub canary_fraction: f64,
    /// Waves after the canary.
    pub waves: u32,
    /// The failure rate that pauses it.
    pub failure_threshold: f64,
    /// Where it stands.
    pub state: CampaignState,
    /// Why it is paused or cancelled; empty otherwise.
    pub state_reason: String,
    /// The highest wave offered (0 is the canary).
    pub open_wave: u32,
    /// Vehicles targeted.
    pub vehicles: i64,
    /// Vehicles by status (every status listed, zeros included).
    pub counts: BTreeMap<UpdateStatus, i64>,
    /// Vehicles per wave, by status.
    pub by_wave: Vec<BTreeMap<UpdateStatus, i64>>,
    /// Failed and rolled back over outcomes (installed, failed, rolled back), since
    /// the last resume.
    pub failure_rate: f64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its state last changed.
    pub updated_at: DateTime<Utc>,
}

impl fmt::Display for CampaignStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = if self.state_reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.state_reason)
        };
        writeln!(
            f,
            "campaign {} \"{}\": {}{reason}",
            self.id, self.name, self.state
        )?;
        writeln!(
            f,
            "  image {} (hardware {}, release {}) for {}",
            self.image, self.hardware_id, self.release_counter, self.targeting
        )?;
        writeln!(
            f,
            "  {} vehicles, canary {:.0} % then {} waves; wave {} open; failure rate {:.1} % (pauses above {:.1} %)",
            self.vehicles,
            100.0 * self.canary_fraction,
            self.waves,
            self.open_wave,
            100.0 * self.failure_rate,
            100.0 * self.failure_threshold
        )?;
        let counts: Vec<String> = self
            .counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        write!(f, "  {}", counts.join(", "))
    }
}

/// One vehicle of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignVehicle {
    /// The vehicle.
    pub vehicle_id: String,
    /// The ECU the image is for.
    pub ecu_id: String,
    /// Its wave (0 is the canary).
    pub wave: u32,
    /// Where it stands.
    pub status: UpdateStatus,
    /// Why it failed or rolled back, as the vehicle said.
    pub reason: String,
    /// When it first fetched metadata offering the image.
    pub fetched_at: Option<DateTime<Utc>>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
}

/// An operator's action on a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignAction {
    /// Offer nothing new.
    Pause,
    /// Go on; the failures so far are acknowledged.
    Resume,
    /// Stop for good and withdraw what is not installed.
    Cancel,
}

impl CampaignRequest {
    /// Checks every field, naming the first that is wrong.
    pub fn check(&self) -> Result<(), FleetError> {
        if self.name.is_empty() || self.name.len() > 128 || self.name.chars().any(char::is_control)
        {
            return Err(FleetError::invalid(
                "name",
                "expected 1 to 128 bytes of printable text",
            ));
        }
        if self.image.is_empty() || self.image.len() > 255 {
            return Err(FleetError::invalid("image", "expected 1 to 255 bytes"));
        }
        if !(self.canary_fraction > 0.0 && self.canary_fraction <= 1.0) {
            return Err(FleetError::invalid(
                "canary_fraction",
                format!(
                    "{}: expected more than 0 and at most 1",
                    self.canary_fraction
                ),
            ));
        }
        if !(1..=MAX_WAVES).contains(&self.waves) {
            return Err(FleetError::invalid(
                "waves",
                format!("{}: expected 1 to {MAX_WAVES}", self.waves),
            ));
        }
        if !(0.0..=1.0).contains(&self.failure_threshold) {
            return Err(FleetError::invalid(
                "failure_threshold",
                format!("{}: expected 0 to 1", self.failure_threshold),
            ));
        }
        for (field, value) in [
            ("targeting.brand", &self.targeting.brand),
            ("targeting.model", &self.targeting.model),
            ("targeting.profile", &self.targeting.profile),
            ("targeting.hardware_id", &self.targeting.hardware_id),
            ("targeting.current_version", &self.targeting.current_version),
        ] {
            if let Some(value) = value {
                if value.is_empty() || value.len() > 255 || value.chars().any(char::is_control) {
                    return Err(FleetError::invalid(
                        field,
                        "expected 1 to 255 bytes of printable text",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The wave of each of `count` vehicles in draw order: the canary first, then
/// `waves` waves as equal as can be; no wave is empty.
pub fn plan_waves(count: usize, canary_fraction: f64, waves: u32) -> Vec<u32> {
    if count == 0 {
        return Vec::new();
    }
    let canary = ((count as f64 * canary_fraction).ceil() as usize).clamp(1, count);
    let rest = count - canary;
    let size = rest.div_ceil(waves.max(1) as usize).max(1);
    (0..count)
        .map(|index| {
            if index < canary {
                0
            } else {
                1 + ((index - canary) / size) as u32
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::plan_waves;

    #[test]
    fn waves_put_the_canary_first_and_split_the_rest_evenly() {
        let count = |plan: &[u32], wave| plan.iter().filter(|w| **w == wave).count();
        let plan = plan_waves(25, 0.2, 2);
        assert_eq!(
            (count(&plan, 0), count(&plan, 1), count(&plan, 2)),
            (5, 10, 10)
        );
        let plan = plan_waves(3, 0.01, 5);
        assert_eq!(plan, [0, 1, 2], "no empty wave, at least one canary");
        assert_eq!(plan_waves(4, 1.0, 3), [0, 0, 0, 0]);
        assert!(plan_waves(0, 0.5, 2).is_empty());
        let plan = plan_waves(1000, 0.05, 3);
        assert_eq!(count(&plan, 0), 50);
        assert_eq!(count(&plan, 3), 316);
    }
}
