//! cargo-fuzz target `script_scan`: see `rci_fuzz::checks::script_scan` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rci_fuzz::checks::script_scan(data));
