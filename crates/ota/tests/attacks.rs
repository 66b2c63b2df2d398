//! The Uptane attack suite: each test stages an attack on the director or image
//! repository, as files served by the filesystem fetcher or (module `over_http`)
//! by the HTTP server with an attacker in front, and shows the update refused with
//! a reason naming the attack, while what the ECU runs stays unchanged.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use tempfile::TempDir;
use tomoe_ota::metadata::{RoleName, TargetFile, UptaneCustom};
use tomoe_ota::{
    download_image, generate_key, key_id, ApprovedImage, Ecu, Fetcher, FsFetcher, InstalledImage,
    Lifetimes, Limits, OtaError, Primary, Repository, RepositoryConfig, RoleConfig,
};

/// What a primary does before it installs: full verification at `now`, then
/// every approved image downloaded (length and hashes checked) into `staging`
/// as `<ecu>.image`. Only when every image verified do the primary's ECUs count
/// them as installed; on error the staged files are removed.
fn verify_and_download(
    primary: &mut Primary,
    director: &dyn Fetcher,
    image: &dyn Fetcher,
    staging: &Path,
    now: SystemTime,
) -> Result<Vec<ApprovedImage>, OtaError> {
    let approved = primary.check(director, image, now)?;
    fs::create_dir_all(staging).unwrap();
    let mut staged = Vec::new();
    for one in &approved {
        let path = staging.join(format!("{}.image", one.ecu_identifier));
        staged.push(path.clone());
        let mut file = fs::File::create(&path).unwrap();
        if let Err(error) = download_image(image, one, &Limits::default(), &mut file) {
            for path in &staged {
                let _ = fs::remove_file(path);
            }
            return Err(error);
        }
    }
    let mut ecus = primary.ecus().to_vec();
    for one in &approved {
        if let Some(ecu) = ecus
            .iter_mut()
            .find(|ecu| ecu.ecu_identifier == one.ecu_identifier)
        {
            ecu.installed = InstalledImage {
                target: one.target.clone(),
                sha256: one.file.hashes.get("sha256").cloned().unwrap_or_default(),
                release_counter: one.release_counter,
            };
        }
    }
    primary.set_ecus(ecus);
    Ok(approved)
}

const VIN: &str = "JT3HN86R0W0123456";
const ECU: &str = "brake-ecu-0001";
const HARDWARE: &str = "brake-controller-v2";
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The keys of one repository: one root key, two targets keys (threshold 2),
/// one snapshot key and two timestamp keys (threshold 2).
struct Keys {
    root: SigningKey,
    targets: [SigningKey; 2],
    snapshot: SigningKey,
    timestamp: [SigningKey; 2],
}

impl Keys {
    fn new() -> Keys {
        Keys {
            root: generate_key(),
            targets: [generate_key(), generate_key()],
            snapshot: generate_key(),
            timestamp: [generate_key(), generate_key()],
        }
    }

    fn all(&self) -> Vec<SigningKey> {
        let mut keys = vec![self.root.clone(), self.snapshot.clone()];
        keys.extend(self.targets.iter().cloned());
        keys.extend(self.timestamp.iter().cloned());
        keys
    }

    fn config(&self) -> RepositoryConfig {
        let role = |keys: &[&SigningKey]| RoleConfig {
            keys: keys.iter().map(|key| key.verifying_key()).collect(),
            threshold: keys.len() as u32,
        };
        RepositoryConfig {
            root: role(&[&self.root]),
            targets: role(&[&self.targets[0], &self.targets[1]]),
            snapshot: role(&[&self.snapshot]),
            timestamp: role(&[&self.timestamp[0], &self.timestamp[1]]),
        }
    }
}

/// A director and an image repository on disk, and a primary trusting both.
struct Fixture {
    _temp: TempDir,
    now: SystemTime,
    image_keys: Keys,
    image: Repository,
    image_dir: PathBuf,
    director: Repository,
    director_dir: PathBuf,
    staging: PathBuf,
    primary: Primary,
}

fn installed_v1() -> InstalledImage {
    InstalledImage {
        target: "brake-1.0.bin".into(),
        sha256: "00".repeat(32),
        release_counter: 1,
    }
}

fn image_custom(hardware: &str, release_counter: u64) -> UptaneCustom {
    UptaneCustom {
        ecu_identifier: None,
        hardware_identifier: hardware.into(),
        release_counter,
    }
}

