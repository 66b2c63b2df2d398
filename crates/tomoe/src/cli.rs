//! Command-line definitions. Parsing only validates; the commands do the IO.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Tomoe: one software platform for the vehicles of many brands.
#[derive(Debug, Parser)]
#[command(name = "tomoe", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole platform on embedded defaults: broker, store and a simulated (or replayed) vehicle
    Up(UpArgs),
    /// Run the signal broker (KUKSA-compatible gRPC, v1 and v2)
    Serve(ServeArgs),
    /// Deploy the workloads of a manifest to the app runtime
    Apply(ApplyArgs),
    /// List the workloads and what they are doing
    Ps(RuntimeArgs),
    /// Show a workload's log
    Logs(LogsArgs),
    /// Start (enable) a workload
    Start(WorkloadArgs),
    /// Stop (disable) a workload
    Stop(WorkloadArgs),
    /// Stop and remove a workload
    Delete(WorkloadArgs),
    /// Show a workload in detail: state, restarts, last exit, health
    Describe(WorkloadArgs),
    /// Read current (or target) values; paths may be branches or patterns
    Get(GetArgs),
    /// Write a current value, or an actuator's target value with --target
    Set(SetArgs),
    /// Ask the actuator's provider to act (KUKSA v2 Actuate; fails without a provider)
    Actuate(ActuateArgs),
    /// Print updates of signals until Ctrl-C
    Subscribe(SubscribeArgs),
    /// List signals and their metadata
    Metadata(MetadataArgs),
    /// Work with CAN data: decode logs, replay them into a broker, record a bus
    #[command(subcommand)]
    Can(CanCommand),
    /// List, show and check vehicle profiles
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Common parts (battery packs, e-axles, chargers): list them, check which fit which vehicle
    #[command(subcommand)]
    Parts(PartsCommand),
    /// Secure over-the-air updates: Uptane repositories, serving them, verifying them
    #[command(subcommand)]
    Ota(crate::ota::OtaCommand),
    /// Diagnostics (ASAM SOVD): components, data, faults, operations, locks
    #[command(subcommand)]
    Diag(crate::diag::DiagCommand),
    /// Badge-engineered variants: list, show and check them
    #[command(subcommand)]
    Variant(crate::variant::VariantCommand),
    /// Service operations on a running vehicle over its diagnostic API: battery-swap
    #[command(subcommand)]
    Service(crate::service::ServiceCommand),
    /// The alliance's fleet backend on PostgreSQL: inventory, campaigns, director, telemetry, simulator
    #[command(subcommand)]
    Fleet(crate::fleet::FleetCommand),
}

