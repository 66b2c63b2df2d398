//! What a client does with a broker, on top of the stubs of a [`Connection`]:
//! read current and target values, publish, set targets, actuate and subscribe,
//! with values typed by the leaf's datatype.

use std::collections::HashMap;
use std::time::SystemTime;

use futures::{Stream, StreamExt};
use tomoe_vss::{EntryType, Value};

use crate::codes::{datatype_from_code, entry_type_code};
use crate::connect::Connection;
use crate::metadata::find_signal;
use crate::signal::{signal_by_id, signal_by_path};
use crate::value::{datapoint_to_v1, datapoint_to_v2, value_from_v1, value_from_v2, value_to_v2};
use crate::{v1, v2};

/// Why a client request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The broker refused the request.
    #[error("broker refused the request ({code}): {message}")]
    Refused {
        /// The gRPC code, or the v1 error code and reason.
        code: String,
        /// The broker's message.
        message: String,
    },
    /// The path does not name exactly one signal.
    #[error("\"{path}\" is not a signal (it matches {matches} signals)")]
    NotASignal {
        /// The path.
        path: String,
        /// How many signals the path matches as a pattern.
        matches: usize,
    },
    /// The text is not a value of the signal's datatype.
    #[error("invalid value for \"{path}\": {reason}")]
    InvalidValue {
        /// The signal.
        path: String,
        /// Why.
        reason: String,
    },
    /// Only actuators have a target value.
    #[error("\"{0}\" selects no actuator: only actuators have a target value")]
    NoActuator(String),
    /// The broker ended a subscription.
    #[error("the broker closed the subscription")]
    Closed,
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> ClientError {
        ClientError::Refused {
            code: format!("{:?}", status.code()),
            message: status.message().to_string(),
        }
    }
}

fn v1_refusal(errors: &[v1::DataEntryError]) -> Result<(), ClientError> {
    match errors.first().and_then(|entry| entry.error.as_ref()) {
        Some(error) => Err(ClientError::Refused {
            code: format!("{} {}", error.code, error.reason),
            message: error.message.clone(),
        }),
        None => Ok(()),
    }
}

/// A signal's value as read from the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The signal's path.
    pub path: String,
    /// Its value, if it has one.
    pub value: Option<Value>,
    /// Its unit (empty without one).
    pub unit: String,
    /// When the value was set.
    pub timestamp: Option<SystemTime>,
}

fn time_of(timestamp: Option<&prost_types::Timestamp>) -> Option<SystemTime> {
    timestamp.and_then(|t| SystemTime::try_from(*t).ok())
}

impl Connection {
    /// The metadata of the signals `pattern` selects.
    pub async fn metadata(&mut self, pattern: &str) -> Result<Vec<v2::Metadata>, ClientError> {
        let response = self
            .v2
            .list_metadata(v2::ListMetadataRequest {
                root: pattern.to_owned(),
                filter: String::new(),
            })
            .await?;
        Ok(response.into_inner().metadata)
    }

    /// The current values of the signals `pattern` selects.
    pub async fn current(&mut self, pattern: &str) -> Result<Vec<Reading>, ClientError> {
        let metadata = self.metadata(pattern).await?;
        let signal_ids = metadata.iter().map(|m| signal_by_id(m.id)).collect();
        let response = self
            .v2
            .get_values(v2::GetValuesRequest { signal_ids })
            .await?;
        Ok(metadata
            .into_iter()
            .zip(response.into_inner().data_points)
            .map(|(meta, datapoint)| Reading {
                path: meta.path,
                value: datapoint.value.and_then(value_from_v2),
                unit: meta.unit,
                timestamp: time_of(datapoint.timestamp.as_ref()),
            })
            .collect())
    }

    /// The target values of the actuators `pattern` selects.
    pub async fn targets(&mut self, pattern: &str) -> Result<Vec<Reading>, ClientError> {
        let metadata = self.metadata(pattern).await?;
        let actuator = entry_type_code(EntryType::Actuator);
        if !metadata.iter().any(|m| m.entry_type == actuator) {
            return Err(ClientError::NoActuator(pattern.to_string()));
        }
        let request = v1::GetRequest {
            entries: vec![v1::EntryRequest {
                path: pattern.to_owned(),
                view: v1::View::TargetValue as i32,
                fields: vec![v1::Field::ActuatorTarget as i32],
            }],
        };
        let response = self.v1.get(request).await?.into_inner();
        v1_refusal(&response.errors)?;
        Ok(response
            .entries
            .into_iter()
            .map(|entry| {
                let unit = metadata
                    .iter()
                    .find(|m| m.path == entry.path)
                    .map(|m| m.unit.clone())
                    .unwrap_or_default();
                let target = entry.actuator_target;
                Reading {
                    path: entry.path,
                    value: target
                        .as_ref()
                        .and_then(|dp| dp.value.clone())
                        .map(value_from_v1),
                    unit,
                    timestamp: time_of(target.as_ref().and_then(|dp| dp.timestamp.as_ref())),
                }
            })
            .collect())
    }

