//! cargo-fuzz target `step_notes`: see `rci_fuzz::checks::step_notes` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rci_fuzz::checks::step_notes(data));
