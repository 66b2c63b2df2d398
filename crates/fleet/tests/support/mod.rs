//! What the fleet backend's tests share.

use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePublicKey};
use tomoe_fleet::{EcuRecord, Fleet, Registration};

/// Registers vehicle `id` of `brand` and `model` with a fresh primary key and one
/// ECU (`central`, hardware `cc`).
pub async fn register(fleet: &Fleet, id: &str, brand: &str, model: &str) {
    fleet
        .register(&Registration {
            id: id.into(),
            brand: brand.into(),
            model: model.into(),
            profile: "p".into(),
            primary_key: ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng)
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
            ecus: vec![EcuRecord {
                ecu_id: "central".into(),
                hardware_id: "cc".into(),
                is_primary: true,
            }],
            parts: Vec::new(),
        })
        .await
        .unwrap();
}
