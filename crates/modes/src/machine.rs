//! The mode derivation: a pure state machine over a snapshot of the input signals.
//!
//! [`ModeMachine::observe`] takes the latest [`Inputs`] and the time, derives a
//! candidate mode and adopts it once it has held long enough. It does no IO and
//! reads no clock, so it can be tested step by step; the
//! [`StateManager`](crate::StateManager) feeds it from the broker.
//!
//! # Rules
//!
//! The candidate is the mode of the first row that applies, top to bottom. The
//! thresholds are [`ModeConfig::driving_speed_kmh`] (3 km/h by default) and
//! [`ModeConfig::parked_speed_kmh`] (0.5 km/h).
//!
//! | # | candidate | when |
//! |---|---|---|
//! | 1 | `DRIVING` | not in DRIVING: speed above `driving_speed_kmh`, or a driving gear and speed above `parked_speed_kmh` |
//! | 1 | `DRIVING` | in DRIVING: until the vehicle stands still (below) |
//! | 2 | `SERVICE` | a service request stands (`Vehicle.Tomoe.ModeRequest` target `SERVICE`) |
//! | 3 | `CHARGING` | the traction battery is charging |
//! | 4 | `OFF` | ignition `OFF` or `LOCK` |
//! | 5 | `PARKED` | otherwise |
//!
//! - A *driving gear* is Drive (127), a forward gear (1 to 125) or Reverse (below 0).
//!   Park is a selected gear of 126 or an engaged park lock. The selected gear is
//!   read first; when it is unknown the current gear stands in (0 there is Neutral
//!   or Park, so it counts as Neutral).
//! - The vehicle *stands still* when its speed is below `parked_speed_kmh` and the
//!   gear is Park, or, in Neutral or with no gear known, the speed is 0. Stopped in a
//!   driving gear (at a red light) is still DRIVING. Between the two thresholds, or
//!   creeping in a driving gear, DRIVING holds (hysteresis). Driving wins over
//!   every other row: a moving vehicle is DRIVING even with a service request, a
//!   charging flag or the ignition off.
//! - A service request waits while the vehicle is driving and takes effect when it
//!   stops; `NONE` withdraws it.
//!
//! A candidate that differs from the current mode becomes the mode only after it has
//! held for [`ModeConfig::min_dwell_ms`] without interruption; a candidate that
//! changes, or falls back to the current mode, restarts the wait. Noise around a
//! threshold therefore never makes the mode flap. The very first observation has no
//! mode to hold on to and is adopted at once.
//!
//! # Unknown inputs
//!
//! An input with no value yet (or published as not available) counts as follows:
//!
//! | input | when unknown |
//! |---|---|
//! | speed | standstill for entering DRIVING (never enters it); moving for leaving it, unless the gear is Park |
//! | gear | neither Park nor a driving gear |
//! | charging | not charging |
//! | ignition (`UNDEFINED` too) | on: a vehicle that does not publish it is never OFF |
//! | service request | none |

use std::time::Instant;

use crate::{Mode, ModeConfig};

/// The selected gear that means Park.
pub const GEAR_PARK: i32 = 126;

/// The selected gear that means Drive.
pub const GEAR_DRIVE: i32 = 127;

/// The ignition, from VSS's `Vehicle.LowVoltageSystemState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ignition {
    /// `OFF` or `LOCK`.
    Off,
    /// `ACC`: accessories powered.
    Accessory,
    /// `ON` or `START`.
    On,
}

impl Ignition {
    /// Reads a `LowVoltageSystemState` value; `UNDEFINED` and anything else is `None`.
    pub fn from_vss(state: &str) -> Option<Ignition> {
        match state {
            "OFF" | "LOCK" => Some(Ignition::Off),
            "ACC" => Some(Ignition::Accessory),
            "ON" | "START" => Some(Ignition::On),
            _ => None,
        }
    }
}

/// A snapshot of the input signals; `None` where no value is known.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    /// Vehicle speed, km/h.
    pub speed_kmh: Option<f64>,
    /// The selected gear (126 Park, 127 Drive, negative Reverse, 0 Neutral).
    pub selected_gear: Option<i32>,
    /// The gear engaged (0 Neutral or Park, negative Reverse, positive forward).
    pub current_gear: Option<i32>,
    /// Whether the park lock is engaged.
    pub park_lock_engaged: Option<bool>,
    /// Whether the traction battery is charging.
    pub charging: Option<bool>,
    /// The ignition.
    pub ignition: Option<Ignition>,
    /// Whether a service request stands.
    pub service_requested: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gear {
    Park,
    Neutral,
    Driving,
    Unknown,
}

