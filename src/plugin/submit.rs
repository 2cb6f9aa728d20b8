//! What job_submit_rci.so does: keep rci.conf loaded (reloading edits without a slurmctld
//! restart) and ask the policy about every submission and update.
//!
//! slurmctld may call job_submit concurrently from 23.02 on, so the state is a `OnceLock` set
//! once at init and a [`ConfigCache`] that is `Sync` without locks.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Duration;

use crate::config::paths::rci_conf_path;
use crate::config::ConfigCache;
use crate::ffi::slurm;
use crate::job::{JobRequest, Origin, Verdict};
use crate::kinds::JobKind;
use crate::policy::decide_in_het;

/// How often the submit path may stat rci.conf for changes (one stat per second at most).
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);

static CONFIG: OnceLock<ConfigCache> = OnceLock::new();

/// `init()`: load rci.conf; an error is fatal for slurmctld, with file and line in the log.
pub fn init() -> Result<String, String> {
    if let Some(cache) = CONFIG.get() {
        // Only reached if Slurm calls init twice without unloading us; re-check the file.
        cache.check_now();
        return Ok(format!("loaded (config {})", cache.path().display()));
    }
    let path = rci_conf_path(None, slurm::daemon_env);
    let cache = ConfigCache::new(&path, RELOAD_CHECK_INTERVAL, slurm::error)
        .map_err(|e| format!("cannot start with this rci.conf: {}", e.log_summary()))?
        .with_info_log(slurm::info);
    let msg = format!("loaded (config {})", cache.path().display());
    // A concurrent init cannot happen (slurmctld loads plugins once, single-threaded).
    let _ = CONFIG.set(cache);
    Ok(msg)
}

/// The het job whose components this thread is judging: slurmctld calls job_submit for
/// components 0, 1, 2 ... of one het job in one RPC, in order, on the thread serving that RPC,
/// and stops at the first rejection (`_slurm_rpc_allocate_het_job` and
/// `_slurm_rpc_submit_batch_het_job`, 22.05 to 26.05). So the state is per thread, written by
/// component 0, and used only by the very next offset from the same submitter; anything else
/// (a plain job, another component 0, a gap) replaces or clears it, so it cannot reach an
/// unrelated submission.
#[derive(Clone, Copy)]
struct HetInProgress {
    submit_uid: u32,
    next_offset: u32,
    leader_kind: JobKind,
}

thread_local! {
    static HET_IN_PROGRESS: Cell<Option<HetInProgress>> = const { Cell::new(None) };
}

/// The leader's kind for `req` (a later het component), and the state for the next call.
fn het_leader_for(req: &JobRequest) -> Option<JobKind> {
    let taken = HET_IN_PROGRESS.with(Cell::take);
    let offset = req.het_job_offset.filter(|&o| o > 0)?;
    let het = taken.filter(|h| h.submit_uid == req.submit_uid && h.next_offset == offset)?;
    HET_IN_PROGRESS.with(|c| {
        c.set(Some(HetInProgress {
            next_offset: offset.saturating_add(1),
            ..het
        }))
    });
    Some(het.leader_kind)
}

fn remember_het_leader(req: &JobRequest, verdict: &Verdict, kind: Option<JobKind>) {
    if let (Some(0), Verdict::Accept { .. }, Some(leader_kind)) =
        (req.het_job_offset, verdict, kind)
    {
        HET_IN_PROGRESS.with(|c| {
            c.set(Some(HetInProgress {
                submit_uid: req.submit_uid,
                next_offset: 1,
                leader_kind,
            }))
        });
    }
}

fn judge(req: &JobRequest) -> Verdict {
    match CONFIG.get() {
        // job_modify holds the job and node write locks (the scheduler waits): no file I/O
        // there; edits are picked up by the next submission.
        Some(cache) if req.origin == Origin::Modify => {
            decide_in_het(&cache.last_loaded(), req, None).0
        }
        Some(cache) => {
            let leader = het_leader_for(req);
            let (verdict, kind) = decide_in_het(&cache.current(), req, leader);
            remember_het_leader(req, &verdict, kind);
            verdict
        }
        None => {
            slurm::error("job_submit/rci: no configuration loaded; job passed unchanged");
            Verdict::accept()
        }
    }
}

/// `job_submit()`.
pub fn on_submit(req: &JobRequest) -> Verdict {
    judge(req)
}

/// `job_modify()`.
pub fn on_modify(req: &JobRequest) -> Verdict {
    judge(req)
}
