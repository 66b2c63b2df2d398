//! A DBC file: parsed and compiled, never a panic, bounded work.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = tomoe_dbc::Database::from_text(text, "fuzz.dbc");
});
