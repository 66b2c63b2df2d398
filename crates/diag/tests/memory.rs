//! The fault memory's UDS status semantics and its persistence.

use std::collections::BTreeMap;

use tomoe_diag::{
    ClearScope, DtcCode, DtcStatus, Entity, FaultMemory, FaultReport, FaultSource, Severity,
    TestResult, AGING_CYCLES,
};

fn bms() -> Entity {
    Entity::Component("bms".into())
}

fn code() -> DtcCode {
    "P0A7E".parse().unwrap()
}

fn report(result: TestResult) -> FaultReport {
    FaultReport {
        entity: bms(),
        code: code(),
        name: "Traction battery over temperature".into(),
        severity: Severity::Critical,
        source: FaultSource::Rule,
        warning_indicator: true,
        result,
    }
}

fn failed(temperature: f64) -> TestResult {
    let mut snapshot = BTreeMap::new();
    snapshot.insert(
        "Vehicle.Powertrain.TractionBattery.Temperature.Max".to_owned(),
        serde_json::json!(temperature),
    );
    TestResult::Failed {
        snapshot,
        environment: BTreeMap::new(),
    }
}

#[test]
fn a_failure_is_confirmed_and_a_pass_keeps_it_stored() {
    let dir = tempfile::tempdir().unwrap();
    let memory = FaultMemory::open(dir.path()).unwrap();
    memory.report(report(TestResult::Passed)).unwrap();
    assert!(memory.faults().is_empty(), "a pass creates nothing");

    memory.report(report(failed(61.0))).unwrap();
    let fault = memory.fault(&bms(), &code()).unwrap();
    // testFailed, this cycle, pending, confirmed, since last clear, warning indicator.
    assert_eq!(fault.status, DtcStatus(0xAF));
    assert_eq!(fault.occurrences, 1);
    assert_eq!(fault.snapshots.len(), 1);
    assert_eq!(memory.confirmed_codes(), vec!["P0A7E"]);

    // The same failure again is not a new occurrence.
    memory.report(report(failed(62.0))).unwrap();
    assert_eq!(memory.fault(&bms(), &code()).unwrap().occurrences, 1);

    memory.report(report(TestResult::Passed)).unwrap();
    let fault = memory.fault(&bms(), &code()).unwrap();
    assert_eq!(fault.status, DtcStatus(0x2E), "{}", fault.status);
    assert!(fault.is_confirmed());

    // A second occurrence keeps the first freeze frame and adds the latest.
    memory.report(report(failed(63.0))).unwrap();
    let fault = memory.fault(&bms(), &code()).unwrap();
    assert_eq!(fault.occurrences, 2);
    assert_eq!(
        fault
            .snapshots
            .iter()
            .map(|s| (s.record, s.values.values().next().unwrap().clone()))
            .collect::<Vec<_>>(),
        vec![(1, serde_json::json!(61.0)), (2, serde_json::json!(63.0))]
    );
}

#[test]
fn faults_survive_a_reopen_and_a_clear_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let memory = FaultMemory::open(dir.path()).unwrap();
        memory.report(report(failed(61.0))).unwrap();
    }
    let memory = FaultMemory::open(dir.path()).unwrap();
    let fault = memory.fault(&bms(), &code()).unwrap();
    assert_eq!(fault.status, DtcStatus(0xAF));
    let mut events = memory.subscribe();
    let cleared = memory
        .clear(&ClearScope {
            entity: Some(bms()),
            code: None,
        })
        .unwrap();
    assert_eq!(cleared.len(), 1);
    assert!(matches!(
        events.try_recv().unwrap(),
        tomoe_diag::FaultEvent::Removed { .. }
    ));
    drop(memory);
    let memory = FaultMemory::open(dir.path()).unwrap();
    assert!(memory.faults().is_empty());
}

#[test]
fn operation_cycles_clear_pending_and_age_faults_out() {
    let dir = tempfile::tempdir().unwrap();
    let memory = FaultMemory::open(dir.path()).unwrap();
    memory.report(report(failed(61.0))).unwrap();
    memory.report(report(TestResult::Passed)).unwrap();
    // The cycle that failed ends: still pending (it failed in that cycle).
    memory.new_operation_cycle().unwrap();
    let fault = memory.fault(&bms(), &code()).unwrap();
    assert!(fault.status.has(DtcStatus::PENDING_DTC));
    assert!(fault
        .status
        .has(DtcStatus::TEST_NOT_COMPLETED_THIS_OPERATION_CYCLE));
    assert!(!fault
        .status
        .has(DtcStatus::TEST_FAILED_THIS_OPERATION_CYCLE));
    // A cycle in which the test passed clears pending and ages the fault.
    memory.report(report(TestResult::Passed)).unwrap();
    memory.new_operation_cycle().unwrap();
    let fault = memory.fault(&bms(), &code()).unwrap();
    assert!(!fault.status.has(DtcStatus::PENDING_DTC));
    assert!(fault.is_confirmed());
    assert_eq!(fault.aging_counter, 1);
    // A cycle without a test does not age it.
    memory.new_operation_cycle().unwrap();
    assert_eq!(memory.fault(&bms(), &code()).unwrap().aging_counter, 1);
    for _ in 1..AGING_CYCLES {
        memory.report(report(TestResult::Passed)).unwrap();
        memory.new_operation_cycle().unwrap();
    }
    assert!(
        memory.faults().is_empty(),
        "aged out after {AGING_CYCLES} cycles"
    );
}

#[test]
fn a_corrupt_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(tomoe_diag::DATABASE_FILE);
    std::fs::write(
        &path,
        b"this is not a redb database, but it is long enough to look like one........",
    )
    .unwrap();
    let before = std::fs::read(&path).unwrap();
    let error = FaultMemory::open(dir.path()).unwrap_err().to_string();
    assert!(error.contains("diag.redb"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn environment_values_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let memory = FaultMemory::open(dir.path()).unwrap();
    let mut environment = BTreeMap::new();
    environment.insert("error".to_owned(), "é".repeat(10_000));
    let mut fault = report(TestResult::Failed {
        snapshot: BTreeMap::new(),
        environment,
    });
    fault.entity = Entity::App("app".into());
    memory.report(fault).unwrap();
    let stored = memory.faults_of(&Entity::App("app".into()));
    assert!(stored[0].environment["error"].len() <= tomoe_diag::MAX_ENVIRONMENT_VALUE_BYTES + 4);
}

#[test]
fn a_failure_that_goes_on_fails_the_new_cycle_without_a_new_occurrence() {
    let dir = tempfile::tempdir().unwrap();
    let memory = FaultMemory::open(dir.path()).unwrap();
    memory.report(report(failed(61.0))).unwrap();
    let mut events = memory.subscribe();
    memory.new_operation_cycle().unwrap();
    let fault = memory.fault(&bms(), &code()).unwrap();
    assert_eq!(fault.status, DtcStatus(0xED), "{}", fault.status);
    let mut saw_cycle = false;
    while let Ok(event) = events.try_recv() {
        saw_cycle |= event == tomoe_diag::FaultEvent::NewOperationCycle;
    }
    assert!(saw_cycle, "subscribers hear of the new cycle");
    memory.report(report(failed(62.0))).unwrap();
    let fault = memory.fault(&bms(), &code()).unwrap();
    assert_eq!(fault.status, DtcStatus(0xAF), "{}", fault.status);
    assert_eq!(fault.occurrences, 1);
    assert_eq!(fault.snapshots.len(), 1);
}
