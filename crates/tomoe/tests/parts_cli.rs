//! The parts commands, as a user runs them, on the shipped catalog and profiles.

mod support;

use support::cli;

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn parts_list_shows_the_catalog_in_si_units() {
    let (code, stdout, stderr) = cli(&["parts", "list", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let parts = json(&stdout);
    let leaf = parts
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "nissan-leaf-40kwh")
        .expect("the Leaf 40 kWh pack is listed");
    assert_eq!(leaf["kind"], "battery-pack");
    assert_eq!(leaf["mass"], 303.0);
    assert_eq!(leaf["usable_energy"], 39_000.0, "energy in Wh");
    assert_eq!(leaf["cells"]["series"], 96);
    assert!(leaf["sources"].as_array().is_some_and(|s| !s.is_empty()));

    let (code, stdout, _) = cli(&["parts", "list", "--kind", "charger"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("honda-e-charger"), "{stdout}");
    assert!(
        stdout.contains("AC 7.4 kW Type2, DC 56 kW CCS2"),
        "{stdout}"
    );
    assert!(!stdout.contains("nissan-leaf-40kwh"), "{stdout}");
}

#[test]
fn parts_check_exits_0_when_a_cross_brand_part_fits() {
    let (code, stdout, stderr) = cli(&[
        "parts",
        "check",
        "--vehicle",
        "hyundai-kona-ev-2019",
        "--part",
        "kia-e-niro-64kwh",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("pass bms-protocol"), "{stdout}");
    assert!(stdout.contains("fits: all 10 checks passed"), "{stdout}");
}

#[test]
fn parts_check_exits_1_and_prints_every_reason_when_a_part_does_not_fit() {
    let (code, stdout, stderr) = cli(&[
        "parts",
        "check",
        "--vehicle",
        "nissan-leaf-2018",
        "--part",
        "nissan-leaf-e-plus-62kwh",
        "--json",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let report = json(&stdout);
    assert_eq!(report["fits"], false);
    assert_eq!(report["installed"], false);
    let reasons = report["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 10, "every check is reported");
    let failed: Vec<&str> = reasons
        .iter()
        .filter(|r| r["outcome"] == "fail")
        .map(|r| r["check"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["height"]);
    assert!(
        stderr.contains(
            "part \"nissan-leaf-e-plus-62kwh\" does not fit vehicle \"nissan-leaf-2018\""
        ),
        "{stderr}"
    );

    let (code, stdout, _) = cli(&[
        "parts",
        "check",
        "--vehicle",
        "toyota-rav4-2017",
        "--part",
        "nissan-leaf-40kwh",
    ]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("FAIL powertrain: the vehicle is combustion"),
        "{stdout}"
    );
    assert!(stdout.contains("n/a  voltage"), "{stdout}");
}

#[test]
fn parts_check_names_an_unknown_part() {
    let (code, _, stderr) = cli(&[
        "parts",
        "check",
        "--vehicle",
        "honda-e-2020",
        "--part",
        "no-such-part",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no part \"no-such-part\" in the catalog"),
        "{stderr}"
    );
}

#[test]
fn parts_matrix_has_a_row_per_part_and_a_column_per_vehicle() {
    let (code, stdout, stderr) = cli(&["parts", "matrix", "--kind", "battery"]);
    assert_eq!(code, 0, "{stderr}");
    let header = stdout.lines().next().unwrap();
    for vehicle in [
        "honda-e-2020",
        "hyundai-kona-ev-2019",
        "nissan-leaf-2018",
        "tesla-model3",
        "toyota-rav4-2017",
    ] {
        assert!(header.contains(vehicle), "{header}");
    }
    let niro = stdout
        .lines()
        .find(|l| l.starts_with("kia-e-niro-64kwh"))
        .unwrap();
    assert!(niro.contains(" fits "), "{niro}");
    let leaf_plus = stdout
        .lines()
        .find(|l| l.starts_with("nissan-leaf-e-plus-62kwh"))
        .unwrap();
    assert!(leaf_plus.contains("no: height "), "{leaf_plus}");
    assert!(stdout.contains("  nissan-leaf-e-plus-62kwh in nissan-leaf-2018: height\n"));
    assert!(!stdout.contains("e-axles"), "only batteries: {stdout}");

    let (code, stdout, _) = cli(&["parts", "matrix", "--json"]);
    assert_eq!(code, 0);
    let matrix = json(&stdout);
    let vehicles = matrix["vehicles"].as_array().unwrap().len();
    let cells = matrix["cells"].as_array().unwrap();
    assert_eq!(vehicles, 5);
    assert_eq!(cells.len() % vehicles, 0);
    let installed = cells.iter().filter(|c| c["installed"] == true).count();
    assert_eq!(
        installed, 12,
        "three installed parts on each of four electric cars"
    );
    assert!(cells
        .iter()
        .filter(|c| c["installed"] == true)
        .all(|c| c["fits"] == true));
}

#[test]
fn an_invalid_catalog_is_refused_with_file_field_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad-charger.toml"),
        "id = \"bad-charger\"\nkind = \"charger\"\nname = \"Bad\"\nmanufacturer = \"Test\"\nsource = \"test\"\nac_power = \"7.4 kg\"\n",
    )
    .unwrap();
    let (code, _, stderr) = cli(&["parts", "list", "--parts", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "bad-charger.toml: ac_power: \"kg\" is a unit of mass, not of power (use W, kW, MW, hp, PS)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad-charger.toml: ac_connector: missing"),
        "{stderr}"
    );
}
