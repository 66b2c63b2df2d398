//! The OTA commands as a user runs them: make an image repository and a director
//! repository, serve them, and verify them as a vehicle would.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{cli, tomoe_bin};
use tomoe_test_support::{Process, Stop};

const VIN: &str = "JT3HN86R0W0123456";
const ECU: &str = "brake-ecu-0001";
const HARDWARE: &str = "brake-controller-v2";

/// A running `tomoe ota serve`; killed on drop.
struct OtaServer {
    _process: Process,
    url: String,
}

impl OtaServer {
    fn start(image: &Path, director: &Path) -> OtaServer {
        let mut command = Command::new(tomoe_bin());
        command
            .args(["ota", "serve", "--address", "127.0.0.1:0", "--image"])
            .arg(image)
            .arg("--director")
            .arg(director)
            .stderr(Stdio::piped());
        let (process, mut urls) = Process::spawn_announcing(&mut command, Stop::Kill, &[""]);
        OtaServer {
            url: urls.remove(0),
            _process: process,
        }
    }

    /// The status code of a GET of `path`, sent as is.
    fn status(&self, path: &str) -> u16 {
        let address = self.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response[9..12].parse().unwrap()
    }
}

struct Repositories {
    _temp: tempfile::TempDir,
    image: PathBuf,
    director: PathBuf,
    vehicle: PathBuf,
    firmware: PathBuf,
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn ok(args: &[&str]) -> String {
    let (code, stdout, stderr) = cli(args);
    assert_eq!(code, 0, "tomoe {}: {stderr}", args.join(" "));
    stdout
}

/// An image repository with brake firmware 2.0, and a director assigning it to
/// the vehicle's brake ECU.
fn repositories() -> Repositories {
    let temp = tempfile::tempdir().unwrap();
    let image = temp.path().join("image");
    let director = temp.path().join("director");
    let vehicle = director.join(VIN);
    let firmware = temp.path().join("brake-2.0.bin");
    fs::write(&firmware, b"brake firmware 2.0").unwrap();

    let stdout = ok(&["ota", "repo", "init", path(&image)]);
    assert!(stdout.contains("created image repository"), "{stdout}");
    assert!(stdout.contains("root key id "), "{stdout}");
    let stdout = ok(&[
        "ota",
        "repo",
        "init",
        path(&vehicle),
        "--director",
        "--expires-days",
        "30",
        "--json",
    ]);
    let created: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(created["kind"], "director");
    assert_eq!(created["root_key_ids"].as_array().unwrap().len(), 1);

    ok(&[
        "ota",
        "repo",
        "add",
        path(&image),
        path(&firmware),
        "--hardware-id",
        HARDWARE,
        "--release-counter",
        "2",
    ]);
    let stdout = ok(&[
        "ota",
        "repo",
        "add",
        path(&vehicle),
        path(&firmware),
        "--ecu",
        ECU,
        "--hardware-id",
        HARDWARE,
        "--release-counter",
        "2",
        "--json",
    ]);
    let added: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(added["name"], "brake-2.0.bin");
    assert_eq!(added["custom"]["ecu_identifier"], ECU);
    Repositories {
        _temp: temp,
        image,
        director,
        vehicle,
        firmware,
    }
}

fn check(repositories: &Repositories, server: &OtaServer) -> (i32, String, String) {
    check_trusting(repositories, server, &repositories.image.join("root.json"))
}

/// `tomoe ota check --json` trusting `root_image` for the image repository.
fn check_trusting(
    repositories: &Repositories,
    server: &OtaServer,
    root_image: &Path,
) -> (i32, String, String) {
    let image_url = format!("{}/image", server.url);
    let director_url = format!("{}/director", server.url);
    let ecu = format!("{ECU}:{HARDWARE}");
    let root_director = repositories.vehicle.join("root.json");
    cli(&[
        "ota",
        "check",
        "--image",
        &image_url,
        "--director",
        &director_url,
        "--vin",
        VIN,
        "--ecu",
        &ecu,
        "--root-image",
        path(root_image),
        "--root-director",
        path(&root_director),
        "--json",
    ])
}

#[test]
fn ota_check_verifies_served_repositories_and_refuses_a_tampered_image() {
    let repositories = repositories();
    let server = OtaServer::start(&repositories.image, &repositories.director);

    let (code, stdout, stderr) = check(&repositories, &server);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["status"], "ok");
    assert_eq!(report["install"][0]["ecu"], ECU);
    assert_eq!(report["install"][0]["target"], "brake-2.0.bin");
    assert_eq!(report["install"][0]["release_counter"], 2);

