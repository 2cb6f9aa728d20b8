//! What the extern step cannot see about its job, learnt from the job's other steps.
//!
//! The energy record is written by the job's extern step (`PrologFlags=Contain`), the only
//! step that lives from allocation to job end on every node. On Slurm 22.05 its environment
//! holds nothing but `SLURM_TOPOLOGY_ADDR*`: no `SLURM_JOB_GPUS`, job name, account, partition
//! or QOS, and `S_JOB_NCPUS`/`S_JOB_ALLOC_MEM` read 0 (found by experiment on 22.05.8;
//! `S_JOB_ALLOC_CORES` and the ids are right). The batch step (and the interactive step, and
//! srun steps) do get them, from slurmstepd. So every other step writes a small **step note**
//! in its `slurm_spank_init_post_opt` (root), and the extern step reads and removes its job's
//! notes at exit:
//!
//! - batch / interactive step: name, account, partition, QOS, `SLURM_CPUS_ON_NODE` and the
//!   job's GPUs (`SLURM_JOB_GPUS`). These win over everything else.
//! - srun steps (jobs without a batch or interactive step, e.g. `srun` on its own): the same
//!   fields from the step's environment, and the step's GPUs (`SLURM_STEP_GPUS`); the record
//!   gets the union of the GPUs of all steps. A step writes a note only when no batch note
//!   exists and its GPUs are not already noted, so a job of many steps leaves few files.
//!   Caveat: srun forwards the user's environment, so name/account/partition of such jobs are
//!   what srun's environment said; GPU indices come from slurmstepd.
//! - a job that never ran a step on a node (an `salloc` with nothing started there) has no
//!   note: its record has empty name/account/partition and no GPUs.
//!
//! Notes live in `<AccountingSpool>/.step-notes/<node>.<job_id>.<step_id>` (directory mode
//! 0750, files 0640, root-owned, the same checks as the spool). `rci report` reads only
//! `*.jsonl` files, so the notes never count as records. Notes older than [`STALE_AFTER`]
//! (left by a node that crashed before the extern step ended) are removed by the next exit on
//! the same node.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::gpu::resolve::{StepGpuEnv, StepKind};

/// Slurm's step ids for the special steps (slurm.h).
pub const SLURM_BATCH_SCRIPT: u32 = 0xffff_fffb;
/// The interactive step of `salloc` (`LaunchParameters=use_interactive_step`).
pub const SLURM_INTERACTIVE_STEP: u32 = 0xffff_fffa;
/// Slurm's NO_VAL: what `S_JOB_ARRAY_TASK_ID` reads for a job that is not an array task.
pub const NO_VAL: u32 = 0xffff_fffe;

/// The directory under the spool that holds step notes.
pub const NOTES_DIR: &str = ".step-notes";
/// The largest note read (a note is a few hundred bytes).
const MAX_NOTE_BYTES: u64 = 64 * 1024;
/// Notes older than this belong to jobs whose extern step never ended; they are removed.
pub const STALE_AFTER: Duration = Duration::from_secs(100 * 24 * 3600);

/// What one step knew about its job, written at the step's start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepNote {
    /// The job.
    pub job_id: u32,
    /// The step that wrote the note (`SLURM_BATCH_SCRIPT`, `SLURM_INTERACTIVE_STEP` or a number).
    pub step_id: u32,
    /// `SLURM_JOB_NAME`.
    pub job_name: Option<String>,
    /// `SLURM_JOB_ACCOUNT`.
    pub account: Option<String>,
    /// `SLURM_JOB_PARTITION`.
    pub partition: Option<String>,
    /// `SLURM_JOB_QOS`.
    pub qos: Option<String>,
    /// `SLURM_CPUS_ON_NODE`.
    pub cpus_on_node: Option<u32>,
    /// `SLURM_STEP_GPUS`.
    pub step_gpus: Option<String>,
    /// `SLURM_JOB_GPUS`.
    pub job_gpus: Option<String>,
    /// `CUDA_VISIBLE_DEVICES`.
    pub cuda_visible_devices: Option<String>,
    /// `SLURM_SHARDS_ON_NODE`.
    pub shards_on_node: Option<String>,
    /// `CUDA_MPS_ACTIVE_THREAD_PERCENTAGE`.
    pub mps_thread_percentage: Option<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

