//! `rci explain` and `rci check-config`: the policy as users and admins can try it.
//!
//! `rci explain [--config FILE] [--user NAME] [--] <sbatch/salloc options> [script [args]]`
//! builds the request sbatch (with a script) or salloc (without) would send, the way 23.11+
//! clients write TRES (`gres/gpu:N`), runs the same decision as the plugin and prints it with
//! its reasons. `#SBATCH` lines of the script are read first, command-line options override
//! them, like sbatch. Het jobs are written with ` : ` between components (and `#SBATCH hetjob`
//! in scripts). Options that do not matter to rci are skipped; an unknown option without
//! `=value` is a usage error because it is not known whether it takes a value.
//!
//! Exit codes: 0 accepted (possibly with changes) or configuration OK, 1 rejected or
//! configuration error, 2 usage error.

use crate::config::{Config, CpuJobAction, DefaultPartitionSource, DEFAULT_PATH};
use crate::job::{JobRequest, TimeLimit, Verdict};
use crate::kinds::{JobKind, RuleOrigin};
use crate::policy::classify::{self, Classification, DetectedBy};
use crate::policy::routing::{Exemption, RoutingOutcome};
use crate::policy::time::TimeOutcome;
use crate::policy::{evaluate, evaluate_in_het, Evaluation};
use crate::slurm_time::{format_limit, format_minutes};
use crate::tres::GpuRequest;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

pub use super::check_config::{run_check_config, summary};
pub use super::sbatch_args::*;

/// Exit code: accepted / OK.
pub const EXIT_OK: i32 = 0;
/// Exit code: rejected, or a configuration error.
pub const EXIT_FAIL: i32 = 1;
/// Exit code: bad command line.
pub const EXIT_USAGE: i32 = 2;

/// Usage text of the `rci` binary.
pub const USAGE: &str = "\
usage: rci explain [--config FILE] [--user NAME] [--] [sbatch/salloc options] [script [args]]
       rci check-config [FILE]
       rci report [FILES|DIRS...] --by user|account|partition|month|node [--since DATE]
                  [--until DATE] [--format table|csv|json]      (or: --job ID)
       rci doctor [--conf FILE] [--node NAME] [--only AREAS] [--json]   (rci doctor --help)
       rci sync [--state FILE] [--dry-run] SPOOL_DIR|SYSLOG_FILE...      (rci sync --help)
       rci job JOBID [--json]
Options understood by explain: -p/--partition -J/--job-name -A/--account -q/--qos --comment
  -t/--time --gres -G/--gpus --gpus-per-node --gpus-per-task --gpus-per-socket --tres-per-task
  -c/--cpus-per-task -n/--ntasks -a/--array --wrap --rci-kind, ':' between het components.
The configuration defaults to $RCI_CONF, else rci.conf next to $SLURM_CONF, else\n/etc/slurm/rci.conf.";

/// Usage of `rci explain`.
pub const EXPLAIN_USAGE: &str = "\
usage: rci explain [--config FILE] [--user NAME] [--] [sbatch/salloc options] [script [args]]
Shows what job_submit_rci would do with the job sbatch (with a script) or salloc (without)
would submit: its kind and why, routing, time limit, QOS. Exit code 0 accepted (possibly with
changes), 1 rejected or a configuration error, 2 a usage error.
Options understood: -p/--partition -J/--job-name -A/--account -q/--qos --comment -t/--time
  --gres -G/--gpus --gpus-per-node --gpus-per-task --gpus-per-socket --tres-per-task
  -c/--cpus-per-task -n/--ntasks -a/--array --wrap --rci-kind, ':' between het components.
The configuration defaults to $RCI_CONF, else rci.conf next to $SLURM_CONF, else
/etc/slurm/rci.conf.";

/// True when `-h`/`--help` comes before any `--` (after it, arguments belong to the job).
pub fn asks_for_help(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| a.as_str() != "--")
        .any(|a| a == "-h" || a == "--help")
}

/// What the CLI knows about its surroundings (kept out of the logic for tests).
#[derive(Debug, Clone)]
pub struct CliEnv {
    /// `$RCI_CONF` or [`DEFAULT_PATH`].
    pub default_config: PathBuf,
    /// `$USER`, for the job's user when `--user` is not given.
    pub user: Option<String>,
    /// The caller's uid.
    pub uid: u32,
}

