//! A `.vspec` (YAML) overlay on top of the default catalog.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(builder) = tomoe_vss::default_builder() {
        if let Ok(builder) = builder.vspec_str(text, "fuzz.vspec") {
            let _ = builder.build();
        }
    }
});
