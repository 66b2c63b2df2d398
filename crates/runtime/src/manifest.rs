//! Manifests: the declared workloads, parsed and validated as a whole.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};
use tomoe_types::VehicleMode;
use tomoe_vss::PathPattern;

/// The manifest format version this runtime reads.
pub const API_VERSION: &str = "tomoe.dev/v1";

/// A manifest file: the workloads to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// Format version; must be [`API_VERSION`].
    pub api_version: String,
    /// Optional kind marker (`Manifest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The workloads.
    pub workloads: Vec<Workload>,
}

/// One vehicle app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Workload {
    /// Unique name: lowercase letters, digits and `-`.
    pub name: String,
    /// How it runs: a native process (default) or an OCI container.
    #[serde(default)]
    pub runtime: RuntimeKind,
    /// Executable (native) or image (podman).
    pub command: String,
    /// Arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory (native), relative to the runtime's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// What happens when it exits.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// Workloads that must reach a condition before this one starts.
    #[serde(default)]
    pub depends_on: Vec<Dependency>,
    /// Vehicle modes in which it may run; empty means every mode. Written in lowercase
    /// (`parked`); read ignoring case.
    #[serde(default, serialize_with = "mode_names::serialize")]
    pub modes: Vec<VehicleMode>,
    /// Health supervision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Resource limits (cgroup v2, where available).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// The VSS paths it may use.
    #[serde(default)]
    pub access: Access,
    /// The tenant the app belongs to (the one that signed its image): its broker
    /// token is that tenant's, so it reaches that tenant's private VSS branch and
    /// no other. Absent: the token names no tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<tomoe_types::Tenant>,
}

/// How a workload runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// A process started directly.
    #[default]
    Native,
    /// A container started with podman (where installed).
    Podman,
}

/// Restart behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RestartPolicy {
    /// `never`, `on-failure` or `always`.
    pub policy: RestartWhen,
    /// First delay before a restart, in milliseconds; doubles on each failure.
    pub initial_backoff_ms: u64,
    /// Longest delay between restarts, in milliseconds.
    pub max_backoff_ms: u64,
    /// Consecutive failed runs after which the workload is marked crash-looping and left stopped.
    pub crash_loop_limit: u32,
    /// A run this long (milliseconds) counts as healthy and resets the failure count.
    pub stable_after_ms: u64,
}

impl Default for RestartPolicy {
    fn default() -> RestartPolicy {
        RestartPolicy {
            policy: RestartWhen::OnFailure,
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
            crash_loop_limit: 5,
            stable_after_ms: 10_000,
        }
    }
}

/// When to restart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartWhen {
    /// Never restart.
    Never,
    /// Restart after a non-zero exit, a signal or a failed health check.
    #[default]
    OnFailure,
    /// Restart after any exit.
    Always,
}

/// A dependency on another workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dependency {
    /// The other workload.
    pub workload: String,
    /// What it must have reached.
    #[serde(default)]
    pub condition: Condition,
}

/// A dependency's condition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    /// Running (and healthy, if it has a health check).
    #[default]
    Running,
    /// Exited with code 0.
    Succeeded,
    /// Exited with a failure.
    Failed,
}

/// Health supervision: exactly one probe, a deadline and an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Health {
    /// The workload sends heartbeats (through the SDK) at least this often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HeartbeatProbe>,
    /// A command whose exit code 0 means healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecProbe>,
    /// An HTTP URL whose 2xx answer means healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpProbe>,
    /// Time after start before the first check counts, in milliseconds.
    #[serde(default = "default_grace")]
    pub startup_grace_ms: u64,
    /// What to do when the workload is unhealthy.
    #[serde(default)]
    pub on_failure: HealthAction,
}

fn default_grace() -> u64 {
    2_000
}

/// Heartbeat supervision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeartbeatProbe {
    /// Longest silence, in milliseconds, before the workload counts as hung.
    pub deadline_ms: u64,
}

/// A command probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecProbe {
    /// Program and arguments.
    pub command: Vec<String>,
    /// Milliseconds between checks.
    pub interval_ms: u64,
    /// Milliseconds a check may take.
    pub timeout_ms: u64,
}

/// An HTTP probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpProbe {
    /// `http://host:port/path` on this machine.
    pub url: String,
    /// Milliseconds between checks.
    pub interval_ms: u64,
    /// Milliseconds a check may take.
    pub timeout_ms: u64,
}

