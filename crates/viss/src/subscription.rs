//! Subscriptions: one task per subscription, reading a broker subscription and
//! writing VISS `subscription` events through the connection's bounded queue.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value as Json};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tomoe_broker::{Change, Datapoint, Field, Permissions, SubscriptionEvent};
use tomoe_vss::{LeafId, Value};

use crate::ops::{data, data_entry, dp, numeric, timestamp, value_json};
use crate::request::{Boundary, Filter, Op};
use crate::{Viss, VissError, MAX_CURVELOG_WINDOW, SUBSCRIPTION_QUEUE};

/// How a subscription decides what to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// Every change.
    Every,
    /// The latest values, every period.
    Timebased(Duration),
    /// Changes whose value lies in the range.
    Range(Vec<Boundary>),
    /// Changes that differ from the last value sent as the comparison says.
    Change { op: Op, diff: f64 },
    /// A curve-logging reduction of the values, sent when `bufsize` points are kept.
    Curvelog { maxerr: f64, bufsize: usize },
}

impl Kind {
    pub(crate) fn from_filters(filters: &[Filter]) -> Result<Kind, VissError> {
        let mut kind = Kind::Every;
        for filter in filters {
            kind = match filter {
                Filter::Paths(_) => continue,
                Filter::Timebased(period) => Kind::Timebased(*period),
                Filter::Range(boundaries) => Kind::Range(boundaries.clone()),
                Filter::Change { op, diff } => Kind::Change {
                    op: *op,
                    diff: *diff,
                },
                Filter::Curvelog { maxerr, bufsize } => Kind::Curvelog {
                    maxerr: *maxerr,
                    bufsize: *bufsize,
                },
                Filter::History(_) | Filter::Metadata { .. } | Filter::Capabilities => {
                    return Err(VissError::bad_request(
                        "Incorrect filter: this filter is for get, not subscribe",
                    ))
                }
            };
        }
        Ok(kind)
    }
}

/// A `subscription` event.
pub(crate) fn event(id: &str, body: (&str, Json)) -> String {
    json!({
        "action": "subscription",
        "subscriptionId": id,
        body.0: body.1,
        "ts": timestamp(SystemTime::now()),
    })
    .to_string()
}

/// Subscribes to `ids` for the caller and starts the task that sends the events
/// of subscription `id` to `out`.
pub(crate) fn start(
    viss: &Viss,
    permissions: Permissions,
    ids: Vec<LeafId>,
    kind: Kind,
    id: String,
    out: mpsc::Sender<String>,
) -> Result<impl std::future::Future<Output = ()> + Send + 'static, VissError> {
    if matches!(
        kind,
        Kind::Range(_) | Kind::Change { .. } | Kind::Curvelog { .. }
    ) && !matches!(
        kind,
        Kind::Change {
            op: Op::Ne | Op::Eq,
            ..
        }
    ) {
        for leaf in &ids {
            let leaf = viss.broker.leaf(*leaf)?;
            if !leaf.datatype.is_numeric() || leaf.datatype.is_array() {
                return Err(VissError::bad_request(format!(
                    "Incorrect filter: {} is a {}, this filter needs a number",
                    leaf.path, leaf.datatype
                )));
            }
        }
    }
    let subscription =
        viss.broker
            .subscribe(&permissions, &ids, Field::Current, SUBSCRIPTION_QUEUE, true)?;
    let paths: HashMap<LeafId, String> = ids
        .iter()
        .map(|leaf| Ok((*leaf, viss.broker.leaf(*leaf)?.path.clone())))
        .collect::<Result<_, VissError>>()?;
    let expires = permissions.expires_at();
    Ok(async move {
        let task = Task {
            id,
            out,
            paths,
            kind,
        };
        task.run(subscription, expires).await;
    })
}

struct Task {
    id: String,
    out: mpsc::Sender<String>,
    paths: HashMap<LeafId, String>,
    kind: Kind,
}

impl Task {
    async fn send(&self, body: (&str, Json)) -> bool {
        self.out.send(event(&self.id, body)).await.is_ok()
    }

