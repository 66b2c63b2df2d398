//! `kuksa.val.v2.VAL`.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kuksa_rust_sdk::v2_proto as proto;
use kuksa_rust_sdk::v2_proto::open_provider_stream_request::Action as InboundAction;
use kuksa_rust_sdk::v2_proto::open_provider_stream_response::Action as OutboundAction;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tomoe_broker::{
    ActuationProvider, BatchPolicy, Broker, BrokerError, Field, Permissions, SubscriptionEvent,
    CONFIRMATION_TIMEOUT,
};
use tomoe_vss::{LeafId, Value};
use tonic::{Request, Response, Status, Streaming};

use tomoe_kuksa::signal::{signal_by_id, signal_of, Signal};
use tomoe_kuksa::{metadata_to_v2, value_from_v2, value_to_v2};

use crate::convert::{datapoint_to_v2, status_of};
use crate::Authorizer;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

pub(crate) struct V2Service {
    broker: Broker,
    authorizer: Arc<Authorizer>,
    closing: crate::Closing,
}

impl V2Service {
    pub(crate) fn new(
        broker: Broker,
        authorizer: Arc<Authorizer>,
        closing: crate::Closing,
    ) -> V2Service {
        V2Service {
            broker,
            authorizer,
            closing,
        }
    }

    fn resolve(&self, signal_id: Option<proto::SignalId>) -> Result<LeafId, Status> {
        resolve_signal(&self.broker, signal_id)
    }

    fn actuation(&self, request: proto::ActuateRequest) -> Result<(LeafId, Value), Status> {
        let leaf = self.resolve(request.signal_id)?;
        let path = &self.broker.leaf(leaf).map_err(|e| status_of(&e))?.path;
        let value = request
            .value
            .and_then(value_from_v2)
            .ok_or_else(|| Status::invalid_argument(format!("no value provided for \"{path}\"")))?;
        Ok((leaf, value))
    }

    fn subscription_stream<K, R>(
        &self,
        permissions: &Permissions,
        ids: &[LeafId],
        buffer_size: u32,
        key: impl Fn(&Broker, LeafId) -> K + Send + Sync + 'static,
        wrap: impl Fn(HashMap<K, proto::Datapoint>) -> R + Send + Sync + 'static,
    ) -> Result<BoxStream<R>, Status>
    where
        K: std::hash::Hash + Eq + Send + 'static,
        R: Send + 'static,
    {
        let subscription = self
            .broker
            .subscribe(permissions, ids, Field::Current, buffer_size as usize, true)
            .map_err(|e| status_of(&e))?;
        let broker = self.broker.clone();
        let key = Arc::new(key);
        let wrap = Arc::new(wrap);
        let stream = futures::stream::unfold(Some(subscription), move |state| {
            let broker = broker.clone();
            let key = key.clone();
            let wrap = wrap.clone();
            async move {
                let mut subscription = state?;
                match subscription.next().await? {
                    SubscriptionEvent::Changes(changes) => {
                        let entries = changes
                            .iter()
                            .map(|change| (key(&broker, change.leaf), datapoint_to_v2(&change.datapoint)))
                            .collect();
                        Some((Ok(wrap(entries)), Some(subscription)))
                    }
                    SubscriptionEvent::Lagged { dropped } => Some((
                        Err(Status::resource_exhausted(format!(
                            "subscriber lagged behind: {dropped} update batch(es) could not be queued; \
                             read faster or subscribe with a larger buffer_size"
                        ))),
                        None,
                    )),
                }
            }
        });
        Ok(crate::until_expiry(stream, permissions, &self.closing))
    }
}

/// The leaf a v2 `SignalID` names, by path or by id.
fn resolve_signal(broker: &Broker, signal_id: Option<proto::SignalId>) -> Result<LeafId, Status> {
    match signal_of(signal_id).map_err(|e| Status::invalid_argument(e.to_string()))? {
        Signal::Path(path) => broker.resolve_path(&path).map_err(|e| status_of(&e)),
        Signal::Id(id) => broker.resolve_id(id.into()).map_err(|e| status_of(&e)),
    }
}

fn path_key(broker: &Broker, leaf: LeafId) -> String {
    broker
        .leaf(leaf)
        .map(|l| l.path.clone())
        .unwrap_or_default()
}

fn id_key(_: &Broker, leaf: LeafId) -> i32 {
    leaf.0 as i32
}

