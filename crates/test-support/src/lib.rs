//! What Tomoe's tests share, so that each test file does not copy it.
//!
//! - [`shared`](mod@shared): the shared-data rule. Tests that read real public data (VSS
//!   releases, DBC files, CAN logs) take it from `shared/data` in the parent folder
//!   of the repository. Where it is absent they skip, with a note on stderr, unless
//!   `TOMOE_REQUIRE_SHARED` is set (as in CI); then they fail.
//! - [`process`]: a child process that is stopped when the test ends ([`Process`]),
//!   whose stdout lines can be awaited with a timeout (the ready line of
//!   `tomoe serve`, the URLs `tomoe up` announces), and [`sibling_binary`], another
//!   binary of the workspace that a test runs.
//! - [`net`]: loopback addresses, such as a URL where nothing listens.
//! - [`postgres`]: a throwaway PostgreSQL cluster on loopback ([`PostgresServer`]),
//!   required where `TOMOE_REQUIRE_POSTGRES=1`.
//! - `http` (feature `http`): small HTTP servers on loopback, among them a stand-in
//!   for the app runtime's heartbeat endpoint.
//! - `broker` (feature `broker`): an in-process broker with the default catalog,
//!   served over gRPC on loopback.
//!
//! Non-goals: the gRPC client helpers of the `tomoe` binary's end-to-end tests stay
//! with those tests, and nothing here is used outside tests. Helpers panic with a
//! message when the test cannot go on, as a failing test should; waiting returns a
//! [`WaitError`] so that the caller can add what it knows (a process's stderr).
//!
//! # Example
//!
//! ```
//! use std::process::Command;
//! use std::time::Duration;
//!
//! use tomoe_test_support::{Process, Stop};
//!
//! // Skips (returns `None`) where the shared data is absent.
//! if let Some(vss) = tomoe_test_support::shared("vss") {
//!     assert!(vss.is_dir());
//! }
//!
//! let mut process = Process::spawn(
//!     Command::new("sh").args(["-c", "echo listening on http://127.0.0.1:1; exec sleep 30"]),
//!     Stop::Kill,
//! );
//! let urls = process.wait_for_urls(&["listening"], Duration::from_secs(10)).unwrap();
//! assert_eq!(urls, ["http://127.0.0.1:1"]);
//! // Dropping the process kills it.
//! ```

#[cfg(feature = "broker")]
pub mod broker;
#[cfg(feature = "http")]
pub mod http;
pub mod net;
pub mod postgres;
pub mod process;
pub mod shared;

pub use net::closed_port_url;
pub use postgres::PostgresServer;
pub use process::{sibling_binary, terminate, url_in, Process, Stop, WaitError, READY_TIMEOUT};
pub use shared::{shared, shared_data, shared_data_dir, shared_path, REQUIRE_SHARED_VARIABLE};