/// Options of `tomoe up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Vehicle profile to run: an id from the profiles folder, or a path
    #[arg(long, value_name = "PROFILE", default_value = "hyundai-kona-ev-2019")]
    pub vehicle: String,
    /// Run a variant instead: a badge on a hardware profile, with its apps (an id from
    /// the variants folder, or a path; see `tomoe variant list`)
    #[arg(long, value_name = "VARIANT", conflicts_with = "vehicle")]
    pub variant: Option<String>,
    /// Alliance file or directory: tenants' token keys and private branches
    /// (default: $TOMOE_ALLIANCE, ./alliance, or the shipped demo alliance)
    #[arg(long, value_name = "FILE")]
    pub alliance: Option<PathBuf>,
    /// Replay this candump -L log instead of simulating
    #[arg(long, value_name = "FILE", conflicts_with = "live")]
    pub replay: Option<PathBuf>,
    /// Attach to the real vehicle: the SocketCAN interfaces named by the profile's bus
    /// channels (for example can0), read and written, instead of simulating
    #[arg(long)]
    pub live: bool,
    /// No vehicle at all: only the broker, the state manager and the app runtime
    /// (signals come from clients)
    #[arg(long, conflicts_with_all = ["live", "replay"])]
    pub idle: bool,
    /// Address of the app runtime's API
    #[arg(long, default_value = "127.0.0.1:55556")]
    pub runtime_address: SocketAddr,
    /// Address of the platform's HTTP server: the diagnostic API (SOVD) at /sovd/v1
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http_address: SocketAddr,
    /// Address of the VISS server (v2/v3 over WebSocket and HTTP), or off
    #[arg(long, value_name = "ADDR|off", default_value = "127.0.0.1:8090")]
    pub viss_address: tomoe_viss::Listen,
    /// Time factor: 1 is real time, 10 ten times faster
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Drive cycle the simulator follows, in a loop
    #[arg(long, value_enum, default_value_t = CycleArg::Udds)]
    pub cycle: CycleArg,
    /// State of charge the simulated battery starts at, in percent
    #[arg(long, default_value_t = 80.0)]
    pub soc: f64,
    /// Seconds of vehicle time the simulated driver parks (in Park) after each cycle
    #[arg(long, value_name = "S", default_value_t = tomoe_vehicle::DEFAULT_PARK_S)]
    pub park_s: f64,
    /// Address of the broker's gRPC API
    #[arg(long, default_value = "127.0.0.1:55555")]
    pub address: SocketAddr,
    /// Directory of the embedded database
    #[arg(
        long,
        value_name = "DIR",
        env = "TOMOE_DATA_DIR",
        default_value = ".tomoe"
    )]
    pub data_dir: PathBuf,
    /// Public key (PEM) that verifies client JWTs; without it, loopback clients need no token
    #[arg(long, value_name = "FILE")]
    pub jwt_public_key: Option<PathBuf>,
    /// Run one ECU of a vehicle split across computers: `zonal` (CAN side, no apps)
    /// or `central` (apps, signals imported over Zenoh); needs a Zenoh endpoint
    #[arg(long, value_enum)]
    pub ecu: Option<EcuArg>,
    #[command(flatten)]
    pub zenoh: ZenohArgs,
    #[command(flatten)]
    pub history: HistoryArgs,
    #[command(flatten)]
    pub ota: OtaAgentArgs,
}

/// The part of a vehicle `tomoe up --ecu` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EcuArg {
    /// The CAN side: simulated or real vehicle, feeder, write-back; no apps
    Zonal,
    /// Broker, state manager, runtime and apps, the vehicle's signals imported
    Central,
}

/// Options of the signal history behind VISS's `history` filter (`tomoe serve`, `tomoe up`).
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// History configuration (TOML): retention per pattern in memory and in the store
    #[arg(long = "history", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Also keep the history of these signals in the store, across restarts (24 h or
    /// 1,000,000 samples each; repeatable)
    #[arg(long, value_name = "PATTERN")]
    pub history_durable: Vec<String>,
}

impl HistoryArgs {
    /// The history configuration these options describe.
    pub fn config(&self) -> anyhow::Result<tomoe_history::HistoryConfig> {
        use anyhow::Context;
        tomoe_history::HistoryConfig::load(self.file.as_deref(), &self.history_durable)
            .context("cannot configure the signal history")
    }
}

