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
//! - batch step: name, partition, account, QOS, `SLURM_CPUS_ON_NODE` and the job's GPUs
//!   (`SLURM_JOB_GPUS`), which slurmctld/slurmstepd write into its environment over whatever the
//!   user exported. These win over everything else (account and QOS only with slurmdbd, see
//!   [`merge`]).
//! - interactive and srun steps (jobs without a batch step, e.g. `salloc` or `srun` on its
//!   own): their GPUs (`SLURM_STEP_GPUS`, which slurmstepd sets); the record gets the union of
//!   the GPUs of all steps. Their name/account/partition/QOS are what the user's client sent,
//!   kept only as [`ClaimedFacts`]. A step writes a note only when no batch note exists and
//!   its GPUs are not already noted, so a job of many steps leaves few, bounded files.
//! - a job that never ran a step on a node (an `salloc` with nothing started there) has no
//!   note: its record has empty name/account/partition and no GPUs.
//!
//! Every value is capped when the note is written ([`MAX_NAME_BYTES`], [`MAX_LIST_BYTES`]; a
//! longer one is left out and the record says so), a job keeps at most [`MAX_NOTES_PER_JOB`]
//! notes per node, and notes are filed under slurmstepd's own node name, never the step's.
//!
//! Notes live in `<AccountingSpool>/.step-notes/<node>.<job_id>.<uid>.notes`, one JSON line per
//! note, one file per job and node (directory mode 0750, file 0640, root-owned, the same checks
//! as the spool), at most [`MAX_NOTES_BYTES`]. The extern step opens (or creates) its job's
//! file at job start, as root, and holds it open with a shared `flock` until the end: it reads
//! the notes through that descriptor, so the moment when Slurm 24.11–25.11 runs the extern
//! step's end under the job user's euid cannot hide them; then it empties and removes the file.
//! The extern step's first line is a [`NotesHeader`]. A file with a header that no live extern
//! step holds belongs to one that died: the next extern step on the node turns its notes into a
//! record marked incomplete ([`Leftover`]) and removes the file; so does it with an unheld file
//! last written over [`LEFTOVER_AFTER`] ago, and with notes of an earlier job of the same id and
//! uid ([`EARLIER_JOB_BEFORE`]). Empty unheld files (an extern step that could not remove its
//! emptied file) simply go. `rci report` reads only `*.jsonl` files, so notes never count as
//! records.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::energy::record::ClaimedFacts;
use crate::gpu::resolve::{slurm_gpu_list, StepGpuEnv, StepKind};

/// Slurm's step ids for the special steps and NO_VAL (what `S_JOB_ARRAY_TASK_ID` reads for a
/// job that is not an array task), from its headers.
pub use crate::ffi::sys::{NO_VAL, SLURM_BATCH_SCRIPT, SLURM_INTERACTIVE_STEP};

/// The directory under the spool that holds step notes.
pub const NOTES_DIR: &str = ".step-notes";
/// The largest notes file of one job on one node (a note is a few hundred bytes).
pub const MAX_NOTES_BYTES: u64 = 64 * 1024;
/// A notes file no live job holds and nobody wrote for this long is a leftover.
pub const LEFTOVER_AFTER: Duration = Duration::from_secs(3600);
/// Longest name value (job name, account, partition, QOS) a note keeps; a longer one is left
/// out and the note says so. Slurm's own names are far shorter.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest GPU variable a note keeps (Slurm's list for 64 GPUs is under 200 bytes).
pub const MAX_LIST_BYTES: usize = 1024;
/// Most notes one job keeps on one node (a batch note, an interactive one, srun steps with new
/// GPUs): with [`MAX_NAME_BYTES`] and [`MAX_LIST_BYTES`] well under [`MAX_NOTES_BYTES`].
pub const MAX_NOTES_PER_JOB: usize = 16;
/// A note written this long before its job's extern step started belongs to an earlier job with
/// the same id (ids restart after a controller loses its state); this job's own steps start
/// after its extern step, give or take a moment.
pub const EARLIER_JOB_BEFORE: Duration = Duration::from_secs(60);

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
    /// When the note was written, unix seconds (0 in notes of older versions).
    #[serde(default)]
    pub written_unix: i64,
    /// Variables left out because they were too long (`SLURM_JOB_NAME (70000 bytes)`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

