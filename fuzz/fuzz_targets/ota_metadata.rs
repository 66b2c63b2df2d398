//! TUF/Uptane metadata through the client's whole update workflow: one file of a
//! valid repository (trusted root, new root, timestamp, snapshot or targets) is
//! replaced by the input, either as it is (parsing, signatures) or as the `signed`
//! part re-signed with the role's real key (versions, expiry, lengths, hashes,
//! delegations: every check behind the signatures).
#![no_main]
use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use tomoe_ota::metadata::{Metadata, Root, Signed, Snapshot, Targets, Timestamp};
use tomoe_ota::{
    Fetcher, Lifetimes, Limits, Repository, RepositoryConfig, RoleConfig, TrustedRepository,
};

/// Fixed keys, so that the re-signed inputs verify: root, targets, snapshot, timestamp.
fn key(role: u8) -> SigningKey {
    SigningKey::from_bytes(&[role + 1; 32])
}

const NOW: Duration = Duration::from_secs(1_800_000_000);

struct Files(HashMap<String, Vec<u8>>);

impl Fetcher for Files {
    fn fetch(&self, path: &str) -> io::Result<Box<dyn Read + '_>> {
        match self.0.get(path) {
            Some(bytes) => Ok(Box::new(bytes.as_slice())),
            None => Err(io::Error::new(io::ErrorKind::NotFound, path.to_owned())),
        }
    }
}

/// The files of a valid repository with one target.
fn repository() -> &'static HashMap<String, Vec<u8>> {
    static FILES: OnceLock<HashMap<String, Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| {
        let role = |index: u8| RoleConfig {
            keys: vec![key(index).verifying_key()],
            threshold: 1,
        };
        let config = RepositoryConfig {
            root: role(0),
            targets: role(1),
            snapshot: role(2),
            timestamp: role(3),
        };
        let now = SystemTime::UNIX_EPOCH + NOW - Duration::from_secs(60);
        let keyring = (0..4).map(key).collect();
        let mut repository =
            Repository::create(&config, Lifetimes::default(), keyring, now).expect("a repository");
        repository
            .add_target("app-1.0.tar", b"an app image", None)
            .expect("a target");
        repository.publish(now).expect("published");
        HashMap::from([
            ("root.json".to_owned(), repository.root_file()),
            (
                "timestamp.json".to_owned(),
                repository.timestamp().to_file_bytes(),
            ),
            (
                "snapshot.json".to_owned(),
                repository.snapshot().to_file_bytes(),
            ),
            (
                "targets.json".to_owned(),
                repository.targets().to_file_bytes(),
            ),
        ])
    })
}

fn resigned<T: Metadata>(data: &[u8], keys: &[u8]) -> Option<Vec<u8>> {
    let signed: T = serde_json::from_slice(data).ok()?;
    let mut envelope = Signed::unsigned(signed);
    for role in keys {
        envelope.sign(&key(*role)).ok()?;
    }
    Some(envelope.to_file_bytes())
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let mut files = repository().clone();
    let resign = selector & 0x80 != 0;
    let (name, bytes) = match (selector & 0x7f) % 5 {
        0 => (
            "root.json",
            if resign {
                resigned::<Root>(data, &[0])
            } else {
                Some(data.to_vec())
            },
        ),
        1 => (
            "2.root.json",
            if resign {
                resigned::<Root>(data, &[0])
            } else {
                Some(data.to_vec())
            },
        ),
        2 => (
            "timestamp.json",
            if resign {
                resigned::<Timestamp>(data, &[3])
            } else {
                Some(data.to_vec())
            },
        ),
        3 => (
            "snapshot.json",
            if resign {
                resigned::<Snapshot>(data, &[2])
            } else {
                Some(data.to_vec())
            },
        ),
        _ => (
            "targets.json",
            if resign {
                resigned::<Targets>(data, &[1])
            } else {
                Some(data.to_vec())
            },
        ),
    };
    let Some(bytes) = bytes else {
        return;
    };
    files.insert(name.to_owned(), bytes);
    let Ok(mut trusted) = TrustedRepository::new("director", &files["root.json"]) else {
        return;
    };
    let fetcher = Files(files);
    let now = SystemTime::UNIX_EPOCH + NOW;
    if trusted.update(&fetcher, &Limits::default(), now).is_ok() {
        let _ = trusted.targets().map(|targets| targets.targets.len());
    }
});
