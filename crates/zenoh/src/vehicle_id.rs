//! A vehicle id that stays the same across restarts.

use std::path::Path;

use crate::keys::{check_name, NameKind};
use crate::BridgeError;

/// The vehicle id kept in `<data_dir>/vehicle-id`, created (`tomoe-` and 16 random
/// hex digits) the first time. A file with an invalid id is an error, not replaced.
pub fn load_or_create_vehicle_id(data_dir: &Path) -> Result<String, BridgeError> {
    let path = data_dir.join("vehicle-id");
    let io = |source| BridgeError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim().to_owned();
            check_name(NameKind::Vehicle, &id).map_err(|e| BridgeError::Config {
                path: path.clone(),
                message: e.to_string(),
            })?;
            Ok(id)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 8];
            getrandom(&mut bytes);
            let id = format!(
                "tomoe-{}",
                bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
            std::fs::create_dir_all(data_dir).map_err(io)?;
            let partial = data_dir.join("vehicle-id.partial");
            std::fs::write(&partial, format!("{id}\n")).map_err(io)?;
            std::fs::rename(&partial, &path).map_err(io)?;
            Ok(id)
        }
        Err(error) => Err(io(error)),
    }
}

fn getrandom(bytes: &mut [u8]) {
    use rand_core::RngCore;
    rand_core::OsRng.fill_bytes(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_vehicle_id(dir.path()).unwrap();
        assert!(first.starts_with("tomoe-") && first.len() == 22, "{first}");
        assert_eq!(load_or_create_vehicle_id(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("vehicle-id"), "a/b").unwrap();
        let error = load_or_create_vehicle_id(dir.path()).unwrap_err();
        assert!(error.to_string().contains("vehicle-id"), "{error}");
    }
}
