//! rci.conf: the policy configuration, its parser, and a reload cache for slurmctld.
//!
//! The format follows Slurm's own files (slurm.conf, cgroup.conf): lines of blank-separated
//! `Key=Value` pairs, keys case-insensitive, values case-sensitive, `#` starts a comment (outside
//! double quotes), a value with blanks is written in double quotes, and a line ending in `\`
//! continues on the next one. Unknown keys are errors, with a suggestion when the key looks like
//! a misspelt one. An empty file is valid and changes nothing.
//!
//! Lines that start with `Kind=` or `KindRule=` describe one kind or one detection rule, the
//! other pairs of such a line being its attributes (like `PartitionName=` lines in slurm.conf).
//! Every other pair is a global setting; several may share a line.
//!
//! ```text
//! GpuPartitions=gpu,gpu-long  CpuPartition=cpu  CpuJobsOnGpuPartitions=reroute
//! ExemptAccounts=gpu-admins
//! Kind=server DefaultTime=1-00:00:00 MaxTime=7-00:00:00 Action=cap AllowUsers=alice AllowMaxTime=30-00:00:00
//! KindRule=server Comment=*rci:server*
//! KindRule=vm Script="virt-launcher *"
//! ```
//!
//! Other modules add their own keys through the extension point in `Config::set_extension_key`
//! (marked `EXTENSION POINT` in this file).

pub mod container;
pub mod energy;
mod error;
mod lexer;
mod parser;
pub mod paths;
mod reload;
pub mod slurm_conf;

pub use error::{ConfigError, ConfigIssue};
use parser::Parser;
pub use reload::ConfigCache;
pub use slurm_conf::{default_partition_from_slurm_conf, slurm_conf_beside};

use crate::job::TimeLimit;
use crate::kinds::{Glob, JobKind, KindRule, RuleOrigin, ScriptPattern, ScriptScan, BUILTIN_RULES};
use crate::slurm_time::{format_minutes, parse_time};
use arc_swap::{ArcSwap, ArcSwapOption};
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Where rci.conf lives unless told otherwise.
pub const DEFAULT_PATH: &str = "/etc/slurm/rci.conf";

// ---------------------------------------------------------------------------------------------
// The configuration
// ---------------------------------------------------------------------------------------------

/// A time cap. Ordered from strict to loose: `Minutes(1) < Minutes(2) < Unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum MaxTime {
    /// At most this many minutes.
    Minutes(u32),
    /// No cap.
    #[default]
    Unlimited,
}

impl MaxTime {
    /// The cap in minutes, `None` when unlimited.
    pub fn minutes(self) -> Option<u32> {
        match self {
            MaxTime::Minutes(m) => Some(m),
            MaxTime::Unlimited => None,
        }
    }

    /// True when `limit` is above this cap (an infinite limit is above every finite cap).
    pub fn is_exceeded_by(self, limit: TimeLimit) -> bool {
        match (self, limit) {
            (MaxTime::Unlimited, _) | (_, TimeLimit::Unset) => false,
            (MaxTime::Minutes(_), TimeLimit::Infinite) => true,
            (MaxTime::Minutes(cap), TimeLimit::Minutes(m)) => m > cap,
        }
    }
}

impl fmt::Display for MaxTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxTime::Minutes(m) => f.write_str(&format_minutes(*m)),
            MaxTime::Unlimited => f.write_str("UNLIMITED"),
        }
    }
}

/// What to do with a CPU-only job aimed at a GPU partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuJobAction {
    /// Move it to `CpuPartition` (or drop the GPU partitions from its list).
    #[default]
    Reroute,
    /// Refuse it with a message.
    Reject,
    /// Let it run there (up to `AllowMaxCpus` CPUs when set; above that: reject).
    Allow,
}

/// What to do with a time limit above a kind's MaxTime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeAction {
    /// Lower it to MaxTime and tell the user.
    #[default]
    Cap,
    /// Refuse the job.
    Reject,
}

/// Where the default partition came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DefaultPartitionSource {
    /// `DefaultPartition=` in rci.conf.
    Config,
    /// The `Default=YES` partition of this slurm.conf.
    SlurmConf(PathBuf),
    /// Not known: a job without a partition is left alone by routing.
    #[default]
    Unknown,
}

