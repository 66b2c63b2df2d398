//! The vehicle modes and their names.

use std::fmt;
use std::str::FromStr;

use crate::ModeError;

/// The mode the vehicle is in, as published on `Vehicle.Tomoe.Mode`.
///
/// The string forms are the allowed values of `Vehicle.Tomoe.Mode` in the Tomoe
/// overlay: `OFF`, `PARKED`, `CHARGING`, `DRIVING` and `SERVICE`. Parsing (and
/// deserializing, for manifests and profiles) ignores ASCII case.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Mode {
    /// Ignition off and not charging: the vehicle sleeps.
    Off,
    /// Standing still, ignition on or in accessory.
    Parked,
    /// The traction battery is charging.
    Charging,
    /// Moving, or in a driving gear and rolling.
    Driving,
    /// Serviced in a workshop, at the request of an entitled workload.
    Service,
}

impl Mode {
    /// Every mode, in declaration order.
    pub const ALL: [Mode; 5] = [
        Mode::Off,
        Mode::Parked,
        Mode::Charging,
        Mode::Driving,
        Mode::Service,
    ];

    /// The VSS string form (`OFF`, `PARKED`, `CHARGING`, `DRIVING`, `SERVICE`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "OFF",
            Mode::Parked => "PARKED",
            Mode::Charging => "CHARGING",
            Mode::Driving => "DRIVING",
            Mode::Service => "SERVICE",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = ModeError;

    fn from_str(text: &str) -> Result<Mode, ModeError> {
        Mode::ALL
            .into_iter()
            .find(|mode| mode.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| ModeError::UnknownMode {
                name: text.to_owned(),
            })
    }
}

impl TryFrom<String> for Mode {
    type Error = ModeError;

    fn try_from(text: String) -> Result<Mode, ModeError> {
        text.parse()
    }
}

impl From<Mode> for &'static str {
    fn from(mode: Mode) -> &'static str {
        mode.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for mode in Mode::ALL {
            assert_eq!(mode.as_str().parse::<Mode>().unwrap(), mode);
            assert_eq!(mode.to_string(), mode.as_str());
        }
        assert_eq!("parked".parse::<Mode>().unwrap(), Mode::Parked);
    }

    #[test]
    fn unknown_name_is_named() {
        let error = "FLYING".parse::<Mode>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown vehicle mode \"FLYING\" (expected OFF, PARKED, CHARGING, DRIVING or SERVICE)"
        );
    }

    #[test]
    fn serde_uses_the_names() {
        #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
        struct Manifest {
            modes: Vec<Mode>,
        }
        let manifest: Manifest = toml::from_str("modes = [\"parked\", \"CHARGING\"]").unwrap();
        assert_eq!(manifest.modes, [Mode::Parked, Mode::Charging]);
        assert_eq!(
            toml::to_string(&manifest).unwrap().trim(),
            "modes = [\"PARKED\", \"CHARGING\"]"
        );
        assert!(toml::from_str::<Manifest>("modes = [\"FLYING\"]").is_err());
    }

    #[test]
    fn modes_match_the_tomoe_overlay() {
        let catalog = tomoe_vss::default_catalog().unwrap();
        let leaf = catalog.leaf(crate::MODE_PATH).unwrap();
        let allowed: Vec<String> = leaf.allowed.iter().map(|v| v.to_string()).collect();
        let ours: Vec<String> = Mode::ALL.iter().map(|m| m.to_string()).collect();
        assert_eq!(allowed, ours);
    }
}
