//! Connecting to a KUKSA broker: the bearer-token interceptor and a [`Connector`]
//! that returns v1 and v2 client stubs presenting the token on every request.

use std::time::Duration;

use kuksa_rust_sdk::v1_proto as v1;
use kuksa_rust_sdk::v2_proto as v2;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Status};

/// Why a connection to the broker could not be made. The messages name the
/// broker URL; the transport's error is the source.
///
/// Deliberately exhaustive (unlike Tomoe's other error enums): clients such as
/// `tomoe-sdk` map each case onto their own error type.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The broker URL cannot be parsed.
    #[error("invalid broker URL \"{url}\"")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it does not parse.
        #[source]
        source: tonic::transport::Error,
    },
    /// The token cannot travel in an `authorization` header.
    #[error("the token contains characters not allowed in a header")]
    InvalidToken,
    /// The TLS settings (for an `https://` URL) are not usable.
    #[error("invalid TLS settings for {url}")]
    Tls {
        /// The broker URL.
        url: String,
        /// The transport's error.
        #[source]
        source: tonic::transport::Error,
    },
    /// The broker could not be reached.
    #[error("cannot connect to the broker at {url}")]
    Connect {
        /// The broker URL.
        url: String,
        /// The transport's error.
        #[source]
        source: tonic::transport::Error,
    },
}

/// Adds `authorization: Bearer <token>` to every request, when it has a token.
#[derive(Clone, Default)]
pub struct TokenInterceptor(Option<MetadataValue<Ascii>>);

impl TokenInterceptor {
    /// An interceptor presenting `token` (a JWT, without `Bearer `; surrounding
    /// whitespace is ignored), or nothing when `None`.
    ///
    /// # Errors
    ///
    /// [`ConnectError::InvalidToken`] when the token cannot be a header value.
    pub fn new(token: Option<&str>) -> Result<TokenInterceptor, ConnectError> {
        let header = token
            .map(|token| format!("Bearer {}", token.trim()).parse::<MetadataValue<Ascii>>())
            .transpose()
            .map_err(|_| ConnectError::InvalidToken)?;
        Ok(TokenInterceptor(header))
    }
}

impl std::fmt::Debug for TokenInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("TokenInterceptor")
            .field("has_token", &self.0.is_some())
            .finish()
    }
}

impl tonic::service::Interceptor for TokenInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(header) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}

/// A channel whose requests carry the token of a [`TokenInterceptor`].
pub type AuthChannel = InterceptedService<Channel, TokenInterceptor>;
/// A `kuksa.val.v1` client stub presenting a token.
pub type V1Client = v1::val_client::ValClient<AuthChannel>;
/// A `kuksa.val.v2` client stub presenting a token.
pub type V2Client = v2::val_client::ValClient<AuthChannel>;

/// The client stubs of one connection; both share the channel. Cloning is cheap.
#[derive(Clone)]
pub struct Connection {
    /// The `kuksa.val.v1` stub.
    pub v1: V1Client,
    /// The `kuksa.val.v2` stub.
    pub v2: V2Client,
}

impl Connection {
    /// The stubs of `channel`, presenting the token of `interceptor`.
    pub fn new(channel: Channel, interceptor: TokenInterceptor) -> Connection {
        Connection {
            v1: v1::val_client::ValClient::with_interceptor(channel.clone(), interceptor.clone()),
            v2: v2::val_client::ValClient::with_interceptor(channel, interceptor),
        }
    }
}