/// What to do with an unhealthy workload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthAction {
    /// Kill it; the restart policy decides what follows (a health failure counts as a failure).
    #[default]
    Restart,
    /// Kill it and leave it stopped.
    Stop,
    /// Only report it.
    Report,
}

/// Resource limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// Memory limit in bytes, or with a suffix: `256M`, `1G`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_max: Option<String>,
    /// CPU limit as a share of one core: `50%`, `2` (two cores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_max: Option<String>,
}

/// The VSS paths a workload may use; its broker token carries exactly these.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Access {
    /// Paths or patterns it may read.
    pub read: Vec<String>,
    /// Actuators it may command.
    pub actuate: Vec<String>,
    /// Signals it may publish.
    pub provide: Vec<String>,
    /// Vehicle modes it may request (only `service`).
    #[serde(serialize_with = "mode_names::serialize")]
    pub mode_requests: Vec<VehicleMode>,
}

pub(crate) mod mode_names;

/// One problem of a manifest, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Where: `workloads[1].restart.policy`, or a line and column for syntax errors.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// A manifest refused as a whole, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid manifest: {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ManifestError {
    /// Every problem, in order.
    pub problems: Vec<Problem>,
}

/// How long a manifest may be, in bytes.
pub const MAX_MANIFEST_TEXT_BYTES: usize = 1024 * 1024;

