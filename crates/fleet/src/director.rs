//! The Uptane director: per-vehicle director metadata generated from the
//! campaigns' state and signed with the director's online keys.
//!
//! Every vehicle shares the director's root (its chain of `N.root.json` files, signed
//! by the offline root key) and gets its own targets, snapshot and timestamp. Those
//! are signed when a vehicle fetches `timestamp.json` and what it is assigned has
//! changed, the signing keys have changed, or the stored files expire within
//! [`REFRESH_BEFORE_SECS`]; otherwise the stored files are served as they are. The
//! vehicle then fetches `snapshot.json` and `targets.json` from storage, so the
//! three always agree. Versions only rise.
//!
//! [`DirectorKeys`] reads a director repository directory made by `tomoe ota repo
//! init --director`, without its root key: the online keys sign, and a rotation
//! made offline (`tomoe ota repo rotate`) is picked up by [`DirectorKeys::load`]
//! again, its root chain verified as a vehicle verifies it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use tomoe_ota::metadata::{
    Expiry, MetaFile, RoleName, Root, Signed, Snapshot, TargetFile, Targets, Timestamp,
    UptaneCustom, SPEC_VERSION,
};

use crate::{Fleet, FleetError};

/// How long the director metadata signed for a vehicle stays valid.
pub const LIFETIME_SECS: u64 = 24 * 60 * 60;

/// Metadata expiring within this many seconds is signed again when fetched.
pub const REFRESH_BEFORE_SECS: u64 = 12 * 60 * 60;

/// Most root versions read from a director directory.
const MAX_ROOTS: u64 = 1000;

/// The director's root chain and online keys.
pub struct DirectorKeys {
    dir: PathBuf,
    /// Every root file, oldest (version 1) first.
    roots: Vec<Vec<u8>>,
    targets: SigningKey,
    snapshot: SigningKey,
    timestamp: SigningKey,
    signed_by: String,
}

impl std::fmt::Debug for DirectorKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectorKeys")
            .field("dir", &self.dir)
            .field("root_version", &self.roots.len())
            .field("signed_by", &self.signed_by)
            .finish_non_exhaustive()
    }
}

impl DirectorKeys {
    /// Reads the root chain (`1.root.json`, `2.root.json`, ...) and the online keys
    /// (`keys/targets.pem`, `keys/snapshot.pem`, `keys/timestamp.pem`) from `dir`,
    /// each key checked against the newest root. A root key in the directory is
    /// refused: it belongs offline.
    pub fn load(dir: &Path) -> Result<DirectorKeys, FleetError> {
        let invalid = |reason: String| FleetError::invalid("director", reason);
        let root_key = dir.join(tomoe_ota::KEYS_DIR).join("root.pem");
        if root_key.exists() {
            return Err(invalid(format!(
                "{} is the director's root key: keep it offline (it signs new roots only) and remove it from the server's director directory",
                root_key.display()
            )));
        }
        let mut roots = Vec::new();
        for version in 1..=MAX_ROOTS {
            let path = dir.join(format!("{version}.root.json"));
            match fs::read(&path) {
                Ok(bytes) => roots.push(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(invalid(format!("cannot read {}: {e}", path.display()))),
            }
        }
        let newest = roots.last().ok_or_else(|| {
            invalid(format!(
                "no 1.root.json in {}: make one with `tomoe ota repo init --director`",
                dir.display()
            ))
        })?;
        let root: Signed<Root> = serde_json::from_slice(newest).map_err(|e| {
            invalid(format!(
                "{}.root.json is not root metadata: {e}",
                roots.len()
            ))
        })?;
        // The chain as a vehicle follows it: each root signed by the one before.
        let mut chain = tomoe_ota::TrustedRepository::new("director", &roots[0])
            .map_err(|e| invalid(format!("1.root.json: {e}")))?;
        let limits = tomoe_ota::Limits {
            max_root_rotations: MAX_ROOTS,
            ..tomoe_ota::Limits::default()
        };
        chain
            .follow_root_chain(&tomoe_ota::FsFetcher::new(dir), &limits)
            .map_err(|e| invalid(format!("the root chain in {}: {e}", dir.display())))?;
        if chain.root().version != roots.len() as u64 || chain.root() != &root.signed {
            return Err(invalid(format!(
                "the root chain in {} ends at version {}, not at {}.root.json",
                dir.display(),
                chain.root().version,
                roots.len()
            )));
        }
        let key = |role: RoleName| -> Result<SigningKey, FleetError> {
            let path = dir.join(tomoe_ota::KEYS_DIR).join(format!("{role}.pem"));
            let key = tomoe_ota::read_key(&path).map_err(|e| invalid(e.to_string()))?;
            let id = tomoe_ota::key_id(&key);
            let listed = root
                .signed
                .roles
                .get(&role)
                .is_some_and(|keys| keys.keyids.contains(&id));
            if !listed {
                return Err(invalid(format!(
                    "{} (key {id}) is not a {role} key of root version {}: after a rotation, copy the new key with the new root",
                    path.display(),
                    root.signed.version
                )));
            }
            Ok(key)
        };
        let (targets, snapshot, timestamp) = (
            key(RoleName::Targets)?,
            key(RoleName::Snapshot)?,
            key(RoleName::Timestamp)?,
        );
        let signed_by = [&targets, &snapshot, &timestamp]
            .iter()
            .map(|k| tomoe_ota::key_id(k).0)
            .collect::<Vec<_>>()
            .join(",");
        Ok(DirectorKeys {
            dir: dir.to_owned(),
            roots,
            targets,
            snapshot,
            timestamp,
            signed_by,
        })
    }

    /// The directory the keys were read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The newest root's version.
    pub fn root_version(&self) -> u64 {
        self.roots.len() as u64
    }

    /// The root file `name` (`root.json`, the newest, or `<N>.root.json`).
    pub fn root_file(&self, name: &str) -> Option<&[u8]> {
        if name == "root.json" {
            return self.roots.last().map(Vec::as_slice);
        }
        let version: usize = name.strip_suffix(".root.json")?.parse().ok()?;
        self.roots.get(version.checked_sub(1)?).map(Vec::as_slice)
    }
}

/// A director metadata file served per vehicle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectorFile {
    /// `timestamp.json`: signed again when anything changed.
    Timestamp,
    /// `snapshot.json`, as stored with the last timestamp.
    Snapshot,
    /// `targets.json`, as stored with the last timestamp.
    Targets,
}

