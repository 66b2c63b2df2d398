//! Parsing VISS requests: the message, its filters (VISS v2's `type` and v3's
//! `variant`, one object or an array), ISO 8601 durations.

use std::time::Duration;

use serde_json::{Map, Value as Json};

use crate::{VissError, MAX_CURVELOG_BUFSIZE, MAX_FILTERS, MAX_PATHS_PER_REQUEST};

/// The shortest `timebased` period accepted.
pub const MIN_PERIOD: Duration = Duration::from_millis(10);

/// What a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Get,
    Set,
    Subscribe,
    Unsubscribe,
}

/// A comparison of the `range` and `change` filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn parse(text: &str) -> Result<Op, VissError> {
        Ok(match text {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "gte" | "ge" => Op::Ge,
            "lt" => Op::Lt,
            "lte" | "le" => Op::Le,
            other => {
                return Err(VissError::bad_request(format!(
                    "Missing or invalid filter: unknown logic-op \"{other}\" (eq, ne, gt, gte, lt, lte)"
                )))
            }
        })
    }

    pub(crate) fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Eq => left == right,
            Op::Ne => left != right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
            Op::Lt => left < right,
            Op::Le => left <= right,
        }
    }
}

/// One boundary of a `range` filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Boundary {
    pub(crate) op: Op,
    pub(crate) value: f64,
    /// Combined with the next boundary by OR (the default is AND).
    pub(crate) or_next: bool,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    Paths(Vec<String>),
    Timebased(Duration),
    Range(Vec<Boundary>),
    Change { op: Op, diff: f64 },
    Curvelog { maxerr: f64, bufsize: usize },
    History(Duration),
    Metadata { depth: usize },
    Capabilities,
}

/// A parsed request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) action: Action,
    pub(crate) path: Option<String>,
    pub(crate) filters: Vec<Filter>,
    pub(crate) authorization: Option<String>,
    pub(crate) value: Option<Json>,
    pub(crate) subscription_id: Option<String>,
}

/// The `action` and `requestId` of a message, for the error response of a
/// message that could not be parsed otherwise.
pub(crate) fn envelope(message: &Json) -> (Option<String>, Option<Json>) {
    let action = message
        .get("action")
        .and_then(Json::as_str)
        .map(str::to_owned);
    (action, message.get("requestId").cloned())
}

/// A path as VISS writes it (`Vehicle/Speed` or `Vehicle.Speed`), in dots.
pub(crate) fn normalize_path(path: &str) -> String {
    path.trim_matches(|c| c == '/' || c == '.')
        .replace('/', ".")
}

pub(crate) fn parse(message: &Json) -> Result<Request, VissError> {
    let object = message
        .as_object()
        .ok_or_else(|| VissError::bad_request("The request is not a JSON object"))?;
    let action = match object.get("action").and_then(Json::as_str) {
        Some("get") => Action::Get,
        Some("set") => Action::Set,
        Some("subscribe") => Action::Subscribe,
        Some("unsubscribe") => Action::Unsubscribe,
        _ => {
            return Err(VissError::bad_request(
                "Missing or invalid action: get, set, subscribe or unsubscribe",
            ))
        }
    };
    let path = match object.get("path") {
        None => None,
        Some(Json::String(path)) if !normalize_path(path).is_empty() => Some(normalize_path(path)),
        Some(_) => return Err(VissError::bad_request("Missing or invalid path")),
    };
    if path.is_none() && action != Action::Unsubscribe {
        return Err(VissError::bad_request("Missing or invalid path"));
    }
    let filters = match object.get("filter") {
        None => Vec::new(),
        Some(filter) => parse_filters(filter)?,
    };
    let authorization = match object.get("authorization") {
        None => None,
        Some(Json::String(token)) => Some(token.clone()),
        Some(_) => {
            return Err(VissError::bad_request(
                "Invalid authorization: a token string",
            ))
        }
    };
    let subscription_id = match object.get("subscriptionId") {
        None => None,
        Some(Json::String(id)) => Some(id.clone()),
        Some(Json::Number(id)) => Some(id.to_string()),
        Some(_) => return Err(VissError::bad_request("Invalid subscriptionId")),
    };
    if action == Action::Unsubscribe && subscription_id.is_none() {
        return Err(VissError::bad_request("Missing subscriptionId"));
    }
    let value = object.get("value").cloned();
    if action == Action::Set && value.is_none() {
        return Err(VissError::bad_request("Missing or invalid value"));
    }
    Ok(Request {
        action,
        path,
        filters,
        authorization,
        value,
        subscription_id,
    })
}