impl Manifest {
    /// Resolves the relative paths of a manifest read from directory `base`: a
    /// native workload's `command` that names a path (it holds a `/`, such as
    /// `bin/app` or `../target/release/app`) and a relative `workingDir` are taken
    /// relative to `base`. A bare command name (`python3`) is still looked up in
    /// `PATH`, and absolute paths stay as they are.
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        for workload in &mut self.workloads {
            let command = std::path::Path::new(&workload.command);
            if workload.runtime == RuntimeKind::Native
                && command.is_relative()
                && workload.command.contains('/')
            {
                workload.command = base.join(command).to_string_lossy().into_owned();
            }
            if let Some(dir) = &workload.working_dir {
                if std::path::Path::new(dir).is_relative() {
                    workload.working_dir = Some(base.join(dir).to_string_lossy().into_owned());
                }
            }
        }
    }

    /// Parses and validates a YAML manifest. Nothing is applied when it fails.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        if text.len() > MAX_MANIFEST_TEXT_BYTES {
            return Err(ManifestError {
                problems: vec![Problem {
                    location: "manifest".into(),
                    message: format!(
                        "{} bytes is more than the {MAX_MANIFEST_TEXT_BYTES} a manifest may have",
                        text.len()
                    ),
                }],
            });
        }
        if let Err(error) = tomoe_vss::check_yaml_nesting(text) {
            return Err(ManifestError {
                problems: vec![Problem {
                    location: format!("line {} column {}", error.line, error.column),
                    message: error.reason,
                }],
            });
        }
        let manifest = match deserialize(serde_yaml::Deserializer::from_str(text)) {
            Ok(manifest) => manifest,
            Err(problem) if mode_names::names_a_mode(&problem.location) => {
                return Err(mode_names::refuse_unknown_modes(text, problem))
            }
            Err(problem) => {
                return Err(ManifestError {
                    problems: vec![problem],
                })
            }
        };
        manifest.validate()?;
        Ok(manifest)
    }

    /// Checks everything the types cannot: names, references, cycles, modes, paths, values.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let problems = self.problems(Vec::new());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ManifestError { problems })
        }
    }

    /// Every problem, with `unknown_modes` (mode names that are no vehicle mode, found
    /// before the types were read) at their place in the order.
    fn problems(&self, mut unknown_modes: Vec<Problem>) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem =
            |location: String, message: String| problems.push(Problem { location, message });
        if self.api_version != API_VERSION {
            problem(
                "apiVersion".into(),
                format!(
                    "\"{}\" is not supported; use \"{API_VERSION}\"",
                    self.api_version
                ),
            );
        }
        if self.kind.as_deref().is_some_and(|k| k != "Manifest") {
            problem("kind".into(), "must be \"Manifest\" when given".into());
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (index, workload) in self.workloads.iter().enumerate() {
            let at = |field: &str| {
                format!(
                    "workloads[{index}]{}{field}",
                    if field.is_empty() { "" } else { "." }
                )
            };
            let name_ok = !workload.name.is_empty()
                && workload.name.len() <= 63
                && workload
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !workload.name.starts_with('-');
            if !name_ok {
                problem(
                    at("name"),
                    format!(
                        "\"{}\" is not a valid name (lowercase letters, digits and -, at most 63)",
                        workload.name
                    ),
                );
            }
            if let Some(first) = seen.insert(&workload.name, index) {
                problem(
                    at("name"),
                    format!(
                        "\"{}\" is already the name of workloads[{first}]",
                        workload.name
                    ),
                );
            }
            if workload.command.trim().is_empty() {
                problem(at("command"), "must not be empty".into());
            }
            let restart = &workload.restart;
            if restart.initial_backoff_ms == 0
                || restart.initial_backoff_ms > restart.max_backoff_ms
            {
                problem(
                    at("restart"),
                    format!(
                        "initialBackoffMs ({}) must be positive and at most maxBackoffMs ({})",
                        restart.initial_backoff_ms, restart.max_backoff_ms
                    ),
                );
            }
            if restart.crash_loop_limit == 0 {
                problem(at("restart.crashLoopLimit"), "must be at least 1".into());
            }
            for (d, dependency) in workload.depends_on.iter().enumerate() {
                if dependency.workload == workload.name {
                    problem(
                        at(&format!("dependsOn[{d}]")),
                        "a workload cannot depend on itself".into(),
                    );
                } else if !self.workloads.iter().any(|w| w.name == dependency.workload) {
                    problem(
                        at(&format!("dependsOn[{d}].workload")),
                        format!("no workload \"{}\" in this manifest", dependency.workload),
                    );
                }
            }
            let mut mode_problems: Vec<Problem> = unknown_modes
                .extract_if(.., |p| p.location.starts_with(&at("modes[")))
                .collect();
            let requests = at("access.modeRequests[");
            mode_problems
                .extend(unknown_modes.extract_if(.., |p| p.location.starts_with(&requests)));
            for (m, mode) in workload.access.mode_requests.iter().enumerate() {
                if *mode != VehicleMode::Service {
                    mode_problems.push(Problem {
                        location: format!("{requests}{m}]"),
                        message: format!(
                            "\"{}\" cannot be requested (only service)",
                            mode_names::name(*mode)
                        ),
                    });
                }
            }
            // Modes first, then the requests, each in the order of their entries.
            mode_problems.sort_by_key(|p| {
                let index = p.location.rsplit_once('[').map_or("", |(_, i)| i);
                (
                    p.location.starts_with(&requests),
                    index.trim_end_matches(']').parse::<usize>().unwrap_or(0),
                )
            });
            for Problem { location, message } in mode_problems {
                problem(location, message);
            }
            for (kind, patterns) in [
                ("read", &workload.access.read),
                ("actuate", &workload.access.actuate),
                ("provide", &workload.access.provide),
            ] {
                for (p, pattern) in patterns.iter().enumerate() {
                    if let Err(error) = PathPattern::parse(pattern) {
                        problem(at(&format!("access.{kind}[{p}]")), error.to_string());
                    }
                }
            }
            if let Some(health) = &workload.health {
                let probes = [
                    health.heartbeat.is_some(),
                    health.exec.is_some(),
                    health.http.is_some(),
                ]
                .iter()
                .filter(|p| **p)
                .count();
                if probes != 1 {
                    problem(
                        at("health"),
                        format!("needs exactly one of heartbeat, exec and http (found {probes})"),
                    );
                }
                if health
                    .heartbeat
                    .as_ref()
                    .is_some_and(|h| h.deadline_ms == 0)
                {
                    problem(at("health.heartbeat.deadlineMs"), "must be positive".into());
                }
                if let Some(exec) = &health.exec {
                    if exec.command.is_empty() {
                        problem(at("health.exec.command"), "must not be empty".into());
                    }
                    if exec.interval_ms == 0 || exec.timeout_ms == 0 {
                        problem(
                            at("health.exec"),
                            "intervalMs and timeoutMs must be positive".into(),
                        );
                    }
                }
                if let Some(http) = &health.http {
                    if !http.url.starts_with("http://") {
                        problem(
                            at("health.http.url"),
                            format!("\"{}\" must be an http:// URL", http.url),
                        );
                    }
                    if http.interval_ms == 0 || http.timeout_ms == 0 {
                        problem(
                            at("health.http"),
                            "intervalMs and timeoutMs must be positive".into(),
                        );
                    }
                }
            }
            if let Some(resources) = &workload.resources {
                if let Some(memory) = &resources.memory_max {
                    if let Err(message) = parse_memory(memory) {
                        problem(at("resources.memoryMax"), message);
                    }
                }
                if let Some(cpu) = &resources.cpu_max {
                    if let Err(message) = parse_cpu(cpu) {
                        problem(at("resources.cpuMax"), message);
                    }
                }
            }
        }
        if let Some(cycle) = self.dependency_cycle() {
            problem(
                "workloads".into(),
                format!("dependency cycle: {}", cycle.join(" -> ")),
            );
        }
        problems.extend(unknown_modes);
        problems
    }

    /// A dependency cycle, named from its first workload back to it, if there is one.
    pub fn dependency_cycle(&self) -> Option<Vec<String>> {
        fn visit<'a>(
            name: &'a str,
            edges: &HashMap<&'a str, Vec<&'a str>>,
            state: &mut HashMap<&'a str, u8>,
            stack: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            match state.get(name) {
                Some(2) => return None,
                Some(1) => {
                    let start = stack.iter().position(|n| *n == name).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(name.to_owned());
                    return Some(cycle);
                }
                _ => {}
            }
            state.insert(name, 1);
            stack.push(name);
            for next in edges.get(name).into_iter().flatten() {
                if let Some(cycle) = visit(next, edges, state, stack) {
                    return Some(cycle);
                }
            }
            stack.pop();
            state.insert(name, 2);
            None
        }
        // Self-dependencies are reported on their own; a repeated name merges its edges.
        let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
        for w in &self.workloads {
            edges.entry(w.name.as_str()).or_default().extend(
                w.depends_on
                    .iter()
                    .map(|d| d.workload.as_str())
                    .filter(|d| *d != w.name),
            );
        }
        let mut state = HashMap::new();
        for workload in &self.workloads {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(&workload.name, &edges, &mut state, &mut stack) {
                return Some(cycle);
            }
        }
        None
    }
}

