//! Every shipped vehicle profile's diagnostics: valid against its catalog and its
//! DBCs, with the rules the platform promises (battery temperature, a cell voltage
//! spread or SoC plausibility check, the 12 V supply, a speed plausibility check
//! between two sources, and a CAN timeout).

use std::path::{Path, PathBuf};

use tomoe_dbc::Database;
use tomoe_diag::{CanSupervisor, Condition, DiagnosticsSpec, SupervisedBus};

fn profiles() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles");
    let mut profiles: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("profile.toml").exists())
        .collect();
    profiles.sort();
    profiles
}

#[test]
fn every_profile_declares_the_promised_rules_on_real_signals() {
    let catalog = tomoe_vss::default_catalog().unwrap();
    let profiles = profiles();
    assert_eq!(profiles.len(), 5);
    for profile in profiles {
        let name = profile.file_name().unwrap().to_string_lossy().to_string();
        let spec = DiagnosticsSpec::for_profile(&profile).unwrap();
        spec.check(&catalog, &name).unwrap();
        let text = std::fs::read_to_string(profile.join("profile.toml")).unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        let buses: Vec<(String, String, Database)> = table["bus"]
            .as_array()
            .unwrap()
            .iter()
            .map(|bus| {
                (
                    bus["name"].as_str().unwrap().to_owned(),
                    bus["channel"].as_str().unwrap().to_owned(),
                    Database::from_file(&profile.join(bus["dbc"].as_str().unwrap())).unwrap(),
                )
            })
            .collect();
        let supervised: Vec<SupervisedBus> = buses
            .iter()
            .map(|(name, channel, database)| SupervisedBus {
                name,
                channel,
                database,
            })
            .collect();
        let supervisor =
            CanSupervisor::new(&spec, &supervised).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!supervisor.is_empty(), "{name}: no CAN timeout supervised");

        let reads = |needle: &str| {
            spec.rules
                .iter()
                .any(|rule| rule.condition.signals().iter().any(|s| s.contains(needle)))
        };
        assert!(
            reads("TractionBattery.Temperature"),
            "{name}: battery temperature"
        );
        assert!(
            reads("CellVoltage") || reads("StateOfCharge"),
            "{name}: cell voltage spread or SoC plausibility"
        );
        assert!(
            reads("LowVoltageBattery") || reads("ControlModuleVoltage"),
            "{name}: 12 V supply"
        );
        assert!(
            spec.rules.iter().any(|rule| matches!(
                &rule.condition,
                Condition::Mismatch { a, .. } if a == "Vehicle.Speed"
            )),
            "{name}: speed plausibility between two sources"
        );
        assert!(spec.rules.len() >= 4, "{name}: {} rules", spec.rules.len());
        // Every ECU's data selects signals of the catalog.
        for ecu in &spec.ecus {
            assert!(
                !ecu.signals.is_empty(),
                "{name}: ecu {} owns no data",
                ecu.id
            );
        }
    }
}
