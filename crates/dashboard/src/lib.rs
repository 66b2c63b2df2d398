//! The web dashboard of `tomoe up`, at `/` on the platform's HTTP address.
//!
//! The page is plain HTML, CSS and JavaScript without a build step, compiled into the
//! binary with `include_str!`. It reads the vehicle only through the platform's public
//! APIs: VISS over WebSocket for live values, the signal tree and history, and the
//! SOVD REST API (`/sovd/v1`, same origin) for workloads, logs, faults and OTA
//! updates. `/dashboard/config.json` tells the page where the VISS server is.
//! docs/dashboard.md describes each panel.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

/// The page.
pub const INDEX_HTML: &str = include_str!("../assets/index.html");
/// The page's script.
pub const APP_JS: &str = include_str!("../assets/app.js");
/// The page's style sheet.
pub const STYLE_CSS: &str = include_str!("../assets/style.css");

/// Where the page finds the platform's APIs, served as `/dashboard/config.json`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DashboardConfig {
    /// The VISS WebSocket URL (`ws://127.0.0.1:8090`), `None` when VISS is off.
    pub viss_url: Option<String>,
    /// WebSocket subprotocols the page offers to the VISS server (`VISS-v3.0`, ...);
    /// empty to offer none.
    pub viss_protocols: Vec<String>,
    /// Whether the APIs want an access token (the platform runs with
    /// `--jwt-public-key`); the page then asks for one.
    pub token_required: bool,
    /// The SOVD API's base path, relative to the page's origin.
    pub sovd_base: String,
}

impl DashboardConfig {
    /// A configuration with the SOVD API at its usual `/sovd/v1`.
    pub fn new(viss_url: Option<String>, token_required: bool) -> Self {
        Self {
            viss_url,
            viss_protocols: Vec::new(),
            token_required,
            sovd_base: "/sovd/v1".to_owned(),
        }
    }
}

/// What the page may load and connect to: its own assets, and WebSockets or HTTP
/// anywhere (the VISS server listens on another port). No inline script or style.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self' ws: wss: http: https:; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
        ],
        body,
    )
        .into_response()
}

/// The dashboard's routes: `/`, `/dashboard/app.js`, `/dashboard/style.css` and
/// `/dashboard/config.json`. Merge them with the SOVD router on the HTTP address.
pub fn router(config: DashboardConfig) -> axum::Router {
    let config = serde_json::to_string(&config).expect("the configuration serializes");
    axum::Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/dashboard/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/dashboard/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route(
            "/dashboard/config.json",
            get(move || {
                let config = config.clone();
                async move {
                    (
                        StatusCode::OK,
                        [
                            (header::CONTENT_TYPE, "application/json"),
                            (header::CACHE_CONTROL, "no-store"),
                        ],
                        config,
                    )
                }
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn fetch(router: axum::Router, path: &str) -> (StatusCode, String, String) {
        let response = router
            .oneshot(
                axum::http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn serves_the_page_and_its_assets() {
        let router = router(DashboardConfig::new(None, false));
        let (status, kind, body) = fetch(router.clone(), "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(kind.starts_with("text/html"));
        assert!(body.contains("/dashboard/app.js") && body.contains("/dashboard/style.css"));
        let (status, kind, body) = fetch(router.clone(), "/dashboard/app.js").await;
        assert_eq!(
            (status, kind.as_str()),
            (StatusCode::OK, "text/javascript; charset=utf-8")
        );
        assert_eq!(body, APP_JS);
        let (status, kind, _) = fetch(router.clone(), "/dashboard/style.css").await;
        assert_eq!(
            (status, kind.as_str()),
            (StatusCode::OK, "text/css; charset=utf-8")
        );
        let (status, _, _) = fetch(router, "/dashboard/missing.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn tells_the_page_where_viss_is() {
        let config = DashboardConfig::new(Some("ws://127.0.0.1:8090".into()), true);
        let (status, kind, body) = fetch(router(config), "/dashboard/config.json").await;
        assert_eq!(
            (status, kind.as_str()),
            (StatusCode::OK, "application/json")
        );
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["viss_url"], "ws://127.0.0.1:8090");
        assert_eq!(json["token_required"], true);
        assert_eq!(json["sovd_base"], "/sovd/v1");
        let (_, _, body) =
            fetch(router(DashboardConfig::default()), "/dashboard/config.json").await;
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["viss_url"],
            serde_json::Value::Null
        );
    }

    /// The script never hands data to the HTML parser: text goes through
    /// `textContent` and elements are built with `createElement`.
    #[test]
    fn the_script_does_not_parse_html() {
        for forbidden in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!APP_JS.contains(forbidden), "app.js uses {forbidden}");
        }
        assert!(
            !INDEX_HTML.contains("<script>"),
            "no inline script (the CSP forbids it)"
        );
    }
}
