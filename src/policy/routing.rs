//! Routing: GPU nodes are kept for GPU jobs.
//!
//! At submit, a job that asks for GPUs (a positive or unreadable count in any TRES field) is
//! never moved. A CPU-only job whose partition list names a GPU partition:
//! - with a non-GPU partition also in the list: the GPU partitions are dropped from the list;
//! - otherwise `CpuJobsOnGpuPartitions` decides: `reroute` (partition := `CpuPartition`),
//!   `reject`, or `allow` (up to `AllowMaxCpus` CPUs when set, judged by `min_cpus`, 1 when
//!   unset; above it the job is narrowed or rejected as with `reject`).
//!
//! A job without a partition is judged by the default partition when it is known (rci.conf's
//! `DefaultPartition`, else slurm.conf's `Default=YES` partition), and left alone when it is not.
//! `ExemptUsers` (the job's user, else the submitter), `ExemptAccounts` and `ExemptQos` (as given
//! in the request: a default account or QOS applied later by Slurm is not known here) exempt a
//! job from routing. Each het-job component is judged alone (Slurm calls job_submit once per
//! component). Operators are judged like everyone at submit.
//!
//! At job_modify only the changed fields are known (the job record is opaque to plugins), so
//! the checks are about the update itself; see [`check_modify`].

use crate::config::{Config, CpuJobAction};
use crate::job::partition_list;
use crate::job::JobRequest;
use crate::tres::{gpu_request, GpuRequest};

/// Why GPU nodes are kept (ends every routing message).
pub const WHY: &str = "GPU nodes are kept for GPU jobs";

/// Which exemption applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exemption {
    /// `ExemptUsers=`.
    User,
    /// `ExemptAccounts=`.
    Account,
    /// `ExemptQos=`.
    Qos,
}

/// What routing did with one request at submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingOutcome<'a> {
    /// No `GpuPartitions` configured.
    Disabled,
    /// Exempt from routing.
    Exempt(Exemption),
    /// The job asks for GPUs: never moved.
    AsksForGpus,
    /// None of the job's partitions is a GPU partition.
    NotOnGpuPartition,
    /// No partition given and the default partition is unknown.
    DefaultUnknown,
    /// `CpuJobsOnGpuPartitions=allow` (within `AllowMaxCpus`).
    Allowed,
    /// The GPU partitions were dropped from the list; `kept` is the new list.
    Narrowed {
        /// The remaining (non-GPU) partitions, comma-joined.
        kept: String,
    },
    /// Moved to `to`; `from_default` when the job had named no partition.
    Rerouted {
        /// `CpuPartition`.
        to: &'a str,
        /// The job named no partition; its default partition is a GPU partition.
        from_default: bool,
    },
    /// Refused; the message is complete.
    Rejected {
        /// The line for the user.
        message: String,
    },
}

impl RoutingOutcome<'_> {
    /// The partition to write back, if routing changed it.
    pub fn new_partition(&self) -> Option<&str> {
        match self {
            RoutingOutcome::Narrowed { kept } => Some(kept),
            RoutingOutcome::Rerouted { to, .. } => Some(to),
            _ => None,
        }
    }
}

/// The exemption that applies to `req`, if any.
pub fn exemption(cfg: &Config, req: &JobRequest) -> Option<Exemption> {
    let r = &cfg.routing;
    let user = req.user_name.as_deref().or(req.submit_user_name.as_deref());
    if user.is_some_and(|u| r.exempt_users.iter().any(|e| e == u)) {
        return Some(Exemption::User);
    }
    if req
        .account
        .as_deref()
        .is_some_and(|a| r.exempt_accounts.iter().any(|e| e == a))
    {
        return Some(Exemption::Account);
    }
    if req
        .qos
        .as_deref()
        .is_some_and(|q| r.exempt_qos.iter().any(|e| e == q))
    {
        return Some(Exemption::Qos);
    }
    None
}

/// Routes one submit request. `partition` is the partition list in effect (the request's, or
/// the one its kind assigned); `gpus` is [`crate::tres::request_gpus`] of the request.
pub fn route<'a>(
    cfg: &'a Config,
    req: &JobRequest,
    partition: Option<&str>,
    gpus: Option<GpuRequest>,
    prefix: &str,
) -> RoutingOutcome<'a> {
    let r = &cfg.routing;
    if !r.enabled() {
        return RoutingOutcome::Disabled;
    }
    if let Some(e) = exemption(cfg, req) {
        return RoutingOutcome::Exempt(e);
    }
    if gpus.is_some_and(GpuRequest::asks_for_gpus) {
        return RoutingOutcome::AsksForGpus;
    }
    let (list, from_default) = match partition {
        Some(p) if partition_list(p).next().is_some() => (p, false),
        _ => match r.default_partition.as_deref() {
            Some(d) => (d, true),
            None => return RoutingOutcome::DefaultUnknown,
        },
    };
    if !partition_list(list).any(|p| r.is_gpu_partition(p)) {
        return RoutingOutcome::NotOnGpuPartition;
    }
    let cpus = req.min_cpus.unwrap_or(1);
    let over_allowance = match (r.action, r.allow_max_cpus) {
        (CpuJobAction::Allow, None) => return RoutingOutcome::Allowed,
        (CpuJobAction::Allow, Some(max)) if cpus <= max => return RoutingOutcome::Allowed,
        (CpuJobAction::Allow, Some(max)) => Some(max),
        _ => None,
    };
    let kept: Vec<&str> = partition_list(list)
        .filter(|p| !r.is_gpu_partition(p))
        .collect();
    if !kept.is_empty() {
        return RoutingOutcome::Narrowed {
            kept: kept.join(","),
        };
    }
    let gpu_list = gpu_partitions_in(cfg, list);
    let which = if from_default {
        format!("default partition {gpu_list}")
    } else {
        format!("partition {gpu_list}")
    };
    match (r.action, over_allowance) {
        (CpuJobAction::Reroute, _) => RoutingOutcome::Rerouted {
            to: &r.cpu_partition,
            from_default,
        },
        (_, Some(max)) => RoutingOutcome::Rejected {
            message: format!(
                "rci: {prefix}job has no GPU request and asks for {cpus} CPUs; CPU-only jobs on {which} may use at most {max}; add a GPU request (e.g. --gres=gpu:1) or use partition {} ({WHY})",
                r.cpu_partition
            ),
        },
        _ => RoutingOutcome::Rejected {
            message: format!(
                "rci: {prefix}job has no GPU request but {which} is for GPU jobs; add a GPU request (e.g. --gres=gpu:1) or use partition {} ({WHY})",
                r.cpu_partition
            ),
        },
    }
}

