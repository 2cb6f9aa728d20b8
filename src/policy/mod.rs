//! The decision for one job_submit / job_modify call: routing composed with the job-kind policy.
//!
//! Submit, in this order (each step sees the result of the previous one):
//! 1. classify the job's kind ([`classify::classify`]); an unknown declared kind rejects;
//! 2. the kind's `Partition=` (when configured) replaces the job's partition list;
//! 3. routing ([`routing::route`]) judges the partition list now in effect, so a kind that sends
//!    jobs to a GPU partition still cannot bring CPU-only jobs there;
//! 4. the kind's time policy (default, cap or reject);
//! 5. the kind's `Qos=` (when configured).
//!
//! Every change comes with one message line starting `rci: ` (het-job components add
//! `het component N: `). A CPU-only VM job aimed at a GPU partition with too long a limit is
//! both rerouted and capped, with two messages. Operators are judged like everyone at submit.
//!
//! Modify (`scontrol update`): root, SlurmUser and `AdminUsers` may do anything. For everyone
//! else the update's own fields are checked ([`routing::check_modify`] and the time limit
//! against `UpdateMaxTime`). Slurm's job record is opaque to plugins, so the job's current
//! state is not known: lowering a limit that is still above `UpdateMaxTime`, for example, needs
//! an operator too. This is a documented limitation.

pub mod classify;
pub mod routing;
pub mod time;
pub mod update_caps;

use crate::config::{Config, MaxTime};
use crate::job::{JobChanges, JobRequest, Origin, TimeLimit, Verdict};
use crate::kinds::JobKind;
use crate::slurm_time::format_limit;
use crate::tres::{request_gpus, GpuRequest};
use classify::{Classification, DECLARED_KIND_VAR};
use routing::RoutingOutcome;
use std::borrow::Cow;
use time::TimeOutcome;

/// Decides one request (a later het component as if its component 0 had not been seen).
pub fn decide(cfg: &Config, req: &JobRequest) -> Verdict {
    decide_in_het(cfg, req, None).0
}

/// Decides one request; for a het-job component, `leader_kind` is the kind component 0 of the
/// same het job got (see [`classify::classify_in_het`]). Also returns the kind this request
/// got, so the caller can hand component 0's kind to the later components.
pub fn decide_in_het(
    cfg: &Config,
    req: &JobRequest,
    leader_kind: Option<JobKind>,
) -> (Verdict, Option<JobKind>) {
    match req.origin {
        Origin::Submit => {
            let ev = evaluate_in_het(cfg, req, leader_kind);
            (ev.verdict, ev.classification.map(|c| c.kind))
        }
        Origin::Modify => (decide_modify(cfg, req), None),
    }
}

/// Everything a submit decision found, for `rci explain`; `decide` keeps only the verdict.
#[derive(Debug, Clone)]
pub struct Evaluation<'a> {
    /// `None` when no kind has any effect (classification is skipped then) or the declared kind
    /// was invalid.
    pub classification: Option<Classification>,
    /// What the TRES fields say about GPUs (`None`: no TRES field set).
    pub gpus: Option<GpuRequest>,
    /// The partition the kind assigned, when it changed the job's.
    pub kind_partition: Option<&'a str>,
    /// `None` when the decision stopped before routing.
    pub routing: Option<RoutingOutcome<'a>>,
    /// `None` when there was no kind policy to apply, or the decision stopped before.
    pub time: Option<TimeOutcome>,
    /// The answer for Slurm.
    pub verdict: Verdict,
}

/// The `het component N: ` prefix for messages of het-job components.
fn het_prefix(req: &JobRequest) -> Cow<'static, str> {
    match req.het_job_offset {
        Some(n) => Cow::Owned(format!("het component {n}: ")),
        None => Cow::Borrowed(""),
    }
}

/// The submit decision with its reasons.
pub fn evaluate<'a>(cfg: &'a Config, req: &JobRequest) -> Evaluation<'a> {
    evaluate_in_het(cfg, req, None)
}

