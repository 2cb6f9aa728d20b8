//! cargo-fuzz target `rci_conf`: see `rci_fuzz::checks::rci_conf` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rci_fuzz::checks::rci_conf(data));
