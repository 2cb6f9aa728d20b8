//! rci: the shared core of the RCI Slurm plugins.
//!
//! Everything here is plain Rust without `unsafe`, except the [`ffi`] module, which holds every
//! line that touches C. The two plugin crates (`plugins/job_submit_rci`, `plugins/spank_rci`) are
//! thin shells that expand the export macros defined in [`ffi`].
#![deny(unsafe_code)]

pub mod config;
pub mod container_env;
pub mod energy;
pub mod explain;
pub mod gpu;
pub mod guard;
pub mod job;
pub mod paths;
pub mod policy;
pub mod record;
pub mod report;
pub mod slurm_time;
pub mod spank_accounting;
pub mod spank_config;
pub mod spank_plugin;
pub mod spool;
pub mod submit_plugin;
pub mod syslog;
pub mod tres;

#[allow(unsafe_code)]
pub mod ffi;
