//! `kuksa.val.v1.VAL`, still used by many clients (the Python `kuksa-client` uses it
//! for `get`, metadata and target values).

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kuksa_rust_sdk::v1_proto as proto;
use tomoe_broker::{Broker, BrokerError, Field, Permissions, SubscriptionEvent};
use tomoe_vss::LeafId;
use tonic::{Request, Response, Status, Streaming};

use tomoe_kuksa::{metadata_to_v1, value_from_v1};

use crate::convert::{datapoint_to_v1, status_of, v1_error_of};
use crate::Authorizer;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

pub(crate) struct V1Service {
    broker: Broker,
    authorizer: Arc<Authorizer>,
    closing: crate::Closing,
}

/// Which parts of a data entry a request asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Parts {
    value: bool,
    target: bool,
    metadata: bool,
}

impl Parts {
    /// The union of what `view` and `fields` ask for, as KUKSA documents them.
    fn of(view: i32, fields: &[i32]) -> Parts {
        use proto::{Field as F, View as V};
        let mut parts = match V::try_from(view).unwrap_or(V::Unspecified) {
            V::Unspecified if fields.is_empty() => Parts {
                value: true,
                ..Parts::default()
            },
            V::Unspecified | V::Fields => Parts::default(),
            V::CurrentValue => Parts {
                value: true,
                ..Parts::default()
            },
            V::TargetValue => Parts {
                target: true,
                ..Parts::default()
            },
            V::Metadata => Parts {
                metadata: true,
                ..Parts::default()
            },
            V::All => Parts {
                value: true,
                target: true,
                metadata: true,
            },
        };
        for field in fields {
            match F::try_from(*field) {
                Ok(F::Unspecified) => {
                    parts = Parts {
                        value: true,
                        target: true,
                        metadata: true,
                    }
                }
                Ok(F::Value) => parts.value = true,
                Ok(F::ActuatorTarget) => parts.target = true,
                Ok(F::Path) | Err(_) => {}
                Ok(_) => parts.metadata = true,
            }
        }
        parts
    }
}

impl V1Service {
    pub(crate) fn new(
        broker: Broker,
        authorizer: Arc<Authorizer>,
        closing: crate::Closing,
    ) -> V1Service {
        V1Service {
            broker,
            authorizer,
            closing,
        }
    }

    /// The data entries for one `EntryRequest`.
    fn entries(
        &self,
        permissions: &Permissions,
        request: &proto::EntryRequest,
    ) -> Result<Vec<proto::DataEntry>, BrokerError> {
        let parts = Parts::of(request.view, &request.fields);
        let ids = self.broker.resolve_pattern(&request.path)?;
        let values = if parts.value {
            Some(self.broker.get(permissions, &ids, Field::Current)?)
        } else {
            None
        };
        let mut entries = Vec::with_capacity(ids.len());
        for (index, id) in ids.iter().enumerate() {
            let leaf = self.broker.leaf(*id)?;
            let target = if parts.target && leaf.is_actuator() {
                self.broker
                    .get(permissions, &[*id], Field::Target)?
                    .first()
                    .map(datapoint_to_v1)
            } else {
                None
            };
            entries.push(proto::DataEntry {
                path: leaf.path.clone(),
                value: values.as_ref().map(|v| datapoint_to_v1(&v[index])),
                actuator_target: target,
                metadata: parts.metadata.then(|| metadata_to_v1(leaf)),
            });
        }
        Ok(entries)
    }

    /// Checks what makes a whole `Set` request invalid (KUKSA refuses the request
    /// rather than reporting per entry), before any update is applied.
    fn check_request(&self, updates: &[proto::EntryUpdate]) -> Result<(), Status> {
        for update in updates {
            let entry = update
                .entry
                .as_ref()
                .ok_or_else(|| Status::invalid_argument("entry is required in every update"))?;
            if entry.path.is_empty() {
                return Err(Status::invalid_argument("path is required in every update"));
            }
            let parts = Self::update_parts(update);
            if !parts.target {
                continue;
            }
            if let Some(node) = self.broker.catalog().leaf(&entry.path) {
                if !node.is_actuator() {
                    return Err(Status::invalid_argument(format!(
                        "tried to set a target value for \"{}\", a {}: only actuators have a target value",
                        entry.path, node.entry_type
                    )));
                }
            }
        }
        Ok(())
    }

