//! `tomoe ota`: Uptane repositories (image and director), an HTTP server for
//! them, and a full verification run against a served pair, as a primary ECU
//! would do it.
//!
//! A repository directory made by `tomoe ota repo init` holds the TUF metadata at
//! its top, the images under `targets/` (image repository only), and the signing
//! keys under `keys/` with `keys/repository.json` (its kind and metadata
//! lifetime). `tomoe ota serve` never serves `keys/`.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tomoe_ota::metadata::RoleName;
use tomoe_ota::{
    read_key, ApprovedImage, Ecu, HttpFetcher, Limits, PlannedInstall, Primary, RepositoryDir,
    RepositoryKind, TargetSpec,
};

/// The commands of `tomoe ota`.
#[derive(Debug, Subcommand)]
pub enum OtaCommand {
    /// Create and maintain image and director repositories
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Serve an image repository and the director's per-vehicle repositories over HTTP
    Serve(OtaServeArgs),
    /// Verify a served director and image repository as a vehicle's primary would
    Check(OtaCheckArgs),
}

/// The commands of `tomoe ota repo`.
#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Create a repository with fresh Ed25519 keys (one per role)
    Init(RepoInitArgs),
    /// Add (or replace) a target and publish new targets, snapshot and timestamp
    Add(RepoAddArgs),
    /// Delegate target paths to a tenant's role, signed by the tenant's own key
    Delegate(RepoDelegateArgs),
    /// Re-sign snapshot and timestamp with fresh expiry dates
    Sign(RepoDirArgs),
    /// Replace a role's key: a new root version signed by the old and new root keys
    Rotate(RepoRotateArgs),
}

