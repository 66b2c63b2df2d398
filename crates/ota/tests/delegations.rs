//! TUF delegations: each brand (tenant) signs its own apps with its own key, the
//! offline top-level targets key signs who may sign which paths. Repositories
//! are written to disk and read through the filesystem fetcher (one test over
//! the HTTP server); hand-crafted metadata is re-signed on disk with the keys an
//! attacker would hold.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use serde::de::DeserializeOwned;
use tempfile::TempDir;
use tomoe_ota::metadata::{
    DelegatedRole, MetaFile, Metadata, Signed, Snapshot, Targets, Timestamp, UptaneCustom,
};
use tomoe_ota::{
    generate_key, Ecu, FsFetcher, Lifetimes, Limits, OtaError, Primary, Repository,
    RepositoryConfig, RoleConfig, TrustedRepository, MAX_DELEGATIONS,
};

const VIN: &str = "JT3HN86R0W0123456";
const APP_HW: &str = "tomoe-app";
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
const HONDA_APP: &str = "apps/honda/navigation";
const NISSAN_APP: &str = "apps/nissan/charging";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn custom(ecu: Option<&str>) -> UptaneCustom {
    UptaneCustom {
        ecu_identifier: ecu.map(str::to_string),
        hardware_identifier: APP_HW.into(),
        release_counter: 1,
    }
}

fn delegation(name: &str, paths: &[&str], threshold: u32, terminating: bool) -> DelegatedRole {
    DelegatedRole {
        name: name.into(),
        keyids: Vec::new(),
        threshold,
        terminating,
        paths: Some(paths.iter().map(|path| path.to_string()).collect()),
        path_hash_prefixes: None,
    }
}

/// One key per top-level role (shared), a repository on disk.
fn repository(keys: &[SigningKey]) -> Repository {
    let top = keys[0].clone();
    let role = RoleConfig {
        keys: vec![top.verifying_key()],
        threshold: 1,
    };
    let config = RepositoryConfig {
        root: role.clone(),
        targets: role.clone(),
        snapshot: role.clone(),
        timestamp: role,
    };
    Repository::create(&config, Lifetimes::default(), keys.to_vec(), now()).unwrap()
}

/// An image repository delegating `apps/honda/*` to honda and `apps/nissan/*`
/// to nissan (both terminating), each signing one app with its own key.
struct Tenants {
    temp: TempDir,
    top: SigningKey,
    honda: SigningKey,
    image: Repository,
    image_dir: PathBuf,
}

impl Tenants {
    fn new() -> Tenants {
        let temp = tempfile::tempdir().unwrap();
        let (top, honda, nissan) = (generate_key(), generate_key(), generate_key());
        let mut image = repository(&[top.clone(), honda.clone(), nissan.clone()]);
        image
            .add_delegated_role(
                "targets",
                delegation("honda", &["apps/honda/*"], 1, true),
                &[honda.verifying_key()],
            )
            .unwrap();
        image
            .add_delegated_role(
                "targets",
                delegation("nissan", &["apps/nissan/*"], 1, true),
                &[nissan.verifying_key()],
            )
            .unwrap();
        image
            .add_delegated_target("honda", HONDA_APP, b"honda navigation", Some(&custom(None)))
            .unwrap();
        image
            .add_delegated_target(
                "nissan",
                NISSAN_APP,
                b"nissan charging",
                Some(&custom(None)),
            )
            .unwrap();
        image
            .add_target("base.bin", b"base", Some(&custom(None)))
            .unwrap();
        image.publish(now()).unwrap();
        let image_dir = temp.path().join("image");
        image.write_to(&image_dir).unwrap();
        Tenants {
            temp,
            top,
            honda,
            image,
            image_dir,
        }
    }

    fn client(&self) -> TrustedRepository {
        let mut client = TrustedRepository::new("image", &self.image.root_file()).unwrap();
        client
            .update(&FsFetcher::new(&self.image_dir), &Limits::default(), now())
            .unwrap();
        client
    }

