//! What a bridge exports, imports and whom it talks to: a TOML file plus flags.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use tomoe_vss::PathPattern;

use crate::keys::{check_name, NameKind};
use crate::BridgeError;

/// Largest bridge configuration file read.
pub const MAX_CONFIG_BYTES: u64 = 256 * 1024;

/// Default link lease: a peer that sends nothing for this long is gone. Zenoh's own
/// default (10 s) is too slow for the 2 s in which a vehicle must notice a lost ECU.
pub const DEFAULT_LEASE_MS: u64 = 1000;

/// The Zenoh role of this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZenohMode {
    /// Talks to the peers it connects to or that connect to it (the default).
    #[default]
    Peer,
    /// Talks only through the one router or peer it connects to.
    Client,
    /// Routes between other instances (a backend, a central gateway).
    Router,
}

impl ZenohMode {
    /// The mode's name in Zenoh's configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            ZenohMode::Peer => "peer",
            ZenohMode::Client => "client",
            ZenohMode::Router => "router",
        }
    }
}

impl FromStr for ZenohMode {
    type Err = String;

    fn from_str(text: &str) -> Result<ZenohMode, String> {
        match text {
            "peer" => Ok(ZenohMode::Peer),
            "client" => Ok(ZenohMode::Client),
            "router" => Ok(ZenohMode::Router),
            other => Err(format!(
                "unknown Zenoh mode {other:?}: expected peer, client or router"
            )),
        }
    }
}

/// Whether a Zenoh endpoint (`tcp/127.0.0.1:7447`) listens on loopback only.
pub fn is_loopback_endpoint(endpoint: &str) -> bool {
    ["tcp/127.", "tcp/[::1]", "tcp/localhost:"]
        .iter()
        .any(|prefix| endpoint.starts_with(prefix))
}

/// The part an ECU plays in a vehicle split across two computers (`tomoe up --ecu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcuRole {
    /// Owns the CAN buses: vehicle signals, the CAN write-back's actuators. Exports
    /// `Vehicle.**` and imports `Vehicle.Tomoe.**` (mode, app results) from `central`.
    Zonal,
    /// Runs the state manager, the app runtime and the apps. Exports
    /// `Vehicle.Tomoe.**` and imports `Vehicle.**` from `zonal`.
    Central,
}

impl EcuRole {
    /// The role's name, also the ECU's default name.
    pub fn as_str(self) -> &'static str {
        match self {
            EcuRole::Zonal => "zonal",
            EcuRole::Central => "central",
        }
    }
}

/// What a user asks of a bridge on the command line; [`BridgeOptions::resolve`]
/// turns it into a [`BridgeConfig`].
#[derive(Debug, Clone, Default)]
pub struct BridgeOptions {
    /// Endpoints to listen on.
    pub listen: Vec<String>,
    /// Endpoints to connect to.
    pub connect: Vec<String>,
    /// Zenoh role; overrides the file's.
    pub mode: Option<ZenohMode>,
    /// A bridge file with rules and endpoints.
    pub file: Option<PathBuf>,
    /// The vehicle's id.
    pub vehicle_id: Option<String>,
    /// This ECU's name.
    pub ecu_name: Option<String>,
    /// Allow listening on endpoints other than loopback (`--insecure-zenoh`): the
    /// bridge's keys carry no token, so anyone reaching such an endpoint could read
    /// signals and actuate.
    pub insecure: bool,
}

impl BridgeOptions {
    /// The bridge these options ask for; `None` when they name no endpoint and no
    /// file. `role` adds its rules and names the ECU unless a name is given; the
    /// vehicle id is the one given, else `default_vehicle`, else the one kept in
    /// `data_dir` (created the first time). Flags add to the file's endpoints and
    /// override its mode. A listen endpoint off loopback, from a flag or the file, is
    /// refused ([`BridgeError::InsecureListen`]) unless `insecure` is set.
    pub fn resolve(
        &self,
        data_dir: &Path,
        role: Option<EcuRole>,
        default_vehicle: Option<&str>,
    ) -> Result<Option<BridgeConfig>, BridgeError> {
        if self.listen.is_empty() && self.connect.is_empty() && self.file.is_none() {
            return Ok(None);
        }
        let vehicle = match (&self.vehicle_id, default_vehicle) {
            (Some(id), _) => id.clone(),
            (None, Some(id)) => id.to_owned(),
            (None, None) => crate::load_or_create_vehicle_id(data_dir)?,
        };
        let ecu = match (&self.ecu_name, role) {
            (Some(name), _) => name.as_str(),
            (None, Some(role)) => role.as_str(),
            (None, None) => "main",
        };
        let mut config = BridgeConfig::new(&vehicle, ecu)?;
        if let Some(role) = role {
            config.add_role_rules(role);
        }
        if let Some(file) = &self.file {
            config.merge_file(file)?;
        }
        if let Some(mode) = self.mode {
            config.mode = mode;
        }
        config.listen.extend(self.listen.iter().cloned());
        config.connect.extend(self.connect.iter().cloned());
        if let Some(endpoint) = (config.listen.iter()).find(|e| !is_loopback_endpoint(e)) {
            if !self.insecure {
                return Err(BridgeError::InsecureListen {
                    endpoint: endpoint.clone(),
                });
            }
            tracing::warn!(
                endpoint,
                "the Zenoh bridge listens off loopback without authentication (--insecure-zenoh)"
            );
        }
        Ok(Some(config))
    }
}

