//! cargo-fuzz target `sbatch_args`: see `rci_fuzz::checks::sbatch_args` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rci_fuzz::checks::sbatch_args(data));
