//! The reload cache of slurmctld: the last good config, replaced when rci.conf (or the slurm.conf beside it) changes.

use super::*;
use crate::job::log_safe;

/// How many problems of a broken rci.conf a daemon's log line names (the count says the rest).
pub const LOGGED_ISSUES: usize = 20;
/// How many characters of one problem a daemon's log line carries.
const LOGGED_ISSUE_CHARS: usize = 300;

impl ConfigError {
    /// One bounded line for a daemon's log: the number of problems and the first
    /// [`LOGGED_ISSUES`] of them, each cut to a few hundred characters and escaped, so a file
    /// with a million errors (or with control characters) logs one short, honest line.
    /// `rci check-config` shows them all.
    pub fn log_summary(&self) -> String {
        let shown: Vec<String> = self
            .issues
            .iter()
            .take(LOGGED_ISSUES)
            .map(|i| log_safe(&i.to_string(), LOGGED_ISSUE_CHARS))
            .collect();
        let total = self.issues.len();
        match total {
            0 => "invalid configuration".to_owned(),
            1 => shown.join(""),
            n if n <= LOGGED_ISSUES => format!("{n} problems: {}", shown.join("; ")),
            n => format!(
                "{n} problems, the first {LOGGED_ISSUES}: {}; ... ({} more; see rci check-config)",
                shown.join("; "),
                n - LOGGED_ISSUES
            ),
        }
    }
}

/// Identity of a file version: a change of any field means "read it again".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        })
    }
}

/// rci.conf's stamp (`None`: unreadable) and, when the default partition came from it,
/// slurm.conf's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    rci: Option<FileStamp>,
    slurm_conf: Option<(PathBuf, Option<FileStamp>)>,
}

struct Loaded {
    config: Arc<Config>,
    fingerprint: Fingerprint,
}

/// The configuration as slurmctld sees it: loaded at init, re-read when the file changes.
///
/// [`ConfigCache::current`] is cheap and `Sync` (an atomic timestamp and an arc-swap; no lock a
/// panic could poison). At most once per interval one caller stats the file(s) and re-parses on a
/// change of (device, inode, size, mtime). A broken edit keeps the last good configuration and
/// is reported once per broken version through the error logger.
pub struct ConfigCache {
    path: PathBuf,
    loaded: ArcSwap<Loaded>,
    reported_bad: ArcSwapOption<Fingerprint>,
    started: Instant,
    /// Milliseconds since `started` of the last check (0 = at start).
    last_check_ms: AtomicU64,
    interval_ms: u64,
    log_error: fn(&str),
    log_info: Option<fn(&str)>,
}

impl ConfigCache {
    /// Loads `path` now; an error here should fail the plugin's init.
    pub fn new(
        path: impl Into<PathBuf>,
        interval: Duration,
        log_error: fn(&str),
    ) -> Result<ConfigCache, ConfigError> {
        let path = path.into();
        let fingerprint = fingerprint_before_load(&path, None);
        let config = Config::load(&path)?;
        let fingerprint = with_slurm_conf(fingerprint, &config);
        Ok(ConfigCache {
            path,
            loaded: ArcSwap::from_pointee(Loaded {
                config: Arc::new(config),
                fingerprint,
            }),
            reported_bad: ArcSwapOption::empty(),
            started: Instant::now(),
            last_check_ms: AtomicU64::new(0),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            log_error,
            log_info: None,
        })
    }

    /// Also report successful reloads (to slurmctld's info log).
    pub fn with_info_log(mut self, log_info: fn(&str)) -> ConfigCache {
        self.log_info = Some(log_info);
        self
    }

    /// The file this cache watches.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration to use now; checks the file at most once per interval.
    pub fn current(&self) -> Arc<Config> {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_check_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= self.interval_ms
            && self
                .last_check_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.check_now();
        }
        Arc::clone(&self.loaded.load().config)
    }

    /// The configuration loaded last, without looking at the file (for callers that hold
    /// write locks, such as job_modify, where even a stat on a slow filesystem must not wait).
    pub fn last_loaded(&self) -> Arc<Config> {
        Arc::clone(&self.loaded.load().config)
    }

    /// Stats the file(s) and reloads on a change, regardless of the interval.
    pub fn check_now(&self) {
        let loaded = self.loaded.load_full();
        let slurm_conf_path = loaded
            .fingerprint
            .slurm_conf
            .as_ref()
            .map(|(p, _)| p.clone());
        let fingerprint = fingerprint_before_load(&self.path, slurm_conf_path.as_deref());
        if fingerprint == loaded.fingerprint {
            return;
        }
        if self.reported_bad.load().as_deref() == Some(&fingerprint) {
            return;
        }
        match Config::load(&self.path) {
            Ok(config) => {
                let fingerprint = with_slurm_conf(fingerprint, &config);
                self.loaded.store(Arc::new(Loaded {
                    config: Arc::new(config),
                    fingerprint,
                }));
                self.reported_bad.store(None);
                if let Some(log_info) = self.log_info {
                    log_info(&format!(
                        "rci: reloaded {}",
                        log_safe(&self.path.display().to_string(), 500)
                    ));
                }
            }
            Err(e) => {
                self.reported_bad.store(Some(Arc::new(fingerprint)));
                (self.log_error)(&format!(
                    "rci: {}; keeping the previous configuration",
                    e.log_summary()
                ));
            }
        }
    }
}

fn fingerprint_before_load(path: &Path, slurm_conf: Option<&Path>) -> Fingerprint {
    Fingerprint {
        rci: FileStamp::of(path),
        slurm_conf: slurm_conf.map(|p| (p.to_owned(), FileStamp::of(p))),
    }
}

/// Adds slurm.conf's stamp when the loaded config took its default partition from there. (Its
/// stamp is taken after the load: a slurm.conf edit racing the load is picked up next time.)
fn with_slurm_conf(mut fingerprint: Fingerprint, config: &Config) -> Fingerprint {
    if let DefaultPartitionSource::SlurmConf(p) = &config.routing.default_partition_source {
        fingerprint.slurm_conf = Some((p.clone(), FileStamp::of(p)));
    }
    fingerprint
}
