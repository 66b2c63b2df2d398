//! `tomoe diag`: the diagnostic API (SOVD) from the command line, a thin client
//! of `tomoe_sovd::client`.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value as Json;
use tomoe_sovd::client::{EntityPath, SovdClient, DEFAULT_URL};

/// The commands of `tomoe diag`.
#[derive(Debug, Subcommand)]
pub enum DiagCommand {
    /// List the components (ECUs, CAN buses, platform parts) and apps
    Components(DiagArgs),
    /// List an entity's data, or read one value
    Data(DiagDataArgs),
    /// List stored faults: every entity's, or one entity's; --code for one with its environment
    Faults(DiagFaultsArgs),
    /// Clear an entity's faults (or one code), taking and releasing its lock
    Clear(DiagClearArgs),
    /// Run an operation and wait for its result (clear-fault-memory, restart, self-test, check-for-updates)
    Run(DiagRunArgs),
    /// Lock an entity for a while (or release a lock with --release)
    Lock(DiagLockArgs),
}

/// How `tomoe diag` reaches the API.
#[derive(Debug, Args)]
pub struct DiagArgs {
    /// The diagnostic API's base URL
    #[arg(long, env = "TOMOE_SOVD", default_value = DEFAULT_URL)]
    pub sovd: String,
    /// A JWT with the diag (or diag:write) scope
    #[arg(long, env = "TOMOE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The client name that holds locks when no token is sent
    #[arg(long, default_value = "tomoe-cli")]
    pub client: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `tomoe diag data`.
#[derive(Debug, Args)]
pub struct DiagDataArgs {
    #[command(flatten)]
    pub api: DiagArgs,
    /// The entity: ID (a component), components/ID or apps/ID
    pub entity: EntityPath,
    /// A data id (a VSS path) to read
    pub data: Option<String>,
}

/// Options of `tomoe diag faults`.
#[derive(Debug, Args)]
pub struct DiagFaultsArgs {
    #[command(flatten)]
    pub api: DiagArgs,
    /// Only this entity
    pub entity: Option<EntityPath>,
    /// One fault with its freeze frames and extended data (needs the entity)
    #[arg(long, requires = "entity")]
    pub code: Option<String>,
    /// Only faults whose test fails now
    #[arg(long)]
    pub active: bool,
}

/// Options of `tomoe diag clear`.
#[derive(Debug, Args)]
pub struct DiagClearArgs {
    #[command(flatten)]
    pub api: DiagArgs,
    /// The entity
    pub entity: EntityPath,
    /// Only this code
    pub code: Option<String>,
}

/// Options of `tomoe diag run`.
#[derive(Debug, Args)]
pub struct DiagRunArgs {
    #[command(flatten)]
    pub api: DiagArgs,
    /// The entity
    pub entity: EntityPath,
    /// The operation
    pub operation: String,
    /// The operation's parameters, as JSON
    #[arg(long, value_name = "JSON")]
    pub parameters: Option<String>,
    /// Seconds the operation may take
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub timeout: u64,
}

/// Options of `tomoe diag lock`.
#[derive(Debug, Args)]
pub struct DiagLockArgs {
    #[command(flatten)]
    pub api: DiagArgs,
    /// The entity
    pub entity: EntityPath,
    /// How long the lock lives
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub seconds: u64,
    /// Release this lock instead
    #[arg(long, value_name = "LOCK_ID")]
    pub release: Option<String>,
}

fn client(api: &DiagArgs) -> anyhow::Result<SovdClient> {
    Ok(SovdClient::new(&api.sovd, api.token.clone(), &api.client)?)
}

pub async fn run(command: DiagCommand) -> anyhow::Result<()> {
    match command {
        DiagCommand::Components(args) => components(args).await,
        DiagCommand::Data(args) => data(args).await,
        DiagCommand::Faults(args) => faults(args).await,
        DiagCommand::Clear(args) => {
            client(&args.api)?
                .clear(&args.entity, args.code.as_deref())
                .await?;
            let what = args.code.as_deref().unwrap_or("all faults");
            if args.api.json {
                out!(
                    "{}",
                    serde_json::json!({"cleared": what, "entity": args.entity.to_string()})
                )?;
            } else {
                out!("cleared {what} of {}", args.entity)?;
            }
            Ok(())
        }
        DiagCommand::Run(args) => operation(args).await,
        DiagCommand::Lock(args) => lock(args).await,
    }
}

async fn components(args: DiagArgs) -> anyhow::Result<()> {
    let entities = client(&args)?.entities().await?;
    if args.json {
        let list: Vec<Json> = entities
            .iter()
            .map(|(entity, name, tags)| serde_json::json!({"entity": entity.to_string(), "name": name, "tags": tags}))
            .collect();
        out!("{}", Json::Array(list))?;
        return Ok(());
    }
    out!("{:<32} {:<10} NAME", "ENTITY", "KIND")?;
    for (entity, name, tags) in entities {
        out!("{:<32} {:<10} {name}", entity.to_string(), tags.join(","))?;
    }
    Ok(())
}

async fn data(args: DiagDataArgs) -> anyhow::Result<()> {
    let client = client(&args.api)?;
    match &args.data {
        Some(id) => {
            let value = client.get(&format!("/{}/data/{id}", args.entity)).await?;
            if args.api.json {
                out!("{value}")?;
            } else {
                out!("{id} = {}", value["data"])?;
            }
        }
        None => {
            let list = client.get(&format!("/{}/data", args.entity)).await?;
            if args.api.json {
                out!("{list}")?;
                return Ok(());
            }
            for item in list["items"].as_array().into_iter().flatten() {
                out!(
                    "{:<60} {}",
                    item["id"].as_str().unwrap_or_default(),
                    item["category"].as_str().unwrap_or_default()
                )?;
            }
        }
    }
    Ok(())
}

async fn faults(args: DiagFaultsArgs) -> anyhow::Result<()> {
    let client = client(&args.api)?;
    if let (Some(entity), Some(code)) = (&args.entity, &args.code) {
        let fault = client.get(&format!("/{entity}/faults/{code}")).await?;
        if args.api.json {
            out!("{fault}")?;
        } else {
            out!(
                "{}",
                serde_json::to_string_pretty(&fault).context("printing")?
            )?;
        }
        return Ok(());
    }
    let entities = match &args.entity {
        Some(entity) => vec![entity.clone()],
        None => client
            .entities()
            .await?
            .into_iter()
            .map(|(e, _, _)| e)
            .collect(),
    };
    let query = if args.active {
        "status[testFailed]=1"
    } else {
        ""
    };
    let mut rows = Vec::new();
    for entity in entities {
        let list = client.faults(&entity, query).await?;
        for fault in list["items"].as_array().into_iter().flatten() {
            rows.push((entity.clone(), fault.clone()));
        }
    }
    if args.api.json {
        let list: Vec<Json> = rows
            .into_iter()
            .map(|(entity, mut fault)| {
                fault["entity"] = entity.to_string().into();
                fault
            })
            .collect();
        out!("{}", Json::Array(list))?;
        return Ok(());
    }
    if rows.is_empty() {
        out!("no faults stored")?;
        return Ok(());
    }
    out!(
        "{:<28} {:<6} {:<4} {:<7} {:<8} NAME",
        "ENTITY",
        "CODE",
        "SEV",
        "STATUS",
        "STATE"
    )?;
    for (entity, fault) in rows {
        out!(
            "{:<28} {:<6} {:<4} {:<7} {:<8} {}",
            entity.to_string(),
            fault["code"].as_str().unwrap_or_default(),
            fault["severity"].as_u64().unwrap_or_default(),
            fault["status"]["mask"].as_str().unwrap_or_default(),
            fault["status"]["aggregatedStatus"]
                .as_str()
                .unwrap_or_default(),
            fault["fault_name"].as_str().unwrap_or_default()
        )?;
    }
    Ok(())
}

async fn operation(args: DiagRunArgs) -> anyhow::Result<()> {
    let parameters = args
        .parameters
        .as_deref()
        .map(serde_json::from_str::<Json>)
        .transpose()
        .context("--parameters is not JSON")?;
    let status = client(&args.api)?
        .run(
            &args.entity,
            &args.operation,
            parameters,
            Duration::from_secs(args.timeout),
        )
        .await?;
    if args.api.json {
        out!("{status}")?;
    } else {
        out!(
            "{} {} on {}: {}",
            args.operation,
            status["status"].as_str().unwrap_or_default(),
            args.entity,
            status
                .get("parameters")
                .or(status.get("error"))
                .unwrap_or(&Json::Null)
        )?;
    }
    if status["status"] == "failed" {
        anyhow::bail!("the operation failed: {}", status["error"]);
    }
    Ok(())
}

async fn lock(args: DiagLockArgs) -> anyhow::Result<()> {
    let client = client(&args.api)?;
    if let Some(id) = &args.release {
        client.unlock(&args.entity, id).await?;
        out!("released lock {id} of {}", args.entity)?;
        return Ok(());
    }
    let lock = client.lock(&args.entity, args.seconds).await?;
    if args.api.json {
        out!("{lock}")?;
    } else {
        out!(
            "locked {} until {} (lock {}; release with --release {})",
            args.entity,
            lock["lock_expiration"].as_str().unwrap_or_default(),
            lock["id"].as_str().unwrap_or_default(),
            lock["id"].as_str().unwrap_or_default()
        )?;
    }
    Ok(())
}
