//! Thresholds, dwell time and input signals of the mode derivation.

use std::time::Duration;

use serde::Deserialize;

use crate::ModeError;

/// Settings of the mode derivation, as read from the optional `[modes]` table of a
/// vehicle profile. Every field has a default, so an empty table (or none) works:
///
/// ```toml
/// [modes]
/// driving_speed_kmh = 3.0    # enter DRIVING above this speed
/// parked_speed_kmh = 0.5     # leave DRIVING only below this speed
/// min_dwell_ms = 2000        # a new mode must hold this long before it is adopted
///
/// [modes.inputs]             # the VSS paths read; "" leaves an input out
/// speed = "Vehicle.Speed"
/// selected_gear = "Vehicle.Powertrain.Transmission.SelectedGear"
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModeConfig {
    /// Above this speed (km/h) the vehicle is driving, whatever the gear.
    pub driving_speed_kmh: f64,
    /// Below this speed (km/h) the vehicle may leave DRIVING; in a driving gear it
    /// enters DRIVING above it. Must be below `driving_speed_kmh` (hysteresis).
    pub parked_speed_kmh: f64,
    /// How long (milliseconds) a new mode must hold before it is adopted.
    pub min_dwell_ms: u64,
    /// The signals the derivation reads.
    pub inputs: InputPaths,
}

impl Default for ModeConfig {
    fn default() -> ModeConfig {
        ModeConfig {
            driving_speed_kmh: 3.0,
            parked_speed_kmh: 0.5,
            min_dwell_ms: 2000,
            inputs: InputPaths::default(),
        }
    }
}

impl ModeConfig {
    /// The dwell time as a duration.
    pub fn min_dwell(&self) -> Duration {
        Duration::from_millis(self.min_dwell_ms)
    }

    /// Checks the thresholds: finite, not negative, and `parked_speed_kmh` below
    /// `driving_speed_kmh`.
    pub fn validate(&self) -> Result<(), ModeError> {
        let invalid = |reason: String| Err(ModeError::InvalidConfig { reason });
        for (name, value) in [
            ("driving_speed_kmh", self.driving_speed_kmh),
            ("parked_speed_kmh", self.parked_speed_kmh),
        ] {
            if !value.is_finite() || value < 0.0 {
                return invalid(format!(
                    "{name} must be a speed of 0 km/h or more, got {value}"
                ));
            }
        }
        if self.parked_speed_kmh >= self.driving_speed_kmh {
            return invalid(format!(
                "parked_speed_kmh ({}) must be below driving_speed_kmh ({})",
                self.parked_speed_kmh, self.driving_speed_kmh
            ));
        }
        Ok(())
    }
}

/// The VSS paths the derivation reads. An empty string leaves that input out: it
/// stays unknown, as if the vehicle never published it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InputPaths {
    /// Vehicle speed in km/h (a numeric sensor). Default `Vehicle.Speed`.
    pub speed: String,
    /// The selected gear (integer; 126 Park, 127 Drive, negative Reverse, 0
    /// Neutral, 1 and up forward gears). Default
    /// `Vehicle.Powertrain.Transmission.SelectedGear`.
    pub selected_gear: String,
    /// The gear engaged (integer; 0 Neutral or Park, negative Reverse, 1 and up
    /// forward), used when the selected gear is unknown. Default
    /// `Vehicle.Powertrain.Transmission.CurrentGear`.
    pub current_gear: String,
    /// Whether the park lock is engaged (boolean), used when the selected gear is
    /// unknown. Default `Vehicle.Powertrain.Transmission.IsParkLockEngaged`.
    pub park_lock: String,
    /// Whether the traction battery is charging (boolean). Default
    /// `Vehicle.Powertrain.TractionBattery.Charging.IsCharging`.
    pub charging: String,
    /// The low-voltage system state, VSS's ignition (string: `UNDEFINED`, `LOCK`,
    /// `OFF`, `ACC`, `ON`, `START`). Default `Vehicle.LowVoltageSystemState`.
    pub ignition: String,
    /// The mode request actuator (string target: `SERVICE` or `NONE`). Default
    /// `Vehicle.Tomoe.ModeRequest`.
    pub mode_request: String,
}

impl Default for InputPaths {
    fn default() -> InputPaths {
        InputPaths {
            speed: "Vehicle.Speed".into(),
            selected_gear: "Vehicle.Powertrain.Transmission.SelectedGear".into(),
            current_gear: "Vehicle.Powertrain.Transmission.CurrentGear".into(),
            park_lock: "Vehicle.Powertrain.Transmission.IsParkLockEngaged".into(),
            charging: "Vehicle.Powertrain.TractionBattery.Charging.IsCharging".into(),
            ignition: "Vehicle.LowVoltageSystemState".into(),
            mode_request: crate::MODE_REQUEST_PATH.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Profile {
        #[serde(default)]
        modes: ModeConfig,
    }

    #[test]
    fn profile_table_with_defaults() {
        let profile: Profile = toml::from_str(
            "[modes]\nmin_dwell_ms = 500\n[modes.inputs]\nspeed = \"Vehicle.OBD.Speed\"\ncurrent_gear = \"\"\n",
        )
        .unwrap();
        let config = profile.modes;
        assert_eq!(config.min_dwell(), Duration::from_millis(500));
        assert_eq!(config.driving_speed_kmh, 3.0);
        assert_eq!(config.inputs.speed, "Vehicle.OBD.Speed");
        assert_eq!(config.inputs.current_gear, "");
        assert_eq!(config.inputs.charging, InputPaths::default().charging);

        let absent: Profile = toml::from_str("").unwrap();
        assert_eq!(absent.modes, ModeConfig::default());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = toml::from_str::<Profile>("[modes]\ndriving_speed = 3.0\n")
            .err()
            .unwrap();
        assert!(error.to_string().contains("driving_speed"), "{error}");
    }

    #[test]
    fn thresholds_are_checked() {
        assert!(ModeConfig::default().validate().is_ok());
        let inverted = ModeConfig {
            parked_speed_kmh: 5.0,
            ..ModeConfig::default()
        };
        assert_eq!(
            inverted.validate().unwrap_err().to_string(),
            "invalid mode configuration: parked_speed_kmh (5) must be below driving_speed_kmh (3)"
        );
        let negative = ModeConfig {
            parked_speed_kmh: -1.0,
            ..ModeConfig::default()
        };
        assert!(negative.validate().is_err());
        let nan = ModeConfig {
            driving_speed_kmh: f64::NAN,
            ..ModeConfig::default()
        };
        assert!(nan.validate().is_err());
    }
}
