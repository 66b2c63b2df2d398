//! The rule engine: evaluates a profile's fault rules on every change of their
//! signals, debounces the results and reports them to the fault memory.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;
use tomoe_broker::{Broker, Field, Permissions, SubscriptionEvent};
use tomoe_vss::{Catalog, LeafId, Value};

use crate::memory::{Entity, FaultEvent, FaultMemory, FaultReport, FaultSource, TestResult};
use crate::spec::{DiagnosticsSpec, FaultRule, SpecError};

/// Where a rule's debounced test stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Not run since the start or the last clear.
    Unknown,
    /// Passing.
    Passing,
    /// The condition holds since then; fails once the debounce time has passed.
    PreFailing(Instant),
    /// Failing (reported).
    Failing,
    /// The condition is gone since then; passes once the heal time has passed.
    PrePassing(Instant),
}

struct CompiledRule {
    rule: FaultRule,
    /// Indices into the value table: the condition's inputs.
    inputs: Vec<usize>,
    /// Indices into the value table: the freeze frame (inputs first).
    freeze: Vec<usize>,
    phase: Phase,
}

/// A profile's rules, compiled against a catalog: the pure part of the engine,
/// fed with changes and the time, returning what to report.
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    /// The leaves watched, in value-table order.
    leaves: Vec<LeafId>,
    paths: Vec<String>,
    values: Vec<Option<f64>>,
    raw: Vec<Option<Value>>,
    /// Value-table index per watched leaf.
    index: HashMap<LeafId, usize>,
    /// Rules reading each value-table entry.
    readers: Vec<Vec<usize>>,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.rules.len())
            .field("signals", &self.leaves.len())
            .finish()
    }
}

/// A number out of a scalar value; `None` for text, booleans and arrays.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Int32(v) => Some(f64::from(*v)),
        Value::Int64(v) => Some(*v as f64),
        Value::Uint32(v) => Some(f64::from(*v)),
        Value::Uint64(v) => Some(*v as f64),
        Value::Float(v) => Some(f64::from(*v)),
        Value::Double(v) => Some(*v),
        _ => None,
    }
}

impl RuleSet {
    /// Compiles the rules of `spec` against `catalog` (see [`DiagnosticsSpec::check`]).
    pub fn new(spec: &DiagnosticsSpec, catalog: &Catalog) -> Result<RuleSet, SpecError> {
        spec.check(catalog, "diagnostics")?;
        let mut set = RuleSet {
            rules: Vec::new(),
            leaves: Vec::new(),
            paths: Vec::new(),
            values: Vec::new(),
            raw: Vec::new(),
            index: HashMap::new(),
            readers: Vec::new(),
        };
        for rule in &spec.rules {
            let inputs: Vec<usize> = rule
                .condition
                .signals()
                .into_iter()
                .map(|path| set.watch(catalog, path))
                .collect();
            let mut freeze = inputs.clone();
            for path in &rule.freeze_frame {
                let index = set.watch(catalog, path);
                if !freeze.contains(&index) {
                    freeze.push(index);
                }
            }
            let position = set.rules.len();
            for input in &inputs {
                if !set.readers[*input].contains(&position) {
                    set.readers[*input].push(position);
                }
            }
            set.rules.push(CompiledRule {
                rule: rule.clone(),
                inputs,
                freeze,
                phase: Phase::Unknown,
            });
        }
        Ok(set)
    }

    fn watch(&mut self, catalog: &Catalog, path: &str) -> usize {
        // `check` has verified every path.
        let leaf = catalog.leaf(path).map(|l| l.id).unwrap_or(LeafId(0));
        *self.index.entry(leaf).or_insert_with(|| {
            self.leaves.push(leaf);
            self.paths.push(path.to_owned());
            self.values.push(None);
            self.raw.push(None);
            self.readers.push(Vec::new());
            self.leaves.len() - 1
        })
    }

    /// The leaves the rules read (conditions and freeze frames).
    pub fn leaves(&self) -> &[LeafId] {
        &self.leaves
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Takes a new value of `leaf` and re-evaluates the rules that read it.
    pub fn update(
        &mut self,
        leaf: LeafId,
        value: Option<&Value>,
        now: Instant,
        reports: &mut Vec<FaultReport>,
    ) {
        let Some(&index) = self.index.get(&leaf) else {
            return;
        };
        self.values[index] = value.and_then(number);
        self.raw[index] = value.cloned();
        for position in 0..self.readers[index].len() {
            let rule = self.readers[index][position];
            self.evaluate(rule, now, reports);
        }
    }

    /// Advances debounce timers to `now`.
    pub fn tick(&mut self, now: Instant, reports: &mut Vec<FaultReport>) {
        for rule in 0..self.rules.len() {
            if matches!(
                self.rules[rule].phase,
                Phase::PreFailing(_) | Phase::PrePassing(_)
            ) {
                self.evaluate(rule, now, reports);
            }
        }
    }

    /// The next time a debounce timer runs out.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.rules
            .iter()
            .filter_map(|rule| match rule.phase {
                Phase::PreFailing(since) => Some(since + rule.rule.debounce),
                Phase::PrePassing(since) => Some(since + rule.rule.heal),
                _ => None,
            })
            .min()
    }