/// [`evaluate`] for a het-job component whose component 0 got `leader_kind`.
pub fn evaluate_in_het<'a>(
    cfg: &'a Config,
    req: &JobRequest,
    leader_kind: Option<JobKind>,
) -> Evaluation<'a> {
    let prefix = het_prefix(req);
    let gpus = request_gpus(req);
    let mut ev = Evaluation {
        classification: None,
        gpus,
        kind_partition: None,
        routing: None,
        time: None,
        verdict: Verdict::accept(),
    };
    let reject = |mut ev: Evaluation<'a>, message: String| {
        ev.verdict = Verdict::Reject { message };
        ev
    };

    if cfg.kinds.any_effect() || req.spank_env(DECLARED_KIND_VAR).is_some() {
        match classify::classify_in_het(cfg, req, leader_kind) {
            Ok(c) => ev.classification = Some(c),
            Err(message) => return reject(ev, message),
        }
    }
    let kind = ev.classification.map(|c| c.kind);
    let policy = kind.map(|k| cfg.kinds.policy(k));
    let mut messages = Vec::new();
    let mut changes = JobChanges::default();

    // 2. The kind's partition.
    let mut partition = req.partition.as_deref();
    if let (Some(kind), Some(target)) = (kind, policy.and_then(|p| p.partition.as_deref())) {
        if partition != Some(target) {
            messages.push(format!(
                "rci: {prefix}{kind} job; partition {} -> {target} (Partition for {kind} jobs)",
                partition.unwrap_or("(default)")
            ));
            partition = Some(target);
            ev.kind_partition = Some(target);
        }
    }

    // 3. Routing.
    let outcome = routing::route(cfg, req, partition, gpus, &prefix);
    if let RoutingOutcome::Rejected { message } = &outcome {
        let message = message.clone();
        ev.routing = Some(outcome);
        return reject(ev, message);
    }
    if let Some(m) = routing::routing_message(
        &outcome,
        partition,
        cfg.routing.default_partition.as_deref(),
        &prefix,
    ) {
        messages.push(m);
    }
    let final_partition = outcome.new_partition().or(partition);
    if final_partition != req.partition.as_deref() {
        changes.partition = final_partition.map(str::to_owned);
    }
    ev.routing = Some(outcome);

    if let (Some(kind), Some(policy)) = (kind, policy) {
        // 4. Time.
        let time = time::apply_time(policy, req);
        ev.time = Some(time);
        let line = time::time_message(kind, policy, &time, &prefix);
        match time {
            TimeOutcome::Rejected { .. } => {
                return reject(ev, line.unwrap_or_default());
            }
            TimeOutcome::Defaulted { minutes, .. } | TimeOutcome::Capped { minutes, .. } => {
                changes.time_limit = Some(minutes);
            }
            TimeOutcome::Kept => {}
        }
        messages.extend(line);
        // Slurm rejects a TimeMin above the TimeLimit ("Invalid time-min specification"):
        // a lowered or defaulted limit takes --time-min down with it.
        if let Some(limit) = changes.time_limit {
            if TimeLimit::Minutes(limit) != req.time_min
                && MaxTime::Minutes(limit).is_exceeded_by(req.time_min)
            {
                changes.time_min = Some(limit);
                messages.push(format!(
                    "rci: {prefix}{kind} job; --time-min {} lowered to {} with the time limit",
                    format_limit(req.time_min),
                    format_limit(TimeLimit::Minutes(limit))
                ));
            }
        }

        // 5. QOS.
        if let Some(q) = policy.qos.as_deref() {
            if req.qos.as_deref() != Some(q) {
                messages.push(format!(
                    "rci: {prefix}{kind} job; qos {} -> {q} (Qos for {kind} jobs)",
                    req.qos.as_deref().unwrap_or("(default)")
                ));
                changes.qos = Some(q.to_owned());
            }
        }
    }

    ev.verdict = Verdict::Accept { changes, messages };
    ev
}

/// True when the submitter may override policy in job_modify.
pub fn is_operator(cfg: &Config, req: &JobRequest) -> bool {
    req.submitter_is_slurm_operator || cfg.is_admin(req.submit_user_name.as_deref(), req.submit_uid)
}