    // The signing keys are on the server's disk, but never served.
    assert_eq!(server.status("/image/keys/root.pem"), 404);
    assert_eq!(server.status("/image/../image/keys/root.pem"), 400);
    assert_eq!(server.status("/image/timestamp.json"), 200);

    // An attacker replaces the image on the server with bytes of the same length.
    fs::write(
        repositories.image.join("targets/brake-2.0.bin"),
        b"malware firmware!!",
    )
    .unwrap();
    let (code, stdout, stderr) = check(&repositories, &server);
    assert_eq!(code, 1, "{stdout}");
    assert!(stderr.contains("arbitrary software"), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["status"], "refused");
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .starts_with("arbitrary software: image \"brake-2.0.bin\" does not match"),
        "{report}"
    );
}

#[test]
fn ota_repo_rotate_and_sign_keep_the_repository_verifiable() {
    let repositories = repositories();
    for role in ["root", "timestamp"] {
        let stdout = ok(&[
            "ota",
            "repo",
            "rotate",
            path(&repositories.image),
            "--role",
            role,
            "--json",
        ]);
        let rotated: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_ne!(rotated["old_key_id"], rotated["new_key_id"]);
    }
    assert!(repositories.image.join("3.root.json").is_file());
    assert_eq!(
        fs::read_dir(repositories.image.join("keys/retired"))
            .unwrap()
            .count(),
        2
    );
    let stdout = ok(&["ota", "repo", "sign", path(&repositories.vehicle)]);
    assert!(stdout.contains("signed snapshot version 3"), "{stdout}");

    // The vehicle still trusts only the first root; it walks to the third.
    let first_root = repositories._temp.path().join("1.root.json");
    fs::copy(repositories.image.join("1.root.json"), &first_root).unwrap();
    let server = OtaServer::start(&repositories.image, &repositories.director);
    let (code, stdout, stderr) = check_trusting(&repositories, &server, &first_root);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\"status\":\"ok\""), "{stdout}");
}