    async fn run(self, mut subscription: tomoe_broker::Subscription, expires: Option<SystemTime>) {
        let expiry = async {
            match expires.and_then(|at| at.duration_since(SystemTime::now()).ok()) {
                Some(left) => tokio::time::sleep(left).await,
                None if expires.is_some() => {}
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expiry);
        let period = match self.kind {
            Kind::Timebased(period) => period,
            _ => Duration::from_secs(3600),
        };
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut latest: HashMap<LeafId, Datapoint> = HashMap::new();
        let mut last: HashMap<LeafId, Value> = HashMap::new();
        let mut curves: HashMap<LeafId, CurveLog> = HashMap::new();
        let mut initial = true;
        loop {
            tokio::select! {
                () = &mut expiry => {
                    let error = VissError::new(401, "expired_token", "Access token has expired");
                    self.send(("error", error.to_json())).await;
                    return;
                }
                _ = ticks.tick(), if matches!(self.kind, Kind::Timebased(_)) && !initial => {
                    let mut ids: Vec<&LeafId> = latest.keys().collect();
                    ids.sort();
                    let entries: Vec<Json> = ids.into_iter().map(|id| data_entry(&self.paths[id], dp(&latest[id]))).collect();
                    if !entries.is_empty() && !self.send(("data", data(entries))).await {
                        return;
                    }
                }
                event = subscription.next() => {
                    let changes = match event {
                        Some(SubscriptionEvent::Changes(changes)) => changes,
                        Some(SubscriptionEvent::Lagged { dropped }) => {
                            let error = VissError::unavailable_service(format!(
                                "The subscription fell behind the vehicle ({dropped} updates dropped) and ended; subscribe again"
                            ));
                            self.send(("error", error.to_json())).await;
                            return;
                        }
                        None => return,
                    };
                    let entries = self.select(&changes, initial, &mut latest, &mut last, &mut curves);
                    if initial {
                        initial = false;
                        ticks.reset_immediately();
                    }
                    if !entries.is_empty() && !self.send(("data", data(entries))).await {
                        return;
                    }
                }
            }
        }
    }

    /// The entries a batch of changes yields under the subscription's filter.
    fn select(
        &self,
        changes: &[Change],
        initial: bool,
        latest: &mut HashMap<LeafId, Datapoint>,
        last: &mut HashMap<LeafId, Value>,
        curves: &mut HashMap<LeafId, CurveLog>,
    ) -> Vec<Json> {
        let mut entries = Vec::new();
        for change in changes {
            let path = &self.paths[&change.leaf];
            let datapoint = &change.datapoint;
            match &self.kind {
                Kind::Every => {
                    if datapoint.value.is_some() || !initial {
                        entries.push(data_entry(path, dp(datapoint)));
                    }
                }
                Kind::Timebased(_) => {
                    if datapoint.value.is_some() {
                        latest.insert(change.leaf, datapoint.clone());
                    }
                }
                Kind::Range(boundaries) => {
                    if let Some(v) = datapoint.value.as_ref().and_then(numeric) {
                        if in_range(boundaries, v) {
                            entries.push(data_entry(path, dp(datapoint)));
                        }
                    }
                }
                Kind::Change { op, diff } => {
                    let Some(value) = &datapoint.value else {
                        continue;
                    };
                    let send = match last.get(&change.leaf) {
                        None => !initial,
                        Some(previous) => changed(previous, value, *op, *diff),
                    };
                    if initial || send {
                        last.insert(change.leaf, value.clone());
                    }
                    if send {
                        entries.push(data_entry(path, dp(datapoint)));
                    }
                }
                Kind::Curvelog { maxerr, bufsize } => {
                    let Some(v) = datapoint.value.as_ref().and_then(numeric) else {
                        continue;
                    };
                    let curve = curves
                        .entry(change.leaf)
                        .or_insert_with(|| CurveLog::new(*maxerr));
                    curve.push(datapoint.timestamp, v, datapoint.value.clone());
                    if curve.saved.len() >= *bufsize {
                        let dps: Vec<Json> = curve
                            .saved
                            .drain(..)
                            .map(|(t, _, value)| json!({ "value": value_json(&value), "ts": timestamp(t) }))
                            .collect();
                        entries.push(data_entry(path, Json::Array(dps)));
                    }
                }
            }
        }
        entries
    }
}

/// Whether `v` lies in the range the boundaries describe (two boundaries are
/// combined by AND unless the first says `combination-op: OR`).
pub(crate) fn in_range(boundaries: &[Boundary], v: f64) -> bool {
    match boundaries {
        [one] => one.op.holds(v, one.value),
        [first, second] => {
            let (a, b) = (
                first.op.holds(v, first.value),
                second.op.holds(v, second.value),
            );
            if first.or_next {
                a || b
            } else {
                a && b
            }
        }
        _ => false,
    }
}

/// Whether `value` differs from `previous` as the `change` filter asks: the
/// comparison is between `value - previous` and `diff` (a non-numeric value
/// only knows `eq` and `ne`, and ignores `diff`).
pub(crate) fn changed(previous: &Value, value: &Value, op: Op, diff: f64) -> bool {
    match (numeric(previous), numeric(value)) {
        (Some(before), Some(now)) => op.holds(now - before, diff),
        _ => match op {
            Op::Ne => previous != value,
            Op::Eq => previous == value,
            _ => false,
        },
    }
}

/// Curve logging: keeps the points where the curve bends by more than `maxerr`,
/// so that drawing straight lines between the kept points reproduces every
/// value within `maxerr` (a sliding-window piecewise-linear reduction).
pub(crate) struct CurveLog {
    maxerr: f64,
    /// The last kept point: where the current line starts.
    anchor: Option<(SystemTime, f64)>,
    /// Points since the anchor, all within `maxerr` of the line from the anchor
    /// to the newest of them.
    window: Vec<(SystemTime, f64, Option<Value>)>,
    /// Kept points not sent yet.
    pub(crate) saved: Vec<(SystemTime, f64, Value)>,
}

impl CurveLog {
    pub(crate) fn new(maxerr: f64) -> CurveLog {
        CurveLog {
            maxerr,
            anchor: None,
            window: Vec::new(),
            saved: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, t: SystemTime, v: f64, value: Option<Value>) {
        let value = value.unwrap_or(Value::Double(v));
        let Some(anchor) = self.anchor else {
            self.anchor = Some((t, v));
            self.saved.push((t, v, value));
            return;
        };
        let fits = self.window.len() < MAX_CURVELOG_WINDOW
            && self
                .window
                .iter()
                .all(|(tw, vw, _)| (line(anchor, (t, v), *tw) - vw).abs() <= self.maxerr);
        if !fits {
            if let Some((tp, vp, previous)) = self.window.pop() {
                self.saved
                    .push((tp, vp, previous.unwrap_or(Value::Double(vp))));
                self.anchor = Some((tp, vp));
                self.window.clear();
            }
        }
        self.window.push((t, v, Some(value)));
    }
}

/// The value at `t` of the line through `a` and `b`.
fn line(a: (SystemTime, f64), b: (SystemTime, f64), t: SystemTime) -> f64 {
    let seconds = |x: SystemTime| match x.duration_since(a.0) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    };
    let span = seconds(b.0);
    if span <= 0.0 {
        return b.1;
    }
    a.1 + (b.1 - a.1) * seconds(t) / span
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
    }

