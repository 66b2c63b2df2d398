//! The command line's argument rules, as a user meets them: every command has
//! help (a debug build checks clap's definition when it parses), and conflicting
//! or incomplete options are refused with exit code 2 before anything starts.

mod support;

use support::cli;

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
