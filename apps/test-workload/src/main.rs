//! A workload for the app runtime's tests, run as a real process.
//!
//! It does what a test asks of it, through the Tomoe SDK and the environment the
//! runtime gives a workload (`TOMOE_BROKER`, `TOMOE_TOKEN`, `TOMOE_WORKLOAD`,
//! `TOMOE_RUNTIME`): announce itself, send heartbeats and stop sending them,
//! exit with a chosen code or on SIGTERM, read and publish signals with its
//! token, and show its environment. See README.md beside `src/` for the output
//! lines and exit codes.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tomoe_sdk::{Client, Heartbeat, SdkError, Value};

/// Exit code when the broker refused a read or publish.
const REFUSED: u8 = 3;
/// Exit code when the broker could not be reached or the value not parsed.
const FAILED: u8 = 1;

/// A workload for the app runtime's tests.
#[derive(Debug, Parser)]
#[command(name = "test-workload", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print "started <name> pid <pid>", optionally heartbeat, then exit after a
    /// delay or on SIGTERM
    Run(RunArgs),
    /// Read a signal with TOMOE_TOKEN; print "value=<v>" or "error=<message>"
    Read {
        /// The signal's VSS path
        path: String,
    },
    /// Publish a signal's current value with TOMOE_TOKEN
    Publish {
        /// The signal's VSS path
        path: String,
        /// The value, written as for `tomoe set` (parsed for the leaf's datatype)
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Print the TOMOE_* environment variables, one NAME=VALUE a line, sorted
    Env,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Send a heartbeat to the runtime every N milliseconds
    #[arg(long, value_name = "N")]
    heartbeat_ms: Option<u64>,
    /// Stop sending heartbeats after N milliseconds (and keep running)
    #[arg(long, value_name = "N", requires = "heartbeat_ms")]
    stop_heartbeat_after_ms: Option<u64>,
    /// Exit after N milliseconds (default: run until SIGTERM)
    #[arg(long, value_name = "N")]
    exit_after_ms: Option<u64>,
    /// The exit code for --exit-after-ms
    #[arg(long, value_name = "C", default_value_t = 0)]
    exit_code: u8,
}

#[tokio::main]
async fn main() -> ExitCode {
    match Args::parse().command {
        Command::Run(args) => run(args).await,
        Command::Read { path } => read(&path).await,
        Command::Publish { path, value } => publish(&path, &value).await,
        Command::Env => {
            let mut variables: Vec<(String, String)> = std::env::vars()
                .filter(|(name, _)| name.starts_with("TOMOE_"))
                .collect();
            variables.sort();
            for (name, value) in variables {
                println!("{name}={value}");
            }
            ExitCode::SUCCESS
        }
    }
}

async fn run(args: RunArgs) -> ExitCode {
    // The handler is in place before the announcement, so a test may signal as
    // soon as it reads it.
    let mut terminate = match terminate_signal() {
        Ok(signal) => signal,
        Err(error) => {
            eprintln!("test-workload: cannot handle SIGTERM: {error}");
            return ExitCode::from(FAILED);
        }
    };
    let name = std::env::var("TOMOE_WORKLOAD").unwrap_or_default();
    println!("started {name} pid {}", std::process::id());
    if let Some(every) = args.heartbeat_ms {
        match Heartbeat::from_env() {
            Some(heartbeat) => {
                let stop_after = args.stop_heartbeat_after_ms.map(Duration::from_millis);
                tokio::spawn(beat(heartbeat, Duration::from_millis(every), stop_after));
            }
            None => {
                eprintln!("test-workload: no heartbeats: TOMOE_RUNTIME or TOMOE_WORKLOAD is unset")
            }
        }
    }
    let exit_after = async {
        match args.exit_after_ms {
            Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = terminate.recv() => {
            println!("stopping");
            ExitCode::SUCCESS
        }
        _ = tokio::signal::ctrl_c() => {
            println!("stopping");
            ExitCode::SUCCESS
        }
        _ = exit_after => {
            println!("exiting with code {}", args.exit_code);
            ExitCode::from(args.exit_code)
        }
    }
}

fn terminate_signal() -> std::io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
}

/// Heartbeats every `every`; after `stop_after`, prints "heartbeat stopped" and stops.
async fn beat(heartbeat: Heartbeat, every: Duration, stop_after: Option<Duration>) {
    let started = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(every.max(Duration::from_millis(1)));
    loop {
        ticker.tick().await;
        if stop_after.is_some_and(|after| started.elapsed() >= after) {
            println!("heartbeat stopped");
            return;
        }
        if let Err(error) = heartbeat.beat().await {
            eprintln!("test-workload: {}", chain(&error));
        }
    }
}

async fn read(path: &str) -> ExitCode {
    let mut client = match connect().await {
        Ok(client) => client,
        Err(code) => return code,
    };
    match client.get(path).await {
        Ok(Some(value)) => println!("value={value}"),
        Ok(None) => println!("value=(no value)"),
        Err(error) => return refused(&error),
    }
    ExitCode::SUCCESS
}

async fn publish(path: &str, text: &str) -> ExitCode {
    let mut client = match connect().await {
        Ok(client) => client,
        Err(code) => return code,
    };
    let datatype = match client.datatype(path).await {
        Ok(datatype) => datatype,
        Err(error) => return refused(&error),
    };
    let value = match Value::parse(text, datatype) {
        Ok(value) => value,
        Err(reason) => {
            eprintln!("test-workload: invalid value for \"{path}\": {reason}");
            return ExitCode::from(FAILED);
        }
    };
    match client.publish(path, value.clone()).await {
        Ok(()) => {
            println!("published {path}={value}");
            ExitCode::SUCCESS
        }
        Err(error) => refused(&error),
    }
}

/// Connects as the runtime tells a workload to; on failure, says why on stderr.
async fn connect() -> Result<Client, ExitCode> {
    Client::from_env().await.map_err(|error| {
        eprintln!("test-workload: {}", chain(&error));
        ExitCode::from(FAILED)
    })
}

/// Prints `error=<the broker's message>` and gives the exit code for a refusal.
fn refused(error: &SdkError) -> ExitCode {
    match error {
        SdkError::Refused { message, .. } => println!("error={message}"),
        other => println!("error={other}"),
    }
    ExitCode::from(REFUSED)
}

/// The error and its causes, one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
