//! When an install may start: the vehicle mode, and the battery while charging.

use serde::{Deserialize, Serialize};

/// The vehicle conditions an install is gated on.
///
/// Mode names are those of `tomoe-modes` (`off`, `parked`, `charging`, `driving`,
/// `service`); the state of charge is in percent, as VSS
/// `Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleConditions {
    /// The current vehicle mode.
    pub mode: String,
    /// Whether the vehicle is charging.
    pub charging: bool,
    /// The state of charge in percent, if known.
    pub soc: Option<f64>,
}

/// Which vehicle conditions admit an install.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstallPolicy {
    /// The vehicle modes an install may start in. Unlike a workload's modes, an
    /// empty list admits no mode: installs are switched off.
    pub allowed_modes: Vec<String>,
    /// While charging, the state of charge (percent) an install needs; an unknown
    /// state of charge then waits too. `None`: charging sets no condition.
    pub min_soc_while_charging: Option<f64>,
}

impl Default for InstallPolicy {
    /// Installs run parked or charging, and while charging only from 20 % up.
    fn default() -> InstallPolicy {
        InstallPolicy {
            allowed_modes: vec!["parked".into(), "charging".into()],
            min_soc_while_charging: Some(20.0),
        }
    }
}

impl InstallPolicy {
    /// `Ok` if an install may start now, or why it must wait, such as
    /// `waiting: vehicle is driving; installs run in parked`.
    pub fn admits(&self, mode: &str, charging: bool, soc: Option<f64>) -> Result<(), String> {
        if self.allowed_modes.is_empty() {
            return Err("waiting: installs are switched off (no vehicle mode admits them)".into());
        }
        if !self.allowed_modes.iter().any(|allowed| allowed == mode) {
            return Err(format!(
                "waiting: vehicle is {mode}; installs run in {}",
                self.allowed_modes.join(" or ")
            ));
        }
        if let (true, Some(minimum)) = (charging, self.min_soc_while_charging) {
            match soc {
                None => {
                    return Err(format!(
                        "waiting: state of charge unknown while charging; installs need at least {minimum}%"
                    ))
                }
                Some(soc) if soc.is_nan() || soc < minimum => {
                    return Err(format!(
                        "waiting: state of charge {soc}% is below the {minimum}% installs need while charging"
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// [`InstallPolicy::admits`] for `conditions`.
    pub fn admits_conditions(&self, conditions: &VehicleConditions) -> Result<(), String> {
        self.admits(&conditions.mode, conditions.charging, conditions.soc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: &InstallPolicy, mode: &str, charging: bool, soc: Option<f64>, expect: &str) {
        let actual = match policy.admits(mode, charging, soc) {
            Ok(()) => "admitted".to_string(),
            Err(reason) => reason,
        };
        assert_eq!(actual, expect, "{mode} charging={charging} soc={soc:?}");
    }

    #[test]
    fn policy_gates_on_mode_and_charge() {
        let parked_only = InstallPolicy {
            allowed_modes: vec!["parked".into()],
            min_soc_while_charging: None,
        };
        check(&parked_only, "parked", false, None, "admitted");
        check(
            &parked_only,
            "driving",
            false,
            Some(80.0),
            "waiting: vehicle is driving; installs run in parked",
        );

        let policy = InstallPolicy::default();
        check(&policy, "parked", false, None, "admitted");
        check(&policy, "charging", true, Some(20.0), "admitted");
        check(
            &policy,
            "charging",
            true,
            Some(12.5),
            "waiting: state of charge 12.5% is below the 20% installs need while charging",
        );
        check(
            &policy,
            "charging",
            true,
            None,
            "waiting: state of charge unknown while charging; installs need at least 20%",
        );
        check(
            &policy,
            "service",
            false,
            None,
            "waiting: vehicle is service; installs run in parked or charging",
        );
        check(
            &InstallPolicy {
                allowed_modes: vec![],
                min_soc_while_charging: None,
            },
            "parked",
            false,
            None,
            "waiting: installs are switched off (no vehicle mode admits them)",
        );
    }
}
