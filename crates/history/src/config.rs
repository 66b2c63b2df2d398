//! What is recorded, for how long, in memory and in the store; read from a TOML
//! file and the command line's `--history-durable PATTERN`.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use tomoe_vss::PathPattern;

use crate::HistoryError;

/// How long a signal's samples are kept in memory when its rule says nothing else.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// How many samples a signal keeps in memory when its rule says nothing else.
pub const DEFAULT_MAX_SAMPLES: usize = 6_000;
/// How long a signal's samples are kept in the store when its rule says nothing else.
pub const DEFAULT_DURABLE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How many samples a signal keeps in the store when its rule says nothing else.
pub const DEFAULT_DURABLE_MAX_SAMPLES: usize = 1_000_000;
/// The default memory budget of all buffers together.
pub const DEFAULT_MEMORY_BUDGET_BYTES: usize = 64 * 1024 * 1024;
/// The largest memory budget accepted.
pub const MAX_MEMORY_BUDGET_BYTES: usize = 4 * 1024 * 1024 * 1024;
/// The most samples one signal may be configured to keep, in memory or in the store.
pub const MAX_SAMPLES_PER_SIGNAL: usize = 10_000_000;
/// The longest retention a memory rule may ask for.
pub const MAX_AGE_LIMIT: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest retention a durable rule may ask for.
pub const MAX_DURABLE_AGE_LIMIT: Duration = Duration::from_secs(31 * 24 * 3600);
/// The most samples the durable rules may keep, all their signals together (the
/// sum of each selected signal's `max_samples`): this bounds the store's file.
pub const MAX_DURABLE_SAMPLES: u64 = 10_000_000;
/// The largest history configuration file read.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// How long the signals a pattern selects are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionRule {
    /// The signals (a path, a branch or a wildcard pattern).
    pub pattern: PathPattern,
    /// Samples older than this are dropped.
    pub max_age: Duration,
    /// At most this many samples per signal are kept.
    pub max_samples: usize,
}

impl RetentionRule {
    /// A memory rule with the default retention ([`DEFAULT_MAX_AGE`], [`DEFAULT_MAX_SAMPLES`]).
    pub fn new(pattern: PathPattern) -> RetentionRule {
        RetentionRule {
            pattern,
            max_age: DEFAULT_MAX_AGE,
            max_samples: DEFAULT_MAX_SAMPLES,
        }
    }

    /// A durable rule with the default retention ([`DEFAULT_DURABLE_MAX_AGE`],
    /// [`DEFAULT_DURABLE_MAX_SAMPLES`]).
    pub fn durable(pattern: PathPattern) -> RetentionRule {
        RetentionRule {
            pattern,
            max_age: DEFAULT_DURABLE_MAX_AGE,
            max_samples: DEFAULT_DURABLE_MAX_SAMPLES,
        }
    }
}

/// What is recorded, for how long, within how much memory.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryConfig {
    /// The signals recorded in memory; a signal follows the first rule that selects it.
    pub rules: Vec<RetentionRule>,
    /// All buffers together stay within this many bytes.
    pub memory_budget_bytes: usize,
    /// The signals whose history is also kept in the store, across restarts; a
    /// signal follows the first rule that selects it. A durable signal is always
    /// recorded in memory too (with the default memory retention when no memory
    /// rule selects it).
    pub durable: Vec<RetentionRule>,
}