    /// Looks `path` up with a fresh client: the target's role, or the refusal.
    fn resolve(&self, path: &str) -> Result<Option<String>, OtaError> {
        let mut client = TrustedRepository::new("image", &self.image.root_file()).unwrap();
        let fetcher = FsFetcher::new(&self.image_dir);
        client.update(&fetcher, &Limits::default(), now())?;
        Ok(client
            .resolve_target(path, &fetcher, &Limits::default(), now())?
            .map(|(_, role)| role))
    }

    /// A director for one vehicle assigning `targets` (each to ECU `app:<target>`).
    fn director(&self, targets: &[(&str, &[u8])]) -> (PathBuf, Vec<u8>, Vec<Ecu>) {
        let mut director = repository(&[generate_key()]);
        let mut ecus = Vec::new();
        for (target, bytes) in targets {
            let ecu = format!("app:{target}");
            director
                .add_target_description(
                    target,
                    tomoe_ota::metadata::TargetFile::describe(bytes, Some(&custom(Some(&ecu)))),
                )
                .unwrap();
            ecus.push(Ecu::new(&ecu, APP_HW));
        }
        director.publish(now()).unwrap();
        let dir = self.temp.path().join("director");
        let _ = fs::remove_dir_all(&dir);
        director.write_to(&dir).unwrap();
        (dir, director.root_file(), ecus)
    }
}

fn read<T: DeserializeOwned>(dir: &Path, file: &str) -> Signed<T> {
    serde_json::from_slice(&fs::read(dir.join(file)).unwrap()).unwrap()
}

fn write<T: Metadata>(dir: &Path, file: &str, signed: &Signed<T>) {
    fs::write(dir.join(file), signed.to_file_bytes()).unwrap();
}

fn sign<T: Metadata>(signed: &mut Signed<T>, keys: &[&SigningKey]) {
    signed.signatures.clear();
    for key in keys {
        signed.sign(key).unwrap();
    }
}

/// Edits a delegated or top-level targets file on disk, re-signs it with
/// `signers`, and lists it in a new snapshot and timestamp signed with `top`
/// (what a compromised tenant key plus a repository that publishes whatever
/// it is sent would produce).
fn tamper(
    dir: &Path,
    top: &SigningKey,
    file: &str,
    signers: &[&SigningKey],
    edit: impl FnOnce(&mut Targets),
) {
    let mut role: Signed<Targets> = read(dir, file);
    edit(&mut role.signed);
    sign(&mut role, signers);
    write(dir, file, &role);
    relist(dir, top, |meta| {
        meta.insert(
            file.into(),
            MetaFile::describe(role.signed.version, &role.to_file_bytes()),
        );
    });
}

/// Edits the snapshot's listing on disk and re-signs snapshot and timestamp with `top`.
fn relist(
    dir: &Path,
    top: &SigningKey,
    edit: impl FnOnce(&mut std::collections::BTreeMap<String, MetaFile>),
) {
    let mut snapshot: Signed<Snapshot> = read(dir, "snapshot.json");
    edit(&mut snapshot.signed.meta);
    snapshot.signed.version += 1;
    sign(&mut snapshot, &[top]);
    write(dir, "snapshot.json", &snapshot);
    let mut timestamp: Signed<Timestamp> = read(dir, "timestamp.json");
    timestamp.signed.version += 1;
    timestamp.signed.meta.insert(
        "snapshot.json".into(),
        MetaFile::describe(snapshot.signed.version, &snapshot.to_file_bytes()),
    );
    sign(&mut timestamp, &[top]);
    write(dir, "timestamp.json", &timestamp);
}

