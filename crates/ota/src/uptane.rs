//! Uptane full verification on the primary ECU: verify the director repository
//! and the image repository, cross-check what the director assigns against what
//! the image repository signed, and stream each image with its length and hashes
//! checked before it is staged.
//!
//! The director serves one repository per vehicle (one directory per VIN); each
//! of its targets names, in `custom`, the ECU it is for (`ecu_identifier`), the
//! hardware it is built for (`hardware_identifier`) and its `release_counter`.
//! The image repository signs the same image under the same target name, with the
//! same length and hashes, hardware id and release counter.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256, Sha512};

use crate::client::{Fetcher, Limits, TrustedRepository};
use crate::metadata::{TargetFile, Targets};
use crate::repository::TARGETS_DIR;
use crate::OtaError;

/// The image an ECU runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledImage {
    /// The target name of the image.
    pub target: String,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its release counter; an update never goes below it.
    pub release_counter: u64,
}

/// An ECU the primary updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ecu {
    /// The ECU's identifier, unique in the vehicle (its serial).
    pub ecu_identifier: String,
    /// The kind of hardware; an image must be built for it.
    pub hardware_identifier: String,
    /// What it runs now.
    pub installed: InstalledImage,
}

impl Ecu {
    /// An ECU that runs nothing yet (an empty image, release counter 0).
    pub fn new(ecu_identifier: &str, hardware_identifier: &str) -> Ecu {
        Ecu {
            ecu_identifier: ecu_identifier.to_string(),
            hardware_identifier: hardware_identifier.to_string(),
            installed: InstalledImage {
                target: String::new(),
                sha256: String::new(),
                release_counter: 0,
            },
        }
    }
}

/// An ECU written `ID:HW` (identifier and hardware id), split at the last colon:
/// app ECU ids hold one themselves (`app:range-estimator:tomoe-app`).
impl std::str::FromStr for Ecu {
    type Err = String;

    fn from_str(text: &str) -> Result<Ecu, String> {
        match text.rsplit_once(':') {
            Some((id, hardware)) if !id.is_empty() && !hardware.is_empty() => {
                Ok(Ecu::new(id, hardware))
            }
            _ => Err(format!(
                "\"{text}\" is not ID:HW (an ECU identifier and a hardware id)"
            )),
        }
    }
}

/// An image the director assigned to an ECU that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovedImage {
    /// The ECU it is for.
    pub ecu_identifier: String,
    /// The target name, the same in both repositories.
    pub target: String,
    /// Length, hashes and custom fields as the image repository signed them.
    pub file: TargetFile,
    /// The image's release counter.
    pub release_counter: u64,
    /// The image-repository role whose signature vouched for the target:
    /// `targets` for the top-level targets role, else the delegated role's name
    /// (the tenant, such as `honda`).
    pub signed_by: String,
}

impl ApprovedImage {
    /// The image's SHA-256 as the image repository signed it (empty if absent).
    pub fn sha256(&self) -> &str {
        self.file.hashes.get("sha256").map_or("", String::as_str)
    }
}

/// What a primary would install on one ECU, as `tomoe ota check` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedInstall {
    /// The ECU.
    pub ecu: String,
    /// The target name.
    pub target: String,
    /// Its length in bytes.
    pub length: u64,
    /// Its release counter.
    pub release_counter: u64,
    /// Its SHA-256.
    pub sha256: String,
    /// The role whose signature vouched for it.
    pub signed_by: String,
}

impl From<&ApprovedImage> for PlannedInstall {
    fn from(image: &ApprovedImage) -> PlannedInstall {
        PlannedInstall {
            ecu: image.ecu_identifier.clone(),
            target: image.target.clone(),
            length: image.file.length,
            release_counter: image.release_counter,
            sha256: image.sha256().to_owned(),
            signed_by: image.signed_by.clone(),
        }
    }
}

impl std::fmt::Display for PlannedInstall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on ECU {} ({} bytes, release counter {}, sha256 {}, signed by {})",
            self.target, self.ecu, self.length, self.release_counter, self.sha256, self.signed_by
        )
    }
}

/// Cross-checks the director's targets for a vehicle with `ecus` against the
/// image repository's, and returns the images to install: those differing from
/// what the ECU runs.
///
/// Refuses a target that names no ECU or one not in `ecus`, two targets for one
/// ECU, a hardware id other than the ECU's (in either repository), an image the
/// image repository does not list, a length, hash or release counter that differs
/// between the repositories, and a release counter below the installed one.
///
/// The image repository's targets are looked up in its top-level targets role
/// only; [`Primary::check`] looks them up through delegations too
/// ([`cross_check_with`]).
pub fn cross_check(
    director: &Targets,
    image: &Targets,
    ecus: &[Ecu],
) -> Result<Vec<ApprovedImage>, OtaError> {
    cross_check_with(director, ecus, &mut |name| {
        Ok(image
            .targets
            .get(name)
            .map(|file| (file.clone(), crate::TOP_LEVEL_TARGETS.to_string())))
    })
}