impl Default for CliEnv {
    fn default() -> Self {
        CliEnv {
            default_config: PathBuf::from(DEFAULT_PATH),
            user: None,
            uid: u32::MAX,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

fn describe_gpus(gpus: Option<GpuRequest>) -> String {
    match gpus {
        None | Some(GpuRequest::None) => "none".to_owned(),
        Some(GpuRequest::Zero) => "none (zero count)".to_owned(),
        Some(GpuRequest::Gpus(1)) => "1 GPU".to_owned(),
        Some(GpuRequest::Gpus(n)) => format!("{n} GPUs"),
        Some(GpuRequest::Unreadable) => {
            "yes (count not readable, counted as a GPU request)".to_owned()
        }
    }
}

fn describe_kind(cfg: &Config, req: &JobRequest, class: &Classification) -> String {
    let mut s = String::new();
    let detected = match class.detected_by {
        DetectedBy::Rule(i) => match cfg.kinds.rules().get(i) {
            Some(rule) => {
                let origin = match rule.origin {
                    RuleOrigin::Config { line } => format!("{}:{line}", cfg.source),
                    RuleOrigin::Builtin => "built-in".to_owned(),
                };
                let mut text = format!("{} by {} ({origin})", class.detected, rule.text);
                if let (Some(pattern), Some(script)) = (&rule.script, req.script.as_deref()) {
                    if let Some(at) = pattern.find_in(script) {
                        let before = script.get(..at).unwrap_or("");
                        let number = before.matches('\n').count() + 1;
                        let start = before.rfind('\n').map_or(0, |p| p + 1);
                        let line = script
                            .get(start..)
                            .and_then(|rest| rest.lines().next())
                            .unwrap_or("")
                            .trim();
                        let _ = write!(text, "; script line {number}: {line}");
                    }
                }
                text
            }
            None => class.detected.to_string(),
        },
        DetectedBy::NoScript => format!("{} (no batch script: salloc/srun)", class.detected),
        DetectedBy::Fallback => format!("{} (no kind rule matched)", class.detected),
        DetectedBy::HetLeader => format!(
            "{} (the kind of het component 0: the whole job is judged by it)",
            class.detected
        ),
        DetectedBy::HetLeaderUnknown => format!(
            "{} (het component 0 not seen: the stricter of interactive and batch)",
            class.detected
        ),
    };
    let _ = write!(s, "{}", class.kind);
    match class.declared {
        Some(d) if class.declared_won() => {
            let _ = write!(
                s,
                " — declared with --rci-kind={d}, stricter than the detected kind {detected}"
            );
        }
        Some(d) if d == class.detected => {
            let _ = write!(s, " — declared with --rci-kind={d}; detected {detected}");
        }
        Some(d) => {
            let _ = write!(
                s,
                " — detected {detected}; --rci-kind={d} ignored (a declared kind may only be stricter)"
            );
        }
        None => {
            let _ = write!(s, " — detected {detected}");
        }
    }
    s
}

fn describe_routing(
    cfg: &Config,
    req: &JobRequest,
    ev: &Evaluation<'_>,
    outcome: &RoutingOutcome<'_>,
) -> String {
    let r = &cfg.routing;
    let effective = ev.kind_partition.or(req.partition.as_deref());
    let shown = effective.map_or_else(
        || match (&r.default_partition, &r.default_partition_source) {
            (Some(d), DefaultPartitionSource::SlurmConf(p)) => {
                format!("(default: {d}, from {})", p.display())
            }
            (Some(d), _) => format!("(default: {d}, DefaultPartition)"),
            (None, _) => "(default)".to_owned(),
        },
        str::to_owned,
    );
    let action = match r.action {
        CpuJobAction::Reroute => "reroute",
        CpuJobAction::Reject => "reject",
        CpuJobAction::Allow => "allow",
    };
    match outcome {
        RoutingOutcome::Disabled => format!("{shown} (routing off: no GpuPartitions)"),
        RoutingOutcome::Exempt(e) => {
            let why = match e {
                Exemption::User => "the user is in ExemptUsers",
                Exemption::Account => "the account is in ExemptAccounts",
                Exemption::Qos => "the QOS is in ExemptQos",
            };
            format!("{shown} (exempt from routing: {why})")
        }
        RoutingOutcome::AsksForGpus => format!("{shown} (kept: the job asks for GPUs)"),
        RoutingOutcome::NotOnGpuPartition => format!("{shown} (not a GPU partition)"),
        RoutingOutcome::DefaultUnknown => format!(
            "{shown} (default partition unknown: set DefaultPartition= in rci.conf or Default=YES in slurm.conf; routing leaves the job alone)"
        ),
        RoutingOutcome::Allowed => match r.allow_max_cpus {
            Some(max) => format!(
                "{shown} (CpuJobsOnGpuPartitions=allow, {} CPUs within AllowMaxCpus={max})",
                req.min_cpus.unwrap_or(1)
            ),
            None => format!("{shown} (CpuJobsOnGpuPartitions=allow)"),
        },
        RoutingOutcome::Narrowed { kept } => format!(
            "{shown} -> {kept} (no GPU request: GPU partitions dropped from the list)"
        ),
        RoutingOutcome::Rerouted { to, .. } => format!(
            "{shown} -> {to} (no GPU request; CpuJobsOnGpuPartitions={action}, CpuPartition={to})"
        ),
        RoutingOutcome::Rejected { .. } => {
            format!("{shown} rejected (no GPU request; CpuJobsOnGpuPartitions={action})")
        }
    }
}

fn describe_time(cfg: &Config, req: &JobRequest, ev: &Evaluation<'_>) -> String {
    let requested = match req.time_limit {
        TimeLimit::Unset => "not given".to_owned(),
        other => format_limit(other),
    };
    let Some(class) = ev.classification else {
        return format!("{requested} (no job kind has a time policy)");
    };
    let kind = class.kind;
    let policy = cfg.kinds.policy(kind);
    match ev.time {
        None => format!("{requested} (not reached)"),
        Some(TimeOutcome::Kept) => match classify::effective_max(policy, req).minutes() {
            Some(cap) => format!(
                "{requested} (within {} for {kind} jobs)",
                format_minutes(cap)
            ),
            None => format!("{requested} (no MaxTime for {kind} jobs)"),
        },
        Some(TimeOutcome::Defaulted { minutes, source }) => {
            format!(
                "{requested} -> {} ({} for {kind} jobs)",
                format_minutes(minutes),
                source.key()
            )
        }
        Some(TimeOutcome::Capped {
            minutes, source, ..
        }) => format!(
            "{requested} -> {} (capped: {} for {kind} jobs, Action=cap)",
            format_minutes(minutes),
            source.key()
        ),
        Some(TimeOutcome::Rejected { max, source, .. }) => format!(
            "{requested} rejected (above {} {} for {kind} jobs, Action=reject)",
            source.key(),
            format_minutes(max)
        ),
    }
}

/// The explanation of one request, and whether it was accepted.
pub fn render(cfg: &Config, req: &JobRequest) -> (String, bool) {
    render_in_het(cfg, req, None)
}

/// [`render`] for a component of a het job whose component 0 got `leader_kind`.
pub fn render_in_het(
    cfg: &Config,
    req: &JobRequest,
    leader_kind: Option<JobKind>,
) -> (String, bool) {
    let ev = evaluate_in_het(cfg, req, leader_kind);
    let mut s = String::new();
    if let Some(n) = req.het_job_offset {
        let _ = writeln!(s, "het component {n}:");
    }
    let _ = writeln!(s, "  GPU request: {}", describe_gpus(ev.gpus));
    match (&ev.classification, &ev.verdict) {
        (Some(class), _) => {
            let _ = writeln!(s, "  kind:        {}", describe_kind(cfg, req, class));
        }
        (None, Verdict::Reject { .. }) if ev.routing.is_none() => {
            let _ = writeln!(s, "  kind:        invalid --rci-kind");
        }
        (None, _) => {
            let _ = writeln!(
                s,
                "  kind:        not classified (no job kind has a policy)"
            );
        }
    }
    if let Some(outcome) = &ev.routing {
        let _ = writeln!(
            s,
            "  partition:   {}",
            describe_routing(cfg, req, &ev, outcome)
        );
    }
    if ev.routing.is_some() {
        let _ = writeln!(s, "  time limit:  {}", describe_time(cfg, req, &ev));
    }
    let accepted = match &ev.verdict {
        Verdict::Accept { changes, messages } => {
            if changes.is_empty() {
                let _ = writeln!(s, "  verdict:     accept unchanged");
            } else {
                let mut parts = Vec::new();
                if let Some(p) = &changes.partition {
                    parts.push(format!("partition={p}"));
                }
                if let Some(t) = changes.time_limit {
                    parts.push(format!("time={}", format_minutes(t)));
                }
                if let Some(q) = &changes.qos {
                    parts.push(format!("qos={q}"));
                }
                let _ = writeln!(s, "  verdict:     accept with {}", parts.join(" "));
            }
            for m in messages {
                let _ = writeln!(s, "  user sees:   {m}");
            }
            true
        }
        Verdict::Reject { message } => {
            let _ = writeln!(s, "  verdict:     reject");
            let _ = writeln!(s, "  user sees:   error: {message}");
            false
        }
    };
    (s, accepted)
}

// ---------------------------------------------------------------------------------------------
// Subcommands
// ---------------------------------------------------------------------------------------------

/// `rci explain ...`; returns the exit code.
pub fn run_explain(args: &[String], env: &CliEnv, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if asks_for_help(args) {
        let _ = writeln!(out, "{EXPLAIN_USAGE}");
        return EXIT_OK;
    }
    let parsed = match parse_explain_args(args).and_then(|a| {
        let line = parse_sbatch_args(&a.sbatch)?;
        Ok((a, line))
    }) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "rci explain: {e}\n{USAGE}");
            return EXIT_USAGE;
        }
    };
    let (args, line) = parsed;
    let config_path = args.config.unwrap_or_else(|| env.default_config.clone());
    let cfg = match Config::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return EXIT_FAIL;
        }
    };
    let script = match &line.script {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) => {
                let _ = writeln!(err, "rci explain: cannot read script {path}: {e}");
                return EXIT_FAIL;
            }
        },
        None => None,
    };
    let user = args.user.as_deref().or(env.user.as_deref());
    let requests = match build_requests(&line, script.as_deref(), user, env.uid) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "rci explain: {e}");
            return EXIT_USAGE;
        }
    };
    explain_requests(&cfg, &requests, out)
}

