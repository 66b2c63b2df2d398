//! The KUKSA CAN provider's own example mappings load as they are.

use std::path::PathBuf;

use tomoe_mapping::MappingFile;

fn kuksa_mapping_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/mapping/kuksa-can-provider");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("TOMOE_REQUIRE_SHARED").is_some() {
        panic!(
            "shared data folder {} is required (TOMOE_REQUIRE_SHARED is set) but missing",
            dir.display()
        );
    }
    eprintln!("skipping: shared data folder {} is absent", dir.display());
    None
}

#[test]
fn tesla_mappings_load_in_both_forms() {
    let Some(dir) = kuksa_mapping_dir() else {
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
