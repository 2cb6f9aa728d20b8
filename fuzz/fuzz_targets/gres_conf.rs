//! cargo-fuzz target `gres_conf`: see `rci_fuzz::checks::gres_conf` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rci_fuzz::checks::gres_conf(data));
