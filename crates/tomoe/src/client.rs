//! Client commands: talk to a running broker over the KUKSA gRPC API.

use std::time::SystemTime;

use anyhow::{anyhow, bail, Context};
use futures::StreamExt;
use kuksa_rust_sdk::v1_proto as v1;
use kuksa_rust_sdk::v2_proto as v2;
use serde_json::json;
use tomoe_kuksa::{
    datapoint_to_v1, datapoint_to_v2, datatype_from_code, entry_type_code, entry_type_from_code,
    find_signal, signal_by_id, signal_by_path, value_from_v1, value_from_v2, Connection, Connector,
};
use tomoe_vss::Value;
use tonic::Status;

use crate::cli::{ActuateArgs, ClientArgs, GetArgs, MetadataArgs, SetArgs, SubscribeArgs};

async fn connect(args: &ClientArgs) -> anyhow::Result<Connection> {
    let mut connector = Connector::new(args.broker.clone()).token(args.token.as_deref());
    if let Some(ca) = &args.ca_cert {
        let pem = std::fs::read(ca)
            .with_context(|| format!("cannot read CA certificate {}", ca.display()))?;
        connector = connector.ca_certificate(pem);
    }
    Ok(connector.connect().await?)
}

/// A broker refusal as an error carrying the broker's message.
fn refused(status: Status) -> anyhow::Error {
    anyhow!(
        "broker refused the request ({:?}): {}",
        status.code(),
        status.message()
    )
}

async fn list_metadata(
    connection: &mut Connection,
    pattern: &str,
) -> anyhow::Result<Vec<v2::Metadata>> {
    let response = connection
        .v2
        .list_metadata(v2::ListMetadataRequest {
            root: pattern.to_owned(),
            filter: String::new(),
        })
        .await
        .map_err(refused)?;
    Ok(response.into_inner().metadata)
}

fn timestamp_text(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp
        .and_then(|t| SystemTime::try_from(*t).ok())
        .map(|t| humantime::format_rfc3339_millis(t).to_string())
        .unwrap_or_default()
}

fn print_value(
    json_output: bool,
    path: &str,
    value: Option<Value>,
    unit: &str,
    timestamp: Option<&prost_types::Timestamp>,
) -> std::io::Result<()> {
    if json_output {
        let value = value
            .as_ref()
            .map(Value::to_json)
            .unwrap_or(serde_json::Value::Null);
        out!(
            "{}",
            json!({"path": path, "value": value, "timestamp": timestamp_text(timestamp)})
        )
    } else {
        let value_is_none = value.is_none();
        let text = value
            .map(|v| v.to_string())
            .unwrap_or_else(|| "(no value)".into());
        let unit = if unit.is_empty() || value_is_none {
            String::new()
        } else {
            format!(" {unit}")
        };
        out!("{path} = {text}{unit}")
    }
}

pub async fn get(get: GetArgs) -> anyhow::Result<()> {
    let args = &get.client;
    let mut connection = connect(args).await?;
    for pattern in &get.paths {
        let metadata = list_metadata(&mut connection, pattern).await?;
        if get.target {
            let actuator = entry_type_code(tomoe_vss::EntryType::Actuator);
            if !metadata.iter().any(|m| m.entry_type == actuator) {
                bail!("\"{pattern}\" selects no actuator: only actuators have a target value");
            }
            let request = v1::GetRequest {
                entries: vec![v1::EntryRequest {
                    path: pattern.clone(),
                    view: v1::View::TargetValue as i32,
                    fields: vec![v1::Field::ActuatorTarget as i32],
                }],
            };
            let response = connection
                .v1
                .get(request)
                .await
                .map_err(refused)?
                .into_inner();
            if let Some(error) = response.errors.first().and_then(|e| e.error.as_ref()) {
                bail!(
                    "broker refused the request ({} {}): {}",
                    error.code,
                    error.reason,
                    error.message
                );
            }
            for entry in response.entries {
                let unit = metadata
                    .iter()
                    .find(|m| m.path == entry.path)
                    .map(|m| m.unit.as_str())
                    .unwrap_or("");
                let target = entry.actuator_target.as_ref();
                let value = target.and_then(|dp| dp.value.clone()).map(value_from_v1);
                print_value(
                    args.json,
                    &entry.path,
                    value,
                    unit,
                    target.and_then(|dp| dp.timestamp.as_ref()),
                )?;
            }
            continue;
        }
        let signal_ids = metadata.iter().map(|m| signal_by_id(m.id)).collect();
        let response = connection
            .v2
            .get_values(v2::GetValuesRequest { signal_ids })
            .await
            .map_err(refused)?;
        for (meta, datapoint) in metadata.iter().zip(response.into_inner().data_points) {
            let value = datapoint.value.clone().and_then(value_from_v2);
            print_value(
                args.json,
                &meta.path,
                value,
                &meta.unit,
                datapoint.timestamp.as_ref(),
            )?;
        }
    }
    Ok(())
}

/// Looks up the leaf's datatype and parses `text` as a value of it.
async fn typed_value(connection: &mut Connection, path: &str, text: &str) -> anyhow::Result<Value> {
    let metadata = list_metadata(connection, path).await?;
    let matches = metadata.len();
    let leaf = find_signal(metadata, path)
        .ok_or_else(|| anyhow!("\"{path}\" is not a signal (it matches {matches} signals)"))?;
    let datatype = datatype_from_code(leaf.data_type)
        .ok_or_else(|| anyhow!("\"{path}\" has an unknown datatype {}", leaf.data_type))?;
    Value::parse(text, datatype).map_err(|e| anyhow!("invalid value for \"{path}\": {e}"))
}