/// Prints the explanation of already built requests; returns the exit code.
pub fn explain_requests(cfg: &Config, requests: &[JobRequest], out: &mut dyn Write) -> i32 {
    let _ = writeln!(out, "config: {}", cfg.source);
    let mut all_accepted = true;
    // Like slurmctld: later het components are judged with component 0's kind.
    let mut leader_kind = None;
    for req in requests {
        if req.het_job_offset.unwrap_or(0) == 0 {
            leader_kind = evaluate(cfg, req).classification.map(|c| c.kind);
        }
        let (text, accepted) = render_in_het(cfg, req, leader_kind);
        let _ = write!(out, "{text}");
        all_accepted &= accepted;
    }
    if all_accepted {
        EXIT_OK
    } else {
        EXIT_FAIL
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    const CONF: &str = "GpuPartitions=gpu DefaultPartition=gpu\n\
        Kind=server MaxTime=7-00:00:00 DefaultTime=1-00:00:00\n\
        Kind=interactive MaxTime=8:00:00 Action=reject\n";

    fn cfg() -> Config {
        Config::parse(CONF, "/etc/slurm/rci.conf").unwrap()
    }

    #[test]
    fn explain_args_split() {
        let a = parse_explain_args(&args("--config /x.conf --user bob -- -p gpu job.sh")).unwrap();
        assert_eq!(a.config.as_deref(), Some(Path::new("/x.conf")));
        assert_eq!(a.user.as_deref(), Some("bob"));
        assert_eq!(a.sbatch, args("-p gpu job.sh"));
        let b = parse_explain_args(&args("--config=/y -p gpu")).unwrap();
        assert_eq!(b.config.as_deref(), Some(Path::new("/y")));
        assert_eq!(b.sbatch, args("-p gpu"));
        assert!(parse_explain_args(&args("--user")).is_err());
        assert_eq!(
            parse_explain_args(&[]).unwrap().sbatch,
            Vec::<String>::new()
        );
    }

    #[test]
    fn sbatch_option_forms() {
        let l = parse_sbatch_args(&args(
            "-pgpu -J name --account=acct -q high --comment=c -t 2:00:00 --gres=gpu:a100:2 -G 3 \
             --gpus-per-node=1 --gpus-per-task 1 --gpus-per-socket=1 -c 4 -n2 --rci-kind server \
             -a 0-9 --mem=4G -N 1 --exclusive -vv --unknown=x job.sh --not-an-option",
        ))
        .unwrap();
        assert_eq!(l.components.len(), 1);
        let c = &l.components[0];
        assert_eq!(c.partition.as_deref(), Some("gpu"));
        assert_eq!(c.job_name.as_deref(), Some("name"));
        assert_eq!(c.account.as_deref(), Some("acct"));
        assert_eq!(c.qos.as_deref(), Some("high"));
        assert_eq!(c.comment.as_deref(), Some("c"));
        assert_eq!(c.time, Some(TimeLimit::Minutes(120)));
        assert_eq!(c.gres.as_deref(), Some("gpu:a100:2"));
        assert_eq!(c.gpus.as_deref(), Some("3"));
        assert_eq!(c.gpus_per_node.as_deref(), Some("1"));
        assert_eq!(c.gpus_per_task.as_deref(), Some("1"));
        assert_eq!(c.gpus_per_socket.as_deref(), Some("1"));
        assert_eq!(c.cpus_per_task, Some(4));
        assert_eq!(c.ntasks, Some(2));
        assert_eq!(c.rci_kind.as_deref(), Some("server"));
        assert_eq!(c.array.as_deref(), Some("0-9"));
        assert_eq!(l.script.as_deref(), Some("job.sh"));
    }

    #[test]
    fn sbatch_option_errors() {
        assert!(parse_sbatch_args(&args("--frobnicate 3"))
            .unwrap_err()
            .contains("--frobnicate=VALUE"));
        assert!(parse_sbatch_args(&args("-p"))
            .unwrap_err()
            .contains("-p needs a value"));
        assert!(parse_sbatch_args(&args("-t forever"))
            .unwrap_err()
            .contains("invalid time 'forever'"));
        assert!(parse_sbatch_args(&args("-c 0"))
            .unwrap_err()
            .contains("positive number"));
        assert!(parse_sbatch_args(&args("-Z"))
            .unwrap_err()
            .contains("unknown option -Z"));
    }

    #[test]
    fn time_zero_means_unlimited() {
        let l = parse_sbatch_args(&args("-t 0")).unwrap();
        assert_eq!(l.components[0].time, Some(TimeLimit::Infinite));
    }

    #[test]
    fn tres_strings_like_23_11_clients() {
        let l = parse_sbatch_args(&args(
            "--gres=gpu:2,shard:1 --gpus-per-node=a100:1 -G 2 --gpus-per-task=1 -c 4 --gpus-per-socket=1 -n 3",
        ))
        .unwrap();
        let reqs = build_requests(&l, None, Some("dave"), 1000).unwrap();
        let r = &reqs[0];
        assert_eq!(
            r.tres_per_node.as_deref(),
            Some("gres/gpu:2,gres/shard:1,gres/gpu:a100:1")
        );
        assert_eq!(r.tres_per_job.as_deref(), Some("gres/gpu:2"));
        assert_eq!(r.tres_per_task.as_deref(), Some("cpu:4,gres/gpu:1"));
        assert_eq!(r.tres_per_socket.as_deref(), Some("gres/gpu:1"));
        assert_eq!(r.min_cpus, Some(12));
        assert_eq!(r.script, None, "no script: salloc-like");
        assert_eq!(r.user_name.as_deref(), Some("dave"));
        let none = build_requests(
            &parse_sbatch_args(&args("--gres=none")).unwrap(),
            None,
            None,
            1,
        )
        .unwrap();
        assert_eq!(none[0].tres_per_node, None);
    }

    #[test]
    fn het_components_and_script_directives() {
        let script =
            "#!/bin/bash\n#SBATCH -p gpu --time=1-0\n#SBATCH --gres=gpu:1\n#SBATCH hetjob\n\
                      #SBATCH -p cpu -c 2 # comment\necho hi\n#SBATCH -p ignored\n";
        let l = parse_sbatch_args(&args("-t 2:00:00 : -J second job.sh")).unwrap();
        assert_eq!(l.components.len(), 2);
        let reqs = build_requests(&l, Some(script), None, 5).unwrap();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].het_job_offset, Some(0));
        assert_eq!(reqs[0].partition.as_deref(), Some("gpu"));
        assert_eq!(
            reqs[0].time_limit,
            TimeLimit::Minutes(120),
            "command line wins"
        );
        assert_eq!(reqs[0].tres_per_node.as_deref(), Some("gres/gpu:1"));
        assert_eq!(reqs[0].name.as_deref(), Some("job.sh"));
        assert!(reqs[0].script.is_some());
        assert_eq!(reqs[1].het_job_offset, Some(1));
        assert_eq!(
            reqs[1].partition.as_deref(),
            Some("cpu"),
            "directives after the first command are ignored"
        );
        assert_eq!(reqs[1].tres_per_task.as_deref(), Some("cpu:2"));
        assert_eq!(reqs[1].name.as_deref(), Some("second"));
        assert_eq!(
            reqs[1].script, None,
            "sbatch sends the script with component 0 only"
        );
    }

    #[test]
    fn wrap_makes_a_script() {
        let l = parse_sbatch_args(&["--wrap".to_owned(), "uvicorn app:app".to_owned()]).unwrap();
        let reqs = build_requests(&l, None, None, 5).unwrap();
        assert_eq!(
            reqs[0].script.as_deref(),
            Some("#!/bin/sh\nuvicorn app:app\n")
        );
        assert_eq!(reqs[0].name.as_deref(), Some("wrap"));
    }

    #[test]
    fn render_reroute_and_cap() {
        let c = cfg();
        let l = parse_sbatch_args(&args("-p gpu -t 30-0 --rci-kind=server")).unwrap();
        let reqs =
            build_requests(&l, Some("#!/bin/sh\npython serve.py\n"), Some("dave"), 1000).unwrap();
        let (text, accepted) = render(&c, &reqs[0]);
        assert!(accepted);
        assert!(text.contains("GPU request: none"), "{text}");
        assert!(text.contains("kind:        server — declared with --rci-kind=server, stricter than the detected kind batch (no kind rule matched)"), "{text}");
        assert!(text.contains("partition:   gpu -> cpu (no GPU request; CpuJobsOnGpuPartitions=reroute, CpuPartition=cpu)"), "{text}");
        assert!(text.contains("time limit:  30-00:00:00 -> 7-00:00:00 (capped: MaxTime for server jobs, Action=cap)"), "{text}");
        assert!(
            text.contains("verdict:     accept with partition=cpu time=7-00:00:00"),
            "{text}"
        );
        assert!(
            text.contains("user sees:   rci: job has no GPU request; partition gpu -> cpu"),
            "{text}"
        );
    }

    #[test]
    fn render_detection_rule_with_script_line() {
        let c = cfg();
        let l = parse_sbatch_args(&args("-p gpu --gres=gpu:1")).unwrap();
        let script =
            "#!/bin/sh\n# uvicorn in a comment\nsource venv/bin/activate\nexec uvicorn app:app\n";
        let reqs = build_requests(&l, Some(script), None, 1000).unwrap();
        let (text, accepted) = render(&c, &reqs[0]);
        assert!(accepted);
        assert!(text.contains("GPU request: 1 GPU"), "{text}");
        assert!(text.contains("detected server by KindRule=server Script=uvicorn (built-in); script line 4: exec uvicorn app:app"), "{text}");
        assert!(
            text.contains("partition:   gpu (kept: the job asks for GPUs)"),
            "{text}"
        );
        assert!(
            text.contains("time limit:  not given -> 1-00:00:00 (DefaultTime for server jobs)"),
            "{text}"
        );
    }

    #[test]
    fn render_rejection_and_exit_code() {
        let c = cfg();
        let l = parse_sbatch_args(&args("-p cpu -t 1-0")).unwrap();
        let reqs = build_requests(&l, None, None, 1000).unwrap();
        let mut out = Vec::new();
        let code = explain_requests(&c, &reqs, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(code, EXIT_FAIL);
        assert!(text.starts_with("config: /etc/slurm/rci.conf\n"), "{text}");
        assert!(
            text.contains(
                "kind:        interactive — detected interactive (no batch script: salloc/srun)"
            ),
            "{text}"
        );
        assert!(text.contains("verdict:     reject"), "{text}");
        assert!(
            text.contains(
                "user sees:   error: rci: interactive job; time limit 1-00:00:00 is above 08:00:00"
            ),
            "{text}"
        );
    }

    #[test]
    fn run_explain_end_to_end_with_files() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("rci.conf");
        std::fs::write(&conf, CONF).unwrap();
        let script = dir.path().join("vm.sh");
        std::fs::write(
            &script,
            "#!/bin/bash\n#SBATCH -t 10-0\nqemu-system-x86_64 -m 4G\n",
        )
        .unwrap();
        let env = CliEnv {
            default_config: conf.clone(),
            user: Some("eve".into()),
            uid: 1001,
        };
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = run_explain(
            &[
                "--".to_owned(),
                "-p".to_owned(),
                "cpu".to_owned(),
                script.display().to_string(),
            ],
            &env,
            &mut out,
            &mut err,
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(code, EXIT_OK, "{text}{}", String::from_utf8_lossy(&err));
        assert!(
            text.contains(
                "detected vm by KindRule=vm Script=qemu-system-* (built-in); script line 3"
            ),
            "{text}"
        );
        // vm has no policy in CONF: the limit stays
        assert!(
            text.contains("time limit:  10-00:00:00 (no MaxTime for vm jobs)"),
            "{text}"
        );

        let mut err = Vec::new();
        let code = run_explain(&args("-p"), &env, &mut Vec::new(), &mut err);
        assert_eq!(code, EXIT_USAGE);
        assert!(String::from_utf8(err).unwrap().contains("-p needs a value"));

        let mut err = Vec::new();
        let code = run_explain(&args("-- missing.sh"), &env, &mut Vec::new(), &mut err);
        assert_eq!(code, EXIT_FAIL);
        assert!(String::from_utf8(err)
            .unwrap()
            .contains("cannot read script missing.sh"));
    }

    #[test]
    fn check_config_ok_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("rci.conf");
        std::fs::write(&good, CONF).unwrap();
        let env = CliEnv {
            default_config: good.clone(),
            ..Default::default()
        };
        let mut out = Vec::new();
        assert_eq!(
            run_check_config(&[], &env, &mut out, &mut Vec::new()),
            EXIT_OK
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(&format!("OK: {}\n", good.display())),
            "{text}"
        );
        assert!(
            text.contains("routing: CPU-only jobs on gpu: reroute to cpu"),
            "{text}"
        );
        assert!(
            text.contains("server: MaxTime=7-00:00:00 DefaultTime=1-00:00:00"),
            "{text}"
        );
        assert!(text.contains("UpdateMaxTime: 08:00:00"), "{text}");

        let bad = dir.path().join("bad.conf");
        std::fs::write(&bad, "GpuPartiton=gpu\nKind=vm MaxTime=x\n").unwrap();
        let mut err = Vec::new();
        let code = run_check_config(
            &[bad.display().to_string()],
            &env,
            &mut Vec::new(),
            &mut err,
        );
        assert_eq!(code, EXIT_FAIL);
        let text = String::from_utf8(err).unwrap();
        assert!(
            text.contains(&format!(
                "{}:1: unknown key 'GpuPartiton' (did you mean GpuPartitions?)",
                bad.display()
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("{}:2: MaxTime: invalid time 'x'", bad.display())),
            "{text}"
        );
        assert_eq!(
            run_check_config(&args("a b"), &env, &mut Vec::new(), &mut Vec::new()),
            EXIT_USAGE
        );
    }
}
