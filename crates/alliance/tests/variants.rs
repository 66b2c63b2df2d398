//! The shipped variants, and the problems `Variant::check` finds.

use std::path::Path;

use tomoe_alliance::{default_alliance_dir, default_variants_dir, Alliance, Variant};
use tomoe_vehicle::default_profiles_dir;
use tomoe_vss::Value;

fn alliance() -> Alliance {
    Alliance::load(&default_alliance_dir()).unwrap()
}

#[test]
fn every_shipped_variant_checks_clean() {
    let variants = Variant::list(&default_variants_dir()).unwrap();
    assert!(variants.len() >= 6, "{} variants", variants.len());
    for (file, variant) in &variants {
        let problems = variant.check(file, &alliance(), &default_profiles_dir());
        assert!(problems.is_empty(), "{}: {problems:?}", variant.id);
    }
}

#[test]
fn a_badge_rides_on_another_brands_hardware() {
    let (file, variant) = Variant::find("mitsubishi-e-leaf", &default_variants_dir()).unwrap();
    assert_eq!(variant.hardware_profile, "nissan-leaf-2018");
    let names: Vec<String> = variant
        .tenants_present()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["alliance", "mitsubishi", "nissan"]);
    let profile = variant.load_profile(&default_profiles_dir()).unwrap();
    let catalog = variant.catalog(&profile, &alliance()).unwrap();
    let default = |path: &str| catalog.leaf(path).unwrap().default.clone();
    assert_eq!(
        default("Vehicle.VehicleIdentification.Brand"),
        Some(Value::String("Mitsubishi".into()))
    );
    assert_eq!(
        default("Vehicle.VehicleIdentification.Model"),
        Some(Value::String("e-Leaf".into()))
    );
    assert!(catalog
        .leaf("Vehicle.Private.Mitsubishi.DriveMode")
        .is_some());
    // The same app as the Nissan badge, as the alliance's.
    let workloads = variant.workloads(&file).unwrap();
    assert_eq!(workloads[0].name, "range-estimator");
    assert_eq!(workloads[0].tenant.as_ref().unwrap().as_str(), "alliance");
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

const APP: &str = "apiVersion: tomoe.dev/v1\nkind: Manifest\nworkloads:\n  - name: theme\n    command: /bin/true\n    access:\n      read: [Vehicle.Speed, Vehicle.Private.Nissan.EPedal.IsEnabled, Vehicle.Nowhere]\n      actuate: [Vehicle.Private.Honda.Cabin.AmbientTheme]\n";

#[test]
fn check_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "theme.yaml", APP);
    write(
        dir.path(),
        "honda-odd.toml",
        r#"
id = "honda-odd"
brand = "Honda"
model = "Odd"
year = 2020
description = "a variant with problems"
hardware_profile = "nissan-leaf-2018"
ota_channel = "honda/odd"
[tenants]
brand = "honda"
maker = "kia"
[attributes]
"Vehicle.VehicleIdentification.Colour" = "red"
"Vehicle.Speed" = 3.0
[[app]]
manifest = "theme.yaml"
tenant = "honda"
[[app]]
manifest = "missing.yaml"
tenant = "toyota"
"#,
    );
    let file = dir.path().join("honda-odd.toml");
    let variant = Variant::read(&file).unwrap();
    let problems: Vec<String> = variant
        .check(&file, &alliance(), &default_profiles_dir())
        .iter()
        .map(ToString::to_string)
        .collect();
    let expect = [
        "tenant kia: not declared in",
        "attribute Vehicle.VehicleIdentification.Colour: no such signal in the catalog",
        "attribute Vehicle.Speed: a badge sets attributes only, and this is a sensor",
        "app theme: read \"Vehicle.Private.Nissan.EPedal.IsEnabled\" reaches tenant nissan's private branch, but the app is tenant honda's",
        "app theme: read \"Vehicle.Nowhere\" selects no signal",
        "app missing.yaml: its tenant toyota is not present in this variant (present: alliance, honda, kia)",
        "missing.yaml",
    ];
    for expected in expect {
        assert!(
            problems.iter().any(|problem| problem.contains(expected)),
            "{expected}\nnot in {problems:#?}"
        );
    }
    // The app's own tenant's branch is fine.
    assert!(
        !problems.iter().any(|p| p.contains("AmbientTheme")),
        "{problems:#?}"
    );
}

#[test]
fn a_variant_file_must_be_named_after_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(default_variants_dir().join("honda-e.toml")).unwrap();
    write(dir.path(), "other.toml", &text);
    let error = Variant::read(&dir.path().join("other.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("id \"honda-e\" must be the file's name (\"other\")"),
        "{error}"
    );
    let error = Variant::find("nope", &default_variants_dir())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("no variant \"nope\"") && error.contains("mitsubishi-e-leaf"),
        "{error}"
    );
}
