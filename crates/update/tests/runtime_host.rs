//! The app runtime as the update agent's host, with real processes.

use std::path::Path;
use std::time::{Duration, Instant};

use tomoe_runtime::{Manifest, Runtime, RuntimeConfig};
use tomoe_types::{Tenant, VehicleMode};
use tomoe_update::AppHost;

fn config(dir: &Path) -> RuntimeConfig {
    RuntimeConfig {
        data_dir: dir.to_owned(),
        broker_url: "http://127.0.0.1:1".into(),
        runtime_url: "http://127.0.0.1:1".into(),
        log_limit_bytes: 64 * 1024,
        stop_timeout: Duration::from_secs(2),
        tokens: None,
    }
}

/// Writes an executable `sleep` at `path` as a new file, made different by `tail`.
fn write_image(path: &Path, tail: &str) {
    use std::os::unix::fs::PermissionsExt;
    let mut bytes = std::fs::read("/bin/sleep").unwrap();
    bytes.extend_from_slice(tail.as_bytes());
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

async fn running_pid(runtime: &Runtime, not: Option<u32>) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = runtime.status("app").await.unwrap();
        if let Some(status) = status {
            if let Some(pid) = status.pid {
                if Some(pid) != not && status.state == tomoe_types::WorkloadState::Running {
                    return pid;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no new running process of the app"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// After a crash between an install's switch and its re-apply, the next image can
// land in the very slot the app still runs from: same path, new executable. The
// re-apply of an unchanged spec kept the old process, and the agent committed an
// update the app was not running (found by scripts/fault-inject-ota.sh).
#[tokio::test]
#[cfg(target_os = "linux")]
async fn a_new_image_at_the_same_path_is_started() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("slot-a-image");
    write_image(&image, "version 1");
    let runtime = Runtime::start(config(&dir.path().join("data")), VehicleMode::Parked).unwrap();
    let manifest = Manifest::parse(&format!(
        "apiVersion: tomoe.dev/v1\nworkloads:\n  - name: app\n    command: {}\n    args: [\"600\"]\n",
        image.display()
    ))
    .unwrap();
    runtime.apply(manifest).await.unwrap();
    let first = running_pid(&runtime, None).await;

    write_image(&image, "version 2");
    runtime.run_from("app", &image, None).await.unwrap();
    let second = running_pid(&runtime, Some(first)).await;
    let exe = std::fs::read_link(format!("/proc/{second}/exe")).unwrap();
    assert!(
        !exe.display().to_string().ends_with("(deleted)"),
        "the app runs a replaced image: {}",
        exe.display()
    );
    assert_eq!(std::fs::read(&exe).unwrap(), std::fs::read(&image).unwrap());
    let _ = runtime.shutdown().await;
}

/// The token in the environment of process `pid`.
fn token_of(pid: u32) -> String {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    environ
        .split(|byte| *byte == 0)
        .find_map(|entry| entry.strip_prefix(b"TOMOE_TOKEN="))
        .map(|token| String::from_utf8(token.to_vec()).unwrap())
        .expect("the app got a token")
}

// An update signed through tenant nissan's delegated role makes the app nissan's:
// it is restarted with a token of that tenant (reaching Vehicle.Private.Nissan and
// no other tenant's branch), even from the same path.
#[tokio::test]
#[cfg(target_os = "linux")]
async fn an_app_runs_with_a_token_of_the_tenant_that_signed_its_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("slot-a-image");
    write_image(&image, "version 1");
    let issuer = std::sync::Arc::new(tomoe_auth::TokenIssuer::generate());
    let mut config = config(&dir.path().join("data"));
    config.tokens = Some(issuer.clone());
    let runtime = Runtime::start(config, VehicleMode::Parked).unwrap();
    let manifest = Manifest::parse(&format!(
        "apiVersion: tomoe.dev/v1\nworkloads:\n  - name: app\n    command: {}\n    args: [\"600\"]\n    access:\n      read: [Vehicle.Speed]\n",
        image.display()
    ))
    .unwrap();
    runtime.apply(manifest).await.unwrap();
    let first = running_pid(&runtime, None).await;
    let tenant_of = |pid| {
        let grant = issuer.verifier().verify_grant(&token_of(pid)).unwrap();
        grant.permissions.tenant().map(ToString::to_string)
    };
    assert_eq!(tenant_of(first), None);

    let nissan = Tenant::new("nissan").unwrap();
    runtime
        .run_from("app", &image, Some(&nissan))
        .await
        .unwrap();
    let second = running_pid(&runtime, Some(first)).await;
    assert_eq!(tenant_of(second).as_deref(), Some("nissan"));
    let apps = runtime.apps().await.unwrap();
    assert_eq!(apps[0].tenant.as_ref(), Some(&nissan));
    assert_eq!(tomoe_update::signer_tenant("nissan"), Some(nissan));
    assert_eq!(
        tomoe_update::signer_tenant("targets")
            .map(|t| t.to_string())
            .as_deref(),
        Some("alliance")
    );
    assert_eq!(tomoe_update::signer_tenant("Not A Tenant"), None);
    let _ = runtime.shutdown().await;
}
