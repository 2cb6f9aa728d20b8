//! Which kind a job is: the first matching rule, else batch/interactive, and a declared kind
//! only when it is stricter (see [`crate::kinds`] for the rules).

use crate::config::{Config, KindPolicy, MaxTime};
use crate::job::JobRequest;
use crate::kinds::{JobKind, ScanHits, SCAN_LIMIT};

/// How the detected kind was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectedBy {
    /// Index into `Config::kinds.rules`.
    Rule(usize),
    /// No rule matched and there is no batch script.
    NoScript,
    /// No rule matched: a batch job.
    Fallback,
    /// A later het-job component: the kind of the whole job, as given to its component 0.
    HetLeader,
    /// A later het-job component whose component 0 this plugin did not judge (cannot happen
    /// with slurmctld, which judges component 0 first and stops at a rejection): the stricter
    /// of interactive and batch, so a lone component never gets the looser one.
    HetLeaderUnknown,
}

/// The outcome of classifying one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// The kind whose policy applies.
    pub kind: JobKind,
    /// What detection found.
    pub detected: JobKind,
    /// Which rule (or fallback) gave `detected`.
    pub detected_by: DetectedBy,
    /// What the user declared with `--rci-kind`, if anything.
    pub declared: Option<JobKind>,
}

impl Classification {
    /// True when the user's declaration replaced the detected kind.
    pub fn declared_won(&self) -> bool {
        self.declared == Some(self.kind) && self.kind != self.detected
    }
}

/// The SPANK job-env variable `--rci-kind` sets.
pub const DECLARED_KIND_VAR: &str = "RCI_KIND";

/// Classifies `req`; `Err` carries the rejection message for an unknown declared kind.
///
/// A later het-job component (offset > 0) is judged as [`classify_in_het`] with an unknown
/// leader.
pub fn classify(cfg: &Config, req: &JobRequest) -> Result<Classification, String> {
    classify_in_het(cfg, req, None)
}

/// Classifies `req`, a component of a het job whose component 0 got `leader_kind`.
///
/// Every component is judged with the kind of the whole job: sbatch sends the script with
/// component 0 only, and salloc/srun send none, so a later component's own fields say little.
/// A later component takes the leader's kind unless its own rules find a stricter one; without
/// a known leader it takes the stricter of interactive and batch. `leader_kind` is ignored for
/// plain jobs and for component 0.
pub fn classify_in_het(
    cfg: &Config,
    req: &JobRequest,
    leader_kind: Option<JobKind>,
) -> Result<Classification, String> {
    let declared = match req.spank_env(DECLARED_KIND_VAR) {
        None => None,
        Some(text) => Some(JobKind::from_name(text).ok_or_else(|| {
            format!(
                "rci: unknown job kind '{text}' (--rci-kind); valid kinds: {}",
                JobKind::valid_names()
            )
        })?),
    };
    let default_partition = cfg.routing.default_partition.as_deref();
    let rules = cfg.kinds.rules();
    let mut hits: Option<ScanHits> = None;
    let matching = rules.iter().enumerate().find(|&(i, rule)| {
        if !rule.fields_match(req, default_partition) {
            return false;
        }
        let (Some(pattern), Some(script)) = (&rule.script, req.script.as_deref()) else {
            return rule.script.is_none();
        };
        if i < SCAN_LIMIT {
            hits.get_or_insert_with(|| cfg.kinds.scan().run(rules, script))
                .get(i)
        } else {
            pattern.find_in(script).is_some()
        }
    });
    let stricter = |a: JobKind, b: JobKind| {
        if effective_max(cfg.kinds.policy(b), req) < effective_max(cfg.kinds.policy(a), req) {
            b
        } else {
            a
        }
    };
    let own = matching.map(|(i, rule)| (rule.kind, DetectedBy::Rule(i)));
    let (detected, detected_by) = match (req.het_job_offset.unwrap_or(0), own) {
        (0, Some(found)) => found,
        (0, None) if req.script.is_none() => (JobKind::Interactive, DetectedBy::NoScript),
        (0, None) => (JobKind::Batch, DetectedBy::Fallback),
        // A later het component: the whole job's kind, or its own rule's when stricter.
        (_, own) => {
            let (whole, by) = match leader_kind {
                Some(k) => (k, DetectedBy::HetLeader),
                None => (
                    stricter(JobKind::Interactive, JobKind::Batch),
                    DetectedBy::HetLeaderUnknown,
                ),
            };
            match own {
                Some((k, rule)) if stricter(whole, k) == k && k != whole => (k, rule),
                _ => (whole, by),
            }
        }
    };
    let kind = match declared {
        Some(d)
            if effective_max(cfg.kinds.policy(d), req)
                < effective_max(cfg.kinds.policy(detected), req) =>
        {
            d
        }
        _ => detected,
    };
    Ok(Classification {
        kind,
        detected,
        detected_by,
        declared,
    })
}

/// The cap that applies to this request's user under `policy`, and whether the allowlist gave it.
pub fn effective_max(policy: &KindPolicy, req: &JobRequest) -> MaxTime {
    effective_max_with_source(policy, req).0
}

pub(super) fn effective_max_with_source(policy: &KindPolicy, req: &JobRequest) -> (MaxTime, bool) {
    match policy.allow_max_time {
        Some(allow) if is_allowlisted(policy, req) => (allow, true),
        _ => (policy.max_time, false),
    }
}

fn is_allowlisted(policy: &KindPolicy, req: &JobRequest) -> bool {
    let user = req.user_name.as_deref().or(req.submit_user_name.as_deref());
    user.is_some_and(|u| policy.allow_users.iter().any(|a| a == u))
        || req
            .account
            .as_deref()
            .is_some_and(|acct| policy.allow_accounts.iter().any(|a| a == acct))
}