/// Looks a target up in the image repository: the target and the role that
/// signed it, or `None` if the image repository does not list it.
pub type ImageLookup<'a> = dyn FnMut(&str) -> Result<Option<(TargetFile, String)>, OtaError> + 'a;

/// [`cross_check`] with the image repository's targets looked up by `lookup`:
/// the target and the role that signed it, or `None` if the image repository
/// does not list it.
pub fn cross_check_with(
    director: &Targets,
    ecus: &[Ecu],
    lookup: &mut ImageLookup<'_>,
) -> Result<Vec<ApprovedImage>, OtaError> {
    let mut approved = Vec::new();
    let mut assigned = BTreeSet::new();
    for (name, director_file) in &director.targets {
        let invalid = |reason: String| OtaError::InvalidAssignment {
            reason: format!("director target \"{name}\": {reason}"),
        };
        let custom = director_file.uptane_fields().map_err(invalid)?;
        if custom.ecus.is_empty() {
            return Err(invalid(
                "it names no ECU (custom \"ecu_identifier\" or \"ecuIdentifiers\")".into(),
            ));
        }
        // The image repository's entry, looked up once per target.
        let mut image_entry: Option<(TargetFile, String)> = None;
        for (ecu_identifier, hardware) in &custom.ecus {
            let ecu = ecus
                .iter()
                .find(|ecu| ecu.ecu_identifier == *ecu_identifier)
                .ok_or_else(|| {
                    invalid(format!("ECU \"{ecu_identifier}\" is not in this vehicle"))
                })?;
            if !assigned.insert(ecu_identifier.clone()) {
                return Err(invalid(format!(
                    "ECU \"{ecu_identifier}\" is assigned more than one image"
                )));
            }
            let wrong_hardware = |received: &str| OtaError::WrongHardwareId {
                target: name.clone(),
                ecu: ecu_identifier.clone(),
                expected: ecu.hardware_identifier.clone(),
                received: received.to_string(),
            };
            if *hardware != ecu.hardware_identifier {
                return Err(wrong_hardware(hardware));
            }
            if image_entry.is_none() {
                image_entry =
                    Some(lookup(name)?.ok_or_else(|| OtaError::NotInImageRepository {
                        target: name.clone(),
                    })?);
            }
            let (image_file, signed_by) = image_entry.as_ref().expect("looked up above");
            let release_counter =
                check_image_entry(name, director_file, image_file, custom.release_counter)?;
            let image_hardware = image_file
                .uptane_fields()
                .map(|fields| fields.hardware_ids)
                .unwrap_or_default();
            if !image_hardware.contains(&ecu.hardware_identifier) {
                return Err(wrong_hardware(&image_hardware.join(", ")));
            }
            if release_counter < ecu.installed.release_counter {
                return Err(OtaError::ReleaseCounterRollback {
                    target: name.clone(),
                    received: release_counter,
                    installed: ecu.installed.release_counter,
                });
            }
            let sha256 = image_file.hashes.get("sha256");
            if *name == ecu.installed.target
                && sha256.is_some_and(|hash| hash.eq_ignore_ascii_case(&ecu.installed.sha256))
            {
                continue;
            }
            approved.push(ApprovedImage {
                ecu_identifier: ecu_identifier.clone(),
                target: name.clone(),
                file: image_file.clone(),
                release_counter,
                signed_by: signed_by.clone(),
            });
        }
    }
    Ok(approved)
}

/// Checks the image repository's entry for target `name` against the
/// director's: the same length, equal hashes for every algorithm both list (at
/// least one), Uptane fields, and the same release counter, which it returns.
fn check_image_entry(
    name: &str,
    director_file: &TargetFile,
    image_file: &TargetFile,
    director_release_counter: u64,
) -> Result<u64, OtaError> {
    let mismatch = |what: String| OtaError::DirectorImageMismatch {
        target: name.to_string(),
        what,
    };
    if director_file.length != image_file.length {
        return Err(mismatch(format!(
            "length {} in the director, {} in the image repository",
            director_file.length, image_file.length
        )));
    }
    let mut common = 0;
    for (algorithm, director_hash) in &director_file.hashes {
        if let Some(image_hash) = image_file.hashes.get(algorithm) {
            if !director_hash.eq_ignore_ascii_case(image_hash) {
                return Err(mismatch(format!("{algorithm} hash")));
            }
            common += 1;
        }
    }
    if common == 0 {
        return Err(mismatch("no hash algorithm in common".into()));
    }
    let image_custom = image_file
        .uptane_fields()
        .map_err(|reason| mismatch(format!("the image repository's target: {reason}")))?;
    if image_custom.release_counter != director_release_counter {
        return Err(mismatch(format!(
            "release counter {} in the director, {} in the image repository",
            director_release_counter, image_custom.release_counter
        )));
    }
    Ok(image_custom.release_counter)
}

