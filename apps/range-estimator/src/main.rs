//! Range estimator: an example vehicle app that runs unchanged on every brand.
//!
//! It speaks only standard VSS, through the Tomoe SDK over the KUKSA gRPC API: it
//! subscribes to the speed, the displayed state of charge and the traction
//! battery's voltage and current, learns the recent consumption (energy drawn per
//! distance driven), and publishes its estimate of the remaining range on
//! `Vehicle.Tomoe.RangeEstimate` (and the consumption on
//! `Vehicle.Tomoe.ConsumptionEstimate`), printing one line per estimate. The
//! pack's usable energy comes from `NetCapacity`, followed while it runs (a battery
//! pack swapped in service changes it). Which car
//! it runs on, and which CAN frames carried the values, it never knows. Started by
//! the app runtime, it sends the runtime heartbeats.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use futures::StreamExt;
use tomoe_sdk::{Client, FromValue, Heartbeat};

const SPEED: &str = "Vehicle.Speed";
const SOC: &str = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed";
const VOLTAGE: &str = "Vehicle.Powertrain.TractionBattery.CurrentVoltage";
const CURRENT: &str = "Vehicle.Powertrain.TractionBattery.CurrentCurrent";
const CAPACITY: &str = "Vehicle.Powertrain.TractionBattery.NetCapacity";
const RANGE: &str = "Vehicle.Tomoe.RangeEstimate";
const CONSUMPTION: &str = "Vehicle.Tomoe.ConsumptionEstimate";

/// Estimates the remaining range of the vehicle behind a Tomoe (or KUKSA) broker.
#[derive(Debug, Parser)]
#[command(name = "range-estimator", version, about)]
struct Args {
    /// Broker URL
    #[arg(long, env = "TOMOE_BROKER", default_value = "http://127.0.0.1:55555")]
    broker: String,
    /// JWT to present to the broker
    #[arg(long, env = "TOMOE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Usable battery energy in kWh when the vehicle does not publish NetCapacity
    #[arg(long, default_value_t = 40.0)]
    capacity_kwh: f64,
    /// Consumption assumed until enough distance was driven to measure it, in Wh/km
    #[arg(long, default_value_t = 160.0)]
    initial_consumption: f64,
    /// Seconds between estimates
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Stop after this many estimates (0: run until stopped)
    #[arg(long, default_value_t = 0)]
    count: u64,
}

/// What the estimator has learnt so far.
#[derive(Debug)]
struct Estimator {
    soc_percent: Option<f64>,
    speed_kmh: f64,
    voltage: Option<f64>,
    current: Option<f64>,
    capacity_kwh: f64,
    /// Energy drawn and distance driven in the measuring window.
    window_wh: f64,
    window_km: f64,
    consumption_wh_per_km: f64,
    last_update: Option<Instant>,
}

impl Estimator {
    /// Integrates energy and distance since the last update (speed and power held).
    fn advance(&mut self, now: Instant) {
        if let Some(last) = self.last_update {
            let hours = now.duration_since(last).as_secs_f64() / 3600.0;
            self.window_km += self.speed_kmh.max(0.0) * hours;
            if let (Some(voltage), Some(current)) = (self.voltage, self.current) {
                // VSS: positive current flows into the battery; driving draws negative current.
                self.window_wh += -voltage * current * hours;
            }
            // Once a few kilometres are measured, the window's ratio is the consumption
            // (regeneration included); older driving fades out.
            if self.window_km >= 0.5 && self.window_wh > 0.0 {
                self.consumption_wh_per_km = self.window_wh / self.window_km;
                if self.window_km > 20.0 {
                    self.window_km *= 0.5;
                    self.window_wh *= 0.5;
                }
            }
        }
        self.last_update = Some(now);
    }

    /// A new usable energy (kWh), as after a battery pack swap; a value that is
    /// not positive is ignored.
    fn set_capacity(&mut self, kwh: f64) {
        if kwh.is_finite() && kwh > 0.0 {
            self.capacity_kwh = kwh;
        }
    }

    fn range_km(&self) -> Option<f64> {
        let soc = self.soc_percent?;
        Some((soc / 100.0 * self.capacity_kwh * 1000.0 / self.consumption_wh_per_km).max(0.0))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Under the app runtime: tell it this workload is alive.
    if let Some(heartbeat) = Heartbeat::from_env() {
        heartbeat.spawn(Duration::from_secs(1));
    }
    let mut client = Client::connect(&args.broker, args.token.clone()).await?;

    let mut estimator = Estimator {
        soc_percent: None,
        speed_kmh: 0.0,
        voltage: None,
        current: None,
        capacity_kwh: args.capacity_kwh,
        window_wh: 0.0,
        window_km: 0.0,
        consumption_wh_per_km: args.initial_consumption,
        last_update: None,
    };
    // The pack's usable energy, when the vehicle publishes it.
    if let Ok(Some(capacity)) = client.get_as::<f64>(CAPACITY).await {
        if capacity > 0.0 {
            estimator.capacity_kwh = capacity;
        }
    }

    let mut updates = client
        .subscribe(&[SPEED, SOC, VOLTAGE, CURRENT, CAPACITY])
        .await
        .context("the broker refused the subscription")?;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(args.interval.max(0.05)));
    let mut estimates = 0u64;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            update = updates.next() => {
                let update = match update {
                    Some(Ok(update)) => update,
                    Some(Err(error)) => return Err(error).context("the subscription ended"),
                    None => bail!("the broker closed the subscription"),
                };
                estimator.advance(Instant::now());
                let Some(value) = update.value.and_then(|v| f64::from_value(v).ok()) else { continue };
                match update.path.as_str() {
                    SPEED => estimator.speed_kmh = value,
                    SOC => estimator.soc_percent = Some(value),
                    VOLTAGE => estimator.voltage = Some(value),
                    CURRENT => estimator.current = Some(value),
                    CAPACITY => estimator.set_capacity(value),
                    _ => {}
                }
            }
            _ = ticker.tick() => {
                estimator.advance(Instant::now());
                let Some(range) = estimator.range_km() else {
                    println!("waiting for the state of charge");
                    continue;
                };
                // Both leaves are floats; the SDK converts the f64 estimates.
                client.publish(RANGE, range).await?;
                client.publish(CONSUMPTION, estimator.consumption_wh_per_km).await?;
                println!(
                    "range_km={range:.1} soc_percent={:.1} consumption_wh_per_km={:.1} speed_kmh={:.1}",
                    estimator.soc_percent.unwrap_or_default(),
                    estimator.consumption_wh_per_km,
                    estimator.speed_kmh
                );
                estimates += 1;
                if args.count > 0 && estimates >= args.count {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimator(capacity_kwh: f64) -> Estimator {
        Estimator {
            soc_percent: Some(50.0),
            speed_kmh: 0.0,
            voltage: None,
            current: None,
            capacity_kwh,
            window_wh: 0.0,
            window_km: 0.0,
            consumption_wh_per_km: 160.0,
            last_update: None,
        }
    }

    #[test]
    fn the_estimate_follows_a_swapped_pack_s_capacity() {
        let mut estimator = estimator(64.0);
        assert_eq!(estimator.range_km(), Some(200.0));
        estimator.set_capacity(48.0);
        assert_eq!(estimator.range_km(), Some(150.0));
        estimator.set_capacity(0.0);
        estimator.set_capacity(f64::NAN);
        assert_eq!(estimator.capacity_kwh, 48.0);
    }
}