/// The settings of a connection to a broker: its URL, the token to present, for
/// `https://` an extra CA certificate, and how long to wait.
///
/// # Example
///
/// ```no_run
/// # async fn example() -> Result<(), tomoe_kuksa::ConnectError> {
/// use tomoe_kuksa::{v2, Connector};
///
/// let mut connection = Connector::new("http://127.0.0.1:55555")
///     .token(Some("eyJ..."))
///     .connect()
///     .await?;
/// let info = connection.v2.get_server_info(v2::GetServerInfoRequest {}).await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Connector {
    url: String,
    token: Option<String>,
    ca_certificate: Option<Vec<u8>>,
    connect_timeout: Option<Duration>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("Connector")
            .field("url", &self.url)
            .field("has_token", &self.token.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A connection to the broker at `url` (`http://` or `https://`; `https://`
    /// trusts the system's root certificates), without a token.
    pub fn new(url: impl Into<String>) -> Connector {
        Connector {
            url: url.into(),
            token: None,
            ca_certificate: None,
            connect_timeout: None,
        }
    }

    /// Presents `token` (a JWT, without `Bearer `) on every request when given.
    pub fn token(mut self, token: Option<&str>) -> Connector {
        self.token = token.map(str::to_owned);
        self
    }

    /// Also trusts the CA certificate `pem` (PEM) for an `https://` URL.
    pub fn ca_certificate(mut self, pem: Vec<u8>) -> Connector {
        self.ca_certificate = Some(pem);
        self
    }

    /// Gives up connecting after `timeout` (the default is the transport's).
    pub fn connect_timeout(mut self, timeout: Duration) -> Connector {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The broker URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connects, and returns the v1 and v2 stubs presenting the token.
    ///
    /// # Errors
    ///
    /// A [`ConnectError`] naming the URL: it does not parse, the token cannot be
    /// a header, the TLS settings are refused or the broker cannot be reached.
    pub async fn connect(self) -> Result<Connection, ConnectError> {
        let interceptor = TokenInterceptor::new(self.token.as_deref())?;
        let url = self.url;
        let mut endpoint =
            Endpoint::from_shared(url.clone()).map_err(|source| ConnectError::InvalidUrl {
                url: url.clone(),
                source,
            })?;
        if let Some(timeout) = self.connect_timeout {
            endpoint = endpoint.connect_timeout(timeout);
        }
        if url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new().with_enabled_roots();
            if let Some(pem) = self.ca_certificate {
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|source| ConnectError::Tls {
                    url: url.clone(),
                    source,
                })?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| ConnectError::Connect { url, source })?;
        Ok(Connection::new(channel, interceptor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::service::Interceptor;

    fn header_of(mut interceptor: TokenInterceptor) -> Option<String> {
        let request = interceptor
            .call(Request::new(()))
            .expect("the interceptor passes requests on");
        request
            .metadata()
            .get("authorization")
            .map(|value| value.to_str().expect("ASCII").to_owned())
    }

    #[test]
    fn the_token_travels_as_a_bearer_header() {
        let check = |token: Option<&str>, expected: Option<&str>| {
            let interceptor = TokenInterceptor::new(token).expect("a valid token");
            assert_eq!(header_of(interceptor).as_deref(), expected, "{token:?}");
        };
        check(Some("abc.def.ghi"), Some("Bearer abc.def.ghi"));
        check(Some("  abc.def.ghi\n"), Some("Bearer abc.def.ghi"));
        check(None, None);
        assert_eq!(header_of(TokenInterceptor::default()), None);
    }

    #[test]
    fn a_token_that_cannot_be_a_header_is_refused() {
        assert!(matches!(
            TokenInterceptor::new(Some("abc\ndef")),
            Err(ConnectError::InvalidToken)
        ));
        assert!(matches!(
            TokenInterceptor::new(Some("a\0b")),
            Err(ConnectError::InvalidToken)
        ));
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let interceptor = TokenInterceptor::new(Some("secret-token")).expect("a valid token");
        assert!(!format!("{interceptor:?}").contains("secret"));
        let connector = Connector::new("http://127.0.0.1:1").token(Some("secret-token"));
        assert!(!format!("{connector:?}").contains("secret"));
    }

    #[tokio::test]
    async fn connect_errors_name_the_url() {
        let error = Connector::new("not a url")
            .connect()
            .await
            .err()
            .expect("an invalid URL is refused");
        assert!(
            matches!(error, ConnectError::InvalidUrl { .. }),
            "{error:?}"
        );
        assert_eq!(error.to_string(), "invalid broker URL \"not a url\"");

        let error = Connector::new("http://127.0.0.1:1")
            .token(Some("a\nb"))
            .connect()
            .await
            .err()
            .expect("an invalid token is refused");
        assert!(matches!(error, ConnectError::InvalidToken), "{error:?}");

        // A port that was just free: nothing listens there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        drop(listener);
        let error = Connector::new(url.clone())
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .err()
            .expect("nothing listens");
        assert!(matches!(error, ConnectError::Connect { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            format!("cannot connect to the broker at {url}")
        );
    }
}
