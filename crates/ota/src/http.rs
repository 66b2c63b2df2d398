//! A [`Fetcher`] over HTTP, hardened against the network-level Uptane attacks.
//!
//! [`HttpFetcher`] reads a repository served at a base URL (such as
//! `http://ota.example/image/` or `http://ota.example/director/<VIN>/`). Each
//! request is bounded in time and in size:
//!
//! - **Connect and response timeouts.** A server that cannot be reached, or does
//!   not send response headers in time, is reported as unavailable, which the
//!   client calls a *drop request*.
//! - **Minimum transfer rate.** The body is read in windows of
//!   [`MinimumRate::window`]; a window in which fewer than
//!   [`MinimumRate::bytes_per_second`] arrived on average aborts the transfer as
//!   *slow retrieval*, and so does a body not complete within
//!   [`HttpConfig::request_timeout`].
//! - **Sizes.** The body is streamed: the client stops reading one byte past the
//!   size it allows (*endless data*), and then the connection is closed. A
//!   response announcing or delivering more than [`HttpConfig::max_response_bytes`]
//!   is refused by the fetcher itself.
//!
//! Errors are [`io::Error`]s whose kind tells the client what happened:
//! [`io::ErrorKind::NotFound`] for 404 and 410, [`io::ErrorKind::TimedOut`] for slow
//! retrieval, [`io::ErrorKind::NotConnected`] or
//! [`io::ErrorKind::ConnectionAborted`] for an unreachable server, a dropped
//! connection or a server error (5xx). Nothing here touches trusted state: the
//! client only replaces it when a whole update verified.
//!
//! The fetcher is synchronous, like [`Fetcher`]. It drives its own async runtime
//! (one worker thread), so it must not be called from a thread that runs an async
//! runtime: from async code, call it inside `tokio::task::spawn_blocking`.

use std::io::{self, Read};
use std::net::IpAddr;
use std::path::{Component, Path};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use reqwest::{StatusCode, Url};
use tokio::runtime::Runtime;

use crate::client::Fetcher;
use crate::OtaError;

/// The slowest transfer accepted: at least `bytes_per_second` on average over
/// every `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinimumRate {
    /// The minimum average rate in bytes per second; 0 turns the check off.
    pub bytes_per_second: u64,
    /// How long the rate may stay below the minimum before the transfer is aborted.
    pub window: Duration,
}

impl Default for MinimumRate {
    /// 1 KiB/s over 20 seconds.
    fn default() -> Self {
        MinimumRate {
            bytes_per_second: 1024,
            window: Duration::from_secs(20),
        }
    }
}

/// Time and size limits of each request an [`HttpFetcher`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// The longest time to establish a connection; default 10 s.
    pub connect_timeout: Duration,
    /// The longest time from sending a request to receiving the response headers;
    /// default 30 s.
    pub response_timeout: Duration,
    /// The longest time a whole request may take, body included; default one hour.
    pub request_timeout: Duration,
    /// The slowest body transfer accepted.
    pub minimum_rate: MinimumRate,
    /// The largest response body, whatever the caller allows; default 4 GiB.
    pub max_response_bytes: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60 * 60),
            minimum_rate: MinimumRate::default(),
            max_response_bytes: 4 * 1024 * 1024 * 1024,
        }
    }
}

/// A [`Fetcher`] reading a repository over HTTP (or HTTPS) from a base URL.
#[derive(Debug)]
pub struct HttpFetcher {
    base: Url,
    client: reqwest::Client,
    config: HttpConfig,
    /// Always `Some` until dropped; taken in `drop` to shut it down without blocking.
    runtime: Option<Runtime>,
}

impl HttpFetcher {
    /// A fetcher for the repository at `base_url` with the default limits.
    pub fn new(base_url: &str) -> Result<HttpFetcher, OtaError> {
        HttpFetcher::with_config(base_url, HttpConfig::default())
    }