fn refusal(result: Result<Option<String>, OtaError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn each_tenant_s_app_is_accepted_and_signed_by_names_the_tenant() {
    let tenants = Tenants::new();
    let (director_dir, director_root, ecus) = tenants.director(&[
        (HONDA_APP, b"honda navigation"),
        (NISSAN_APP, b"nissan charging"),
        ("base.bin", b"base"),
    ]);
    let mut primary = Primary::new(
        VIN,
        ecus,
        &director_root,
        &tenants.image.root_file(),
        Limits::default(),
    )
    .unwrap();
    let approved = primary
        .check(
            &FsFetcher::new(&director_dir),
            &FsFetcher::new(&tenants.image_dir),
            now(),
        )
        .unwrap();
    let signed_by: Vec<(&str, &str)> = approved
        .iter()
        .map(|one| (one.target.as_str(), one.signed_by.as_str()))
        .collect();
    assert_eq!(
        signed_by,
        [
            (HONDA_APP, "honda"),
            (NISSAN_APP, "nissan"),
            ("base.bin", "targets")
        ]
    );
    // Not delegated, not listed: not found.
    assert_eq!(tenants.resolve("apps/toyota/x").unwrap(), None);

    // The verified delegated roles are saved and loaded with the rest.
    let state = tenants.temp.path().join("state");
    primary.save(&state).unwrap();
    assert!(state.join("image/delegated/honda.json").is_file());
    let mut loaded = Primary::load(
        VIN,
        primary.ecus().to_vec(),
        &director_root,
        &tenants.image.root_file(),
        Limits::default(),
        &state,
    )
    .unwrap();
    let again = loaded
        .check(
            &FsFetcher::new(&director_dir),
            &FsFetcher::new(&tenants.image_dir),
            now(),
        )
        .unwrap();
    assert_eq!(again.len(), 3);
}

#[test]
fn a_delegated_role_that_expired_is_refused() {
    let mut tenants = Tenants::new();
    tenants
        .image
        .add_delegated_target("honda", HONDA_APP, b"v2", Some(&custom(None)))
        .unwrap();
    // Signed 100 days ago: its 90-day lifetime is over.
    tenants
        .image
        .publish_role("honda", now() - 100 * DAY)
        .unwrap();
    tenants.image.refresh_snapshot(now()).unwrap();
    tenants.image.write_to(&tenants.image_dir).unwrap();
    let error = refusal(tenants.resolve(HONDA_APP));
    assert!(
        error.starts_with("freeze: image role \"honda\" metadata expired at"),
        "{error}"
    );
    // The other tenant is unaffected: its role is not visited.
    assert_eq!(
        tenants.resolve(NISSAN_APP).unwrap().as_deref(),
        Some("nissan")
    );
}

#[test]
fn an_unsigned_delegated_role_is_refused() {
    let tenants = Tenants::new();
    tamper(&tenants.image_dir, &tenants.top, "honda.json", &[], |_| {});
    assert_eq!(
        refusal(tenants.resolve(HONDA_APP)),
        "threshold not met: image role \"honda\" metadata has 0 valid signatures of the 1 required"
    );
}

#[test]
fn a_target_signed_by_another_tenant_s_key_is_refused_naming_the_role() {
    let tenants = Tenants::new();
    // Honda's key signs nissan's role, listing a nissan path.
    tamper(
        &tenants.image_dir,
        &tenants.top,
        "nissan.json",
        &[&tenants.honda],
        |targets| {
            targets.targets.get_mut(NISSAN_APP).unwrap().length += 1;
        },
    );
    assert_eq!(
        refusal(tenants.resolve(NISSAN_APP)),
        "threshold not met: image role \"nissan\" metadata has 0 valid signatures of the 1 required"
    );
}

#[test]
fn a_delegated_role_below_its_threshold_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let (top, honda, second) = (generate_key(), generate_key(), generate_key());
    let mut image = repository(&[top, honda.clone()]);
    image
        .add_delegated_role(
            "targets",
            delegation("honda", &["apps/honda/*"], 2, true),
            &[honda.verifying_key(), second.verifying_key()],
        )
        .unwrap();
    image
        .add_delegated_target("honda", HONDA_APP, b"app", None)
        .unwrap();
    image.publish(now()).unwrap();
    image.write_to(temp.path()).unwrap();
    let mut client = TrustedRepository::new("image", &image.root_file()).unwrap();
    let fetcher = FsFetcher::new(temp.path());
    client.update(&fetcher, &Limits::default(), now()).unwrap();
    let error = client
        .resolve_target(HONDA_APP, &fetcher, &Limits::default(), now())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "threshold not met: image role \"honda\" metadata has 1 valid signatures of the 2 required"
    );
}

