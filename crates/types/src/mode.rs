//! The vehicle modes.

use crate::names::string_enum;

/// The mode the vehicle is in, as published on `Vehicle.Tomoe.Mode`.
///
/// The string forms are the allowed values of `Vehicle.Tomoe.Mode` in the Tomoe
/// overlay: `OFF`, `PARKED`, `CHARGING`, `DRIVING` and `SERVICE`. Parsing (and
/// deserializing, for manifests, profiles and install policies) ignores ASCII case.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "&'static str")]
pub enum VehicleMode {
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

impl VehicleMode {
    /// Every mode, in declaration order.
    pub const ALL: [VehicleMode; 5] = [
        VehicleMode::Off,
        VehicleMode::Parked,
        VehicleMode::Charging,
        VehicleMode::Driving,
        VehicleMode::Service,
    ];

    /// The VSS string form (`OFF`, `PARKED`, `CHARGING`, `DRIVING`, `SERVICE`).
    pub fn as_str(self) -> &'static str {
        match self {
            VehicleMode::Off => "OFF",
            VehicleMode::Parked => "PARKED",
            VehicleMode::Charging => "CHARGING",
            VehicleMode::Driving => "DRIVING",
            VehicleMode::Service => "SERVICE",
        }
    }
}

string_enum!(VehicleMode, "vehicle mode");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for mode in VehicleMode::ALL {
            assert_eq!(mode.as_str().parse::<VehicleMode>().unwrap(), mode);
            assert_eq!(mode.to_string(), mode.as_str());
        }
        assert_eq!(
            "parked".parse::<VehicleMode>().unwrap(),
            VehicleMode::Parked
        );
    }

    #[test]
    fn unknown_name_is_named() {
        let error = "FLYING".parse::<VehicleMode>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown vehicle mode \"FLYING\" (expected OFF, PARKED, CHARGING, DRIVING or SERVICE)"
        );
    }

    #[test]
    fn serde_uses_the_names() {
        #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
        struct Manifest {
            modes: Vec<VehicleMode>,
        }
        let manifest: Manifest = toml::from_str("modes = [\"parked\", \"CHARGING\"]").unwrap();
        assert_eq!(manifest.modes, [VehicleMode::Parked, VehicleMode::Charging]);
        assert_eq!(
            toml::to_string(&manifest).unwrap().trim(),
            "modes = [\"PARKED\", \"CHARGING\"]"
        );
        assert!(toml::from_str::<Manifest>("modes = [\"FLYING\"]").is_err());
    }
}
