//! One OS, two badges, end to end with real processes: the Nissan Leaf and its
//! Mitsubishi-badged twin (`tomoe up --variant`) on the same hardware profile run the
//! same app binary from one image repository, each installed through its brand's
//! delegated role, and each app runs with a token of the tenant that signed it.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{cli, repo_root};
use tomoe_test_support::{sibling_binary, Process, Stop};

fn ok(args: &[&str]) -> String {
    let (code, stdout, stderr) = cli(args);
    assert_eq!(code, 0, "tomoe {}: {stderr}", args.join(" "));
    stdout
}

fn demo_key(tenant: &str) -> String {
    repo_root()
        .join(format!("alliance/demo-keys/{tenant}-apps.pem"))
        .display()
        .to_string()
}

struct Vehicle {
    _process: Process,
    runtime: String,
    data: PathBuf,
}

impl Vehicle {
    /// `tomoe up --variant VARIANT --idle` with its update agent on `server`.
    fn start(variant: &str, vin: &str, server: &str, repos: &Path, data: &Path) -> Vehicle {
        let (process, urls) = Process::spawn_announcing(
            Command::new(env!("CARGO_BIN_EXE_tomoe"))
                .args(["up", "--variant", variant, "--idle"])
                .args([
                    "--address",
                    "127.0.0.1:0",
                    "--runtime-address",
                    "127.0.0.1:0",
                ])
                .args(["--http-address", "127.0.0.1:0"])
                .args(["--ota-director", &format!("{server}/director")])
                .args(["--ota-image", &format!("{server}/image"), "--vin", vin])
                .args(["--ota-interval-ms", "300", "--ota-health-window-ms", "2000"])
                .arg("--ota-root-director")
                .arg(repos.join("director").join(vin).join("root.json"))
                .arg("--ota-root-image")
                .arg(repos.join("image/root.json"))
                .arg("--data-dir")
                .arg(data)
                .stderr(Stdio::null()),
            Stop::Terminate,
            &["broker", "runtime"],
        );
        Vehicle {
            _process: process,
            runtime: urls[1].clone(),
            data: data.to_owned(),
        }
    }

    fn app(&self) -> serde_json::Value {
        let stdout = ok(&["ps", "--runtime", &self.runtime, "--json"]);
        let all: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        all.as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == "app")
            .cloned()
            .unwrap_or_default()
    }
}

