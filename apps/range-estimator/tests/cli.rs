//! The app's command line, without a broker.

use std::process::Command;

#[test]
fn help_names_the_flags() {
    let output = Command::new(env!("CARGO_BIN_EXE_range-estimator"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in ["--broker", "--count", "--capacity-kwh"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn an_unreachable_broker_is_an_error_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_range-estimator"))
        .args(["--broker", "http://127.0.0.1:1", "--count", "1"])
        .env_remove("TOMOE_TOKEN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
}