impl Default for HistoryConfig {
    /// Every signal in memory, 10 minutes or 6,000 samples each, within 64 MiB;
    /// nothing in the store.
    fn default() -> HistoryConfig {
        HistoryConfig {
            rules: vec![RetentionRule::new(
                PathPattern::parse("**").expect("a valid pattern"),
            )],
            memory_budget_bytes: DEFAULT_MEMORY_BUDGET_BYTES,
            durable: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    memory_budget_bytes: Option<usize>,
    memory: Option<Vec<FileRule>>,
    #[serde(default)]
    durable: Vec<FileRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRule {
    pattern: String,
    max_age: Option<String>,
    max_samples: Option<usize>,
}

impl FileRule {
    fn rule(self, defaults: fn(PathPattern) -> RetentionRule) -> Result<RetentionRule, String> {
        let pattern = PathPattern::parse(&self.pattern)
            .map_err(|e| format!("pattern {:?}: {e}", self.pattern))?;
        let mut rule = defaults(pattern);
        if let Some(age) = &self.max_age {
            rule.max_age = humantime::parse_duration(age).map_err(|e| {
                format!(
                    "{}: max_age {age:?} is not a duration such as \"10m\" or \"7days\": {e}",
                    self.pattern
                )
            })?;
        }
        if let Some(count) = self.max_samples {
            rule.max_samples = count;
        }
        Ok(rule)
    }
}

impl HistoryConfig {
    /// A configuration from TOML text:
    ///
    /// ```toml
    /// memory_budget_bytes = 67108864      # optional
    /// [[memory]]                           # optional; without it every signal, 10 min
    /// pattern = "Vehicle.Speed"
    /// max_age = "1h"
    /// max_samples = 360000
    /// [[durable]]                          # optional: kept in the store
    /// pattern = "Vehicle.Powertrain.TractionBattery.StateOfCharge.*"
    /// max_age = "7days"
    /// ```
    pub fn from_toml(text: &str) -> Result<HistoryConfig, HistoryError> {
        let file: File =
            toml::from_str(text).map_err(|e| HistoryError::InvalidConfig(e.to_string()))?;
        let mut config = HistoryConfig::default();
        if let Some(budget) = file.memory_budget_bytes {
            config.memory_budget_bytes = budget;
        }
        let invalid = HistoryError::InvalidConfig;
        if let Some(memory) = file.memory {
            config.rules = memory
                .into_iter()
                .map(|r| r.rule(RetentionRule::new))
                .collect::<Result<_, _>>()
                .map_err(invalid)?;
        }
        config.durable = file
            .durable
            .into_iter()
            .map(|r| r.rule(RetentionRule::durable))
            .collect::<Result<_, _>>()
            .map_err(invalid)?;
        Ok(config)
    }

    /// The configuration of the command line: the file at `path` if one is given
    /// (at most [`MAX_CONFIG_BYTES`]), else the default, with a durable rule of
    /// default retention appended for each of `durable_patterns`.
    pub fn load(
        path: Option<&Path>,
        durable_patterns: &[String],
    ) -> Result<HistoryConfig, HistoryError> {
        let mut config = match path {
            None => HistoryConfig::default(),
            Some(path) => {
                let named = |reason: String| {
                    HistoryError::InvalidConfig(format!("{}: {reason}", path.display()))
                };
                let length = std::fs::metadata(path)
                    .map_err(|e| named(e.to_string()))?
                    .len();
                if length > MAX_CONFIG_BYTES {
                    return Err(named(format!(
                        "{length} bytes, more than the {MAX_CONFIG_BYTES} a history configuration may have"
                    )));
                }
                let text = std::fs::read_to_string(path).map_err(|e| named(e.to_string()))?;
                HistoryConfig::from_toml(&text).map_err(|e| match e {
                    HistoryError::InvalidConfig(reason) => named(reason),
                    other => other,
                })?
            }
        };
        for pattern in durable_patterns {
            let parsed = PathPattern::parse(pattern).map_err(|e| {
                HistoryError::InvalidConfig(format!("--history-durable {pattern:?}: {e}"))
            })?;
            config.durable.push(RetentionRule::durable(parsed));
        }
        Ok(config)
    }

    /// Checks every bound; `durable_samples` is what the durable rules would keep
    /// at most, all their signals together.
    pub(crate) fn check(&self, durable_samples: u64) -> Result<(), HistoryError> {
        if self.memory_budget_bytes == 0 || self.memory_budget_bytes > MAX_MEMORY_BUDGET_BYTES {
            return Err(HistoryError::InvalidConfig(format!(
                "the memory budget must be between 1 and {MAX_MEMORY_BUDGET_BYTES} bytes, not {}",
                self.memory_budget_bytes
            )));
        }
        let kinds = [
            ("", &self.rules, MAX_AGE_LIMIT),
            ("durable ", &self.durable, MAX_DURABLE_AGE_LIMIT),
        ];
        for (kind, rules, age_limit) in kinds {
            for rule in rules {
                if rule.max_samples == 0 || rule.max_samples > MAX_SAMPLES_PER_SIGNAL {
                    return Err(HistoryError::InvalidConfig(format!(
                        "{kind}{}: max_samples must be between 1 and {MAX_SAMPLES_PER_SIGNAL}, not {}",
                        rule.pattern.as_str(),
                        rule.max_samples
                    )));
                }
                if rule.max_age.is_zero() || rule.max_age > age_limit {
                    return Err(HistoryError::InvalidConfig(format!(
                        "{kind}{}: max_age must be between 1 ns and {}, not {}",
                        rule.pattern.as_str(),
                        readable(age_limit),
                        readable(rule.max_age)
                    )));
                }
            }
        }
        if durable_samples > MAX_DURABLE_SAMPLES {
            return Err(HistoryError::InvalidConfig(format!(
                "the durable rules would keep up to {durable_samples} samples, more than the {MAX_DURABLE_SAMPLES} the store may hold; select fewer signals or lower their max_samples"
            )));
        }
        Ok(())
    }
}

/// A duration as a person writes it: `31 days`, `10m`, `1h 30m`.
fn readable(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds >= 86_400 && seconds.is_multiple_of(86_400) && duration.subsec_nanos() == 0 {
        format!("{} days", seconds / 86_400)
    } else {
        humantime::format_duration(duration).to_string()
    }
}
