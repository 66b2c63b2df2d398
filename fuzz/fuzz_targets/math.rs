//! A `math:` transform of a mapping: parsed, then evaluated.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(expression) = tomoe_mapping::Expression::parse(text) {
        let _ = expression.evaluate(1.5);
    }
});