impl StepNote {
    /// The note of step `step_id` of job `job_id`, from the step's environment.
    pub fn from_env(job_id: u32, step_id: u32, env: impl Fn(&str) -> Option<String>) -> StepNote {
        let var = |name: &str| non_empty(env(name));
        StepNote {
            job_id,
            step_id,
            job_name: var("SLURM_JOB_NAME"),
            account: var("SLURM_JOB_ACCOUNT"),
            partition: var("SLURM_JOB_PARTITION"),
            qos: var("SLURM_JOB_QOS"),
            cpus_on_node: var("SLURM_CPUS_ON_NODE").and_then(|v| v.trim().parse().ok()),
            step_gpus: var("SLURM_STEP_GPUS"),
            job_gpus: var("SLURM_JOB_GPUS"),
            cuda_visible_devices: var("CUDA_VISIBLE_DEVICES"),
            shards_on_node: var("SLURM_SHARDS_ON_NODE"),
            mps_thread_percentage: var("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"),
        }
    }

    /// The kind of step that wrote it.
    pub fn kind(&self) -> StepKind {
        StepKind::from_step_id(self.step_id)
    }

    /// Whether the note speaks for the whole job (batch or interactive step).
    pub fn is_job_wide(&self) -> bool {
        matches!(self.kind(), StepKind::Batch | StepKind::Interactive)
    }

    /// The GPU variables, as the resolver reads them.
    pub fn gpu_env(&self) -> StepGpuEnv {
        StepGpuEnv {
            step_gpus: self.step_gpus.clone(),
            job_gpus: self.job_gpus.clone(),
            cuda_visible_devices: self.cuda_visible_devices.clone(),
            shards_on_node: self.shards_on_node.clone(),
            mps_thread_percentage: self.mps_thread_percentage.clone(),
            // Notes keep only the lists; the "GPUs but no list" warning is for container set-up.
            gpus_on_node: None,
        }
    }

    /// GRES indices the note names for its own step (`None`: unparsable, count as new).
    fn gpu_indices(&self) -> Option<Vec<u32>> {
        let list = if self.is_job_wide() {
            self.step_gpus.as_ref().or(self.job_gpus.as_ref())
        } else {
            self.step_gpus.as_ref()
        };
        match list {
            None => Some(Vec::new()),
            Some(list) => list.split(',').map(|t| t.trim().parse().ok()).collect(),
        }
    }
}

/// Whether a step should write its note, given the notes already there for its job and node:
/// job-wide steps always do; an srun step only when nothing job-wide is noted and it holds GPUs
/// no earlier note named (or when it is the first).
pub fn should_write(note: &StepNote, existing: &[StepNote]) -> bool {
    if note.is_job_wide() || existing.is_empty() {
        return true;
    }
    if existing.iter().any(StepNote::is_job_wide) {
        return false;
    }
    let Some(mine) = note.gpu_indices() else {
        return true;
    };
    let mut known = Vec::new();
    for n in existing {
        match n.gpu_indices() {
            Some(indices) => known.extend(indices),
            None => return true,
        }
    }
    mine.iter().any(|i| !known.contains(i))
}

/// The job as its notes describe it on this node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobInfo {
    /// Job name ("" if no note had one).
    pub job_name: String,
    /// Account ("" if unknown).
    pub account: String,
    /// Partition ("" if unknown).
    pub partition: String,
    /// QOS, if a note had one.
    pub qos: Option<String>,
    /// The job's CPUs on this node, from a job-wide note.
    pub cpus_on_node: Option<u32>,
    /// Where the job's GPUs are named: one job-wide note, or every srun step's note.
    pub gpu_sources: Vec<(StepKind, StepGpuEnv)>,
}

/// Merges a job's notes: a batch note wins, then an interactive one, then the lowest step id;
/// GPUs come from the job-wide note, else from every step.
pub fn merge(notes: &[StepNote]) -> JobInfo {
    let rank = |n: &StepNote| match n.kind() {
        StepKind::Batch => (0, n.step_id),
        StepKind::Interactive => (1, n.step_id),
        _ => (2, n.step_id),
    };
    let mut sorted: Vec<&StepNote> = notes.iter().collect();
    sorted.sort_by_key(|n| rank(n));
    let first = |field: fn(&StepNote) -> Option<&String>| -> Option<String> {
        sorted.iter().find_map(|n| field(n).cloned())
    };
    let job_wide = sorted.iter().find(|n| n.is_job_wide());
    let gpu_sources = match job_wide {
        Some(n) => vec![(n.kind(), n.gpu_env())],
        None => sorted.iter().map(|n| (n.kind(), n.gpu_env())).collect(),
    };
    JobInfo {
        job_name: first(|n| n.job_name.as_ref()).unwrap_or_default(),
        account: first(|n| n.account.as_ref()).unwrap_or_default(),
        partition: first(|n| n.partition.as_ref()).unwrap_or_default(),
        qos: first(|n| n.qos.as_ref()),
        cpus_on_node: job_wide.and_then(|n| n.cpus_on_node),
        gpu_sources,
    }
}

