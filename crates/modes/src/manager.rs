//! The state manager: the mode machine fed from the broker, publishing the mode.

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tomoe_broker::{
    ActuationProvider, ActuationRequest, Broker, BrokerError, Change, Field, Permissions,
    Subscription, SubscriptionEvent,
};
use tomoe_vss::{Catalog, DataType, EntryType, Leaf, LeafId, Value};
use tracing::Instrument;

use crate::MODE_PATH;
use crate::{Ignition, InputPaths, Inputs, Mode, ModeConfig, ModeError, ModeMachine};

/// The value of `Vehicle.Tomoe.ModeRequest` that asks for [`Mode::Service`].
pub const REQUEST_SERVICE: &str = "SERVICE";

/// The value of `Vehicle.Tomoe.ModeRequest` that withdraws a request.
pub const REQUEST_NONE: &str = "NONE";

/// Derives the vehicle mode from the broker's signals and publishes it on
/// `Vehicle.Tomoe.Mode`; see [`StateManager::spawn`].
#[derive(Debug)]
pub struct StateManager {
    broker: Broker,
    permissions: Permissions,
    wiring: Wiring,
    machine: ModeMachine,
    inputs: Inputs,
    input_subscription: Option<Subscription>,
    request_subscription: Option<Subscription>,
    provider: Option<ActuationProvider>,
}

/// Which input a leaf feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    Speed,
    SelectedGear,
    CurrentGear,
    ParkLock,
    Charging,
    Ignition,
}

/// What a leaf must be to feed an input.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Number,
    Integer,
    Boolean,
    Text,
    TextActuator,
}

impl Expect {
    fn accepts(self, datatype: DataType, entry_type: EntryType) -> bool {
        let scalar = !datatype.is_array();
        match self {
            Expect::Number => scalar && datatype.is_numeric(),
            Expect::Integer => scalar && datatype.integer_range().is_some(),
            Expect::Boolean => datatype == DataType::Boolean,
            Expect::Text => datatype == DataType::String,
            Expect::TextActuator => {
                datatype == DataType::String && entry_type == EntryType::Actuator
            }
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Expect::Number => "a numeric signal",
            Expect::Integer => "an integer signal",
            Expect::Boolean => "a boolean signal",
            Expect::Text => "a string signal",
            Expect::TextActuator => "a string actuator",
        }
    }
}

/// The leaves the manager reads and writes, resolved against the broker's catalog.
#[derive(Debug)]
struct Wiring {
    inputs: Vec<(LeafId, Input)>,
    request: Option<LeafId>,
    mode: LeafId,
}

impl Wiring {
    fn resolve(broker: &Broker, paths: &InputPaths) -> Result<Wiring, ModeError> {
        let mut inputs = Vec::new();
        let wanted = [
            ("speed", &paths.speed, Input::Speed, Expect::Number),
            (
                "selected_gear",
                &paths.selected_gear,
                Input::SelectedGear,
                Expect::Integer,
            ),
            (
                "current_gear",
                &paths.current_gear,
                Input::CurrentGear,
                Expect::Integer,
            ),
            (
                "park_lock",
                &paths.park_lock,
                Input::ParkLock,
                Expect::Boolean,
            ),
            (
                "charging",
                &paths.charging,
                Input::Charging,
                Expect::Boolean,
            ),
            ("ignition", &paths.ignition, Input::Ignition, Expect::Text),
        ];
        let catalog = broker.catalog();
        for (name, path, input, expect) in wanted {
            if let Some(leaf) = resolve_leaf(catalog, name, path, expect)? {
                inputs.push((leaf.id, input));
            }
        }
        let request = resolve_leaf(
            catalog,
            "mode_request",
            &paths.mode_request,
            Expect::TextActuator,
        )?
        .map(|leaf| leaf.id);
        let mode = resolve_leaf(catalog, "mode", MODE_PATH, Expect::Text)?
            .expect("the mode path is not empty");
        for candidate in Mode::ALL {
            if mode
                .check_value(&Value::String(candidate.as_str().into()))
                .is_err()
            {
                return Err(ModeError::ModeNotAllowed {
                    path: MODE_PATH.into(),
                    mode: candidate,
                });
            }
        }
        Ok(Wiring {
            inputs,
            request,
            mode: mode.id,
        })
    }

