//! Per-job energy accounting inside the job's extern step (`PrologFlags=Contain`).
//!
//! The extern step's slurmstepd lives from allocation to job end on every node of the job, so it
//! is the one place that sees the whole job exactly once per node: measuring starts in
//! init_post_opt (root) and the record is written in slurm_spank_exit (root). RAPL is sampled by
//! a background thread (counter wraps); the thread is joined before slurm_spank_exit returns,
//! because slurmstepd dlcloses the plugin afterwards.
//!
//! What the extern step can see (Slurm 22.05, by experiment): its environment has only
//! `SLURM_TOPOLOGY_ADDR` and `SLURM_TOPOLOGY_ADDR_PATTERN`; `S_JOB_NCPUS` and `S_JOB_ALLOC_MEM`
//! read 0 (memory is known only when it is a consumable resource); `S_JOB_ID`, `S_JOB_UID`,
//! `S_JOB_ALLOC_CORES` and the array ids are right; the node name is in slurmstepd's own
//! environment (`SLURMD_NODENAME`, exported by slurmd). So:
//! - the job's other steps leave **step notes** (name, account, partition, QOS, GPUs; see
//!   [`crate::energy::step_notes`]) through [`note_step`], read at exit;
//! - since the job's GPUs are not known when measuring starts, the extern step reads the start
//!   energy of **every** GPU of the node (when gres.conf gives the node GPUs) and keeps the
//!   job's ones, matched by UUID, at the end. Were `SLURM_JOB_GPUS` in the extern environment
//!   (another Slurm release), only those GPUs would be read.
//! - `exit_status` is never known here and stays null.
//!
//! Nothing here can fail a job or drain a node: every problem is logged and the hook returns 0.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;

use crate::config::paths::short_hostname;
use crate::energy::record::GpuInfo;
use crate::energy::spool::ROOT_UID;
use crate::energy::step_notes::{self, JobNotes, StepNote};
use crate::energy::{
    build_record, count_cpu_list, emit, emit_with, EnergyMeter, GpuScope, HeldOutputs, JobFacts,
};
use crate::ffi::slurm;
use crate::ffi::spank::Spank;
use crate::ffi::sys;
use crate::gpu::gres_conf::{self, AutoDetect};
use crate::gpu::resolve::{self, NodeGpus, Resolution, StepGpuEnv, StepKind};
use crate::plugin::spank::config::SpankConfig;
use crate::plugin::spank::nvml_uuids::uuid_fallback;

/// The job being measured by this slurmstepd. Taken (swapped out) exactly once at exit; an
/// ArcSwap cannot be poisoned by a panic.
static ACTIVE: ArcSwapOption<ActiveJob> = ArcSwapOption::const_empty();