/// The GPU partitions named in a list, comma-joined.
fn gpu_partitions_in(cfg: &Config, list: &str) -> String {
    partition_list(list)
        .filter(|p| cfg.routing.is_gpu_partition(p))
        .collect::<Vec<_>>()
        .join(",")
}

/// The user-facing line for a routing change (`None` when nothing changed).
pub fn routing_message(
    outcome: &RoutingOutcome<'_>,
    old_partition: Option<&str>,
    default_partition: Option<&str>,
    prefix: &str,
) -> Option<String> {
    let describe = |from_default: bool| -> String {
        let list = if from_default {
            default_partition.unwrap_or("")
        } else {
            old_partition.unwrap_or("")
        };
        let noun = if list.contains(',') {
            "partitions"
        } else {
            "partition"
        };
        if from_default {
            format!("default {noun} {list}")
        } else {
            format!("{noun} {list}")
        }
    };
    match outcome {
        RoutingOutcome::Narrowed { kept } => Some(format!(
            "rci: {prefix}job has no GPU request; {} -> {kept} ({WHY})",
            describe(false)
        )),
        RoutingOutcome::Rerouted { to, from_default } => Some(format!(
            "rci: {prefix}job has no GPU request; {} -> {to} ({WHY})",
            describe(*from_default)
        )),
        _ => None,
    }
}

/// job_modify checks for non-operators, on the update's own fields:
/// (a) setting a partition list that names a GPU partition needs a GPU request in the same
///     update;
/// (b) dropping the GPU request needs a move to non-GPU partitions in the same update. An update
///     drops it when it sets a TRES field and none of the fields it sets asks for GPUs, except an
///     update of `tres_per_task` alone that does not mention `gpu` (such as `cpu=4`), because
///     per-task TRES also carry CPUs.
///
/// Exempt users/accounts/QOS and `allow` without `AllowMaxCpus` skip both checks.
pub fn check_modify(cfg: &Config, req: &JobRequest) -> Result<(), String> {
    let r = &cfg.routing;
    if !r.enabled()
        || exemption(cfg, req).is_some()
        || (r.action == CpuJobAction::Allow && r.allow_max_cpus.is_none())
    {
        return Ok(());
    }
    let job = req
        .job_id
        .map_or_else(|| "<jobid>".to_owned(), |id| id.to_string());
    let gpus = crate::tres::request_gpus(req);
    let asks = gpus.is_some_and(GpuRequest::asks_for_gpus);
    if let Some(list) = req.partition.as_deref() {
        let gpu_list = gpu_partitions_in(cfg, list);
        if !gpu_list.is_empty() && !asks {
            return Err(format!(
                "rci: moving job {job} to GPU partition {gpu_list} needs a GPU request in the same update (e.g. scontrol update jobid={job} partition={list} gres=gpu:1); {WHY}"
            ));
        }
    }
    if drops_gpu_request(req) {
        let moves_off_gpu = req.partition.as_deref().is_some_and(|list| {
            partition_list(list).next().is_some()
                && partition_list(list).all(|p| !r.is_gpu_partition(p))
        });
        if !moves_off_gpu {
            // The example must be an update Slurm accepts: 22.05's scontrol turns `gres=none`
            // into `gres:none`, which slurmctld refuses ("Invalid generic resource"), while
            // `gres=gpu:0` is accepted by every release.
            return Err(format!(
                "rci: removing the GPU request of job {job} needs a move to a non-GPU partition in the same update (e.g. scontrol update jobid={job} gres=gpu:0 partition={}); {WHY}",
                r.cpu_partition
            ));
        }
    }
    Ok(())
}

/// See [`check_modify`] (b).
fn drops_gpu_request(req: &JobRequest) -> bool {
    let fields = crate::tres::tres_fields(req);
    if fields.iter().all(Option::is_none) {
        return false;
    }
    let requests: Vec<GpuRequest> = fields.iter().flatten().map(|f| gpu_request(f)).collect();
    if requests.iter().any(|g| g.asks_for_gpus()) {
        return false;
    }
    let [per_job, per_node, per_socket, per_task] = fields;
    per_job.is_some()
        || per_node.is_some()
        || per_socket.is_some()
        || per_task.is_some_and(|t| t.trim().is_empty() || gpu_request(t).mentions_gpus())
}
