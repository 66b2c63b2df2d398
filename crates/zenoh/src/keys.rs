//! The key space: where a vehicle's signals, ECUs, providers and actuation live in
//! Zenoh (see `docs/adr/0003-zenoh-key-space.md`).
//!
//! ```text
//! tomoe/<vehicle>/vss/Vehicle/Speed              current value (put), queryable
//! tomoe/<vehicle>/ecu/<ecu>                      liveliness token of a bridge
//! tomoe/<vehicle>/provider/<ecu>/Vehicle/...     liveliness token: <ecu> provides this actuator
//! tomoe/<vehicle>/actuate/<ecu>                  queryable: actuate at <ecu>
//! tomoe/<vehicle>/telemetry/Vehicle/Speed        telemetry for the backend (policy-filtered)
//! tomoe/<vehicle>/command/actuate                queryable: a backend's actuation, JWT attached
//! tomoe/<vehicle>/command/get                    queryable: a backend's read, JWT attached
//! ```

use crate::BridgeError;

/// Longest vehicle id or ECU name.
pub const MAX_NAME_LEN: usize = 64;

/// What a name names, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A vehicle id.
    Vehicle,
    /// An ECU name.
    Ecu,
}

impl std::fmt::Display for NameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameKind::Vehicle => "vehicle id",
            NameKind::Ecu => "ECU name",
        })
    }
}

/// Checks that `name` is one key segment: 1 to 64 ASCII letters, digits, `-` or `_`.
pub fn check_name(kind: NameKind, name: &str) -> Result<(), BridgeError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(BridgeError::BadName {
            kind,
            name: name.chars().take(80).collect(),
        })
    }
}

/// The keys of one vehicle.
#[derive(Debug, Clone)]
pub struct KeySpace {
    root: String,
}

impl KeySpace {
    /// The key space of `vehicle` (already checked).
    pub fn new(vehicle: &str) -> KeySpace {
        KeySpace {
            root: format!("tomoe/{vehicle}"),
        }
    }

    /// The key of a signal's current value: dots become slashes.
    pub fn signal(&self, path: &str) -> String {
        format!("{}/vss/{}", self.root, path.replace('.', "/"))
    }

    /// Every signal of the vehicle.
    pub fn all_signals(&self) -> String {
        format!("{}/vss/**", self.root)
    }

    /// The VSS path of a signal key, or `None` when the key is not one.
    pub fn path_of_signal(&self, key: &str) -> Option<String> {
        let rest = key.strip_prefix(&self.root)?.strip_prefix("/vss/")?;
        (!rest.is_empty()).then(|| rest.replace('/', "."))
    }

    /// The liveliness token of a bridge.
    pub fn ecu(&self, ecu: &str) -> String {
        format!("{}/ecu/{ecu}", self.root)
    }

    /// Every bridge's liveliness token.
    pub fn all_ecus(&self) -> String {
        format!("{}/ecu/*", self.root)
    }

    /// The ECU named by a bridge token.
    pub fn ecu_of_token<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.root)?.strip_prefix("/ecu/")
    }

    /// The liveliness token that says `ecu` provides the actuator at `path`.
    pub fn provider(&self, ecu: &str, path: &str) -> String {
        format!("{}/provider/{ecu}/{}", self.root, path.replace('.', "/"))
    }

    /// Every provider token.
    pub fn all_providers(&self) -> String {
        format!("{}/provider/**", self.root)
    }

    /// The ECU and actuator path of a provider token.
    pub fn provider_of_token(&self, key: &str) -> Option<(String, String)> {
        let rest = key.strip_prefix(&self.root)?.strip_prefix("/provider/")?;
        let (ecu, path) = rest.split_once('/')?;
        Some((ecu.to_owned(), path.replace('/', ".")))
    }

    /// Where actuation requests for `ecu`'s actuators go.
    pub fn actuate(&self, ecu: &str) -> String {
        format!("{}/actuate/{ecu}", self.root)
    }

    /// The key a vehicle sends its signed version manifests to, as queries the
    /// backend answers.
    pub fn manifest(&self) -> String {
        format!("{}/manifest", self.root)
    }

    /// The key of a signal's telemetry samples.
    pub fn telemetry(&self, path: &str) -> String {
        format!("{}/telemetry/{}", self.root, path.replace('.', "/"))
    }

    /// The VSS path of a telemetry key, or `None` when the key is not one.
    pub fn path_of_telemetry(&self, key: &str) -> Option<String> {
        let rest = key.strip_prefix(&self.root)?.strip_prefix("/telemetry/")?;
        (!rest.is_empty()).then(|| rest.replace('/', "."))
    }

    /// Where a backend's commands of `kind` go.
    pub fn command(&self, kind: CommandKind) -> String {
        format!("{}/command/{}", self.root, kind.as_str())
    }

    /// Every command queryable.
    pub fn all_commands(&self) -> String {
        format!("{}/command/*", self.root)
    }

    /// The kind of command a key names.
    pub fn command_of(&self, key: &str) -> Option<CommandKind> {
        match key.strip_prefix(&self.root)?.strip_prefix("/command/")? {
            "actuate" => Some(CommandKind::Actuate),
            "get" => Some(CommandKind::Get),
            _ => None,
        }
    }
}

/// What a backend asks of a vehicle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// Actuate: the payload is a JSON object of paths and target values.
    Actuate,
    /// Read: the payload is a JSON array of paths; the answer an object of values.
    Get,
}

impl CommandKind {
    /// The last key segment.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Actuate => "actuate",
            CommandKind::Get => "get",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_paths_round_trip() {
        let keys = KeySpace::new("kona-1");
        let key = keys.signal("Vehicle.Speed");
        assert_eq!(key, "tomoe/kona-1/vss/Vehicle/Speed");
        assert_eq!(keys.path_of_signal(&key).as_deref(), Some("Vehicle.Speed"));
        assert_eq!(keys.path_of_signal("tomoe/other/vss/Vehicle/Speed"), None);
        assert_eq!(keys.path_of_signal("tomoe/kona-1/vss/"), None);
        assert_eq!(keys.ecu_of_token("tomoe/kona-1/ecu/zonal"), Some("zonal"));
        let token = keys.provider("zonal", "Vehicle.Body.Horn.IsActive");
        assert_eq!(
            keys.provider_of_token(&token),
            Some(("zonal".into(), "Vehicle.Body.Horn.IsActive".into()))
        );
        let telemetry = keys.telemetry("Vehicle.Speed");
        assert_eq!(telemetry, "tomoe/kona-1/telemetry/Vehicle/Speed");
        assert_eq!(
            keys.path_of_telemetry(&telemetry).as_deref(),
            Some("Vehicle.Speed")
        );
        let command = keys.command(CommandKind::Get);
        assert_eq!(command, "tomoe/kona-1/command/get");
        assert_eq!(keys.command_of(&command), Some(CommandKind::Get));
        assert_eq!(keys.command_of("tomoe/kona-1/command/reboot"), None);
    }

    #[test]
    fn names_are_single_plain_segments() {
        assert!(check_name(NameKind::Ecu, "zonal-front_1").is_ok());
        for bad in ["", "a/b", "*", "a b", "é", &"x".repeat(65)] {
            assert!(check_name(NameKind::Ecu, bad).is_err(), "{bad:?}");
        }
    }
}
