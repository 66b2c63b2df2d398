//! Fault rules: parsing, checking against the catalog and debouncing.

use std::time::Duration;

use tokio::time::Instant;
use tomoe_diag::{DiagnosticsSpec, Entity, RuleSet, TestResult};
use tomoe_vss::{Catalog, Value};

const SPEC: &str = r#"
[[ecu]]
id = "bms"
name = "Battery management system"
signals = ["Vehicle.Powertrain.TractionBattery.**"]

[[rule]]
code = "P0A7E"
name = "Traction battery over temperature"
ecu = "bms"
severity = "critical"
signal = "Vehicle.Powertrain.TractionBattery.Temperature.Max"
above = 55.0
debounce_ms = 1000
heal_ms = 2000
freeze_frame = ["Vehicle.Speed"]

[[rule]]
code = "P0AFA"
name = "Cell voltage spread too large"
ecu = "bms"
spread = { high = "Vehicle.Powertrain.TractionBattery.CellVoltage.Max", low = "Vehicle.Powertrain.TractionBattery.CellVoltage.Min", max = 0.3 }
"#;

fn catalog() -> Catalog {
    tomoe_vss::CatalogBuilder::new()
        .json_str(tomoe_vss::DEFAULT_CATALOG_JSON, "vss")
        .unwrap()
        .build()
        .unwrap()
}

#[test]
fn a_rule_fails_after_its_debounce_and_heals_after_its_heal_time() {
    let catalog = catalog();
    let spec = DiagnosticsSpec::parse(SPEC, "test").unwrap();
    let mut rules = RuleSet::new(&spec, &catalog).unwrap();
    let temperature = catalog
        .leaf("Vehicle.Powertrain.TractionBattery.Temperature.Max")
        .unwrap()
        .id;
    let speed = catalog.leaf("Vehicle.Speed").unwrap().id;
    let start = Instant::now();
    let mut reports = Vec::new();
    rules.update(speed, Some(&Value::Float(42.0)), start, &mut reports);
    rules.update(temperature, Some(&Value::Float(30.0)), start, &mut reports);
    assert_eq!(reports.len(), 1, "the first pass is reported");
    assert_eq!(reports.pop().unwrap().result, TestResult::Passed);

    rules.update(temperature, Some(&Value::Float(60.0)), start, &mut reports);
    assert!(reports.is_empty());
    assert_eq!(rules.next_deadline(), Some(start + Duration::from_secs(1)));
    rules.tick(start + Duration::from_millis(999), &mut reports);
    assert!(reports.is_empty(), "not yet debounced");
    rules.tick(start + Duration::from_secs(1), &mut reports);
    let report = reports.pop().expect("failed after the debounce");
    assert_eq!(report.entity, Entity::Component("bms".into()));
    let TestResult::Failed { snapshot, .. } = report.result else {
        panic!("expected a failure")
    };
    assert_eq!(snapshot["Vehicle.Speed"], serde_json::json!(42.0));
    assert_eq!(
        snapshot["Vehicle.Powertrain.TractionBattery.Temperature.Max"],
        serde_json::json!(60.0)
    );

    // A short dip below the limit does not heal it.
    let t = start + Duration::from_secs(2);
    rules.update(temperature, Some(&Value::Float(50.0)), t, &mut reports);
    rules.update(
        temperature,
        Some(&Value::Float(58.0)),
        t + Duration::from_millis(500),
        &mut reports,
    );
    rules.tick(t + Duration::from_secs(3), &mut reports);
    assert!(reports.is_empty(), "{reports:?}");
    rules.update(
        temperature,
        Some(&Value::Float(40.0)),
        t + Duration::from_secs(4),
        &mut reports,
    );
    rules.tick(t + Duration::from_secs(6), &mut reports);
    assert_eq!(reports.pop().unwrap().result, TestResult::Passed);
}

