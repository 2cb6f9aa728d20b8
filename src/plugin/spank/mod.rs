//! What spank_rci.so does in each SPANK callback, in safe Rust over [`crate::ffi::spank`].
//!
//! - every context: one log line saying the plugin is loaded there (verbose level on clients so
//!   users only see it with `-v`), and the `--rci-kind` option;
//! - allocator/local (sbatch, salloc, srun): forward `--rci-kind` to slurmctld's job_submit through
//!   `spank_job_control_setenv("RCI_KIND")`;
//! - remote, per task: the container GPU environment ([`crate::gpu::container_env`]).

pub mod accounting;
pub mod config;
pub mod nvml_uuids;

use std::ffi::c_int;
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::ffi::slurm;
use crate::ffi::spank::{self, Context, OptionSpec, Spank};
use crate::gpu::container_env::plan_for_step;
use crate::gpu::resolve::StepKind;

/// The value of `--rci-kind` given on this client's command line. Set by the option callback,
/// read in init_post_opt; an ArcSwap cannot be poisoned by a panic.
static DECLARED_KIND: ArcSwapOption<String> = ArcSwapOption::const_empty();

/// Variable name job_submit reads the declared kind from (spank_job_env).
pub const KIND_ENV: &str = "RCI_KIND";

/// Kinds a user may declare; job_submit validates again (clients may be older).
pub const KINDS: &[&str] = &["batch", "interactive", "jupyter", "server", "vm"];

/// `--rci-kind=<kind>` for sbatch/salloc/srun.
pub static KIND_OPTION: OptionSpec = OptionSpec {
    name: c"rci-kind",
    arginfo: c"kind",
    usage:
        c"RCI job kind: batch, interactive, jupyter, server or vm (sets time limits; see rci.conf)",
    handler: on_kind_option,
};

fn on_kind_option(arg: Option<&str>, _remote: bool) -> c_int {
    let kind = arg.unwrap_or("").trim().to_ascii_lowercase();
    if !KINDS.contains(&kind.as_str()) {
        slurm::error(&format!(
            "rci: invalid --rci-kind '{}'; valid kinds: {}",
            arg.unwrap_or(""),
            KINDS.join(", ")
        ));
        return -1;
    }
    DECLARED_KIND.store(Some(Arc::new(kind)));
    0
}

fn loaded_line(ctx: Context) -> String {
    format!("spank_rci: loaded in {} context", ctx.name())
}

/// `slurm_spank_init`: runs in every SPANK host process.
pub fn init(sp: &Spank<'_>, _args: &[String]) -> c_int {
    let ctx = spank::context();
    // Clients log this in init_post_opt instead, once `-v` has raised their log level.
    if !matches!(ctx, Context::Local | Context::Allocator) {
        slurm::info(&loaded_line(ctx));
    }
    if matches!(ctx, Context::Local | Context::Allocator | Context::Remote) {
        if let Err(e) = sp.register_option(&KIND_OPTION) {
            // Not fatal: without the option the job is classified by rci.conf's rules alone.
            slurm::error(&format!("spank_rci: {e}"));
        }
    }
    0
}

/// `slurm_spank_init_post_opt`: options are known; hand the declared kind to job_submit; in the
/// job's extern step, start measuring energy; in its other steps, note what the extern step
/// cannot see (job name, account, partition, GPUs) for the energy record.
pub fn init_post_opt(sp: &Spank<'_>, args: &[String]) -> c_int {
    let ctx = spank::context();
    if ctx == Context::Remote && crate::plugin::spank::accounting::is_extern_step(sp) {
        let cfg = crate::plugin::spank::config::load(args);
        if cfg.energy.accounting {
            crate::plugin::spank::accounting::start(sp, cfg);
        }
        return 0;
    }
    if ctx == Context::Remote {
        let cfg = crate::plugin::spank::config::load(args);
        crate::plugin::spank::accounting::note_step(sp, cfg);
        if cfg.container.enabled {
            // Tasks fork from here: anything NVML has to say is asked now, in slurmstepd.
            if let Some(uuids) = crate::plugin::spank::nvml_uuids::nvml_uuids(cfg) {
                uuids.warm_up_if_needed(cfg, &crate::plugin::spank::accounting::node_name(sp));
            }
        }
    }
    if matches!(ctx, Context::Local | Context::Allocator) {
        slurm::verbose(&loaded_line(ctx));
        if let Some(kind) = DECLARED_KIND.load_full() {
            if let Err(e) = sp.job_control_setenv(KIND_ENV, &kind) {
                slurm::error(&format!("spank_rci: --rci-kind={kind} not passed on: {e}"));
                return -1;
            }
        }
    }
    0
}

/// `slurm_spank_task_init` (remote, in the forked task as the user, before exec): write the
/// container GPU variables into this task's environment. Listed before pyxis in plugstack.conf,
/// pyxis's own task_init then sees them. Never fails the task: a GPU that cannot be identified
/// yields `void` (no GPU) and a warning on the task's stderr and in slurmd's log.
pub fn task_init(sp: &Spank<'_>, args: &[String]) -> c_int {
    if spank::context() != Context::Remote {
        return 0;
    }
    let cfg = crate::plugin::spank::config::load(args);
    let container = &cfg.container;
    if !container.enabled {
        return 0;
    }
    let step_id = sp.step_id().unwrap_or(0);
    let step = StepKind::from_step_id(step_id);
    let node = crate::plugin::spank::accounting::node_name(sp);
    let fallback = crate::plugin::spank::nvml_uuids::forked_child_uuid_fallback(cfg);
    let plan = plan_for_step(
        container,
        step,
        |name| sp.getenv(name),
        &node,
        fallback.as_ref(),
    );
    let mut problems = plan.warnings.clone();
    for (name, value) in &plan.set {
        if let Err(e) = sp.setenv(name, value) {
            problems.push(e);
        }
    }
    for w in problems {
        // In the task's child process Slurm's error() writes to slurmd's log (the admin's) and
        // to the task's stderr, already connected to the user's output: one call reaches both
        // (a second write of our own to stderr showed every warning twice).
        let w = w.strip_prefix("rci: ").unwrap_or(&w);
        slurm::error(&format!("spank_rci: {w}"));
    }
    0
}

/// `slurm_spank_exit`: in the extern step, finish measuring and write the job's record.
pub fn exit(sp: &Spank<'_>, args: &[String]) -> c_int {
    if spank::context() == Context::Remote && crate::plugin::spank::accounting::is_extern_step(sp) {
        crate::plugin::spank::accounting::finish(crate::plugin::spank::config::load(args));
    }
    0
}
