//! Loads the COVESA release catalogs kept in the shared data folder.

use tomoe_vss::{CatalogBuilder, DataType, EntryType, PathPattern};

#[test]
fn release_catalogs_load() {
    let Some(dir) = tomoe_test_support::shared("vss") else {
        return;
    };
    for (file, leaves) in [
        ("vss_release_4.0.json", 910),
        ("vss_release_5.1.json", 1321),
        ("vss_release_6.0.json", 1263),
    ] {
        let catalog = CatalogBuilder::new()
            .json_file(&dir.join(file))
            .and_then(CatalogBuilder::build)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(catalog.len(), leaves, "{file}");
        let speed = catalog.leaf("Vehicle.Speed").unwrap();
        assert_eq!(speed.datatype, DataType::Float);
        assert_eq!(speed.entry_type, EntryType::Sensor);
    }
}

#[test]
fn embedded_default_catalog_loads_and_answers_queries() {
    let catalog = tomoe_vss::default_catalog().unwrap();
    // VSS 5.1's 1321 leaves plus the Tomoe overlay's.
    assert_eq!(catalog.len(), 1321 + 9);
    assert_eq!(
        catalog
            .leaf("Vehicle.Tomoe.RangeEstimate")
            .unwrap()
            .unit
            .as_deref(),
        Some("km")
    );
    let soc = catalog
        .leaf("Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed")
        .unwrap();
    assert_eq!(soc.unit.as_deref(), Some("percent"));
    let cabin = PathPattern::parse("Vehicle.Cabin.**").unwrap();
    assert!(catalog.matching(&cabin).count() > 100);
    let doors = PathPattern::parse("Vehicle.Cabin.Door.*.*.IsOpen").unwrap();
    assert_eq!(catalog.matching(&doors).count(), 4);
    let seat_positions = catalog.leaf("Vehicle.Cabin.SeatPosCount").unwrap();
    assert_eq!(seat_positions.datatype, DataType::Uint8Array);
}

#[test]
fn kuksa_dbc_overlay_applies_to_vss_4_0() {
    let Some(dir) = tomoe_test_support::shared("vss") else {
        return;
    };
    let overlay = dir.join("../mapping/kuksa-can-provider/vss_4.0/dbc_overlay.vspec");
    let catalog = CatalogBuilder::new()
        .json_file(&dir.join("vss_release_4.0.json"))
        .and_then(|b| b.vspec_file(&overlay))
        .and_then(CatalogBuilder::build)
        .unwrap_or_else(|e| panic!("{e}"));
    let speed = catalog.leaf("Vehicle.Speed").unwrap();
    assert!(
        speed.extensions.contains_key("dbc2vss"),
        "{:?}",
        speed.extensions
    );
}