#[test]
fn a_rule_without_all_its_inputs_does_not_run() {
    let catalog = catalog();
    let spec = DiagnosticsSpec::parse(SPEC, "test").unwrap();
    let mut rules = RuleSet::new(&spec, &catalog).unwrap();
    let max = catalog
        .leaf("Vehicle.Powertrain.TractionBattery.CellVoltage.Max")
        .unwrap()
        .id;
    let min = catalog
        .leaf("Vehicle.Powertrain.TractionBattery.CellVoltage.Min")
        .unwrap()
        .id;
    let now = Instant::now();
    let mut reports = Vec::new();
    rules.update(max, Some(&Value::Float(4.1)), now, &mut reports);
    assert!(reports.is_empty());
    rules.update(min, Some(&Value::Float(3.5)), now, &mut reports);
    // No debounce: fails at once.
    assert!(matches!(
        reports.pop().unwrap().result,
        TestResult::Failed { .. }
    ));
    rules.update(min, None, now, &mut reports);
    assert!(reports.is_empty(), "an unavailable input stops the test");
}

#[test]
fn bad_files_are_refused_with_what_and_where() {
    let catalog = catalog();
    let cases = [
        ("[[rule]]\ncode = \"P0A7E\"\nname = \"x\"\necu = \"nope\"\nsignal = \"Vehicle.Speed\"\nabove = 1.0\n", "no ecu \"nope\""),
        ("[[ecu]]\nid = \"Bad Id\"\nname = \"x\"\n", "ecu \"Bad Id\""),
        ("[[ecu]]\nid = \"broker\"\nname = \"x\"\n", "taken by a platform component"),
        ("[[ecu]]\nid = \"a\"\nname = \"x\"\n[[rule]]\ncode = \"Q0000\"\nname = \"x\"\necu = \"a\"\n", "not a trouble code"),
        ("[[ecu]]\nid = \"a\"\nname = \"x\"\n[[rule]]\ncode = \"P0000\"\nname = \"x\"\necu = \"a\"\nsignal = \"Vehicle.Speed\"\n", "exactly one test"),
        ("[[ecu]]\nid = \"a\"\nname = \"x\"\n[[rule]]\ncode = \"P0000\"\nname = \"x\"\necu = \"a\"\nsignal = \"Vehicle.Speed\"\nabove = 1.0\ndebounce_ms = 99999999\n", "at most"),
        ("[[ecu]]\nid = \"a\"\nname = \"x\"\nbogus = 1\n", "unknown field `bogus`"),
        ("[[ecu]]\nid = \"a\"\nname = \"x\"\nmessages = [\"M\"]\n", "needs the `bus`"),
    ];
    for (text, expected) in cases {
        let error = DiagnosticsSpec::parse(text, "faults.toml")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(expected),
            "{error} should contain {expected}"
        );
        assert!(error.starts_with("faults.toml"), "{error}");
    }
    let checked = [
        (
            "signal = \"Vehicle.Nope\"\nabove = 1.0",
            "no signal Vehicle.Nope",
        ),
        (
            "signal = \"Vehicle.Cabin.Door.Row1.DriverSide.IsOpen\"\nabove = 1.0",
            "not a number",
        ),
    ];
    for (test, expected) in checked {
        let text = format!("[[ecu]]\nid = \"a\"\nname = \"x\"\n[[rule]]\ncode = \"P0000\"\nname = \"x\"\necu = \"a\"\n{test}\n");
        let spec = DiagnosticsSpec::parse(&text, "faults.toml").unwrap();
        let error = spec.check(&catalog, "faults.toml").unwrap_err().to_string();
        assert!(
            error.contains(expected),
            "{error} should contain {expected}"
        );
    }
}

#[test]
fn a_new_cycle_makes_every_rule_report_again() {
    let catalog = catalog();
    let spec = DiagnosticsSpec::parse(SPEC, "test").unwrap();
    let mut rules = RuleSet::new(&spec, &catalog).unwrap();
    let temperature = catalog
        .leaf("Vehicle.Powertrain.TractionBattery.Temperature.Max")
        .unwrap()
        .id;
    let now = Instant::now();
    let mut reports = Vec::new();
    rules.update(temperature, Some(&Value::Float(30.0)), now, &mut reports);
    rules.update(temperature, Some(&Value::Float(31.0)), now, &mut reports);
    assert_eq!(reports.len(), 1, "a pass is reported once per cycle");
    rules.new_cycle();
    rules.update(temperature, Some(&Value::Float(31.0)), now, &mut reports);
    assert_eq!(reports.len(), 2, "and again in the next cycle");
    assert_eq!(reports[1].result, TestResult::Passed);
}