/// Options of the Zenoh bridge (`tomoe serve`, `tomoe up`).
#[derive(Debug, Args)]
pub struct ZenohArgs {
    /// Listen for other ECUs and vehicles on this Zenoh endpoint (e.g. tcp/127.0.0.1:7447; repeatable)
    #[arg(long, value_name = "ENDPOINT")]
    pub zenoh_listen: Vec<String>,
    /// Connect to this Zenoh endpoint, retrying until it answers (repeatable)
    #[arg(long, value_name = "ENDPOINT")]
    pub zenoh_connect: Vec<String>,
    /// Zenoh role of this instance: peer (the default), client or router
    #[arg(long, value_name = "MODE")]
    pub zenoh_mode: Option<tomoe_zenoh::ZenohMode>,
    /// Bridge file: export and import rules, endpoints (docs/distribution.md)
    #[arg(long, value_name = "FILE")]
    pub zenoh_config: Option<PathBuf>,
    /// The vehicle's id in Zenoh keys (default: the profile's id with --ecu, else
    /// one generated and kept in the data directory)
    #[arg(long, value_name = "ID")]
    pub vehicle_id: Option<String>,
    /// This ECU's name within the vehicle (default: the --ecu role, else "main")
    #[arg(long, value_name = "NAME")]
    pub ecu_name: Option<String>,
    /// Make this ECU the vehicle's gateway to its backend: send the telemetry this
    /// policy selects and serve the backend's commands (JWT-authorized)
    #[arg(long, value_name = "FILE")]
    pub telemetry_policy: Option<PathBuf>,
    /// Allow a non-loopback Zenoh listen endpoint although Zenoh links are neither
    /// authenticated nor encrypted yet (docs/distribution.md, Security)
    #[arg(long)]
    pub insecure_zenoh: bool,
}

impl ZenohArgs {
    /// The options as the bridge library takes them.
    pub fn options(&self) -> tomoe_zenoh::BridgeOptions {
        tomoe_zenoh::BridgeOptions {
            listen: self.zenoh_listen.clone(),
            connect: self.zenoh_connect.clone(),
            mode: self.zenoh_mode,
            file: self.zenoh_config.clone(),
            vehicle_id: self.vehicle_id.clone(),
            ecu_name: self.ecu_name.clone(),
            insecure: self.insecure_zenoh,
        }
    }
}

/// Options of the update agent inside `tomoe up`: give all five of director,
/// image, VIN and the two roots, or none.
#[derive(Debug, Args)]
pub struct OtaAgentArgs {
    /// Update the vehicle's apps over the air from this director; the vehicle's
    /// repository is <URL>/<VIN>/
    #[arg(
        long,
        value_name = "URL",
        requires_all = ["ota_image", "vin", "ota_root_director", "ota_root_image"]
    )]
    pub ota_director: Option<String>,
    /// URL of the OTA image repository
    #[arg(long, value_name = "URL", requires = "ota_director")]
    pub ota_image: Option<String>,
    /// The vehicle's identification number, which selects its director repository
    #[arg(long, requires = "ota_director")]
    pub vin: Option<String>,
    /// The director's root metadata, trusted out of band
    #[arg(long, value_name = "FILE", requires = "ota_director")]
    pub ota_root_director: Option<PathBuf>,
    /// The image repository's root metadata, trusted out of band
    #[arg(long, value_name = "FILE", requires = "ota_director")]
    pub ota_root_image: Option<PathBuf>,
    /// How often the update agent asks the director, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..))]
    pub ota_interval_ms: u64,
    /// How long a newly installed app has to run healthy before it is committed, in
    /// milliseconds; otherwise it is rolled back
    #[arg(long, value_name = "MS", default_value_t = 10000, value_parser = clap::value_parser!(u64).range(100..))]
    pub ota_health_window_ms: u64,
}

/// How runtime commands reach the app runtime.
#[derive(Debug, Args)]
pub struct RuntimeArgs {
    /// Runtime API URL
    #[arg(long, env = "TOMOE_RUNTIME", default_value = "http://127.0.0.1:55556")]
    pub runtime: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `tomoe apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Manifest file (YAML)
    pub file: PathBuf,
}

/// Options of commands about one workload.
#[derive(Debug, Args)]
pub struct WorkloadArgs {
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Workload name
    pub name: String,
}

/// Options of `tomoe logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Workload name
    pub name: String,
    /// Keep printing what the workload writes, until Ctrl-C
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
}

/// A standard drive cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CycleArg {
    /// EPA Urban Dynamometer Driving Schedule (city, 1369 s)
    Udds,
    /// EPA Highway Fuel Economy Test (765 s)
    Hwfet,
    /// EPA US06 (aggressive, 600 s)
    Us06,
    /// WLTC class 3b (1800 s)
    Wltc,
}