    /// The parts an update writes: its `fields`, or, when it lists none, the parts
    /// its entry carries.
    fn update_parts(update: &proto::EntryUpdate) -> Parts {
        if !update.fields.is_empty() {
            return Parts::of(proto::View::Fields as i32, &update.fields);
        }
        let entry = update.entry.as_ref();
        Parts {
            value: entry.is_some_and(|e| e.value.is_some()),
            target: entry.is_some_and(|e| e.actuator_target.is_some()),
            metadata: entry.is_some_and(|e| e.metadata.is_some()),
        }
    }

    /// Applies one checked `EntryUpdate`, or says why it was refused.
    fn update(
        &self,
        permissions: &Permissions,
        update: proto::EntryUpdate,
    ) -> Result<(), proto::Error> {
        let parts = Self::update_parts(&update);
        let entry = update.entry.unwrap_or_default();
        let path = entry.path;
        let leaf = self
            .broker
            .resolve_path(&path)
            .map_err(|e| v1_error_of(&e))?;
        if parts.metadata {
            return Err(proto::Error {
                code: 403,
                reason: "forbidden".into(),
                message: format!("the metadata of \"{path}\" cannot be changed through the API"),
            });
        }
        if !parts.value && !parts.target {
            return Err(proto::Error {
                code: 400,
                reason: "bad_request".into(),
                message: format!("the update of \"{path}\" names no field to set"),
            });
        }
        if parts.value {
            let value = entry.value.and_then(|dp| dp.value).map(value_from_v1);
            self.broker
                .publish(permissions, &[(leaf, value)])
                .map_err(|e| v1_error_of(&e))?;
        }
        if parts.target {
            let value = entry
                .actuator_target
                .and_then(|dp| dp.value)
                .map(value_from_v1)
                .ok_or_else(|| proto::Error {
                    code: 400,
                    reason: "bad_request".into(),
                    message: format!("no target value given for \"{path}\""),
                })?;
            self.broker
                .set_targets(permissions, &[(leaf, value)])
                .map_err(|e| v1_error_of(&e))?;
        }
        Ok(())
    }

    fn apply_updates(
        &self,
        permissions: &Permissions,
        updates: Vec<proto::EntryUpdate>,
    ) -> Result<Vec<proto::DataEntryError>, Status> {
        self.check_request(&updates)?;
        let mut errors = Vec::new();
        for update in updates {
            let path = update
                .entry
                .as_ref()
                .map(|e| e.path.clone())
                .unwrap_or_default();
            if let Err(error) = self.update(permissions, update) {
                errors.push(proto::DataEntryError {
                    path,
                    error: Some(error),
                });
            }
        }
        Ok(errors)
    }
}

#[tonic::async_trait]
impl proto::val_server::Val for V1Service {
    async fn get(
        &self,
        request: Request<proto::GetRequest>,
    ) -> Result<Response<proto::GetResponse>, Status> {
        let permissions = self.authorizer.permissions(request.metadata())?;
        let request = request.into_inner();
        if request.entries.is_empty() {
            return Err(Status::invalid_argument("no datapoints requested"));
        }
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        for entry_request in &request.entries {
            match self.entries(&permissions, entry_request) {
                Ok(found) => entries.extend(found),
                Err(error) => errors.push(proto::DataEntryError {
                    path: entry_request.path.clone(),
                    error: Some(v1_error_of(&error)),
                }),
            }
        }
        let error = errors.first().and_then(|e| e.error.clone());
        Ok(Response::new(proto::GetResponse {
            entries,
            errors,
            error,
        }))
    }

    async fn set(
        &self,
        request: Request<proto::SetRequest>,
    ) -> Result<Response<proto::SetResponse>, Status> {
        let permissions = self.authorizer.permissions(request.metadata())?;
        let updates = request.into_inner().updates;
        if updates.is_empty() {
            return Err(Status::invalid_argument("no updates requested"));
        }
        let errors = self.apply_updates(&permissions, updates)?;
        let error = errors.first().and_then(|e| e.error.clone());
        Ok(Response::new(proto::SetResponse { error, errors }))
    }

    type StreamedUpdateStream = BoxStream<proto::StreamedUpdateResponse>;

