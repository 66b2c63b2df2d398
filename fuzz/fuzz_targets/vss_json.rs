//! A VSS JSON tree as an overlay on top of the default catalog.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(builder) = tomoe_vss::default_builder() {
        if let Ok(builder) = builder.json_str(text, "fuzz.json") {
            let _ = builder.build();
        }
    }
});
