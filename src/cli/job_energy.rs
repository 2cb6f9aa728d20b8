//! `rci job JOBID`: one job's energy by component, GPU-hours, CO2, cost and the assumptions
//! used, like `seff` — for any user, read from slurmdbd with `sacct` (so a user sees exactly what
//! Slurm lets them see: with `PrivateData=jobs` only their own jobs), from the summary
//! `rci sync` wrote into the job's AdminComment. root can also read the spool directly.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::cli::command;
use crate::cli::sync::collect::{add_record, input_files, read_new, JobState};
use crate::cli::sync::summary::JobSummary;

/// Usage of `rci job`.
pub const USAGE: &str = "\
usage: rci job JOBID [--json] [--spool DIR]...
The job's energy (CPU and GPU), GPU-hours, CO2 and cost, from the summary `rci sync` wrote into
its AdminComment in slurmdbd. root may also read spool directories (--spool; default the
accounting spool) for a job not synced yet.";

/// What `rci job` shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
struct JobView {
    job_id: u32,
    name: String,
    user: String,
    account: String,
    partition: String,
    qos: String,
    state: String,
    elapsed: String,
    exit_code: String,
    /// `slurmdbd` (the synced summary) or `spool` (root's fallback).
    source: String,
    summary: JobSummary,
}

fn parse(args: &[String]) -> Result<Option<(u32, bool, Vec<PathBuf>)>, String> {
    let mut id = None;
    let mut json = false;
    let mut spools = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--json" => json = true,
            "--spool" => spools.push(PathBuf::from(it.next().ok_or("--spool needs a directory")?)),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            n => {
                id = Some(
                    n.parse::<u32>()
                        .map_err(|_| format!("'{n}' is not a job id"))?,
                )
            }
        }
    }
    let id = id.ok_or("give a job id")?;
    Ok(Some((id, json, spools)))
}

/// `rci job ARGS`; returns the exit code.
pub fn run_job(args: &[String], is_root: bool, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let (id, json, mut spools) = match parse(args) {
        Ok(Some(p)) => p,
        Ok(None) => {
            let _ = writeln!(out, "{USAGE}");
            return 0;
        }
        Err(e) => {
            let _ = writeln!(err, "rci job: {e}\n{USAGE}");
            return 2;
        }
    };
    let from_db = from_slurmdbd(id);
    let view = match from_db {
        Ok(Some(view)) => view,
        other => {
            let why = match other {
                Err(e) => e,
                Ok(_) => {
                    format!("job {id} has no rci summary in slurmdbd, or is not visible to you")
                }
            };
            if !is_root {
                let _ = writeln!(err, "rci job: {why}");
                return 1;
            }
            if spools.is_empty() {
                spools.push(PathBuf::from(crate::energy::DEFAULT_SPOOL_DIR));
            }
            match from_spool(id, &spools) {
                Ok(Some(view)) => view,
                Ok(None) => {
                    let _ = writeln!(err, "rci job: {why}; no record in the spool either");
                    return 1;
                }
                Err(e) => {
                    let _ = writeln!(err, "rci job: {why}; {e}");
                    return 1;
                }
            }
        }
    };
    let text = if json {
        serde_json::to_string_pretty(&view).unwrap_or_default() + "\n"
    } else {
        render(&view)
    };
    let _ = out.write_all(text.as_bytes());
    0
}

fn from_slurmdbd(id: u32) -> Result<Option<JobView>, String> {
    let sacct = command::on_path("sacct").ok_or("no sacct on PATH")?;
    let list = id.to_string();
    let ran = command::run(
        &sacct,
        &[
            "-X",
            "-n",
            "-P",
            "-j",
            &list,
            "-o",
            "JobIDRaw,JobName,User,Account,Partition,QOS,State,Elapsed,ExitCode,AdminComment",
        ],
        None,
        Duration::from_secs(60),
    )?;
    if !ran.success {
        return Err(format!("sacct failed: {}", ran.stderr.trim()));
    }
    for line in ran.stdout.lines() {
        let f: Vec<&str> = line.splitn(10, '|').collect();
        if f.len() < 10 || f[0].trim() != list {
            continue;
        }
        let Some(summary) = JobSummary::from_admin_comment(f[9]) else {
            return Ok(None);
        };
        return Ok(Some(JobView {
            job_id: id,
            name: f[1].into(),
            user: f[2].into(),
            account: f[3].into(),
            partition: f[4].into(),
            qos: f[5].into(),
            state: f[6].into(),
            elapsed: f[7].into(),
            exit_code: f[8].into(),
            source: "slurmdbd".into(),
            summary,
        }));
    }
    Ok(None)
}

fn from_spool(id: u32, spools: &[PathBuf]) -> Result<Option<JobView>, String> {
    let mut job = JobState::default();
    let mut view = JobView {
        job_id: id,
        source: "spool".into(),
        ..JobView::default()
    };
    for file in input_files(spools)? {
        read_new(&file, None, |r| {
            if r.job_id == id {
                if view.user.is_empty() {
                    view.user.clone_from(&r.user);
                    view.name.clone_from(&r.job_name);
                    view.account.clone_from(&r.account);
                    view.partition.clone_from(&r.partition);
                    view.qos = r.qos.clone().unwrap_or_default();
                }
                add_record(&mut job, &r);
            }
        })?;
    }
    if job.records.is_empty() {
        return Ok(None);
    }
    view.summary = job.summary;
    Ok(Some(view))
}

fn render(v: &JobView) -> String {
    let s = &v.summary;
    let p = |t: &str| crate::cli::report::printable(t).into_owned();
    let mut lines = vec![
        format!("Job ID: {}   Name: {}", v.job_id, p(&v.name)),
        format!(
            "User/Account: {}/{}   Partition: {}   QOS: {}",
            p(&v.user),
            p(&v.account),
            p(&v.partition),
            p(&v.qos)
        ),
    ];
    if !v.state.is_empty() {
        lines.push(format!(
            "State: {} (exit code {})   Elapsed: {}",
            v.state, v.exit_code, v.elapsed
        ));
    }
    lines.push(format!("Nodes: {}", s.nodes));
    lines.push(format!(
        "Energy (IT): {:.6} kWh = CPU {:.6} + GPU {:.6} kWh   ({:.0} J)",
        s.kwh, s.cpu_kwh, s.gpu_kwh, s.joules
    ));
    for (model, kwh) in &s.gpu_kwh_by_model {
        lines.push(format!("  GPU {}: {kwh:.6} kWh", p(model)));
    }
    lines.push(format!(
        "Facility energy: {:.6} kWh (PUE {})",
        s.facility_kwh, s.pue
    ));
    lines.push(format!(
        "CO2: {:.1} g (at {} g CO2e/kWh)",
        s.co2_g, s.carbon_intensity_g_per_kwh
    ));
    lines.push(format!(
        "CPU-hours: {:.4}   GPU-hours: {:.4}",
        s.cpu_hours, s.gpu_hours
    ));
    lines.push(format!(
        "Cost: {:.4} {} ({} per facility kWh, plus CPU- and GPU-hour prices)",
        s.cost, s.currency, s.energy_price_per_kwh
    ));
    if !s.missing.is_empty() {
        lines.push(format!("Not measured: {}", s.missing.join(", ")));
    }
    lines.push(format!(
        "Source: {}",
        if v.source == "slurmdbd" {
            "rci's summary in slurmdbd (rci sync)"
        } else {
            "the accounting spool (not synced to slurmdbd yet)"
        }
    ));
    lines.join("\n") + "\n"
}