/// One image the director assigns to one ECU of a vehicle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Assigned {
    image: String,
    target: TargetFile,
}

impl Fleet {
    /// The director file `file` of vehicle `vehicle`, signed with `keys` at `now`
    /// if it has to be (see the module documentation).
    pub async fn director_file(
        &self,
        vehicle: &str,
        file: DirectorFile,
        keys: &DirectorKeys,
        now: SystemTime,
    ) -> Result<Vec<u8>, FleetError> {
        self.vehicle_exists(vehicle).await?;
        let column = match file {
            DirectorFile::Timestamp => "timestamp",
            DirectorFile::Snapshot => "snapshot",
            DirectorFile::Targets => "targets",
        };
        if file != DirectorFile::Timestamp {
            let query = format!("SELECT {column} FROM director_metadata WHERE vehicle_id = $1");
            let stored: Option<Vec<u8>> = sqlx::query_scalar(&query)
                .bind(vehicle)
                .fetch_optional(&self.pool)
                .await?;
            if let Some(bytes) = stored {
                return Ok(bytes);
            }
            // Never signed (a client that skips the timestamp): sign now.
            self.sign_director(vehicle, keys, now).await?;
            return Ok(sqlx::query_scalar(&query)
                .bind(vehicle)
                .fetch_one(&self.pool)
                .await?);
        }
        // Fast path, read only: nothing changed since the last signing.
        let assignment = Fleet::assignment(&self.pool, vehicle).await?;
        let stored: Option<Stored> = sqlx::query_as(STORED)
            .bind(vehicle)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(stored) = stored {
            if stored.is_current(&assignment, keys, now) {
                if !is_empty(&assignment) {
                    self.mark_fetched(vehicle).await?;
                }
                return Ok(stored.timestamp);
            }
        }
        self.sign_director(vehicle, keys, now).await
    }