/// `tomoe can ...`
#[derive(Debug, Subcommand)]
pub enum CanCommand {
    /// Decode a candump log with a DBC: one JSON object per decoded frame
    Decode(CanDecodeArgs),
    /// Replay a log through a vehicle profile into a broker (embedded, or --broker)
    Replay(Box<CanReplayArgs>),
    /// Record a live SocketCAN interface to a candump -L log until Ctrl-C
    Record(CanRecordArgs),
}

/// Options of `tomoe can decode`.
#[derive(Debug, Args)]
pub struct CanDecodeArgs {
    /// DBC file
    #[arg(long, value_name = "FILE")]
    pub dbc: PathBuf,
    /// candump -L log
    #[arg(long, value_name = "FILE")]
    pub log: PathBuf,
    /// Only frames of this channel (for example can0)
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
}

/// Options of `tomoe can replay`.
#[derive(Debug, Args)]
pub struct CanReplayArgs {
    /// Vehicle profile: an id from the profiles folder, or a path
    #[arg(long, value_name = "PROFILE")]
    pub profile: String,
    /// candump -L log; the profile's own log when absent
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Playback speed: 1 is real time, 2 twice as fast, 0 as fast as possible
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Start over at the end of the log
    #[arg(long = "loop")]
    pub looped: bool,
    /// Publish into the broker at this URL instead of an embedded one
    #[arg(long, value_name = "URL")]
    pub broker: Option<String>,
    /// JWT for --broker (needs provide scope for the mapped signals)
    #[arg(long, env = "TOMOE_TOKEN", hide_env_values = true, requires = "broker")]
    pub token: Option<String>,
    /// Print counters as JSON at the end
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub embedded: ServeArgs,
}

/// Options of `tomoe can record`.
#[derive(Debug, Args)]
pub struct CanRecordArgs {
    /// SocketCAN interface, for example can0
    #[arg(long, value_name = "NAME")]
    pub interface: String,
    /// Output candump -L log
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Stop after this many seconds
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
}

/// `tomoe profile ...`
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List the vehicle profiles
    List(ProfileListArgs),
    /// Show a profile: vehicle, buses and every mapped signal
    Show(ProfileArgs),
    /// Check a profile's mappings against its DBCs and the VSS catalog
    Check(ProfileArgs),
}

/// Options of `tomoe profile list`.
#[derive(Debug, Args)]
pub struct ProfileListArgs {
    /// Profiles folder (default: $TOMOE_PROFILES, ./profiles, or the shipped one)
    #[arg(long, value_name = "DIR")]
    pub profiles: Option<PathBuf>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `tomoe profile show|check`.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Profile id or path
    pub profile: String,
    /// Profiles folder (default: $TOMOE_PROFILES, ./profiles, or the shipped one)
    #[arg(long, value_name = "DIR")]
    pub profiles: Option<PathBuf>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `tomoe parts ...`
#[derive(Debug, Subcommand)]
pub enum PartsCommand {
    /// List the parts catalog with each part's key figures
    List(PartsListArgs),
    /// Check whether a part fits a vehicle, with every check (exit 1 if it does not fit)
    Check(PartsCheckArgs),
    /// Which part fits which vehicle: a row per part, a column per vehicle
    Matrix(PartsMatrixArgs),
}

/// A kind of part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PartKindArg {
    /// Traction battery packs
    #[value(alias = "battery-pack")]
    Battery,
    /// Drive units (motor, inverter, gear)
    EAxle,
    /// Charging equipment
    Charger,
}