    /// Forgets the state of the rules raising `code` on `component` (after a
    /// clear), so that a condition that still holds is debounced and stored again.
    pub fn forget(&mut self, entity: &Entity, code: &crate::DtcCode) {
        for rule in &mut self.rules {
            if *entity == Entity::Component(rule.rule.ecu.clone()) && rule.rule.code == *code {
                rule.phase = Phase::Unknown;
            }
        }
    }

    /// Starts every test over (a new operation cycle): each reports its result
    /// again once its signals next change.
    pub fn new_cycle(&mut self) {
        for rule in &mut self.rules {
            rule.phase = Phase::Unknown;
        }
    }

    fn evaluate(&mut self, position: usize, now: Instant, reports: &mut Vec<FaultReport>) {
        let rule = &self.rules[position];
        let mut inputs = [0.0; 2];
        for (slot, index) in rule.inputs.iter().enumerate() {
            match self.values[*index] {
                Some(value) => inputs[slot] = value,
                // Without every input the test cannot run.
                None => return,
            }
        }
        let fails = rule.rule.condition.fails(&inputs[..rule.inputs.len()]);
        let next = match (rule.phase, fails) {
            (Phase::Unknown | Phase::Passing, true) => Phase::PreFailing(now),
            (Phase::PreFailing(since), true) if now >= since + rule.rule.debounce => Phase::Failing,
            (Phase::PrePassing(_), true) => Phase::Failing,
            (Phase::PrePassing(since), false) if now >= since + rule.rule.heal => Phase::Passing,
            (Phase::Failing, false) => Phase::PrePassing(now),
            (Phase::PreFailing(_) | Phase::Unknown, false) => Phase::Passing,
            (phase, _) => phase,
        };
        // A zero debounce or heal time settles at once.
        let next = match next {
            Phase::PreFailing(since) if rule.rule.debounce == Duration::ZERO => {
                let _ = since;
                Phase::Failing
            }
            Phase::PrePassing(_) if rule.rule.heal == Duration::ZERO => Phase::Passing,
            other => other,
        };
        let previous = rule.phase;
        self.rules[position].phase = next;
        let entered_failing = next == Phase::Failing
            && previous != Phase::Failing
            && !matches!(previous, Phase::PrePassing(_));
        let entered_passing = next == Phase::Passing && previous != Phase::Passing;
        if entered_failing {
            reports.push(self.report(position, true));
        } else if entered_passing {
            reports.push(self.report(position, false));
        }
    }

    fn report(&self, position: usize, failed: bool) -> FaultReport {
        let rule = &self.rules[position];
        let result = if failed {
            let snapshot: BTreeMap<String, serde_json::Value> = rule
                .freeze
                .iter()
                .map(|index| {
                    let value = self.raw[*index]
                        .as_ref()
                        .map_or(serde_json::Value::Null, Value::to_json);
                    (self.paths[*index].clone(), value)
                })
                .collect();
            let mut environment = BTreeMap::new();
            environment.insert("rule".to_owned(), rule.rule.condition.describe());
            TestResult::Failed {
                snapshot,
                environment,
            }
        } else {
            TestResult::Passed
        };
        FaultReport {
            entity: Entity::Component(rule.rule.ecu.clone()),
            code: rule.rule.code.clone(),
            name: rule.rule.name.clone(),
            severity: rule.rule.severity,
            source: FaultSource::Rule,
            warning_indicator: rule.rule.warning_indicator,
            result,
        }
    }
}

/// Runs `rules` against `broker` until the broker goes away: subscribes to every
/// signal they read, evaluates on each change and at each debounce deadline, and
/// reports to `memory`. A clear in the memory restarts the cleared rules' tests.
pub async fn run_rules(
    mut rules: RuleSet,
    broker: Broker,
    permissions: Permissions,
    memory: FaultMemory,
) {
    if rules.is_empty() {
        return;
    }
    let mut cleared = memory.subscribe();
    let mut reports = Vec::new();
    'subscribe: loop {
        let mut subscription =
            match broker.subscribe(&permissions, rules.leaves(), Field::Current, 0, true) {
                Ok(subscription) => subscription,
                Err(error) => {
                    tracing::error!(%error, "the fault rules cannot subscribe to their signals");
                    return;
                }
            };
        loop {
            let deadline = rules.next_deadline();
            tokio::select! {
                event = subscription.next() => match event {
                    Some(SubscriptionEvent::Changes(changes)) => {
                        let now = Instant::now();
                        for change in &changes {
                            rules.update(change.leaf, change.datapoint.value.as_ref(), now, &mut reports);
                        }
                    }
                    Some(SubscriptionEvent::Lagged { dropped }) => {
                        tracing::warn!(dropped, "the fault rules lagged behind the broker; subscribing again");
                        continue 'subscribe;
                    }
                    None => return,
                },
                () = sleep_until(deadline) => rules.tick(Instant::now(), &mut reports),
                event = cleared.recv() => match event {
                    Ok(FaultEvent::Removed { entity, code }) => rules.forget(&entity, &code),
                    Ok(FaultEvent::NewOperationCycle) => rules.new_cycle(),
                    Ok(FaultEvent::Changed(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            }
            for report in reports.drain(..) {
                if let Err(error) = memory.report(report) {
                    tracing::error!(%error, "a fault could not be stored");
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