/// Streams the image of `approved` from the image repository into `sink`, reading
/// no more than its declared length (nor `limits.max_image_bytes`), and checks its
/// length and every hash it knows at the end. On error `sink` holds unverified
/// bytes, which the caller must discard.
pub fn download_image(
    fetcher: &dyn Fetcher,
    approved: &ApprovedImage,
    limits: &Limits,
    sink: &mut dyn Write,
) -> Result<(), OtaError> {
    let target = &approved.target;
    let declared = approved.file.length;
    if declared > limits.max_image_bytes {
        return Err(OtaError::ImageTooLong {
            target: target.clone(),
            limit: limits.max_image_bytes,
        });
    }
    let path = format!("{TARGETS_DIR}/{target}");
    let fetch_error = |source: io::Error| OtaError::fetch("image", &path, source);
    let mut reader = fetcher
        .fetch(&path)
        .map_err(fetch_error)?
        .take(declared.saturating_add(1));
    let mut sha256 = Sha256::new();
    let mut sha512 = Sha512::new();
    let mut received: u64 = 0;
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let count = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(fetch_error(error)),
        };
        received += count as u64;
        if received > declared {
            return Err(OtaError::ImageTooLong {
                target: target.clone(),
                limit: declared,
            });
        }
        let chunk = &buffer[..count];
        sha256.update(chunk);
        sha512.update(chunk);
        sink.write_all(chunk).map_err(|source| OtaError::Io {
            action: "write image",
            path: PathBuf::from(target),
            source,
        })?;
    }
    let mismatch = |what: String| OtaError::ImageMismatch {
        target: target.clone(),
        what,
    };
    if received != declared {
        return Err(mismatch(format!(
            "length {declared} (got {received} bytes)"
        )));
    }
    let digests = [
        ("sha256", hex::encode(sha256.finalize())),
        ("sha512", hex::encode(sha512.finalize())),
    ];
    let mut checked = 0;
    for (algorithm, actual) in digests {
        if let Some(expected) = approved.file.hashes.get(algorithm) {
            if !expected.eq_ignore_ascii_case(&actual) {
                return Err(mismatch(format!("{algorithm} hash")));
            }
            checked += 1;
        }
    }
    if checked == 0 {
        return Err(mismatch(
            "hashes: it lists neither sha256 nor sha512".into(),
        ));
    }
    Ok(())
}

/// The primary ECU of one vehicle: it trusts a director and an image repository,
/// and knows what its ECUs run.
#[derive(Debug, Clone)]
pub struct Primary {
    vin: String,
    ecus: Vec<Ecu>,
    director: TrustedRepository,
    image: TrustedRepository,
    limits: Limits,
}

impl Primary {
    /// A primary for vehicle `vin` with `ecus`, trusting the director and image
    /// repository roots given (provisioned out of band).
    pub fn new(
        vin: &str,
        ecus: Vec<Ecu>,
        director_root: &[u8],
        image_root: &[u8],
        limits: Limits,
    ) -> Result<Primary, OtaError> {
        let mut director = TrustedRepository::new("director", director_root)?;
        director.allow_targets_only();
        Ok(Primary {
            vin: vin.to_string(),
            ecus,
            director,
            image: TrustedRepository::new("image", image_root)?,
            limits,
        })
    }

    /// A primary as [`Primary::new`], with the trusted metadata that
    /// [`Primary::save`] stored in `dir` loaded and verified again
    /// ([`TrustedRepository::load`]), so that rollback protection survives a
    /// restart. A `dir` that does not exist yet loads nothing.
    pub fn load(
        vin: &str,
        ecus: Vec<Ecu>,
        director_root: &[u8],
        image_root: &[u8],
        limits: Limits,
        dir: &Path,
    ) -> Result<Primary, OtaError> {
        let mut director = TrustedRepository::new("director", director_root)?;
        director.allow_targets_only();
        director.load_from(&dir.join("director"), &limits)?;
        Ok(Primary {
            vin: vin.to_string(),
            ecus,
            director,
            image: TrustedRepository::load("image", image_root, &dir.join("image"), &limits)?,
            limits,
        })
    }