/// Options of `tomoe parts list`.
#[derive(Debug, Args)]
pub struct PartsListArgs {
    /// Only parts of this kind
    #[arg(long, value_enum)]
    pub kind: Option<PartKindArg>,
    /// Parts catalog folder (default: $TOMOE_PARTS, ./parts, or the shipped one)
    #[arg(long, value_name = "DIR")]
    pub parts: Option<PathBuf>,
    /// Print JSON (quantities in SI units: V, A, W, Wh, Ah, ohm, kg, m, m^2, N*m, rad/s, degC)
    #[arg(long)]
    pub json: bool,
}

/// Options of `tomoe parts check`.
#[derive(Debug, Args)]
pub struct PartsCheckArgs {
    /// Vehicle profile: an id from the profiles folder, or a path
    #[arg(long, value_name = "PROFILE")]
    pub vehicle: String,
    /// Part id from the catalog
    #[arg(long, value_name = "PART")]
    pub part: String,
    /// Parts catalog folder (default: $TOMOE_PARTS, ./parts, or the shipped one)
    #[arg(long, value_name = "DIR")]
    pub parts: Option<PathBuf>,
    /// Profiles folder (default: $TOMOE_PROFILES, ./profiles, or the shipped one)
    #[arg(long, value_name = "DIR")]
    pub profiles: Option<PathBuf>,
    /// Print JSON: every check with its outcome
    #[arg(long)]
    pub json: bool,
}

/// Options of `tomoe parts matrix`.
#[derive(Debug, Args)]
pub struct PartsMatrixArgs {
    /// Only parts of this kind (default: one table per kind)
    #[arg(long, value_enum)]
    pub kind: Option<PartKindArg>,
    /// Parts catalog folder (default: $TOMOE_PARTS, ./parts, or the shipped one)
    #[arg(long, value_name = "DIR")]
    pub parts: Option<PathBuf>,
    /// Profiles folder (default: $TOMOE_PROFILES, ./profiles, or the shipped one)
    #[arg(long, value_name = "DIR")]
    pub profiles: Option<PathBuf>,
    /// Print JSON: every cell with every check
    #[arg(long)]
    pub json: bool,
}

/// How client commands reach the broker.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Broker URL (https:// for TLS)
    #[arg(long, env = "TOMOE_BROKER", default_value = "http://127.0.0.1:55555")]
    pub broker: String,
    /// JWT bearer token to present to the broker
    #[arg(long, env = "TOMOE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) to verify the broker's TLS certificate
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Print machine-readable JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// Options of `tomoe serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:55555")]
    pub address: SocketAddr,
    /// Address of a VISS server (v2/v3 over WebSocket and HTTP); none unless given
    #[arg(long, value_name = "ADDR")]
    pub viss_address: Option<SocketAddr>,
    /// VSS catalog (release JSON); the embedded VSS 5.1 catalog when absent
    #[arg(long, value_name = "FILE")]
    pub vss: Option<PathBuf>,
    /// Overlay applied on top of the catalog, in order (.json, or .vspec YAML)
    #[arg(long, value_name = "FILE")]
    pub overlay: Vec<PathBuf>,
    /// Directory of the embedded database (attribute values, actuator targets)
    #[arg(
        long,
        value_name = "DIR",
        env = "TOMOE_DATA_DIR",
        default_value = ".tomoe"
    )]
    pub data_dir: PathBuf,
    /// Also persist current values of the signals this pattern selects (repeatable)
    #[arg(long, value_name = "PATTERN")]
    pub persist: Vec<String>,
    /// Public key (PEM: RSA, EC or Ed25519) that verifies client JWTs
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub jwt_public_key: Option<PathBuf>,
    /// Accept every client without a token (development only)
    #[arg(long)]
    pub insecure: bool,
    /// Alliance file (or its directory): each tenant's token keys are trusted for that
    /// tenant, and its private VSS branch is served and walled off from other tenants
    #[arg(long, value_name = "FILE")]
    pub alliance: Option<PathBuf>,
    /// TLS certificate chain (PEM); needs --tls-key
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); needs --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub zenoh: ZenohArgs,
    #[command(flatten)]
    pub history: HistoryArgs,
}