/// Options of `tomoe ota repo init`.
#[derive(Debug, Args)]
pub struct RepoInitArgs {
    /// Directory of the new repository (for a director: one per vehicle, `<director>/<VIN>`)
    pub dir: PathBuf,
    /// Make a director repository, whose targets assign images to ECUs
    #[arg(long)]
    pub director: bool,
    /// How long every metadata file stays valid, in days [default: root 365, targets
    /// 90, snapshot 7, timestamp 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub expires_days: Option<u64>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `tomoe ota repo add`.
#[derive(Debug, Args)]
pub struct RepoAddArgs {
    /// The repository directory
    pub dir: PathBuf,
    /// The image file
    pub file: PathBuf,
    /// Target name [default: the file name]
    #[arg(long)]
    pub name: Option<String>,
    /// The ECU the director assigns the image to (director repositories)
    #[arg(long, value_name = "ID", requires_all = ["hardware_id", "release_counter"])]
    pub ecu: Option<String>,
    /// The hardware the image is built for
    #[arg(long, value_name = "HW", requires = "release_counter")]
    pub hardware_id: Option<String>,
    /// The image's release counter (rises with security-relevant releases)
    #[arg(long, value_name = "N", requires = "hardware_id")]
    pub release_counter: Option<u64>,
    /// Add the target to this delegated role (see `repo delegate`), signed by the
    /// role's key instead of the top-level targets key
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// The role's private key (PKCS#8 PEM) [default: keys/delegated/<ROLE>.pem]
    #[arg(long, value_name = "FILE", requires = "role")]
    pub key: Option<PathBuf>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `tomoe ota repo delegate`.
#[derive(Debug, Args)]
pub struct RepoDelegateArgs {
    /// The image repository directory
    pub dir: PathBuf,
    /// The new role's name, such as the tenant (brand) `honda`
    #[arg(long, value_name = "ROLE")]
    pub role: String,
    /// Target paths the role may sign (shell-style; `*` stays within one path part),
    /// such as 'apps/honda/*' (repeatable)
    #[arg(long = "paths", value_name = "PATTERN", required = true)]
    pub paths: Vec<String>,
    /// How many of the role's keys must sign
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub threshold: u32,
    /// The tenant's key (PKCS#8 PEM; only its public half is recorded, the file is not copied)
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "generate",
        required_unless_present = "generate"
    )]
    pub key: Option<PathBuf>,
    /// Make a fresh key for the role, saved as keys/delegated/<ROLE>.pem
    #[arg(long)]
    pub generate: bool,
    /// Whether a vehicle's search for these paths stops at this role
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub terminating: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of commands taking only a repository directory.
#[derive(Debug, Args)]
pub struct RepoDirArgs {
    /// The repository directory
    pub dir: PathBuf,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `tomoe ota repo rotate`.
#[derive(Debug, Args)]
pub struct RepoRotateArgs {
    /// The repository directory
    pub dir: PathBuf,
    /// The role whose key is replaced
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// A top-level TUF role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Signs the keys of every role
    Root,
    /// Signs the list of targets
    Targets,
    /// Signs the versions of targets metadata
    Snapshot,
    /// Signs the current snapshot
    Timestamp,
}

impl RoleArg {
    fn role(self) -> RoleName {
        match self {
            RoleArg::Root => RoleName::Root,
            RoleArg::Targets => RoleName::Targets,
            RoleArg::Snapshot => RoleName::Snapshot,
            RoleArg::Timestamp => RoleName::Timestamp,
        }
    }
}

/// Options of `tomoe ota serve`.
#[derive(Debug, Args)]
pub struct OtaServeArgs {
    /// The image repository directory, served under /image/
    #[arg(long, value_name = "DIR")]
    pub image: PathBuf,
    /// The director directory: one repository per VIN, served under /director/<VIN>/
    #[arg(long, value_name = "DIR")]
    pub director: PathBuf,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:55557")]
    pub address: SocketAddr,
}

/// Options of `tomoe ota check`.
#[derive(Debug, Args)]
pub struct OtaCheckArgs {
    /// URL of the image repository, such as http://127.0.0.1:55557/image
    #[arg(long, value_name = "URL")]
    pub image: String,
    /// URL of the director; the vehicle's repository is <URL>/<VIN>/
    #[arg(long, value_name = "URL")]
    pub director: String,
    /// The vehicle
    #[arg(long)]
    pub vin: String,
    /// An ECU of the vehicle, as its identifier and hardware id (repeatable)
    #[arg(long = "ecu", value_name = "ID:HW", required = true, value_parser = clap::value_parser!(Ecu))]
    pub ecus: Vec<Ecu>,
    /// The image repository's root metadata, trusted out of band
    #[arg(long, value_name = "FILE")]
    pub root_image: PathBuf,
    /// The director's root metadata, trusted out of band
    #[arg(long, value_name = "FILE")]
    pub root_director: PathBuf,
    /// Keep the trusted metadata here between runs, so that a later check refuses
    /// anything older than what an earlier one accepted (rollback protection)
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Check expiry at this time instead of now (RFC 3339, e.g. 2027-01-15T08:00:00Z)
    #[arg(long, value_name = "TIME", value_parser = humantime::parse_rfc3339_weak)]
    pub now: Option<SystemTime>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs an OTA command.
pub async fn run(command: OtaCommand) -> anyhow::Result<()> {
    match command {
        OtaCommand::Repo(RepoCommand::Init(args)) => init(args),
        OtaCommand::Repo(RepoCommand::Add(args)) => add(args),
        OtaCommand::Repo(RepoCommand::Delegate(args)) => delegate(args),
        OtaCommand::Repo(RepoCommand::Sign(args)) => sign(args),
        OtaCommand::Repo(RepoCommand::Rotate(args)) => rotate(args),
        OtaCommand::Serve(args) => serve(args).await,
        OtaCommand::Check(args) => tokio::task::spawn_blocking(move || check(args))
            .await
            .context("the check stopped")?,
    }
}

fn init(args: RepoInitArgs) -> anyhow::Result<()> {
    let kind = if args.director {
        RepositoryKind::Director
    } else {
        RepositoryKind::Image
    };
    let made = RepositoryDir::init(&args.dir, kind, args.expires_days, SystemTime::now())?;
    let root_key_ids: Vec<String> = made.repository().root().signed.roles[&RoleName::Root]
        .keyids
        .iter()
        .map(|id| id.to_string())
        .collect();
    let role_keys: serde_json::Map<String, serde_json::Value> = (made.key_ids().into_iter())
        .map(|(role, id)| (role.to_string(), id.to_string().into()))
        .collect();
    let ids: String = root_key_ids
        .iter()
        .map(|id| format!("\nroot key id {id}"))
        .collect();
    crate::report(
        args.json,
        serde_json::json!({"dir": args.dir, "kind": kind.as_str(), "root_key_ids": root_key_ids, "keys": role_keys}),
        format_args!(
            "created {} repository in {}{ids}\nsigning keys in {} (keep them private; `tomoe ota serve` never serves them)",
            kind.as_str(),
            args.dir.display(),
            made.keys_dir().display()
        ),
    )?;
    Ok(())
}

fn add(args: RepoAddArgs) -> anyhow::Result<()> {
    let mut repository = RepositoryDir::open(&args.dir)?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => args
            .file
            .file_name()
            .and_then(|name| name.to_str())
            .context("the file has no usable name; give --name")?
            .to_string(),
    };
    let bytes =
        fs::read(&args.file).with_context(|| format!("cannot read \"{}\"", args.file.display()))?;
    let spec = TargetSpec {
        ecu: args.ecu.clone(),
        uptane: args.hardware_id.clone().zip(args.release_counter),
    };
    let key = args.key.as_deref().map(read_key).transpose()?;
    let role = args.role.as_deref();
    let (target, role, version) =
        repository.add_as(role, key, &name, &bytes, &spec, SystemTime::now())?;
    let sha256 = target.hashes.get("sha256").cloned().unwrap_or_default();
    crate::report(
        args.json,
        serde_json::json!({"name": name, "length": target.length, "sha256": sha256, "custom": target.custom, "role": role, "targets_version": version}),
        format_args!(
            "added {name} ({} bytes, sha256 {sha256}); {role} version {version}",
            target.length
        ),
    )?;
    Ok(())
}

fn delegate(args: RepoDelegateArgs) -> anyhow::Result<()> {
    let mut repository = RepositoryDir::open(&args.dir)?;
    let key = args.key.as_deref().map(read_key).transpose()?;
    let (role, paths) = (&args.role, args.paths.join(", "));
    let now = SystemTime::now();
    let key_id = repository.delegate(
        role,
        args.paths.clone(),
        args.threshold,
        key.as_ref(),
        args.terminating,
        now,
    )?;
    let version = repository.repository().targets().signed.version;
    let (threshold, terminating) = (args.threshold, args.terminating);
    crate::report(
        args.json,
        serde_json::json!({"role": role, "paths": args.paths, "threshold": threshold, "terminating": terminating, "key_id": key_id.to_string(), "targets_version": version}),
        format_args!("delegated {paths} to role {role} (key id {key_id}, threshold {threshold}, terminating {terminating}); targets version {version}"),
    )?;
    Ok(())
}

fn sign(args: RepoDirArgs) -> anyhow::Result<()> {
    let mut repository = RepositoryDir::open(&args.dir)?;
    repository.sign(SystemTime::now())?;
    let snapshot = &repository.repository().snapshot().signed;
    let timestamp = &repository.repository().timestamp().signed;
    let (s, t) = (snapshot, timestamp);
    crate::report(
        args.json,
        serde_json::json!({
            "snapshot": {"version": s.version, "expires": s.expires.to_string()},
            "timestamp": {"version": t.version, "expires": t.expires.to_string()},
        }),
        format_args!(
            "signed snapshot version {} (expires {}) and timestamp version {} (expires {})",
            s.version, s.expires, t.version, t.expires
        ),
    )?;
    Ok(())
}

fn rotate(args: RepoRotateArgs) -> anyhow::Result<()> {
    let role = args.role.role();
    let mut repository = RepositoryDir::open(&args.dir)?;
    let rotation = repository.rotate(role, SystemTime::now())?;
    let root_version = repository.repository().root().signed.version;
    let (old, new) = (rotation.old.to_string(), rotation.new.to_string());
    crate::report(
        args.json,
        serde_json::json!({"role": role.to_string(), "old_key_id": old, "new_key_id": new, "root_version": root_version}),
        format_args!(
            "rotated the {role} key: {old} -> {new}\nroot version {root_version}, signed by the old and the new root keys; old key kept in {}",
            rotation.retired.display()
        ),
    )?;
    Ok(())
}

async fn serve(args: OtaServeArgs) -> anyhow::Result<()> {
    for (what, dir) in [("image", &args.image), ("director", &args.director)] {
        if !dir.is_dir() {
            bail!("the {what} directory \"{}\" does not exist", dir.display());
        }
    }
    let listener = tokio::net::TcpListener::bind(args.address)
        .await
        .with_context(|| format!("cannot listen on {}", args.address))?;
    let address = listener.local_addr()?;
    let router = tomoe_ota::server::ota_router(&args.image, &args.director);
    out!(
        "tomoe ota serving http://{address} (image {}, director {})",
        args.image.display(),
        args.director.display()
    )?;
    axum::serve(listener, router)
        .with_graceful_shutdown(crate::serve::shutdown_signal())
        .await
        .context("the OTA server failed")
}

fn check(args: OtaCheckArgs) -> anyhow::Result<()> {
    match verify(&args) {
        Ok(planned) => {
            if args.json {
                out!(
                    "{}",
                    serde_json::json!({"vin": args.vin, "status": "ok", "install": planned})
                )?;
            } else if planned.is_empty() {
                out!("verified: nothing to install on {}", args.vin)?;
            } else {
                for image in &planned {
                    out!("verified: would install {image}")?;
                }
            }
            Ok(())
        }
        Err(error) => {
            if args.json {
                out!(
                    "{}",
                    serde_json::json!({"vin": args.vin, "status": "refused", "reason": format!("{error:#}")})
                )?;
            }
            Err(error.context("update refused"))
        }
    }
}

/// Verifies the director and the image repository for the vehicle, then streams
/// and checks every image the director assigns: what the primary would install.
fn verify(args: &OtaCheckArgs) -> anyhow::Result<Vec<PlannedInstall>> {
    let read = |path: &Path| {
        fs::read(path).with_context(|| format!("cannot read the root \"{}\"", path.display()))
    };
    let director_root = read(&args.root_director)?;
    let image_root = read(&args.root_image)?;
    let limits = Limits::default();
    let mut primary = Primary::open(
        &args.vin,
        args.ecus.clone(),
        &director_root,
        &image_root,
        limits,
        args.state_dir.as_deref(),
    )?;
    let director_url = format!("{}/{}/", args.director.trim_end_matches('/'), args.vin);
    let director = HttpFetcher::new(&director_url)?;
    let image = HttpFetcher::new(&args.image)?;
    let mut bars = Vec::new();
    let now = args.now.unwrap_or_else(SystemTime::now);
    let checked = primary.check_and_download(&director, &image, now, |one| {
        let progress = progress_bar(one, args.json);
        bars.push(progress.clone());
        progress.wrap_write(io::sink())
    });
    bars.iter().for_each(ProgressBar::finish_and_clear);
    let checked = checked?;
    if let Some(dir) = &args.state_dir {
        primary.save(dir)?;
    }
    Ok(checked.iter().map(PlannedInstall::from).collect())
}

/// A download progress bar on standard error, hidden for JSON output and when
/// standard error is not a terminal.
fn progress_bar(image: &ApprovedImage, json: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(image.file.length),
        if json {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(image.target.clone());
    bar
}