#[test]
fn a_zero_threshold_is_refused() {
    let tenants = Tenants::new();
    tamper(
        &tenants.image_dir,
        &tenants.top,
        "targets.json",
        &[&tenants.top],
        |targets| {
            targets.delegations.as_mut().unwrap().roles[0].threshold = 0;
        },
    );
    assert_eq!(
        refusal(tenants.resolve(HONDA_APP)),
        "delegation: image role \"honda\" has threshold 0: a role needs at least one signature"
    );
    // The tooling refuses it too.
    let mut image = repository(&[generate_key()]);
    let error = image
        .add_delegated_role(
            "targets",
            delegation("honda", &["apps/honda/*"], 0, true),
            &[generate_key().verifying_key()],
        )
        .unwrap_err();
    assert!(error.to_string().contains("threshold 0"), "{error}");
}

#[test]
fn a_path_outside_the_role_s_patterns_is_never_trusted() {
    let tenants = Tenants::new();
    // The tool refuses to let honda sign a nissan path.
    let mut image = Repository::open(
        &tenants.image_dir,
        Lifetimes::default(),
        vec![tenants.honda.clone()],
    )
    .unwrap();
    let error = image
        .add_delegated_target("honda", "apps/nissan/x", b"x", None)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "repository: \"apps/nissan/x\" is outside the paths of role honda (apps/honda/*): its key may not sign it"
    );

    // Hand-crafted: honda's role lists a nissan path, signed by honda's key.
    tamper(
        &tenants.image_dir,
        &tenants.top,
        "honda.json",
        &[&tenants.honda],
        |targets| {
            let file = targets.targets[HONDA_APP].clone();
            targets.targets.insert("apps/nissan/x".into(), file);
        },
    );
    assert_eq!(
        refusal(tenants.resolve(HONDA_APP)),
        "delegation: image role \"honda\" is not trusted for \"apps/nissan/x\""
    );
    // Looking the nissan path up never reaches honda: not found.
    assert_eq!(tenants.resolve("apps/nissan/x").unwrap(), None);
    let (director_dir, director_root, ecus) =
        tenants.director(&[("apps/nissan/x", b"honda navigation")]);
    let mut primary = Primary::new(
        VIN,
        ecus,
        &director_root,
        &tenants.image.root_file(),
        Limits::default(),
    )
    .unwrap();
    let error = primary
        .check(
            &FsFetcher::new(&director_dir),
            &FsFetcher::new(&tenants.image_dir),
            now(),
        )
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "arbitrary software: director target \"apps/nissan/x\" is not in the image repository"
    );
}

#[test]
fn a_delegated_role_missing_from_the_snapshot_is_refused() {
    let tenants = Tenants::new();
    relist(&tenants.image_dir, &tenants.top, |meta| {
        meta.remove("honda.json");
    });
    // A client that never trusted a snapshot listing honda.
    assert_eq!(
        refusal(tenants.resolve(HONDA_APP)),
        "delegation: image role \"honda\" is missing from snapshot"
    );
}