    /// A fetcher for the repository at `base_url` with `config`'s limits. A path
    /// is resolved below the base URL, which is treated as a directory whether or
    /// not it ends with `/`.
    pub fn with_config(base_url: &str, config: HttpConfig) -> Result<HttpFetcher, OtaError> {
        let setup_error = |reason: String| OtaError::HttpSetup {
            url: base_url.to_string(),
            reason,
        };
        let mut base = Url::parse(base_url).map_err(|error| setup_error(error.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(setup_error(format!(
                "the scheme is \"{}\", not http or https",
                base.scheme()
            )));
        }
        if base.cannot_be_a_base() {
            return Err(setup_error("it cannot be a base URL".into()));
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("tomoe-ota/", env!("CARGO_PKG_VERSION")));
        // A proxy from the environment must not capture requests to this machine.
        if is_loopback(&base) {
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|error| setup_error(error_chain(&error)))?;
        // One worker thread runs the connections, so that a connection whose body
        // is dropped unread is closed at once, not at the next request.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tomoe-ota-http")
            .enable_all()
            .build()
            .map_err(|error| setup_error(format!("cannot start its runtime: {error}")))?;
        Ok(HttpFetcher {
            base,
            client,
            config,
            runtime: Some(runtime),
        })
    }

    /// The base URL, ending with `/`.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The URL of `path`, a relative path inside the repository.
    pub fn url(&self, path: &str) -> io::Result<Url> {
        let relative = Path::new(path);
        if path.is_empty()
            || path.contains('\\')
            || !relative
                .components()
                .all(|component| matches!(component, Component::Normal(_)))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("\"{path}\" is not a relative path inside the repository"),
            ));
        }
        let mut url = self.base.clone();
        {
            let mut segments = url.path_segments_mut().map_err(|()| {
                io::Error::new(io::ErrorKind::InvalidInput, "the base URL has no path")
            })?;
            segments.pop_if_empty();
            segments.extend(path.split('/'));
        }
        Ok(url)
    }

    fn runtime(&self) -> &Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the fetcher")
    }
}

impl Drop for HttpFetcher {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside async code; this does not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Fetcher for HttpFetcher {
    fn fetch(&self, path: &str) -> io::Result<Box<dyn Read + '_>> {
        let url = self.url(path)?;
        let started = Instant::now();
        // The timer must be made inside the runtime, hence the async blocks.
        let request = self.client.get(url.clone()).send();
        let sent = self
            .runtime()
            .block_on(async { tokio::time::timeout(self.config.response_timeout, request).await });
        let response = match sent {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(request_error(&url, &error)),
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    format!(
                        "{url} sent no response within {}",
                        seconds(self.config.response_timeout)
                    ),
                ))
            }
        };
        let status = response.status();
        if !status.is_success() {
            let kind = match status {
                StatusCode::NOT_FOUND | StatusCode::GONE => io::ErrorKind::NotFound,
                StatusCode::TOO_MANY_REQUESTS => io::ErrorKind::NotConnected,
                status if status.is_server_error() => io::ErrorKind::NotConnected,
                _ => io::ErrorKind::Other,
            };
            return Err(io::Error::new(
                kind,
                format!("{url} answered HTTP {status}"),
            ));
        }
        if let Some(length) = response.content_length() {
            if length > self.config.max_response_bytes {
                return Err(too_large(&url, self.config.max_response_bytes));
            }
        }
        Ok(Box::new(Body {
            runtime: self.runtime(),
            response,
            url,
            pending: Bytes::new(),
            finished: false,
            received: 0,
            max_bytes: self.config.max_response_bytes,
            rate: self.config.minimum_rate,
            window_start: Instant::now(),
            window_bytes: 0,
            deadline: started + self.config.request_timeout,
            request_timeout: self.config.request_timeout,
        }))
    }
}

/// A response body read through the fetcher's runtime, chunk by chunk, with the
/// rate and size checked as it arrives.
struct Body<'a> {
    runtime: &'a Runtime,
    response: reqwest::Response,
    url: Url,
    pending: Bytes,
    finished: bool,
    received: u64,
    max_bytes: u64,
    rate: MinimumRate,
    window_start: Instant,
    window_bytes: u64,
    deadline: Instant,
    request_timeout: Duration,
}

impl Body<'_> {
    /// The next chunk, or `None` at the end of the body.
    fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            let window_end = self.window_start + self.rate.window;
            let wait_until = if self.rate.bytes_per_second == 0 {
                self.deadline
            } else {
                window_end.min(self.deadline)
            };
            let response = &mut self.response;
            let chunk = self.runtime.block_on(async {
                tokio::time::timeout_at(wait_until.into(), response.chunk()).await
            });
            let now = Instant::now();
            match chunk {
                Ok(Ok(Some(chunk))) => {
                    self.received += chunk.len() as u64;
                    if self.received > self.max_bytes {
                        return Err(too_large(&self.url, self.max_bytes));
                    }
                    self.window_bytes += chunk.len() as u64;
                    self.check_rate(now)?;
                    return Ok(Some(chunk));
                }
                Ok(Ok(None)) => return Ok(None),
                Ok(Err(error)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!(
                            "{} dropped the transfer after {} bytes: {}",
                            self.url,
                            self.received,
                            error_chain(&error)
                        ),
                    ))
                }
                Err(_) => {
                    if now >= self.deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "{} was not complete within {} ({} bytes received)",
                                self.url,
                                seconds(self.request_timeout),
                                self.received
                            ),
                        ));
                    }
                    self.check_rate(now)?;
                }
            }
        }
    }

    /// At the end of each window, checks the average rate over it and starts the next.
    fn check_rate(&mut self, now: Instant) -> io::Result<()> {
        let elapsed = now.duration_since(self.window_start);
        if self.rate.bytes_per_second == 0 || elapsed < self.rate.window {
            return Ok(());
        }
        let minimum = self.rate.bytes_per_second as f64 * elapsed.as_secs_f64();
        if (self.window_bytes as f64) < minimum {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{} bytes of {} in {}, below the minimum rate of {} bytes/s",
                    self.window_bytes,
                    self.url,
                    seconds(elapsed),
                    self.rate.bytes_per_second
                ),
            ));
        }
        self.window_start = now;
        self.window_bytes = 0;
        Ok(())
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if buffer.is_empty() {
            return Ok(0);
        }
        while self.pending.is_empty() {
            if self.finished {
                return Ok(0);
            }
            match self.next_chunk()? {
                Some(chunk) => self.pending = chunk,
                None => self.finished = true,
            }
        }
        let count = buffer.len().min(self.pending.len());
        buffer[..count].copy_from_slice(&self.pending[..count]);
        self.pending = self.pending.slice(count..);
        Ok(count)
    }
}

