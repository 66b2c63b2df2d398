//! What VISS requests do with the broker and the history, whatever the transport.

use std::collections::BTreeSet;
use std::time::SystemTime;

use serde_json::{json, Map, Value as Json};
use tomoe_broker::{Datapoint, Field, Permissions};
use tomoe_vss::{EntryType, Leaf, LeafId, Value};

use crate::request::{Filter, Object, Request};
use crate::{Viss, VissError, MAX_HISTORY_SAMPLES, MAX_PATHS_PER_REQUEST};

/// The value VISS writes for a datapoint that has none (VISS 3.1 inline error).
pub const NOT_AVAILABLE: &str = "viss-inline:Data-not-available";

/// A time in RFC 3339, UTC, to the millisecond.
pub fn timestamp(time: SystemTime) -> String {
    // The datapoints of one broker batch share their time: format it once.
    thread_local! {
        static LAST: std::cell::RefCell<Option<(SystemTime, String)>> = const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((at, text)) if *at == time => text.clone(),
            _ => {
                let text = chrono::DateTime::<chrono::Utc>::from(time)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                *last = Some((time, text.clone()));
                text
            }
        }
    })
}

/// A value as VISS writes it: a string, or an array of strings.
pub fn value_json(value: &Value) -> Json {
    if value.type_name().ends_with("[]") {
        Json::Array(
            value
                .elements()
                .iter()
                .map(|element| Json::String(element.to_string()))
                .collect(),
        )
    } else {
        Json::String(value.to_string())
    }
}

/// A value written by a client (a VISS string such as `"90"` or `"true"`, or a
/// JSON number, boolean or array) as a value of `leaf`.
pub(crate) fn value_from_json(json: &Json, leaf: &Leaf) -> Result<Value, VissError> {
    fn typed(json: &Json) -> Json {
        match json {
            Json::String(s) => serde_json::from_str::<Json>(s)
                .ok()
                .filter(|parsed| !parsed.is_string() && !parsed.is_array())
                .unwrap_or_else(|| json.clone()),
            Json::Array(items) => Json::Array(items.iter().map(typed).collect()),
            other => other.clone(),
        }
    }
    let result = match json {
        Json::String(text) if !leaf.datatype.is_array() => Value::parse(text, leaf.datatype),
        _ => Value::from_json(json, leaf.datatype)
            .or_else(|_| Value::from_json(&typed(json), leaf.datatype)),
    };
    result.map_err(|reason| {
        VissError::invalid_data(format!(
            "Incorrect data type: {} is a {}: {reason}",
            leaf.path, leaf.datatype
        ))
    })
}

/// A numeric view of a value, for the range, change and curvelog filters.
pub(crate) fn numeric(value: &Value) -> Option<f64> {
    Some(match value {
        Value::Int32(v) => f64::from(*v),
        Value::Int64(v) => *v as f64,
        Value::Uint32(v) => f64::from(*v),
        Value::Uint64(v) => *v as f64,
        Value::Float(v) => f64::from(*v),
        Value::Double(v) => *v,
        Value::Bool(v) => f64::from(u8::from(*v)),
        _ => return None,
    })
}

/// One `data` entry: the path and its datapoint(s).
pub(crate) fn data_entry(path: &str, dp: Json) -> Json {
    json!({ "path": path, "dp": dp })
}

/// A datapoint object.
pub(crate) fn dp(datapoint: &Datapoint) -> Json {
    json!({
        "value": datapoint.value.as_ref().map_or_else(|| Json::String(NOT_AVAILABLE.into()), value_json),
        "ts": timestamp(datapoint.timestamp),
    })
}

/// `data` for one entry (an object) or more (an array).
pub(crate) fn data(mut entries: Vec<Json>) -> Json {
    if entries.len() == 1 {
        entries.pop().expect("one entry")
    } else {
        Json::Array(entries)
    }
}

impl Viss {
    /// The leaves a request is about: its path (a leaf, or every leaf of a
    /// branch), or, with a `paths` filter, what the filter's paths select below it.
    pub(crate) fn targets(&self, request: &Request) -> Result<Vec<LeafId>, VissError> {
        let path = request.path.as_deref().unwrap_or_default();
        let catalog = self.broker.catalog();
        let patterns: Vec<String> = match request.filters.iter().find_map(|f| match f {
            Filter::Paths(paths) => Some(paths),
            _ => None,
        }) {
            Some(paths) => paths.iter().map(|p| format!("{path}.{p}")).collect(),
            None => {
                if catalog.leaf(path).is_none() && catalog.branch(path).is_none() {
                    return Err(VissError::invalid_path(path));
                }
                vec![path.to_owned()]
            }
        };
        let mut ids = BTreeSet::new();
        for pattern in &patterns {
            match self.broker.resolve_pattern(pattern) {
                Ok(found) => ids.extend(found),
                Err(tomoe_broker::BrokerError::NotFound { .. }) if patterns.len() > 1 => {}
                Err(error) => return Err(error.into()),
            }
        }
        if ids.is_empty() {
            return Err(VissError::invalid_path(path));
        }
        if ids.len() > MAX_PATHS_PER_REQUEST {
            return Err(VissError::bad_request(format!(
                "The request selects {} signals, more than the {MAX_PATHS_PER_REQUEST} one request may; narrow it with a paths filter",
                ids.len()
            )));
        }
        Ok(ids.into_iter().collect())
    }

