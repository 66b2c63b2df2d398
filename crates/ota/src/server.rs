//! An HTTP server for an image repository and a director, as [`crate::HttpFetcher`]
//! reads them.
//!
//! [`ota_router`] serves:
//!
//! | request | answer |
//! |---|---|
//! | `GET /image/<file>` | a file of the image repository directory |
//! | `GET /director/<VIN>/<file>` | a file of the vehicle's director directory, `<director>/<VIN>/` |
//! | `POST /director/<VIN>/manifest` | stores the vehicle's signed version manifest |
//!
//! Only what a TUF client reads is served: `root.json`, `<N>.root.json`,
//! `timestamp.json`, `snapshot.json`, `targets.json` and files under `targets/`,
//! and in the image repository its delegated targets roles (`<role>.json`).
//! Anything else in the directories (signing keys, `primary.pub`, stored
//! manifests) is answered with 404, and a path with `..` or another component
//! that is not a plain name with 400.
//!
//! A manifest is checked against the primary's public key in
//! `<director>/<VIN>/primary.pub` (PEM) if that file exists, and stored as
//! `<director>/<VIN>/manifest.json`, the latest per vehicle. A manifest older than
//! the stored one is refused, so that a replayed manifest cannot hide what the
//! vehicle runs. The vehicle's director directory must exist.
//!
//! The server signs nothing and holds no keys: it serves what the repository
//! tooling wrote. It is meant for development and test fleets; in production the
//! files are usually served by a CDN.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::manifest::{read_public_key, verify_manifest, SignedManifest, VehicleManifest};
use crate::OtaError;

/// The largest vehicle manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;

/// The file a vehicle's latest manifest is stored in, in its director directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The file a vehicle's primary ECU public key is registered in, in its director directory.
pub const PRIMARY_KEY_FILE: &str = "primary.pub";

/// How many bytes of a file each body chunk carries.
const CHUNK_BYTES: usize = 256 * 1024;

#[derive(Debug)]
struct Directories {
    image: PathBuf,
    director: PathBuf,
}

/// The routes serving the image repository in `image_dir` under `/image/` and the
/// director repositories in `director_dir/<VIN>/` under `/director/<VIN>/`, and
/// receiving vehicle manifests. See the module documentation.
pub fn ota_router(image_dir: impl Into<PathBuf>, director_dir: impl Into<PathBuf>) -> Router {
    let directories = Arc::new(Directories {
        image: image_dir.into(),
        director: director_dir.into(),
    });
    Router::new()
        .route("/image/{*path}", get(image_file))
        .route(
            "/director/{vin}/{*path}",
            get(director_file).post(receive_manifest),
        )
        .layer(DefaultBodyLimit::max(MAX_MANIFEST_BYTES))
        .with_state(directories)
}

/// The routes serving only the image repository in `image_dir` under `/image/`,
/// for a director that is served by something else (the fleet backend).
pub fn image_router(image_dir: impl Into<PathBuf>) -> Router {
    let directories = Arc::new(Directories {
        image: image_dir.into(),
        director: PathBuf::new(),
    });
    Router::new()
        .route("/image/{*path}", get(image_file))
        .with_state(directories)
}

async fn image_file(
    State(directories): State<Arc<Directories>>,
    UrlPath(path): UrlPath<String>,
) -> Response {
    // The image repository also serves its delegated roles, `<role>.json`.
    let delegated = path
        .strip_suffix(".json")
        .is_some_and(crate::delegation::valid_role_name);
    serve_file(directories.image.clone(), path, delegated).await
}

async fn director_file(
    State(directories): State<Arc<Directories>>,
    UrlPath((vin, path)): UrlPath<(String, String)>,
) -> Response {
    if let Err(reason) = check_vin(&vin) {
        return refusal(StatusCode::BAD_REQUEST, reason);
    }
    serve_file(directories.director.join(vin), path, false).await
}