fn decide_modify(cfg: &Config, req: &JobRequest) -> Verdict {
    if is_operator(cfg, req) {
        return Verdict::accept();
    }
    if let Err(message) = routing::check_modify(cfg, req) {
        return Verdict::Reject { message };
    }
    if let Err(message) = update_caps::check_kind_moves(cfg, req) {
        return Verdict::Reject { message };
    }
    let cap = cfg.effective_update_max_time();
    if cap.is_exceeded_by(req.time_limit) {
        let job = req
            .job_id
            .map_or_else(|| "<jobid>".to_owned(), |id| id.to_string());
        let source = if cfg.update_max_time.is_some() {
            "UpdateMaxTime"
        } else {
            "UpdateMaxTime, by default the smallest MaxTime of the job kinds"
        };
        return Verdict::Reject {
            message: format!(
                "rci: time limit {} for job {job} is above {cap} and needs an operator ({source}; ask the admins)",
                format_limit(req.time_limit)
            ),
        };
    }
    Verdict::accept()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::TimeLimit;
    use proptest::prelude::*;

    const CONF: &str = r#"
GpuPartitions=gpu,gpu-long CpuPartition=cpu
ExemptUsers=gpuadmin ExemptAccounts=special ExemptQos=anything
AdminUsers=ops,4242
DefaultPartition=gpu
Kind=server DefaultTime=1-00:00:00 MaxTime=7-00:00:00 Action=cap AllowUsers=carol AllowMaxTime=30-00:00:00
Kind=vm MaxTime=3-00:00:00
Kind=interactive MaxTime=8:00:00 Action=reject
Kind=jupyter DefaultTime=4:00:00 MaxTime=12:00:00 Partition=notebooks Qos=nb
KindRule=server Comment=*rci:server*
"#;

    fn cfg() -> Config {
        Config::parse(CONF, "/etc/slurm/rci.conf").unwrap()
    }

    /// [`CONF`] without the jupyter kind's own partition and QOS: while kinds have partitions,
    /// a user's every move between partitions needs an operator, which hides the routing rules
    /// of job_modify these tests are about.
    fn cfg_without_kind_partitions() -> Config {
        let text = CONF.replace(" Partition=notebooks Qos=nb", "");
        Config::parse(&text, "/etc/slurm/rci.conf").unwrap()
    }

    fn batch(script: &str) -> JobRequest {
        JobRequest {
            user_name: Some("dave".into()),
            submit_user_name: Some("dave".into()),
            submit_uid: 1000,
            script: Some(format!("#!/bin/bash\n{script}\n")),
            time_limit: TimeLimit::Minutes(60),
            ..Default::default()
        }
    }

    fn on(partition: &str, mut req: JobRequest) -> JobRequest {
        req.partition = Some(partition.into());
        req
    }

    fn accepted(v: Verdict) -> (JobChanges, Vec<String>) {
        match v {
            Verdict::Accept { changes, messages } => (changes, messages),
            Verdict::Reject { message } => panic!("rejected: {message}"),
        }
    }

    fn rejected(v: Verdict) -> String {
        match v {
            Verdict::Reject { message } => message,
            other => panic!("accepted: {other:?}"),
        }
    }

    const REROUTE_MSG: &str =
        "rci: job has no GPU request; partition gpu -> cpu (GPU nodes are kept for GPU jobs)";

    #[test]
    fn gpu_jobs_are_never_rerouted() {
        let c = cfg();
        for (field, spec) in [
            ("node", "gres:gpu:2"),
            ("node", "gres/gpu:a100:1"),
            ("node", "gres/gpu"),
            ("job", "gres/gpu:2"),
            ("task", "cpu=4,gres/gpu=1"),
            ("socket", "gres/gpu:1"),
            ("node", "gres/gpu=weird"),
        ] {
            let mut req = on("gpu", batch("python train.py"));
            match field {
                "node" => req.tres_per_node = Some(spec.into()),
                "job" => req.tres_per_job = Some(spec.into()),
                "task" => req.tres_per_task = Some(spec.into()),
                _ => req.tres_per_socket = Some(spec.into()),
            }
            let (changes, messages) = accepted(decide(&c, &req));
            assert!(changes.is_empty(), "{spec}: {changes:?}");
            assert!(messages.is_empty(), "{spec}: {messages:?}");
        }
    }

    #[test]
    fn cpu_job_on_gpu_partition_is_rerouted_with_exact_message() {
        let (changes, messages) = accepted(decide(&cfg(), &on("gpu", batch("make"))));
        assert_eq!(changes.partition.as_deref(), Some("cpu"));
        assert_eq!(messages, [REROUTE_MSG]);
    }

    #[test]
    fn zero_gpu_counts_are_cpu_only() {
        for spec in ["gres/gpu:0", "gres:gpu:a100:0", "gres/shard:1", "cpu=4"] {
            let mut req = on("gpu", batch("make"));
            req.tres_per_node = Some(spec.into());
            let (changes, _) = accepted(decide(&cfg(), &req));
            assert_eq!(changes.partition.as_deref(), Some("cpu"), "{spec}");
        }
    }

    #[test]
    fn partition_lists() {
        let (changes, messages) = accepted(decide(&cfg(), &on("gpu,cpu", batch("make"))));
        assert_eq!(changes.partition.as_deref(), Some("cpu"));
        assert_eq!(
            messages,
            ["rci: job has no GPU request; partitions gpu,cpu -> cpu (GPU nodes are kept for GPU jobs)"]
        );
        let (changes, _) = accepted(decide(&cfg(), &on("short, gpu ,long", batch("make"))));
        assert_eq!(changes.partition.as_deref(), Some("short,long"));
        let (changes, messages) = accepted(decide(&cfg(), &on("gpu,gpu-long", batch("make"))));
        assert_eq!(changes.partition.as_deref(), Some("cpu"));
        assert!(
            messages[0].contains("partitions gpu,gpu-long -> cpu"),
            "{messages:?}"
        );
        let (changes, messages) = accepted(decide(&cfg(), &on("cpu,short", batch("make"))));
        assert!(changes.is_empty() && messages.is_empty());
    }

    #[test]
    fn default_partition_known_or_not() {
        let (changes, messages) = accepted(decide(&cfg(), &batch("make")));
        assert_eq!(changes.partition.as_deref(), Some("cpu"));
        assert_eq!(
            messages,
            ["rci: job has no GPU request; default partition gpu -> cpu (GPU nodes are kept for GPU jobs)"]
        );
        let unknown = Config::parse("GpuPartitions=gpu", "x").unwrap();
        let (changes, messages) = accepted(decide(&unknown, &batch("make")));
        assert!(changes.is_empty() && messages.is_empty());
        let cpu_default = Config::parse("GpuPartitions=gpu DefaultPartition=cpu", "x").unwrap();
        assert!(accepted(decide(&cpu_default, &batch("make"))).0.is_empty());
    }

    #[test]
    fn reject_action() {
        let c = Config::parse("GpuPartitions=gpu CpuJobsOnGpuPartitions=reject", "x").unwrap();
        let m = rejected(decide(&c, &on("gpu", batch("make"))));
        assert_eq!(
            m,
            "rci: job has no GPU request but partition gpu is for GPU jobs; add a GPU request (e.g. --gres=gpu:1) or use partition cpu (GPU nodes are kept for GPU jobs)"
        );
        // a non-GPU partition in the list still narrows instead of rejecting
        let (changes, _) = accepted(decide(&c, &on("gpu,cpu", batch("make"))));
        assert_eq!(changes.partition.as_deref(), Some("cpu"));
    }

    #[test]
    fn allow_action_with_cpu_allowance() {
        let c = Config::parse(
            "GpuPartitions=gpu CpuJobsOnGpuPartitions=allow AllowMaxCpus=8",
            "x",
        )
        .unwrap();
        let mut small = on("gpu", batch("make"));
        small.min_cpus = Some(8);
        assert!(accepted(decide(&c, &small)).0.is_empty());
        let unset = on("gpu", batch("make"));
        assert!(
            accepted(decide(&c, &unset)).0.is_empty(),
            "unset min_cpus counts as 1"
        );
        let mut big = on("gpu", batch("make"));
        big.min_cpus = Some(64);
        let m = rejected(decide(&c, &big));
        assert!(m.starts_with("rci: job has no GPU request and asks for 64 CPUs; CPU-only jobs on partition gpu may use at most 8"), "{m}");
        big.partition = Some("gpu,cpu".into());
        assert_eq!(
            accepted(decide(&c, &big)).0.partition.as_deref(),
            Some("cpu")
        );
        let unlimited =
            Config::parse("GpuPartitions=gpu CpuJobsOnGpuPartitions=allow", "x").unwrap();
        let mut huge = on("gpu", batch("make"));
        huge.min_cpus = Some(10_000);
        assert!(accepted(decide(&unlimited, &huge)).0.is_empty());
    }

    #[test]
    fn exemptions() {
        let c = cfg();
        let mut by_user = on("gpu", batch("make"));
        by_user.user_name = Some("gpuadmin".into());
        assert!(accepted(decide(&c, &by_user)).0.is_empty());
        let mut by_account = on("gpu", batch("make"));
        by_account.account = Some("special".into());
        assert!(accepted(decide(&c, &by_account)).0.is_empty());
        let mut by_qos = on("gpu", batch("make"));
        by_qos.qos = Some("anything".into());
        assert!(accepted(decide(&c, &by_qos)).0.is_empty());
        // operators are judged like everyone at submit
        let mut operator = on("gpu", batch("make"));
        operator.submitter_is_slurm_operator = true;
        assert_eq!(
            accepted(decide(&c, &operator)).0.partition.as_deref(),
            Some("cpu")
        );
    }

    #[test]
    fn het_components_are_judged_alone_with_offset_in_messages() {
        let c = cfg();
        let mut gpu_part = on("gpu", batch("make"));
        gpu_part.het_job_offset = Some(0);
        gpu_part.tres_per_node = Some("gres/gpu:1".into());
        assert!(accepted(decide(&c, &gpu_part)).0.is_empty());
        let mut cpu_part = on("gpu", batch("make"));
        cpu_part.het_job_offset = Some(1);
        let (changes, messages) = accepted(decide(&c, &cpu_part));
        assert_eq!(changes.partition.as_deref(), Some("cpu"));
        assert_eq!(
            messages,
            ["rci: het component 1: job has no GPU request; partition gpu -> cpu (GPU nodes are kept for GPU jobs)"]
        );
    }

    #[test]
    fn arrays_are_judged_like_plain_jobs() {
        let c = cfg();
        let plain = on("gpu", batch("make"));
        let mut array = plain.clone();
        array.array_inx = Some("0-99%10".into());
        assert_eq!(decide(&c, &plain), decide(&c, &array));
    }

    #[test]
    fn server_cap_message_is_exact() {
        let mut req = on("cpu", batch("uvicorn app:app"));
        req.time_limit = TimeLimit::Minutes(30 * 1440);
        let (changes, messages) = accepted(decide(&cfg(), &req));
        assert_eq!(changes.time_limit, Some(7 * 1440));
        assert_eq!(
            messages,
            ["rci: server job; time limit 30-00:00:00 capped to 7-00:00:00 (MaxTime for server jobs; ask the admins for an approved hosting slot)"]
        );
        req.time_limit = TimeLimit::Infinite;
        let (changes, messages) = accepted(decide(&cfg(), &req));
        assert_eq!(changes.time_limit, Some(7 * 1440));
        assert!(messages[0].contains("time limit UNLIMITED capped to 7-00:00:00"));
        req.time_limit = TimeLimit::Minutes(7 * 1440);
        assert!(
            accepted(decide(&cfg(), &req)).0.is_empty(),
            "at the cap is fine"
        );
    }

    #[test]
    fn cpu_only_vm_on_gpu_is_rerouted_and_capped() {
        let mut req = on("gpu", batch("qemu-system-x86_64 -m 8G disk.img"));
        req.time_limit = TimeLimit::Minutes(10 * 1440);
        let (changes, messages) = accepted(decide(&cfg(), &req));
        assert_eq!(changes.partition.as_deref(), Some("cpu"));
        assert_eq!(changes.time_limit, Some(3 * 1440));
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0], REROUTE_MSG);
        assert_eq!(
            messages[1],
            "rci: vm job; time limit 10-00:00:00 capped to 3-00:00:00 (MaxTime for vm jobs; ask the admins for an approved hosting slot)"
        );
    }

    #[test]
    fn allowlisted_users_and_accounts_get_allow_max_time() {
        let mut req = on("cpu", batch("gunicorn app"));
        req.user_name = Some("carol".into());
        req.time_limit = TimeLimit::Minutes(20 * 1440);
        assert!(accepted(decide(&cfg(), &req)).0.is_empty());
        req.time_limit = TimeLimit::Infinite;
        let (changes, messages) = accepted(decide(&cfg(), &req));
        assert_eq!(changes.time_limit, Some(30 * 1440));
        assert!(
            messages[0].contains("(AllowMaxTime for allowed server jobs;"),
            "{messages:?}"
        );
    }

    #[test]
    fn default_time_when_unset() {
        let mut req = on("cpu", batch("uvicorn app"));
        req.time_limit = TimeLimit::Unset;
        let (changes, messages) = accepted(decide(&cfg(), &req));
        assert_eq!(changes.time_limit, Some(1440));
        assert_eq!(
            messages,
            ["rci: server job; no time limit given, using 1-00:00:00 (DefaultTime for server jobs)"]
        );
        // A cap without DefaultTime: the cap becomes the limit.
        let mut vm = on("cpu", batch("qemu-kvm"));
        vm.time_limit = TimeLimit::Unset;
        let (changes, messages) = accepted(decide(&cfg(), &vm));
        assert_eq!(changes.time_limit, Some(3 * 1440));
        assert!(messages[0].ends_with("using 3-00:00:00 (MaxTime for vm jobs)"));
        // batch has no policy: unset stays unset
        let mut plain = on("cpu", batch("make"));
        plain.time_limit = TimeLimit::Unset;
        assert!(accepted(decide(&cfg(), &plain)).0.is_empty());
    }

    #[test]
    fn interactive_jobs_reject_action() {
        let mut req = JobRequest {
            partition: Some("cpu".into()),
            time_limit: TimeLimit::Minutes(24 * 60),
            ..Default::default()
        };
        let m = rejected(decide(&cfg(), &req));
        assert_eq!(
            m,
            "rci: interactive job; time limit 1-00:00:00 is above 08:00:00 (MaxTime for interactive jobs); use --time=08:00:00 or less"
        );
        req.time_limit = TimeLimit::Minutes(60);
        assert!(accepted(decide(&cfg(), &req)).0.is_empty());
    }

    #[test]
    fn declared_kind_can_only_make_stricter() {
        let c = cfg();
        // batch (no cap) declared as server (7 days): stricter, so server applies
        let mut req = on("cpu", batch("python serve.py"));
        req.spank_job_env = vec!["RCI_KIND=server".into()];
        req.time_limit = TimeLimit::Minutes(10 * 1440);
        let (changes, messages) = accepted(decide(&c, &req));
        assert_eq!(changes.time_limit, Some(7 * 1440));
        assert!(messages[0].starts_with("rci: server job;"));
        // a vm (3 days) declared as batch (no cap): looser, ignored
        let mut vm = on("cpu", batch("qemu-system-x86_64"));
        vm.spank_job_env = vec!["RCI_KIND=batch".into()];
        vm.time_limit = TimeLimit::Minutes(10 * 1440);
        let ev = evaluate(&c, &vm);
        let class = ev.classification.unwrap();
        assert_eq!(
            (class.kind, class.detected, class.declared),
            (
                crate::kinds::JobKind::Vm,
                crate::kinds::JobKind::Vm,
                Some(crate::kinds::JobKind::Batch)
            )
        );
        assert_eq!(accepted(ev.verdict).0.time_limit, Some(3 * 1440));
        // invalid declared kind
        let mut bad = on("cpu", batch("make"));
        bad.spank_job_env = vec!["RCI_KIND=webapp".into()];
        assert_eq!(
            rejected(decide(&c, &bad)),
            "rci: unknown job kind 'webapp' (--rci-kind); valid kinds: batch, interactive, jupyter, server, vm"
        );
        // ... rejected even when no kind has a policy
        let empty = Config::parse("", "x").unwrap();
        assert!(matches!(decide(&empty, &bad), Verdict::Reject { .. }));
    }

    #[test]
    fn kind_rules_by_comment_name_and_builtins() {
        let c = cfg();
        let mut req = on("cpu", batch("python app.py"));
        req.comment = Some("prod rci:server".into());
        req.time_limit = TimeLimit::Infinite;
        assert_eq!(accepted(decide(&c, &req)).0.time_limit, Some(7 * 1440));
        let mut spawner = on(
            "cpu",
            batch("batchspawner-singleuser jupyterhub-singleuser"),
        );
        spawner.name = Some("spawner-jupyterhub".into());
        let ev = evaluate(&c, &spawner);
        assert_eq!(
            ev.classification.unwrap().kind,
            crate::kinds::JobKind::Jupyter
        );
    }

    #[test]
    fn kind_partition_and_qos_assignment_compose_with_routing() {
        let c = cfg();
        let mut req = on("gpu", batch("jupyter lab --no-browser"));
        req.time_limit = TimeLimit::Unset;
        let (changes, messages) = accepted(decide(&c, &req));
        assert_eq!(changes.partition.as_deref(), Some("notebooks"));
        assert_eq!(changes.qos.as_deref(), Some("nb"));
        assert_eq!(changes.time_limit, Some(240));
        assert_eq!(
            messages,
            [
                "rci: jupyter job; partition gpu -> notebooks (Partition for jupyter jobs)",
                "rci: jupyter job; no time limit given, using 04:00:00 (DefaultTime for jupyter jobs)",
                "rci: jupyter job; qos (default) -> nb (Qos for jupyter jobs)",
            ]
        );
        // A kind that sends jobs to a GPU partition cannot bring CPU-only jobs there.
        let gpu_kind = Config::parse(
            "GpuPartitions=gpu\nKind=jupyter Partition=gpu MaxTime=1:00:00",
            "x",
        )
        .unwrap();
        let mut cpu_nb = on("short", batch("jupyter-lab"));
        cpu_nb.time_limit = TimeLimit::Minutes(30);
        let (changes, messages) = accepted(decide(&gpu_kind, &cpu_nb));
        assert_eq!(changes.partition.as_deref(), Some("cpu"));
        assert_eq!(messages.len(), 2, "{messages:?}");
        let mut gpu_nb = cpu_nb.clone();
        gpu_nb.tres_per_node = Some("gres/gpu:1".into());
        assert_eq!(
            accepted(decide(&gpu_kind, &gpu_nb)).0.partition.as_deref(),
            Some("gpu")
        );
    }

    fn modify(partition: Option<&str>, tres_per_node: Option<&str>) -> JobRequest {
        JobRequest {
            origin: Origin::Modify,
            job_id: Some(42),
            submit_uid: 1000,
            submit_user_name: Some("dave".into()),
            partition: partition.map(Into::into),
            tres_per_node: tres_per_node.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn modify_moving_to_gpu_needs_gpu_request() {
        let c = cfg_without_kind_partitions();
        assert_eq!(
            rejected(decide(&c, &modify(Some("gpu"), None))),
            "rci: moving job 42 to GPU partition gpu needs a GPU request in the same update (e.g. scontrol update jobid=42 partition=gpu gres=gpu:1); GPU nodes are kept for GPU jobs"
        );
        assert!(matches!(
            decide(&c, &modify(Some("cpu,gpu-long"), None)),
            Verdict::Reject { .. }
        ));
        assert!(matches!(
            decide(&c, &modify(Some("gpu"), Some("gres/gpu:0"))),
            Verdict::Reject { .. }
        ));
        assert_eq!(
            decide(&c, &modify(Some("gpu"), Some("gres/gpu:1"))),
            Verdict::accept()
        );
        assert_eq!(decide(&c, &modify(Some("cpu"), None)), Verdict::accept());
    }

    #[test]
    fn modify_dropping_gpus_needs_move_off_gpu() {
        let c = cfg_without_kind_partitions();
        let m = rejected(decide(&c, &modify(None, Some("gres/gpu:0"))));
        assert_eq!(
            m,
            "rci: removing the GPU request of job 42 needs a move to a non-GPU partition in the same update (e.g. scontrol update jobid=42 gres=gpu:0 partition=cpu); GPU nodes are kept for GPU jobs"
        );
        assert!(matches!(
            decide(&c, &modify(None, Some("gres/none"))),
            Verdict::Reject { .. }
        ));
        assert!(matches!(
            decide(&c, &modify(None, Some(""))),
            Verdict::Reject { .. }
        ));
        assert!(matches!(
            decide(&c, &modify(Some("gpu,cpu"), Some("gres/gpu:0"))),
            Verdict::Reject { .. }
        ));
        assert_eq!(
            decide(&c, &modify(Some("cpu"), Some("gres/gpu:0"))),
            Verdict::accept()
        );
        assert_eq!(
            decide(&c, &modify(None, Some("gres/gpu:2"))),
            Verdict::accept()
        );
        // per-task cpu only does not touch GPUs; per-task gpu zero does
        let mut cpus = modify(None, None);
        cpus.tres_per_task = Some("cpu=4".into());
        assert_eq!(decide(&c, &cpus), Verdict::accept());
        cpus.tres_per_task = Some("cpu=4,gres/gpu=0".into());
        assert!(matches!(decide(&c, &cpus), Verdict::Reject { .. }));
    }

    /// The `scontrol update ...` a rejection suggests, as the update request it produces.
    fn suggested_update(message: &str, gres_prefix: &str) -> JobRequest {
        let command = message
            .split_once("(e.g. ")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(command, _)| command)
            .unwrap_or_else(|| panic!("no example in {message}"));
        let mut req = modify(None, None);
        for word in command.split_whitespace() {
            match word.split_once('=') {
                Some(("partition", p)) => req.partition = Some(p.into()),
                // What scontrol puts in tres_per_node: `gres:` up to 23.02, `gres/` after.
                Some(("gres", g)) => req.tres_per_node = Some(format!("{gres_prefix}{g}")),
                _ => {}
            }
        }
        req
    }

    #[test]
    fn the_updates_modify_rejections_suggest_are_accepted() {
        let c = cfg_without_kind_partitions();
        for prefix in ["gres:", "gres/"] {
            let drop = rejected(decide(&c, &modify(None, Some(&format!("{prefix}gpu:0")))));
            let suggested = suggested_update(&drop, prefix);
            assert_eq!(
                suggested.tres_per_node.as_deref(),
                Some(&*format!("{prefix}gpu:0"))
            );
            assert_eq!(decide(&c, &suggested), Verdict::accept(), "{drop}");
            // Slurm 22.05 refuses `gres=none` (`gres:none`); the suggestion must not use it.
            assert!(!drop.contains("gres=none"), "{drop}");

            let mv = rejected(decide(&c, &modify(Some("gpu"), None)));
            assert_eq!(
                decide(&c, &suggested_update(&mv, prefix)),
                Verdict::accept(),
                "{mv}"
            );
        }
    }

    #[test]
    fn modify_time_limit_above_update_max_time() {
        let c = cfg(); // smallest MaxTime: interactive 8h
        let mut req = modify(None, None);
        req.time_limit = TimeLimit::Minutes(9 * 60);
        assert_eq!(
            rejected(decide(&c, &req)),
            "rci: time limit 09:00:00 for job 42 is above 08:00:00 and needs an operator (UpdateMaxTime, by default the smallest MaxTime of the job kinds; ask the admins)"
        );
        req.time_limit = TimeLimit::Infinite;
        assert!(matches!(decide(&c, &req), Verdict::Reject { .. }));
        req.time_limit = TimeLimit::Minutes(8 * 60);
        assert_eq!(decide(&c, &req), Verdict::accept());
        let explicit = Config::parse("Kind=vm MaxTime=1:00:00\nUpdateMaxTime=2-0", "x").unwrap();
        req.time_limit = TimeLimit::Minutes(3 * 1440);
        assert!(rejected(decide(&explicit, &req)).contains("(UpdateMaxTime; ask the admins)"));
        let none = Config::parse("", "x").unwrap();
        req.time_limit = TimeLimit::Infinite;
        assert_eq!(decide(&none, &req), Verdict::accept());
    }

    #[test]
    fn operators_may_do_anything_in_modify() {
        let c = cfg_without_kind_partitions();
        let mut req = modify(Some("gpu"), Some("gres/gpu:0"));
        req.time_limit = TimeLimit::Infinite;
        assert!(matches!(decide(&c, &req), Verdict::Reject { .. }));
        let mut root = req.clone();
        root.submitter_is_slurm_operator = true;
        assert_eq!(decide(&c, &root), Verdict::accept());
        let mut by_name = req.clone();
        by_name.submit_user_name = Some("ops".into());
        assert_eq!(decide(&c, &by_name), Verdict::accept());
        let mut by_uid = req.clone();
        by_uid.submit_uid = 4242;
        assert_eq!(decide(&c, &by_uid), Verdict::accept());
        // routing exemptions skip the routing checks, not the time check
        let mut exempt = modify(Some("gpu"), None);
        exempt.submit_user_name = Some("gpuadmin".into());
        assert_eq!(decide(&c, &exempt), Verdict::accept());
        exempt.time_limit = TimeLimit::Infinite;
        assert!(matches!(decide(&c, &exempt), Verdict::Reject { .. }));
    }

    #[test]
    fn modify_without_routing_or_caps_accepts() {
        let c = Config::parse("", "x").unwrap();
        assert_eq!(
            decide(&c, &modify(Some("gpu"), Some("gres/gpu:0"))),
            Verdict::accept()
        );
    }

    fn arb_request() -> impl Strategy<Value = JobRequest> {
        let opt = |re: &'static str| proptest::option::of(re);
        (
            (
                any::<bool>(),
                opt("(gpu|cpu|gpu-long|notebooks|x)(,(gpu|cpu|short))?"),
                opt("(gres/gpu:[0-3]|gres:gpu:a100:[0-2]|gres/shard:1|cpu=[1-8])"),
                opt("(gres/gpu=[0-2]|cpu=[1-4])"),
                opt("[a-z ]{0,6}(uvicorn|qemu-kvm|jupyter lab|make)?"),
            ),
            (
                prop_oneof![
                    Just(TimeLimit::Unset),
                    Just(TimeLimit::Infinite),
                    (0u32..100_000).prop_map(TimeLimit::Minutes)
                ],
                opt("(server|vm|batch|jupyter|interactive|bogus)"),
                opt("(carol|gpuadmin|dave|ops)"),
                proptest::option::of(0u32..3),
                proptest::option::of(1u32..128),
                any::<bool>(),
            ),
        )
            .prop_map(
                |(
                    (modify, partition, node, task, script),
                    (time_limit, kind, user, het, cpus, op),
                )| {
                    JobRequest {
                        origin: if modify {
                            Origin::Modify
                        } else {
                            Origin::Submit
                        },
                        job_id: Some(7),
                        partition,
                        tres_per_node: node,
                        tres_per_task: task,
                        script,
                        time_limit,
                        spank_job_env: kind
                            .map(|k| vec![format!("RCI_KIND={k}")])
                            .unwrap_or_default(),
                        user_name: user.clone(),
                        submit_user_name: user,
                        het_job_offset: het,
                        min_cpus: cpus,
                        submitter_is_slurm_operator: op,
                        ..Default::default()
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn empty_config_changes_nothing(req in arb_request()) {
            let c = Config::parse("", "x").unwrap();
            let declared_bad = req.spank_env("RCI_KIND") == Some("bogus");
            match decide(&c, &req) {
                Verdict::Accept { changes, messages } => {
                    prop_assert!(changes.is_empty());
                    prop_assert!(messages.is_empty());
                }
                Verdict::Reject { message } => {
                    prop_assert!(declared_bad && req.origin == Origin::Submit, "{}", message);
                }
            }
        }

        #[test]
        fn gpu_jobs_never_leave_their_partition_by_routing(req in arb_request()) {
            let c = Config::parse("GpuPartitions=gpu,gpu-long DefaultPartition=gpu", "x").unwrap();
            if req.origin == Origin::Submit && crate::tres::asks_for_gpus(&req) == Some(true) {
                if let Verdict::Accept { changes, .. } = decide(&c, &req) {
                    prop_assert!(changes.partition.is_none(), "{:?}", changes);
                }
            }
        }

        #[test]
        fn every_message_is_one_rci_line(req in arb_request()) {
            let c = cfg();
            let lines: Vec<String> = match decide(&c, &req) {
                Verdict::Accept { messages, .. } => messages,
                Verdict::Reject { message } => vec![message],
            };
            for line in lines {
                prop_assert!(line.starts_with("rci: "), "{}", line);
                prop_assert!(!line.contains('\n'), "{}", line);
                if let Some(n) = req.het_job_offset {
                    if req.origin == Origin::Submit && !line.contains("unknown job kind") {
                        let expected = format!("rci: het component {n}: ");
                        prop_assert!(line.starts_with(&expected), "{}", line);
                    }
                }
            }
        }

        #[test]
        fn caps_always_hold_after_acceptance(req in arb_request()) {
            let c = cfg();
            if req.origin == Origin::Submit {
                if let (Verdict::Accept { changes, .. }, Some(class)) = (decide(&c, &req), evaluate(&c, &req).classification) {
                    let cap = classify::effective_max(c.kinds.policy(class.kind), &req);
                    let effective = changes.time_limit.map(TimeLimit::Minutes).unwrap_or(req.time_limit);
                    prop_assert!(!cap.is_exceeded_by(effective), "{:?} above {:?}", effective, cap);
                }
            }
        }
    }
}
