//! An app runtime manifest (YAML).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = tomoe_runtime::Manifest::parse(text);
});