/// Routing of CPU-only jobs away from GPU partitions. Inactive while `gpu_partitions` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingConfig {
    /// `GpuPartitions=`: partitions whose nodes have GPUs.
    pub gpu_partitions: Vec<String>,
    /// `CpuPartition=`: where rerouted jobs go (default `cpu`).
    pub cpu_partition: String,
    /// `CpuJobsOnGpuPartitions=`.
    pub action: CpuJobAction,
    /// `AllowMaxCpus=` (with `allow` only).
    pub allow_max_cpus: Option<u32>,
    /// `ExemptUsers=`: user names never routed.
    pub exempt_users: Vec<String>,
    /// `ExemptAccounts=`.
    pub exempt_accounts: Vec<String>,
    /// `ExemptQos=`.
    pub exempt_qos: Vec<String>,
    /// The partition of jobs that name none, when known.
    pub default_partition: Option<String>,
    /// Where `default_partition` came from.
    pub default_partition_source: DefaultPartitionSource,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            gpu_partitions: Vec::new(),
            cpu_partition: "cpu".to_owned(),
            action: CpuJobAction::Reroute,
            allow_max_cpus: None,
            exempt_users: Vec::new(),
            exempt_accounts: Vec::new(),
            exempt_qos: Vec::new(),
            default_partition: None,
            default_partition_source: DefaultPartitionSource::Unknown,
        }
    }
}

impl RoutingConfig {
    /// True when routing has anything to do.
    pub fn enabled(&self) -> bool {
        !self.gpu_partitions.is_empty()
    }

    /// True when `partition` is one of the GPU partitions.
    pub fn is_gpu_partition(&self, partition: &str) -> bool {
        self.gpu_partitions.iter().any(|p| p == partition)
    }
}

/// The time policy and placement of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KindPolicy {
    /// Set when the job gives no time limit (minutes).
    pub default_time: Option<u32>,
    /// Cap on the time limit.
    pub max_time: MaxTime,
    /// What happens above the cap.
    pub action: TimeAction,
    /// Partition every job of this kind is moved to.
    pub partition: Option<String>,
    /// QOS every job of this kind gets.
    pub qos: Option<String>,
    /// Users who get `allow_max_time`.
    pub allow_users: Vec<String>,
    /// Accounts whose jobs get `allow_max_time`.
    pub allow_accounts: Vec<String>,
    /// Cap for allowlisted users and accounts; `None`: they get `max_time` like everyone.
    pub allow_max_time: Option<MaxTime>,
    /// Appended to cap/reject messages (`ask the admins for an approved hosting slot`).
    pub hint: Option<String>,
    /// Line of the `Kind=` entry, if any.
    pub line: Option<usize>,
}

impl KindPolicy {
    /// True when the policy can change or refuse a job.
    pub fn has_effect(&self) -> bool {
        self.default_time.is_some()
            || self.max_time != MaxTime::Unlimited
            || self.partition.is_some()
            || self.qos.is_some()
    }
}

const HOSTING_HINT: &str = "ask the admins for an approved hosting slot";

/// Per-kind policies and detection rules.
#[derive(Debug, Clone)]
pub struct KindsConfig {
    /// Indexed by [`JobKind::index`].
    pub policies: [KindPolicy; 5],
    /// rci.conf's rules in file order, then the built-in ones (unless switched off). Change
    /// them with [`KindsConfig::set_rules`], which keeps `scan` in step.
    pub(crate) rules: Vec<KindRule>,
    /// The `Script=` conditions of `rules`, grouped for scanning.
    pub(crate) scan: ScriptScan,
    /// `DefaultKindRules=`: whether the built-in rules follow rci.conf's.
    pub default_rules: bool,
}

impl Default for KindsConfig {
    fn default() -> Self {
        let mut policies: [KindPolicy; 5] = Default::default();
        for kind in [JobKind::Server, JobKind::Vm] {
            if let Some(p) = policies.get_mut(kind.index()) {
                p.hint = Some(HOSTING_HINT.to_owned());
            }
        }
        KindsConfig {
            policies,
            rules: Vec::new(),
            scan: ScriptScan::default(),
            default_rules: true,
        }
    }
}

impl KindsConfig {
    /// The detection rules, in the order they are tried.
    pub fn rules(&self) -> &[KindRule] {
        &self.rules
    }

    /// Replaces the detection rules (and regroups their script patterns).
    pub fn set_rules(&mut self, rules: Vec<KindRule>) {
        self.scan = ScriptScan::build(&rules);
        self.rules = rules;
    }

    /// Sets the built-in rules alone. Their scan is built once per process: building the
    /// automata costs about 0.2 ms, which every config load and reload would otherwise pay.
    pub fn set_builtin_rules(&mut self) {
        let (rules, scan) = builtin();
        self.rules = rules.clone();
        self.scan = scan.clone();
    }

    /// The grouped script scan of the rules.
    pub fn scan(&self) -> &ScriptScan {
        &self.scan
    }

    /// The policy of `kind`.
    pub fn policy(&self, kind: JobKind) -> &KindPolicy {
        // The array has one entry per kind; the fallback is never taken.
        self.policies.get(kind.index()).unwrap_or(&FALLBACK_POLICY)
    }