struct ActiveJob {
    facts: JobFacts,
    meter: EnergyMeter,
    /// This node's GPUs as gres.conf and the driver describe them, read at start (as root).
    node_gpus: Result<NodeGpus, String>,
    /// The job's step notes, opened and held at start.
    notes: Option<JobNotes>,
    /// The spool file and syslog socket, opened at start.
    outputs: HeldOutputs,
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Whether this slurmstepd is the job's extern step.
pub fn is_extern_step(sp: &Spank<'_>) -> bool {
    sp.step_id() == Some(sys::SLURM_EXTERN_CONT)
}

/// This node's name as Slurm knows it (see [`step_notes::node_name`] for the sources).
pub fn node_name(sp: &Spank<'_>) -> String {
    // The topology address is Slurm's own only in the extern step, whose environment the user
    // never writes.
    let topology = is_extern_step(sp)
        .then(|| sp.getenv("SLURM_TOPOLOGY_ADDR"))
        .flatten();
    step_notes::node_name(
        std::env::var("SLURMD_NODENAME").ok(),
        topology,
        short_hostname,
    )
}

/// The GPUs `env` names for a step of `kind`, as UUIDs in Slurm's order. `Err`: named but
/// not identified, with the reason.
fn resolve_gpus(
    env: &StepGpuEnv,
    kind: StepKind,
    cfg: &SpankConfig,
    node_gpus: &Result<NodeGpus, String>,
) -> Result<Vec<GpuInfo>, String> {
    let fallback = uuid_fallback(cfg);
    match resolve::resolve(env, kind, || node_gpus.clone(), fallback) {
        Resolution::Gpus(gpus) => Ok(gpus
            .into_iter()
            .map(|g| GpuInfo {
                index: g.index,
                uuid: Some(g.uuid),
                model: g.model,
            })
            .collect()),
        Resolution::NoGpus => Ok(Vec::new()),
        Resolution::Unresolved { reason } => Err(reason),
    }
}

/// This node's GPUs from gres.conf, /dev and the driver's /proc tree.
fn read_node_gpus(cfg: &SpankConfig, node: &str) -> Result<NodeGpus, String> {
    let container = &cfg.container;
    NodeGpus::read(
        &container.gres_conf_path(),
        node,
        &container.dev_root,
        &container.nvidia_proc_root,
    )
}

/// GRES indices named by a GPU variable, for a record whose GPUs could not be identified.
fn indices_only(env: &StepGpuEnv, kind: StepKind) -> Vec<GpuInfo> {
    resolve::slurm_gpu_list(env, kind)
        .map_or("", |(_, list)| list)
        .split(',')
        .filter_map(|i| i.trim().parse().ok())
        .map(|index| GpuInfo {
            index,
            uuid: None,
            model: None,
        })
        .collect()
}

/// The GPUs named by the step environments in `sources`, merged by GRES index. Problems are
/// logged; a GPU that cannot be identified is kept with its index only.
fn gpus_from(
    sources: &[(StepKind, StepGpuEnv)],
    cfg: &SpankConfig,
    node_gpus: &Result<NodeGpus, String>,
    problems: &mut Vec<String>,
) -> Vec<GpuInfo> {
    let mut gpus: Vec<GpuInfo> = Vec::new();
    for (kind, env) in sources {
        let found = resolve_gpus(env, *kind, cfg, node_gpus).unwrap_or_else(|reason| {
            slurm::error(&format!(
                "spank_rci: accounting: GPUs not identified: {reason}"
            ));
            problems.push(format!("GPUs not identified: {reason}"));
            indices_only(env, *kind)
        });
        for gpu in found {
            if !gpus.iter().any(|g| g.index == gpu.index) {
                gpus.push(gpu);
            }
        }
    }
    gpus.sort_by_key(|g| g.index);
    gpus
}

/// Whether gres.conf gives this node GPUs NVML can see (so measuring all of them is useful).
fn node_has_gpus(cfg: &SpankConfig, node: &str) -> bool {
    gres_conf::load(&cfg.container.gres_conf_path()).is_ok_and(|conf| {
        conf.has_gpu_records(node)
            || matches!(
                conf.autodetect(node),
                Some(AutoDetect::Nvml | AutoDetect::Nvidia)
            )
    })
}

/// Starts measuring the job on this node (extern step, init_post_opt, root).
pub fn start(sp: &Spank<'_>, cfg: &SpankConfig) {
    let energy = &cfg.energy;
    let node = node_name(sp);
    let uid = sp.job_uid().unwrap_or(u32::MAX);
    let job_id = sp.job_id().unwrap_or(0);
    let (array_job_id, array_task_id) = step_notes::array_ids(sp.array_id(), sp.array_task_id());
    // S_JOB_NCPUS reads 0 in the extern step of 22.05; the allocated cores are right.
    let alloc_cpus = sp
        .job_ncpus()
        .map(u32::from)
        .filter(|&n| n > 0)
        .or_else(|| sp.alloc_cores().and_then(|cores| count_cpu_list(&cores)))
        .unwrap_or(0);
    // Newer Slurm releases may give the extern step the job's GPUs; 22.05 does not.
    let env = StepGpuEnv::from_lookup(|name| sp.getenv(name));
    let node_gpus = read_node_gpus(cfg, &node);
    let mut start_problems = Vec::new();
    let gpus = gpus_from(
        &[(StepKind::Batch, env.clone())],
        cfg,
        &node_gpus,
        &mut start_problems,
    );
    let scope = if !gpus.is_empty() {
        GpuScope::Listed(&gpus)
    } else if node_has_gpus(cfg, &node) {
        GpuScope::Node
    } else {
        GpuScope::Listed(&[])
    };
    slurm::debug(&format!(
        "spank_rci: accounting: job {job_id} on {node}: extern step has SLURM_JOB_GPUS={:?}, \
         SLURM_JOB_PARTITION={:?}, allocated cores {:?}",
        env.job_gpus,
        sp.getenv("SLURM_JOB_PARTITION"),
        sp.alloc_cores()
    ));
    let start_unix = now_unix();
    // Only what Slurm itself says goes into the facts: the spank items here, the batch step's
    // note at the end (see step_notes::merge). Name, account, partition and QOS are not taken
    // from the extern step's environment: which release fills it from where is not ours to
    // vouch for.
    let facts = JobFacts {
        cluster: cluster_name(cfg),
        job_id,
        array_job_id,
        array_task_id,
        het_job_id: None,
        het_job_offset: None,
        job_name: String::new(),
        user: user_name(uid),
        uid,
        account: String::new(),
        partition: String::new(),
        qos: None,
        node: node.clone(),
        node_cpus: None,
        alloc_cpus,
        alloc_mem_mb: sp.alloc_mem_mb().unwrap_or(0),
        start_unix,
        end_unix: 0,
        gpus: gpus.clone(),
        exit_status: None,
        claimed: None,
        incomplete: start_problems,
    };
    // Everything the end needs is opened now, as root: on Slurm 24.11-25.11 slurm_spank_exit
    // may run while slurmstepd has the job user's euid for a moment (see HeldOutputs).
    let (outputs, problems) = HeldOutputs::open(energy, &node, facts.start_unix);
    for p in problems {
        slurm::debug(&format!(
            "spank_rci: accounting: job {job_id}: at start: {p} (tried again at the end)"
        ));
    }
    let (mut leftovers, messages) =
        step_notes::remove_leftovers(&energy.spool_dir, &node, SystemTime::now());
    for m in messages {
        slurm::error(&format!("spank_rci: accounting: {m}"));
    }
    let notes =
        match JobNotes::open_held(&energy.spool_dir, ROOT_UID, &node, job_id, uid, start_unix) {
            Ok((notes, earlier)) => {
                leftovers.extend(earlier);
                Some(notes)
            }
            Err(e) => {
                slurm::error(&format!(
                    "spank_rci: accounting: job {job_id}: step notes unavailable: {e}"
                ));
                None
            }
        };
    for leftover in leftovers {
        record_leftover(leftover, cfg, &node, &node_gpus);
    }
    let meter_node = node.clone();
    let meter = EnergyMeter::start_scoped(energy, scope, move |what| {
        slurm::debug(&format!(
            "spank_rci: accounting: measuring job {job_id} on {meter_node}: {what}"
        ));
    });
    ACTIVE.store(Some(Arc::new(ActiveJob {
        facts,
        meter,
        node_gpus,
        notes,
        outputs,
    })));
}

/// In every step but the extern one (init_post_opt, root): leaves a note of what this step
/// knows about its job for the extern step's record (see [`crate::energy::step_notes`]).
pub fn note_step(sp: &Spank<'_>, cfg: &SpankConfig) {
    if !cfg.energy.accounting || is_extern_step(sp) {
        return;
    }
    let (Some(job_id), Some(step_id)) = (sp.job_id(), sp.step_id()) else {
        return;
    };
    let uid = sp.job_uid().unwrap_or(u32::MAX);
    let note = StepNote::from_env(job_id, step_id, now_unix(), |name| sp.getenv(name));
    let node = node_name(sp);
    if let Err(e) = step_notes::write_note(&cfg.energy.spool_dir, ROOT_UID, &node, uid, &note) {
        slurm::error(&format!(
            "spank_rci: accounting: job {job_id}: step note not written: {e}"
        ));
    }
}

/// Stops measuring, writes the record to the spool and syslog (extern step, exit, root).
pub fn finish(cfg: &SpankConfig) {
    let Some(active) = ACTIVE.swap(None) else {
        return;
    };
    let Ok(ActiveJob {
        mut facts,
        meter,
        node_gpus,
        notes,
        mut outputs,
    }) = Arc::try_unwrap(active)
    else {
        slurm::error("spank_rci: accounting: measurement still shared at exit; no record");
        return;
    };
    let measured = meter.stop();
    facts.end_unix = now_unix();
    let job_id = facts.job_id;
    let spool = &cfg.energy.spool_dir;

    // Through the descriptor opened at start; by path only if that failed (then as root).
    let mut notes_file = notes.or_else(|| {
        JobNotes::open(spool, ROOT_UID, &facts.node, job_id, facts.uid)
            .map_err(|e| slurm::error(&format!("spank_rci: accounting: job {job_id}: {e}")))
            .ok()
    });
    let (notes, problems) = notes_file
        .as_mut()
        .map(|n| n.read(job_id))
        .unwrap_or_default();
    if notes_file.is_none() {
        facts.incomplete.push(
            "the job's step notes could not be read: name, partition and GPUs unknown".into(),
        );
    }
    for p in problems {
        slurm::error(&format!("spank_rci: accounting: job {job_id}: {p}"));
        facts.incomplete.push(p);
    }
    apply_notes(&mut facts, &notes, cfg, &node_gpus);
    for e in notes_file.map(JobNotes::consume).unwrap_or_default() {
        slurm::error(&format!("spank_rci: accounting: job {job_id}: {e}"));
    }

    let gpus = measured.job_gpus(&facts.gpus);
    let record = build_record(facts, measured.cpu, gpus, &cfg.energy);
    for e in emit_with(&record, &cfg.energy, &mut outputs) {
        slurm::error(&format!(
            "spank_rci: accounting record for job {job_id}: {e}"
        ));
    }
}

/// The cluster's name: `Cluster=`, else slurm.conf's ClusterName as slurmstepd read it.
fn cluster_name(cfg: &SpankConfig) -> String {
    cfg.energy
        .cluster
        .clone()
        .or_else(slurm::cluster_name)
        .unwrap_or_default()
}

fn user_name(uid: u32) -> String {
    crate::ffi::passwd::user_name(uid).unwrap_or_else(|| uid.to_string())
}

/// Completes `facts` from the job's step notes: name, partition (and with slurmdbd account and
/// QOS) from the batch step, what other steps claimed kept apart, CPUs, and the GPUs when the
/// start did not know them.
fn apply_notes(
    facts: &mut JobFacts,
    notes: &[StepNote],
    cfg: &SpankConfig,
    node_gpus: &Result<NodeGpus, String>,
) {
    let info = step_notes::merge(notes, slurm::accounting_uses_slurmdbd());
    let fill = |field: &mut String, value: String| {
        if field.is_empty() {
            *field = value;
        }
    };
    fill(&mut facts.job_name, info.job_name);
    fill(&mut facts.account, info.account);
    fill(&mut facts.partition, info.partition);
    facts.qos = facts.qos.take().or(info.qos);
    facts.claimed = Some(info.claimed);
    if let Some(cpus) = info.cpus_on_node.filter(|&n| n > 0) {
        facts.alloc_cpus = cpus;
    }
    facts.incomplete.extend(info.problems);
    if facts.gpus.is_empty() {
        facts.gpus = gpus_from(&info.gpu_sources, cfg, node_gpus, &mut facts.incomplete);
    }
}

/// Writes the record of a job whose extern step on this node ended without one (killed), from
/// the notes it left: marked incomplete, its energy unmeasured, never dropped silently.
fn record_leftover(
    leftover: step_notes::Leftover,
    cfg: &SpankConfig,
    node: &str,
    node_gpus: &Result<NodeGpus, String>,
) {
    let job_id = leftover.job_id;
    let first_note = leftover
        .notes
        .iter()
        .map(|n| n.written_unix)
        .filter(|&t| t > 0)
        .min();
    let start_unix = leftover
        .extern_start_unix
        .or(first_note)
        .unwrap_or(leftover.last_change_unix);
    let why = format!(
        "the job's extern step on {node} ended without writing this record (killed?): energy \
         not measured; end is the last change of its step notes ({}), a lower bound",
        leftover.file.display()
    );
    slurm::error(&format!("spank_rci: accounting: job {job_id}: {why}"));
    let mut facts = JobFacts {
        cluster: cluster_name(cfg),
        job_id,
        user: user_name(leftover.uid),
        uid: leftover.uid,
        node: node.to_owned(),
        start_unix,
        end_unix: leftover.last_change_unix.max(start_unix),
        incomplete: vec![why.clone()],
        ..JobFacts::default()
    };
    apply_notes(&mut facts, &leftover.notes, cfg, node_gpus);
    let cpu = vec![crate::energy::rapl::DomainEnergy {
        domain: "cpu".to_owned(),
        microjoules: None,
        wraps: 0,
        in_total: true,
        unavailable: Some("not measured: the job's extern step died".to_owned()),
    }];
    let record = build_record(facts, cpu, Vec::new(), &cfg.energy);
    for e in emit(&record, &cfg.energy) {
        slurm::error(&format!(
            "spank_rci: accounting record for job {job_id} (incomplete): {e}"
        ));
    }
}