    fn input_ids(&self) -> Vec<LeafId> {
        self.inputs.iter().map(|(id, _)| *id).collect()
    }
}

/// The leaf at `path` if it suits `expect`; `None` for an empty path.
fn resolve_leaf<'a>(
    catalog: &'a Catalog,
    input: &'static str,
    path: &str,
    expect: Expect,
) -> Result<Option<&'a Leaf>, ModeError> {
    if path.is_empty() {
        return Ok(None);
    }
    let leaf = catalog.leaf(path).ok_or_else(|| ModeError::UnknownPath {
        input,
        path: path.to_owned(),
    })?;
    if !expect.accepts(leaf.datatype, leaf.entry_type) {
        return Err(ModeError::WrongSignal {
            input,
            path: path.to_owned(),
            entry_type: leaf.entry_type,
            datatype: leaf.datatype,
            expected: expect.describe(),
        });
    }
    Ok(Some(leaf))
}

/// Why the manager's loop woke up.
enum Wake {
    Inputs(Option<SubscriptionEvent>),
    Request(Option<SubscriptionEvent>),
    Provider(Option<ActuationRequest>),
    Deadline,
}

impl StateManager {
    /// Starts the state manager on the current Tokio runtime.
    ///
    /// It reads the configured input signals (current values) and the target of the
    /// mode request actuator (`Vehicle.Tomoe.ModeRequest` by default, which it also
    /// claims as provider so that a KUKSA v2 `Actuate` reaches it), derives the mode
    /// with a [`ModeMachine`] whenever an input changes or a dwell time ends, and
    /// publishes every change on `Vehicle.Tomoe.Mode`. The current request is
    /// published as the current value of the request actuator: `SERVICE` or `NONE`.
    ///
    /// Every new target of the request actuator replaces the previous request, from
    /// a v2 `Actuate` as from a v1 `Set`. A target stored before the start (by a
    /// persistent broker) counts as a standing request. Who may request a mode is
    /// decided by who may actuate the request actuator.
    ///
    /// `permissions` must allow reading the inputs, publishing the mode and the
    /// request actuator, and actuating the request actuator. The first mode is
    /// derived and published before this returns, without a dwell; the returned
    /// receiver holds it and sees every later change. The task runs until it is
    /// aborted through the handle.
    ///
    /// Fails when the configuration is invalid, a configured path is missing from the
    /// catalog or has the wrong type, the permissions fall short, or another provider
    /// holds the request actuator.
    pub fn spawn(
        broker: Broker,
        permissions: Permissions,
        config: ModeConfig,
    ) -> Result<(JoinHandle<()>, watch::Receiver<Mode>), ModeError> {
        config.validate()?;
        let wiring = Wiring::resolve(&broker, &config.inputs)?;
        let broker_error = |action| move |source| ModeError::Broker { action, source };
        let (request_subscription, provider) = match wiring.request {
            Some(id) => {
                let provider = broker.open_provider();
                provider
                    .claim(&permissions, &[id])
                    .map_err(broker_error("cannot claim the mode request actuator"))?;
                let subscription = broker
                    .subscribe(&permissions, &[id], Field::Target, 0, false)
                    .map_err(broker_error("cannot subscribe to mode requests"))?;
                (Some(subscription), Some(provider))
            }
            None => (None, None),
        };
        let input_ids = wiring.input_ids();
        let input_subscription = if input_ids.is_empty() {
            None
        } else {
            Some(
                broker
                    .subscribe(&permissions, &input_ids, Field::Current, 0, false)
                    .map_err(broker_error("cannot subscribe to the mode inputs"))?,
            )
        };
        let mut manager = StateManager {
            broker,
            permissions,
            wiring,
            machine: ModeMachine::new(config),
            inputs: Inputs::default(),
            input_subscription,
            request_subscription,
            provider,
        };
        // Values read after subscribing: a change in between arrives again through
        // the subscription, so nothing is missed.
        let current = manager
            .broker
            .get(&manager.permissions, &input_ids, Field::Current)
            .map_err(broker_error("cannot read the mode inputs"))?;
        for (id, datapoint) in input_ids.iter().zip(current) {
            manager.apply_input(*id, datapoint.value.as_ref());
        }
        if let Some(id) = manager.wiring.request {
            let target = manager
                .broker
                .get(&manager.permissions, &[id], Field::Target)
                .map_err(broker_error("cannot read the mode request"))?;
            manager.apply_request(target[0].value.as_ref());
            manager
                .publish_request()
                .map_err(broker_error("cannot publish the mode request"))?;
        }
        let mode = manager
            .machine
            .observe(&manager.inputs, now())
            .expect("the first observation sets the mode");
        manager
            .publish_mode(mode)
            .map_err(broker_error("cannot publish the vehicle mode"))?;
        tracing::info!(%mode, "vehicle mode");
        let (sender, receiver) = watch::channel(mode);
        let task = tokio::spawn(
            manager
                .run(sender)
                .instrument(tracing::info_span!("mode-manager")),
        );
        Ok((task, receiver))
    }

