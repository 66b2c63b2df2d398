//! Writes a small image repository and a director repository for one vehicle into
//! a directory, for trying the metadata with other TUF tools:
//!
//! ```text
//! cargo run -p tomoe-ota --example make_repository -- <dir>
//! ```
//!
//! `<dir>/image` is the image repository, `<dir>/director/<VIN>` the director's
//! repository for the vehicle. The image repository's root key is rotated once,
//! so that it has `1.root.json` and `2.root.json`.

use std::path::PathBuf;
use std::time::SystemTime;

use tomoe_ota::metadata::{RoleName, TargetFile, UptaneCustom};
use tomoe_ota::{generate_key, key_id, Lifetimes, Repository, RepositoryConfig, RoleConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: make_repository <dir>")?,
    );
    let now = SystemTime::now();
    let vin = "JT3HN86R0W0123456";
    let image_bytes = b"brake firmware 2.0";
    let custom = UptaneCustom {
        ecu_identifier: None,
        hardware_identifier: "brake-controller-v2".into(),
        release_counter: 2,
    };

    let (mut image, root_key) = new_repository(now)?;
    image.add_target("brake-2.0.bin", image_bytes, Some(&custom))?;
    image.publish(now)?;
    image.rotate_key(RoleName::Root, &key_id(&root_key), generate_key(), now)?;
    image.write_to(&dir.join("image"))?;

    let (mut director, _) = new_repository(now)?;
    let assigned = UptaneCustom {
        ecu_identifier: Some("brake-ecu-0001".into()),
        ..custom
    };
    director.add_target_description(
        "brake-2.0.bin",
        TargetFile::describe(image_bytes, Some(&assigned)),
    )?;
    director.publish(now)?;
    director.write_to(&dir.join("director").join(vin))?;
    println!("wrote {}", dir.display());
    Ok(())
}

/// A repository with one key per role, returning the root key too.
fn new_repository(
    now: SystemTime,
) -> Result<(Repository, ed25519_dalek::SigningKey), tomoe_ota::OtaError> {
    let keys: Vec<_> = (0..4).map(|_| generate_key()).collect();
    let role = |index: usize| RoleConfig {
        keys: vec![keys[index].verifying_key()],
        threshold: 1,
    };
    let config = RepositoryConfig {
        root: role(0),
        targets: role(1),
        snapshot: role(2),
        timestamp: role(3),
    };
    let repository = Repository::create(&config, Lifetimes::default(), keys.clone(), now)?;
    Ok((repository, keys[0].clone()))
}
