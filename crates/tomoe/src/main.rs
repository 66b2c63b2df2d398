//! `tomoe`: the command line of the Tomoe vehicle platform.
//!
//! This crate is glue: it parses arguments, wires the library crates together and
//! prints results. See `ARCHITECTURE.md` for where the real work happens.

/// Writes a line to standard output and returns the IO result, so that a closed
/// pipe (`tomoe metadata | head`) ends the command quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// Prints `value` as one line of JSON with `--json`, else `text`.
fn report(
    json: bool,
    value: serde_json::Value,
    text: impl std::fmt::Display,
) -> std::io::Result<()> {
    if json {
        out!("{value}")
    } else {
        out!("{text}")
    }
}

mod can;
mod cli;
mod client;
mod diag;
mod fleet;
mod ota;
mod parts;
mod profile;
mod runtime;
mod serve;
mod service;
mod up;
mod variant;

use std::process::ExitCode;

use clap::Parser;
use tomoe_runtime::client::Action;

use crate::cli::{CanCommand, Cli, Command, PartsCommand, ProfileCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tomoe_store::quiet_redb_panics();
    let default_level = match cli.command {
        Command::Serve(_)
        | Command::Can(CanCommand::Replay(_))
        | Command::Ota(ota::OtaCommand::Serve(_)) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TOMOE_LOG")
                .unwrap_or_else(|_| default_level.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::Serve(args) => match args.catalog().and_then(|catalog| args.setup(catalog)) {
            Ok(setup) => serve::run(setup).await,
            Err(error) => Err(error),
        },
        Command::Apply(args) => runtime::apply(args).await,
        Command::Ps(args) => runtime::ps(args).await,
        Command::Logs(args) => runtime::logs(args).await,
        Command::Start(args) => runtime::act(args, Action::Start).await,
        Command::Stop(args) => runtime::act(args, Action::Stop).await,
        Command::Delete(args) => runtime::act(args, Action::Delete).await,
        Command::Describe(args) => runtime::describe(args).await,
        Command::Get(args) => client::get(args).await,
        Command::Set(args) => client::set(args).await,
        Command::Actuate(args) => client::actuate(args).await,
        Command::Subscribe(args) => client::subscribe(args).await,
        Command::Metadata(args) => client::metadata(args).await,
        Command::Can(CanCommand::Decode(args)) => can::decode(args),
        Command::Can(CanCommand::Replay(args)) => can::replay(*args).await,
        Command::Can(CanCommand::Record(args)) => can::record(args).await,
        Command::Profile(ProfileCommand::List(args)) => profile::list(args),
        Command::Profile(ProfileCommand::Show(args)) => profile::show(args),
        Command::Profile(ProfileCommand::Check(args)) => profile::check(args),
        Command::Parts(PartsCommand::List(args)) => parts::list(args),
        Command::Parts(PartsCommand::Check(args)) => parts::check(args),
        Command::Parts(PartsCommand::Matrix(args)) => parts::matrix(args),
        Command::Ota(command) => ota::run(command).await,
        Command::Diag(command) => diag::run(command).await,
        Command::Service(command) => service::run(command).await,
        Command::Variant(command) => variant::run(command),
        Command::Fleet(command) => fleet::run(command).await,
    }
}

/// Whether the error comes from writing to a closed pipe (`tomoe subscribe | head`).
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