fn director_custom(hardware: &str, release_counter: u64) -> UptaneCustom {
    UptaneCustom {
        ecu_identifier: Some(ECU.into()),
        ..image_custom(hardware, release_counter)
    }
}

impl Fixture {
    fn new() -> Fixture {
        let temp = tempfile::tempdir().unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let image_keys = Keys::new();
        let image = Repository::create(
            &image_keys.config(),
            Lifetimes::default(),
            image_keys.all(),
            now,
        )
        .unwrap();
        let director_keys = Keys::new();
        let director = Repository::create(
            &director_keys.config(),
            Lifetimes::default(),
            director_keys.all(),
            now,
        )
        .unwrap();
        let ecu = Ecu {
            ecu_identifier: ECU.into(),
            hardware_identifier: HARDWARE.into(),
            installed: installed_v1(),
        };
        let primary = Primary::new(
            VIN,
            vec![ecu],
            &director.root_file(),
            &image.root_file(),
            Limits::default(),
        )
        .unwrap();
        let fixture = Fixture {
            image_dir: temp.path().join("image"),
            director_dir: temp.path().join("director").join(VIN),
            staging: temp.path().join("staging"),
            _temp: temp,
            now,
            image_keys,
            image,
            director,
            primary,
        };
        fixture.write();
        fixture
    }

    fn write(&self) {
        self.image.write_to(&self.image_dir).unwrap();
        self.director.write_to(&self.director_dir).unwrap();
    }

    /// Publishes `bytes` as `name` in the image repository, assigns it to the ECU
    /// in the director with the same description, and writes both.
    fn release(&mut self, name: &str, bytes: &[u8], hardware: &str, release_counter: u64) {
        self.image
            .add_target(name, bytes, Some(&image_custom(hardware, release_counter)))
            .unwrap();
        self.image.publish(self.now).unwrap();
        self.assign(
            TargetFile::describe(bytes, Some(&director_custom(hardware, release_counter))),
            name,
        );
    }

    /// Makes the director assign `target` as `name`, replacing earlier assignments.
    fn assign(&mut self, target: TargetFile, name: &str) {
        let previous: Vec<String> = self
            .director
            .targets()
            .signed
            .targets
            .keys()
            .cloned()
            .collect();
        for old in previous {
            self.director.remove_target(&old).unwrap();
        }
        self.director.add_target_description(name, target).unwrap();
        self.director.publish(self.now).unwrap();
        self.write();
    }

    fn update(&mut self) -> Result<Vec<ApprovedImage>, OtaError> {
        self.update_at(self.now)
    }

    fn update_at(&mut self, now: SystemTime) -> Result<Vec<ApprovedImage>, OtaError> {
        let director = FsFetcher::new(&self.director_dir);
        let image = FsFetcher::new(&self.image_dir);
        verify_and_download(&mut self.primary, &director, &image, &self.staging, now)
    }

    fn installed(&self) -> InstalledImage {
        self.primary.ecus()[0].installed.clone()
    }

    /// Asserts that the update is refused with a message starting with `reason`
    /// and that the installed image stays what it was.
    fn assert_refused(&mut self, reason: &str) -> OtaError {
        let before = self.installed();
        let error = self.update().expect_err("the update must be refused");
        assert!(
            error.to_string().starts_with(reason),
            "expected a refusal starting with {reason:?}, got {:?}",
            error.to_string()
        );
        assert_eq!(
            self.installed(),
            before,
            "a refused update must not change the installed image"
        );
        assert!(
            !self.staging.join(format!("{ECU}.image")).exists() || before != installed_v1(),
            "a refused update must not leave a staged image"
        );
        error
    }

    fn image_file(&self, name: &str) -> PathBuf {
        self.image_dir.join(name)
    }
}

fn copy(from: &Path, to: &Path) {
    fs::copy(from, to).unwrap();
}

fn installs(fixture: &mut Fixture, target: &str, release_counter: u64) {
    let approved = fixture.update().expect("the update must be accepted");
    assert_eq!(approved.len(), 1);
    let installed = fixture.installed();
    assert_eq!(installed.target, target);
    assert_eq!(installed.release_counter, release_counter);
}

#[test]
fn valid_update_is_verified_staged_and_installed() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    installs(&mut fixture, "brake-2.0.bin", 2);
    let staged = fs::read(fixture.staging.join(format!("{ECU}.image"))).unwrap();
    assert_eq!(staged, b"brake firmware 2.0");
    // Nothing new: nothing to install.
    assert!(fixture.update().unwrap().is_empty());
}