    fn policy_mut(&mut self, kind: JobKind) -> Option<&mut KindPolicy> {
        self.policies.get_mut(kind.index())
    }

    /// True when some kind can change or refuse a job (otherwise classification can be skipped).
    pub fn any_effect(&self) -> bool {
        self.policies.iter().any(KindPolicy::has_effect)
    }

    /// The smallest MaxTime of all kinds (the default `UpdateMaxTime`).
    pub fn smallest_max_time(&self) -> MaxTime {
        self.policies
            .iter()
            .map(|p| p.max_time)
            .min()
            .unwrap_or(MaxTime::Unlimited)
    }
}

static FALLBACK_POLICY: KindPolicy = KindPolicy {
    default_time: None,
    max_time: MaxTime::Unlimited,
    action: TimeAction::Cap,
    partition: None,
    qos: None,
    allow_users: Vec::new(),
    allow_accounts: Vec::new(),
    allow_max_time: None,
    hint: None,
    line: None,
};

/// The whole of rci.conf.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from (for messages); `(built-in defaults)` for [`Config::default`].
    pub source: String,
    /// Routing of CPU-only jobs away from GPU partitions.
    pub routing: RoutingConfig,
    /// Job kinds: time policies and detection rules.
    pub kinds: KindsConfig,
    /// Users (names or uids) who may do anything in job_modify, besides root and SlurmUser.
    pub admin_users: Vec<String>,
    /// Cap on time limits set with `scontrol update` by non-operators; `None`: the smallest
    /// MaxTime of all kinds.
    pub update_max_time: Option<MaxTime>,
    /// Container GPU environment (spank_rci in slurmstepd).
    pub container: container::ContainerConfig,
    /// Energy and GPU accounting (spank_rci in the extern step).
    pub energy: energy::EnergyConfig,
}

impl Default for Config {
    fn default() -> Self {
        let mut cfg = Config {
            source: "(built-in defaults)".to_owned(),
            routing: RoutingConfig::default(),
            kinds: KindsConfig::default(),
            admin_users: Vec::new(),
            update_max_time: None,
            container: Default::default(),
            energy: Default::default(),
        };
        cfg.kinds.set_builtin_rules();
        cfg
    }
}

impl Config {
    /// Hands a global key that rci's own sections do not know to the other modules' sections.
    /// `None`: nobody knows the key.
    fn set_extension_key(
        &mut self,
        key_lowercase: &str,
        value: &str,
    ) -> Option<Result<(), String>> {
        if let r @ Some(_) = self.container.set_key(key_lowercase, value) {
            return r;
        }
        self.energy.set_key(key_lowercase, value)
    }

    /// The cap `job_modify` applies to time-limit updates by non-operators.
    pub fn effective_update_max_time(&self) -> MaxTime {
        self.update_max_time
            .unwrap_or_else(|| self.kinds.smallest_max_time())
    }

    /// True when `name` or `uid` is listed in `AdminUsers`.
    pub fn is_admin(&self, name: Option<&str>, uid: u32) -> bool {
        self.admin_users
            .iter()
            .any(|a| name.is_some_and(|n| n == a) || a.parse::<u32>().is_ok_and(|u| u == uid))
    }

    /// Parses rci.conf text; `path` only names the file in messages. Does not read slurm.conf.
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        Parser::new(path).run(text)
    }

    /// Reads and parses `path`; when `DefaultPartition` is not set, reads the `Default=YES`
    /// partition from `slurm.conf` in the same directory (tolerantly: if that fails, the
    /// default partition stays unknown).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = read_bounded_regular_bytes(path, MAX_CONFIG_BYTES).map_err(|e| {
            ConfigError::single(
                &path.display().to_string(),
                None,
                format!("cannot read: {e}"),
            )
        })?;
        // Partitions named in rci.conf are checked against the slurm.conf beside it, if readable.
        let slurm_conf = slurm_conf_beside(path);
        let slurm_text = read_bounded_regular_file(&slurm_conf, MAX_SLURM_CONF_BYTES).ok();
        let beside = slurm_text.as_deref().map(|t| (slurm_conf.as_path(), t));
        let mut cfg = Config::parse_bytes(&bytes, &path.display().to_string(), beside)?;
        // rci.conf sits next to slurm.conf, and so does gres.conf unless GresConf= says otherwise.
        cfg.container.slurm_conf_dir = path.parent().map(Path::to_path_buf);
        if cfg.routing.default_partition.is_none() {
            if let Some(slurm_text) = &slurm_text {
                if let Some(p) = default_partition_from_slurm_conf(slurm_text) {
                    cfg.routing.default_partition = Some(p);
                    cfg.routing.default_partition_source =
                        DefaultPartitionSource::SlurmConf(slurm_conf);
                }
            }
        }
        Ok(cfg)
    }
}