#[test]
fn a_delegated_role_at_another_version_than_the_snapshot_lists_is_refused() {
    let tenants = Tenants::new();
    relist(&tenants.image_dir, &tenants.top, |meta| {
        meta.insert(
            "honda.json".into(),
            MetaFile {
                version: 2,
                length: None,
                hashes: None,
            },
        );
    });
    assert_eq!(
        refusal(tenants.resolve(HONDA_APP)),
        "partial bundle: image role \"honda\" version 1 is not the version 2 listed in snapshot"
    );
    // The length and hashes listed are checked too.
    relist(&tenants.image_dir, &tenants.top, |meta| {
        let length = fs::metadata(tenants.image_dir.join("honda.json"))
            .unwrap()
            .len();
        meta.insert(
            "honda.json".into(),
            MetaFile::describe(1, &vec![b' '; length as usize]),
        );
    });
    let error = refusal(tenants.resolve(HONDA_APP));
    assert!(
        error.starts_with("mix-and-match: image role \"honda\" does not match the"),
        "{error}"
    );
}

#[test]
fn rollback_of_a_delegated_role_across_updates_is_refused() {
    let mut tenants = Tenants::new();
    let old = tenants.temp.path().join("old");
    tenants.image.write_to(&old).unwrap();
    tenants
        .image
        .add_delegated_target("honda", HONDA_APP, b"v2", Some(&custom(None)))
        .unwrap();
    tenants.image.publish_role("honda", now()).unwrap();
    tenants.image.write_to(&tenants.image_dir).unwrap();

    let mut client = tenants.client();
    let fetcher = FsFetcher::new(&tenants.image_dir);
    let (file, role) = client
        .resolve_target(HONDA_APP, &fetcher, &Limits::default(), now())
        .unwrap()
        .unwrap();
    assert_eq!((file.length, role.as_str()), (2, "honda"));
    let state = tenants.temp.path().join("state");
    client.save(&state).unwrap();

    // The old files, with a newer snapshot and timestamp listing honda version 1.
    relist(&old, &tenants.top, |meta| {
        meta.get_mut("honda.json").unwrap().version = 1;
    });
    for _ in 0..3 {
        relist(&old, &tenants.top, |_| {});
    }
    let mut loaded = TrustedRepository::load(
        "image",
        &tenants.image.root_file(),
        &state,
        &Limits::default(),
    )
    .unwrap();
    let error = loaded
        .update(&FsFetcher::new(&old), &Limits::default(), now())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "rollback: image role \"honda\" version 1 is older than the trusted version 2"
    );
}

#[test]
fn terminating_and_non_terminating_delegations_are_searched_in_order() {
    let temp = tempfile::tempdir().unwrap();
    let (top, first, second) = (generate_key(), generate_key(), generate_key());
    let build = |terminating: bool, first_lists: bool| {
        let mut image = repository(&[top.clone(), first.clone(), second.clone()]);
        image
            .add_delegated_role(
                "targets",
                delegation("first", &["apps/*/*"], 1, terminating),
                &[first.verifying_key()],
            )
            .unwrap();
        image
            .add_delegated_role(
                "targets",
                delegation("second", &["apps/shared/*"], 1, true),
                &[second.verifying_key()],
            )
            .unwrap();
        if first_lists {
            image
                .add_delegated_target("first", "apps/shared/x", b"first", None)
                .unwrap();
        }
        image
            .add_delegated_target("second", "apps/shared/x", b"second!", None)
            .unwrap();
        image.publish(now()).unwrap();
        let dir = temp.path().join(format!("{terminating}-{first_lists}"));
        image.write_to(&dir).unwrap();
        let mut client = TrustedRepository::new("image", &image.root_file()).unwrap();
        let fetcher = FsFetcher::new(&dir);
        client.update(&fetcher, &Limits::default(), now()).unwrap();
        client
            .resolve_target("apps/shared/x", &fetcher, &Limits::default(), now())
            .unwrap()
            .map(|(file, role)| (file.length, role))
    };
    // Non-terminating first role without the target: the search goes on.
    assert_eq!(build(false, false), Some((7, "second".to_string())));
    // The first role listed wins.
    assert_eq!(build(false, true), Some((5, "first".to_string())));
    // A terminating first role ends the search, whether or not it has the target.
    assert_eq!(build(true, false), None);
    assert_eq!(build(true, true), Some((5, "first".to_string())));
}