pub async fn set(set: SetArgs) -> anyhow::Result<()> {
    let args = &set.client;
    let mut connection = connect(args).await?;
    let value = typed_value(&mut connection, &set.path, &set.value).await?;
    if set.target {
        let request = v1::SetRequest {
            updates: vec![v1::EntryUpdate {
                entry: Some(v1::DataEntry {
                    path: set.path.clone(),
                    value: None,
                    actuator_target: Some(datapoint_to_v1(Some(&value), None)),
                    metadata: None,
                }),
                fields: vec![v1::Field::ActuatorTarget as i32],
            }],
        };
        let response = connection
            .v1
            .set(request)
            .await
            .map_err(refused)?
            .into_inner();
        if let Some(error) = response.errors.first().and_then(|e| e.error.as_ref()) {
            bail!(
                "broker refused the request ({} {}): {}",
                error.code,
                error.reason,
                error.message
            );
        }
    } else {
        let request = v2::PublishValueRequest {
            signal_id: Some(signal_by_path(&set.path)),
            data_point: Some(datapoint_to_v2(Some(&value), None)),
        };
        connection
            .v2
            .publish_value(request)
            .await
            .map_err(refused)?;
    }
    if args.json {
        out!(
            "{}",
            json!({"path": set.path, "value": value.to_json(), "target": set.target})
        )?;
    }
    Ok(())
}

pub async fn actuate(actuate: ActuateArgs) -> anyhow::Result<()> {
    let args = &actuate.client;
    let mut connection = connect(args).await?;
    let value = typed_value(&mut connection, &actuate.path, &actuate.value).await?;
    let request = v2::ActuateRequest {
        signal_id: Some(signal_by_path(&actuate.path)),
        value: Some(tomoe_kuksa::value_to_v2(&value)),
    };
    connection.v2.actuate(request).await.map_err(refused)?;
    if args.json {
        out!(
            "{}",
            json!({"path": actuate.path, "value": value.to_json(), "actuated": true})
        )?;
    }
    Ok(())
}

pub async fn subscribe(subscribe: SubscribeArgs) -> anyhow::Result<()> {
    let args = &subscribe.client;
    let mut connection = connect(args).await?;
    let mut units = std::collections::HashMap::new();
    for pattern in &subscribe.paths {
        for meta in list_metadata(&mut connection, pattern).await? {
            units.insert(meta.path.clone(), meta.unit.clone());
        }
    }
    let request = v2::SubscribeRequest {
        signal_paths: subscribe.paths.clone(),
        buffer_size: 0,
        filter: None,
    };
    let mut stream = connection
        .v2
        .subscribe(request)
        .await
        .map_err(refused)?
        .into_inner();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            message = stream.next() => match message {
                None => bail!("the broker closed the subscription"),
                Some(Err(status)) => return Err(refused(status)),
                Some(Ok(response)) => {
                    let mut entries: Vec<_> = response.entries.into_iter().collect();
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                    for (path, datapoint) in entries {
                        let value = datapoint.value.clone().and_then(value_from_v2);
                        let unit = units.get(&path).map(String::as_str).unwrap_or("");
                        print_value(args.json, &path, value, unit, datapoint.timestamp.as_ref())?;
                    }
                }
            }
        }
    }
}

pub async fn metadata(query: MetadataArgs) -> anyhow::Result<()> {
    let args = &query.client;
    let mut connection = connect(args).await?;
    let pattern = query.pattern.unwrap_or_else(|| "**".into());
    let mut metadata = list_metadata(&mut connection, &pattern).await?;
    metadata.sort_by(|a, b| a.path.cmp(&b.path));
    let describe = |m: &v2::Metadata| {
        let entry_type = entry_type_from_code(m.entry_type)
            .map(|t| t.as_str())
            .unwrap_or("unknown");
        let datatype = datatype_from_code(m.data_type)
            .map(|t| t.as_str())
            .unwrap_or("unknown");
        (entry_type, datatype)
    };
    if args.json {
        let items: Vec<_> = metadata
            .iter()
            .map(|m| {
                let (entry_type, datatype) = describe(m);
                let bound =
                    |v: &Option<v2::Value>| v.clone().and_then(value_from_v2).map(|v| v.to_json());
                json!({
                    "path": m.path, "id": m.id, "type": entry_type, "datatype": datatype,
                    "unit": (!m.unit.is_empty()).then_some(&m.unit),
                    "min": bound(&m.min), "max": bound(&m.max), "allowed": bound(&m.allowed_values),
                    "description": m.description,
                    "comment": (!m.comment.is_empty()).then_some(&m.comment),
                    "deprecation": (!m.deprecation.is_empty()).then_some(&m.deprecation),
                })
            })
            .collect();
        out!("{}", serde_json::to_string_pretty(&items)?)?;
        return Ok(());
    }
    for m in &metadata {
        let (entry_type, datatype) = describe(m);
        let unit = if m.unit.is_empty() {
            String::new()
        } else {
            format!(" [{}]", m.unit)
        };
        out!("{:<70} {:<9} {}{}", m.path, entry_type, datatype, unit)?;
    }
    Ok(())
}