    async fn run(mut self, sender: watch::Sender<Mode>) {
        loop {
            let deadline = self.machine.deadline();
            let wake = tokio::select! {
                event = next_event(self.input_subscription.as_mut()) => Wake::Inputs(event),
                event = next_event(self.request_subscription.as_mut()) => Wake::Request(event),
                request = next_request(self.provider.as_mut()) => Wake::Provider(request),
                () = sleep_until(deadline) => Wake::Deadline,
            };
            match wake {
                Wake::Inputs(Some(SubscriptionEvent::Changes(changes))) => {
                    for Change {
                        leaf, datapoint, ..
                    } in changes
                    {
                        self.apply_input(leaf, datapoint.value.as_ref());
                    }
                }
                Wake::Request(Some(SubscriptionEvent::Changes(changes))) => {
                    for change in changes {
                        self.apply_request(change.datapoint.value.as_ref());
                    }
                    if let Err(error) = self.publish_request() {
                        tracing::warn!(%error, "cannot publish the mode request");
                    }
                }
                Wake::Inputs(Some(SubscriptionEvent::Lagged { dropped }))
                | Wake::Request(Some(SubscriptionEvent::Lagged { dropped })) => {
                    tracing::warn!(dropped, "mode manager fell behind; subscribing again");
                    if let Err(error) = self.resubscribe(matches!(wake, Wake::Request(_))) {
                        tracing::error!(%error, "cannot subscribe again; the vehicle mode is no longer updated");
                        return;
                    }
                }
                Wake::Inputs(None) | Wake::Request(None) => {
                    tracing::warn!(
                        "the broker ended a subscription; the vehicle mode is no longer updated"
                    );
                    return;
                }
                // Requests are read from the target subscription, which also sees v1
                // `Set`; the provider's queue is only drained so that it never fills.
                Wake::Provider(Some(_)) => continue,
                Wake::Provider(None) => self.provider = None,
                Wake::Deadline => {}
            }
            if let Some(mode) = self.machine.observe(&self.inputs, now()) {
                if let Err(error) = self.publish_mode(mode) {
                    tracing::warn!(%mode, %error, "cannot publish the vehicle mode");
                }
                sender.send_replace(mode);
                tracing::info!(%mode, "vehicle mode changed");
            }
        }
    }

    /// Replaces a subscription that lagged with a new one that starts with the
    /// present values.
    fn resubscribe(&mut self, request: bool) -> Result<(), BrokerError> {
        if request {
            let ids: Vec<LeafId> = self.wiring.request.into_iter().collect();
            self.request_subscription =
                Some(
                    self.broker
                        .subscribe(&self.permissions, &ids, Field::Target, 0, true)?,
                );
        } else {
            self.input_subscription = Some(self.broker.subscribe(
                &self.permissions,
                &self.wiring.input_ids(),
                Field::Current,
                0,
                true,
            )?);
        }
        Ok(())
    }