fn wait(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The running app's executable and the tenant of its broker token, verified with
/// the runtime's key in `data`.
fn running(app: &serde_json::Value, data: &Path) -> Option<(PathBuf, Option<String>)> {
    let pid = app["pid"].as_u64()?;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let token = environ
        .split(|byte| *byte == 0)
        .find_map(|entry| entry.strip_prefix(b"TOMOE_TOKEN="))?;
    let issuer = tomoe_auth::TokenIssuer::load_or_create(&data.join("keys")).ok()?;
    let grant = issuer
        .verifier()
        .verify_grant(std::str::from_utf8(token).ok()?)
        .ok()?;
    Some((exe, grant.permissions.tenant().map(ToString::to_string)))
}

#[test]
#[cfg(target_os = "linux")]
fn two_badges_run_one_image_each_through_its_brands_role() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path();
    let image = repos.join("image");
    let image_dir = image.to_str().unwrap();
    ok(&["ota", "repo", "init", image_dir]);
    for tenant in ["nissan", "mitsubishi"] {
        let paths = format!("apps/{tenant}/*");
        let key = demo_key(tenant);
        ok(&[
            "ota", "repo", "delegate", image_dir, "--role", tenant, "--paths", &paths, "--key",
            &key,
        ]);
    }

    // One app binary, version 2, signed once by each brand under its own path.
    let app = sibling_binary(
        env!("CARGO_BIN_EXE_tomoe"),
        "test-workload",
        "tomoe-test-workload",
    );
    let version2 = repos.join("app-v2");
    let mut bytes = std::fs::read(&app).unwrap();
    bytes.extend_from_slice(b"\ntomoe app version 2\n");
    std::fs::write(&version2, bytes).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&version2, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let file = version2.to_str().unwrap();
    for tenant in ["nissan", "mitsubishi"] {
        let name = format!("apps/{tenant}/app");
        let key = demo_key(tenant);
        ok(&[
            "ota",
            "repo",
            "add",
            image_dir,
            file,
            "--name",
            &name,
            "--hardware-id",
            "tomoe-app",
            "--release-counter",
            "2",
            "--role",
            tenant,
            "--key",
            &key,
        ]);
    }
    // Mitsubishi's key cannot sign under Nissan's path.
    let (code, _, stderr) = cli(&[
        "ota",
        "repo",
        "add",
        image_dir,
        file,
        "--name",
        "apps/nissan/evil",
        "--hardware-id",
        "tomoe-app",
        "--release-counter",
        "2",
        "--role",
        "mitsubishi",
        "--key",
        &demo_key("mitsubishi"),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("mitsubishi") && stderr.contains("apps/nissan/evil"),
        "{stderr}"
    );

    // Each vehicle's director assigns its brand's target.
    let vehicles = [
        ("nissan-leaf", "TOMOE00000000NSLF", "nissan"),
        ("mitsubishi-e-leaf", "TOMOE00000000MELF", "mitsubishi"),
    ];
    for (_, vin, tenant) in vehicles {
        let director = repos.join("director").join(vin);
        ok(&[
            "ota",
            "repo",
            "init",
            "--director",
            director.to_str().unwrap(),
        ]);
        let name = format!("apps/{tenant}/app");
        ok(&[
            "ota",
            "repo",
            "add",
            director.to_str().unwrap(),
            file,
            "--name",
            &name,
            "--ecu",
            "app:app",
            "--hardware-id",
            "tomoe-app",
            "--release-counter",
            "2",
        ]);
    }
    let (_server, urls) = Process::spawn_announcing(
        Command::new(env!("CARGO_BIN_EXE_tomoe"))
            .args(["ota", "serve", "--address", "127.0.0.1:0", "--image"])
            .arg(&image)
            .arg("--director")
            .arg(repos.join("director"))
            .stderr(Stdio::null()),
        Stop::Terminate,
        &["tomoe ota serving"],
    );
    let server = &urls[0];

    let manifest = repos.join("app.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: tomoe.dev/v1\nworkloads:\n  - name: app\n    command: {}\n    args: [run, --heartbeat-ms, \"200\"]\n    health: {{heartbeat: {{deadlineMs: 1500}}, startupGraceMs: 500}}\n    access:\n      read: [Vehicle.Speed]\n",
            app.display()
        ),
    )
    .unwrap();
    let mut running_vehicles = Vec::new();
    for (variant, vin, _) in vehicles {
        let data = repos.join(format!("data-{variant}"));
        let vehicle = Vehicle::start(variant, vin, server, repos, &data);
        let primary = data.join("ota/primary.pub");
        wait("the primary's public key", || primary.is_file());
        std::fs::copy(
            &primary,
            repos.join("director").join(vin).join("primary.pub"),
        )
        .unwrap();
        ok(&[
            "apply",
            "--runtime",
            &vehicle.runtime,
            manifest.to_str().unwrap(),
        ]);
        running_vehicles.push(vehicle);
    }
    for ((variant, _, tenant), vehicle) in vehicles.iter().zip(&running_vehicles) {
        wait(&format!("{variant} to run version 2 as {tenant}'s"), || {
            let app = vehicle.app();
            app["state"] == "running"
                && running(&app, &vehicle.data).is_some_and(|(exe, claimed)| {
                    std::fs::read(&exe).is_ok_and(|bytes| bytes.ends_with(b"tomoe app version 2\n"))
                        && claimed.as_deref() == Some(*tenant)
                })
        });
    }
    // The very same image bytes in both.
    let images: Vec<Vec<u8>> = running_vehicles
        .iter()
        .map(|vehicle| std::fs::read(running(&vehicle.app(), &vehicle.data).unwrap().0).unwrap())
        .collect();
    assert_eq!(images[0], images[1]);
    assert_eq!(images[0], std::fs::read(&version2).unwrap());
}