#[test]
fn rollback_of_metadata_version_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    installs(&mut fixture, "brake-2.0.bin", 2);
    let old = fixture._temp.path().join("old");
    fs::create_dir_all(&old).unwrap();
    for file in ["timestamp.json", "snapshot.json", "targets.json"] {
        copy(&fixture.image_file(file), &old.join(file));
    }
    fixture.release("brake-3.0.bin", b"brake firmware 3.0", HARDWARE, 3);
    installs(&mut fixture, "brake-3.0.bin", 3);
    // The attacker serves the image repository as it was before release 3.0.
    for file in ["timestamp.json", "snapshot.json", "targets.json"] {
        copy(&old.join(file), &fixture.image_file(file));
    }
    fixture
        .assert_refused("rollback: image timestamp version 2 is older than the trusted version 3");
}

#[test]
fn rollback_of_metadata_version_after_a_restart_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    installs(&mut fixture, "brake-2.0.bin", 2);
    let old = fixture._temp.path().join("old");
    fs::create_dir_all(&old).unwrap();
    for file in ["timestamp.json", "snapshot.json", "targets.json"] {
        copy(&fixture.image_file(file), &old.join(file));
    }
    fixture.release("brake-3.0.bin", b"brake firmware 3.0", HARDWARE, 3);
    installs(&mut fixture, "brake-3.0.bin", 3);
    let trusted = fixture._temp.path().join("trusted");
    fixture.primary.save(&trusted).unwrap();
    for repository in ["director", "image"] {
        for file in ["timestamp.json", "snapshot.json", "targets.json"] {
            assert!(trusted.join(repository).join(file).is_file(), "{file}");
        }
    }
    // A restart: the primary starts again from the provisioned roots and the
    // stored metadata, which is verified again.
    let installed = fixture.installed();
    fixture.primary = Primary::load(
        VIN,
        vec![Ecu {
            ecu_identifier: ECU.into(),
            hardware_identifier: HARDWARE.into(),
            installed,
        }],
        &fixture.director.root_file(),
        &fixture.image.root_file(),
        Limits::default(),
        &trusted,
    )
    .unwrap();
    assert_eq!(
        fixture
            .primary
            .image_repository()
            .timestamp()
            .unwrap()
            .version,
        3
    );
    // The attacker serves the image repository as it was before release 3.0.
    for file in ["timestamp.json", "snapshot.json", "targets.json"] {
        copy(&old.join(file), &fixture.image_file(file));
    }
    fixture
        .assert_refused("rollback: image timestamp version 2 is older than the trusted version 3");
    // Without the stored metadata the same files would be accepted: the
    // protection comes from what was stored.
    let fresh = Primary::load(
        VIN,
        Vec::new(),
        &fixture.director.root_file(),
        &fixture.image.root_file(),
        Limits::default(),
        &fixture._temp.path().join("nothing stored"),
    )
    .unwrap();
    assert!(fresh.image_repository().timestamp().is_none());
    // Altered stored metadata is dropped, not trusted.
    let stored = trusted.join("image").join("timestamp.json");
    let text = fs::read_to_string(&stored).unwrap();
    fs::write(
        &stored,
        text.replacen("\"version\": 3", "\"version\": 9", 1),
    )
    .unwrap();
    let reloaded = Primary::load(
        VIN,
        Vec::new(),
        &fixture.director.root_file(),
        &fixture.image.root_file(),
        Limits::default(),
        &trusted,
    )
    .unwrap();
    assert!(reloaded.image_repository().timestamp().is_none());
    assert!(reloaded.director().targets().is_some());
}

#[test]
fn rollback_of_release_counter_is_refused() {
    let mut fixture = Fixture::new();
    // A correctly signed but older release with a known vulnerability.
    fixture.release("brake-0.9.bin", b"brake firmware 0.9", HARDWARE, 0);
    fixture.assert_refused(
        "rollback: release counter 0 of \"brake-0.9.bin\" is lower than the installed release counter 1",
    );
}

#[test]
fn freeze_with_expired_timestamp_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    // Two days later the director is live, but the image repository is frozen
    // at a timestamp that expired after one day.
    let later = fixture.now + 2 * DAY;
    fixture.director.refresh_timestamp(later).unwrap();
    fixture.write();
    let before = fixture.installed();
    let error = fixture.update_at(later).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("freeze: image timestamp metadata expired at 2027-01-16T08:00:00Z"),
        "{error}"
    );
    assert_eq!(fixture.installed(), before);
}