    #[test]
    fn a_straight_line_keeps_its_ends_and_a_corner_is_kept() {
        let mut curve = CurveLog::new(0.5);
        // Up 1 per second for 10 s, then flat for 10 s.
        for s in 0..=20u64 {
            let v = s.min(10) as f64;
            curve.push(at(s * 1000), v, None);
        }
        curve.push(at(21_000), 30.0, None);
        let kept: Vec<(u64, f64)> = curve
            .saved
            .iter()
            .map(|(t, v, _)| {
                (
                    t.duration_since(at(0)).unwrap().as_millis() as u64 / 1000,
                    *v,
                )
            })
            .collect();
        assert_eq!(kept, vec![(0, 0.0), (10, 10.0), (20, 10.0)]);
    }

    #[test]
    fn noise_within_maxerr_is_dropped() {
        let mut curve = CurveLog::new(1.0);
        for s in 0..100u64 {
            let v = 50.0 + if s % 2 == 0 { 0.4 } else { -0.4 };
            curve.push(at(s * 100), v, None);
        }
        assert_eq!(curve.saved.len(), 1);
    }

    #[test]
    fn ranges_and_changes() {
        let gt = |value, or_next| Boundary {
            op: Op::Gt,
            value,
            or_next,
        };
        let lt = |value, or_next| Boundary {
            op: Op::Lt,
            value,
            or_next,
        };
        assert!(in_range(&[gt(49.0, false), lt(51.0, false)], 50.0));
        assert!(!in_range(&[gt(49.0, false), lt(51.0, false)], 52.0));
        assert!(in_range(&[lt(50.0, true), gt(55.0, false)], 56.0));
        assert!(!in_range(&[lt(50.0, true), gt(55.0, false)], 52.0));
        assert!(changed(
            &Value::Float(10.0),
            &Value::Float(21.0),
            Op::Gt,
            10.0
        ));
        assert!(!changed(
            &Value::Float(10.0),
            &Value::Float(15.0),
            Op::Gt,
            10.0
        ));
        assert!(changed(
            &Value::String("a".into()),
            &Value::String("b".into()),
            Op::Ne,
            0.0
        ));
        assert!(!changed(
            &Value::Bool(true),
            &Value::Bool(true),
            Op::Ne,
            0.0
        ));
    }
}