/// Node names as they appear in note file names (as in [`crate::spool::file_name`]).
fn safe_node(node: &str) -> String {
    let s: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "_".to_owned()
    } else {
        s
    }
}

fn note_prefix(node: &str, job_id: u32) -> String {
    format!("{}.{job_id}.", safe_node(node))
}

/// `<spool>/.step-notes`, created and checked like the spool itself.
fn notes_dir(spool: &Path, owner: u32) -> Result<PathBuf, String> {
    crate::spool::ensure_dir(spool, owner)?;
    let dir = spool.join(NOTES_DIR);
    crate::spool::ensure_dir(&dir, owner)?;
    Ok(dir)
}

/// Opens a note read-only without following links and checks it is a small regular file of
/// `owner`.
fn read_note_file(path: &Path, owner: u32) -> Result<StepNote, String> {
    let show = path.display();
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| format!("cannot open step note {show}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot inspect step note {show}: {e}"))?;
    if !meta.is_file() || meta.uid() != owner {
        return Err(format!(
            "step note {show} is not a regular file of uid {owner}; ignored"
        ));
    }
    let mut text = String::new();
    file.take(MAX_NOTE_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read step note {show}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("step note {show} is malformed: {e}"))
}

/// The notes of `job_id` on `node` (not removed), and one message per unreadable one.
pub fn read_notes(
    spool: &Path,
    owner: u32,
    node: &str,
    job_id: u32,
) -> (Vec<StepNote>, Vec<String>) {
    let dir = spool.join(NOTES_DIR);
    if fs::symlink_metadata(&dir).is_err_and(|e| e.kind() == io::ErrorKind::NotFound) {
        return (Vec::new(), Vec::new());
    }
    let dir = match notes_dir(spool, owner) {
        Ok(dir) => dir,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let prefix = note_prefix(node, job_id);
    let mut notes = Vec::new();
    let mut errors = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => return (notes, vec![format!("cannot list {}: {e}", dir.display())]),
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        if name.to_str().is_some_and(|n| n.starts_with(&prefix)) {
            match read_note_file(&entry.path(), owner) {
                Ok(note) if note.job_id == job_id => notes.push(note),
                Ok(_) => errors.push(format!(
                    "step note {} names another job; ignored",
                    entry.path().display()
                )),
                Err(e) => errors.push(e),
            }
        }
    }
    notes.sort_by_key(|n| n.step_id);
    (notes, errors)
}

/// Removes the notes of `job_id` on `node`, and this node's notes older than [`STALE_AFTER`].
/// Returns one message per failure.
pub fn remove_notes(spool: &Path, node: &str, job_id: u32, now: SystemTime) -> Vec<String> {
    let dir = spool.join(NOTES_DIR);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mine = note_prefix(node, job_id);
    let node_prefix = format!("{}.", safe_node(node));
    let mut errors = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let stale = || {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > STALE_AFTER)
        };
        if name.starts_with(&mine) || (name.starts_with(&node_prefix) && stale()) {
            if let Err(e) = fs::remove_file(entry.path()) {
                if e.kind() != io::ErrorKind::NotFound {
                    errors.push(format!("cannot remove {}: {e}", entry.path().display()));
                }
            }
        }
    }
    errors
}