#[test]
fn mix_and_match_of_director_and_image_hashes_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    // The director names the same target with the hashes of other bytes of the same length.
    let other = TargetFile::describe(b"brake firmware X.0", Some(&director_custom(HARDWARE, 2)));
    fixture.assign(other, "brake-2.0.bin");
    fixture.assert_refused(
        "mix-and-match: director target \"brake-2.0.bin\" differs from the image repository: sha256 hash",
    );
}

#[test]
fn director_target_missing_from_image_repository_is_refused() {
    let mut fixture = Fixture::new();
    let rogue = TargetFile::describe(b"rogue firmware", Some(&director_custom(HARDWARE, 5)));
    fixture.assign(rogue, "rogue.bin");
    fixture.assert_refused(
        "arbitrary software: director target \"rogue.bin\" is not in the image repository",
    );
}

#[test]
fn arbitrary_software_with_altered_image_bytes_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    fs::write(
        fixture.image_file("targets/brake-2.0.bin"),
        b"malware firmware!!",
    )
    .unwrap();
    fixture.assert_refused(
        "arbitrary software: image \"brake-2.0.bin\" does not match its sha256 hash",
    );
    assert!(!fixture.staging.join(format!("{ECU}.image")).exists());
}

#[test]
fn arbitrary_metadata_with_altered_signature_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    let path = fixture.image_file("timestamp.json");
    let mut value: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    for signature in value["signatures"].as_array_mut().unwrap() {
        let sig = signature["sig"].as_str().unwrap();
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        signature["sig"] = format!("{flipped}{}", &sig[1..]).into();
    }
    fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    fixture.assert_refused(
        "threshold not met: image timestamp metadata has 0 valid signatures of the 2 required",
    );
}

#[test]
fn arbitrary_metadata_with_altered_content_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    // The attacker raises a version in the signed part and keeps the signatures.
    let path = fixture.image_file("timestamp.json");
    let mut value: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    value["signed"]["version"] = 99.into();
    fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    fixture.assert_refused(
        "threshold not met: image timestamp metadata has 0 valid signatures of the 2 required",
    );
}

#[test]
fn endless_data_in_metadata_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    let path = fixture.image_file("timestamp.json");
    let mut bytes = fs::read(&path).unwrap();
    bytes.resize(Limits::default().max_timestamp_bytes as usize + 1, b' ');
    fs::write(&path, bytes).unwrap();
    fixture.assert_refused(
        "endless data: image \"timestamp.json\" is larger than the 16384 byte limit",
    );
}

#[test]
fn endless_data_beyond_the_snapshot_length_listed_in_timestamp_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    let path = fixture.image_file("snapshot.json");
    let mut bytes = fs::read(&path).unwrap();
    let listed = bytes.len();
    bytes.extend(std::iter::repeat_n(b' ', 1_000_000));
    fs::write(&path, bytes).unwrap();
    fixture.assert_refused(&format!(
        "endless data: image \"snapshot.json\" is larger than the {listed} byte limit"
    ));
}

#[test]
fn endless_data_in_image_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    let path = fixture.image_file("targets/brake-2.0.bin");
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend(std::iter::repeat_n(0, 1_000_000));
    fs::write(&path, bytes).unwrap();
    fixture.assert_refused("endless data: image \"brake-2.0.bin\" is longer than 18 bytes");
}

#[test]
fn partial_bundle_with_stale_targets_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    let stale = fixture._temp.path().join("targets-v2.json");
    copy(&fixture.image_file("targets.json"), &stale);
    fixture.release("brake-3.0.bin", b"brake firmware 3.0", HARDWARE, 3);
    // New timestamp and snapshot list targets version 3, but version 2 is served.
    copy(&stale, &fixture.image_file("targets.json"));
    fixture.assert_refused(
        "partial bundle: image targets version 2 is not the version 3 listed in snapshot",
    );
}

#[test]
fn missing_metadata_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    fs::remove_file(fixture.image_file("snapshot.json")).unwrap();
    fixture.assert_refused("missing metadata: image \"snapshot.json\" was not served");
}

#[test]
fn threshold_not_met_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    installs(&mut fixture, "brake-2.0.bin", 2);
    // Someone holding one of the two timestamp keys re-signs the timestamp alone.
    let keyring = vec![fixture.image_keys.timestamp[0].clone()];
    let mut partial = Repository::open(&fixture.image_dir, Lifetimes::default(), keyring).unwrap();
    partial.refresh_timestamp(fixture.now).unwrap();
    partial.write_to(&fixture.image_dir).unwrap();
    fixture.assert_refused(
        "threshold not met: image timestamp metadata has 1 valid signatures of the 2 required",
    );
}

