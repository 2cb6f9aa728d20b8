//! What job_submit_rci.so does: keep rci.conf loaded (reloading edits without a slurmctld
//! restart) and ask the policy about every submission and update.
//!
//! slurmctld may call job_submit concurrently from 23.02 on, so the state is a `OnceLock` set
//! once at init and a [`ConfigCache`] that is `Sync` without locks.

use std::sync::OnceLock;
use std::time::Duration;

use crate::config::paths::rci_conf_path;
use crate::config::ConfigCache;
use crate::ffi::slurm;
use crate::job::{JobRequest, Origin, Verdict};
use crate::policy::decide;

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
        .map_err(|e| format!("cannot start with this rci.conf: {}", e.one_line()))?
        .with_info_log(slurm::info);
    let msg = format!("loaded (config {})", cache.path().display());
    // A concurrent init cannot happen (slurmctld loads plugins once, single-threaded).
    let _ = CONFIG.set(cache);
    Ok(msg)
}

fn judge(req: &JobRequest) -> Verdict {
    match CONFIG.get() {
        // job_modify holds the job and node write locks (the scheduler waits): no file I/O
        // there; edits are picked up by the next submission.
        Some(cache) if req.origin == Origin::Modify => decide(&cache.last_loaded(), req),
        Some(cache) => decide(&cache.current(), req),
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
