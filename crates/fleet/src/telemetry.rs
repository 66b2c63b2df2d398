//! Telemetry: values stored with time, in a table partitioned by day, only for the
//! paths each vehicle's telemetry policy selects; queries for a vehicle's latest
//! values, a time window, and fleet aggregates.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use tomoe_zenoh::TelemetryPolicy;

use crate::{Fleet, FleetError};

/// Largest value accepted for one sample (as the vehicle's bridge accepts).
pub const MAX_TELEMETRY_VALUE_BYTES: usize = tomoe_zenoh::codec::MAX_VALUE_BYTES;

/// How far ahead of the backend's clock a sample's time may be.
pub const MAX_CLOCK_AHEAD_SECS: i64 = 300;

/// One value a vehicle sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TelemetrySample {
    /// The vehicle.
    pub vehicle: String,
    /// The VSS path.
    pub path: String,
    /// When the value was current.
    pub at: DateTime<Utc>,
    /// The value, as JSON (`null`: not available).
    pub value: serde_json::Value,
}

/// What became of a batch of samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestOutcome {
    /// Samples stored.
    pub stored: usize,
    /// Samples refused: their index in the batch and why.
    pub refused: Vec<(usize, String)>,
}

/// Distinct parsed telemetry policies kept; the cache starts over when full.
const POLICY_CACHE: usize = 1024;

/// Most values one telemetry window query returns.
pub const MAX_WINDOW_ROWS: u32 = 100_000;

/// One stored value of a path.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct TelemetryPoint {
    /// When it was received.
    pub at: DateTime<Utc>,
    /// The value.
    pub value: serde_json::Value,
}

/// The latest value of one path.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct LatestValue {
    /// The VSS path.
    pub path: String,
    /// When it was current.
    pub at: DateTime<Utc>,
    /// The value.
    pub value: serde_json::Value,
}

/// A numeric signal's mean over the vehicles of one model (each vehicle's latest value).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct ModelMean {
    /// The brand.
    pub brand: String,
    /// The model.
    pub model: String,
    /// Vehicles with a value.
    pub vehicles: i64,
    /// The mean of their latest values.
    pub mean: f64,
}