#[test]
fn a_director_that_delegates_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    // A director's targets that hand paths to another key, signed by the director.
    let delegate = tomoe_ota::generate_key();
    let public = tomoe_ota::metadata::PublicKey::ed25519(&delegate.verifying_key());
    fixture
        .director
        .set_delegations(Some(tomoe_ota::metadata::Delegations {
            keys: [(public.key_id(), public.clone())].into(),
            roles: vec![tomoe_ota::metadata::DelegatedRole {
                name: "oem".into(),
                keyids: vec![public.key_id()],
                threshold: 1,
                terminating: true,
                paths: Some(vec!["*".into()]),
                path_hash_prefixes: None,
            }],
        }));
    fixture.director.publish(fixture.now).unwrap();
    fixture.write();
    let error = fixture.assert_refused("invalid metadata \"director targets.json\"");
    assert!(
        error
            .to_string()
            .contains("only the image repository delegates"),
        "{error}"
    );
}

#[test]
fn one_key_signing_twice_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    installs(&mut fixture, "brake-2.0.bin", 2);
    // The holder of one of the two timestamp keys re-signs the timestamp alone and
    // lists that signature twice, to look like two.
    let keyring = vec![fixture.image_keys.timestamp[0].clone()];
    let mut partial = Repository::open(&fixture.image_dir, Lifetimes::default(), keyring).unwrap();
    partial.refresh_timestamp(fixture.now).unwrap();
    partial.write_to(&fixture.image_dir).unwrap();
    let path = fixture.image_file("timestamp.json");
    let mut timestamp: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let signature = timestamp["signatures"][0].clone();
    timestamp["signatures"]
        .as_array_mut()
        .unwrap()
        .push(signature);
    fs::write(&path, serde_json::to_vec_pretty(&timestamp).unwrap()).unwrap();
    let error = fixture.assert_refused("invalid metadata \"timestamp.json\": key ");
    assert!(error.to_string().contains("signs it twice"), "{error}");
}

#[test]
fn compromised_key_below_threshold_is_refused() {
    let mut fixture = Fixture::new();
    // The attacker controls the director, the snapshot and timestamp keys of the
    // image repository and one of its two targets keys.
    let keys = &fixture.image_keys;
    let keyring = vec![
        keys.targets[0].clone(),
        keys.snapshot.clone(),
        keys.timestamp[0].clone(),
        keys.timestamp[1].clone(),
    ];
    let mut attacker = Repository::open(&fixture.image_dir, Lifetimes::default(), keyring).unwrap();
    let malware = b"malicious brake firmware";
    attacker
        .add_target("brake-6.6.bin", malware, Some(&image_custom(HARDWARE, 9)))
        .unwrap();
    attacker.publish(fixture.now).unwrap();
    // The compromised director assigns the malware; it is written first, as
    // the fixture rewrites both repositories.
    fixture.assign(
        TargetFile::describe(malware, Some(&director_custom(HARDWARE, 9))),
        "brake-6.6.bin",
    );
    attacker.write_to(&fixture.image_dir).unwrap();
    fixture.assert_refused(
        "threshold not met: image targets metadata has 1 valid signatures of the 2 required",
    );
}

#[test]
fn wrong_hardware_id_is_refused() {
    let mut fixture = Fixture::new();
    // Correctly signed everywhere, but built for another ECU type.
    fixture.release(
        "infotainment-2.0.bin",
        b"infotainment 2.0",
        "infotainment-v1",
        2,
    );
    fixture.assert_refused(
        "wrong hardware id: \"infotainment-2.0.bin\" is for hardware \"infotainment-v1\" but ECU \"brake-ecu-0001\" is \"brake-controller-v2\"",
    );
}

#[test]
fn wrong_hardware_id_in_image_repository_is_refused() {
    let mut fixture = Fixture::new();
    fixture
        .image
        .add_target(
            "brake-2.0.bin",
            b"brake firmware 2.0",
            Some(&image_custom("brake-controller-v1", 2)),
        )
        .unwrap();
    fixture.image.publish(fixture.now).unwrap();
    fixture.assign(
        TargetFile::describe(b"brake firmware 2.0", Some(&director_custom(HARDWARE, 2))),
        "brake-2.0.bin",
    );
    fixture.assert_refused(
        "wrong hardware id: \"brake-2.0.bin\" is for hardware \"brake-controller-v1\"",
    );
}

