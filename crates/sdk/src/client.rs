//! The broker client.

use std::collections::HashMap;
use std::time::Duration;

use kuksa_rust_sdk::v2_proto as v2;
use tomoe_kuksa::{
    datapoint_to_v2, datatype_from_code, find_signal, for_datatype, signal_by_path, value_from_v2,
    value_to_v2, ConnectError, Connector, V2Client,
};
use tomoe_vss::{DataType, Value};

use crate::stream::{ActuationRequests, Subscription};
use crate::value::{describe, FromValue};
use crate::SdkError;

/// The broker URL used when `TOMOE_BROKER` is unset.
pub const DEFAULT_BROKER: &str = "http://127.0.0.1:55555";

/// How long [`Client::connect`] waits for the broker to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the client remembers of a leaf: looked up once, with `ListMetadata`.
#[derive(Debug, Clone, Copy)]
struct Leaf {
    id: i32,
    datatype: DataType,
}

/// A connection to a Tomoe (or any KUKSA `kuksa.val.v2`) broker.
///
/// Reads, writes and subscriptions address signals by their VSS path. Cloning is
/// cheap: clones share the connection; each keeps its own cache of leaf metadata.
///
/// # Example
///
/// ```no_run
/// # async fn example() -> Result<(), tomoe_sdk::SdkError> {
/// let mut client = tomoe_sdk::Client::connect("http://127.0.0.1:55555", None).await?;
/// client.publish("Vehicle.Speed", 42.0).await?;
/// let speed: Option<f64> = client.get_as("Vehicle.Speed").await?;
/// assert_eq!(speed, Some(42.0));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    url: String,
    stub: V2Client,
    leaves: HashMap<String, Leaf>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("Client")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the broker at `url` (`http://` or `https://`, with the system's
    /// root certificates), presenting `token` (a JWT, without `Bearer `) on every
    /// request when given.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), tomoe_sdk::SdkError> {
    /// let token = std::fs::read_to_string("app.jwt").ok();
    /// let client = tomoe_sdk::Client::connect("http://127.0.0.1:55555", token).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str, token: Option<String>) -> Result<Client, SdkError> {
        let connection = Connector::new(url)
            .token(token.as_deref())
            .connect_timeout(CONNECT_TIMEOUT)
            .connect()
            .await
            .map_err(|error| match error {
                ConnectError::InvalidUrl { url, .. } => SdkError::InvalidUrl { url },
                ConnectError::Tls { url, source } | ConnectError::Connect { url, source } => {
                    SdkError::Connect { url, source }
                }
                ConnectError::InvalidToken => SdkError::InvalidToken,
            })?;
        Ok(Client {
            url: url.to_owned(),
            stub: connection.v2,
            leaves: HashMap::new(),
        })
    }

    /// Connects as the app runtime tells a workload to: to `TOMOE_BROKER`
    /// (default [`DEFAULT_BROKER`]) with the token in `TOMOE_TOKEN`, if set and
    /// not empty.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), tomoe_sdk::SdkError> {
    /// let mut client = tomoe_sdk::Client::from_env().await?;
    /// let soc: Option<f32> = client
    ///     .get_as("Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn from_env() -> Result<Client, SdkError> {
        let url = std::env::var("TOMOE_BROKER")
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_BROKER.to_owned());
        Client::connect(url.trim(), env_token()).await
    }

    /// The broker URL this client connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The current value of the signal at `path`; `None` when it has no value yet.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn example(client: &mut tomoe_sdk::Client) -> Result<(), tomoe_sdk::SdkError> {
    /// use tomoe_sdk::Value;
    /// match client.get("Vehicle.Tomoe.Mode").await? {
    ///     Some(Value::String(mode)) => println!("mode {mode}"),
    ///     Some(other) => println!("unexpected {other}"),
    ///     None => println!("no mode yet"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get(&mut self, path: &str) -> Result<Option<Value>, SdkError> {
        let request = v2::GetValueRequest {
            signal_id: Some(signal_by_path(path)),
        };
        let response = self
            .stub
            .get_value(request)
            .await
            .map_err(|status| SdkError::from_status(&[path], status))?;
        Ok(response
            .into_inner()
            .data_point
            .and_then(|datapoint| datapoint.value)
            .and_then(value_from_v2))
    }

    /// The current value of the signal at `path` as a `T` (see [`FromValue`] for
    /// the conversions); `None` when it has no value yet.
    ///
    /// # Errors
    ///
    /// [`SdkError::Type`] when the value does not convert to `T`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn example(client: &mut tomoe_sdk::Client) -> Result<(), tomoe_sdk::SdkError> {
    /// // Vehicle.Speed is a float leaf; it reads as f64 without loss.
    /// let speed = client.get_as::<f64>("Vehicle.Speed").await?.unwrap_or(0.0);
    /// # Ok(()) }
    /// ```
    pub async fn get_as<T: FromValue>(&mut self, path: &str) -> Result<Option<T>, SdkError> {
        let Some(value) = self.get(path).await? else {
            return Ok(None);
        };
        T::from_value(value)
            .map(Some)
            .map_err(|value| SdkError::Type {
                path: path.to_owned(),
                expected: T::TYPE_NAME.to_owned(),
                found: describe(&value),
            })
    }

    /// The datatype of the leaf at `path`, looked up once and remembered.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn example(client: &mut tomoe_sdk::Client) -> Result<(), tomoe_sdk::SdkError> {
    /// use tomoe_sdk::{DataType, Value};
    /// let datatype = client.datatype("Vehicle.Cabin.Light.AmbientLight.Row1.DriverSide.Intensity").await?;
    /// let value = Value::parse("80", datatype).expect("a number");
    /// # Ok(()) }
    /// ```
    pub async fn datatype(&mut self, path: &str) -> Result<DataType, SdkError> {
        Ok(self.leaf(path).await?.datatype)
    }

    /// Publishes the current value of the signal at `path`, as a provider does
    /// (`PublishValue`). Numbers are converted to the leaf's datatype, so a Rust
    /// `f64` can be published to a `float` leaf and an `i32` to a `uint8` leaf
    /// when it fits.
    ///
    /// # Errors
    ///
    /// [`SdkError::Type`] when the value does not convert to the leaf's datatype;
    /// [`SdkError::Refused`] when the broker refuses it (for example a value
    /// outside the leaf's `min`/`max`, or a token without `provide` access).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn example(client: &mut tomoe_sdk::Client) -> Result<(), tomoe_sdk::SdkError> {
    /// client.publish("Vehicle.Tomoe.RangeEstimate", 312.5).await?;
    /// client.publish("Vehicle.Tomoe.Mode", "DRIVING").await?;
    /// # Ok(()) }
    /// ```
    pub async fn publish(&mut self, path: &str, value: impl Into<Value>) -> Result<(), SdkError> {
        let value = self.typed(path, value.into()).await?;
        let request = v2::PublishValueRequest {
            signal_id: Some(signal_by_path(path)),
            data_point: Some(datapoint_to_v2(Some(&value), None)),
        };
        self.stub
            .publish_value(request)
            .await
            .map_err(|status| SdkError::from_status(&[path], status))?;
        Ok(())
    }

    /// Asks the provider of the actuator at `path` to move it to `value`
    /// (`Actuate`). Numbers are converted to the leaf's datatype as in
    /// [`Client::publish`].
    ///
    /// # Errors
    ///
    /// [`SdkError::Refused`] with [`Code::Unavailable`](crate::Code::Unavailable)
    /// when no provider has claimed the actuator.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn example(client: &mut tomoe_sdk::Client) -> Result<(), tomoe_sdk::SdkError> {
    /// client.actuate("Vehicle.Cabin.Door.Row1.DriverSide.IsLocked", true).await?;
    /// # Ok(()) }
    /// ```
    pub async fn actuate(&mut self, path: &str, value: impl Into<Value>) -> Result<(), SdkError> {
        let value = self.typed(path, value.into()).await?;
        let request = v2::ActuateRequest {
            signal_id: Some(signal_by_path(path)),
            value: Some(value_to_v2(&value)),
        };
        self.stub
            .actuate(request)
            .await
            .map_err(|status| SdkError::from_status(&[path], status))?;
        Ok(())
    }

    /// Subscribes to the current values of `paths` (each a signal path or a
    /// pattern such as `Vehicle.Cabin.**`). The first updates carry the values the
    /// signals have now; then one [`Update`](crate::Update) arrives per changed
    /// signal.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn example(client: &mut tomoe_sdk::Client) -> Result<(), tomoe_sdk::SdkError> {
    /// use futures::StreamExt;
    /// let mut updates = client.subscribe(&["Vehicle.Speed"]).await?;
    /// while let Some(update) = updates.next().await {
    ///     let update = update?;
    ///     println!("{} = {:?}", update.path, update.value);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn subscribe(&mut self, paths: &[&str]) -> Result<Subscription, SdkError> {
        let request = v2::SubscribeRequest {
            signal_paths: paths.iter().map(|path| (*path).to_owned()).collect(),
            buffer_size: 0,
            filter: None,
        };
        let stream = self
            .stub
            .subscribe(request)
            .await
            .map_err(|status| SdkError::from_status(paths, status))?
            .into_inner();
        Ok(Subscription::new(
            stream,
            paths.iter().map(|path| (*path).to_owned()).collect(),
        ))
    }

    /// Claims the actuators at `paths` as their provider (`OpenProviderStream`
    /// with `ProvideActuationRequest`) and returns the stream of actuation requests
    /// other clients send them. The claim lasts as long as the returned
    /// [`ActuationRequests`] is kept; dropping it releases the actuators.
    ///
    /// A provider usually carries out each request and then publishes the
    /// actuator's new current value with [`Client::publish`].
    ///
    /// # Errors
    ///
    /// [`SdkError::Refused`] with [`Code::AlreadyExists`](crate::Code::AlreadyExists)
    /// when another provider holds one of the actuators.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn example(client: &mut tomoe_sdk::Client) -> Result<(), tomoe_sdk::SdkError> {
    /// use futures::StreamExt;
    /// const LOCK: &str = "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked";
    /// let mut requests = client.provide_actuators(&[LOCK]).await?;
    /// while let Some(request) = requests.next().await {
    ///     let request = request?;
    ///     // Drive the lock motor here, then report the new state.
    ///     client.publish(&request.path, request.value).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn provide_actuators(
        &mut self,
        paths: &[&str],
    ) -> Result<ActuationRequests, SdkError> {
        let mut ids = HashMap::new();
        for path in paths {
            let leaf = self.leaf(path).await?;
            ids.insert(leaf.id, (*path).to_owned());
        }
        let claim = v2::OpenProviderStreamRequest {
            action: Some(
                v2::open_provider_stream_request::Action::ProvideActuationRequest(
                    v2::ProvideActuationRequest {
                        actuator_identifiers: paths
                            .iter()
                            .map(|path| signal_by_path(path))
                            .collect(),
                    },
                ),
            ),
        };
        // The request side stays open for as long as the provider lives: it is
        // kept inside the returned stream.
        let (sender, receiver) = futures::channel::mpsc::channel(4);
        let outbound = futures::StreamExt::chain(futures::stream::iter([claim]), receiver);
        let mut responses = self
            .stub
            .open_provider_stream(outbound)
            .await
            .map_err(|status| SdkError::from_status(paths, status))?
            .into_inner();
        // The broker answers the claim before it sends any actuation request.
        use v2::open_provider_stream_response::Action;
        loop {
            match responses.message().await {
                Ok(Some(v2::OpenProviderStreamResponse {
                    action: Some(Action::ProvideActuationResponse(_)),
                })) => break,
                Ok(Some(_)) => continue,
                Ok(None) => {
                    return Err(SdkError::Refused {
                        path: paths.join(", "),
                        code: tonic::Code::Unavailable,
                        message:
                            "the broker closed the provider stream before confirming the claim"
                                .to_owned(),
                    })
                }
                Err(status) => return Err(SdkError::from_status(paths, status)),
            }
        }
        Ok(ActuationRequests::new(responses, sender, ids))
    }

    /// Converts `value` to the datatype of the leaf at `path`.
    async fn typed(&mut self, path: &str, value: Value) -> Result<Value, SdkError> {
        let datatype = self.leaf(path).await?.datatype;
        for_datatype(value, datatype).map_err(|value| SdkError::Type {
            path: path.to_owned(),
            expected: datatype.to_string(),
            found: describe(&value),
        })
    }

    /// The id and datatype of the leaf at `path`, from the cache or `ListMetadata`.
    async fn leaf(&mut self, path: &str) -> Result<Leaf, SdkError> {
        if let Some(leaf) = self.leaves.get(path) {
            return Ok(*leaf);
        }
        let request = v2::ListMetadataRequest {
            root: path.to_owned(),
            filter: String::new(),
        };
        let response = self
            .stub
            .list_metadata(request)
            .await
            .map_err(|status| SdkError::from_status(&[path], status))?;
        let metadata = find_signal(response.into_inner().metadata, path)
            .ok_or_else(|| SdkError::NotFound(path.to_owned()))?;
        let datatype = datatype_from_code(metadata.data_type).ok_or_else(|| SdkError::Refused {
            path: path.to_owned(),
            code: tonic::Code::Unimplemented,
            message: format!("unknown datatype code {}", metadata.data_type),
        })?;
        let leaf = Leaf {
            id: metadata.id,
            datatype,
        };
        self.leaves.insert(path.to_owned(), leaf);
        Ok(leaf)
    }
}

/// `TOMOE_TOKEN`, when set and not blank.
pub(crate) fn env_token() -> Option<String> {
    std::env::var("TOMOE_TOKEN")
        .ok()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
}