impl Fleet {
    /// Gives vehicle `vehicle` its telemetry policy (the TOML file it runs with); the
    /// backend stores only what it selects.
    pub async fn set_telemetry_policy(
        &self,
        vehicle: &str,
        policy: &str,
    ) -> Result<(), FleetError> {
        TelemetryPolicy::parse(policy).map_err(|e| FleetError::invalid("policy", e))?;
        let updated = sqlx::query(
            "INSERT INTO telemetry_policies (vehicle_id, policy)
             SELECT id, $2 FROM vehicles WHERE id = $1
             ON CONFLICT (vehicle_id) DO UPDATE SET policy = excluded.policy, updated_at = now()",
        )
        .bind(vehicle)
        .bind(policy)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(FleetError::UnknownVehicle(vehicle.to_owned()));
        }
        Ok(())
    }

    /// Stores the samples that pass their checks and reports the others: an unknown
    /// vehicle, one without a policy, a path its policy does not select, a value too
    /// large, a time too far ahead.
    pub async fn ingest_telemetry(
        &self,
        samples: &[TelemetrySample],
    ) -> Result<IngestOutcome, FleetError> {
        let vehicles: Vec<String> = samples
            .iter()
            .map(|s| s.vehicle.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT v.id, p.policy FROM vehicles v
             LEFT JOIN telemetry_policies p ON p.vehicle_id = v.id
             WHERE v.id = ANY($1)",
        )
        .bind(&vehicles)
        .fetch_all(&self.pool)
        .await?;
        let policies: HashMap<String, Option<Arc<TelemetryPolicy>>> = rows
            .into_iter()
            .map(|(id, policy)| {
                let policy = policy.and_then(|text| self.parsed_policy(text));
                (id, policy)
            })
            .collect();
        let latest_allowed = Utc::now() + Duration::seconds(MAX_CLOCK_AHEAD_SECS);
        let mut outcome = IngestOutcome::default();
        let mut accepted = Vec::new();
        for (index, sample) in samples.iter().enumerate() {
            let refusal = match policies.get(&sample.vehicle) {
                None => Some(format!("no vehicle {:?} is registered", sample.vehicle)),
                Some(None) => Some(format!(
                    "vehicle {} has no telemetry policy",
                    sample.vehicle
                )),
                Some(Some(policy)) if policy.rule_for(&sample.path).is_none() => Some(format!(
                    "{} is not in the telemetry policy of {}",
                    sample.path, sample.vehicle
                )),
                Some(Some(_)) => {
                    let size = sample.value.to_string().len();
                    if size > MAX_TELEMETRY_VALUE_BYTES {
                        Some(format!(
                            "{}: {size} bytes, more than {MAX_TELEMETRY_VALUE_BYTES}",
                            sample.path
                        ))
                    } else if has_nul(&sample.value) {
                        Some(format!(
                            "{}: the value holds a NUL character, which cannot be stored",
                            sample.path
                        ))
                    } else if sample.at > latest_allowed {
                        Some(format!(
                            "{}: its time {} is ahead of the backend's clock",
                            sample.path, sample.at
                        ))
                    } else {
                        None
                    }
                }
            };
            match refusal {
                Some(reason) => outcome.refused.push((index, reason)),
                None => accepted.push(sample),
            }
        }
        if accepted.is_empty() {
            return Ok(outcome);
        }
        let days: BTreeSet<NaiveDate> = accepted.iter().map(|s| s.at.date_naive()).collect();
        for day in days {
            self.ensure_partition(day).await?;
        }
        let mut vehicle_ids = Vec::with_capacity(accepted.len());
        let mut paths = Vec::with_capacity(accepted.len());
        let mut times = Vec::with_capacity(accepted.len());
        let mut values = Vec::with_capacity(accepted.len());
        for sample in &accepted {
            vehicle_ids.push(sample.vehicle.as_str());
            paths.push(sample.path.as_str());
            times.push(sample.at);
            values.push(&sample.value);
        }
        sqlx::query(
            "INSERT INTO telemetry (vehicle_id, path, at, value)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::jsonb[])",
        )
        .bind(&vehicle_ids)
        .bind(&paths)
        .bind(&times)
        .bind(&values)
        .execute(&self.pool)
        .await?;
        outcome.stored = accepted.len();
        Ok(outcome)
    }

    /// Creates the partition of `day` unless it exists.
    async fn ensure_partition(&self, day: NaiveDate) -> Result<(), FleetError> {
        if self
            .partitions
            .lock()
            .expect("partitions lock")
            .contains(&day)
        {
            return Ok(());
        }
        let next = day.succ_opt().unwrap_or(day);
        let statement = format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF telemetry FOR VALUES FROM ('{day} 00:00:00+00') TO ('{next} 00:00:00+00')",
            partition_name(day)
        );
        if let Err(error) = sqlx::query(&statement).execute(&self.pool).await {
            // Another node may have created it between our check and our create.
            let exists = matches!(&error, sqlx::Error::Database(db) if db.code().as_deref() == Some("42P07"));
            if !exists {
                return Err(error.into());
            }
        }
        self.partitions.lock().expect("partitions lock").insert(day);
        Ok(())
    }

    /// Drops the days of telemetry older than `keep_days` before today; returns the
    /// partitions dropped.
    pub async fn drop_old_telemetry(&self, keep_days: u32) -> Result<Vec<String>, FleetError> {
        let oldest_kept = Utc::now()
            .date_naive()
            .checked_sub_days(chrono::Days::new(u64::from(keep_days)))
            .unwrap_or(NaiveDate::MIN);
        let partitions: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i
             JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'telemetry'::regclass",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut dropped = Vec::new();
        for name in partitions {
            let Some(day) = name
                .strip_prefix("telemetry_")
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok())
                .filter(|day| partition_name(*day) == name)
            else {
                continue;
            };
            if day < oldest_kept {
                sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
                    .execute(&self.pool)
                    .await?;
                self.partitions
                    .lock()
                    .expect("partitions lock")
                    .remove(&day);
                dropped.push(name);
            }
        }
        Ok(dropped)
    }

    /// Drops telemetry older than `keep_days` once an hour, for as long as it runs.
    pub async fn run_retention(&self, keep_days: u32) {
        let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            hourly.tick().await;
            match self.drop_old_telemetry(keep_days).await {
                Ok(dropped) if !dropped.is_empty() => {
                    tracing::info!(?dropped, "dropped old telemetry")
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "cannot drop old telemetry"),
            }
        }
    }

    /// The policy `text` parsed, from the cache of parsed policies (most vehicles
    /// share a few policies); `None` for a text that does not parse.
    fn parsed_policy(&self, text: String) -> Option<Arc<TelemetryPolicy>> {
        let mut cache = self.policies.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(policy) = cache.get(&text) {
            return Some(policy.clone());
        }
        let policy = Arc::new(TelemetryPolicy::parse(&text).ok()?);
        if cache.len() >= POLICY_CACHE {
            cache.clear();
        }
        cache.insert(text, policy.clone());
        Some(policy)
    }

    /// The latest value of each path of `vehicle`.
    pub async fn latest_telemetry(&self, vehicle: &str) -> Result<Vec<LatestValue>, FleetError> {
        self.vehicle_exists(vehicle).await?;
        Ok(sqlx::query_as::<_, LatestValue>(
            "SELECT DISTINCT ON (path) path, at, value FROM telemetry
             WHERE vehicle_id = $1 ORDER BY path, at DESC",
        )
        .bind(vehicle)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The values of `path` of `vehicle` from `from` (inclusive) to `to` (exclusive),
    /// oldest first, at most `limit` (up to [`MAX_WINDOW_ROWS`]).
    pub async fn telemetry_window(
        &self,
        vehicle: &str,
        path: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TelemetryPoint>, FleetError> {
        self.vehicle_exists(vehicle).await?;
        if from > to {
            return Err(FleetError::invalid(
                "since",
                format!("{from} is after until ({to})"),
            ));
        }
        Ok(sqlx::query_as::<_, TelemetryPoint>(
            "SELECT at, value FROM telemetry
             WHERE vehicle_id = $1 AND path = $2 AND at >= $3 AND at < $4 ORDER BY at LIMIT $5",
        )
        .bind(vehicle)
        .bind(path)
        .bind(from)
        .bind(to)
        .bind(i64::from(limit.min(MAX_WINDOW_ROWS)))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The mean of numeric `path` by model, over each vehicle's latest value since `since`.
    pub async fn mean_by_model(
        &self,
        path: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<ModelMean>, FleetError> {
        Ok(sqlx::query_as::<_, ModelMean>(
            "SELECT v.brand, v.model, count(*) AS vehicles, avg((l.value #>> '{}')::numeric)::float8 AS mean
             FROM (SELECT DISTINCT ON (vehicle_id) vehicle_id, value FROM telemetry
                   WHERE path = $1 AND at >= $2 AND jsonb_typeof(value) = 'number'
                   ORDER BY vehicle_id, at DESC) l
             JOIN vehicles v ON v.id = l.vehicle_id
             GROUP BY v.brand, v.model ORDER BY v.brand, v.model",
        )
        .bind(path)
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Most samples stored in one batch.
pub const MAX_INGEST_BATCH: usize = 1000;

impl Fleet {
    /// Stores the telemetry `samples` brings (from a [`tomoe_zenoh::backend::BackendLink`]),
    /// a batch at a time, each sample timed on arrival, until the channel closes.
    /// Refused samples are logged at debug level and counted in the log once a batch.
    pub async fn ingest_received(
        &self,
        mut samples: tokio::sync::mpsc::Receiver<tomoe_zenoh::backend::ReceivedTelemetry>,
    ) {
        let mut batch = Vec::with_capacity(MAX_INGEST_BATCH);
        while let Some(first) = samples.recv().await {
            let sample = |received: tomoe_zenoh::backend::ReceivedTelemetry| TelemetrySample {
                vehicle: received.vehicle,
                path: received.path,
                at: received.received_at.into(),
                value: received.value,
            };
            batch.push(sample(first));
            while batch.len() < MAX_INGEST_BATCH {
                match samples.try_recv() {
                    Ok(received) => batch.push(sample(received)),
                    Err(_) => break,
                }
            }
            match self.ingest_telemetry(&batch).await {
                Ok(outcome) if !outcome.refused.is_empty() => {
                    for (index, reason) in &outcome.refused {
                        tracing::debug!(
                            vehicle = batch[*index].vehicle,
                            reason,
                            "refused telemetry"
                        );
                    }
                    tracing::warn!(
                        refused = outcome.refused.len(),
                        stored = outcome.stored,
                        first = outcome.refused[0].1,
                        "refused telemetry samples"
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(%error, samples = batch.len(), "cannot store telemetry; the batch is lost");
                }
            }
            batch.clear();
        }
    }
}

/// Whether a JSON value holds U+0000 in a string or key (PostgreSQL's JSONB cannot).
fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// The partition table of `day`.
fn partition_name(day: NaiveDate) -> String {
    format!("telemetry_{}", day.format("%Y%m%d"))
}
