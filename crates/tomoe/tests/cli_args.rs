//! The command line's argument rules, as a user meets them: every command has
//! help (a debug build checks clap's definition when it parses), and conflicting
//! or incomplete options are refused with exit code 2 before anything starts.

mod support;

use support::cli;

/// `tomoe up`'s three listening addresses, each on a free loopback port.
const LOOPBACK: [&str; 6] = [
    "--address",
    "127.0.0.1:0",
    "--runtime-address",
    "127.0.0.1:0",
    "--http-address",
    "127.0.0.1:0",
];

#[test]
fn every_command_has_help() {
    let (code, stdout, stderr) = cli(&["--help"]);
    assert_eq!(code, 0, "{stderr}");
    let commands: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|command| *command != "help")
        .collect();
    assert!(commands.len() > 10, "{stdout}");
    for command in commands {
        let (code, stdout, stderr) = cli(&[command, "--help"]);
        assert_eq!(code, 0, "tomoe {command} --help: {stderr}");
        assert!(
            stdout.contains("Usage:"),
            "tomoe {command} --help: {stdout}"
        );
    }
}

#[test]
fn conflicting_and_incomplete_options_are_refused() {
    for args in [
        &["serve", "--insecure", "--jwt-public-key", "k.pem"][..],
        &["serve", "--insecure", "--json"],
        &["serve", "--insecure", "--tls-cert", "c.pem"],
    ] {
        let (code, _, stderr) = cli(args);
        assert_eq!(code, 2, "tomoe {}: {stderr}", args.join(" "));
        assert!(stderr.contains("error:"), "{stderr}");
    }
}

#[test]
fn client_options_belong_to_client_commands() {
    // `--json` and `--broker` are accepted after the command (the broker is not
    // there, so the command fails at connecting, not at parsing).
    let (code, _, stderr) = cli(&[
        "get",
        "--json",
        "--broker",
        "http://127.0.0.1:9",
        "Vehicle.Speed",
    ]);
    assert_ne!(code, 2, "{stderr}");
    assert_ne!(code, 0, "{stderr}");
}

#[test]
fn up_with_a_missing_log_fails_before_announcing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(support::tomoe_bin())
        .args(["up", "--replay", "/nonexistent/drive.log"])
        .args(LOOPBACK)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("TOMOE_LOG", "info")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("Tomoe is up"), "{stdout}");
    assert!(stderr.contains("/nonexistent/drive.log"), "{stderr}");
    // Logs went to a pipe, not a terminal: no colour codes.
    assert!(stderr.contains("INFO"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[test]
fn an_unknown_vehicle_lists_the_known_ones() {
    let (code, _, stderr) = cli(&["profile", "show", "no-such-car"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("the profiles there:"), "{stderr}");
    assert!(stderr.contains("hyundai-kona-ev-2019"), "{stderr}");
}

#[test]
fn an_ecu_role_without_a_zenoh_endpoint_and_a_bad_endpoint_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let loopback = [&LOOPBACK[..], &["--data-dir", data]].concat();
    let (code, stdout, stderr) = cli(&[&["up", "--ecu", "zonal"][..], &loopback].concat());
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("--zenoh-listen"), "{stderr}");
    let (code, stdout, stderr) = cli(&[
        &["up", "--idle", "--zenoh-listen", "bogus/127.0.0.1:1"][..],
        &loopback,
    ]
    .concat());
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(!stdout.contains("Tomoe is up"), "{stdout}");
    assert!(stderr.contains("Zenoh"), "{stderr}");
    let (code, _, stderr) = cli(&["serve", "--insecure", "--zenoh-mode", "mesh"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("mesh"), "{stderr}");
}

#[test]
fn a_telemetry_policy_needs_a_bridge_and_a_bad_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/telemetry-policy.toml"
    );
    let (code, stdout, stderr) = cli(&[
        "serve",
        "--insecure",
        "--address",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--telemetry-policy",
        example,
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("needs a Zenoh bridge"), "{stderr}");
    let bad = dir.path().join("policy.toml");
    std::fs::write(
        &bad,
        "[[signal]]\npaths = [\"Vehicle.Speed\"]\ndeadband = -2\n",
    )
    .unwrap();
    let (code, stdout, stderr) = cli(&[
        "serve",
        "--insecure",
        "--address",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--zenoh-listen",
        "tcp/127.0.0.1:0",
        "--telemetry-policy",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(
        stderr.contains("policy.toml") && stderr.contains("deadband = -2"),
        "{stderr}"
    );
}

#[test]
fn a_zenoh_listener_off_loopback_needs_insecure_zenoh() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let file = dir.path().join("bridge.toml");
    std::fs::write(&file, "listen = [\"tcp/0.0.0.0:7447\"]\n").unwrap();
    let file = file.to_str().unwrap();
    let serve = [
        "serve",
        "--insecure",
        "--address",
        "127.0.0.1:0",
        "--data-dir",
        data,
    ];
    let up = [&["up", "--idle"][..], &LOOPBACK, &["--data-dir", data]].concat();
    let from_flag = ["--zenoh-listen", "tcp/10.214.0.1:7447"];
    let from_file = ["--zenoh-config", file];
    for (command, zenoh, endpoint) in [
        (&serve[..], from_flag, "tcp/10.214.0.1:7447"),
        (&up[..], from_flag, "tcp/10.214.0.1:7447"),
        (&serve[..], from_file, "tcp/0.0.0.0:7447"),
        (&up[..], from_file, "tcp/0.0.0.0:7447"),
    ] {
        let (code, stdout, stderr) = cli(&[command, &zenoh].concat());
        assert_eq!(code, 1, "{stdout}{stderr}");
        assert!(!stdout.contains("listening"), "{stdout}");
        assert!(!stdout.contains("Tomoe is up"), "{stdout}");
        assert!(
            stderr.contains(endpoint) && stderr.contains("--insecure-zenoh"),
            "{stderr}"
        );
    }
    // With the flag the endpoint passes the check: `serve` goes on to the next
    // step, here a bad telemetry policy, without binding anything.
    let bad = dir.path().join("policy.toml");
    std::fs::write(
        &bad,
        "[[signal]]\npaths = [\"Vehicle.Speed\"]\ndeadband = -2\n",
    )
    .unwrap();
    let policy = ["--telemetry-policy", bad.to_str().unwrap()];
    for zenoh in [from_flag, from_file] {
        let args = [&serve[..], &zenoh, &["--insecure-zenoh"], &policy].concat();
        let (code, stdout, stderr) = cli(&args);
        assert_eq!(code, 1, "{stdout}{stderr}");
        assert!(!stderr.contains("refusing to listen"), "{stderr}");
        assert!(stderr.contains("deadband = -2"), "{stderr}");
    }
}
