//! `tomoe variant list|show|check` as a user runs them.

mod support;

use support::cli;

#[test]
fn list_show_and_check_the_shipped_variants() {
    let (code, stdout, stderr) = cli(&["variant", "list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("mitsubishi-e-leaf")
                && line.contains("nissan-leaf-2018")
                && line.contains("alliance, mitsubishi, nissan")),
        "{stdout}"
    );
    let (code, stdout, _) = cli(&["variant", "show", "mitsubishi-e-leaf", "--json"]);
    assert_eq!(code, 0);
    let shown: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown["brand"], "Mitsubishi");
    assert_eq!(shown["tenants"]["maker"], "nissan");
    let (code, stdout, stderr) = cli(&["variant", "check"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("mitsubishi-e-leaf: ok"), "{stdout}");
}

#[test]
fn a_variant_with_problems_fails_the_check_with_each_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("honda-twin.toml"),
        r#"
id = "honda-twin"
brand = "Honda"
model = "Twin"
year = 2020
description = "a badge that reaches too far"
hardware_profile = "nissan-leaf-2018"
ota_channel = "honda/twin"
[tenants]
brand = "honda"
maker = "nissan"
[attributes]
"Vehicle.Speed" = 1.0
"#,
    )
    .unwrap();
    let variants = dir.path().to_str().unwrap();
    let (code, stdout, stderr) = cli(&["variant", "check", "--variants", variants, "--json"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stderr.contains("1 of 1 variant(s) have problems"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report[0]["ok"], false);
    assert_eq!(
        report[0]["problems"][0]["subject"],
        "attribute Vehicle.Speed"
    );
    let (code, _, stderr) = cli(&["variant", "show", "nope"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no variant \"nope\""), "{stderr}");
    let (code, _, stderr) = cli(&["up", "--variant", "nope", "--vehicle", "honda-e-2020"]);
    assert_eq!(code, 2, "--variant and --vehicle conflict: {stderr}");
}
