//! An in-process broker on loopback (feature `broker`).

use tomoe_broker::{Broker, BrokerConfig};
use tomoe_grpc::{Authorization, ServerConfig};

/// A broker on the default catalog (VSS 5.1 and the Tomoe overlay), no persistence.
///
/// # Panics
///
/// When the catalog or the broker cannot be built.
pub fn default_broker() -> Broker {
    let catalog =
        tomoe_vss::default_catalog().unwrap_or_else(|e| panic!("the default catalog loads: {e}"));
    Broker::new(catalog, BrokerConfig::default(), None)
        .unwrap_or_else(|e| panic!("a broker on the default catalog: {e}"))
}

/// Starts a broker with the default catalog (VSS 5.1 and the Tomoe overlay), no
/// persistence and no TLS, served with `authorization` on a free loopback port in a
/// task of the current Tokio runtime; returns its URL, `http://127.0.0.1:PORT`.
///
/// # Panics
///
/// Outside a Tokio runtime, or when the broker cannot be built or no loopback port
/// can be bound.
pub async fn start_broker(authorization: Authorization) -> String {
    let broker = default_broker();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
    let address = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("a bound listener has an address: {e}"));
    let config = ServerConfig {
        authorization,
        tls: None,
    };
    tokio::spawn(tomoe_grpc::serve(
        broker,
        listener,
        config,
        std::future::pending(),
    ));
    format!("http://{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_broker_accepts_connections_at_its_url() {
        let url = start_broker(Authorization::AllowAll).await;
        let address = url.strip_prefix("http://").unwrap();
        assert!(address.starts_with("127.0.0.1:"), "{url}");
        tokio::net::TcpStream::connect(address).await.unwrap();
    }
}