#[test]
fn ota_repo_init_refuses_to_overwrite_and_add_checks_the_kind() {
    let repositories = repositories();
    let (code, _, stderr) = cli(&["ota", "repo", "init", path(&repositories.image)]);
    assert_eq!(code, 1);
    assert!(stderr.contains("already holds a repository"), "{stderr}");
    let (code, _, stderr) = cli(&[
        "ota",
        "repo",
        "add",
        path(&repositories.image),
        path(&repositories.firmware),
        "--ecu",
        ECU,
        "--hardware-id",
        HARDWARE,
        "--release-counter",
        "2",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--ecu is for director repositories"),
        "{stderr}"
    );
    let (code, _, stderr) = cli(&[
        "ota",
        "repo",
        "add",
        path(&repositories.vehicle),
        path(&repositories.firmware),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("a director target needs --ecu"), "{stderr}");
}

/// `tomoe ota check` with `extra` arguments.
fn check_with(repositories: &Repositories, server: &OtaServer, extra: &[&str]) -> (i32, String) {
    let image_url = format!("{}/image", server.url);
    let director_url = format!("{}/director", server.url);
    let ecu = format!("{ECU}:{HARDWARE}");
    let root_image = repositories.image.join("1.root.json");
    let root_director = repositories.vehicle.join("1.root.json");
    let mut args = vec![
        "ota",
        "check",
        "--image",
        &image_url,
        "--director",
        &director_url,
        "--vin",
        VIN,
        "--ecu",
        &ecu,
        "--root-image",
        path(&root_image),
        "--root-director",
        path(&root_director),
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = cli(&args);
    (code, format!("{stdout}{stderr}"))
}

#[test]
fn ota_check_keeps_trusted_state_across_runs_and_checks_expiry_at_a_given_time() {
    let repositories = repositories();
    let server = OtaServer::start(&repositories.image, &repositories.director);
    let state = tempfile::tempdir().unwrap();
    let state_dir = path(state.path());
    let (code, output) = check_with(&repositories, &server, &["--state-dir", state_dir]);
    assert_eq!(code, 0, "{output}");
    // Keep the image repository's current metadata, then publish a newer release.
    let saved: Vec<(PathBuf, Vec<u8>)> = ["timestamp.json", "snapshot.json", "targets.json"]
        .iter()
        .map(|name| {
            let file = repositories.image.join(name);
            let bytes = fs::read(&file).unwrap();
            (file, bytes)
        })
        .collect();
    let newer = repositories.firmware.with_file_name("brake-2.1.bin");
    fs::write(&newer, b"brake firmware 2.1").unwrap();
    ok(&[
        "ota",
        "repo",
        "add",
        path(&repositories.image),
        path(&newer),
        "--hardware-id",
        HARDWARE,
        "--release-counter",
        "2",
    ]);
    let (code, output) = check_with(&repositories, &server, &["--state-dir", state_dir]);
    assert_eq!(code, 0, "{output}");
    // A mirror serves the old metadata again: with its state the vehicle refuses it,
    // without it (every run starting from the root) it would not notice.
    for (file, bytes) in &saved {
        fs::write(file, bytes).unwrap();
    }
    let (code, output) = check_with(&repositories, &server, &["--state-dir", state_dir]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("rollback"), "{output}");
    let (code, output) = check_with(&repositories, &server, &[]);
    assert_eq!(code, 0, "{output}");

    // Expiry at a given time: far ahead, everything has expired.
    let (code, output) = check_with(&repositories, &server, &["--now", "2100-01-01T00:00:00Z"]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("expired"), "{output}");
    let (code, output) = check_with(&repositories, &server, &["--now", "yesterday"]);
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("--now"), "{output}");
}

#[test]
fn ota_repo_delegate_lets_each_tenant_sign_its_own_apps_only() {
    let repositories = repositories();
    let image = path(&repositories.image);
    let apps = repositories.image.parent().unwrap().join("apps");
    fs::create_dir_all(&apps).unwrap();
    let navigation = apps.join("navigation");
    fs::write(&navigation, b"honda navigation").unwrap();
    let charging = apps.join("charging");
    fs::write(&charging, b"nissan charging").unwrap();
    let honda_key = repositories.image.join("keys/delegated/honda.pem");

    let stdout = ok(&[
        "ota",
        "repo",
        "delegate",
        image,
        "--role",
        "honda",
        "--paths",
        "apps/honda/*",
        "--generate",
        "--json",
    ]);
    let delegated: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(delegated["role"], "honda");
    assert_eq!(delegated["terminating"], true);
    assert!(honda_key.is_file());
    let stdout = ok(&[
        "ota",
        "repo",
        "delegate",
        image,
        "--role",
        "nissan",
        "--paths",
        "apps/nissan/*",
        "--threshold",
        "1",
        "--generate",
    ]);
    assert!(
        stdout.contains("delegated apps/nissan/* to role nissan"),
        "{stdout}"
    );

    let add = |role: &str, name: &str, file: &Path, extra: &[&str]| {
        let mut args = vec![
            "ota",
            "repo",
            "add",
            image,
            path(file),
            "--role",
            role,
            "--name",
            name,
            "--hardware-id",
            HARDWARE,
            "--release-counter",
            "1",
        ];
        args.extend_from_slice(extra);
        cli(&args)
    };
    let (code, stdout, stderr) = add(
        "honda",
        "apps/honda/navigation",
        &navigation,
        &["--key", path(&honda_key), "--json"],
    );
    assert_eq!(code, 0, "{stderr}");
    let added: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(added["role"], "honda");
    let (code, _, stderr) = add("nissan", "apps/nissan/charging", &charging, &[]);
    assert_eq!(code, 0, "{stderr}");

    // Honda's key cannot sign under nissan's paths, by either role.
    let (code, _, stderr) = add("honda", "apps/nissan/evil", &navigation, &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("\"apps/nissan/evil\" is outside the paths of role honda (apps/honda/*)"),
        "{stderr}"
    );
    let (code, _, stderr) = add(
        "nissan",
        "apps/nissan/evil",
        &navigation,
        &["--key", path(&honda_key)],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("is not a key of role nissan"), "{stderr}");

    // The director assigns both apps; the vehicle verifies each through its tenant.
    for (ecu, name, file) in [
        ("app:navigation", "apps/honda/navigation", &navigation),
        ("app:charging", "apps/nissan/charging", &charging),
    ] {
        ok(&[
            "ota",
            "repo",
            "add",
            path(&repositories.vehicle),
            path(file),
            "--name",
            name,
            "--ecu",
            ecu,
            "--hardware-id",
            HARDWARE,
            "--release-counter",
            "1",
        ]);
    }
    let server = OtaServer::start(&repositories.image, &repositories.director);
    let (code, stdout) = check_with(
        &repositories,
        &server,
        &[
            "--ecu",
            &format!("app:navigation:{HARDWARE}"),
            "--ecu",
            &format!("app:charging:{HARDWARE}"),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    let signed_by: Vec<(&str, &str)> = report["install"]
        .as_array()
        .unwrap()
        .iter()
        .map(|one| {
            (
                one["target"].as_str().unwrap(),
                one["signed_by"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        signed_by.contains(&("apps/honda/navigation", "honda")),
        "{report}"
    );
    assert!(
        signed_by.contains(&("apps/nissan/charging", "nissan")),
        "{report}"
    );
    assert!(
        signed_by.contains(&("brake-2.0.bin", "targets")),
        "{report}"
    );
}