impl StepNote {
    /// The note of step `step_id` of job `job_id`, from the step's environment, written at
    /// `written_unix`. Values longer than [`MAX_NAME_BYTES`]/[`MAX_LIST_BYTES`] are left out
    /// and listed in `dropped`, so that a note stays small whatever the user exported; of the
    /// two GPU lists only the one Slurm sets for this kind of step is kept
    /// ([`slurm_gpu_list`]).
    pub fn from_env(
        job_id: u32,
        step_id: u32,
        written_unix: i64,
        env: impl Fn(&str) -> Option<String>,
    ) -> StepNote {
        let mut dropped = Vec::new();
        let mut var = |name: &str, max: usize| {
            let value = non_empty(env(name))?;
            if value.len() > max {
                dropped.push(format!("{name} ({} bytes)", value.len()));
                return None;
            }
            Some(value)
        };
        let batch = StepKind::from_step_id(step_id) == StepKind::Batch;
        let job_name = var("SLURM_JOB_NAME", MAX_NAME_BYTES);
        let account = var("SLURM_JOB_ACCOUNT", MAX_NAME_BYTES);
        let partition = var("SLURM_JOB_PARTITION", MAX_NAME_BYTES);
        let qos = var("SLURM_JOB_QOS", MAX_NAME_BYTES);
        let cpus_on_node = var("SLURM_CPUS_ON_NODE", 16).and_then(|v| v.trim().parse().ok());
        let step_gpus = if batch {
            None
        } else {
            var("SLURM_STEP_GPUS", MAX_LIST_BYTES)
        };
        let job_gpus = if batch {
            var("SLURM_JOB_GPUS", MAX_LIST_BYTES)
        } else {
            None
        };
        let cuda_visible_devices = var("CUDA_VISIBLE_DEVICES", MAX_LIST_BYTES);
        let shards_on_node = var("SLURM_SHARDS_ON_NODE", 64);
        let mps_thread_percentage = var("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", 64);
        StepNote {
            job_id,
            step_id,
            job_name,
            account,
            partition,
            qos,
            cpus_on_node,
            step_gpus,
            job_gpus,
            cuda_visible_devices,
            shards_on_node,
            mps_thread_percentage,
            written_unix,
            dropped,
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
        match slurm_gpu_list(&self.gpu_env(), self.kind()) {
            None => Some(Vec::new()),
            Some((_, list)) => list.split(',').map(|t| t.trim().parse().ok()).collect(),
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
    /// Job name from the batch step ("" without one).
    pub job_name: String,
    /// Account from the batch step, where Slurm vouches for it ("" otherwise).
    pub account: String,
    /// Partition from the batch step ("" without one).
    pub partition: String,
    /// QOS from the batch step, where Slurm vouches for it.
    pub qos: Option<String>,
    /// What only the user vouched for (see [`ClaimedFacts`]).
    pub claimed: ClaimedFacts,
    /// The job's CPUs on this node, from a job-wide note.
    pub cpus_on_node: Option<u32>,
    /// Where the job's GPUs are named: the batch note, or every other step's note.
    pub gpu_sources: Vec<(StepKind, StepGpuEnv)>,
    /// What the notes could not say (values left out for their size), for the record.
    pub problems: Vec<String>,
}

/// Merges a job's notes. Only the batch step's environment is written by Slurm for the job
/// (slurmctld and slurmstepd overwrite the user's `SLURM_JOB_NAME`, `SLURM_JOB_PARTITION`, the
/// GPU list and, where the job has them, account and QOS): its name and partition are facts,
/// and its account and QOS when `slurmdbd_accounting` (every job then has both, so Slurm always
/// overwrites them). Everything an srun or interactive step says comes from the user's client,
/// and is only [`ClaimedFacts`]. GPUs come from the batch note, else from every step's own list
/// (which slurmstepd sets).
pub fn merge(notes: &[StepNote], slurmdbd_accounting: bool) -> JobInfo {
    let rank = |n: &StepNote| match n.kind() {
        StepKind::Batch => (0, n.step_id),
        StepKind::Interactive => (1, n.step_id),
        _ => (2, n.step_id),
    };
    let mut sorted: Vec<&StepNote> = notes.iter().collect();
    sorted.sort_by_key(|n| rank(n));
    let batch = sorted.iter().find(|n| n.kind() == StepKind::Batch).copied();
    let first_claim = |field: fn(&StepNote) -> Option<&String>| -> Option<String> {
        sorted
            .iter()
            .filter(|n| n.kind() != StepKind::Batch)
            .find_map(|n| field(n).cloned())
    };
    let mut info = JobInfo::default();
    match batch {
        Some(b) => {
            info.job_name = b.job_name.clone().unwrap_or_default();
            info.partition = b.partition.clone().unwrap_or_default();
            if slurmdbd_accounting {
                info.account = b.account.clone().unwrap_or_default();
                info.qos = b.qos.clone();
            } else {
                info.claimed.account = b.account.clone();
                info.claimed.qos = b.qos.clone();
            }
            info.gpu_sources = vec![(b.kind(), b.gpu_env())];
        }
        None => {
            info.claimed = ClaimedFacts {
                job_name: first_claim(|n| n.job_name.as_ref()),
                account: first_claim(|n| n.account.as_ref()),
                partition: first_claim(|n| n.partition.as_ref()),
                qos: first_claim(|n| n.qos.as_ref()),
            };
            info.gpu_sources = sorted.iter().map(|n| (n.kind(), n.gpu_env())).collect();
        }
    }
    info.cpus_on_node = sorted
        .iter()
        .find(|n| n.is_job_wide())
        .and_then(|n| n.cpus_on_node);
    for n in &sorted {
        if !n.dropped.is_empty() {
            info.problems.push(format!(
                "step {} left out of its note, for their size: {}",
                step_label(n.step_id),
                n.dropped.join(", ")
            ));
        }
    }
    info
}

/// `batch`, `interactive`, `extern` or the step number, for messages.
pub fn step_label(step_id: u32) -> String {
    match StepKind::from_step_id(step_id) {
        StepKind::Batch => "batch".to_owned(),
        StepKind::Interactive => "interactive".to_owned(),
        StepKind::Extern => "extern".to_owned(),
        StepKind::Normal => step_id.to_string(),
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

/// The first line the extern step writes into its job's notes file: which job instance the file
/// belongs to. A file with this line that no extern step holds any more belongs to a job whose
/// extern step died (a live one holds it from start to end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotesHeader {
    pub job_id: u32,
    pub uid: u32,
    /// When the extern step started measuring, unix seconds.
    pub extern_start_unix: i64,
}

/// A line of a notes file.
enum NotesLine {
    Header(NotesHeader),
    Note(Box<StepNote>),
}

fn parse_line(line: &[u8]) -> Result<NotesLine, String> {
    if let Ok(header) = serde_json::from_slice::<NotesHeader>(line) {
        return Ok(NotesLine::Header(header));
    }
    serde_json::from_slice::<StepNote>(line)
        .map(|note| NotesLine::Note(Box::new(note)))
        .map_err(|e| e.to_string())
}

/// What a notes file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotesContent {
    /// The extern step's header, if one was written.
    pub header: Option<NotesHeader>,
    /// The notes of the file's job, by step id.
    pub notes: Vec<StepNote>,
    /// One message per line that is neither.
    pub errors: Vec<String>,
}

/// Notes of a job instance whose extern step did not write its record (it died, or an earlier
/// job with the same id left them): turned into a record marked incomplete by the next extern
/// step on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub job_id: u32,
    pub uid: u32,
    /// When its extern step started, if it had one.
    pub extern_start_unix: Option<i64>,
    /// The last change of its notes: a lower bound for its end.
    pub last_change_unix: i64,
    pub notes: Vec<StepNote>,
    /// The file they were found in.
    pub file: PathBuf,
}

/// `<node>.<job>.<uid>.notes` → (job, uid).
fn ids_from_file_name(name: &str) -> Option<(u32, u32)> {
    let stem = name.strip_suffix(".notes")?;
    let mut parts = stem.rsplitn(3, '.');
    let uid = parts.next()?.parse().ok()?;
    let job = parts.next()?.parse().ok()?;
    parts.next()?;
    Some((job, uid))
}

fn unix_of(time: Option<SystemTime>) -> i64 {
    time.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
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

    /// The extern step's open at job start (as root): opens (creating) the file, takes it for
    /// the job's life (a shared lock, held until the end) and writes its [`NotesHeader`]. Notes
    /// already in the file that belong to an earlier job with the same id and uid (written over
    /// [`EARLIER_JOB_BEFORE`] before `start_unix`, or after an earlier extern step's header) are
    /// taken out and returned, for a record marked incomplete; this job's own early notes stay.
    pub fn open_held(
        spool: &Path,
        owner: u32,
        node: &str,
        job_id: u32,
        uid: u32,
        start_unix: i64,
    ) -> Result<(JobNotes, Option<Leftover>), String> {
        let mut notes = Self::open_locked(spool, owner, node, job_id, uid)?;
        // Alone with the file (no step writing right now): sort out what an earlier job left.
        // Converting the shared lock to an exclusive one and back is atomic with flock.
        let mut leftover = None;
        if notes.file.try_lock().is_ok() {
            let content = notes.read_all(job_id);
            let cutoff = start_unix - EARLIER_JOB_BEFORE.as_secs() as i64;
            let (old, fresh): (Vec<StepNote>, Vec<StepNote>) = content
                .notes
                .into_iter()
                .partition(|n| content.header.is_some() || n.written_unix < cutoff);
            if !old.is_empty() {
                leftover = Some(Leftover {
                    job_id,
                    uid,
                    extern_start_unix: content.header.map(|h| h.extern_start_unix),
                    last_change_unix: unix_of(
                        notes.file.metadata().ok().and_then(|m| m.modified().ok()),
                    ),
                    notes: old,
                    file: notes.path.clone(),
                });
            }
            let header = NotesHeader {
                job_id,
                uid,
                extern_start_unix: start_unix,
            };
            let rewritten = notes.rewrite(&header, &fresh);
            let relocked = notes.file.lock_shared();
            rewritten?;
            relocked.map_err(|e| format!("cannot lock {}: {e}", notes.path.display()))?;
        } else {
            let header = NotesHeader {
                job_id,
                uid,
                extern_start_unix: start_unix,
            };
            notes.append_line(&header)?;
        }
        Ok((notes, leftover))
    }

    /// Replaces the file's content by `header` and `notes` (under the exclusive lock).
    fn rewrite(&mut self, header: &NotesHeader, notes: &[StepNote]) -> Result<(), String> {
        let show = self.path.display();
        let mut text = serde_json::to_vec(header).map_err(|e| e.to_string())?;
        text.push(b'\n');
        for n in notes {
            text.extend(serde_json::to_vec(n).map_err(|e| e.to_string())?);
            text.push(b'\n');
        }
        self.file
            .set_len(0)
            .and_then(|()| (&self.file).write_all(&text))
            .map_err(|e| format!("cannot rewrite step notes {show}: {e}"))
    }

    /// Appends one JSON line (one `write()` with O_APPEND).
    fn append_line(&mut self, value: &impl Serialize) -> Result<(), String> {
        let mut line = serde_json::to_vec(value).map_err(|e| format!("cannot serialise: {e}"))?;
        line.push(b'\n');
        let size = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        if size + line.len() as u64 > MAX_NOTES_BYTES {
            return Err(format!(
                "step notes {} would exceed {MAX_NOTES_BYTES} bytes; not written",
                self.path.display()
            ));
        }
        (&self.file)
            .write_all(&line)
            .map_err(|e| format!("cannot write step notes {}: {e}", self.path.display()))
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
        let content = self.read_all(job_id);
        (content.notes, content.errors)
    }

    /// Everything in the file: the header, the notes of `job_id` (by step id), the errors.
    pub fn read_all(&mut self, job_id: u32) -> NotesContent {
        let show = self.path.display().to_string();
        let mut text = Vec::new();
        let read = self
            .file
            .seek(SeekFrom::Start(0))
            .and_then(|_| (&self.file).take(MAX_NOTES_BYTES).read_to_end(&mut text));
        if let Err(e) = read {
            return NotesContent {
                errors: vec![format!("cannot read step notes {show}: {e}")],
                ..NotesContent::default()
            };
        }
        parse_content(&text, job_id, &show)
    }

    /// Appends `note` as one line, unless [`should_write`] says the notes already cover it, or
    /// the job has [`MAX_NOTES_PER_JOB`] notes, or the file would exceed [`MAX_NOTES_BYTES`].
    /// Returns whether it was written.
    fn append(&mut self, note: &StepNote) -> Result<bool, String> {
        let (existing, _) = self.read(note.job_id);
        if !should_write(note, &existing) {
            return Ok(false);
        }
        if existing.len() >= MAX_NOTES_PER_JOB {
            return Err(format!(
                "step notes {} already hold {MAX_NOTES_PER_JOB} notes; not written",
                self.path.display()
            ));
        }
        // One write() with O_APPEND: concurrent steps never interleave within a line. No flock:
        // the extern step holds a shared one for the job's life.
        self.append_line(note)?;
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

/// Parses a notes file's bytes (`show`: its name, for messages).
pub fn parse_content(text: &[u8], job_id: u32, show: &str) -> NotesContent {
    let mut content = NotesContent::default();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_line(line) {
            Ok(NotesLine::Header(h)) => content.header = Some(h),
            Ok(NotesLine::Note(note)) if note.job_id == job_id => content.notes.push(*note),
            Ok(NotesLine::Note(note)) => content.errors.push(format!(
                "{show}:{}: note of job {} in job {job_id}'s file; ignored",
                n + 1,
                note.job_id
            )),
            Err(e) => content
                .errors
                .push(format!("{show}:{}: malformed step note: {e}", n + 1)),
        }
    }
    content.notes.sort_by_key(|n| n.step_id);
    content
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
/// its file this way writes again), or carry an extern step's header (that extern step died:
/// a live one holds its file), or were last written more than [`LEFTOVER_AFTER`] before `now`
/// (a job's steps may write before its extern step has taken the file). Returns the notes of
/// each removed file that had any, for a record marked incomplete, and one message per failure.
pub fn remove_leftovers(spool: &Path, node: &str, now: SystemTime) -> (Vec<Leftover>, Vec<String>) {
    let dir = spool.join(NOTES_DIR);
    let Ok(entries) = fs::read_dir(&dir) else {
        return (Vec::new(), Vec::new());
    };
    let prefix = format!("{}.", safe_node(node));
    let mut leftovers = Vec::new();
    let mut messages = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !name.starts_with(&prefix) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let old = meta
            .modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > LEFTOVER_AFTER);
        let path = entry.path();
        // Only a file nobody holds: no live extern step, no step writing right now (both hold a
        // shared lock). Its content is read under the lock: a note may have come meanwhile.
        let Ok(mut file) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
        else {
            continue;
        };
        if file.try_lock().is_err() {
            continue;
        }
        let mut text = Vec::new();
        if (&mut file)
            .take(MAX_NOTES_BYTES)
            .read_to_end(&mut text)
            .is_err()
        {
            continue;
        }
        let Some((job_id, uid)) = ids_from_file_name(&name) else {
            continue;
        };
        let content = parse_content(&text, job_id, &path.display().to_string());
        let dead_extern = content.header.is_some();
        if !(old || dead_extern || text.is_empty()) {
            continue;
        }
        if !content.notes.is_empty() {
            leftovers.push(Leftover {
                job_id,
                uid,
                extern_start_unix: content.header.map(|h| h.extern_start_unix),
                last_change_unix: unix_of(file.metadata().ok().and_then(|m| m.modified().ok())),
                notes: content.notes,
                file: path.clone(),
            });
        }
        if let Err(e) = fs::remove_file(&path) {
            if e.kind() != io::ErrorKind::NotFound {
                messages.push(format!("cannot remove {}: {e}", path.display()));
            }
        }
    }
    (leftovers, messages)
}

/// This node's name: slurmd's own `SLURMD_NODENAME` (slurmd exports it to slurmstepd's
/// process environment), else the last part of the extern step's `SLURM_TOPOLOGY_ADDR`, else
/// the host name. Never the step's `SLURMD_NODENAME`: a step launched from another node (het
/// and multi-node jobs) carries that node's name there, and a user can set it.
pub fn node_name(
    process_env: Option<String>,
    topology_addr: Option<String>,
    hostname: impl FnOnce() -> String,
) -> String {
    non_empty(process_env)
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
            NOW,
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
        StepNote::from_env(7, step, NOW, env(&pairs))
    }

    /// When the notes of these tests are written.
    const NOW: i64 = 1_700_000_000;

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
        let info = merge(&notes, true);
        assert_eq!(info.job_name, "train");
        assert_eq!(info.account, "physics");
        assert_eq!(info.partition, "gpu");
        assert_eq!(info.cpus_on_node, Some(8));
        assert_eq!(info.gpu_sources.len(), 1);
        assert_eq!(info.gpu_sources[0].0, StepKind::Batch);
        assert!(info.claimed.is_empty());
        // Without slurmdbd a job may have no account or QOS, and then the batch step's are
        // whatever the user exported: claimed, not facts.
        let info = merge(&notes, false);
        assert_eq!(info.job_name, "train");
        assert_eq!(info.account, "");
        assert_eq!(info.claimed.account.as_deref(), Some("physics"));
    }