    /// [`Viss::get`], on a blocking thread when it reads history (a long window
    /// from the durable store takes a while), inline otherwise.
    pub(crate) async fn get_off_thread(
        &self,
        permissions: Permissions,
        request: Request,
    ) -> Result<Object, VissError> {
        if !request
            .filters
            .iter()
            .any(|f| matches!(f, Filter::History(_)))
        {
            return self.get(&permissions, &request);
        }
        let viss = self.clone();
        tokio::task::spawn_blocking(move || viss.get(&permissions, &request))
            .await
            .unwrap_or_else(|_| {
                Err(VissError::new(
                    500,
                    "internal_error",
                    "The history query failed",
                ))
            })
    }

    /// A `get`: values, history, metadata or the server capabilities; the members
    /// of the response besides `action`, `requestId` and `ts`.
    pub(crate) fn get(
        &self,
        permissions: &Permissions,
        request: &Request,
    ) -> Result<Object, VissError> {
        let mut body = Map::new();
        for filter in &request.filters {
            match filter {
                Filter::Capabilities => {
                    body.insert(
                        "metadata".into(),
                        json!({ "server_capabilities": crate::capabilities() }),
                    );
                    return Ok(body);
                }
                Filter::Metadata { depth } => {
                    body.insert(
                        "metadata".into(),
                        self.metadata(permissions, request, *depth)?,
                    );
                    return Ok(body);
                }
                Filter::Timebased(_)
                | Filter::Range(_)
                | Filter::Change { .. }
                | Filter::Curvelog { .. } => {
                    return Err(VissError::bad_request(
                        "Incorrect filter: this filter is for subscribe, not get",
                    ))
                }
                Filter::History(_) | Filter::Paths(_) => {}
            }
        }
        let ids = self.targets(request)?;
        let datapoints = self.broker.get(permissions, &ids, Field::Current)?;
        if let Some(period) = request.filters.iter().find_map(|f| match f {
            Filter::History(period) => Some(*period),
            _ => None,
        }) {
            let history = self
                .history
                .as_ref()
                .ok_or_else(|| VissError::unavailable("History is not recorded by this server"))?;
            let now = SystemTime::now();
            let from = now.checked_sub(period).unwrap_or(SystemTime::UNIX_EPOCH);
            let mut total = 0;
            let mut entries = Vec::new();
            for id in &ids {
                let path = &self.broker.leaf(*id)?.path;
                let left = MAX_HISTORY_SAMPLES - total;
                let samples = history.history_limited(path, from, now, left)?;
                total += samples.len();
                let dps: Vec<Json> = samples
                    .iter()
                    .map(|(t, v)| json!({ "value": value_json(v), "ts": timestamp(*t) }))
                    .collect();
                entries.push(data_entry(path, Json::Array(dps)));
            }
            body.insert("data".into(), data(entries));
            return Ok(body);
        }
        if ids.len() == 1 && datapoints[0].value.is_none() {
            return Err(VissError::unavailable(format!(
                "Data temporarily unaccessible: {} has no value yet",
                self.broker.leaf(ids[0])?.path
            )));
        }
        let mut entries = Vec::with_capacity(ids.len());
        for (id, datapoint) in ids.iter().zip(&datapoints) {
            entries.push(data_entry(&self.broker.leaf(*id)?.path, dp(datapoint)));
        }
        body.insert("data".into(), data(entries));
        Ok(body)
    }