fn too_large(url: &Url, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("{url} is larger than the fetcher's limit of {limit} bytes"),
    )
}

/// The error for a request that got no response: the server is unavailable.
fn request_error(url: &Url, error: &reqwest::Error) -> io::Error {
    let kind = if error.is_connect() {
        io::ErrorKind::NotConnected
    } else {
        io::ErrorKind::ConnectionAborted
    };
    io::Error::new(kind, format!("{url}: {}", error_chain(error)))
}

/// An error and its causes on one line; reqwest's own message alone is vague.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

fn is_loopback(url: &Url) -> bool {
    url.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|address| address.is_loopback())
    })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use axum::body::Body as AxumBody;
    use axum::routing::get;
    use axum::Router;

    use super::*;

    /// An axum server on loopback, running on its own runtime until dropped.
    struct TestServer {
        address: SocketAddr,
        _runtime: Runtime,
    }

    impl TestServer {
        fn start(router: Router) -> TestServer {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .unwrap();
            let address = listener.local_addr().unwrap();
            runtime.spawn(async move { axum::serve(listener, router).await });
            TestServer {
                address,
                _runtime: runtime,
            }
        }

        fn url(&self) -> String {
            format!("http://{}/repo", self.address)
        }
    }

    /// A body sending `chunk` bytes every `interval`, `count` times.
    fn trickle(chunk: usize, interval: Duration, count: usize) -> AxumBody {
        let stream = futures::stream::unfold(0, move |sent| async move {
            if sent == count {
                return None;
            }
            tokio::time::sleep(interval).await;
            Some((Ok::<_, io::Error>(Bytes::from(vec![b'x'; chunk])), sent + 1))
        });
        AxumBody::from_stream(stream)
    }

    fn rate_config(bytes_per_second: u64, window: Duration) -> HttpConfig {
        HttpConfig {
            minimum_rate: MinimumRate {
                bytes_per_second,
                window,
            },
            ..HttpConfig::default()
        }
    }

    fn read_all(fetcher: &HttpFetcher, path: &str) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        fetcher.fetch(path)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    #[test]
    fn http_fetcher_reads_a_file_below_the_base_url() {
        let router = Router::new().route("/repo/targets/a%20b.bin", get(|| async { "image" }));
        let server = TestServer::start(router);
        let fetcher = HttpFetcher::new(&server.url()).unwrap();
        assert_eq!(fetcher.base_url().path(), "/repo/");
        assert_eq!(read_all(&fetcher, "targets/a b.bin").unwrap(), b"image");
    }

    #[test]
    fn http_fetcher_refuses_paths_leaving_the_repository() {
        let fetcher = HttpFetcher::new("http://127.0.0.1:9/repo/").unwrap();
        for path in ["../secret", "/etc/passwd", "a/../../b", "", "a\\..\\b"] {
            let error = fetcher.fetch(path).err().unwrap();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{path}");
        }
    }

    #[test]
    fn http_fetcher_refuses_other_schemes() {
        let error = HttpFetcher::new("file:///etc/").unwrap_err();
        assert!(error.to_string().contains("not http or https"), "{error}");
    }

    #[test]
    fn not_found_is_not_found_and_server_errors_are_unavailable() {
        let router = Router::new().route(
            "/repo/broken.json",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
        );
        let server = TestServer::start(router);
        let fetcher = HttpFetcher::new(&server.url()).unwrap();
        let missing = fetcher.fetch("timestamp.json").err().unwrap();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        let broken = fetcher.fetch("broken.json").err().unwrap();
        assert_eq!(broken.kind(), io::ErrorKind::NotConnected);
        assert!(broken.to_string().contains("HTTP 503"), "{broken}");
    }

    #[test]
    fn unreachable_server_is_not_connected() {
        // A port that was just free: nothing listens on it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let fetcher = HttpFetcher::new(&format!("http://{address}/")).unwrap();
        let error = fetcher.fetch("timestamp.json").err().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::NotConnected, "{error}");
    }

    #[test]
    fn a_body_above_the_minimum_rate_is_read_completely() {
        // 100 bytes every 20 ms is 5000 bytes/s, above the 1000 bytes/s minimum.
        let router = Router::new().route(
            "/repo/image.bin",
            get(|| async { trickle(100, Duration::from_millis(20), 30) }),
        );
        let server = TestServer::start(router);
        let config = rate_config(1000, Duration::from_millis(200));
        let fetcher = HttpFetcher::with_config(&server.url(), config).unwrap();
        assert_eq!(read_all(&fetcher, "image.bin").unwrap().len(), 3000);
    }

    #[test]
    fn a_trickling_body_is_aborted_as_timed_out() {
        // 10 bytes every 50 ms is 200 bytes/s, below the 1000 bytes/s minimum.
        let router = Router::new().route(
            "/repo/image.bin",
            get(|| async { trickle(10, Duration::from_millis(50), 1000) }),
        );
        let server = TestServer::start(router);
        let config = rate_config(1000, Duration::from_millis(300));
        let fetcher = HttpFetcher::with_config(&server.url(), config).unwrap();
        let started = Instant::now();
        let error = read_all(&fetcher, "image.bin").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
        assert!(
            error
                .to_string()
                .contains("below the minimum rate of 1000 bytes/s"),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_stalled_body_is_aborted_after_one_window() {
        let router = Router::new().route(
            "/repo/image.bin",
            get(|| async { trickle(1, Duration::from_secs(3600), 1) }),
        );
        let server = TestServer::start(router);
        let config = rate_config(1, Duration::from_millis(200));
        let fetcher = HttpFetcher::with_config(&server.url(), config).unwrap();
        let error = read_all(&fetcher, "image.bin").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
    }

    #[test]
    fn the_request_timeout_bounds_a_body_that_keeps_the_rate() {
        let router = Router::new().route(
            "/repo/image.bin",
            get(|| async { trickle(100, Duration::from_millis(10), 100_000) }),
        );
        let server = TestServer::start(router);
        let config = HttpConfig {
            request_timeout: Duration::from_millis(300),
            ..rate_config(100, Duration::from_millis(100))
        };
        let fetcher = HttpFetcher::with_config(&server.url(), config).unwrap();
        let error = read_all(&fetcher, "image.bin").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
        assert!(error.to_string().contains("was not complete within 0.3 s"));
    }

    #[test]
    fn a_body_over_the_fetchers_limit_is_refused_while_streaming() {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = dropped.clone();
        let router = Router::new().route(
            "/repo/endless",
            get(move || {
                let flag = flag.clone();
                async move { endless(flag) }
            }),
        );
        let server = TestServer::start(router);
        let config = HttpConfig {
            max_response_bytes: 100_000,
            ..HttpConfig::default()
        };
        let fetcher = HttpFetcher::with_config(&server.url(), config).unwrap();
        let error = read_all(&fetcher, "endless").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::FileTooLarge, "{error}");
        wait_for(&dropped);
    }

    #[test]
    fn a_dropped_connection_is_connection_aborted() {
        let router = Router::new().route(
            "/repo/image.bin",
            get(|| async {
                let stream = futures::stream::iter([
                    Ok(Bytes::from_static(b"partial")),
                    Err(io::Error::other("the server goes away")),
                ]);
                AxumBody::from_stream(stream)
            }),
        );
        let server = TestServer::start(router);
        let fetcher = HttpFetcher::new(&server.url()).unwrap();
        let error = read_all(&fetcher, "image.bin").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionAborted, "{error}");
    }

    #[test]
    fn dropping_the_fetcher_inside_async_code_does_not_panic() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let fetcher = HttpFetcher::new("http://127.0.0.1:9/").unwrap();
        runtime.block_on(async move { drop(fetcher) });
    }

    /// An endless body that sets `dropped` when the server stops sending it.
    fn endless(dropped: Arc<AtomicBool>) -> AxumBody {
        let guard = SetOnDrop(dropped);
        let stream = futures::stream::repeat_with(move || {
            guard.keep();
            Ok::<_, io::Error>(Bytes::from(vec![b' '; 8192]))
        });
        AxumBody::from_stream(stream)
    }

    /// Sets its flag when dropped.
    struct SetOnDrop(Arc<AtomicBool>);

    impl SetOnDrop {
        /// Makes a closure own the whole guard.
        fn keep(&self) {}
    }

    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn wait_for(flag: &AtomicBool) {
        let started = Instant::now();
        while !flag.load(Ordering::SeqCst) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the server kept sending after the client stopped reading"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
