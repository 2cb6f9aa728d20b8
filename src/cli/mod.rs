//! The `rci` command line: what admins, users and accountants run (src/bin/rci.rs dispatches).
//!
//! - [`explain`]: `rci explain` (sbatch-style arguments, parsed in `sbatch_args`, → the plugin's
//!   decision) and `rci check-config` (in `check_config`);
//! - [`report`]: `rci report` over energy records;
//! - [`doctor`]: `rci doctor`, the node check after installing;
//! - [`sync`]: `rci sync`, job summaries into slurmdbd; [`job_energy`]: `rci job`, one job's
//!   energy for its user.

mod check_config;
pub mod command;
pub mod doctor;
pub mod explain;
pub mod job_energy;
pub mod report;
pub mod sbatch_args;
pub mod sync;