#[test]
fn key_rotation_signed_by_old_and_new_root_keys_is_accepted() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    installs(&mut fixture, "brake-2.0.bin", 2);
    let old_root = key_id(&fixture.image_keys.root);
    fixture
        .image
        .rotate_key(RoleName::Root, &old_root, generate_key(), fixture.now)
        .unwrap();
    let old_timestamp = key_id(&fixture.image_keys.timestamp[0]);
    fixture
        .image
        .rotate_key(
            RoleName::Timestamp,
            &old_timestamp,
            generate_key(),
            fixture.now,
        )
        .unwrap();
    fixture.release("brake-3.0.bin", b"brake firmware 3.0", HARDWARE, 3);
    installs(&mut fixture, "brake-3.0.bin", 3);
    assert_eq!(fixture.primary.image_repository().root().version, 3);
    assert!(fixture.image_file("3.root.json").is_file());
}

#[test]
fn key_rotation_signed_only_by_the_new_root_key_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    // The attacker lacks the old root key and issues root version 2 with their own.
    let keys = &fixture.image_keys;
    let keyring = vec![
        keys.snapshot.clone(),
        keys.timestamp[0].clone(),
        keys.timestamp[1].clone(),
    ];
    let mut attacker = Repository::open(&fixture.image_dir, Lifetimes::default(), keyring).unwrap();
    attacker
        .rotate_key(
            RoleName::Root,
            &key_id(&keys.root),
            generate_key(),
            fixture.now,
        )
        .unwrap();
    attacker.write_to(&fixture.image_dir).unwrap();
    fixture.assert_refused(
        "threshold not met: image root metadata has 0 valid signatures of the 1 required by the keys of root version 1",
    );
}

#[test]
fn director_assignment_to_unknown_ecu_is_refused() {
    let mut fixture = Fixture::new();
    fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
    let custom = UptaneCustom {
        ecu_identifier: Some("other-vehicle-ecu".into()),
        ..image_custom(HARDWARE, 2)
    };
    fixture.assign(
        TargetFile::describe(b"brake firmware 2.0", Some(&custom)),
        "brake-2.0.bin",
    );
    fixture.assert_refused(
        "invalid director assignment: director target \"brake-2.0.bin\": ECU \"other-vehicle-ecu\" is not in this vehicle",
    );
}

// The network-level attacks: the same repositories served over HTTP by
// `ota_router`, read by `HttpFetcher`, with an attacker's server in between that
// can trickle, withhold, cut off or never end one file.

mod over_http {
    use std::io;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use axum::body::{Body, Bytes};
    use axum::extract::{Request, State};
    use axum::http::StatusCode;
    use axum::middleware::{self, Next};
    use axum::response::{IntoResponse, Response};
    use tomoe_ota::server::ota_router;
    use tomoe_ota::{HttpConfig, HttpFetcher, MinimumRate};
    use tomoe_test_support::http::BackgroundServer;

    use super::*;

