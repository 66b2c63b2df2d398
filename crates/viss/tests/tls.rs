//! VISS over TLS: an HTTPS client that trusts the server's certificate reads
//! through it; one that does not is refused in the handshake.

use std::time::Duration;

use serde_json::Value as Json;
use tomoe_broker::{Broker, BrokerConfig, Permissions};
use tomoe_viss::{AccessPolicy, TlsIdentity};
use tomoe_vss::Value;

#[tokio::test]
async fn https_with_the_broker_s_certificate() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let identity = TlsIdentity {
        certificate_pem: certified.cert.pem().into_bytes(),
        private_key_pem: certified.signing_key.serialize_pem().into_bytes(),
    };
    let broker = Broker::new(
        tomoe_vss::default_catalog().unwrap(),
        BrokerConfig::default(),
        None,
    )
    .unwrap();
    let speed = broker.resolve_path("Vehicle.Speed").unwrap();
    broker
        .publish(
            &Permissions::allow_all(),
            &[(speed, Some(Value::Float(61.0)))],
        )
        .unwrap();
    // Port 0: the banner names the port that was picked.
    let started = tomoe_viss::start(
        "127.0.0.1:0".parse().unwrap(),
        &broker,
        tomoe_viss::Options {
            access: AccessPolicy {
                verifiers: Vec::new(),
                anonymous: true,
            },
            tls: Some(identity),
            history: None,
            observer: None,
        },
    )
    .await
    .unwrap();
    assert!(started.banner.contains(&started.url));
    let address = started
        .url
        .strip_prefix("wss://")
        .unwrap_or_else(|| panic!("{started:?}"))
        .to_owned();
    let port = address.rsplit_once(':').unwrap().1;
    let trusting = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let body: Json = trusting
        .get(format!("https://localhost:{port}/Vehicle/Speed"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["dp"]["value"], "61");
    // wss:// on the same port.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let (mut socket, _) = tokio_tungstenite::connect_async_tls_with_config(
        format!("wss://localhost:{port}/"),
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(
            client,
        ))),
    )
    .await
    .unwrap();
    use futures::{SinkExt, StreamExt};
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            r#"{"action":"get","path":"Vehicle.Speed","requestId":"1"}"#.into(),
        ))
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(20), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let answer: Json = serde_json::from_str(answer.to_text().unwrap()).unwrap();
    assert_eq!(answer["data"]["dp"]["value"], "61");
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    assert!(plain
        .get(format!("https://localhost:{port}/Vehicle/Speed"))
        .send()
        .await
        .is_err());
    // A bad identity is refused before anything listens.
    let bad = TlsIdentity {
        certificate_pem: b"not a certificate".to_vec(),
        private_key_pem: Vec::new(),
    };
    let refused = tomoe_viss::start(
        "127.0.0.1:0".parse().unwrap(),
        &broker,
        tomoe_viss::Options {
            access: AccessPolicy {
                verifiers: Vec::new(),
                anonymous: true,
            },
            tls: Some(bad),
            history: None,
            observer: None,
        },
    )
    .await;
    assert!(matches!(refused, Err(tomoe_viss::StartError::Tls(_))));
}
