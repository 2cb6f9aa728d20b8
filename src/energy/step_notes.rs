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
//! Notes live in `<AccountingSpool>/.step-notes/<node>.<job_id>.<uid>.notes`, one JSON line per
//! note, one file per job and node (directory mode 0750, file 0640, root-owned, the same checks
//! as the spool), at most [`MAX_NOTES_BYTES`]. The extern step opens (or creates) its job's
//! file at job start, as root, and holds it open with a shared `flock` until the end: it reads
//! the notes through that descriptor, so the moment when Slurm 24.11–25.11 runs the extern
//! step's end under the job user's euid cannot hide them; then it empties and removes the file.
//! A file no live job holds, last written over [`LEFTOVER_AFTER`] ago, is a leftover (an extern
//! step that died, or one that could not remove its emptied file) and is removed by the next
//! extern step on the node. `rci report` reads only `*.jsonl` files, so notes never count as
//! records.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::gpu::resolve::{StepGpuEnv, StepKind};

/// Slurm's step ids for the special steps and NO_VAL (what `S_JOB_ARRAY_TASK_ID` reads for a
/// job that is not an array task), from its headers.
pub use crate::ffi::sys::{NO_VAL, SLURM_BATCH_SCRIPT, SLURM_INTERACTIVE_STEP};

/// The directory under the spool that holds step notes.
pub const NOTES_DIR: &str = ".step-notes";
/// The largest notes file of one job on one node (a note is a few hundred bytes).
pub const MAX_NOTES_BYTES: u64 = 64 * 1024;
/// A notes file no live job holds and nobody wrote for this long is a leftover.
pub const LEFTOVER_AFTER: Duration = Duration::from_secs(3600);

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

/// Node names as they appear in note file names (as in [`crate::energy::spool::file_name`]).
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

/// `<node>.<job_id>.<uid>.notes`: one file per job and node, shared by all its steps.
fn notes_file_name(node: &str, job_id: u32, uid: u32) -> String {
    format!("{}.{job_id}.{uid}.notes", safe_node(node))
}

/// `<spool>/.step-notes`, created and checked like the spool itself.
fn notes_dir(spool: &Path, owner: u32) -> Result<PathBuf, String> {
    crate::energy::spool::ensure_dir(spool, owner)?;
    let dir = spool.join(NOTES_DIR);
    crate::energy::spool::ensure_dir(&dir, owner)?;
    Ok(dir)
}

/// The step notes of one job on one node: a JSON Lines file, one line per note, opened
/// (created if missing) and checked like a spool file. The extern step opens it at job start
/// as root and keeps it open, holding a shared `flock` on it while the job lives, so that
/// reading it at the end needs no permission on the path, and a later job on the node can tell
/// a live job's file from a leftover ([`remove_leftovers`]).
#[derive(Debug)]
pub struct JobNotes {
    file: File,
    path: PathBuf,
}

impl JobNotes {
    /// Opens (creating if missing) the notes file of `job_id` (owned by `uid`) on `node`.
    pub fn open(
        spool: &Path,
        owner: u32,
        node: &str,
        job_id: u32,
        uid: u32,
    ) -> Result<JobNotes, String> {
        let dir = notes_dir(spool, owner)?;
        let path = dir.join(notes_file_name(node, job_id, uid));
        let file = crate::energy::spool::open_checked(&path, owner, "step notes file")?;
        Ok(JobNotes { file, path })
    }

    /// Opens the file like [`JobNotes::open`] and takes a shared lock on it, making sure it is
    /// still the file at its path: [`remove_leftovers`] of another job may have removed it as
    /// an empty leftover just before. A shared lock keeps it from doing so while held (it
    /// removes only files it can lock exclusively).
    fn open_locked(
        spool: &Path,
        owner: u32,
        node: &str,
        job_id: u32,
        uid: u32,
    ) -> Result<JobNotes, String> {
        let dir = notes_dir(spool, owner)?;
        let path = dir.join(notes_file_name(node, job_id, uid));
        for _ in 0..5 {
            let Some(file) =
                crate::energy::spool::open_checked_or_unlinked(&path, owner, "step notes file")?
            else {
                continue;
            };
            file.lock_shared()
                .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
            let notes = JobNotes {
                file,
                path: path.clone(),
            };
            if notes.still_at_path() {
                return Ok(notes);
            }
        }
        Err(format!(
            "step notes of job {job_id}: the file keeps being replaced; given up"
        ))
    }

