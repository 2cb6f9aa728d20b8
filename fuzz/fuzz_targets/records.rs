//! cargo-fuzz target `records`: see `rci_fuzz::checks::records` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rci_fuzz::checks::records(data));