    fn apply_input(&mut self, leaf: LeafId, value: Option<&Value>) {
        let Some((_, input)) = self.wiring.inputs.iter().find(|(id, _)| *id == leaf) else {
            return;
        };
        let inputs = &mut self.inputs;
        match input {
            Input::Speed => inputs.speed_kmh = value.and_then(number),
            Input::SelectedGear => inputs.selected_gear = value.and_then(integer),
            Input::CurrentGear => inputs.current_gear = value.and_then(integer),
            Input::ParkLock => inputs.park_lock_engaged = value.and_then(boolean),
            Input::Charging => inputs.charging = value.and_then(boolean),
            Input::Ignition => {
                inputs.ignition = match value {
                    Some(Value::String(state)) => Ignition::from_vss(state),
                    _ => None,
                }
            }
        }
    }

    fn apply_request(&mut self, value: Option<&Value>) {
        self.inputs.service_requested =
            matches!(value, Some(Value::String(request)) if request == REQUEST_SERVICE);
    }

    fn publish_request(&self) -> Result<(), BrokerError> {
        let Some(id) = self.wiring.request else {
            return Ok(());
        };
        let request = if self.inputs.service_requested {
            REQUEST_SERVICE
        } else {
            REQUEST_NONE
        };
        self.broker.publish(
            &self.permissions,
            &[(id, Some(Value::String(request.into())))],
        )
    }

    fn publish_mode(&self, mode: Mode) -> Result<(), BrokerError> {
        self.broker.publish(
            &self.permissions,
            &[(self.wiring.mode, Some(Value::String(mode.as_str().into())))],
        )
    }
}

/// The time on Tokio's clock (which tests can pause and advance), as a std instant.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

async fn next_event(subscription: Option<&mut Subscription>) -> Option<SubscriptionEvent> {
    match subscription {
        Some(subscription) => subscription.next().await,
        None => std::future::pending().await,
    }
}

async fn next_request(provider: Option<&mut ActuationProvider>) -> Option<ActuationRequest> {
    match provider {
        Some(provider) => provider.next().await,
        None => std::future::pending().await,
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Float(v) => Some(f64::from(*v)),
        Value::Double(v) => Some(*v),
        Value::Int32(v) => Some(f64::from(*v)),
        Value::Uint32(v) => Some(f64::from(*v)),
        Value::Int64(v) => Some(*v as f64),
        Value::Uint64(v) => Some(*v as f64),
        _ => None,
    }
    .filter(|v| v.is_finite())
}

