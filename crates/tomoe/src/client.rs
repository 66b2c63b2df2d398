//! Client commands: talk to a running broker over the KUKSA gRPC API.

use std::time::SystemTime;

use anyhow::Context;
use futures::StreamExt;
use kuksa_rust_sdk::v2_proto as v2;
use serde_json::json;
use tomoe_kuksa::{
    datatype_from_code, entry_type_from_code, value_from_v2, Connection, Connector, Reading,
};

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

fn timestamp_text(timestamp: Option<SystemTime>) -> String {
    timestamp
        .map(|t| humantime::format_rfc3339_millis(t).to_string())
        .unwrap_or_default()
}

fn print_reading(json_output: bool, reading: Reading) -> std::io::Result<()> {
    if json_output {
        let value = reading
            .value
            .as_ref()
            .map(tomoe_vss::Value::to_json)
            .unwrap_or(serde_json::Value::Null);
        let timestamp = timestamp_text(reading.timestamp);
        out!(
            "{}",
            json!({"path": reading.path, "value": value, "timestamp": timestamp})
        )
    } else {
        let (text, unit) = match reading.value {
            Some(value) if !reading.unit.is_empty() => {
                (value.to_string(), format!(" {}", reading.unit))
            }
            Some(value) => (value.to_string(), String::new()),
            None => ("(no value)".to_string(), String::new()),
        };
        out!("{} = {text}{unit}", reading.path)
    }
}

pub async fn get(get: GetArgs) -> anyhow::Result<()> {
    let mut connection = connect(&get.client).await?;
    for pattern in &get.paths {
        let readings = if get.target {
            connection.targets(pattern).await?
        } else {
            connection.current(pattern).await?
        };
        for reading in readings {
            print_reading(get.client.json, reading)?;
        }
    }
    Ok(())
}

pub async fn set(set: SetArgs) -> anyhow::Result<()> {
    let mut connection = connect(&set.client).await?;
    let value = connection.parse_value(&set.path, &set.value).await?;
    if set.target {
        connection.set_target(&set.path, &value).await?;
    } else {
        connection.publish(&set.path, &value).await?;
    }
    if set.client.json {
        out!(
            "{}",
            json!({"path": set.path, "value": value.to_json(), "target": set.target})
        )?;
    }
    Ok(())
}

pub async fn actuate(actuate: ActuateArgs) -> anyhow::Result<()> {
    let mut connection = connect(&actuate.client).await?;
    let value = connection
        .parse_value(&actuate.path, &actuate.value)
        .await?;
    connection.actuate(&actuate.path, &value).await?;
    if actuate.client.json {
        out!(
            "{}",
            json!({"path": actuate.path, "value": value.to_json(), "actuated": true})
        )?;
    }
    Ok(())
}

pub async fn subscribe(subscribe: SubscribeArgs) -> anyhow::Result<()> {
    let mut connection = connect(&subscribe.client).await?;
    let updates = connection.subscribe(&subscribe.paths).await?;
    let mut updates = std::pin::pin!(updates);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            update = updates.next() => match update {
                None => return Ok(()),
                Some(update) => {
                    for reading in update? {
                        print_reading(subscribe.client.json, reading)?;
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
    let mut metadata = connection.metadata(&pattern).await?;
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