#[test]
fn the_top_level_targets_entry_wins_over_a_delegated_one() {
    let mut tenants = Tenants::new();
    tenants
        .image
        .add_target(HONDA_APP, b"top-level", Some(&custom(None)))
        .unwrap();
    tenants.image.publish(now()).unwrap();
    tenants.image.write_to(&tenants.image_dir).unwrap();
    assert_eq!(
        tenants.resolve(HONDA_APP).unwrap().as_deref(),
        Some("targets")
    );
}

#[test]
fn cycles_and_chains_longer_than_the_limit_are_bounded() {
    let temp = tempfile::tempdir().unwrap();
    let top = generate_key();
    let tenant = generate_key();
    let mut image = repository(&[top, tenant.clone()]);
    let delegate = |image: &mut Repository, parent: &str, name: &str| {
        image
            .add_delegated_role(
                parent,
                delegation(name, &["apps/*"], 1, false),
                &[tenant.verifying_key()],
            )
            .unwrap();
    };
    // A cycle: a -> b -> a.
    delegate(&mut image, "targets", "a");
    delegate(&mut image, "a", "b");
    delegate(&mut image, "b", "a");
    image
        .add_delegated_target("b", "apps/in-b", b"b", None)
        .unwrap();
    // A chain of MAX_DELEGATIONS + 1 roles under c0.
    delegate(&mut image, "targets", "c0");
    for depth in 1..=MAX_DELEGATIONS {
        delegate(&mut image, &format!("c{}", depth - 1), &format!("c{depth}"));
    }
    image.publish(now()).unwrap();
    image.write_to(temp.path()).unwrap();
    let mut client = TrustedRepository::new("image", &image.root_file()).unwrap();
    let fetcher = FsFetcher::new(temp.path());
    client.update(&fetcher, &Limits::default(), now()).unwrap();
    let found = client
        .resolve_target("apps/in-b", &fetcher, &Limits::default(), now())
        .unwrap();
    assert_eq!(found.map(|(_, role)| role).as_deref(), Some("b"));
    // Not listed anywhere: the cycle is left, then the chain is cut at the limit.
    let error = client
        .resolve_target("apps/nowhere", &fetcher, &Limits::default(), now())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "delegation: image role \"c{}\" would be role number {} visited looking up \"apps/nowhere\": at most {MAX_DELEGATIONS} are",
            MAX_DELEGATIONS - 2,
            MAX_DELEGATIONS + 1
        )
    );
}

#[test]
fn a_role_delegated_by_path_hash_prefix_is_found() {
    use sha2::{Digest, Sha256};

    let temp = tempfile::tempdir().unwrap();
    let (top, bin) = (generate_key(), generate_key());
    let mut image = repository(&[top, bin.clone()]);
    let prefix = hex::encode(Sha256::digest(b"apps/x"))[..2].to_string();
    let role = DelegatedRole {
        paths: None,
        path_hash_prefixes: Some(vec![prefix]),
        ..delegation("bin", &[], 1, false)
    };
    image
        .add_delegated_role("targets", role, &[bin.verifying_key()])
        .unwrap();
    image
        .add_delegated_target("bin", "apps/x", b"x", None)
        .unwrap();
    image.publish(now()).unwrap();
    image.write_to(temp.path()).unwrap();
    let mut client = TrustedRepository::new("image", &image.root_file()).unwrap();
    let fetcher = FsFetcher::new(temp.path());
    client.update(&fetcher, &Limits::default(), now()).unwrap();
    let found = client
        .resolve_target("apps/x", &fetcher, &Limits::default(), now())
        .unwrap();
    assert_eq!(found.map(|(_, role)| role).as_deref(), Some("bin"));
}
