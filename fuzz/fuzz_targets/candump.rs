//! One candump `-L` line.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &str| {
    let _ = tomoe_can::parse_line(line);
});