/// Serves `dir/path` if it is a file a TUF client reads (or `also`, a
/// delegated role of the image repository).
async fn serve_file(dir: PathBuf, path: String, also: bool) -> Response {
    if let Err(reason) = check_path(&path) {
        return refusal(StatusCode::BAD_REQUEST, reason);
    }
    if !also && !is_repository_file(&path) {
        return refusal(StatusCode::NOT_FOUND, format!("no file \"{path}\""));
    }
    let full_path = dir.join(&path);
    let opened = tokio::task::spawn_blocking(move || -> io::Result<(fs::File, u64)> {
        let file = fs::File::open(&full_path)?;
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok((file, metadata.len()))
    })
    .await;
    let (file, length) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(error)) if error.kind() == io::ErrorKind::NotFound => {
            return refusal(StatusCode::NOT_FOUND, format!("no file \"{path}\""))
        }
        Ok(Err(error)) => {
            tracing::warn!(path, %error, "cannot open a repository file");
            return refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read \"{path}\""),
            );
        }
        Err(error) => {
            return refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read \"{path}\": {error}"),
            )
        }
    };
    let content_type = if path.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    let mut response = Body::from_stream(file_chunks(file)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if path.ends_with(".json") {
        // Metadata changes in place; a cache must not serve an old timestamp.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

/// The file's bytes in chunks, each read on the blocking pool.
fn file_chunks(file: fs::File) -> impl futures::Stream<Item = io::Result<Bytes>> {
    futures::stream::try_unfold(file, |mut file| async move {
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            let mut chunk = vec![0; CHUNK_BYTES];
            let count = file.read(&mut chunk)?;
            chunk.truncate(count);
            Ok::<_, io::Error>((file, chunk))
        })
        .await
        .map_err(io::Error::other)??;
        Ok((!chunk.is_empty()).then(|| (Bytes::from(chunk), file)))
    })
}

/// `POST /director/<VIN>/manifest`.
async fn receive_manifest(
    State(directories): State<Arc<Directories>>,
    UrlPath((vin, path)): UrlPath<(String, String)>,
    body: Bytes,
) -> Response {
    if path != "manifest" {
        return refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("\"{path}\" cannot be posted to; post manifests to \"manifest\""),
        );
    }
    if let Err(reason) = check_vin(&vin) {
        return refusal(StatusCode::BAD_REQUEST, reason);
    }
    let vehicle_dir = directories.director.join(&vin);
    let stored = tokio::task::spawn_blocking(move || store_manifest(&vehicle_dir, &vin, &body))
        .await
        .unwrap_or_else(|error| Err(ManifestRefusal::internal(error.to_string())));
    match stored {
        Ok(receipt) => {
            tracing::info!(
                vin = receipt.vin,
                verified = receipt.verified,
                ecus = receipt.ecus,
                "stored a vehicle manifest"
            );
            Json(receipt).into_response()
        }
        Err(refused) => {
            tracing::warn!(reason = refused.reason, "refused a vehicle manifest");
            refusal(refused.status, refused.reason)
        }
    }
}

/// The answer to an accepted manifest.
#[derive(Debug, serde::Serialize)]
struct Receipt {
    vin: String,
    verified: bool,
    ecus: usize,
}

#[derive(Debug)]
struct ManifestRefusal {
    status: StatusCode,
    reason: String,
}

impl ManifestRefusal {
    fn bad(reason: impl Into<String>) -> ManifestRefusal {
        ManifestRefusal {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
        }
    }

    fn internal(reason: impl Into<String>) -> ManifestRefusal {
        ManifestRefusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            reason: reason.into(),
        }
    }
}

