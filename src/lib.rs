//! rci: the shared core of the RCI Slurm plugins and the `rci` CLI.
//!
//! # Layers
//!
//! Lowest first. A module may use the modules of its own layer (without cycles) and of the
//! layers below it, never above; `tests/layers.rs` fails the build when an import breaks this.
//!
//! | layer | modules | what |
//! |---|---|---|
//! | 1. C boundary | [`ffi`] | every `unsafe`: bindings, Slurm's functions looked up in the host, job_desc ⇄ [`job::JobRequest`], the SPANK handle, NVML, the guard and the two export macros (given their handlers by path) |
//! | 1. vocabulary | [`job`], [`tres`], [`slurm_time`] | what a request is, GPU requests in TRES strings, Slurm's time formats |
//! | 2. job kinds | [`kinds`] | kinds, detection rules, script scanning |
//! | 3. configuration | [`config`] | rci.conf: model, lexer, parser, slurm.conf beside it, paths, reload cache |
//! | 4. domain | [`policy`], [`gpu`], [`energy`] | the submit/modify decision; GPU identity and the container environment; meters, cost, step notes, records, spool, syslog |
//! | 5. shells | [`plugin`], [`cli`] | what each plugin callback does; the `rci` subcommands |
//!
//! [`ffi`] and the vocabulary are one layer: `ffi` knows [`job`] (it fills a `JobRequest`), and
//! the vocabulary knows nothing of C. [`ffi`] never uses [`config`], [`policy`], [`plugin`] or
//! anything else above it: what a callback does is passed in. Everything but [`ffi`] is plain
//! Rust under `#![deny(unsafe_code)]`.
#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod energy;
pub mod gpu;
pub mod job;
pub mod kinds;
pub mod plugin;
pub mod policy;
pub mod slurm_time;
pub mod tres;

#[allow(unsafe_code)]
pub mod ffi;
