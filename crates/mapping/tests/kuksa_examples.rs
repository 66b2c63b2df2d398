//! The KUKSA CAN provider's own example mappings load as they are.

use tomoe_mapping::MappingFile;

#[test]
fn tesla_mappings_load_in_both_forms() {
    let Some(dir) = tomoe_test_support::shared("mapping/kuksa-can-provider") else {
        return;
    };
    for (file, dbc2vss, vss2dbc) in [
        ("vss_4.2/vss_dbc.json", 35, 3),
        ("vss_4.2/dbc_overlay.vspec", 35, 3),
        ("vss_4.0/vss_dbc.json", 32, 3),
    ] {
        let mapping = MappingFile::from_file(&dir.join(file)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mapping.dbc2vss().len(), dbc2vss, "{file}");
        assert_eq!(mapping.vss2dbc().len(), vss2dbc, "{file}");
    }
}
