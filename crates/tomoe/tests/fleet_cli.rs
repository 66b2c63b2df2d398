//! `tomoe fleet serve` as an operator runs it: against a real PostgreSQL, announcing
//! its URL, serving the operator API to tokens with the fleet scopes.

mod support;

use std::process::{Command, Stdio};

use tomoe_test_support::{PostgresServer, Process, Stop};

#[test]
fn the_fleet_backend_serves_operators_and_names_a_bad_database() {
    let Some(server) = PostgresServer::start() else {
        return;
    };
    let key = support::fixtures().join("jwt/signing.pub");
    let mut command = Command::new(support::tomoe_bin());
    command
        .args(["fleet", "serve", "--address", "127.0.0.1:0", "--database"])
        .arg(server.create_database())
        .arg("--jwt-public-key")
        .arg(&key)
        .stderr(Stdio::piped());
    let (backend, mut urls) =
        Process::spawn_announcing(&mut command, Stop::Terminate, &["tomoe fleet"]);
    let base = urls.remove(0);
    let http = reqwest::blocking::Client::new();
    let writer = support::token("signing.key", "fleet:write", 3600);
    let registration = serde_json::json!({
        "id": "honda-e-1",
        "brand": "Honda",
        "model": "e",
        "profile": "honda-e-2020",
        "primary_key": "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
        "ecus": [{"ecu_id": "central", "hardware_id": "tomoe-cc-1", "is_primary": true}],
    });
    let response = http
        .post(format!("{base}/fleet/v1/vehicles"))
        .bearer_auth(&writer)
        .json(&registration)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 201, "{:?}", response.text());
    let list: serde_json::Value = http
        .get(format!("{base}/fleet/v1/vehicles"))
        .bearer_auth(support::token("signing.key", "fleet", 3600))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list["items"][0]["id"], "honda-e-1");
    let response = http
        .get(format!("{base}/fleet/v1/vehicles"))
        .bearer_auth(support::token("other.key", "fleet", 3600))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    backend.stop();

    // No database there: a clear error, the password never printed, exit code 1.
    let closed = tomoe_test_support::net::closed_port();
    let (code, stdout, stderr) = support::cli(&[
        "fleet",
        "serve",
        "--address",
        "127.0.0.1:0",
        "--database",
        &format!("postgres://fleet:hunter2@{closed}/tomoe"),
        "--jwt-public-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains(&closed.to_string()), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    // Vehicles' Zenoh links are not authenticated yet: no open listener by accident.
    let (code, _, stderr) = support::cli(&[
        "fleet",
        "serve",
        "--database",
        "postgres://fleet@127.0.0.1:1/tomoe",
        "--jwt-public-key",
        key.to_str().unwrap(),
        "--zenoh-listen",
        "tcp/0.0.0.0:7447",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--insecure-zenoh"), "{stderr}");
}

/// `tomoe` with `args`, its exit code and standard output; a failure prints stderr.
fn run<S: AsRef<str>>(args: &[S]) -> (i32, String) {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let (code, stdout, stderr) = support::cli(&args);
    if code != 0 {
        eprintln!("tomoe {}: {stderr}", args.join(" "));
    }
    (code, stdout)
}

/// The JSON `tomoe` with `args` prints, which must succeed.
fn json<S: AsRef<str>>(args: &[S]) -> serde_json::Value {
    let (code, stdout) = run(args);
    assert_eq!(code, 0, "{stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn wait_for(what: &str, mut done: impl FnMut() -> Result<(), String>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match done() {
            Ok(()) => return,
            Err(last) if std::time::Instant::now() > deadline => panic!("{what}: {last}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(250)),
        }
    }
}

#[test]
fn an_operator_rolls_an_update_out_to_simulated_vehicles_from_the_command_line() {
    let Some(server) = PostgresServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    // The repositories, made with the OTA tooling; the director's root key goes offline.
    assert_eq!(run(&["ota", "repo", "init", &path("image")]).0, 0);
    let images = [
        ("range-estimator-1.0", "1"),
        ("range-estimator-2.0", "2"),
        ("range-estimator-2.1", "3"),
    ];
    for (name, release) in images {
        std::fs::write(dir.path().join(name), format!("estimator {release}")).unwrap();
        let add = [
            "ota",
            "repo",
            "add",
            &path("image"),
            &path(name),
            "--hardware-id",
            "tomoe-app",
            "--release-counter",
            release,
        ];
        assert_eq!(run(&add).0, 0);
    }
    // 2.1's bytes change after signing: every download of it fails verification.
    std::fs::write(path("image/targets/range-estimator-2.1"), "tampered").unwrap();
    assert_eq!(
        run(&["ota", "repo", "init", "--director", &path("director")]).0,
        0
    );
    std::fs::rename(path("director/keys/root.pem"), path("root.pem")).unwrap();
    let zenoh = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("tcp/{}", listener.local_addr().unwrap())
    };
    let mut command = Command::new(support::tomoe_bin());
    command
        .args(["fleet", "serve", "--address", "127.0.0.1:0", "--database"])
        .arg(server.create_database())
        .arg("--jwt-public-key")
        .arg(support::fixtures().join("jwt/signing.pub"))
        .args([
            "--director",
            &path("director"),
            "--image-repository",
            &path("image"),
        ])
        .args(["--zenoh-listen", &zenoh])
        .stderr(Stdio::piped());
    let (backend, mut urls) =
        Process::spawn_announcing(&mut command, Stop::Terminate, &["tomoe fleet"]);
    let base = urls.remove(0);
    let writer = support::token("signing.key", "fleet:write", 3600);
    let operator = |args: &[&str]| -> Vec<String> {
        let api = ["--server", base.as_str(), "--token", writer.as_str()];
        args.iter().chain(&api).map(|a| a.to_string()).collect()
    };

    // Six vehicles of two brands, checking every second, sending telemetry and
    // reporting manifests over Zenoh (not HTTP).
    let policy = support::repo_root().join("examples/telemetry-policy.toml");
    let simulator = Command::new(support::tomoe_bin())
        .args(operator(&[
            "fleet",
            "simulate",
            "--vehicles",
            "6",
            "--check-interval",
            "1",
            "--duration",
            "25",
            "--installed",
            "range-estimator-1.0",
            "--director-root",
            &path("director/1.root.json"),
            "--image-root",
            &path("image/1.root.json"),
            "--telemetry-policy",
            policy.to_str().unwrap(),
            "--zenoh-connect",
            &zenoh,
            "--manifests-over-zenoh",
            "--json",
        ]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the simulator registers six vehicles", || {
        let list = json(&operator(&["fleet", "vehicles", "--json"]));
        match list["items"].as_array().map(Vec::len) {
            Some(6) => Ok(()),
            _ => Err(list.to_string()),
        }
    });

    // A campaign for one brand, all at once; the other brand is not touched.
    let created = json(&operator(&[
        "fleet",
        "campaign",
        "create",
        "--name",
        "estimator 2.0",
        "--image",
        "range-estimator-2.0",
        "--brand",
        "hyundai",
        "--canary",
        "1",
        "--waves",
        "1",
        "--json",
    ]));
    let id = created["id"].as_i64().unwrap().to_string();
    assert_eq!(created["vehicles"], 3, "{created}");
    wait_for("the campaign completes", || {
        let status = json(&operator(&["fleet", "campaign", "status", &id, "--json"]));
        match status["state"].as_str() {
            Some("completed") => Ok(()),
            _ => Err(status.to_string()),
        }
    });
    let (code, text) = run(&operator(&["fleet", "campaign", "status", &id]));
    assert_eq!(code, 0);
    assert!(text.contains("\"estimator 2.0\": completed"), "{text}");
    assert!(text.contains("installed 3"), "{text}");
    let kona = json(&operator(&[
        "fleet",
        "vehicle",
        "sim-hyundai-00001",
        "--json",
    ]));
    assert_eq!(
        kona["installed"][0]["filename"], "range-estimator-2.0",
        "{kona}"
    );
    let leaf = json(&operator(&[
        "fleet",
        "vehicle",
        "sim-nissan-00001",
        "--json",
    ]));
    assert_eq!(
        leaf["installed"][0]["filename"], "range-estimator-1.0",
        "{leaf}"
    );

    // Telemetry arrived over Zenoh, as each vehicle's policy allows.
    let http = reqwest::blocking::Client::new();
    let reader = support::token("signing.key", "fleet", 3600);
    let get = |url: String| -> serde_json::Value {
        let response = http.get(url).bearer_auth(&reader).send().unwrap();
        assert_eq!(response.status(), 200);
        response.json().unwrap()
    };
    wait_for("telemetry of both models", || {
        let means = get(format!("{base}/fleet/v1/telemetry/mean?path=Vehicle.Speed"));
        match means.as_array().map(Vec::len) {
            Some(2) => Ok(()),
            _ => Err(means.to_string()),
        }
    });
    let latest = get(format!(
        "{base}/fleet/v1/vehicles/sim-nissan-00002/telemetry"
    ));
    assert!(latest.to_string().contains("Vehicle.Speed"), "{latest}");

    // An update that fails before it runs (its download fails verification, no
    // rollback needed) is `failed`, with the vehicle's reason.
    let broken = json(&operator(&[
        "fleet",
        "campaign",
        "create",
        "--name",
        "estimator 2.1",
        "--image",
        "range-estimator-2.1",
        "--brand",
        "nissan",
        "--canary",
        "1",
        "--waves",
        "1",
        "--json",
    ]));
    let broken = broken["id"].as_i64().unwrap().to_string();
    wait_for("every nissan fails 2.1", || {
        let status = json(&operator(&[
            "fleet", "campaign", "status", &broken, "--json",
        ]));
        match status["counts"]["failed"].as_u64() {
            Some(3) => Ok(()),
            _ => Err(status.to_string()),
        }
    });
    let failed = json(&operator(&[
        "fleet",
        "campaign",
        "status",
        &broken,
        "--vehicles",
        "--status",
        "failed",
        "--json",
    ]));
    let failed = failed["items"].as_array().unwrap();
    assert_eq!(failed.len(), 3, "{failed:?}");
    for row in failed {
        let reason = row["reason"].as_str().unwrap();
        assert!(reason.starts_with("download:"), "{row}");
    }
    let cancelled = json(&operator(&[
        "fleet", "campaign", "cancel", &broken, "--json",
    ]));
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");

    // Operator mistakes: a clear error and exit code 1.
    for (args, expected) in [
        (
            operator(&[
                "fleet",
                "campaign",
                "create",
                "--name",
                "x",
                "--image",
                "range-estimator-2.0",
                "--brand",
                "tesla",
            ]),
            "targets nothing",
        ),
        (
            operator(&["fleet", "campaign", "pause", "999"]),
            "no campaign 999",
        ),
        (
            vec![
                "fleet".into(),
                "vehicles".into(),
                "--server".into(),
                base.clone(),
            ],
            "no bearer token",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, stderr) = support::cli(&args);
        assert_eq!(code, 1, "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }

    // Ctrl-C ends the simulation with its report.
    let interrupted = Command::new("kill")
        .args(["-INT", &simulator.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let output = simulator.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let simulation: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let reports = simulation["vehicles"].as_array().unwrap();
    assert_eq!(reports.len(), 6);
    for report in reports {
        // A nissan's failed download of 2.1 is its one error.
        let errors = if report["brand"] == "nissan" { 1 } else { 0 };
        assert_eq!(report["errors"], errors, "{report}");
    }
    // What the run sustained: the checks the vehicles made, reports and telemetry.
    let sustained = &simulation["sustained"];
    let checks: u64 = reports.iter().map(|r| r["checks"].as_u64().unwrap()).sum();
    assert_eq!(sustained["update_checks"]["count"], checks, "{sustained}");
    assert!(
        sustained["manifest_reports"]["count"].as_u64() >= Some(6),
        "{sustained}"
    );
    assert!(
        sustained["telemetry_sent"].as_u64() > Some(0),
        "{sustained}"
    );

    // With the vehicles stopped, an operator pauses, resumes and cancels a campaign.
    let nissan = |name: &str| {
        let args = [
            "fleet",
            "campaign",
            "create",
            "--name",
            name,
            "--image",
            "range-estimator-2.0",
            "--brand",
            "nissan",
            "--json",
        ];
        json(&operator(&args))["id"].as_i64().unwrap().to_string()
    };
    let id = nissan("leaf 2.0");
    let act = |action: &str, id: &str, json_out: bool| {
        let mut args = vec![
            "fleet",
            "campaign",
            action,
            id,
            "--reason",
            "operator check",
        ];
        if json_out {
            args.push("--json");
        }
        let (code, stdout) = run(&operator(&args));
        assert_eq!(code, 0, "{action} {id}: {stdout}");
        stdout
    };
    let state = |stdout: String| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["state"].clone()
    };
    assert!(act("pause", &id, false).contains("\"leaf 2.0\": paused"));
    assert_eq!(state(act("resume", &id, true)), "active");
    assert_eq!(state(act("pause", &id, true)), "paused");
    assert!(act("resume", &id, false).contains("\"leaf 2.0\": active"));
    assert!(act("cancel", &id, false).contains("\"leaf 2.0\": cancelled"));
    let status = json(&operator(&["fleet", "campaign", "status", &id, "--json"]));
    assert_eq!(status["state"], "cancelled", "{status}");
    backend.stop();
}
