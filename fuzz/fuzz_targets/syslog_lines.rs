//! cargo-fuzz target `syslog_lines`: see `rci_fuzz::checks::syslog_lines` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rci_fuzz::checks::syslog_lines(data));
