//! `tomoe service`: service operations on a running vehicle through its diagnostic
//! API (SOVD), and `tomoe_vehicle::PackService` wired into that API.

use std::{sync::Arc, time::Duration};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value as Json};
use tomoe_sovd::{client::SovdClient, BatteryService, BatterySwapError};
use tomoe_vehicle::{PackError, PackService, SwapVerdict};

/// The commands of `tomoe service`.
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Install another traction battery pack from the parts catalog (SOVD operation battery-swap on the battery component), after the fit check
    BatterySwap(BatterySwapArgs),
}

/// Options of `tomoe service battery-swap`.
#[derive(Debug, Args)]
pub struct BatterySwapArgs {
    #[command(flatten)]
    pub api: crate::diag::DiagArgs,
    /// The new pack's parts-catalog id (tomoe parts list --kind battery)
    #[arg(long)]
    pub pack: String,
    /// The new pack's state of charge when it goes in, percent (default 50)
    #[arg(long)]
    pub soc: Option<f64>,
    /// Only check whether the pack fits the running vehicle; change nothing
    #[arg(long)]
    pub check_only: bool,
    /// The battery component (default: the component that offers battery-swap)
    #[arg(long)]
    pub component: Option<String>,
}

pub async fn run(command: ServiceCommand) -> anyhow::Result<()> {
    let ServiceCommand::BatterySwap(args) = command;
    let client = SovdClient::new(&args.api.sovd, args.api.token.clone(), &args.api.client)?;
    let entity = match &args.component {
        Some(id) => id.parse()?,
        None => client.component_offering("battery-swap").await?.context(
            "no component of the diagnostic API offers battery-swap (the vehicle profile has no [platform] section)",
        )?,
    };
    let mut parameters = json!({ "pack": args.pack, "check_only": args.check_only });
    if let Some(soc) = args.soc {
        parameters["soc"] = json!(soc);
    }
    let timeout = Duration::from_secs(60);
    let status = client
        .run(&entity, "battery-swap", Some(parameters), timeout)
        .await?;
    // The execution carries the verdict in its parameters (none for bad input).
    let verdict: Option<SwapVerdict> = serde_json::from_value(status["parameters"].clone()).ok();
    if args.api.json {
        out!("{status}")?;
    } else if let Some(verdict) = &verdict {
        out!("{verdict}")?;
        match &verdict.swap {
            Some(swap) => out!(
                "swapped on {entity}: {} -> {}, at {:.1} % state of charge, by {} (at {} ms since the epoch)",
                swap.old_pack, swap.new_pack, swap.soc_percent, swap.who, swap.time_ms
            )?,
            None if args.check_only => out!("check only: nothing was changed")?,
            None => {}
        }
    }
    if status["status"] != "completed" {
        let error = status["error"][0]["error"]["message"]
            .as_str()
            .unwrap_or_default();
        bail!("battery-swap on {entity} failed: {error}; nothing was changed")
    }
    if verdict.is_some_and(|verdict| !verdict.fits) {
        bail!("battery pack {} does not fit (check only)", args.pack);
    }
    Ok(())
}

/// [`PackService`] as the SOVD API's battery service.
struct Packs(PackService);

/// The pack service for the SOVD API's `battery-swap` operation.
pub fn battery_service(packs: PackService) -> Arc<dyn BatteryService> {
    Arc::new(Packs(packs))
}

fn verdict(
    result: Result<tomoe_vehicle::SwapVerdict, PackError>,
) -> Result<Json, BatterySwapError> {
    match result {
        Ok(verdict) => Ok(serde_json::to_value(verdict).unwrap_or(Json::Null)),
        Err(PackError::Refused(verdict)) => Err(BatterySwapError::Refused {
            message: PackError::Refused(verdict.clone()).to_string(),
            verdict: serde_json::to_value(&*verdict).unwrap_or(Json::Null),
        }),
        Err(error) if error.is_bad_input() => Err(BatterySwapError::BadInput(error.to_string())),
        Err(error) => Err(BatterySwapError::Failed(error.to_string())),
    }
}

impl BatteryService for Packs {
    fn check(&self, pack: &str) -> Result<Json, BatterySwapError> {
        verdict(self.0.check(pack))
    }

    fn swap(&self, pack: &str, soc: Option<f64>, who: &str) -> Result<Json, BatterySwapError> {
        verdict(self.0.swap(pack, soc, who))
    }
}
