//! Connection limits of the gRPC server, over real TCP: idle sockets are closed,
//! live clients are not, and connections beyond the cap are refused.

use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tomoe_broker::{Broker, BrokerConfig};
use tomoe_grpc::{Authorization, ConnectionLimits, GrpcServer, ServerConfig};
use tomoe_kuksa::Connector;
use tomoe_vss::Value;

/// A broker on the default catalog served with `limits`; returns its address.
async fn serve(limits: ConnectionLimits) -> String {
    let catalog = tomoe_vss::default_catalog().unwrap();
    let broker = Broker::new(catalog, BrokerConfig::default(), None).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let config = ServerConfig {
        authorization: Authorization::AllowAll,
        tls: None,
    };
    let server = GrpcServer::with_limits(broker, config, limits).unwrap();
    tokio::spawn(server.run(listener, std::future::pending()));
    address
}

fn short_limits() -> ConnectionLimits {
    ConnectionLimits {
        idle_timeout: Duration::from_millis(800),
        keepalive_interval: Duration::from_millis(200),
        keepalive_timeout: Duration::from_secs(5),
        ..ConnectionLimits::default()
    }
}

/// Whether the server closes `stream` within `within` (end of stream or reset).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

// Before: a TCP connection that never sent a byte was kept open for ever.
#[tokio::test]
async fn a_silent_socket_is_closed_after_the_idle_timeout() {
    let address = serve(short_limits()).await;
    let mut silent = TcpStream::connect(&address).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(5)).await,
        "a socket that sent nothing is still open"
    );
}

// A client with a quiet subscription answers the server's pings and stays.
#[tokio::test]
async fn a_quiet_subscriber_outlives_the_idle_timeout() {
    let address = serve(short_limits()).await;
    let url = format!("http://{address}");
    let mut subscriber = Connector::new(&url).connect().await.unwrap();
    let mut updates = Box::pin(
        subscriber
            .subscribe(&["Vehicle.Speed".to_owned()])
            .await
            .unwrap(),
    );
    updates.next().await.unwrap().unwrap(); // the initial (empty) value
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut provider = Connector::new(&url).connect().await.unwrap();
    provider
        .publish("Vehicle.Speed", &Value::Float(42.0))
        .await
        .unwrap();
    let update = tokio::time::timeout(Duration::from_secs(5), updates.next())
        .await
        .expect("the subscription is still alive")
        .unwrap()
        .unwrap();
    assert_eq!(update[0].value, Some(Value::Float(42.0)));
}

// Connections beyond the cap are closed at once; a freed place is taken again.
#[tokio::test]
async fn connections_beyond_the_cap_are_closed() {
    let address = serve(ConnectionLimits {
        max_connections: 3,
        ..ConnectionLimits::default()
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(TcpStream::connect(&address).await.unwrap());
    }
    let mut fourth = TcpStream::connect(&address).await.unwrap();
    assert!(
        closed_within(&mut fourth, Duration::from_secs(5)).await,
        "the fourth connection was kept"
    );
    for stream in &mut open {
        assert!(
            !closed_within(stream, Duration::from_millis(100)).await,
            "a connection within the cap was closed"
        );
    }
    drop(open.pop());
    // The server notices the close on its next read; then a client fits again.
    let url = format!("http://{address}");
    let mut client = None;
    for _ in 0..50 {
        if let Ok(mut connection) = Connector::new(&url).connect().await {
            if connection.metadata("Vehicle.Speed").await.is_ok() {
                client = Some(connection);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(client.is_some(), "no place was freed");
}