/// Checks a manifest for the vehicle whose director directory is `vehicle_dir`
/// and stores it.
fn store_manifest(vehicle_dir: &Path, vin: &str, body: &[u8]) -> Result<Receipt, ManifestRefusal> {
    if !vehicle_dir.is_dir() {
        return Err(ManifestRefusal {
            status: StatusCode::NOT_FOUND,
            reason: format!("unknown vehicle \"{vin}\""),
        });
    }
    let key_path = vehicle_dir.join(PRIMARY_KEY_FILE);
    let (manifest, verified) = if key_path.exists() {
        let key = read_public_key(&key_path).map_err(|error| {
            tracing::error!(%error, "the registered primary key is unusable");
            ManifestRefusal::internal(format!("the primary key of \"{vin}\" is unusable"))
        })?;
        let manifest =
            verify_manifest(body, &key).map_err(|error| ManifestRefusal::bad(error.to_string()))?;
        (manifest, true)
    } else {
        let signed = SignedManifest::parse_unverified(body)
            .map_err(|error| ManifestRefusal::bad(error.to_string()))?;
        (signed.signed, false)
    };
    if manifest.vin != vin {
        return Err(ManifestRefusal::bad(format!(
            "invalid vehicle manifest: it is for VIN \"{}\", not \"{vin}\"",
            manifest.vin
        )));
    }
    let manifest_path = vehicle_dir.join(MANIFEST_FILE);
    if let Some(previous) = stored_manifest(&manifest_path) {
        if manifest.timestamp < previous.timestamp {
            return Err(ManifestRefusal::bad(format!(
                "invalid vehicle manifest: its timestamp {} is older than the stored manifest's {}",
                humantime::format_rfc3339_seconds(manifest.timestamp),
                humantime::format_rfc3339_seconds(previous.timestamp)
            )));
        }
    }
    write_atomically(&manifest_path, body).map_err(|error| {
        tracing::error!(%error, "cannot store a vehicle manifest");
        ManifestRefusal::internal("cannot store the manifest")
    })?;
    Ok(Receipt {
        vin: vin.to_string(),
        verified,
        ecus: manifest.ecu_version_reports.len(),
    })
}

fn stored_manifest(path: &Path) -> Option<VehicleManifest> {
    let bytes = fs::read(path).ok()?;
    SignedManifest::parse_unverified(&bytes)
        .ok()
        .map(|signed| signed.signed)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), OtaError> {
    let temporary = path.with_extension("json.tmp");
    fs::write(&temporary, bytes).map_err(OtaError::io("write manifest", &temporary))?;
    fs::rename(&temporary, path).map_err(OtaError::io("store manifest", path))
}

/// A VIN is 1 to 64 letters, digits, `-` or `_`: it names a directory.
fn check_vin(vin: &str) -> Result<(), String> {
    let valid = !vin.is_empty()
        && vin.len() <= 64
        && vin
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!("\"{vin}\" is not a VIN (letters, digits, - and _)"))
    }
}

/// Refuses a path that could leave the directory: `..`, `.`, empty components,
/// backslashes, hidden names.
fn check_path(path: &str) -> Result<(), String> {
    let valid = path.split('/').all(|component| {
        !component.is_empty()
            && !component.starts_with('.')
            && !component.contains('\\')
            && !component.contains('\0')
    });
    if valid {
        Ok(())
    } else {
        Err(format!("\"{path}\" is not a path inside the repository"))
    }
}

/// Whether a TUF client reads `path`.
fn is_repository_file(path: &str) -> bool {
    match path.split_once('/') {
        Some((directory, _)) => directory == crate::repository::TARGETS_DIR,
        None => {
            matches!(
                path,
                "root.json" | "timestamp.json" | "snapshot.json" | "targets.json"
            ) || path.strip_suffix(".root.json").is_some_and(|version| {
                !version.is_empty() && version.bytes().all(|byte| byte.is_ascii_digit())
            })
        }
    }
}