impl Inputs {
    fn gear(&self) -> Gear {
        if self.selected_gear == Some(GEAR_PARK) || self.park_lock_engaged == Some(true) {
            return Gear::Park;
        }
        match self.selected_gear.or(self.current_gear) {
            Some(0) => Gear::Neutral,
            Some(_) => Gear::Driving,
            None => Gear::Unknown,
        }
    }
}

/// Derives the vehicle mode from [`Inputs`] with hysteresis and a dwell time; see
/// the [module documentation](self) for the rules.
#[derive(Debug, Clone)]
pub struct ModeMachine {
    config: ModeConfig,
    mode: Option<Mode>,
    pending: Option<(Mode, Instant)>,
}

impl ModeMachine {
    /// A machine with no mode yet; the first [`observe`](ModeMachine::observe) sets it.
    pub fn new(config: ModeConfig) -> ModeMachine {
        ModeMachine {
            config,
            mode: None,
            pending: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ModeConfig {
        &self.config
    }

    /// The current mode; `None` before the first observation.
    pub fn mode(&self) -> Option<Mode> {
        self.mode
    }

    /// The mode waiting to be adopted and since when it has held.
    pub fn pending(&self) -> Option<(Mode, Instant)> {
        self.pending
    }

    /// When the pending mode will be adopted if the inputs do not change; observe
    /// again at that time.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending
            .map(|(_, since)| since + self.config.min_dwell())
    }

    /// The mode the rules give for `inputs` right now, before any dwell.
    pub fn candidate(&self, inputs: &Inputs) -> Mode {
        if self.is_driving(inputs) {
            Mode::Driving
        } else if inputs.service_requested {
            Mode::Service
        } else if inputs.charging == Some(true) {
            Mode::Charging
        } else if inputs.ignition == Some(Ignition::Off) {
            Mode::Off
        } else {
            Mode::Parked
        }
    }

    fn is_driving(&self, inputs: &Inputs) -> bool {
        let gear = inputs.gear();
        if self.mode == Some(Mode::Driving) {
            // Stopping at a red light in Drive is still driving: with a driving gear
            // engaged, only Park ends it. Without gear information, standing still does.
            let standing_still = match inputs.speed_kmh {
                Some(speed) => {
                    speed < self.config.parked_speed_kmh
                        && match gear {
                            Gear::Park => true,
                            Gear::Driving => false,
                            Gear::Neutral | Gear::Unknown => speed <= 0.0,
                        }
                }
                None => gear == Gear::Park,
            };
            !standing_still
        } else {
            inputs.speed_kmh.is_some_and(|speed| {
                speed > self.config.driving_speed_kmh
                    || (gear == Gear::Driving && speed > self.config.parked_speed_kmh)
            })
        }
    }

    /// Observes `inputs` at `now`; returns the new mode when the mode changes.
    pub fn observe(&mut self, inputs: &Inputs, now: Instant) -> Option<Mode> {
        let candidate = self.candidate(inputs);
        if self.mode.is_none() {
            self.mode = Some(candidate);
            return self.mode;
        }
        if self.mode == Some(candidate) {
            self.pending = None;
            return None;
        }
        let since = match self.pending {
            Some((pending, since)) if pending == candidate => since,
            _ => {
                self.pending = Some((candidate, now));
                now
            }
        };
        if now.saturating_duration_since(since) >= self.config.min_dwell() {
            self.mode = Some(candidate);
            self.pending = None;
            return self.mode;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Feeds `steps` (milliseconds since the start, inputs) to a machine with the
    /// default configuration and returns the mode after each step.
    fn run(steps: &[(u64, Inputs)]) -> Vec<Mode> {
        let mut machine = ModeMachine::new(ModeConfig::default());
        let start = Instant::now();
        steps
            .iter()
            .map(|(at, inputs)| {
                machine.observe(inputs, start + Duration::from_millis(*at));
                machine.mode().unwrap()
            })
            .collect()
    }

    fn moving(speed: f64, gear: i32) -> Inputs {
        Inputs {
            speed_kmh: Some(speed),
            selected_gear: Some(gear),
            ignition: Some(Ignition::On),
            ..Inputs::default()
        }
    }

    use Mode::{Charging, Driving, Off, Parked, Service};

    #[test]
    fn first_observation_is_adopted_at_once() {
        let mut machine = ModeMachine::new(ModeConfig::default());
        assert_eq!(machine.mode(), None);
        assert_eq!(
            machine.observe(&moving(50.0, GEAR_DRIVE), Instant::now()),
            Some(Driving)
        );
    }

    #[test]
    fn unknown_inputs_mean_parked() {
        assert_eq!(run(&[(0, Inputs::default())]), [Parked]);
        let no_ignition = Inputs {
            speed_kmh: Some(0.0),
            selected_gear: Some(GEAR_PARK),
            ..Inputs::default()
        };
        assert_eq!(run(&[(0, no_ignition)]), [Parked]);
    }

    #[test]
    fn driving_to_parked_with_hysteresis_and_dwell() {
        let modes = run(&[
            (0, moving(0.0, GEAR_PARK)),
            (100, moving(0.0, GEAR_DRIVE)),
            // Rolling in Drive above the parked threshold: DRIVING after the dwell.
            (200, moving(1.0, GEAR_DRIVE)),
            (2199, moving(8.0, GEAR_DRIVE)),
            (2200, moving(20.0, GEAR_DRIVE)),
            // Slowing below the driving threshold keeps DRIVING (hysteresis).
            (5000, moving(2.0, GEAR_DRIVE)),
            (9000, moving(0.4, GEAR_DRIVE)),
            // Standing still in Drive (a red light) is still driving.
            (10000, moving(0.0, GEAR_DRIVE)),
            (30000, moving(0.0, GEAR_DRIVE)),
            // In Park, PARKED only once it has held for the dwell.
            (31000, moving(0.0, GEAR_PARK)),
            (32999, moving(0.0, GEAR_PARK)),
            (33000, moving(0.0, GEAR_PARK)),
        ]);
        assert_eq!(
            modes,
            [
                Parked, Parked, Parked, Parked, Driving, Driving, Driving, Driving, Driving,
                Driving, Driving, Parked
            ]
        );
    }

    #[test]
    fn park_ends_driving_below_the_parked_threshold() {
        let modes = run(&[
            (0, moving(30.0, GEAR_DRIVE)),
            // Park selected while still rolling faster than the threshold: no change.
            (1000, moving(0.8, GEAR_PARK)),
            (4000, moving(0.3, GEAR_PARK)),
            (6000, moving(0.3, GEAR_PARK)),
        ]);
        assert_eq!(modes, [Driving, Driving, Driving, Parked]);
    }

    #[test]
    fn park_lock_and_current_gear_stand_in_for_the_selected_gear() {
        let park_lock = Inputs {
            speed_kmh: Some(0.3),
            park_lock_engaged: Some(true),
            ..Inputs::default()
        };
        let forward = Inputs {
            speed_kmh: Some(1.0),
            current_gear: Some(1),
            ..Inputs::default()
        };
        let neutral = Inputs {
            current_gear: Some(0),
            ..forward.clone()
        };
        let modes = run(&[
            (0, moving(30.0, GEAR_DRIVE)),
            (1000, park_lock.clone()),
            (3000, park_lock),
            (4000, forward.clone()),
            (6000, forward),
            (7000, neutral),
        ]);
        // Rolling at 1 km/h in neutral: DRIVING holds (above the parked threshold).
        assert_eq!(modes, [Driving, Driving, Parked, Parked, Driving, Driving]);
        let rolling_in_neutral = Inputs {
            speed_kmh: Some(1.0),
            current_gear: Some(0),
            ..Inputs::default()
        };
        assert_eq!(run(&[(0, rolling_in_neutral)]), [Parked]);
    }

    #[test]
    fn unknown_speed_never_ends_driving_outside_park() {
        let lost = Inputs {
            speed_kmh: None,
            selected_gear: Some(GEAR_DRIVE),
            ..Inputs::default()
        };
        let parked = Inputs {
            selected_gear: Some(GEAR_PARK),
            ..lost.clone()
        };
        let modes = run(&[
            (0, moving(30.0, GEAR_DRIVE)),
            (1000, lost.clone()),
            (10000, lost),
            (11000, parked.clone()),
            (13000, parked),
        ]);
        assert_eq!(modes, [Driving, Driving, Driving, Driving, Parked]);
    }

    #[test]
    fn no_flapping_on_noisy_speed_around_the_threshold() {
        // Speed jitters around the 3 km/h driving threshold in neutral every 300 ms.
        let mut steps: Vec<(u64, Inputs)> = (0..40)
            .map(|i| {
                let speed = if i % 2 == 0 { 2.9 } else { 3.1 };
                (i * 300, moving(speed, 0))
            })
            .collect();
        let modes = run(&steps);
        assert!(modes.iter().all(|mode| *mode == Parked), "{modes:?}");

        // Once driving, the same noise never drops it back to PARKED.
        steps.insert(0, (0, moving(50.0, GEAR_DRIVE)));
        for (at, _) in steps.iter_mut().skip(1) {
            *at += 1;
        }
        let modes = run(&steps);
        assert!(modes.iter().all(|mode| *mode == Driving), "{modes:?}");
    }

    #[test]
    fn charging() {
        let plugged = Inputs {
            charging: Some(true),
            ..moving(0.0, GEAR_PARK)
        };
        let plugged_off = Inputs {
            ignition: Some(Ignition::Off),
            ..plugged.clone()
        };
        let modes = run(&[
            (0, moving(0.0, GEAR_PARK)),
            (1000, plugged.clone()),
            (3000, plugged_off.clone()),
            (
                4000,
                Inputs {
                    charging: Some(false),
                    ..plugged_off
                },
            ),
            (
                6000,
                Inputs {
                    charging: Some(false),
                    ignition: Some(Ignition::Off),
                    ..plugged.clone()
                },
            ),
        ]);
        assert_eq!(modes, [Parked, Parked, Charging, Charging, Off]);
        // A charging flag while the vehicle moves does not beat DRIVING.
        let glitch = Inputs {
            charging: Some(true),
            ..moving(40.0, GEAR_DRIVE)
        };
        assert_eq!(run(&[(0, glitch)]), [Driving]);
    }

    #[test]
    fn off() {
        let off = |state: &str| Inputs {
            ignition: Ignition::from_vss(state),
            ..moving(0.0, GEAR_PARK)
        };
        assert_eq!(run(&[(0, off("OFF"))]), [Off]);
        assert_eq!(run(&[(0, off("LOCK"))]), [Off]);
        assert_eq!(run(&[(0, off("ACC"))]), [Parked]);
        assert_eq!(run(&[(0, off("START"))]), [Parked]);
        assert_eq!(run(&[(0, off("UNDEFINED"))]), [Parked]);
        let modes = run(&[(0, off("ON")), (1000, off("OFF")), (3000, off("OFF"))]);
        assert_eq!(modes, [Parked, Parked, Off]);
    }

    #[test]
    fn service_request() {
        let request = |inputs: Inputs| Inputs {
            service_requested: true,
            ..inputs
        };
        let modes = run(&[
            (0, moving(0.0, GEAR_PARK)),
            (1000, request(moving(0.0, GEAR_PARK))),
            (3000, request(moving(0.0, GEAR_PARK))),
            // Moving ends SERVICE (after the dwell), the request waits.
            (4000, request(moving(10.0, GEAR_DRIVE))),
            (6000, request(moving(10.0, GEAR_DRIVE))),
            (7000, request(moving(0.0, GEAR_PARK))),
            (9000, request(moving(0.0, GEAR_PARK))),
            // Withdrawn.
            (10000, moving(0.0, GEAR_PARK)),
            (12000, moving(0.0, GEAR_PARK)),
        ]);
        assert_eq!(
            modes,
            [Parked, Parked, Service, Service, Driving, Driving, Service, Service, Parked]
        );
        // A request beats charging and the ignition being off.
        let charging_off = Inputs {
            charging: Some(true),
            ignition: Some(Ignition::Off),
            ..moving(0.0, GEAR_PARK)
        };
        assert_eq!(run(&[(0, request(charging_off))]), [Service]);
    }

    #[test]
    fn a_changing_candidate_restarts_the_dwell() {
        let mut machine = ModeMachine::new(ModeConfig::default());
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let charging = Inputs {
            charging: Some(true),
            ..moving(0.0, GEAR_PARK)
        };
        let off = Inputs {
            ignition: Some(Ignition::Off),
            ..moving(0.0, GEAR_PARK)
        };
        machine.observe(&moving(0.0, GEAR_PARK), at(0));
        assert_eq!(machine.observe(&charging, at(100)), None);
        assert_eq!(machine.deadline(), Some(at(2100)));
        assert_eq!(machine.observe(&off, at(1000)), None);
        assert_eq!(machine.pending(), Some((Off, at(1000))));
        assert_eq!(machine.observe(&off, at(2100)), None);
        assert_eq!(machine.observe(&off, at(3000)), Some(Off));
        assert_eq!(machine.pending(), None);
        assert_eq!(machine.deadline(), None);
    }

    #[test]
    fn zero_dwell_switches_at_once() {
        let mut machine = ModeMachine::new(ModeConfig {
            min_dwell_ms: 0,
            ..ModeConfig::default()
        });
        let now = Instant::now();
        machine.observe(&moving(0.0, GEAR_PARK), now);
        assert_eq!(
            machine.observe(&moving(50.0, GEAR_DRIVE), now),
            Some(Driving)
        );
    }
}