/// The largest rci.conf read (a real one is a few KiB): anything bigger is a mistake or an attack,
/// and parsing it would hold slurmctld's locks.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;
/// The largest slurm.conf read for its default partition.
pub const MAX_SLURM_CONF_BYTES: u64 = 16 << 20;

/// Reads `path` only if it is a regular file of at most `limit` bytes, as UTF-8 text.
///
/// The file is opened with `O_NONBLOCK` so that a FIFO (or a device) put in its place never
/// blocks the caller (slurmctld holds its locks while the plugin reads); the opened descriptor is
/// then checked with `fstat`, so a file swapped after a `stat` cannot slip through. At most
/// `limit + 1` bytes are read: a file that grows while being read is refused, not read forever.
pub fn read_bounded_regular_file(path: &Path, limit: u64) -> Result<String, String> {
    String::from_utf8(read_bounded_regular_bytes(path, limit)?).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        format!("line {line}: not valid UTF-8")
    })
}

/// [`read_bounded_regular_file`] without the UTF-8 check: rci.conf's parser names the line and
/// byte of bad UTF-8 itself.
pub fn read_bounded_regular_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err(format!(
            "not a regular file ({}); only a regular file is read",
            file_type_name(&meta.file_type())
        ));
    }
    if meta.len() > limit {
        return Err(format!(
            "{} bytes, more than the {limit} bytes allowed",
            meta.len()
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "grew past the {limit} bytes allowed while being read"
        ));
    }
    Ok(bytes)
}

fn file_type_name(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a plain file"
    }
}

/// The built-in detection rules, compiled, and their scan alone: built once per process.
fn builtin() -> &'static (Vec<KindRule>, ScriptScan) {
    static BUILTIN: OnceLock<(Vec<KindRule>, ScriptScan)> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        let rules = compile_builtin_rules();
        let scan = ScriptScan::build(&rules);
        (rules, scan)
    })
}

/// The built-in detection rules, compiled.
pub(crate) fn builtin_rules() -> &'static [KindRule] {
    &builtin().0
}

fn compile_builtin_rules() -> Vec<KindRule> {
    BUILTIN_RULES
        .iter()
        .filter_map(|&(kind, key, pattern)| {
            let mut rule = KindRule {
                kind,
                name: None,
                comment: None,
                partition: None,
                script: None,
                origin: RuleOrigin::Builtin,
                text: format!(
                    "KindRule={} {key}={}",
                    kind.name(),
                    quote_if_needed(pattern)
                ),
            };
            match key {
                "Name" => rule.name = Some(Glob::new(pattern)),
                _ => rule.script = Some(ScriptPattern::new(pattern).ok()?),
            }
            Some(rule)
        })
        .collect()
}