fn refusal(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, reason.into()).into_response()
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{SocketAddr, TcpStream};
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::client::Fetcher;
    use crate::manifest::{public_key_pem, sign_manifest, EcuVersionReport, ImageReport};
    use crate::{generate_key, HttpFetcher};

    const VIN: &str = "JT3HN86R0W0123456";

    struct Served {
        _temp: tempfile::TempDir,
        image: PathBuf,
        director: PathBuf,
        address: SocketAddr,
        _runtime: tokio::runtime::Runtime,
    }

    fn serve() -> Served {
        let temp = tempfile::tempdir().unwrap();
        let image = temp.path().join("image");
        let director = temp.path().join("director");
        fs::create_dir_all(image.join("targets/ecu")).unwrap();
        fs::create_dir_all(image.join("keys")).unwrap();
        fs::create_dir_all(director.join(VIN)).unwrap();
        fs::write(image.join("timestamp.json"), b"{\"signed\": {}}").unwrap();
        fs::write(image.join("2.root.json"), b"{}").unwrap();
        fs::write(image.join("targets/ecu/app.bin"), vec![7u8; 600_000]).unwrap();
        fs::write(image.join("keys/root.pem"), b"secret").unwrap();
        fs::write(temp.path().join("secret"), b"secret").unwrap();
        fs::write(director.join(VIN).join("targets.json"), b"{}").unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        let router = ota_router(&image, &director);
        runtime.spawn(async move { axum::serve(listener, router).await });
        Served {
            _temp: temp,
            image,
            director,
            address,
            _runtime: runtime,
        }
    }

    /// Sends a raw request line, unnormalized, and returns the status code and body.
    fn raw_get(address: SocketAddr, target: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        (status, body)
    }

    fn post_manifest(served: &Served, vin: &str, body: Vec<u8>) -> (u16, String) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let response = reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .post(format!("http://{}/director/{vin}/manifest", served.address))
                .body(body)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    }

    fn manifest(vin: &str, seconds: u64) -> VehicleManifest {
        VehicleManifest {
            vin: vin.into(),
            primary_ecu: "gateway-0001".into(),
            ecu_version_reports: vec![EcuVersionReport {
                ecu_identifier: "brake-ecu-0001".into(),
                installed_image: ImageReport {
                    filename: "brake-2.0.bin".into(),
                    length: 18,
                    hashes: Default::default(),
                },
                release_counter: 2,
                attacks_detected: String::new(),
            }],
            nonce: None,
            timestamp: UNIX_EPOCH + Duration::from_secs(seconds),
            installation_reports: Vec::new(),
        }
    }

    #[test]
    fn serves_repository_files_with_their_content_type() {
        let served = serve();
        let fetcher = HttpFetcher::new(&format!("http://{}/image/", served.address)).unwrap();
        let mut bytes = Vec::new();
        fetcher
            .fetch("targets/ecu/app.bin")
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(bytes, vec![7u8; 600_000]);
        let director =
            HttpFetcher::new(&format!("http://{}/director/{VIN}", served.address)).unwrap();
        assert!(director.fetch("targets.json").is_ok());
        let (status, _) = raw_get(served.address, "/image/2.root.json");
        assert_eq!(status, 200);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let headers = runtime.block_on(async {
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(format!("http://{}/image/timestamp.json", served.address))
                .send()
                .await
                .unwrap()
                .headers()
                .clone()
        });
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(headers[header::CONTENT_LENGTH], "14");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    }

    #[test]
    fn refuses_directory_traversal_and_files_clients_do_not_read() {
        let served = serve();
        for target in [
            "/image/../secret",
            "/image/targets/../../secret",
            "/image/%2e%2e/secret",
            "/image/targets/%2e%2e%2f%2e%2e%2fsecret",
            "/director/..%2fsecret/x",
            "/image/targets/.hidden",
        ] {
            let (status, body) = raw_get(served.address, target);
            assert!(status == 400 || status == 404, "{target}: {status} {body}");
            assert_ne!(body, "secret", "{target}");
        }
        let (status, body) = raw_get(served.address, "/image/%2e%2e/secret");
        assert_eq!(status, 400, "{body}");
        assert!(
            body.contains("is not a path inside the repository"),
            "{body}"
        );
        for target in [
            "/image/keys/root.pem",
            "/image/targets",
            "/image/targets/ecu",
            "/image/x.root.json",
            "/image/nothing.json",
            &format!("/director/{VIN}/{PRIMARY_KEY_FILE}"),
            &format!("/director/{VIN}/{MANIFEST_FILE}"),
        ] {
            let (status, _) = raw_get(served.address, target);
            assert_eq!(status, 404, "{target}");
        }
        let (status, _) = raw_get(served.address, "/director/not%20a%20vin/targets.json");
        assert_eq!(status, 400);
        assert!(served.image.join("timestamp.json").exists());
    }

    #[test]
    fn stores_a_manifest_signed_by_the_registered_primary_key() {
        let served = serve();
        let key = generate_key();
        fs::write(
            served.director.join(VIN).join(PRIMARY_KEY_FILE),
            public_key_pem(&key.verifying_key()).unwrap(),
        )
        .unwrap();
        let signed = sign_manifest(&manifest(VIN, 1_800_000_000), &key).unwrap();
        let (status, body) = post_manifest(&served, VIN, signed.to_file_bytes());
        assert_eq!(status, 200, "{body}");
        let receipt: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(receipt["verified"], true);
        assert_eq!(receipt["ecus"], 1);
        let stored = fs::read(served.director.join(VIN).join(MANIFEST_FILE)).unwrap();
        assert_eq!(
            verify_manifest(&stored, &key.verifying_key()).unwrap(),
            signed.signed
        );

        // Another key, an older manifest, another VIN, garbage: 400 with a reason.
        let forged = sign_manifest(&manifest(VIN, 1_800_000_100), &generate_key()).unwrap();
        let (status, body) = post_manifest(&served, VIN, forged.to_file_bytes());
        assert_eq!(status, 400);
        assert!(body.contains("not signed by the primary's key"), "{body}");
        let older = sign_manifest(&manifest(VIN, 1_700_000_000), &key).unwrap();
        let (status, body) = post_manifest(&served, VIN, older.to_file_bytes());
        assert_eq!(status, 400);
        assert!(body.contains("older than the stored manifest"), "{body}");
        let other = sign_manifest(&manifest("OTHERVIN", 1_800_000_100), &key).unwrap();
        let (status, body) = post_manifest(&served, VIN, other.to_file_bytes());
        assert_eq!(status, 400);
        assert!(body.contains("it is for VIN \"OTHERVIN\""), "{body}");
        let (status, body) = post_manifest(&served, VIN, b"not json".to_vec());
        assert_eq!(status, 400);
        assert!(body.starts_with("invalid vehicle manifest:"), "{body}");
        // The stored manifest is still the first.
        let stored = fs::read(served.director.join(VIN).join(MANIFEST_FILE)).unwrap();
        assert_eq!(stored, signed.to_file_bytes());
    }

    #[test]
    fn stores_an_unverified_manifest_when_no_key_is_registered() {
        let served = serve();
        let signed = sign_manifest(&manifest(VIN, 1_800_000_000), &generate_key()).unwrap();
        let (status, body) = post_manifest(&served, VIN, signed.to_file_bytes());
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"verified\":false"), "{body}");
        let (status, body) = post_manifest(&served, "UNKNOWNVIN", signed.to_file_bytes());
        assert_eq!(status, 404, "{body}");
        assert!(!served.director.join("UNKNOWNVIN").exists());
    }

    #[test]
    fn repository_files_are_the_ones_tuf_clients_read() {
        for path in [
            "root.json",
            "1.root.json",
            "12.root.json",
            "timestamp.json",
            "snapshot.json",
            "targets.json",
            "targets/a.bin",
            "targets/ecu/a.bin",
        ] {
            assert!(is_repository_file(path), "{path}");
        }
        for path in [
            ".root.json",
            "a.root.json",
            "keys/root.pem",
            "primary.pub",
            "manifest.json",
            "targets",
        ] {
            assert!(!is_repository_file(path), "{path}");
        }
    }
}
