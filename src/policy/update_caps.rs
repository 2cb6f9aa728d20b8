//! Keeping the caps of job kinds after submission: what `scontrol update` may change.
//!
//! job_modify sees only the fields an update changes, never the job record (it is opaque to
//! plugins), so it cannot know a pending job's kind or current limit. Three things hold a cap
//! anyway, and [`cap_escape_warnings`] tells an admin when none of them covers a capped kind:
//!
//! 1. `UpdateMaxTime` (default: the smallest MaxTime of the kinds): a non-operator's new time
//!    limit above it is refused, whatever the job's kind;
//! 2. a kind's `Partition=` whose slurm.conf `MaxTime` is the cap: Slurm itself refuses a
//!    non-operator's limit above the partition's MaxTime on every update, and rci refuses
//!    moves out of the kinds' partitions ([`check_kind_moves`]), since the partition a job
//!    leaves is not known here;
//! 3. a kind's `Qos=` whose `MaxWall` is the cap (needs slurmdbd): Slurm checks it on every
//!    update, and rci refuses QOS changes by non-operators while kinds set QOS.
//!
//! A move into a kind's partition with a new time limit is judged against that kind's cap
//! (the one case where the update itself tells the kind).

use crate::config::{Config, MaxTime};
use crate::job::{partition_list, JobRequest};
use crate::kinds::JobKind;
use crate::slurm_time::format_limit;

/// The kinds whose `Partition=` is `partition`.
fn kinds_with_partition<'a>(
    cfg: &'a Config,
    partition: &'a str,
) -> impl Iterator<Item = JobKind> + 'a {
    JobKind::ALL
        .into_iter()
        .filter(move |&k| cfg.kinds.policy(k).partition.as_deref() == Some(partition))
}

/// True when some kind moves its jobs to a partition of its own.
fn kinds_have_partitions(cfg: &Config) -> bool {
    JobKind::ALL
        .into_iter()
        .any(|k| cfg.kinds.policy(k).partition.is_some())
}

/// True when some kind gives its jobs a QOS of its own.
fn kinds_have_qos(cfg: &Config) -> bool {
    JobKind::ALL
        .into_iter()
        .any(|k| cfg.kinds.policy(k).qos.is_some())
}

/// Checks a non-operator's update against the kinds' partitions and QOS (see the module doc).
pub fn check_kind_moves(cfg: &Config, req: &JobRequest) -> Result<(), String> {
    let job = req
        .job_id
        .map_or_else(|| "<jobid>".to_owned(), |id| id.to_string());
    if let Some(list) = req.partition.as_deref() {
        if kinds_have_partitions(cfg) {
            for p in partition_list(list) {
                let mut kinds = kinds_with_partition(cfg, p).peekable();
                if kinds.peek().is_none() {
                    return Err(format!(
                        "rci: moving job {job} to partition {p} needs an operator while job kinds have partitions of their own (a job could leave its kind's time cap); ask the admins"
                    ));
                }
                for kind in kinds {
                    let cap = cfg.kinds.policy(kind).max_time;
                    if cap.is_exceeded_by(req.time_limit) {
                        return Err(format!(
                            "rci: time limit {} for job {job} in partition {p} is above {cap} (MaxTime for {kind} jobs)",
                            format_limit(req.time_limit)
                        ));
                    }
                }
            }
        }
    }
    if req.qos.is_some() && kinds_have_qos(cfg) {
        return Err(format!(
            "rci: changing the QOS of job {job} needs an operator while job kinds have QOS of their own (a job could leave its kind's time cap); ask the admins"
        ));
    }
    Ok(())
}

/// Warnings for `rci check-config`: capped kinds whose limit a non-operator can raise past the
/// cap with `scontrol update` under this configuration.
pub fn cap_escape_warnings(cfg: &Config) -> Vec<String> {
    let update_cap = cfg.effective_update_max_time();
    let mut warnings = Vec::new();
    for kind in JobKind::ALL {
        let policy = cfg.kinds.policy(kind);
        // The cap that matters is the loosest one a user of this kind can have.
        let cap = match policy.allow_max_time {
            Some(allow) => allow.max(policy.max_time),
            None => policy.max_time,
        };
        let MaxTime::Minutes(_) = cap else { continue };
        if update_cap <= cap {
            continue;
        }
        // A kind partition's MaxTime or a kind QOS's MaxWall is Slurm's to hold (README).
        if policy.partition.is_some() || policy.qos.is_some() {
            continue;
        }
        warnings.push(format!(
            "{kind} jobs (MaxTime={cap}): users can raise a pending job's limit to {update_cap} with scontrol update (UpdateMaxTime={update_cap}); set UpdateMaxTime={cap} or less, or give {kind} jobs a Partition= whose MaxTime is {cap} (or a Qos= whose MaxWall is {cap})"
        ));
    }
    warnings
}