fn quote_if_needed(value: &str) -> String {
    if value.contains(char::is_whitespace) {
        format!("\"{value}\"")
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::parser::{edit_distance, extension_keys};
    use super::*;
    use std::sync::Mutex;

    fn parse(text: &str) -> Config {
        match Config::parse(text, "/etc/slurm/rci.conf") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn errors(text: &str) -> String {
        match Config::parse(text, "/etc/slurm/rci.conf") {
            Ok(_) => panic!("expected an error for {text:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn empty_file_is_valid_and_inert() {
        let cfg = parse("");
        assert!(!cfg.routing.enabled());
        assert_eq!(cfg.routing.cpu_partition, "cpu");
        assert_eq!(cfg.routing.action, CpuJobAction::Reroute);
        assert!(!cfg.kinds.any_effect());
        assert!(cfg.kinds.default_rules);
        assert_eq!(cfg.kinds.rules.len(), BUILTIN_RULES.len());
        assert_eq!(cfg.effective_update_max_time(), MaxTime::Unlimited);
        let blank = parse("\n   \n# only a comment\n\t# another\n");
        assert!(!blank.routing.enabled());
    }

    #[test]
    fn full_example() {
        let cfg = parse(
            r#"
# routing
GpuPartitions=gpu,gpu-long CpuPartition=cpu-std
cpujobsongpupartitions=Reject   # keys are case-insensitive
ExemptUsers=alice,bob ExemptAccounts=ml ExemptQos=debug
AdminUsers=slurmadm,1234
DefaultPartition=gpu
Kind=server DefaultTime=1-00:00:00 MaxTime=7-00:00:00 Action=cap \
     Partition=hosting Qos=hosting AllowUsers=carol AllowAccounts=web AllowMaxTime=30-00:00:00
Kind=interactive MaxTime=8:00:00 Action=reject Hint="use sbatch for long work"
KindRule=server Comment=*rci:server*
KindRule=vm Script="virt-launcher *" Partition=special
DefaultKindRules=no
UpdateMaxTime=2-00:00:00
"#,
        );
        let r = &cfg.routing;
        assert_eq!(r.gpu_partitions, ["gpu", "gpu-long"]);
        assert_eq!(r.cpu_partition, "cpu-std");
        assert_eq!(r.action, CpuJobAction::Reject);
        assert_eq!(r.exempt_users, ["alice", "bob"]);
        assert_eq!(r.exempt_accounts, ["ml"]);
        assert_eq!(r.exempt_qos, ["debug"]);
        assert_eq!(r.default_partition.as_deref(), Some("gpu"));
        assert_eq!(r.default_partition_source, DefaultPartitionSource::Config);
        assert!(cfg.is_admin(Some("slurmadm"), 99));
        assert!(cfg.is_admin(None, 1234));
        assert!(!cfg.is_admin(Some("eve"), 1000));
        let server = cfg.kinds.policy(JobKind::Server);
        assert_eq!(server.default_time, Some(1440));
        assert_eq!(server.max_time, MaxTime::Minutes(7 * 1440));
        assert_eq!(server.partition.as_deref(), Some("hosting"));
        assert_eq!(server.qos.as_deref(), Some("hosting"));
        assert_eq!(server.allow_users, ["carol"]);
        assert_eq!(server.allow_accounts, ["web"]);
        assert_eq!(server.allow_max_time, Some(MaxTime::Minutes(30 * 1440)));
        assert_eq!(server.hint.as_deref(), Some(HOSTING_HINT));
        assert_eq!(server.line, Some(8));
        let inter = cfg.kinds.policy(JobKind::Interactive);
        assert_eq!(inter.action, TimeAction::Reject);
        assert_eq!(inter.hint.as_deref(), Some("use sbatch for long work"));
        assert_eq!(cfg.kinds.rules.len(), 2, "built-ins switched off");
        let vm_rule = &cfg.kinds.rules[1];
        assert_eq!(vm_rule.kind, JobKind::Vm);
        assert_eq!(vm_rule.origin, RuleOrigin::Config { line: 12 });
        assert_eq!(
            vm_rule.text,
            "KindRule=vm Script=\"virt-launcher *\" Partition=special"
        );
        assert_eq!(cfg.update_max_time, Some(MaxTime::Minutes(2880)));
        assert_eq!(cfg.effective_update_max_time(), MaxTime::Minutes(2880));
    }

    #[test]
    fn unknown_key_with_suggestion_and_location() {
        let e = errors("\n\nGpuPartiton=gpu\n");
        assert_eq!(
            e,
            "/etc/slurm/rci.conf:3: unknown key 'GpuPartiton' (did you mean GpuPartitions?)"
        );
        let e = errors("Kind=server MaxTme=1\n");
        assert!(
            e.contains(":1: unknown key 'MaxTme' (did you mean MaxTime?)"),
            "{e}"
        );
        let e = errors("Frobnicate=1\n");
        assert_eq!(e, "/etc/slurm/rci.conf:1: unknown key 'Frobnicate'");
    }

    #[test]
    fn extension_keys_are_known_to_their_sections_and_suggested() {
        let mut cfg = Config::default();
        for key in extension_keys() {
            assert!(
                cfg.set_extension_key(&key.to_ascii_lowercase(), "x")
                    .is_some(),
                "{key} is listed but no section takes it"
            );
        }
        let e = errors("AccountingSpol=/x\n");
        assert!(e.contains("did you mean AccountingSpool?"), "{e}");
    }

    #[test]
    fn all_errors_are_reported() {
        let e = errors("Bogus=1\nCpuJobsOnGpuPartitions=maybe\nKind=robot\nKindRule=vm\n");
        let lines: Vec<_> = e.lines().collect();
        assert_eq!(lines.len(), 4, "{e}");
        assert!(lines[1].starts_with("/etc/slurm/rci.conf:2: CpuJobsOnGpuPartitions must be"));
        assert!(lines[2].contains(":3: unknown kind 'robot'; valid kinds: batch, interactive"));
        assert!(lines[3].contains(":4: KindRule needs at least one of"));
    }

    #[test]
    fn value_errors() {
        assert!(errors("Kind=vm MaxTime=7days").contains(":1: MaxTime: invalid time '7days'"));
        assert!(errors("Kind=vm MaxTime=0").contains("MaxTime must be above 0"));
        assert!(errors("Kind=vm DefaultTime=UNLIMITED").contains("DefaultTime cannot be UNLIMITED"));
        assert!(errors("Kind=vm Action=kill").contains("Action must be cap or reject"));
        assert!(errors("AllowMaxCpus=lots").contains("AllowMaxCpus must be a number"));
        assert!(errors("DefaultKindRules=perhaps").contains("must be yes or no"));
        assert!(errors("CpuPartition=a,b").contains("exactly one partition"));
        assert!(
            errors("GpuPartitions=gpu GpuPartitions=gpu2").contains("set twice (first at line 1)")
        );
        assert!(
            errors("Kind=vm MaxTime=1\nKind=vm MaxTime=2").contains(":2: Kind=vm configured twice")
        );
        assert!(errors("Kind=vm MaxTime=1 MaxTime=2").contains("MaxTime given twice"));
        assert!(errors("GpuPartitions=gpu Kind=vm").contains("Kind= must start its line"));
        assert!(errors("KindRule=vm Script=*").contains("needs at least one character"));
        assert!(errors("KindRule=vm Script=a;b").contains("separates words"));
        assert!(errors("KindRule=vm Bogus=x").contains("unknown key 'Bogus'"));
    }

    #[test]
    fn cross_checks() {
        assert!(errors("GpuPartitions=gpu,cpu").contains("CpuPartition cpu is also listed"));
        assert!(errors("AllowMaxCpus=4").contains("only applies with CpuJobsOnGpuPartitions=allow"));
        let e = errors("Kind=server DefaultTime=2-0 MaxTime=1-0");
        assert!(
            e.contains(":1: Kind=server: DefaultTime 2-00:00:00 is above MaxTime 1-00:00:00"),
            "{e}"
        );
        assert!(
            errors("Kind=server MaxTime=2-0 AllowMaxTime=1-0 AllowUsers=a")
                .contains("is below MaxTime")
        );
        assert!(errors("Kind=server MaxTime=2-0 AllowMaxTime=3-0").contains("needs AllowUsers"));
        let ok = parse("CpuJobsOnGpuPartitions=allow AllowMaxCpus=4 GpuPartitions=gpu");
        assert_eq!(ok.routing.allow_max_cpus, Some(4));
    }

    #[test]
    fn lexing_details() {
        assert!(errors("GpuPartitions").contains("expected Key=Value, found 'GpuPartitions'"));
        assert!(errors("=gpu").contains("without a key"));
        assert!(errors("KindRule=vm Script=\"qemu").contains("unterminated quote"));
        assert!(errors("KindRule=vm Script=\"qemu\"x").contains("unexpected text"));
        let cfg = parse("KindRule=vm Name=\"a#b\" # trailing\nExemptUsers=   \n");
        assert!(cfg.kinds.rules[0].name.as_ref().unwrap().matches("a#b"));
        assert!(cfg.routing.exempt_users.is_empty());
        // continuation joins lines and numbers errors by the first line
        let e = errors("GpuPartitions=gpu \\\n   Bogus=1\n");
        assert!(
            e.starts_with("/etc/slurm/rci.conf:1: unknown key 'Bogus'"),
            "{e}"
        );
        // a trailing continuation at EOF is named with its line
        let e = errors("GpuPartitions=gpu\nCpuPartition=cpu \\");
        assert!(
            e.starts_with("/etc/slurm/rci.conf:2: the last line ends with '\\'"),
            "{e}"
        );
        // CRLF
        let cfg = parse("GpuPartitions=gpu\r\nCpuPartition=c\r\n");
        assert_eq!(cfg.routing.cpu_partition, "c");
    }

    #[test]
    fn builtin_rules_compile_and_can_be_disabled() {
        let cfg = parse("DefaultKindRules=yes\nKindRule=batch Name=x");
        assert_eq!(cfg.kinds.rules.len(), 1 + BUILTIN_RULES.len());
        assert_eq!(
            cfg.kinds.rules[0].kind,
            JobKind::Batch,
            "config rules come first"
        );
        assert!(cfg.kinds.rules[1..]
            .iter()
            .all(|r| r.origin == RuleOrigin::Builtin));
        assert_eq!(parse("DefaultKindRules=no").kinds.rules.len(), 0);
        assert!(cfg
            .kinds
            .rules
            .iter()
            .any(|r| r.text == "KindRule=server Script=\"streamlit run\""));
    }

    #[test]
    fn update_max_time_defaults_to_smallest_cap() {
        let cfg = parse("Kind=server MaxTime=7-0\nKind=interactive MaxTime=8:00:00");
        assert_eq!(cfg.effective_update_max_time(), MaxTime::Minutes(480));
        let cfg = parse("Kind=server MaxTime=7-0\nUpdateMaxTime=UNLIMITED");
        assert_eq!(cfg.effective_update_max_time(), MaxTime::Unlimited);
    }

    #[test]
    fn max_time_order_and_exceeding() {
        assert!(MaxTime::Minutes(5) < MaxTime::Minutes(6));
        assert!(MaxTime::Minutes(u32::MAX) < MaxTime::Unlimited);
        assert!(MaxTime::Minutes(5).is_exceeded_by(TimeLimit::Infinite));
        assert!(MaxTime::Minutes(5).is_exceeded_by(TimeLimit::Minutes(6)));
        assert!(!MaxTime::Minutes(5).is_exceeded_by(TimeLimit::Minutes(5)));
        assert!(!MaxTime::Minutes(5).is_exceeded_by(TimeLimit::Unset));
        assert!(!MaxTime::Unlimited.is_exceeded_by(TimeLimit::Infinite));
        assert_eq!(MaxTime::Minutes(1440).to_string(), "1-00:00:00");
    }

    #[test]
    fn slurm_conf_default_partition() {
        let text = "# cluster\nPartitionName=DEFAULT Default=YES MaxTime=1\n\
                    PartitionName=cpu Nodes=c[1-4] Default=NO\n\
                    partitionname=gpu Nodes=g1 \\\n   default=yes State=UP\n\
                    NodeName=x garbage without equals\n";
        assert_eq!(
            default_partition_from_slurm_conf(text).as_deref(),
            Some("gpu")
        );
        assert_eq!(default_partition_from_slurm_conf("PartitionName=a\n"), None);
        assert_eq!(default_partition_from_slurm_conf(""), None);
    }

    #[test]
    fn load_reads_default_partition_beside_rci_conf() {
        let dir = tempfile::tempdir().unwrap();
        let rci = dir.path().join("rci.conf");
        std::fs::write(&rci, "GpuPartitions=gpu\n").unwrap();
        let cfg = Config::load(&rci).unwrap();
        assert_eq!(
            cfg.routing.default_partition, None,
            "no slurm.conf: unknown"
        );
        assert_eq!(
            cfg.routing.default_partition_source,
            DefaultPartitionSource::Unknown
        );
        std::fs::write(
            dir.path().join("slurm.conf"),
            "PartitionName=gpu Default=YES\nPartitionName=cpu\n",
        )
        .unwrap();
        let cfg = Config::load(&rci).unwrap();
        assert_eq!(cfg.routing.default_partition.as_deref(), Some("gpu"));
        assert_eq!(
            cfg.routing.default_partition_source,
            DefaultPartitionSource::SlurmConf(dir.path().join("slurm.conf"))
        );
        std::fs::write(&rci, "GpuPartitions=gpu\nDefaultPartition=cpu\n").unwrap();
        let cfg = Config::load(&rci).unwrap();
        assert_eq!(cfg.routing.default_partition.as_deref(), Some("cpu"));
        let missing = Config::load(&dir.path().join("nope.conf"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope.conf: cannot read"), "{missing}");
    }

    #[test]
    fn only_bounded_regular_files_are_read_and_never_block() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("rci.conf");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = Instant::now();
        let e = Config::load(&fifo).unwrap_err().to_string();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "blocked on a FIFO"
        );
        assert!(e.contains("not a regular file (a FIFO)"), "{e}");
        let e = Config::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("(a directory)"), "{e}");
        let e = Config::load(Path::new("/dev/null"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a character device"), "{e}");
        let big = dir.path().join("big.conf");
        std::fs::write(&big, "#".repeat((MAX_CONFIG_BYTES + 1) as usize)).unwrap();
        let e = Config::load(&big).unwrap_err().to_string();
        assert!(e.contains("more than the 4194304 bytes allowed"), "{e}");
        std::fs::write(&big, "# ok\n".repeat(1000)).unwrap();
        assert!(Config::load(&big).is_ok());
        let link = dir.path().join("link.conf");
        std::os::unix::fs::symlink(&big, &link).unwrap();
        assert!(
            Config::load(&link).is_ok(),
            "a symlink to a regular file is fine"
        );
    }

    #[test]
    fn a_million_errors_log_one_bounded_line() {
        let text = "NoSuchKey=1\n".repeat(100_000);
        let e = Config::parse(&text, "/etc/slurm/rci.conf").unwrap_err();
        assert_eq!(e.issues.len(), 100_000);
        let line = e.log_summary();
        assert!(line.len() < 20 * 400, "{} bytes", line.len());
        assert!(
            line.starts_with("100000 problems, the first 20: "),
            "{line}"
        );
        assert!(
            line.ends_with("(99980 more; see rci check-config)"),
            "{line}"
        );
        let one = Config::parse("NoSuchKey=1", "x").unwrap_err().log_summary();
        assert!(!one.contains("problems"), "{one}");
        let odd = ConfigError::single("x", Some(1), "bad \n forged".into()).log_summary();
        assert!(!odd.contains('\n'), "{odd}");
    }

    static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    fn log(msg: &str) {
        LOG.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(msg.to_owned());
    }
    fn logged_matching(needle: &str) -> usize {
        LOG.lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|m| m.contains(needle))
            .count()
    }

    /// Replaces the file the way editors and config management do (new inode, atomic rename).
    fn replace(path: &Path, text: &str) {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    #[test]
    fn cache_reloads_keeps_last_good_and_reports_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rci.conf");
        std::fs::write(&path, "GpuPartitions=gpu\n").unwrap();
        let cache = ConfigCache::new(&path, Duration::ZERO, log).unwrap();
        assert_eq!(cache.current().routing.gpu_partitions, ["gpu"]);

        replace(&path, "GpuPartitions=gpu,a100\n");
        assert_eq!(cache.current().routing.gpu_partitions, ["gpu", "a100"]);

        let marker = "BrokenKeyForCacheTest";
        replace(&path, &format!("GpuPartitions=gpu\n{marker}=1\n"));
        for _ in 0..3 {
            assert_eq!(
                cache.current().routing.gpu_partitions,
                ["gpu", "a100"],
                "last good"
            );
        }
        assert_eq!(logged_matching(marker), 1, "reported once per bad version");
        let line = LOG
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.contains(marker))
            .cloned()
            .unwrap();
        assert!(
            line.contains("rci.conf:2: unknown key 'BrokenKeyForCacheTest'"),
            "{line}"
        );
        assert!(
            line.ends_with("keeping the previous configuration"),
            "{line}"
        );

        // A second, different broken version is reported again.
        replace(&path, &format!("{marker}=2\n\n"));
        cache.check_now();
        assert_eq!(logged_matching(marker), 2);

        replace(&path, "GpuPartitions=fixed\n");
        assert_eq!(cache.current().routing.gpu_partitions, ["fixed"]);

        // The file disappearing keeps the last good config too.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(cache.current().routing.gpu_partitions, ["fixed"]);
        assert!(logged_matching("cannot read") >= 1);
    }

    #[test]
    fn cache_interval_skips_checks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rci.conf");
        std::fs::write(&path, "GpuPartitions=one\n").unwrap();
        let cache = ConfigCache::new(&path, Duration::from_secs(3600), log).unwrap();
        replace(&path, "GpuPartitions=two\n");
        // Within the interval nothing is re-read...
        assert_eq!(cache.current().routing.gpu_partitions, ["one"]);
        // ...until a check is forced.
        cache.check_now();
        assert_eq!(cache.current().routing.gpu_partitions, ["two"]);
    }

    #[test]
    fn cache_first_load_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rci.conf");
        std::fs::write(&path, "Kind=server MaxTime=soon\n").unwrap();
        let err = ConfigCache::new(&path, Duration::ZERO, log)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("rci.conf:1: MaxTime: invalid time 'soon'"),
            "{err}"
        );
    }

    #[test]
    fn cache_follows_slurm_conf_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rci.conf");
        let slurm = dir.path().join("slurm.conf");
        std::fs::write(&path, "GpuPartitions=gpu\n").unwrap();
        std::fs::write(&slurm, "PartitionName=gpu Default=YES\nPartitionName=cpu\n").unwrap();
        let cache = ConfigCache::new(&path, Duration::ZERO, log).unwrap();
        assert_eq!(
            cache.current().routing.default_partition.as_deref(),
            Some("gpu")
        );
        replace(&slurm, "PartitionName=gpu\nPartitionName=cpu Default=YES\n");
        assert_eq!(
            cache.current().routing.default_partition.as_deref(),
            Some("cpu")
        );
    }

    #[test]
    fn cache_is_sync_and_send() {
        fn assert_sync<T: Sync + Send>() {}
        assert_sync::<ConfigCache>();
    }

    #[test]
    fn shipped_example_is_valid() {
        let cfg = parse(include_str!("../../slurm-conf/example/rci.conf"));
        assert_eq!(cfg.routing.gpu_partitions, ["gpu", "gpu-long"]);
        assert_eq!(
            cfg.kinds.policy(JobKind::Server).max_time,
            MaxTime::Minutes(7 * 1440)
        );
        assert_eq!(cfg.kinds.rules().len(), 2 + BUILTIN_RULES.len());
    }

    #[test]
    fn edit_distance_works() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("gpupartiton", "gpupartitions"), 2);
    }
}
