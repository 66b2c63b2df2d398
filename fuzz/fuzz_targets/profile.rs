//! A vehicle profile (`profile.toml`), then its platform section.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(profile) = tomoe_vehicle::Profile::parse(text, "fuzz/profile.toml") {
        let _ = profile.platform_spec(std::path::Path::new("fuzz"));
        let _ = profile.replay_log(std::path::Path::new("fuzz"));
    }
});