    async fn streamed_update(
        &self,
        request: Request<Streaming<proto::StreamedUpdateRequest>>,
    ) -> Result<Response<Self::StreamedUpdateStream>, Status> {
        let permissions = self.authorizer.permissions(request.metadata())?;
        let broker = self.broker.clone();
        let authorizer = self.authorizer.clone();
        let closing = self.closing.clone();
        let caller = permissions.clone();
        let inbound = request.into_inner();
        let stream = inbound.filter_map(move |message| {
            let service = V1Service::new(broker.clone(), authorizer.clone(), closing.clone());
            let permissions = permissions.clone();
            async move {
                let message = match message {
                    Ok(message) => message,
                    Err(status) => return Some(Err(status)),
                };
                match service.apply_updates(&permissions, message.updates) {
                    Ok(errors) if errors.is_empty() => None,
                    Ok(errors) => Some(Ok(proto::StreamedUpdateResponse {
                        error: errors.first().and_then(|e| e.error.clone()),
                        errors,
                    })),
                    Err(status) => Some(Err(status)),
                }
            }
        });
        Ok(Response::new(crate::until_expiry(
            stream,
            &caller,
            &self.closing,
        )))
    }

    type SubscribeStream = BoxStream<proto::SubscribeResponse>;

    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let permissions = self.authorizer.permissions(request.metadata())?;
        let request = request.into_inner();
        if request.entries.is_empty() {
            return Err(Status::invalid_argument(
                "subscription request must contain at least one entry",
            ));
        }
        let mut current: Vec<LeafId> = Vec::new();
        let mut target: Vec<LeafId> = Vec::new();
        for entry in &request.entries {
            let parts = Parts::of(entry.view, &entry.fields);
            let ids = self
                .broker
                .resolve_pattern(&entry.path)
                .map_err(|e| status_of(&e))?;
            if parts.value || parts.metadata {
                current.extend(&ids);
            }
            if parts.target {
                target.extend(
                    ids.iter()
                        .filter(|id| self.broker.leaf(**id).is_ok_and(|l| l.is_actuator())),
                );
            }
        }
        let mut streams: Vec<BoxStream<proto::SubscribeResponse>> = Vec::new();
        for (ids, field) in [(current, Field::Current), (target, Field::Target)] {
            if ids.is_empty() {
                continue;
            }
            let subscription = self
                .broker
                .subscribe(&permissions, &ids, field, 0, true)
                .map_err(|e| status_of(&e))?;
            let broker = self.broker.clone();
            streams.push(Box::pin(futures::stream::unfold(Some(subscription), move |state| {
                let broker = broker.clone();
                async move {
                    let mut subscription = state?;
                    match subscription.next().await? {
                        SubscriptionEvent::Changes(changes) => {
                            let updates = changes
                                .iter()
                                .map(|change| {
                                    let path = broker.leaf(change.leaf).map(|l| l.path.clone()).unwrap_or_default();
                                    let datapoint = Some(datapoint_to_v1(&change.datapoint));
                                    let (value, actuator_target, field) = match change.field {
                                        Field::Current => (datapoint, None, proto::Field::Value),
                                        Field::Target => (None, datapoint, proto::Field::ActuatorTarget),
                                    };
                                    proto::EntryUpdate {
                                        entry: Some(proto::DataEntry { path, value, actuator_target, metadata: None }),
                                        fields: vec![field as i32],
                                    }
                                })
                                .collect();
                            Some((Ok(proto::SubscribeResponse { updates }), Some(subscription)))
                        }
                        SubscriptionEvent::Lagged { dropped } => Some((
                            Err(Status::resource_exhausted(format!(
                                "subscriber lagged behind: {dropped} update batch(es) could not be queued"
                            ))),
                            None,
                        )),
                    }
                }
            })));
        }
        if streams.is_empty() {
            return Err(Status::invalid_argument("no valid path specified"));
        }
        Ok(Response::new(crate::until_expiry(
            futures::stream::select_all(streams),
            &permissions,
            &self.closing,
        )))
    }

    async fn get_server_info(
        &self,
        request: Request<proto::GetServerInfoRequest>,
    ) -> Result<Response<proto::GetServerInfoResponse>, Status> {
        self.authorizer.permissions(request.metadata())?;
        Ok(Response::new(proto::GetServerInfoResponse {
            name: crate::SERVER_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_follow_view_and_fields() {
        use proto::{Field as F, View as V};
        assert_eq!(
            Parts::of(V::Unspecified as i32, &[]),
            Parts {
                value: true,
                ..Parts::default()
            }
        );
        assert_eq!(
            Parts::of(V::TargetValue as i32, &[F::ActuatorTarget as i32]),
            Parts {
                target: true,
                ..Parts::default()
            }
        );
        assert_eq!(
            Parts::of(V::Metadata as i32, &[F::MetadataDataType as i32]),
            Parts {
                metadata: true,
                ..Parts::default()
            }
        );
        assert_eq!(
            Parts::of(V::All as i32, &[]),
            Parts {
                value: true,
                target: true,
                metadata: true
            }
        );
    }
}