impl ServeArgs {
    /// The catalog of `--vss`, `--overlay` and `--alliance`.
    pub fn catalog(&self) -> anyhow::Result<tomoe_vss::Catalog> {
        let alliance = self
            .alliance
            .as_deref()
            .map(crate::serve::load_alliance)
            .transpose()?;
        crate::serve::load_catalog(self.vss.as_deref(), &self.overlay, alliance.as_ref())
    }

    /// The broker setup these options describe, serving `catalog`. Authorization is
    /// required: `--jwt-public-key`, or `--insecure` explicitly.
    pub fn setup(&self, catalog: tomoe_vss::Catalog) -> anyhow::Result<crate::serve::BrokerSetup> {
        use anyhow::Context;
        use tomoe_grpc::Authorization;
        let alliance = self
            .alliance
            .as_deref()
            .map(crate::serve::load_alliance)
            .transpose()?;
        let authorization = match (&self.jwt_public_key, self.insecure, &alliance) {
            (_, false, Some(alliance)) => {
                let mut verifiers = crate::serve::tenant_verifiers(alliance)?;
                if let Some(key) = &self.jwt_public_key {
                    verifiers.push(crate::serve::verifier(key)?);
                }
                Authorization::Tokens(tomoe_grpc::TokenPolicy {
                    verifiers,
                    anonymous: tomoe_grpc::AnonymousAccess::Refused,
                })
            }
            (Some(key), _, _) => Authorization::Jwt(crate::serve::verifier(key)?),
            (None, true, _) => Authorization::AllowAll,
            (None, false, None) => anyhow::bail!(
                "refusing to start without authorization: give --jwt-public-key FILE (or --alliance FILE), or --insecure to accept every client"
            ),
        };
        let persist = self
            .persist
            .iter()
            .map(|p| tomoe_vss::PathPattern::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .context("invalid --persist pattern")?;
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(certificate), Some(key)) => Some(crate::serve::tls_files(certificate, key)?),
            _ => None,
        };
        let zenoh = self.zenoh.options().resolve(&self.data_dir, None, None)?;
        let telemetry =
            crate::serve::telemetry_policy(self.zenoh.telemetry_policy.as_deref(), zenoh.as_ref())?;
        Ok(crate::serve::BrokerSetup {
            address: self.address,
            viss: self.viss_address,
            history: self.history.config()?,
            observer: None,
            catalog,
            data_dir: self.data_dir.clone(),
            persist,
            authorization,
            tls,
            zenoh,
            telemetry,
            private_branches: alliance
                .as_ref()
                .map(tomoe_alliance::Alliance::private_branches)
                .unwrap_or_default(),
        })
    }
}

/// Options of `tomoe get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Signal paths, branches (`Vehicle.Cabin`) or patterns (`Vehicle.*.IsOpen`)
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// Read actuator target values instead of current values
    #[arg(long)]
    pub target: bool,
}

/// Options of `tomoe set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Signal path
    pub path: String,
    /// New value; arrays as JSON (`[1, 2]`)
    pub value: String,
    /// Set the actuator's target value (stored, and forwarded to its provider if one is connected)
    #[arg(long)]
    pub target: bool,
}

/// Options of `tomoe actuate`.
#[derive(Debug, Args)]
pub struct ActuateArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Actuator path
    pub path: String,
    /// Requested value; arrays as JSON (`[1, 2]`)
    pub value: String,
}

/// Options of `tomoe subscribe`.
#[derive(Debug, Args)]
pub struct SubscribeArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Signal paths, branches or patterns
    #[arg(required = true)]
    pub paths: Vec<String>,
}

/// Options of `tomoe metadata`.
#[derive(Debug, Args)]
pub struct MetadataArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Path, branch or pattern; every signal when absent
    pub pattern: Option<String>,
}