/// Signals this ECU accepts from one other ECU.
#[derive(Debug, Clone)]
pub struct ImportRule {
    /// The sending ECU's name.
    pub from: String,
    /// The paths it may provide here.
    pub paths: Vec<PathPattern>,
}

/// The configuration of one bridge.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// The vehicle this ECU belongs to; the first segment of every key after `tomoe`.
    pub vehicle_id: String,
    /// This ECU's name within the vehicle, unique among its ECUs.
    pub ecu: String,
    /// Zenoh role.
    pub mode: ZenohMode,
    /// Endpoints to listen on, for example `tcp/127.0.0.1:7447`.
    pub listen: Vec<String>,
    /// Endpoints to connect to (retried until they answer).
    pub connect: Vec<String>,
    /// Signals whose current values this ECU publishes, and whose actuators (where
    /// a provider here claimed them) other ECUs may actuate.
    pub export: Vec<PathPattern>,
    /// Signals taken from other ECUs. A path this ECU exports is never imported.
    pub import: Vec<ImportRule>,
    /// Link lease in milliseconds: how soon a silent peer counts as gone.
    pub lease_ms: u64,
}

impl BridgeConfig {
    /// A configuration that exports and imports nothing yet.
    pub fn new(vehicle_id: &str, ecu: &str) -> Result<BridgeConfig, BridgeError> {
        check_name(NameKind::Vehicle, vehicle_id)?;
        check_name(NameKind::Ecu, ecu)?;
        Ok(BridgeConfig {
            vehicle_id: vehicle_id.to_owned(),
            ecu: ecu.to_owned(),
            mode: ZenohMode::Peer,
            listen: Vec::new(),
            connect: Vec::new(),
            export: Vec::new(),
            import: Vec::new(),
            lease_ms: DEFAULT_LEASE_MS,
        })
    }

    /// Adds the rules of `role`: what it exports and what it imports from the other.
    pub fn add_role_rules(&mut self, role: EcuRole) {
        let (export, from, import) = match role {
            EcuRole::Zonal => ("Vehicle.**", EcuRole::Central, "Vehicle.Tomoe.**"),
            EcuRole::Central => ("Vehicle.Tomoe.**", EcuRole::Zonal, "Vehicle.**"),
        };
        let pattern = |text| PathPattern::parse(text).expect("a valid built-in pattern");
        self.export.push(pattern(export));
        self.import.push(ImportRule {
            from: from.as_str().to_owned(),
            paths: vec![pattern(import)],
        });
    }