/// Parses a filter: one object or an array of them, each with `variant` (v3)
/// or `type` (v2) and `parameter`.
pub(crate) fn parse_filters(filter: &Json) -> Result<Vec<Filter>, VissError> {
    let items: Vec<&Json> = match filter {
        Json::Array(items) => items.iter().collect(),
        Json::Object(_) => vec![filter],
        _ => return Err(bad_filter("a filter is an object or an array of objects")),
    };
    if items.is_empty() || items.len() > MAX_FILTERS {
        return Err(bad_filter(&format!(
            "between 1 and {MAX_FILTERS} filters per request"
        )));
    }
    let filters = items
        .into_iter()
        .map(parse_filter)
        .collect::<Result<Vec<Filter>, VissError>>()?;
    let non_paths = filters
        .iter()
        .filter(|f| !matches!(f, Filter::Paths(_)))
        .count();
    let paths = filters.len() - non_paths;
    if paths > 1 || non_paths > 1 {
        return Err(bad_filter(
            "at most one paths filter and one other filter may be combined",
        ));
    }
    Ok(filters)
}

fn bad_filter(why: &str) -> VissError {
    VissError::bad_request(format!("Missing or invalid filter: {why}"))
}

fn parse_filter(item: &Json) -> Result<Filter, VissError> {
    let object = item
        .as_object()
        .ok_or_else(|| bad_filter("each filter is an object"))?;
    let variant = object
        .get("variant")
        .or_else(|| object.get("type"))
        .and_then(Json::as_str)
        .ok_or_else(|| bad_filter("a filter needs a variant (or type)"))?;
    let parameter = object.get("parameter").unwrap_or(&Json::Null);
    match variant {
        "paths" => {
            let paths: Vec<String> = match parameter {
                Json::String(path) => vec![path.clone()],
                Json::Array(items) => items
                    .iter()
                    .map(|p| p.as_str().map(str::to_owned))
                    .collect::<Option<Vec<String>>>()
                    .ok_or_else(|| bad_filter("paths are strings"))?,
                _ => return Err(bad_filter("paths: a path or an array of paths")),
            };
            if paths.is_empty() || paths.len() > MAX_PATHS_PER_REQUEST {
                return Err(bad_filter(&format!(
                    "paths: between 1 and {MAX_PATHS_PER_REQUEST} paths"
                )));
            }
            Ok(Filter::Paths(
                paths.iter().map(|p| normalize_path(p)).collect(),
            ))
        }
        "timebased" => {
            let period = number(field(parameter, "period")?, "period")?;
            if !(period >= MIN_PERIOD.as_millis() as f64 && period <= 86_400_000.0) {
                return Err(bad_filter(&format!(
                    "timebased: period is in milliseconds, from {} to 86400000",
                    MIN_PERIOD.as_millis()
                )));
            }
            Ok(Filter::Timebased(Duration::from_millis(period as u64)))
        }
        "range" => {
            let items: Vec<&Json> = match parameter {
                Json::Array(items) => items.iter().collect(),
                Json::Object(_) => vec![parameter],
                _ => return Err(bad_filter("range: a boundary or an array of boundaries")),
            };
            if items.is_empty() || items.len() > 2 {
                return Err(bad_filter("range: one or two boundaries"));
            }
            let mut boundaries = Vec::new();
            for item in items {
                let op = Op::parse(text(field(item, "logic-op")?, "logic-op")?)?;
                let value = number(field(item, "boundary")?, "boundary")?;
                let or_next = match item.get("combination-op") {
                    None => false,
                    Some(op) => match text(op, "combination-op")? {
                        "OR" | "or" => true,
                        "AND" | "and" => false,
                        _ => return Err(bad_filter("range: combination-op is AND or OR")),
                    },
                };
                boundaries.push(Boundary { op, value, or_next });
            }
            Ok(Filter::Range(boundaries))
        }
        "change" => {
            let op = Op::parse(text(field(parameter, "logic-op")?, "logic-op")?)?;
            let diff = number(field(parameter, "diff")?, "diff")?;
            Ok(Filter::Change { op, diff })
        }
        "curvelog" => {
            let maxerr = number(field(parameter, "maxerr")?, "maxerr")?;
            let bufsize = number(field(parameter, "bufsize")?, "bufsize")?;
            if maxerr < 0.0 || !(2.0..=MAX_CURVELOG_BUFSIZE as f64).contains(&bufsize) {
                return Err(bad_filter(&format!(
                    "curvelog: maxerr is at least 0 and bufsize from 2 to {MAX_CURVELOG_BUFSIZE}"
                )));
            }
            Ok(Filter::Curvelog {
                maxerr,
                bufsize: bufsize as usize,
            })
        }
        "history" => {
            let period = text(parameter, "history")?;
            Ok(Filter::History(parse_duration(period).ok_or_else(
                || {
                    bad_filter(&format!(
                        "history: \"{period}\" is not an ISO 8601 duration such as PT1H or P1DT12H"
                    ))
                },
            )?))
        }
        "metadata" | "static-metadata" => {
            let depth = match parameter {
                Json::Null => 0,
                other => number(other, "depth").and_then(|d| {
                    (d >= 0.0 && d.fract() == 0.0)
                        .then_some(d as usize)
                        .ok_or_else(|| bad_filter("metadata: the depth is a whole number"))
                })?,
            };
            Ok(Filter::Metadata { depth })
        }
        "dynamic-metadata" => {
            let wants = match parameter {
                Json::String(name) => name == "server_capabilities",
                Json::Array(names) => names.iter().any(|n| n == "server_capabilities"),
                _ => false,
            };
            if wants {
                Ok(Filter::Capabilities)
            } else {
                Err(bad_filter("dynamic-metadata: only server_capabilities"))
            }
        }
        other => Err(bad_filter(&format!("unknown variant \"{other}\""))),
    }
}