    /// Opens the file like [`JobNotes::open`] and marks it as belonging to a live job: the
    /// extern step holds this until the job ends. If another job's extern step removed the
    /// file as empty between the open and the lock, the new file at the path is taken instead.
    pub fn open_held(
        spool: &Path,
        owner: u32,
        node: &str,
        job_id: u32,
        uid: u32,
    ) -> Result<JobNotes, String> {
        Self::open_locked(spool, owner, node, job_id, uid)
    }

    /// Whether the open file is still the one at its path (not removed or replaced).
    fn still_at_path(&self) -> bool {
        match (self.file.metadata(), fs::symlink_metadata(&self.path)) {
            (Ok(open), Ok(at_path)) => open.ino() == at_path.ino() && open.dev() == at_path.dev(),
            _ => false,
        }
    }

    /// The notes of `job_id` in the file, and one message per line that is not one.
    pub fn read(&mut self, job_id: u32) -> (Vec<StepNote>, Vec<String>) {
        let show = self.path.display().to_string();
        let mut text = Vec::new();
        let read = self
            .file
            .seek(SeekFrom::Start(0))
            .and_then(|_| (&self.file).take(MAX_NOTES_BYTES).read_to_end(&mut text));
        if let Err(e) = read {
            return (
                Vec::new(),
                vec![format!("cannot read step notes {show}: {e}")],
            );
        }
        let mut notes = Vec::new();
        let mut errors = Vec::new();
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<StepNote>(line) {
                Ok(note) if note.job_id == job_id => notes.push(note),
                Ok(note) => errors.push(format!(
                    "{show}:{}: note of job {} in job {job_id}'s file; ignored",
                    n + 1,
                    note.job_id
                )),
                Err(e) => errors.push(format!("{show}:{}: malformed step note: {e}", n + 1)),
            }
        }
        notes.sort_by_key(|n| n.step_id);
        (notes, errors)
    }

    /// Appends `note` as one line, unless [`should_write`] says the notes already cover it or
    /// the file would exceed [`MAX_NOTES_BYTES`]. Returns whether it was written.
    fn append(&mut self, note: &StepNote) -> Result<bool, String> {
        let (existing, _) = self.read(note.job_id);
        if !should_write(note, &existing) {
            return Ok(false);
        }
        let mut line =
            serde_json::to_vec(note).map_err(|e| format!("cannot serialise note: {e}"))?;
        line.push(b'\n');
        let size = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        if size + line.len() as u64 > MAX_NOTES_BYTES {
            return Err(format!(
                "step notes {} would exceed {MAX_NOTES_BYTES} bytes; note not written",
                self.path.display()
            ));
        }
        // One write() with O_APPEND: concurrent steps never interleave within a line. No flock:
        // the extern step holds a shared one for the job's life.
        (&self.file)
            .write_all(&line)
            .map_err(|e| format!("cannot write step notes {}: {e}", self.path.display()))?;
        Ok(true)
    }

    /// Empties the file (through the open descriptor: works whatever the euid is now) and
    /// removes it. A file that cannot be removed because the extern step's euid is the job
    /// user's at this moment (Slurm 24.11–25.11) stays empty, and the next job on the node
    /// removes it ([`remove_leftovers`]). Returns one message per other failure.
    pub fn consume(self) -> Vec<String> {
        let mut errors = Vec::new();
        if let Err(e) = self.file.set_len(0) {
            errors.push(format!("cannot empty {}: {e}", self.path.display()));
        }
        if let Err(e) = fs::remove_file(&self.path) {
            if !matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) {
                errors.push(format!("cannot remove {}: {e}", self.path.display()));
            }
        }
        errors
    }
}