    /// What the campaigns assign to `vehicle` now, by ECU: the newest campaign's
    /// image for each ECU whose update is offered or under way (in a campaign not
    /// cancelled) or installed (in any campaign), never below the release the ECU
    /// reports running.
    async fn assignment<'e>(
        executor: impl sqlx::PgExecutor<'e>,
        vehicle: &str,
    ) -> Result<serde_json::Value, FleetError> {
        let rows: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
            "SELECT DISTINCT ON (cv.ecu_id) cv.ecu_id, c.image, c.image_target
             FROM campaign_vehicles cv JOIN campaigns c ON c.id = cv.campaign_id
             WHERE cv.vehicle_id = $1
               AND (cv.status = 'installed'
                    OR (cv.status IN ('offered', 'downloading') AND c.state <> 'cancelled'))
               AND NOT EXISTS (SELECT 1 FROM installed i
                   WHERE i.vehicle_id = cv.vehicle_id AND i.ecu_id = cv.ecu_id
                     AND i.release_counter > c.release_counter)
             ORDER BY cv.ecu_id, cv.campaign_id DESC",
        )
        .bind(vehicle)
        .fetch_all(executor)
        .await?;
        let mut assignment = serde_json::Map::new();
        for (ecu, image, target) in rows {
            let target: TargetFile = serde_json::from_value(target)
                .map_err(|e| FleetError::invalid("campaigns.image_target", e.to_string()))?;
            assignment.insert(
                ecu,
                serde_json::to_value(Assigned { image, target }).expect("JSON"),
            );
        }
        Ok(serde_json::Value::Object(assignment))
    }

    /// Signs new targets, snapshot and timestamp for `vehicle` (unless another
    /// request just did) and returns the timestamp.
    async fn sign_director(
        &self,
        vehicle: &str,
        keys: &DirectorKeys,
        now: SystemTime,
    ) -> Result<Vec<u8>, FleetError> {
        let mut tx = self.pool.begin().await?;
        // The vehicle's row orders two signings (and manifests) of one vehicle.
        sqlx::query("SELECT 1 FROM vehicles WHERE id = $1 FOR NO KEY UPDATE")
            .bind(vehicle)
            .execute(&mut *tx)
            .await?;
        let assignment = Fleet::assignment(&mut *tx, vehicle).await?;
        let stored: Option<Stored> = sqlx::query_as(STORED)
            .bind(vehicle)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(stored) = &stored {
            if stored.is_current(&assignment, keys, now) {
                tx.commit().await?;
                self.mark_fetched(vehicle).await?;
                return Ok(stored.timestamp.clone());
            }
        }
        // Versions rise with the clock too, so that they keep rising after stored
        // metadata is lost (a restore): a vehicle refuses any version below its own.
        let seconds = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let version = stored
            .as_ref()
            .map_or(1, |s| s.version as u64 + 1)
            .max(seconds);
        let expires = Expiry::after(now, Duration::from_secs(LIFETIME_SECS));
        let mut targets = BTreeMap::new();
        if let serde_json::Value::Object(map) = &assignment {
            for (ecu, assigned) in map {
                let assigned: Assigned = serde_json::from_value(assigned.clone())
                    .map_err(|e| FleetError::invalid("assignment", e.to_string()))?;
                let mut target = assigned.target;
                let mut custom: UptaneCustom = target.uptane().map_err(|reason| {
                    FleetError::invalid(format!("image {}", assigned.image), reason)
                })?;
                custom.ecu_identifier = Some(ecu.clone());
                target.custom = Some(serde_json::to_value(custom).expect("JSON"));
                targets.insert(assigned.image, target);
            }
        }
        let sign_error = |e: tomoe_ota::OtaError| FleetError::invalid("director", e.to_string());
        let mut targets = Signed::unsigned(Targets {
            spec_version: SPEC_VERSION.into(),
            version,
            expires,
            targets,
            delegations: None,
        });
        targets.sign(&keys.targets).map_err(sign_error)?;
        let targets_bytes = targets.to_file_bytes();
        let mut snapshot = Signed::unsigned(Snapshot {
            spec_version: SPEC_VERSION.into(),
            version,
            expires,
            meta: BTreeMap::from([(
                RoleName::Targets.file_name(),
                MetaFile::describe(version, &targets_bytes),
            )]),
        });
        snapshot.sign(&keys.snapshot).map_err(sign_error)?;
        let snapshot_bytes = snapshot.to_file_bytes();
        let mut timestamp = Signed::unsigned(Timestamp {
            spec_version: SPEC_VERSION.into(),
            version,
            expires,
            meta: BTreeMap::from([(
                RoleName::Snapshot.file_name(),
                MetaFile::describe(version, &snapshot_bytes),
            )]),
        });
        timestamp.sign(&keys.timestamp).map_err(sign_error)?;
        let timestamp_bytes = timestamp.to_file_bytes();
        let expires_at: DateTime<Utc> = expires.time().into();
        sqlx::query(
            "INSERT INTO director_metadata
                 (vehicle_id, version, assignment, signed_by, root_version, expires, targets,
                  snapshot, timestamp, signed_at)
             VALUES ($1, $2, $3, $4, $9, $5, $6, $7, $8, now())
             ON CONFLICT (vehicle_id) DO UPDATE SET
                 version = excluded.version, assignment = excluded.assignment,
                 signed_by = excluded.signed_by, root_version = excluded.root_version,
                 expires = excluded.expires,
                 targets = excluded.targets, snapshot = excluded.snapshot,
                 timestamp = excluded.timestamp, signed_at = excluded.signed_at",
        )
        .bind(vehicle)
        .bind(version as i64)
        .bind(&assignment)
        .bind(&keys.signed_by)
        .bind(expires_at)
        .bind(&targets_bytes)
        .bind(&snapshot_bytes)
        .bind(&timestamp_bytes)
        .bind(keys.root_version() as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::debug!(vehicle, version, "signed director metadata");
        self.mark_fetched(vehicle).await?;
        Ok(timestamp_bytes)
    }

    /// Notes when the vehicle first fetched metadata that assigns it an update.
    /// Rows a manifest holds are skipped (marked at a later fetch), so this never
    /// waits for, or deadlocks with, a manifest of the same vehicle.
    async fn mark_fetched(&self, vehicle: &str) -> Result<(), FleetError> {
        sqlx::query(
            "UPDATE campaign_vehicles SET fetched_at = now()
             WHERE (campaign_id, vehicle_id, ecu_id) IN (
                 SELECT campaign_id, vehicle_id, ecu_id FROM campaign_vehicles
                 WHERE vehicle_id = $1 AND fetched_at IS NULL AND status = 'offered'
                 ORDER BY campaign_id FOR UPDATE SKIP LOCKED)",
        )
        .bind(vehicle)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Whether an assignment assigns nothing.
fn is_empty(assignment: &serde_json::Value) -> bool {
    assignment.as_object().is_none_or(|map| map.is_empty())
}

const STORED: &str = "SELECT version, assignment, signed_by, root_version, expires, timestamp
                      FROM director_metadata WHERE vehicle_id = $1";

/// The director metadata last signed for a vehicle.
#[derive(sqlx::FromRow)]
struct Stored {
    version: i64,
    assignment: serde_json::Value,
    signed_by: String,
    root_version: i64,
    expires: DateTime<Utc>,
    timestamp: Vec<u8>,
}

impl Stored {
    /// Whether it still says what `assignment` says, signed by `keys`, and stays
    /// valid long enough.
    fn is_current(
        &self,
        assignment: &serde_json::Value,
        keys: &DirectorKeys,
        now: SystemTime,
    ) -> bool {
        if self.root_version > keys.root_version() as i64 {
            // Signed under a newer root than these keys know (another node has
            // taken a rotation this one has not yet): never sign with older keys.
            tracing::warn!(
                stored = self.root_version,
                ours = keys.root_version(),
                "director metadata was signed under a newer root; reload the director keys"
            );
            return true;
        }
        let refresh_at: DateTime<Utc> = (now + Duration::from_secs(REFRESH_BEFORE_SECS)).into();
        self.assignment == *assignment
            && self.signed_by == keys.signed_by
            && self.expires > refresh_at
    }
}

/// The director keys a running backend signs with, replaced when a rotation
/// published new ones.
#[derive(Debug)]
pub struct Director {
    keys: std::sync::RwLock<std::sync::Arc<DirectorKeys>>,
}

impl Director {
    /// A director signing with `keys`.
    pub fn new(keys: DirectorKeys) -> Director {
        Director {
            keys: std::sync::RwLock::new(std::sync::Arc::new(keys)),
        }
    }

    /// The keys in use.
    pub fn keys(&self) -> std::sync::Arc<DirectorKeys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the director directory again; `true` when a new root or new keys were
    /// taken. On an error the keys in use stay.
    pub fn reload(&self) -> Result<bool, FleetError> {
        let current = self.keys();
        let fresh = DirectorKeys::load(current.dir())?;
        if fresh.roots == current.roots && fresh.signed_by == current.signed_by {
            return Ok(false);
        }
        tracing::info!(
            root_version = fresh.root_version(),
            signed_by = fresh.signed_by,
            "director keys reloaded"
        );
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(fresh);
        Ok(true)
    }

    /// Reloads every `every` until the task is dropped, logging what fails.
    pub async fn run_reload(self: std::sync::Arc<Self>, every: Duration) {
        let mut ticker = tokio::time::interval(every);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let director = self.clone();
            match tokio::task::spawn_blocking(move || director.reload()).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "cannot reload the director keys; the old ones stay")
                }
                Err(error) => tracing::error!(%error, "director key reload failed"),
            }
        }
    }
}