/// Writes `note` for `node` unless [`should_write`] says the job's notes already cover it.
/// Returns whether a note was written. The file appears whole (written to a temporary name,
/// then renamed).
pub fn write_note(spool: &Path, owner: u32, node: &str, note: &StepNote) -> Result<bool, String> {
    let (existing, _) = read_notes(spool, owner, node, note.job_id);
    if !should_write(note, &existing) {
        return Ok(false);
    }
    let dir = notes_dir(spool, owner)?;
    let name = format!("{}{}", note_prefix(node, note.job_id), note.step_id);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let text = serde_json::to_string(note).map_err(|e| format!("cannot serialise note: {e}"))?;
    let written = (|| -> io::Result<()> {
        let mut file: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        file.write_all(text.as_bytes())?;
        fs::rename(&tmp, dir.join(&name))
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(format!(
            "cannot write step note {}: {e}",
            dir.join(&name).display()
        ));
    }
    Ok(true)
}

/// This node's name: the step's `SLURMD_NODENAME`, else slurmd's own (slurmd exports it to
/// slurmstepd's process environment), else the last part of `SLURM_TOPOLOGY_ADDR` (the extern
/// step's environment has it), else the host name.
pub fn node_name(
    step_env: Option<String>,
    process_env: Option<String>,
    topology_addr: Option<String>,
    hostname: impl FnOnce() -> String,
) -> String {
    non_empty(step_env)
        .or_else(|| non_empty(process_env))
        .or_else(|| non_empty(topology_addr).and_then(|a| a.rsplit('.').next().map(str::to_owned)))
        .unwrap_or_else(hostname)
}

/// `(array_job_id, array_task_id)` from `S_JOB_ARRAY_ID`/`S_JOB_ARRAY_TASK_ID`: slurmstepd
/// reports the job's own id and NO_VAL for jobs that are not array tasks.
pub fn array_ids(array_id: Option<u32>, task_id: Option<u32>) -> (Option<u32>, Option<u32>) {
    match (array_id, task_id) {
        (Some(a), Some(t)) if a != 0 && a != NO_VAL && t != NO_VAL && t != u32::MAX => {
            (Some(a), Some(t))
        }
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn batch_note() -> StepNote {
        StepNote::from_env(
            7,
            SLURM_BATCH_SCRIPT,
            env(&[
                ("SLURM_JOB_NAME", "train"),
                ("SLURM_JOB_ACCOUNT", "physics"),
                ("SLURM_JOB_PARTITION", "gpu"),
                ("SLURM_CPUS_ON_NODE", "8"),
                ("SLURM_JOB_GPUS", "0,1"),
                ("CUDA_VISIBLE_DEVICES", "0,1"),
                ("SLURM_JOB_QOS", ""),
            ]),
        )
    }

    fn srun_note(step: u32, gpus: Option<&str>) -> StepNote {
        let mut pairs = vec![("SLURM_JOB_NAME", "sr"), ("SLURM_JOB_PARTITION", "gpu")];
        if let Some(g) = gpus {
            pairs.push(("SLURM_STEP_GPUS", g));
        }
        StepNote::from_env(7, step, env(&pairs))
    }

    #[test]
    fn note_from_env_keeps_what_is_set() {
        let n = batch_note();
        assert_eq!(n.job_name.as_deref(), Some("train"));
        assert_eq!(n.qos, None, "empty values are absent");
        assert_eq!(n.cpus_on_node, Some(8));
        assert!(n.is_job_wide());
        assert_eq!(n.gpu_env().job_gpus.as_deref(), Some("0,1"));
        assert!(!srun_note(0, None).is_job_wide());
    }

    #[test]
    fn batch_note_wins_and_gives_the_gpus() {
        let notes = [
            srun_note(0, Some("1")),
            batch_note(),
            srun_note(1, Some("0")),
        ];
        let info = merge(&notes);
        assert_eq!(info.job_name, "train");
        assert_eq!(info.account, "physics");
        assert_eq!(info.partition, "gpu");
        assert_eq!(info.cpus_on_node, Some(8));
        assert_eq!(info.gpu_sources.len(), 1);
        assert_eq!(info.gpu_sources[0].0, StepKind::Batch);
    }

    #[test]
    fn without_a_batch_note_every_step_counts() {
        let notes = [srun_note(3, Some("2")), srun_note(1, Some("0,1"))];
        let info = merge(&notes);
        assert_eq!(info.job_name, "sr");
        assert_eq!(info.account, "");
        assert_eq!(info.cpus_on_node, None);
        let kinds: Vec<StepKind> = info.gpu_sources.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, [StepKind::Normal, StepKind::Normal]);
        assert_eq!(info.gpu_sources[0].1.step_gpus.as_deref(), Some("0,1"));
        assert_eq!(merge(&[]), JobInfo::default());
    }

    #[test]
    fn steps_write_only_what_is_new() {
        let batch = batch_note();
        assert!(should_write(&batch, &[srun_note(0, Some("0"))]));
        assert!(should_write(&srun_note(0, None), &[]));
        assert!(!should_write(
            &srun_note(1, Some("0")),
            std::slice::from_ref(&batch)
        ));
        let first = srun_note(0, Some("0,1"));
        assert!(!should_write(
            &srun_note(1, Some("1")),
            std::slice::from_ref(&first)
        ));
        assert!(!should_write(
            &srun_note(1, None),
            std::slice::from_ref(&first)
        ));
        assert!(should_write(
            &srun_note(2, Some("1,2")),
            std::slice::from_ref(&first)
        ));
        assert!(should_write(&srun_note(2, Some("x")), &[first]));
    }

    #[test]
    fn notes_round_trip_through_the_spool_and_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = tmp.path().join("spool");
        let me = crate::spool::current_euid().unwrap();
        assert_eq!(read_notes(&spool, me, "gpu01", 7), (vec![], vec![]));
        assert!(write_note(&spool, me, "gpu01", &srun_note(0, Some("0"))).unwrap());
        // Covered by step 0: not written.
        assert!(!write_note(&spool, me, "gpu01", &srun_note(1, Some("0"))).unwrap());
        assert!(write_note(&spool, me, "gpu01", &batch_note()).unwrap());
        // Another node and another job in the same (shared) spool.
        assert!(write_note(&spool, me, "gpu02", &batch_note()).unwrap());
        let other_job = StepNote {
            job_id: 70,
            ..batch_note()
        };
        assert!(write_note(&spool, me, "gpu01", &other_job).unwrap());

        let (notes, errors) = read_notes(&spool, me, "gpu01", 7);
        assert!(errors.is_empty(), "{errors:?}");
        let steps: Vec<u32> = notes.iter().map(|n| n.step_id).collect();
        assert_eq!(steps, [0, SLURM_BATCH_SCRIPT]);
        assert_eq!(notes[1], batch_note());

        // A planted link and garbage are reported, never followed or trusted.
        let dir = spool.join(NOTES_DIR);
        std::os::unix::fs::symlink("/etc/hostname", dir.join("gpu01.7.99")).unwrap();
        fs::write(dir.join("gpu01.7.98"), "not json").unwrap();
        let (notes, errors) = read_notes(&spool, me, "gpu01", 7);
        assert_eq!(notes.len(), 2);
        assert_eq!(errors.len(), 2, "{errors:?}");

        assert!(remove_notes(&spool, "gpu01", 7, SystemTime::now()).is_empty());
        assert_eq!(read_notes(&spool, me, "gpu01", 7).0, vec![]);
        assert_eq!(read_notes(&spool, me, "gpu02", 7).0.len(), 1);
        assert_eq!(read_notes(&spool, me, "gpu01", 70).0.len(), 1);
        // Much later, job 70's note on gpu01 is stale; gpu02's is another node's business.
        let later = SystemTime::now() + STALE_AFTER + Duration::from_secs(60);
        assert!(remove_notes(&spool, "gpu01", 1, later).is_empty());
        assert_eq!(read_notes(&spool, me, "gpu01", 70).0, vec![]);
        assert_eq!(read_notes(&spool, me, "gpu02", 7).0.len(), 1);
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["gpu02.7.4294967291"], "no temporary file left");
    }

    #[test]
    fn notes_refuse_an_unsafe_spool() {
        let tmp = tempfile::tempdir().unwrap();
        let me = crate::spool::current_euid().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, "").unwrap();
        assert!(write_note(&file, me, "n", &batch_note()).is_err());
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = write_note(&link, me, "n", &batch_note()).unwrap_err();
        assert!(err.contains("symlink"), "{err}");
        assert!(!real.join(NOTES_DIR).exists());
    }

    #[test]
    fn node_name_sources_in_order() {
        let host = || "host".to_owned();
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(node_name(s("a"), s("b"), s("c"), host), "a");
        assert_eq!(node_name(None, s("b"), s("c"), host), "b");
        assert_eq!(node_name(s(""), None, s("sw1.sw2.gpu07"), host), "gpu07");
        assert_eq!(node_name(None, None, s("cpu01"), host), "cpu01");
        assert_eq!(node_name(None, None, None, host), "host");
    }

    #[test]
    fn array_ids_only_for_array_tasks() {
        // What slurmstepd reports for a plain job 41: its own id and NO_VAL.
        assert_eq!(array_ids(Some(41), Some(NO_VAL)), (None, None));
        assert_eq!(array_ids(Some(0), Some(0)), (None, None));
        assert_eq!(array_ids(None, None), (None, None));
        assert_eq!(array_ids(Some(40), Some(3)), (Some(40), Some(3)));
    }
}
