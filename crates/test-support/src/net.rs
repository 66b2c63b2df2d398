//! Loopback addresses for tests.

use std::net::{SocketAddr, TcpListener};

/// A free loopback address, `127.0.0.1:PORT`: bound once to find a free port, then
/// released. Nothing listens there afterwards (unless another test takes the port in
/// between, which the kernel makes unlikely by not reusing it at once).
///
/// # Panics
///
/// When no loopback port can be bound.
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("a bound listener has an address: {e}"))
}

/// `tcp/127.0.0.1:PORT` on a free port: a Zenoh endpoint for a test to listen on.
///
/// # Panics
///
/// When no loopback port can be bound.
pub fn free_zenoh_endpoint() -> String {
    format!("tcp/{}", closed_port())
}

/// `http://127.0.0.1:PORT` where nothing listens: a server that cannot be reached.
///
/// # Panics
///
/// When no loopback port can be bound.
pub fn closed_port_url() -> String {
    format!("http://{}", closed_port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_listens_at_a_closed_port() {
        let address = closed_port();
        assert!(address.ip().is_loopback());
        assert_ne!(address.port(), 0);
        assert!(std::net::TcpStream::connect(address).is_err());
        let url = closed_port_url();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    }
}
