//! `tomoe subscribe` prints what changes: a value published again unchanged (a
//! simulator repeating a standing speed of 0) is not printed again.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{cli, tomoe_bin, ServerProcess};
use tomoe_test_support::{Process, Stop};

#[test]
fn subscribe_prints_each_change_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--insecure"]);
    let broker = server.url.as_str();
    let mut subscriber = Process::spawn(
        Command::new(tomoe_bin())
            .args(["subscribe", "--broker", broker, "Vehicle.Speed"])
            .stderr(Stdio::null()),
        Stop::Kill,
    );
    let wait = Duration::from_secs(30);
    subscriber
        .wait_for_line(wait, |line| line == "Vehicle.Speed = (no value)")
        .expect("the first update holds every signal");
    for value in ["0", "0", "0", "12.5"] {
        let (code, _, stderr) = cli(&["set", "--broker", broker, "Vehicle.Speed", value]);
        assert_eq!(code, 0, "{stderr}");
    }
    let mut printed = Vec::new();
    subscriber
        .wait_for_line(wait, |line| {
            printed.push(line.to_owned());
            line.contains("12.5")
        })
        .expect("the change to 12.5 is printed");
    assert_eq!(
        printed,
        ["Vehicle.Speed = 0 km/h", "Vehicle.Speed = 12.5 km/h"],
        "an unchanged value was printed again"
    );
}
