//! cargo-fuzz target `tres_parse`: see `rci_fuzz::checks::tres_parse` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rci_fuzz::checks::tres_parse(data));