    /// Adds the export and import rules (and endpoints) of a TOML file; see
    /// `docs/distribution.md` for its format.
    pub fn merge_file(&mut self, path: &Path) -> Result<(), BridgeError> {
        let size = std::fs::metadata(path)
            .map_err(|source| BridgeError::Io {
                path: path.to_owned(),
                source,
            })?
            .len();
        if size > MAX_CONFIG_BYTES {
            return Err(BridgeError::Config {
                path: path.to_owned(),
                message: format!("{size} bytes, more than the {MAX_CONFIG_BYTES} allowed"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| BridgeError::Io {
            path: path.to_owned(),
            source,
        })?;
        self.merge_str(&text)
            .map_err(|message| BridgeError::Config {
                path: path.to_owned(),
                message,
            })
    }

    /// Adds the rules of a configuration text (the file format).
    pub fn merge_str(&mut self, text: &str) -> Result<(), String> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(mode) = file.mode {
            self.mode = mode;
        }
        if let Some(lease) = file.lease_ms {
            if !(100..=60_000).contains(&lease) {
                return Err(format!("lease_ms = {lease}: expected 100 to 60000"));
            }
            self.lease_ms = lease;
        }
        self.listen.extend(file.listen);
        self.connect.extend(file.connect);
        for pattern in file.export {
            self.export.push(parse_pattern(&pattern, "export")?);
        }
        for rule in file.import {
            check_name(NameKind::Ecu, &rule.from).map_err(|e| e.to_string())?;
            let paths = rule
                .paths
                .iter()
                .map(|p| parse_pattern(p, "import"))
                .collect::<Result<Vec<_>, _>>()?;
            self.import.push(ImportRule {
                from: rule.from,
                paths,
            });
        }
        Ok(())
    }

    /// Whether `ecu` may provide `path` here: one of its import rules selects it and
    /// this ECU does not export it.
    pub fn may_import(&self, ecu: &str, path: &str) -> bool {
        ecu != self.ecu
            && !self.exports(path)
            && self
                .import
                .iter()
                .any(|rule| rule.from == ecu && rule.paths.iter().any(|p| p.selects(path)))
    }

    /// Whether this ECU exports `path`. Where an export pattern and an import rule
    /// both select a path, the more specific pattern decides (an exact path beats a
    /// wildcard, a longer fixed prefix beats a shorter one; a tie exports): a zonal
    /// ECU can export `Vehicle.**` and still import the one range value the central
    /// ECU computes.
    pub fn exports(&self, path: &str) -> bool {
        let Some(export) = most_specific(self.export.iter(), path) else {
            return false;
        };
        let import = most_specific(self.import.iter().flat_map(|rule| rule.paths.iter()), path);
        import.is_none_or(|import| export >= import)
    }
}

/// How specific the most specific of `patterns` that selects `path` is: the number of
/// fixed segments before any wildcard, or the most of all for the exact path.
fn most_specific<'p>(patterns: impl Iterator<Item = &'p PathPattern>, path: &str) -> Option<usize> {
    patterns
        .filter(|pattern| pattern.selects(path))
        .map(|pattern| {
            if pattern.has_wildcard() {
                pattern
                    .as_str()
                    .split('.')
                    .take_while(|segment| !segment.contains('*'))
                    .count()
            } else if pattern.as_str() == path {
                usize::MAX
            } else {
                pattern.as_str().split('.').count()
            }
        })
        .max()
}

impl std::fmt::Display for BridgeConfig {
    /// One line for a banner: vehicle, ECU, mode and endpoints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |endpoints: &[String]| match endpoints {
            [] => "none".to_owned(),
            some => some.join(", "),
        };
        write!(
            f,
            "vehicle {}, ECU {} ({}; listen {}; connect {})",
            self.vehicle_id,
            self.ecu,
            self.mode.as_str(),
            list(&self.listen),
            list(&self.connect)
        )
    }
}