/// Writes `note` into its job's notes file on `node` unless [`should_write`] says the job's
/// notes already cover it. Returns whether a note was written.
pub fn write_note(
    spool: &Path,
    owner: u32,
    node: &str,
    uid: u32,
    note: &StepNote,
) -> Result<bool, String> {
    // Two steps starting at the same moment may both write: harmless, merge() takes the first.
    // The shared lock (held until `notes` is dropped) keeps another job's extern step from
    // removing the file as an empty leftover while we write.
    JobNotes::open_locked(spool, owner, node, note.job_id, uid)?.append(note)
}

/// Removes this node's notes files that no live job holds ([`JobNotes::open_held`]) and that
/// are empty (a finished job's, which its extern step could not remove; a writer that loses
/// its file this way writes again) or were last written more than [`LEFTOVER_AFTER`] before
/// `now` (a job's steps may write before its extern step has taken the file). Returns one
/// message per file removed with notes in it (its job's extern step died without a record)
/// and per failure.
pub fn remove_leftovers(spool: &Path, node: &str, now: SystemTime) -> Vec<String> {
    let dir = spool.join(NOTES_DIR);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let prefix = format!("{}.", safe_node(node));
    let mut messages = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !name.starts_with(&prefix) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > LEFTOVER_AFTER);
        if !(old || meta.len() == 0) || !meta.is_file() {
            continue;
        }
        let path = entry.path();
        // Only a file nobody holds: no live extern step, no step writing right now (both hold a
        // shared lock). The size is read again under the lock: a note may have come meanwhile.
        let Ok(file) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
        else {
            continue;
        };
        if file.try_lock().is_err() {
            continue;
        }
        let len = file.metadata().map(|m| m.len()).unwrap_or(1);
        if !(old || len == 0) {
            continue;
        }
        if len > 0 {
            messages.push(format!(
                "{}: notes of a job whose extern step ended without a record; removed",
                path.display()
            ));
        }
        if let Err(e) = fs::remove_file(&path) {
            if e.kind() != io::ErrorKind::NotFound {
                messages.push(format!("cannot remove {}: {e}", path.display()));
            }
        }
    }
    messages
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
    use std::os::unix::fs::PermissionsExt;

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
        let me = crate::energy::spool::current_euid().unwrap();
        // The extern step opens and holds the file first (or after the steps: both work).
        let mut held = JobNotes::open_held(&spool, me, "gpu01", 7, 1000).unwrap();
        assert_eq!(held.read(7), (vec![], vec![]));
        assert!(write_note(&spool, me, "gpu01", 1000, &srun_note(0, Some("0"))).unwrap());
        // Covered by step 0: not written.
        assert!(!write_note(&spool, me, "gpu01", 1000, &srun_note(1, Some("0"))).unwrap());
        assert!(write_note(&spool, me, "gpu01", 1000, &batch_note()).unwrap());
        // Another node, another job, and the same job id of another user, in the same spool.
        assert!(write_note(&spool, me, "gpu02", 1000, &batch_note()).unwrap());
        let other_job = StepNote {
            job_id: 70,
            ..batch_note()
        };
        assert!(write_note(&spool, me, "gpu01", 1000, &other_job).unwrap());
        assert!(write_note(&spool, me, "gpu01", 2000, &batch_note()).unwrap());

        let (notes, errors) = held.read(7);
        assert!(errors.is_empty(), "{errors:?}");
        let steps: Vec<u32> = notes.iter().map(|n| n.step_id).collect();
        assert_eq!(steps, [0, SLURM_BATCH_SCRIPT]);
        assert_eq!(notes[1], batch_note());

        // Garbage in the file is reported, never trusted.
        let path = spool.join(NOTES_DIR).join("gpu01.7.1000.notes");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"not json\n").unwrap();
        let (notes, errors) = held.read(7);
        assert_eq!(notes.len(), 2);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains(":3: malformed"), "{errors:?}");

        assert!(held.consume().is_empty());
        assert!(!path.exists());
        let mut names: Vec<String> = fs::read_dir(spool.join(NOTES_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "gpu01.7.2000.notes",
                "gpu01.70.1000.notes",
                "gpu02.7.1000.notes"
            ]
        );
    }

    #[test]
    fn notes_read_through_the_open_file_survive_a_lost_path_permission() {
        // What the extern step does on 24.11: open at start, read at the end through the
        // descriptor although the path has become unreachable in between.
        let tmp = tempfile::tempdir().unwrap();
        let spool = tmp.path().join("spool");
        let me = crate::energy::spool::current_euid().unwrap();
        let mut held = JobNotes::open(&spool, me, "n1", 5, 1000).unwrap();
        assert!(write_note(
            &spool,
            me,
            "n1",
            1000,
            &StepNote {
                job_id: 5,
                ..batch_note()
            }
        )
        .unwrap());
        let moved = tmp.path().join("elsewhere");
        fs::rename(spool.join(NOTES_DIR), &moved).unwrap();
        let (notes, errors) = held.read(5);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].job_name.as_deref(), Some("train"));
    }

    #[test]
    fn a_notes_file_is_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = tmp.path().join("spool");
        let me = crate::energy::spool::current_euid().unwrap();
        let big = StepNote {
            job_name: Some("x".repeat(40 * 1024)),
            ..batch_note()
        };
        assert!(write_note(&spool, me, "n", 1000, &big).unwrap());
        let err = write_note(&spool, me, "n", 1000, &big).unwrap_err();
        assert!(err.contains("would exceed"), "{err}");
        let len = fs::metadata(spool.join(NOTES_DIR).join("n.7.1000.notes"))
            .unwrap()
            .len();
        assert!(len <= MAX_NOTES_BYTES, "{len}");
    }

    #[test]
    fn leftovers_are_removed_unless_a_live_job_holds_them() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = tmp.path().join("spool");
        let me = crate::energy::spool::current_euid().unwrap();
        let held = JobNotes::open_held(&spool, me, "n", 1, 1000).unwrap();
        assert!(write_note(
            &spool,
            me,
            "n",
            1000,
            &StepNote {
                job_id: 2,
                ..batch_note()
            }
        )
        .unwrap());
        drop(JobNotes::open(&spool, me, "n", 3, 1000).unwrap()); // empty, unheld
        assert!(write_note(&spool, me, "other", 1000, &batch_note()).unwrap());
        let dir = spool.join(NOTES_DIR);
        // Just written: a job's steps may write before its extern step took the file. The
        // empty unheld one goes at once.
        assert!(remove_leftovers(&spool, "n", SystemTime::now()).is_empty());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 3);
        assert!(!dir.join("n.3.1000.notes").exists());
        let later = SystemTime::now() + LEFTOVER_AFTER + Duration::from_secs(60);
        let messages = remove_leftovers(&spool, "n", later);
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].contains("n.2.1000.notes"), "{messages:?}");
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        // The held file stays; another node's is not ours to judge.
        assert_eq!(names, ["n.1.1000.notes", "other.7.1000.notes"]);
        drop(held);
    }

    #[test]
    fn notes_refuse_an_unsafe_spool() {
        let tmp = tempfile::tempdir().unwrap();
        let me = crate::energy::spool::current_euid().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, "").unwrap();
        assert!(write_note(&file, me, "n", 1000, &batch_note()).is_err());
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = write_note(&link, me, "n", 1000, &batch_note()).unwrap_err();
        assert!(err.contains("symlink"), "{err}");
        assert!(!real.join(NOTES_DIR).exists());
        // A planted link in place of the notes file is refused too.
        let spool = tmp.path().join("spool");
        fs::create_dir_all(spool.join(NOTES_DIR)).unwrap();
        fs::set_permissions(&spool, fs::Permissions::from_mode(0o750)).unwrap();
        fs::set_permissions(spool.join(NOTES_DIR), fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink(
            "/etc/hostname",
            spool.join(NOTES_DIR).join("n.7.1000.notes"),
        )
        .unwrap();
        assert!(write_note(&spool, me, "n", 1000, &batch_note()).is_err());
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
