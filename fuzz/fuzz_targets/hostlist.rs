//! cargo-fuzz target `hostlist`: see `rci_fuzz::checks::hostlist` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rci_fuzz::checks::hostlist(data));
