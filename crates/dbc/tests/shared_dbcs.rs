//! Every DBC in the shared data folder loads; known defects surface as warnings.

use std::path::PathBuf;

use tomoe_dbc::Database;

fn dbc_files(dir: &std::path::Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            dbc_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "dbc") {
            found.push(path);
        }
    }
}

#[test]
fn every_shared_dbc_loads() {
    let Some(data) = tomoe_test_support::shared_data() else {
        return;
    };
    let mut files = Vec::new();
    dbc_files(&data.join("dbc"), &mut files);
    files.sort();
    assert!(
        files.len() >= 16,
        "expected the 16 shared DBC files, found {}",
        files.len()
    );
    // Message counts from the shared data's own statistics (SOURCES.md).
    let expected = [
        ("pcan.dbc", 107),
        ("Model3CAN.dbc", 159),
        ("honda_e_advance_2020_can_generated.dbc", 50),
        ("nissan_leaf_2018_generated.dbc", 20),
        ("toyota_new_mc_pt_generated.dbc", 58),
        ("toyota_adas.dbc", 33),
        ("nissan_rogue_2021.dbc", 60),
        ("honda_pilot_2017.dbc", 49),
    ];
    for file in &files {
        let database =
            Database::from_file(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for warning in database.warnings() {
            eprintln!("warning: {warning}");
        }
        let name = file.file_name().unwrap().to_str().unwrap();
        if let Some((_, count)) = expected.iter().find(|(n, _)| *n == name) {
            assert_eq!(database.messages().len(), *count, "{name}");
        }
    }
}

#[test]
fn known_defects_are_reported_with_lines() {
    let Some(data) = tomoe_test_support::shared_data() else {
        return;
    };
    let check = |file: &str, fragment: &str| {
        let database = Database::from_file(&data.join("dbc").join(file)).unwrap();
        let found = database
            .warnings()
            .iter()
            .any(|w| w.line > 0 && w.message.contains(fragment));
        assert!(
            found,
            "{file}: no warning containing {fragment:?}: {:#?}",
            database.warnings()
        );
    };
    check(
        "kona-ev-dbc/pcan.dbc",
        "not followed by the BS_: and BU_: sections",
    );
    check(
        "opendbc/honda_e_advance_2020_can_generated.dbc",
        "above 0x7FF",
    );
    check(
        "opendbc/honda_civic_touring_2016_can_generated.dbc",
        "names no signal",
    );
    check(
        "strym/honda_pilot_2017.dbc",
        "value table for signal \"STATE\"",
    );
    check("opendbc/toyota_new_mc_pt_generated.dbc", "overlap");
}