/// Reads a manifest through `deserializer`; the first structural problem, with its place.
fn deserialize<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Manifest, Problem> {
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let location = error.path().to_string();
        let inner = error.into_inner().to_string();
        // serde_yaml's message already names the field and the line; keep it once.
        let message = inner
            .strip_prefix(&format!("{location}: "))
            .unwrap_or(&inner)
            .to_owned();
        Problem {
            location: if location == "." {
                "manifest".into()
            } else {
                location
            },
            message,
        }
    })
}

/// Bytes of a memory limit such as `256M`.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, factor) = match text.chars().last() {
        Some('K' | 'k') => (&text[..text.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&text[..text.len() - 1], 1 << 20),
        Some('G' | 'g') => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    match number.trim().parse::<u64>() {
        Ok(value) if value > 0 => Ok(value * factor),
        _ => Err(format!(
            "\"{text}\" is not a memory size (for example 256M)"
        )),
    }
}

/// Microseconds of CPU per 100 ms period for a limit such as `50%` or `2`.
pub fn parse_cpu(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let cores = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.parse::<f64>(),
    };
    match cores {
        Ok(cores) if cores > 0.0 && cores.is_finite() => Ok((cores * 100_000.0).round() as u64),
        _ => Err(format!(
            "\"{text}\" is not a CPU limit (for example 50% or 2)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
apiVersion: tomoe.dev/v1
workloads:
  - name: base
    command: sleep
    args: ["60"]
  - name: app
    command: sleep
    args: ["60"]
    dependsOn: [{workload: base}]
    modes: [parked, charging]
    restart: {policy: always, initialBackoffMs: 100, maxBackoffMs: 1000, crashLoopLimit: 3}
    health: {heartbeat: {deadlineMs: 2000}}
    resources: {memoryMax: 64M, cpuMax: 50%}
    access: {read: [Vehicle.Speed], provide: [Vehicle.Tomoe.RangeEstimate], modeRequests: [service]}
"#;

    #[test]
    fn parses_a_valid_manifest() {
        let manifest = Manifest::parse(GOOD).unwrap();
        assert_eq!(manifest.workloads.len(), 2);
        assert_eq!(manifest.workloads[1].restart.policy, RestartWhen::Always);
        assert_eq!(
            manifest.workloads[1].depends_on[0].condition,
            Condition::Running
        );
    }

    #[test]
    fn every_problem_is_listed_with_its_location() {
        let bad = r#"
apiVersion: tomoe.dev/v1
workloads:
  - name: Bad_Name
    command: ""
    modes: [flying]
    dependsOn: [{workload: ghost}]
    access: {read: ["Vehicle..Speed"]}
    health: {}
"#;
        let error = Manifest::parse(bad).unwrap_err();
        let text: Vec<String> = error.problems.iter().map(ToString::to_string).collect();
        let expect = |fragment: &str| {
            assert!(
                text.iter().any(|p| p.contains(fragment)),
                "{fragment} not in {text:#?}"
            )
        };
        expect("workloads[0].name: \"Bad_Name\" is not a valid name");
        expect("workloads[0].command: must not be empty");
        expect("workloads[0].modes[0]: \"flying\" is not a vehicle mode");
        expect("workloads[0].dependsOn[0].workload: no workload \"ghost\"");
        expect("workloads[0].access.read[0]: invalid path pattern");
        expect("workloads[0].health: needs exactly one of heartbeat, exec and http (found 0)");
        assert_eq!(error.problems.len(), 6);
    }

    #[test]
    fn cycles_are_named() {
        let cyclic = r#"
apiVersion: tomoe.dev/v1
workloads:
  - {name: a, command: x, dependsOn: [{workload: c}]}
  - {name: b, command: x, dependsOn: [{workload: a}]}
  - {name: c, command: x, dependsOn: [{workload: b}]}
"#;
        let error = Manifest::parse(cyclic).unwrap_err();
        assert_eq!(error.problems.len(), 1);
        assert_eq!(
            error.problems[0].message,
            "dependency cycle: a -> c -> b -> a"
        );
    }

    #[test]
    fn structural_errors_name_the_field() {
        let error = Manifest::parse("apiVersion: tomoe.dev/v1\nworkloads:\n  - name: a\n    command: x\n    restart: {policy: sometimes}\n").unwrap_err();
        assert_eq!(error.problems[0].location, "workloads[0].restart.policy");
        let error = Manifest::parse("apiVersion: tomoe.dev/v2\nworkloads: []\n").unwrap_err();
        assert!(error.problems[0].message.contains("tomoe.dev/v2"));
        assert!(Manifest::parse("workloads: [").is_err());
    }

    #[test]
    fn limits_parse() {
        assert_eq!(parse_memory("64M"), Ok(64 << 20));
        assert_eq!(parse_cpu("50%"), Ok(50_000));
        assert_eq!(parse_cpu("2"), Ok(200_000));
        assert!(parse_memory("lots").is_err());
    }

    #[test]
    fn relative_paths_resolve_against_the_manifest_directory() {
        let mut manifest = Manifest::parse(
            "apiVersion: tomoe.dev/v1\nworkloads:\n  - {name: a, command: bin/app, workingDir: data}\n  - {name: b, command: python3}\n  - {name: c, command: /usr/bin/env}\n",
        )
        .unwrap();
        manifest.resolve_paths(std::path::Path::new("/srv/apps"));
        let commands: Vec<&str> = manifest
            .workloads
            .iter()
            .map(|w| w.command.as_str())
            .collect();
        assert_eq!(commands, ["/srv/apps/bin/app", "python3", "/usr/bin/env"]);
        assert_eq!(
            manifest.workloads[0].working_dir.as_deref(),
            Some("/srv/apps/data")
        );
    }

    #[test]
    fn deep_or_huge_manifests_are_refused_before_parsing() {
        // 100 KB of nested brackets took 11 s to refuse; now it is refused at once.
        let deep = format!(
            "apiVersion: tomoe.dev/v1\nworkloads:\n  - name: a\n    command: x\n    env: {}{}\n",
            "[".repeat(50_000),
            "]".repeat(50_000)
        );
        let error = Manifest::parse(&deep).unwrap_err();
        assert_eq!(error.problems[0].location, "line 5 column 42");
        assert!(
            error.problems[0].message.contains("nested deeper"),
            "{error:?}"
        );
        let huge = "#".repeat(MAX_MANIFEST_TEXT_BYTES + 1);
        let error = Manifest::parse(&huge).unwrap_err();
        assert!(error.problems[0].message.contains("more than"), "{error:?}");
    }
}
