//! A part specification or a vehicle platform (TOML), then the fit checks against
//! the real catalog and the Nissan Leaf's platform.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tomoe_parts::{check_fit, Catalog, Part, VehiclePlatform};

fn real() -> &'static (Catalog, VehiclePlatform) {
    static REAL: OnceLock<(Catalog, VehiclePlatform)> = OnceLock::new();
    REAL.get_or_init(|| {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let catalog = Catalog::load(format!("{root}/parts").as_ref()).expect("the parts load");
        let profile =
            std::fs::read_to_string(format!("{root}/profiles/nissan-leaf-2018/profile.toml"))
                .expect("the Leaf's profile");
        let table: toml::Table = toml::from_str(&profile).expect("the Leaf's profile parses");
        let platform = VehiclePlatform::from_table(
            table["platform"].as_table().expect("a [platform]"),
            "profile.toml",
        )
        .expect("the Leaf's platform");
        (catalog, platform)
    })
}

fuzz_target!(|text: &str| {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return;
    };
    let (catalog, leaf) = real();
    if let Ok(part) = Part::from_table(&table, "fuzz.toml") {
        let _ = check_fit(leaf, &part).cell(true);
    }
    let platform = table
        .get("platform")
        .and_then(|p| p.as_table())
        .unwrap_or(&table);
    if let Ok(platform) = VehiclePlatform::from_table(platform, "fuzz.toml") {
        for part in catalog.parts() {
            let _ = check_fit(&platform, part).cell(false);
        }
    }
});