    #[test]
    fn srun_steps_only_claim_names_and_never_give_another_lists_gpus() {
        // `SLURM_JOB_ACCOUNT=victim srun ...`: the user's client sends that environment.
        let forged = StepNote::from_env(
            7,
            0,
            NOW,
            env(&[
                ("SLURM_JOB_ACCOUNT", "victim"),
                ("SLURM_JOB_NAME", "n"),
                ("SLURM_JOB_GPUS", "0,1,2,3"),
                ("SLURM_STEP_GPUS", "1"),
            ]),
        );
        assert_eq!(
            forged.job_gpus, None,
            "an srun step's SLURM_JOB_GPUS is the user's"
        );
        let info = merge(&[forged], true);
        assert_eq!(info.account, "");
        assert_eq!(info.job_name, "");
        assert_eq!(info.claimed.account.as_deref(), Some("victim"));
        assert_eq!(info.claimed.job_name.as_deref(), Some("n"));
        assert_eq!(info.gpu_sources[0].1.step_gpus.as_deref(), Some("1"));
        // And a batch step's SLURM_STEP_GPUS is the user's.
        let batch = StepNote::from_env(
            7,
            SLURM_BATCH_SCRIPT,
            NOW,
            env(&[("SLURM_STEP_GPUS", "0,1,2,3"), ("SLURM_JOB_GPUS", "2")]),
        );
        assert_eq!(batch.step_gpus, None);
        assert_eq!(batch.job_gpus.as_deref(), Some("2"));
    }