    /// A `set`: the target of an actuator, through the broker's actuation path.
    pub(crate) async fn set(
        &self,
        permissions: &Permissions,
        request: &Request,
    ) -> Result<Object, VissError> {
        let path = request.path.as_deref().unwrap_or_default();
        if !request.filters.is_empty() {
            return Err(VissError::bad_request(
                "Incorrect filter: set takes no filter",
            ));
        }
        let catalog = self.broker.catalog();
        let Some(leaf) = catalog.leaf(path) else {
            if catalog.branch(path).is_some() {
                return Err(VissError::invalid_data(
                    "Requested action on a branch is not supported",
                ));
            }
            return Err(VissError::invalid_path(path));
        };
        match leaf.entry_type {
            EntryType::Actuator => {}
            EntryType::Sensor => {
                return Err(VissError::invalid_data(format!(
                    "Update of a sensor is not supported: {path} is a sensor"
                )))
            }
            _ => {
                return Err(VissError::invalid_data(format!(
                    "Update of an attribute is not supported: {path} is an attribute"
                )))
            }
        }
        let value = value_from_json(request.value.as_ref().unwrap_or(&Json::Null), leaf)?;
        self.broker
            .actuate_confirmed(
                permissions,
                &[(leaf.id, value)],
                tomoe_broker::CONFIRMATION_TIMEOUT,
            )
            .await?;
        Ok(Map::new())
    }

    /// The VSS metadata of the subtree at the request's path, `depth` levels deep
    /// (0: all), in the VSS JSON form, with only the leaves the caller may read.
    fn metadata(
        &self,
        permissions: &Permissions,
        request: &Request,
        depth: usize,
    ) -> Result<Json, VissError> {
        let path = request.path.as_deref().unwrap_or_default();
        let catalog = self.broker.catalog();
        if catalog.leaf(path).is_none() && catalog.branch(path).is_none() {
            return Err(VissError::invalid_path(path));
        }
        let base_depth = path.split('.').count();
        let prefix = format!("{path}.");
        let mut root = Map::new();
        let mut readable = 0usize;
        let mut denied: Option<VissError> = None;
        for leaf in catalog.leaves() {
            if leaf.path != path && !leaf.path.starts_with(&prefix) {
                continue;
            }
            if let Err(error) = self.broker.get(permissions, &[leaf.id], Field::Current) {
                denied.get_or_insert(error.into());
                continue;
            }
            readable += 1;
            let segments: Vec<&str> = leaf.path.split('.').collect();
            let shown = if depth == 0 {
                segments.len()
            } else {
                segments.len().min(base_depth + depth)
            };
            // The path's own ancestors are not shown: the tree starts at its last segment.
            insert(
                &mut root,
                catalog,
                &segments,
                base_depth - 1,
                shown,
                (shown == segments.len()).then_some(leaf),
            );
        }
        if readable == 0 {
            return Err(denied.unwrap_or_else(|| VissError::invalid_path(path)));
        }
        Ok(Json::Object(root))
    }
}

/// Inserts the node at `segments[..shown]` below `parent`, whose segments start
/// at `from`; the node is `leaf`'s entry when it is the leaf itself.
fn insert(
    parent: &mut Map<String, Json>,
    catalog: &tomoe_vss::Catalog,
    segments: &[&str],
    from: usize,
    shown: usize,
    leaf: Option<&Leaf>,
) {
    let name = segments[from];
    if from + 1 == shown {
        if let Some(leaf) = leaf {
            parent.insert(name.to_owned(), leaf_metadata(leaf));
            return;
        }
    }
    let node = parent.entry(name.to_owned()).or_insert_with(|| {
        let path = segments[..=from].join(".");
        let description = catalog
            .branch(&path)
            .map(|b| b.description.clone())
            .unwrap_or_default();
        json!({ "type": "branch", "description": description, "children": {} })
    });
    if from + 1 < shown {
        if let Some(children) = node.get_mut("children").and_then(Json::as_object_mut) {
            insert(children, catalog, segments, from + 1, shown, leaf);
        }
    }
}

fn leaf_metadata(leaf: &Leaf) -> Json {
    let mut node = Map::new();
    node.insert("type".into(), json!(leaf.entry_type.as_str()));
    node.insert("datatype".into(), json!(leaf.datatype.as_str()));
    node.insert("description".into(), json!(leaf.description));
    if let Some(unit) = &leaf.unit {
        node.insert("unit".into(), json!(unit));
    }
    if let Some(min) = &leaf.min {
        node.insert("min".into(), min.to_json());
    }
    if let Some(max) = &leaf.max {
        node.insert("max".into(), max.to_json());
    }
    if !leaf.allowed.is_empty() {
        node.insert(
            "allowed".into(),
            Json::Array(leaf.allowed.iter().map(Value::to_json).collect()),
        );
    }
    if let Some(default) = &leaf.default {
        node.insert("default".into(), default.to_json());
    }
    if let Some(comment) = &leaf.comment {
        node.insert("comment".into(), json!(comment));
    }
    if let Some(deprecation) = &leaf.deprecation {
        node.insert("deprecation".into(), json!(deprecation));
    }
    Json::Object(node)
}
