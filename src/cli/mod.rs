//! The `rci` command line: what admins, users and accountants run (src/bin/rci.rs dispatches).
//!
//! - [`explain`]: `rci explain` (sbatch-style arguments → the plugin's decision) and
//!   `rci check-config`;
//! - [`report`]: `rci report` over energy records.

pub mod explain;
pub mod report;