    #[test]
    fn oversized_values_are_left_out_and_said() {
        let huge = "x".repeat(70 * 1024);
        let note = StepNote::from_env(
            7,
            SLURM_BATCH_SCRIPT,
            NOW,
            env(&[
                ("SLURM_JOB_NAME", &huge),
                ("SLURM_JOB_PARTITION", "gpu"),
                ("SLURM_JOB_GPUS", "0,1"),
                ("CUDA_VISIBLE_DEVICES", &huge),
            ]),
        );
        assert_eq!(note.job_name, None);
        assert_eq!(note.job_gpus.as_deref(), Some("0,1"));
        assert_eq!(note.dropped.len(), 2, "{:?}", note.dropped);
        assert!(serde_json::to_vec(&note).unwrap().len() < 2048);
        let info = merge(&[note], true);
        assert_eq!(info.partition, "gpu");
        assert_eq!(info.problems.len(), 1);
        assert!(
            info.problems[0].contains("SLURM_JOB_NAME (71680 bytes)"),
            "{:?}",
            info.problems
        );
    }

    #[test]
    fn without_a_batch_note_every_step_counts() {
        let notes = [srun_note(3, Some("2")), srun_note(1, Some("0,1"))];
        let info = merge(&notes, true);
        assert_eq!(info.job_name, "");
        assert_eq!(info.claimed.job_name.as_deref(), Some("sr"));
        assert_eq!(info.account, "");
        assert_eq!(info.cpus_on_node, None);
        let kinds: Vec<StepKind> = info.gpu_sources.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, [StepKind::Normal, StepKind::Normal]);
        assert_eq!(info.gpu_sources[0].1.step_gpus.as_deref(), Some("0,1"));
        assert_eq!(merge(&[], true), JobInfo::default());
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
        let (mut held, earlier) = JobNotes::open_held(&spool, me, "gpu01", 7, 1000, NOW).unwrap();
        assert_eq!(earlier, None);
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
        assert!(errors[0].contains(":4: malformed"), "{errors:?}");

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
        let (held, _) = JobNotes::open_held(&spool, me, "n", 1, 1000, NOW).unwrap();
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
        assert_eq!(
            remove_leftovers(&spool, "n", SystemTime::now()),
            (vec![], vec![])
        );
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 3);
        assert!(!dir.join("n.3.1000.notes").exists());
        let later = SystemTime::now() + LEFTOVER_AFTER + Duration::from_secs(60);
        let (leftovers, messages) = remove_leftovers(&spool, "n", later);
        assert!(messages.is_empty(), "{messages:?}");
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
        assert_eq!((leftovers[0].job_id, leftovers[0].uid), (2, 1000));
        assert_eq!(leftovers[0].extern_start_unix, None);
        assert_eq!(leftovers[0].notes[0].job_name.as_deref(), Some("train"));
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
    fn a_dead_extern_steps_notes_are_a_leftover_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = tmp.path().join("spool");
        let me = crate::energy::spool::current_euid().unwrap();
        let (held, _) = JobNotes::open_held(&spool, me, "n", 9, 1000, NOW).unwrap();
        let note = StepNote {
            job_id: 9,
            ..batch_note()
        };
        assert!(write_note(&spool, me, "n", 1000, &note).unwrap());
        // Alive: its lock keeps the file.
        assert_eq!(remove_leftovers(&spool, "n", SystemTime::now()).0, vec![]);
        // kill -9: the lock goes with the process; the header says an extern step had it.
        drop(held);
        let (leftovers, messages) = remove_leftovers(&spool, "n", SystemTime::now());
        assert!(messages.is_empty(), "{messages:?}");
        assert_eq!(leftovers.len(), 1);
        assert_eq!(leftovers[0].extern_start_unix, Some(NOW));
        assert_eq!(leftovers[0].notes, [note]);
        assert_eq!(fs::read_dir(spool.join(NOTES_DIR)).unwrap().count(), 0);
    }

    #[test]
    fn an_earlier_job_with_the_same_id_leaves_its_notes_to_a_leftover_record() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = tmp.path().join("spool");
        let me = crate::energy::spool::current_euid().unwrap();
        let ghost = StepNote {
            job_id: 5,
            job_name: Some("ghost".into()),
            written_unix: NOW - 86_400,
            ..batch_note()
        };
        let early = StepNote {
            job_id: 5,
            step_id: 0,
            written_unix: NOW - 2,
            ..srun_note(0, Some("1"))
        };
        assert!(write_note(&spool, me, "n", 1000, &early).unwrap());
        assert!(write_note(&spool, me, "n", 1000, &ghost).unwrap());
        let (mut held, earlier) = JobNotes::open_held(&spool, me, "n", 5, 1000, NOW).unwrap();
        let earlier = earlier.expect("the day-old note is an earlier job's");
        assert_eq!(earlier.notes, [ghost]);
        // This job's own note, written a moment before its extern step started, stays.
        let content = held.read_all(5);
        assert_eq!(content.notes, [early]);
        assert_eq!(content.header.map(|h| h.extern_start_unix), Some(NOW));
        assert!(content.errors.is_empty(), "{:?}", content.errors);
    }

    #[test]
    fn a_job_keeps_a_bounded_number_of_notes() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = tmp.path().join("spool");
        let me = crate::energy::spool::current_euid().unwrap();
        let mut written = 0;
        let mut refused = 0;
        for step in 0..50 {
            // Every step names a new GPU: each would be worth a note.
            match write_note(
                &spool,
                me,
                "n",
                1000,
                &srun_note(step, Some(&step.to_string())),
            ) {
                Ok(true) => written += 1,
                Ok(false) => {}
                Err(e) => {
                    assert!(e.contains("already hold"), "{e}");
                    refused += 1;
                }
            }
        }
        assert_eq!(
            (written, refused),
            (MAX_NOTES_PER_JOB, 50 - MAX_NOTES_PER_JOB)
        );
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
        assert_eq!(node_name(s("b"), s("c"), host), "b");
        assert_eq!(node_name(s(""), s("sw1.sw2.gpu07"), host), "gpu07");
        assert_eq!(node_name(None, s("cpu01"), host), "cpu01");
        assert_eq!(node_name(None, None, host), "host");
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