fn integer(value: &Value) -> Option<i32> {
    match value {
        Value::Int32(v) => Some(*v),
        Value::Uint32(v) => i32::try_from(*v).ok(),
        Value::Int64(v) => i32::try_from(*v).ok(),
        Value::Uint64(v) => i32::try_from(*v).ok(),
        _ => None,
    }
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(v) => Some(*v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MODE_REQUEST_PATH;
    use std::time::Duration;
    use tomoe_broker::BrokerConfig;

    const SPEED: &str = "Vehicle.Speed";
    const GEAR: &str = "Vehicle.Powertrain.Transmission.SelectedGear";
    const CHARGING: &str = "Vehicle.Powertrain.TractionBattery.Charging.IsCharging";
    const IGNITION: &str = "Vehicle.LowVoltageSystemState";

    fn broker() -> Broker {
        Broker::new(
            tomoe_vss::default_catalog().unwrap(),
            BrokerConfig::default(),
            None,
        )
        .unwrap()
    }

    fn publish(broker: &Broker, updates: &[(&str, Value)]) {
        let updates: Vec<(LeafId, Option<Value>)> = updates
            .iter()
            .map(|(path, value)| (broker.resolve_path(path).unwrap(), Some(value.clone())))
            .collect();
        broker.publish(&Permissions::allow_all(), &updates).unwrap();
    }

    fn current(broker: &Broker, path: &str) -> Option<Value> {
        let id = broker.resolve_path(path).unwrap();
        broker
            .get(&Permissions::allow_all(), &[id], Field::Current)
            .unwrap()
            .remove(0)
            .value
    }

    fn request(broker: &Broker, value: &str) {
        let id = broker.resolve_path(MODE_REQUEST_PATH).unwrap();
        broker
            .actuate(
                &Permissions::allow_all(),
                &[(id, Value::String(value.into()))],
            )
            .unwrap();
    }

    /// Waits for the next mode change and checks it reached the broker as well.
    async fn next_mode(broker: &Broker, modes: &mut watch::Receiver<Mode>) -> Mode {
        tokio::time::timeout(Duration::from_secs(60), modes.changed())
            .await
            .expect("a mode change")
            .unwrap();
        let mode = *modes.borrow_and_update();
        assert_eq!(
            current(broker, MODE_PATH),
            Some(Value::String(mode.to_string()))
        );
        mode
    }

    #[tokio::test(start_paused = true)]
    async fn follows_the_vehicle_through_the_broker() {
        let broker = broker();
        let (task, mut modes) = StateManager::spawn(
            broker.clone(),
            Permissions::allow_all(),
            ModeConfig::default(),
        )
        .unwrap();
        // No input known yet: PARKED, published at once.
        assert_eq!(*modes.borrow_and_update(), Mode::Parked);
        assert_eq!(
            current(&broker, MODE_PATH),
            Some(Value::String("PARKED".into()))
        );
        assert_eq!(
            current(&broker, MODE_REQUEST_PATH),
            Some(Value::String("NONE".into()))
        );

        let start = tokio::time::Instant::now();
        publish(
            &broker,
            &[(GEAR, Value::Int32(127)), (SPEED, Value::Float(42.0))],
        );
        assert_eq!(next_mode(&broker, &mut modes).await, Mode::Driving);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(2000) && waited < Duration::from_millis(2010),
            "{waited:?}"
        );

        publish(
            &broker,
            &[(SPEED, Value::Float(0.0)), (GEAR, Value::Int32(126))],
        );
        assert_eq!(next_mode(&broker, &mut modes).await, Mode::Parked);

        publish(&broker, &[(CHARGING, Value::Bool(true))]);
        assert_eq!(next_mode(&broker, &mut modes).await, Mode::Charging);

        // A v2 Actuate reaches the manager (it provides the actuator).
        request(&broker, "SERVICE");
        assert_eq!(next_mode(&broker, &mut modes).await, Mode::Service);
        assert_eq!(
            current(&broker, MODE_REQUEST_PATH),
            Some(Value::String("SERVICE".into()))
        );
        request(&broker, "NONE");
        assert_eq!(next_mode(&broker, &mut modes).await, Mode::Charging);

        publish(
            &broker,
            &[
                (CHARGING, Value::Bool(false)),
                (IGNITION, Value::String("OFF".into())),
            ],
        );
        assert_eq!(next_mode(&broker, &mut modes).await, Mode::Off);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn short_blips_do_not_change_the_mode() {
        let broker = broker();
        let (task, modes) = StateManager::spawn(
            broker.clone(),
            Permissions::allow_all(),
            ModeConfig::default(),
        )
        .unwrap();
        for _ in 0..10 {
            publish(&broker, &[(SPEED, Value::Float(3.5))]);
            tokio::time::sleep(Duration::from_millis(500)).await;
            publish(&broker, &[(SPEED, Value::Float(2.5))]);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!modes.has_changed().unwrap());
        assert_eq!(*modes.borrow(), Mode::Parked);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn starts_from_stored_values_and_v1_targets() {
        let broker = broker();
        publish(
            &broker,
            &[
                (SPEED, Value::Float(80.0)),
                (IGNITION, Value::String("ON".into())),
            ],
        );
        let config = ModeConfig {
            min_dwell_ms: 0,
            ..ModeConfig::default()
        };
        let (task, mut modes) =
            StateManager::spawn(broker.clone(), Permissions::allow_all(), config).unwrap();
        assert_eq!(*modes.borrow_and_update(), Mode::Driving);

        // A v1 Set of the target (stored, not actuated) is a request as well; it
        // waits until the vehicle stops.
        let id = broker.resolve_path(MODE_REQUEST_PATH).unwrap();
        broker
            .set_targets(
                &Permissions::allow_all(),
                &[(id, Value::String("SERVICE".into()))],
            )
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!modes.has_changed().unwrap());
        publish(&broker, &[(SPEED, Value::Float(0.0))]);
        assert_eq!(next_mode(&broker, &mut modes).await, Mode::Service);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn recovers_from_falling_behind() {
        let config = BrokerConfig {
            default_queue_capacity: 1,
            ..BrokerConfig::default()
        };
        let broker = Broker::new(tomoe_vss::default_catalog().unwrap(), config, None).unwrap();
        let (task, mut modes) = StateManager::spawn(
            broker.clone(),
            Permissions::allow_all(),
            ModeConfig::default(),
        )
        .unwrap();
        // The manager's queue holds one batch: the later ones overflow it before it
        // runs, so it is disconnected and subscribes again with the present values.
        for speed in [10.0, 20.0, 30.0, 40.0] {
            publish(&broker, &[(SPEED, Value::Float(speed))]);
        }
        assert_eq!(next_mode(&broker, &mut modes).await, Mode::Driving);
        publish(
            &broker,
            &[(SPEED, Value::Float(0.0)), (GEAR, Value::Int32(126))],
        );
        assert_eq!(next_mode(&broker, &mut modes).await, Mode::Parked);
        task.abort();
    }

    #[tokio::test]
    async fn refuses_bad_wiring() {
        let broker = broker();
        let unknown = ModeConfig {
            inputs: InputPaths {
                speed: "Vehicle.Sped".into(),
                ..InputPaths::default()
            },
            ..ModeConfig::default()
        };
        let error =
            StateManager::spawn(broker.clone(), Permissions::allow_all(), unknown).unwrap_err();
        assert_eq!(
            error.to_string(),
            "mode input speed: path \"Vehicle.Sped\" is not in the catalog"
        );

        let wrong = ModeConfig {
            inputs: InputPaths {
                charging: SPEED.into(),
                ..InputPaths::default()
            },
            ..ModeConfig::default()
        };
        let error =
            StateManager::spawn(broker.clone(), Permissions::allow_all(), wrong).unwrap_err();
        assert_eq!(
            error.to_string(),
            "mode input charging: \"Vehicle.Speed\" is a sensor of type float, expected a boolean signal"
        );

        let error = StateManager::spawn(broker.clone(), Permissions::none(), ModeConfig::default())
            .unwrap_err();
        assert!(matches!(
            error,
            ModeError::Broker {
                source: BrokerError::PermissionDenied { .. },
                ..
            }
        ));

        // Only one manager can provide the request actuator.
        let (task, _modes) = StateManager::spawn(
            broker.clone(),
            Permissions::allow_all(),
            ModeConfig::default(),
        )
        .unwrap();
        let error = StateManager::spawn(broker, Permissions::allow_all(), ModeConfig::default())
            .unwrap_err();
        assert_eq!(error.to_string(), "cannot claim the mode request actuator");
        task.abort();
    }

    #[tokio::test]
    async fn inputs_can_be_left_out() {
        let broker = broker();
        let config = ModeConfig {
            inputs: InputPaths {
                speed: String::new(),
                selected_gear: String::new(),
                current_gear: String::new(),
                park_lock: String::new(),
                charging: String::new(),
                ignition: String::new(),
                mode_request: String::new(),
            },
            ..ModeConfig::default()
        };
        let (task, modes) =
            StateManager::spawn(broker.clone(), Permissions::allow_all(), config).unwrap();
        assert_eq!(*modes.borrow(), Mode::Parked);
        // Nobody provides the request actuator now.
        let id = broker.resolve_path(MODE_REQUEST_PATH).unwrap();
        let error = broker
            .actuate(
                &Permissions::allow_all(),
                &[(id, Value::String("SERVICE".into()))],
            )
            .unwrap_err();
        assert!(matches!(error.reason(), BrokerError::NoProvider { .. }));
        task.abort();
    }
}