fn field<'a>(parameter: &'a Json, name: &str) -> Result<&'a Json, VissError> {
    parameter
        .get(name)
        .ok_or_else(|| bad_filter(&format!("the parameter needs \"{name}\"")))
}

fn text<'a>(value: &'a Json, name: &str) -> Result<&'a str, VissError> {
    value
        .as_str()
        .ok_or_else(|| bad_filter(&format!("{name} is a string")))
}

/// A number given as a JSON number or a string, as VISS writes them.
fn number(value: &Json, name: &str) -> Result<f64, VissError> {
    let parsed = match value {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    parsed
        .filter(|n| n.is_finite())
        .ok_or_else(|| bad_filter(&format!("{name} is a number")))
}

/// Parses an ISO 8601 duration: `PnW`, or `PnDTnHnMnS` with any part left out
/// (seconds may have a fraction). Years and months are refused: their length
/// varies.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    if let Some(weeks) = rest.strip_suffix('W') {
        let weeks: u64 = weeks.parse().ok()?;
        return Some(Duration::from_secs(weeks.checked_mul(7 * 86_400)?));
    }
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut seconds = 0f64;
    let mut parts = |text: &str, units: &[(char, f64)]| -> Option<()> {
        let mut number = String::new();
        let mut next = 0;
        for c in text.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                number.push(if c == ',' { '.' } else { c });
                continue;
            }
            let position = units[next..].iter().position(|(u, _)| *u == c)?;
            let scale = units[next + position].1;
            next += position + 1;
            let value: f64 = number.parse().ok()?;
            seconds += value * scale;
            number.clear();
        }
        number.is_empty().then_some(())
    };
    parts(date, &[('D', 86_400.0)])?;
    if let Some(time) = time {
        parts(time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    (seconds.is_finite() && seconds < 1e12).then(|| Duration::from_secs_f64(seconds))
}

/// The members of an object, for building responses.
pub(crate) type Object = Map<String, Json>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_duration("P2DT12H"),
            Some(Duration::from_secs(2 * 86_400 + 12 * 3600))
        );
        assert_eq!(parse_duration("PT1.5S"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("PT10M"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("P1W"), Some(Duration::from_secs(604_800)));
        for bad in ["", "P", "PT", "1H", "PT1X", "P1M", "PT1S1H", "P1Y"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn v2_and_v3_filters_parse_alike() {
        let v2 = json!({"type": "timebased", "parameter": {"period": "100"}});
        let v3 = json!([{"variant": "timebased", "parameter": {"period": 100}}]);
        assert_eq!(parse_filters(&v2).unwrap(), parse_filters(&v3).unwrap());
        let combined = json!([
            {"variant": "paths", "parameter": ["Speed", "Cabin/Door/*/*/IsOpen"]},
            {"variant": "change", "parameter": {"logic-op": "gt", "diff": "10"}}
        ]);
        assert_eq!(
            parse_filters(&combined).unwrap(),
            vec![
                Filter::Paths(vec!["Speed".into(), "Cabin.Door.*.*.IsOpen".into()]),
                Filter::Change {
                    op: Op::Gt,
                    diff: 10.0
                }
            ]
        );
    }

    #[test]
    fn bad_filters_are_bad_requests() {
        for bad in [
            json!("timebased"),
            json!({"variant": "nope"}),
            json!({"variant": "timebased", "parameter": {"period": "1"}}),
            json!({"variant": "range", "parameter": {"logic-op": "between", "boundary": "1"}}),
            json!({"variant": "curvelog", "parameter": {"maxerr": "1", "bufsize": "1"}}),
            json!({"variant": "history", "parameter": "one hour"}),
            json!([{"variant": "timebased", "parameter": {"period": "100"}}, {"variant": "change", "parameter": {"logic-op": "ne", "diff": "0"}}]),
        ] {
            let error = parse_filters(&bad).unwrap_err();
            assert_eq!((error.number, error.reason), (400, "bad_request"), "{bad}");
        }
    }
}
