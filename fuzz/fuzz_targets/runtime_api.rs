//! The app runtime's HTTP API: fuzzed method, path, query and body sent to the
//! real router of a real runtime (its store in a temporary directory). A body
//! that is a valid manifest has every command replaced by one that cannot exist,
//! so that the fuzzer never starts a program; everything else goes as it is.
#![no_main]
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime as Tokio;
use tomoe_runtime::{Manifest, Runtime, RuntimeConfig};
use tomoe_types::VehicleMode;
use tower::ServiceExt;

const ROUTES: &[&str] = &[
    "/v1/manifests",
    "/v1/workloads",
    "/v1/workloads/app",
    "/v1/workloads/app/start",
    "/v1/workloads/app/stop",
    "/v1/workloads/app/logs",
    "/v1/workloads/app/heartbeat",
];

#[derive(Debug, Arbitrary)]
enum Target {
    Route(u8),
    Raw(String),
    Workload { name: String, action: u8 },
}

#[derive(Debug, Arbitrary)]
struct Call {
    method: u8,
    target: Target,
    query: Option<String>,
    body: String,
}

struct Fixture {
    tokio: Tokio,
    runtime: Runtime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Bare command names are looked up in PATH: nothing to find there.
        let empty = std::env::temp_dir().join(format!("tomoe-fuzz-empty-{}", std::process::id()));
        std::fs::create_dir_all(&empty).expect("an empty directory");
        std::env::set_var("PATH", &empty);
        let data = std::env::temp_dir().join(format!("tomoe-fuzz-runtime-{}", std::process::id()));
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let config = RuntimeConfig {
            data_dir: data,
            broker_url: "http://127.0.0.1:1".into(),
            runtime_url: "http://127.0.0.1:1".into(),
            log_limit_bytes: 64 * 1024,
            stop_timeout: Duration::from_secs(1),
            tokens: None,
        };
        let runtime = tokio
            .block_on(async { Runtime::start(config, VehicleMode::Parked) })
            .expect("the runtime starts");
        Fixture { tokio, runtime }
    })
}

/// A valid manifest made harmless: no command can be found, no directory is used.
fn defused(body: String) -> String {
    match Manifest::parse(&body) {
        Ok(mut manifest) => {
            for workload in &mut manifest.workloads {
                workload.command = "tomoe-fuzz-no-such-command".into();
                workload.working_dir = None;
            }
            serde_json::to_string(&manifest).expect("a manifest serializes")
        }
        Err(_) => body,
    }
}

fuzz_target!(|call: Call| {
    let fixture = fixture();
    let method =
        [Method::GET, Method::POST, Method::DELETE, Method::PUT][call.method as usize % 4].clone();
    let mut uri = match &call.target {
        Target::Route(index) => ROUTES[*index as usize % ROUTES.len()].to_owned(),
        Target::Raw(raw) => raw.clone(),
        Target::Workload { name, action } => {
            let action = ["", "/start", "/stop", "/logs", "/heartbeat"][*action as usize % 5];
            format!("/v1/workloads/{name}{action}")
        }
    };
    if let Some(query) = &call.query {
        uri.push('?');
        uri.push_str(query);
    }
    let Ok(request) = Request::builder()
        .method(method)
        .uri(&uri)
        .header("content-type", "application/json")
        .body(Body::from(defused(call.body)))
    else {
        return;
    };
    fixture.tokio.block_on(async {
        let router = tomoe_runtime::api::router(fixture.runtime.clone());
        let response = router.oneshot(request).await.expect("the router answers");
        assert!(
            !response.status().is_server_error() || response.status().as_u16() == 503,
            "{uri}: {}",
            response.status()
        );
        let _ = response.into_body().collect().await;
    });
});