    /// Parses `text` as a value of the datatype of signal `path`.
    pub async fn parse_value(&mut self, path: &str, text: &str) -> Result<Value, ClientError> {
        let metadata = self.metadata(path).await?;
        let matches = metadata.len();
        let not_a_signal = || ClientError::NotASignal {
            path: path.to_string(),
            matches,
        };
        let leaf = find_signal(metadata, path).ok_or_else(not_a_signal)?;
        let datatype =
            datatype_from_code(leaf.data_type).ok_or_else(|| ClientError::InvalidValue {
                path: path.to_string(),
                reason: format!("unknown datatype {}", leaf.data_type),
            })?;
        Value::parse(text, datatype).map_err(|error| ClientError::InvalidValue {
            path: path.to_string(),
            reason: error.to_string(),
        })
    }

    /// Publishes `value` as the current value of `path`.
    pub async fn publish(&mut self, path: &str, value: &Value) -> Result<(), ClientError> {
        let request = v2::PublishValueRequest {
            signal_id: Some(signal_by_path(path)),
            data_point: Some(datapoint_to_v2(Some(value), None)),
        };
        self.v2.publish_value(request).await?;
        Ok(())
    }

    /// Sets the target value of actuator `path` (`kuksa.val.v1`, without a provider).
    pub async fn set_target(&mut self, path: &str, value: &Value) -> Result<(), ClientError> {
        let request = v1::SetRequest {
            updates: vec![v1::EntryUpdate {
                entry: Some(v1::DataEntry {
                    path: path.to_owned(),
                    value: None,
                    actuator_target: Some(datapoint_to_v1(Some(value), None)),
                    metadata: None,
                }),
                fields: vec![v1::Field::ActuatorTarget as i32],
            }],
        };
        let response = self.v1.set(request).await?.into_inner();
        v1_refusal(&response.errors)
    }

    /// Asks the provider of actuator `path` to actuate `value`.
    pub async fn actuate(&mut self, path: &str, value: &Value) -> Result<(), ClientError> {
        let request = v2::ActuateRequest {
            signal_id: Some(signal_by_path(path)),
            value: Some(value_to_v2(value)),
        };
        self.v2.actuate(request).await?;
        Ok(())
    }

    /// Subscribes to the signals `patterns` select: each item is one update with
    /// the signals whose value changed (the first holds every signal), sorted by
    /// path; a value published again unchanged is left out. The stream ends with an
    /// error when the broker ends it.
    pub async fn subscribe(
        &mut self,
        patterns: &[String],
    ) -> Result<impl Stream<Item = Result<Vec<Reading>, ClientError>>, ClientError> {
        let mut units = HashMap::new();
        for pattern in patterns {
            for meta in self.metadata(pattern).await? {
                units.insert(meta.path, meta.unit);
            }
        }
        let request = v2::SubscribeRequest {
            signal_paths: patterns.to_vec(),
            buffer_size: 0,
            filter: None,
        };
        let stream = self.v2.subscribe(request).await?.into_inner();
        let mut last: HashMap<String, Option<Value>> = HashMap::new();
        let updates = stream.filter_map(move |message| {
            let update = message.map_err(ClientError::from).map(|response| {
                let mut readings: Vec<Reading> = response
                    .entries
                    .into_iter()
                    .map(|(path, datapoint)| Reading {
                        unit: units.get(&path).cloned().unwrap_or_default(),
                        value: datapoint.value.and_then(value_from_v2),
                        timestamp: time_of(datapoint.timestamp.as_ref()),
                        path,
                    })
                    .filter(|reading| {
                        last.insert(reading.path.clone(), reading.value.clone())
                            != Some(reading.value.clone())
                    })
                    .collect();
                readings.sort_by(|a, b| a.path.cmp(&b.path));
                readings
            });
            let keep = !matches!(&update, Ok(readings) if readings.is_empty());
            futures::future::ready(keep.then_some(update))
        });
        Ok(updates.chain(futures::stream::once(async { Err(ClientError::Closed) })))
    }
}
