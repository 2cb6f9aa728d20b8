//! What each exported callback does, in safe Rust: the plugins' behaviour above the C boundary.
//!
//! - [`submit`]: job_submit_rci.so in slurmctld (load rci.conf, decide, log);
//! - [`spank`]: spank_rci.so in every client and slurmstepd (`--rci-kind`, the container GPU
//!   environment, the extern step's energy accounting).
//!
//! The export macros in [`crate::ffi`] are given these functions by path from the plugin crates.

pub mod spank;
pub mod submit;