fn parse_pattern(text: &str, what: &str) -> Result<PathPattern, String> {
    PathPattern::parse(text).map_err(|e| format!("{what} pattern {text:?}: {e}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    mode: Option<ZenohMode>,
    lease_ms: Option<u64>,
    #[serde(default)]
    listen: Vec<String>,
    #[serde(default)]
    connect: Vec<String>,
    #[serde(default)]
    export: Vec<String>,
    #[serde(default)]
    import: Vec<ImportFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportFile {
    from: String,
    paths: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_adds_rules_and_exports_win_over_imports() {
        let mut config = BridgeConfig::new("kona-1", "central").unwrap();
        config
            .merge_str(
                r#"
                mode = "client"
                connect = ["tcp/127.0.0.1:7447"]
                export = ["Vehicle.Powertrain.TractionBattery.Range"]
                [[import]]
                from = "zonal"
                paths = ["Vehicle.**"]
                "#,
            )
            .unwrap();
        assert_eq!(config.mode, ZenohMode::Client);
        assert!(config.may_import("zonal", "Vehicle.Speed"));
        assert!(!config.may_import("zonal", "Vehicle.Powertrain.TractionBattery.Range"));
        assert!(!config.may_import("rear", "Vehicle.Speed"));
        assert!(!config.may_import("central", "Vehicle.Speed"));
        assert!(config.exports("Vehicle.Powertrain.TractionBattery.Range"));
        assert!(!config.exports("Vehicle.Speed"));
    }

    #[test]
    fn the_more_specific_pattern_decides_between_export_and_import() {
        let mut zonal = BridgeConfig::new("kona-1", "zonal").unwrap();
        zonal
            .merge_str(
                "export = [\"Vehicle.**\"]\n[[import]]\nfrom = \"central\"\n\
                 paths = [\"Vehicle.Powertrain.TractionBattery.Range\", \"Vehicle.Cabin.*\"]",
            )
            .unwrap();
        assert!(zonal.exports("Vehicle.Speed"));
        assert!(!zonal.exports("Vehicle.Powertrain.TractionBattery.Range"));
        assert!(zonal.may_import("central", "Vehicle.Powertrain.TractionBattery.Range"));
        assert!(!zonal.may_import("central", "Vehicle.Speed"));
    }

    #[test]
    fn the_two_roles_split_the_vehicle_between_them() {
        let mut zonal = BridgeConfig::new("kona-1", "zonal").unwrap();
        zonal.add_role_rules(EcuRole::Zonal);
        let mut central = BridgeConfig::new("kona-1", "central").unwrap();
        central.add_role_rules(EcuRole::Central);
        for path in [
            "Vehicle.Speed",
            "Vehicle.Tomoe.Mode",
            "Vehicle.Tomoe.RangeEstimate",
        ] {
            assert_ne!(zonal.exports(path), central.exports(path), "{path}");
            assert_eq!(
                zonal.exports(path),
                central.may_import("zonal", path),
                "{path}"
            );
            assert_eq!(
                central.exports(path),
                zonal.may_import("central", path),
                "{path}"
            );
        }
    }

    #[test]
    fn options_name_the_ecu_and_flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(BridgeOptions::default()
            .resolve(dir.path(), None, None)
            .unwrap()
            .is_none());
        let file = dir.path().join("bridge.toml");
        std::fs::write(
            &file,
            "mode = \"client\"\nconnect = [\"tcp/127.0.0.1:7447\"]",
        )
        .unwrap();
        let options = BridgeOptions {
            file: Some(file),
            mode: Some(ZenohMode::Router),
            listen: vec!["tcp/127.0.0.1:7448".into()],
            ..BridgeOptions::default()
        };
        let config = options
            .resolve(dir.path(), Some(EcuRole::Zonal), Some("kona-1"))
            .unwrap()
            .unwrap();
        assert_eq!(
            config.to_string(),
            "vehicle kona-1, ECU zonal (router; listen tcp/127.0.0.1:7448; connect tcp/127.0.0.1:7447)"
        );
        let plain = options.resolve(dir.path(), None, None).unwrap().unwrap();
        assert_eq!(plain.ecu, "main");
        assert!(plain.vehicle_id.starts_with("tomoe-"));
    }

    #[test]
    fn listening_off_loopback_needs_the_insecure_flag() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bridge.toml");
        std::fs::write(&file, "listen = [\"tcp/0.0.0.0:7447\"]").unwrap();
        let from_flag = BridgeOptions {
            listen: vec!["tcp/127.0.0.1:7447".into(), "tcp/10.0.0.2:7447".into()],
            vehicle_id: Some("kona-1".into()),
            ..BridgeOptions::default()
        };
        let from_file = BridgeOptions {
            file: Some(file),
            vehicle_id: Some("kona-1".into()),
            ..BridgeOptions::default()
        };
        for (options, endpoint) in [
            (from_flag, "tcp/10.0.0.2:7447"),
            (from_file, "tcp/0.0.0.0:7447"),
        ] {
            let error = options.resolve(dir.path(), None, None).unwrap_err();
            assert!(
                matches!(&error, BridgeError::InsecureListen { endpoint: e } if e == endpoint),
                "{error:?}"
            );
            let message = error.to_string();
            assert!(
                message.contains(endpoint) && message.contains("--insecure-zenoh"),
                "{message}"
            );
            let insecure = BridgeOptions {
                insecure: true,
                ..options
            };
            let config = insecure.resolve(dir.path(), None, None).unwrap().unwrap();
            assert!(config.listen.iter().any(|e| e == endpoint));
        }
        let loopback = BridgeOptions {
            listen: vec!["tcp/127.0.0.1:7447".into(), "tcp/[::1]:7448".into()],
            vehicle_id: Some("kona-1".into()),
            ..BridgeOptions::default()
        };
        assert!(loopback.resolve(dir.path(), None, None).is_ok());
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let mut config = BridgeConfig::new("v", "e").unwrap();
        let error = config
            .merge_str("export = [\"Vehicle..Speed\"]")
            .unwrap_err();
        assert!(error.contains("Vehicle..Speed"), "{error}");
        let error = config.merge_str("exports = []").unwrap_err();
        assert!(error.contains("exports"), "{error}");
        let error = config.merge_str("lease_ms = 5").unwrap_err();
        assert!(error.contains("lease_ms"), "{error}");
        let error = config
            .merge_str("[[import]]\nfrom = \"a/b\"\npaths = []")
            .unwrap_err();
        assert!(error.contains("a/b"), "{error}");
        assert!(BridgeConfig::new("tomoe/*", "e").is_err());
    }
}