    /// What the attacker does to requests for one URL path.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Attack {
        /// Sends a byte every 50 ms: 20 bytes/s.
        Trickle,
        /// Answers 404.
        NotFound,
        /// Sends a few bytes, then drops the connection.
        DropConnection,
        /// Sends spaces for ever.
        Endless,
    }

    #[derive(Debug, Default)]
    struct Attacker {
        target: Mutex<Option<(String, Attack)>>,
        /// Set when the server stops sending an endless body.
        endless_stopped: Arc<AtomicBool>,
    }

    /// The fixture's repositories on a loopback HTTP server, with an attacker in front.
    struct Server {
        address: SocketAddr,
        attacker: Arc<Attacker>,
        _server: BackgroundServer,
    }

    impl Server {
        fn start(fixture: &Fixture) -> Server {
            let attacker = Arc::new(Attacker::default());
            let router = ota_router(&fixture.image_dir, fixture.director_dir.parent().unwrap())
                .layer(middleware::from_fn_with_state(attacker.clone(), attack));
            let server = BackgroundServer::start(router);
            Server {
                address: server.address(),
                attacker,
                _server: server,
            }
        }

        fn attack(&self, path: &str, attack: Attack) {
            *self.attacker.target.lock().unwrap() = Some((path.to_string(), attack));
        }
    }

    async fn attack(
        State(attacker): State<Arc<Attacker>>,
        request: Request,
        next: Next,
    ) -> Response {
        let target = attacker.target.lock().unwrap().clone();
        let Some((path, attack)) = target.filter(|(path, _)| request.uri().path() == path) else {
            return next.run(request).await;
        };
        let _ = path;
        match attack {
            Attack::Trickle => Body::from_stream(futures::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((Ok::<_, io::Error>(Bytes::from_static(b" ")), ()))
            }))
            .into_response(),
            Attack::NotFound => StatusCode::NOT_FOUND.into_response(),
            Attack::DropConnection => Body::from_stream(futures::stream::iter([
                Ok(Bytes::from_static(b"brake")),
                Err(io::Error::other("connection dropped")),
            ]))
            .into_response(),
            Attack::Endless => {
                let guard = SetOnDrop(attacker.endless_stopped.clone());
                Body::from_stream(futures::stream::repeat_with(move || {
                    guard.keep();
                    Ok::<_, io::Error>(Bytes::from(vec![b' '; 16 * 1024]))
                }))
                .into_response()
            }
        }
    }

    /// Sets its flag when dropped: when the server stops producing a body.
    struct SetOnDrop(Arc<AtomicBool>);

    impl SetOnDrop {
        /// Makes a closure own the whole guard.
        fn keep(&self) {}
    }

    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Aborts below 1000 bytes/s over 300 ms, so that tests are quick.
    fn config() -> HttpConfig {
        HttpConfig {
            minimum_rate: MinimumRate {
                bytes_per_second: 1000,
                window: Duration::from_millis(300),
            },
            ..HttpConfig::default()
        }
    }

    /// Which repository's trusted metadata a refusal must leave unchanged. The
    /// director is verified first, so when the image repository is attacked the
    /// director's new metadata is already trusted, as it should be.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Unchanged {
        /// Both: the director was attacked, or nothing could be reached.
        Both,
        /// The image repository's metadata.
        Image,
        /// None: the metadata verified and only the image was attacked.
        Neither,
    }

    /// The versions of every role the primary trusts, per repository.
    fn trusted_versions(fixture: &Fixture, unchanged: Unchanged) -> Vec<Option<u64>> {
        let repositories = match unchanged {
            Unchanged::Both => vec![
                fixture.primary.director(),
                fixture.primary.image_repository(),
            ],
            Unchanged::Image => vec![fixture.primary.image_repository()],
            Unchanged::Neither => vec![],
        };
        repositories
            .into_iter()
            .flat_map(|repository| {
                [
                    Some(repository.root().version),
                    repository.timestamp().map(|timestamp| timestamp.version),
                    repository.snapshot().map(|snapshot| snapshot.version),
                    repository.targets().map(|targets| targets.version),
                ]
            })
            .collect()
    }

    impl Fixture {
        fn update_over_http(
            &mut self,
            address: SocketAddr,
        ) -> Result<Vec<ApprovedImage>, OtaError> {
            let director =
                HttpFetcher::with_config(&format!("http://{address}/director/{VIN}/"), config())
                    .unwrap();
            let image =
                HttpFetcher::with_config(&format!("http://{address}/image/"), config()).unwrap();
            verify_and_download(
                &mut self.primary,
                &director,
                &image,
                &self.staging,
                self.now,
            )
        }

        /// Asserts that the update over HTTP is refused with a message starting with
        /// `reason`, that the installed image stays what it was, that no image is
        /// left staged, and that the `unchanged` trusted metadata did not change.
        fn assert_refused_over_http(
            &mut self,
            address: SocketAddr,
            reason: &str,
            unchanged: Unchanged,
        ) -> OtaError {
            let installed = self.installed();
            let trusted = trusted_versions(self, unchanged);
            let staged_before = fs::read(self.staging.join(format!("{ECU}.image"))).ok();
            let started = Instant::now();
            let error = self
                .update_over_http(address)
                .expect_err("the update must be refused");
            assert!(
                error.to_string().starts_with(reason),
                "expected a refusal starting with {reason:?}, got {:?}",
                error.to_string()
            );
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the refusal took {:?}",
                started.elapsed()
            );
            assert_eq!(self.installed(), installed, "the installed image changed");
            let staged_after = fs::read(self.staging.join(format!("{ECU}.image"))).ok();
            assert!(
                staged_after.is_none() || staged_after == staged_before,
                "a refused update must not leave a new staged image"
            );
            assert_eq!(
                trusted_versions(self, unchanged),
                trusted,
                "the trusted metadata changed"
            );
            error
        }
    }

    /// A fixture that installed release 2.0 over HTTP and has release 3.0 ready.
    fn installed_over_http() -> (Fixture, Server) {
        let mut fixture = Fixture::new();
        let server = Server::start(&fixture);
        fixture.release("brake-2.0.bin", b"brake firmware 2.0", HARDWARE, 2);
        fixture.update_over_http(server.address).unwrap();
        assert_eq!(fixture.installed().target, "brake-2.0.bin");
        fixture.release("brake-3.0.bin", b"brake firmware 3.0", HARDWARE, 3);
        (fixture, server)
    }

    #[test]
    fn valid_update_over_http_is_verified_staged_and_installed() {
        let (mut fixture, server) = installed_over_http();
        let approved = fixture.update_over_http(server.address).unwrap();
        assert_eq!(approved.len(), 1);
        assert_eq!(fixture.installed().target, "brake-3.0.bin");
        let staged = fs::read(fixture.staging.join(format!("{ECU}.image"))).unwrap();
        assert_eq!(staged, b"brake firmware 3.0");
        assert!(fixture.update_over_http(server.address).unwrap().is_empty());
    }

    #[test]
    fn slow_retrieval_of_timestamp_over_http_is_refused() {
        let (mut fixture, server) = installed_over_http();
        server.attack("/image/timestamp.json", Attack::Trickle);
        let error = fixture.assert_refused_over_http(
            server.address,
            "slow retrieval: image \"timestamp.json\" arrived too slowly",
            Unchanged::Image,
        );
        let cause = std::error::Error::source(&error).unwrap().to_string();
        assert!(
            cause.contains("below the minimum rate of 1000 bytes/s"),
            "{cause}"
        );
        // The attack ends: the update goes through.
        server.attack("/none", Attack::Trickle);
        fixture.update_over_http(server.address).unwrap();
        assert_eq!(fixture.installed().target, "brake-3.0.bin");
    }

    #[test]
    fn slow_retrieval_of_image_over_http_is_refused() {
        let (mut fixture, server) = installed_over_http();
        server.attack("/image/targets/brake-3.0.bin", Attack::Trickle);
        // The metadata verified and is trusted; only the image never arrives.
        fixture.assert_refused_over_http(
            server.address,
            "slow retrieval: image \"targets/brake-3.0.bin\" arrived too slowly",
            Unchanged::Neither,
        );
    }

    #[test]
    fn drop_request_with_unreachable_server_is_refused() {
        let (mut fixture, server) = installed_over_http();
        let address = server.address;
        drop(server);
        fixture.assert_refused_over_http(
            address,
            "drop request: director \"2.root.json\" is unavailable",
            Unchanged::Both,
        );
    }

    #[test]
    fn drop_request_with_timestamp_not_found_is_refused() {
        let (mut fixture, server) = installed_over_http();
        server.attack("/image/timestamp.json", Attack::NotFound);
        fixture.assert_refused_over_http(
            server.address,
            "drop request: image \"timestamp.json\" is unavailable",
            Unchanged::Image,
        );
    }

    #[test]
    fn drop_request_with_connection_dropped_mid_transfer_is_refused() {
        let (mut fixture, server) = installed_over_http();
        server.attack(
            "/director/JT3HN86R0W0123456/snapshot.json",
            Attack::DropConnection,
        );
        fixture.assert_refused_over_http(
            server.address,
            "drop request: director \"snapshot.json\" is unavailable",
            Unchanged::Both,
        );
        server.attack("/image/targets/brake-3.0.bin", Attack::DropConnection);
        fixture.assert_refused_over_http(
            server.address,
            "drop request: image \"targets/brake-3.0.bin\" is unavailable",
            Unchanged::Neither,
        );
    }

    #[test]
    fn endless_data_in_metadata_over_http_is_refused() {
        let (mut fixture, server) = installed_over_http();
        server.attack("/image/timestamp.json", Attack::Endless);
        fixture.assert_refused_over_http(
            server.address,
            "endless data: image \"timestamp.json\" is larger than the 16384 byte limit",
            Unchanged::Image,
        );
        // The client hung up: the server stops sending.
        let started = Instant::now();
        while !server.attacker.endless_stopped.load(Ordering::SeqCst) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the endless body is still being sent"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn endless_data_in_image_over_http_is_refused() {
        let (mut fixture, server) = installed_over_http();
        server.attack("/image/targets/brake-3.0.bin", Attack::Endless);
        fixture.assert_refused_over_http(
            server.address,
            "endless data: image \"brake-3.0.bin\" is longer than 18 bytes",
            Unchanged::Neither,
        );
    }
}
