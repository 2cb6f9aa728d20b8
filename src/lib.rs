//! rci: the shared core of the RCI Slurm plugins.
//!
//! Everything here is plain Rust without `unsafe`, except the [`ffi`] module, which holds every
//! line that touches C. The two plugin crates (`plugins/job_submit_rci`, `plugins/spank_rci`) are
//! thin shells that expand the export macros defined in [`ffi`].
#![deny(unsafe_code)]

pub mod config;
pub mod explain;
pub mod guard;
pub mod job;
pub mod policy;
pub mod slurm_time;
pub mod tres;

#[allow(unsafe_code)]
pub mod ffi;