    /// [`Primary::load`] from `state_dir` when one is given, else [`Primary::new`].
    pub fn open(
        vin: &str,
        ecus: Vec<Ecu>,
        director_root: &[u8],
        image_root: &[u8],
        limits: Limits,
        state_dir: Option<&Path>,
    ) -> Result<Primary, OtaError> {
        match state_dir {
            Some(dir) => Primary::load(vin, ecus, director_root, image_root, limits, dir),
            None => Primary::new(vin, ecus, director_root, image_root, limits),
        }
    }

    /// Stores the trusted metadata of both repositories under `dir`, in
    /// `director/` and `image/` ([`TrustedRepository::save`]).
    pub fn save(&self, dir: &Path) -> Result<(), OtaError> {
        self.director.save(&dir.join("director"))?;
        self.image.save(&dir.join("image"))
    }

    /// The vehicle's VIN, which selects its director repository.
    pub fn vin(&self) -> &str {
        &self.vin
    }

    /// The ECUs and what they run.
    pub fn ecus(&self) -> &[Ecu] {
        &self.ecus
    }

    /// Replaces the ECUs and what they run, keeping the trusted metadata: for a
    /// vehicle whose ECUs (or apps) come and go, or were installed elsewhere.
    pub fn set_ecus(&mut self, ecus: Vec<Ecu>) {
        self.ecus = ecus;
    }

    /// The trusted director metadata.
    pub fn director(&self) -> &TrustedRepository {
        &self.director
    }

    /// The trusted image repository metadata.
    pub fn image_repository(&self) -> &TrustedRepository {
        &self.image
    }

    /// Verifies both repositories at `now` and cross-checks them: the images to
    /// install. The director is verified first, then the image repository.
    pub fn check(
        &mut self,
        director: &dyn Fetcher,
        image: &dyn Fetcher,
        now: SystemTime,
    ) -> Result<Vec<ApprovedImage>, OtaError> {
        self.director.update(director, &self.limits, now)?;
        let director_targets = self
            .director
            .targets()
            .expect("an updated repository has targets");
        // A director assigns images itself; delegating is for the image repository,
        // where each OEM signs its own apps.
        if director_targets.delegations.is_some() {
            return Err(OtaError::InvalidMetadata {
                path: "director targets.json".into(),
                reason: "it delegates to other roles: a director assigns images itself, \
                         only the image repository delegates"
                    .into(),
            });
        }
        self.image.update(image, &self.limits, now)?;
        let director_targets = self
            .director
            .targets()
            .expect("an updated repository has targets");
        // Each assigned target is looked up through the image repository's
        // delegations; a refused lookup keeps the roles verified so far (they
        // are re-verified on every lookup).
        let (image_repository, limits) = (&mut self.image, &self.limits);
        cross_check_with(director_targets, &self.ecus, &mut |name| {
            image_repository.resolve_target(name, image, limits, now)
        })
    }

    /// [`check`](Primary::check), then every approved image streamed from `image`
    /// into the writer `sink` gives for it, its length and hashes checked
    /// ([`download_image`]): what the primary would install, without installing.
    pub fn check_and_download<W: Write>(
        &mut self,
        director: &dyn Fetcher,
        image: &dyn Fetcher,
        now: SystemTime,
        mut sink: impl FnMut(&ApprovedImage) -> W,
    ) -> Result<Vec<ApprovedImage>, OtaError> {
        let approved = self.check(director, image, now)?;
        for one in &approved {
            download_image(image, one, &self.limits, &mut sink(one))?;
        }
        Ok(approved)
    }
}

#[cfg(test)]
mod ecu_tests {
    use super::Ecu;

    #[test]
    fn ecu_is_id_and_hardware_split_at_the_last_colon() {
        let ecu: Ecu = "brake-ecu-0001:brake-controller-v2".parse().unwrap();
        assert_eq!(
            (
                ecu.ecu_identifier.as_str(),
                ecu.hardware_identifier.as_str()
            ),
            ("brake-ecu-0001", "brake-controller-v2")
        );
        let app: Ecu = "app:range-estimator:tomoe-app".parse().unwrap();
        assert_eq!(
            (
                app.ecu_identifier.as_str(),
                app.hardware_identifier.as_str()
            ),
            ("app:range-estimator", "tomoe-app")
        );
        for bad in ["brake", ":hw", "id:", ""] {
            assert!(bad.parse::<Ecu>().is_err(), "{bad}");
        }
    }
}