#[tonic::async_trait]
impl proto::val_server::Val for V2Service {
    async fn get_value(
        &self,
        request: Request<proto::GetValueRequest>,
    ) -> Result<Response<proto::GetValueResponse>, Status> {
        let permissions = self.authorizer.permissions(request.metadata())?;
        let leaf = self.resolve(request.into_inner().signal_id)?;
        let datapoints = self
            .broker
            .get(&permissions, &[leaf], Field::Current)
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(proto::GetValueResponse {
            data_point: datapoints.first().map(datapoint_to_v2),
        }))
    }

    async fn get_values(
        &self,
        request: Request<proto::GetValuesRequest>,
    ) -> Result<Response<proto::GetValuesResponse>, Status> {
        let permissions = self.authorizer.permissions(request.metadata())?;
        let ids = request
            .into_inner()
            .signal_ids
            .into_iter()
            .map(|id| self.resolve(Some(id)))
            .collect::<Result<Vec<_>, _>>()?;
        let datapoints = self
            .broker
            .get(&permissions, &ids, Field::Current)
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(proto::GetValuesResponse {
            data_points: datapoints.iter().map(datapoint_to_v2).collect(),
        }))
    }

    type SubscribeStream = BoxStream<proto::SubscribeResponse>;

    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let permissions = self.authorizer.permissions(request.metadata())?;
        let request = request.into_inner();
        if request.signal_paths.is_empty() {
            return Err(Status::invalid_argument("no signal paths requested"));
        }
        let mut ids = Vec::new();
        for path in &request.signal_paths {
            ids.extend(
                self.broker
                    .resolve_pattern(path)
                    .map_err(|e| status_of(&e))?,
            );
        }
        let stream = self.subscription_stream(
            &permissions,
            &ids,
            request.buffer_size,
            path_key,
            |entries| proto::SubscribeResponse { entries },
        )?;
        Ok(Response::new(stream))
    }

    type SubscribeByIdStream = BoxStream<proto::SubscribeByIdResponse>;

    async fn subscribe_by_id(
        &self,
        request: Request<proto::SubscribeByIdRequest>,
    ) -> Result<Response<Self::SubscribeByIdStream>, Status> {
        let permissions = self.authorizer.permissions(request.metadata())?;
        let request = request.into_inner();
        if request.signal_ids.is_empty() {
            return Err(Status::invalid_argument("no signal ids requested"));
        }
        let ids = request
            .signal_ids
            .iter()
            .map(|id| {
                self.broker
                    .resolve_id((*id).into())
                    .map_err(|e| status_of(&e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stream =
            self.subscription_stream(&permissions, &ids, request.buffer_size, id_key, |entries| {
                proto::SubscribeByIdResponse { entries }
            })?;
        Ok(Response::new(stream))
    }

    async fn actuate(
        &self,
        request: Request<proto::ActuateRequest>,
    ) -> Result<Response<proto::ActuateResponse>, Status> {
        let permissions = self.authorizer.permissions(request.metadata())?;
        let target = self.actuation(request.into_inner())?;
        self.broker
            .actuate_confirmed(&permissions, &[target], CONFIRMATION_TIMEOUT)
            .await
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(proto::ActuateResponse {}))
    }

    async fn actuate_stream(
        &self,
        request: Request<Streaming<proto::ActuateRequest>>,
    ) -> Result<Response<proto::ActuateResponse>, Status> {
        let permissions = self.authorizer.permissions(request.metadata())?;
        let mut stream = request.into_inner();
        while let Some(message) = stream.next().await {
            let target = self.actuation(message?)?;
            self.broker
                .actuate(&permissions, &[target])
                .map_err(|e| status_of(&e))?;
        }
        Ok(Response::new(proto::ActuateResponse {}))
    }

    async fn batch_actuate(
        &self,
        request: Request<proto::BatchActuateRequest>,
    ) -> Result<Response<proto::BatchActuateResponse>, Status> {
        let permissions = self.authorizer.permissions(request.metadata())?;
        let targets = request
            .into_inner()
            .actuate_requests
            .into_iter()
            .map(|r| self.actuation(r))
            .collect::<Result<Vec<_>, _>>()?;
        self.broker
            .actuate_confirmed(&permissions, &targets, CONFIRMATION_TIMEOUT)
            .await
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(proto::BatchActuateResponse {}))
    }

    async fn list_metadata(
        &self,
        request: Request<proto::ListMetadataRequest>,
    ) -> Result<Response<proto::ListMetadataResponse>, Status> {
        self.authorizer.permissions(request.metadata())?;
        let root = request.into_inner().root;
        let pattern = match root.as_str() {
            "" | "\"\"" => "**",
            other => other,
        };
        let ids = self
            .broker
            .resolve_pattern(pattern)
            .map_err(|e| status_of(&e))?;
        let metadata = ids
            .iter()
            .filter_map(|id| self.broker.leaf(*id).ok())
            .map(metadata_to_v2)
            .collect();
        Ok(Response::new(proto::ListMetadataResponse { metadata }))
    }

    async fn publish_value(
        &self,
        request: Request<proto::PublishValueRequest>,
    ) -> Result<Response<proto::PublishValueResponse>, Status> {
        let permissions = self.authorizer.permissions(request.metadata())?;
        let request = request.into_inner();
        let leaf = self.resolve(request.signal_id)?;
        let datapoint = request
            .data_point
            .ok_or_else(|| Status::invalid_argument("no data_point provided"))?;
        let value = datapoint.value.and_then(value_from_v2);
        self.broker
            .publish(&permissions, &[(leaf, value)])
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(proto::PublishValueResponse {}))
    }

    type OpenProviderStreamStream = BoxStream<proto::OpenProviderStreamResponse>;

    async fn open_provider_stream(
        &self,
        request: Request<Streaming<proto::OpenProviderStreamRequest>>,
    ) -> Result<Response<Self::OpenProviderStreamStream>, Status> {
        let permissions = self.authorizer.permissions(request.metadata())?;
        let inbound = request.into_inner();
        let (outbound, receiver) = mpsc::channel(64);
        let session = ProviderSession {
            broker: self.broker.clone(),
            permissions,
            outbound,
            actuation: None,
            closing: self.closing.clone(),
        };
        tokio::spawn(tracing::Instrument::instrument(
            session.run(inbound),
            tracing::debug_span!("grpc-provider-stream"),
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn get_server_info(
        &self,
        request: Request<proto::GetServerInfoRequest>,
    ) -> Result<Response<proto::GetServerInfoResponse>, Status> {
        self.authorizer.permissions(request.metadata())?;
        Ok(Response::new(proto::GetServerInfoResponse {
            name: crate::SERVER_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit_hash: String::new(),
        }))
    }
}

/// One `OpenProviderStream` call: claims, published values and actuation requests.
struct ProviderSession {
    broker: Broker,
    permissions: Permissions,
    outbound: mpsc::Sender<Result<proto::OpenProviderStreamResponse, Status>>,
    actuation: Option<ActuationProvider>,
    closing: crate::Closing,
}

impl ProviderSession {
    async fn run(mut self, mut inbound: Streaming<proto::OpenProviderStreamRequest>) {
        // A client may half-close its side after claiming actuators (the Python
        // kuksa-client does): the session, and the claim, then last until the client
        // cancels the call, which closes the outbound side.
        let watch = self.outbound.clone();
        let mut inbound_open = true;
        let permissions = self.permissions.clone();
        let expiry = crate::expiry(&permissions);
        tokio::pin!(expiry);
        let closed = self.closing.clone().wait();
        tokio::pin!(closed);
        loop {
            let request = async {
                match &mut self.actuation {
                    Some(provider) => provider.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = watch.closed() => return,
                _ = &mut expiry => {
                    let _ = self.outbound.send(Err(crate::expired_status())).await;
                    return;
                }
                () = &mut closed => {
                    let _ = self.outbound.send(Err(crate::closing_status())).await;
                    return;
                }
                message = inbound.next(), if inbound_open => {
                    let outcome = match message {
                        None => {
                            inbound_open = false;
                            if self.actuation.is_none() {
                                return;
                            }
                            continue;
                        }
                        Some(Err(status)) => {
                            tracing::debug!(%status, "provider stream ended with an error");
                            return;
                        }
                        Some(Ok(message)) => self.handle(message),
                    };
                    let reply = match outcome {
                        Ok(None) => continue,
                        Ok(Some(reply)) => Ok(reply),
                        Err(status) => Err(status),
                    };
                    let fatal = reply.is_err();
                    if self.outbound.send(reply).await.is_err() || fatal {
                        return;
                    }
                }
                request = request => {
                    let Some(request) = request else { return };
                    if self.outbound.send(Ok(actuation_message(&request))).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Handles one inbound message; returns the reply to send, if any, or the status
    /// that ends the stream.
    fn handle(
        &mut self,
        message: proto::OpenProviderStreamRequest,
    ) -> Result<Option<proto::OpenProviderStreamResponse>, Status> {
        let reply = |action| {
            Ok(Some(proto::OpenProviderStreamResponse {
                action: Some(action),
            }))
        };
        match message.action {
            Some(InboundAction::ProvideActuationRequest(request)) => {
                let ids = request
                    .actuator_identifiers
                    .into_iter()
                    .map(|id| self.resolve(id))
                    .collect::<Result<Vec<_>, _>>()?;
                let provider = self
                    .actuation
                    .get_or_insert_with(|| self.broker.open_provider());
                provider
                    .claim(&self.permissions, &ids)
                    .map_err(|e| status_of(&e))?;
                reply(OutboundAction::ProvideActuationResponse(
                    proto::ProvideActuationResponse {},
                ))
            }
            Some(InboundAction::ProvideSignalRequest(request)) => {
                for id in request.signals_sample_intervals.keys() {
                    let leaf = self
                        .broker
                        .resolve_id((*id).into())
                        .map_err(|e| status_of(&e))?;
                    let path = &self.broker.leaf(leaf).map_err(|e| status_of(&e))?.path;
                    self.permissions
                        .check(tomoe_broker::Access::Provide, path)
                        .map_err(|e| status_of(&e))?;
                }
                reply(OutboundAction::ProvideSignalResponse(
                    proto::ProvideSignalResponse {},
                ))
            }
            Some(InboundAction::PublishValuesRequest(request)) => {
                let mut status = HashMap::new();
                let mut updates = Vec::with_capacity(request.data_points.len());
                for (id, datapoint) in request.data_points {
                    match self.broker.resolve_id(id.into()) {
                        Ok(leaf) => updates.push((leaf, datapoint.value.and_then(value_from_v2))),
                        Err(error) => {
                            status.insert(id, v2_error(&error));
                        }
                    }
                }
                if status.is_empty() {
                    // The batch is refused as a whole; each refused entry is reported.
                    match self.broker.publish_batch(
                        &self.permissions,
                        &updates,
                        BatchPolicy::AllOrNothing,
                    ) {
                        Ok(outcome) => {
                            for entry in outcome.refused {
                                status.insert(entry.leaf.0 as i32, v2_error(&entry.reason));
                            }
                        }
                        // A failure of the batch as a whole (the store) names no entry.
                        Err(error) => {
                            status.insert(-1, v2_error(&error));
                        }
                    }
                }
                if status.is_empty() {
                    Ok(None)
                } else {
                    reply(OutboundAction::PublishValuesResponse(
                        proto::PublishValuesResponse {
                            request_id: request.request_id,
                            status,
                        },
                    ))
                }
            }
            Some(InboundAction::BatchActuateStreamResponse(response)) => {
                if let Some(error) = response
                    .error
                    .filter(|e| e.code != proto::ErrorCode::Ok as i32)
                {
                    tracing::warn!(code = error.code, message = %error.message, "provider reported an actuation error");
                }
                Ok(None)
            }
            Some(_) | None => Ok(None),
        }
    }

    fn resolve(&self, id: proto::SignalId) -> Result<LeafId, Status> {
        resolve_signal(&self.broker, Some(id))
    }
}

/// The provider-stream message that carries an actuation request; signals are
/// addressed by id, as KUKSA does.
fn actuation_message(
    request: &tomoe_broker::ActuationRequest,
) -> proto::OpenProviderStreamResponse {
    let actuate_requests = request
        .targets
        .iter()
        .map(|(leaf, value)| proto::ActuateRequest {
            signal_id: Some(signal_by_id(leaf.0 as i32)),
            value: Some(value_to_v2(value)),
        })
        .collect();
    proto::OpenProviderStreamResponse {
        action: Some(OutboundAction::BatchActuateStreamRequest(
            proto::BatchActuateStreamRequest { actuate_requests },
        )),
    }
}

fn v2_error(error: &BrokerError) -> proto::Error {
    let error = error.reason();
    let code = match error {
        BrokerError::NotFound { .. } | BrokerError::UnknownId { .. } => proto::ErrorCode::NotFound,
        BrokerError::PermissionDenied { .. }
        | BrokerError::PrivateBranch { .. }
        | BrokerError::PermissionExpired => proto::ErrorCode::PermissionDenied,
        _ => proto::ErrorCode::InvalidArgument,
    };
    proto::Error {
        code: code as i32,
        message: error.to_string(),
    }
}
