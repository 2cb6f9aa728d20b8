//! Per-job energy accounting inside the job's extern step (`PrologFlags=Contain`).
//!
//! The extern step's slurmstepd lives from allocation to job end on every node of the job, so it
//! is the one place that sees the whole job exactly once per node: measuring starts in
//! init_post_opt (root) and the record is written in slurm_spank_exit (root). RAPL is sampled by
//! a background thread (counter wraps); the thread is joined before slurm_spank_exit returns,
//! because slurmstepd dlcloses the plugin afterwards.
//!
//! Nothing here can fail a job or drain a node: every problem is logged and the hook returns 0.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;

use crate::energy::{build_record, emit, EnergyMeter, JobFacts};
use crate::ffi::slurm;
use crate::ffi::spank::Spank;
use crate::ffi::sys;
use crate::gpu::resolve::{self, NodeGpus, Resolution, StepGpuEnv, StepKind};
use crate::record::GpuInfo;
use crate::spank_config::{short_hostname, uuid_fallback, SpankConfig};

/// The job being measured by this slurmstepd. Taken (swapped out) exactly once at exit; an
/// ArcSwap cannot be poisoned by a panic.
static ACTIVE: ArcSwapOption<ActiveJob> = ArcSwapOption::const_empty();

struct ActiveJob {
    facts: JobFacts,
    meter: EnergyMeter,
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Whether this slurmstepd is the job's extern step.
pub fn is_extern_step(sp: Spank) -> bool {
    sp.item_u32(sys::S_JOB_STEPID) == Some(sys::SLURM_EXTERN_CONT)
}

/// GPUs of the job on this node, from SLURM_JOB_GPUS (GRES indices) mapped to UUIDs.
fn job_gpus(sp: Spank, cfg: &SpankConfig, node: &str) -> Vec<GpuInfo> {
    let env = StepGpuEnv::from_lookup(|name| sp.getenv(name));
    let container = &cfg.container;
    let fallback = uuid_fallback(cfg);
    let load = || {
        NodeGpus::read(
            &container.gres_conf_path(),
            node,
            &container.dev_root,
            &container.nvidia_proc_root,
        )
    };
    // The extern step carries the job's allocation like a batch step does.
    match resolve::resolve(&env, StepKind::Batch, load, fallback.as_ref()) {
        Resolution::Gpus(gpus) => gpus
            .into_iter()
            .map(|g| GpuInfo {
                index: g.index,
                uuid: Some(g.uuid),
                model: g.model,
            })
            .collect(),
        Resolution::NoGpus => Vec::new(),
        Resolution::Unresolved { reason } => {
            slurm::error(&format!(
                "spank_rci: accounting: GPUs not identified: {reason}"
            ));
            sp.getenv("SLURM_JOB_GPUS")
                .unwrap_or_default()
                .split(',')
                .filter_map(|i| i.trim().parse().ok())
                .map(|index| GpuInfo {
                    index,
                    uuid: None,
                    model: None,
                })
                .collect()
        }
    }
}

/// Starts measuring the job on this node (extern step, init_post_opt, root).
pub fn start(sp: Spank, cfg: &SpankConfig) {
    let energy = &cfg.energy;
    let node = sp.getenv("SLURMD_NODENAME").unwrap_or_else(short_hostname);
    let uid = sp.item_u32(sys::S_JOB_UID).unwrap_or(u32::MAX);
    let env = |name: &str| sp.getenv(name).unwrap_or_default();
    let array_job_id = sp.item_u32(sys::S_JOB_ARRAY_ID).filter(|&id| id != 0);
    let gpus = job_gpus(sp, cfg, &node);
    let facts = JobFacts {
        cluster: energy
            .cluster
            .clone()
            .or_else(|| sp.getenv("SLURM_CLUSTER_NAME"))
            .or_else(slurm::cluster_name)
            .unwrap_or_default(),
        job_id: sp.item_u32(sys::S_JOB_ID).unwrap_or(0),
        array_job_id,
        array_task_id: array_job_id.and(sp.item_u32(sys::S_JOB_ARRAY_TASK_ID)),
        het_job_id: None,
        het_job_offset: None,
        job_name: env("SLURM_JOB_NAME"),
        user: crate::ffi::job_submit::user_name(uid).unwrap_or_else(|| uid.to_string()),
        uid,
        account: env("SLURM_JOB_ACCOUNT"),
        partition: env("SLURM_JOB_PARTITION"),
        qos: sp.getenv("SLURM_JOB_QOS"),
        node,
        node_cpus: None,
        alloc_cpus: sp.item_u16(sys::S_JOB_NCPUS).map(u32::from).unwrap_or(0),
        alloc_mem_mb: sp.item_u64(sys::S_JOB_ALLOC_MEM).unwrap_or(0),
        start_unix: now_unix(),
        end_unix: 0,
        gpus,
        exit_status: None,
    };
    let meter = EnergyMeter::start(energy, &facts.gpus);
    ACTIVE.store(Some(Arc::new(ActiveJob { facts, meter })));
}

/// Stops measuring, writes the record to the spool and syslog (extern step, exit, root).
pub fn finish(cfg: &SpankConfig) {
    let Some(active) = ACTIVE.swap(None) else {
        return;
    };
    let Ok(ActiveJob { mut facts, meter }) = Arc::try_unwrap(active) else {
        slurm::error("spank_rci: accounting: measurement still shared at exit; no record");
        return;
    };
    let measured = meter.stop();
    facts.end_unix = now_unix();
    let job_id = facts.job_id;
    let record = build_record(facts, measured.cpu, measured.gpus, &cfg.energy);
    for e in emit(&record, &cfg.energy) {
        slurm::error(&format!(
            "spank_rci: accounting record for job {job_id}: {e}"
        ));
    }
}
