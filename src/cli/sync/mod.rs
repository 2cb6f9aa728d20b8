//! `rci sync`: puts each job's energy, CO2, cost and GPU-hours where accountants and users
//! already look, the job's AdminComment in slurmdbd (and on Slurm 25.11+ its energy TRES, which
//! `sacct -o ConsumedEnergy` and sreport read).
//!
//! Run on the head node as a Slurm administrator (a systemd timer or cron: see
//! `slurm-conf/example/rci-sync.*`). Each run:
//! 1. reads what is new in the inputs (spool directories, e.g. on a shared filesystem, and
//!    files a central syslog writes), from where the last run stopped (the state file);
//! 2. sums each job over its nodes (a record seen twice, in a spool and a syslog file, counts
//!    once);
//! 3. asks slurmdbd (`sacct`, batched) for each changed or not yet written job's AdminComment
//!    and, with `sacctmgr` reading many commands from its stdin in one process, replaces only
//!    the rci token in it (see [`summary`]); jobs whose AdminComment already holds the token are
//!    not written again;
//! 4. saves the state (atomically) only after slurmdbd took the writes. A crash in between
//!    makes the next run read and compare again, and write nothing twice.
//!
//! A job not (yet) in slurmdbd is retried on later runs, at most `--max-attempts` times, then
//! reported as unmatched (never dropped silently). slurmdbd down or refusing: the run fails
//! naming the command and its error, and the state stays as it was.

pub mod collect;
pub mod from_sacct;
pub mod summary;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cli::command;
use collect::{add_record, input_files, job_key, read_new, FileMark, Jobs};
use summary::with_token;

/// Usage of `rci sync`.
pub const USAGE: &str = "\
usage: rci sync [--state FILE] [--dry-run] [--max-attempts N] [--batch N] [--cluster NAME]
                SPOOL_DIR|SYSLOG_FILE...
Writes each job's energy summary into its AdminComment in slurmdbd (and on Slurm 25.11+ its
energy TRES), from the records in the given spool directories (*.jsonl) and files a central
syslog writes. Run as a Slurm administrator on the head node, from a timer.
  --state FILE       where the last run stopped (default /var/lib/rci/sync.state)
  --dry-run          print the sacctmgr commands instead of running them; save nothing
  --max-attempts N   runs a job may be missing from slurmdbd before it is reported (default 20)
  --batch N          jobs per sacct/sacctmgr call (default 500)
  --cluster NAME     only records of this cluster (default: every cluster, by sacct -M)";

/// Default state file.
pub const DEFAULT_STATE: &str = "/var/lib/rci/sync.state";
/// How long one sacct/sacctmgr call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(300);
/// Synced jobs older than this leave the state.
const KEEP_DAYS: i64 = 60;

#[derive(Debug, Clone, PartialEq)]
struct Options {
    inputs: Vec<PathBuf>,
    state: PathBuf,
    dry_run: bool,
    max_attempts: u32,
    batch: usize,
    cluster: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        inputs: Vec::new(),
        state: PathBuf::from(DEFAULT_STATE),
        dry_run: false,
        max_attempts: 20,
        batch: 500,
        cluster: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--dry-run" => o.dry_run = true,
            "--state" => o.state = PathBuf::from(value()?),
            "--cluster" => o.cluster = Some(value()?),
            "--max-attempts" => {
                o.max_attempts = value()?
                    .parse()
                    .map_err(|_| "--max-attempts takes a number".to_owned())?
            }
            "--batch" => {
                o.batch = value()?
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .ok_or_else(|| "--batch takes a number above 0".to_owned())?
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            input => o.inputs.push(PathBuf::from(input)),
        }
    }
    if o.inputs.is_empty() {
        return Err("give at least one spool directory or syslog file".to_owned());
    }
    Ok(Some(o))
}

/// What the state file keeps between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    version: u32,
    files: BTreeMap<String, FileMark>,
    jobs: Jobs,
}

fn load_state(path: &Path) -> Result<State, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "state file {} is damaged ({e}); move it away to start over (jobs already \
                 written are not written twice)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State {
            version: 1,
            ..State::default()
        }),
        Err(e) => Err(format!("cannot read state file {}: {e}", path.display())),
    }
}

fn save_state(path: &Path, state: &State) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec(state).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write state file {}: {e}", path.display()))
}

/// What slurmdbd has for a job.
#[derive(Debug, Clone, Default, PartialEq)]
struct DbJob {
    admin_comment: String,
    consumed_energy_raw: Option<u64>,
}

/// `(major, minor)` of the Slurm clients here (`sacctmgr -V`).
fn slurm_release(sacctmgr: &Path) -> Option<(u32, u32)> {
    let ran = command::run(sacctmgr, &["-V"], None, Duration::from_secs(10)).ok()?;
    let word = ran.stdout.split_whitespace().last()?;
    let mut parts = word.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// slurmdbd's AdminComment and energy of `ids` of `cluster` (those it knows).
fn lookup(sacct: &Path, cluster: &str, ids: &[u32]) -> Result<BTreeMap<u32, DbJob>, String> {
    let list = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let args = [
        "-a",
        "-X",
        "-n",
        "-P",
        "-M",
        cluster,
        "-j",
        &list,
        "-o",
        "JobIDRaw,ConsumedEnergyRaw,AdminComment",
    ];
    let ran = command::run(sacct, &args, None, CALL_TIMEOUT)?;
    if !ran.success {
        return Err(format!("sacct failed: {}", ran.stderr.trim()));
    }
    let mut found = BTreeMap::new();
    for line in ran.stdout.lines() {
        let mut fields = line.splitn(3, '|');
        let (Some(id), Some(energy), Some(comment)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Ok(id) = id.trim().parse::<u32>() else {
            continue;
        };
        found.insert(
            id,
            DbJob {
                admin_comment: comment.to_owned(),
                consumed_energy_raw: energy.trim().parse().ok(),
            },
        );
    }
    Ok(found)
}

/// A value for a sacctmgr command line read from stdin.
fn quoted(value: &str) -> Option<String> {
    (!value.contains(['"', '\n', '\r'])).then(|| format!("\"{value}\""))
}

/// Counts of one run, for its last line.
#[derive(Debug, Default)]
struct Tally {
    records: u64,
    new_records: u64,
    written: u64,
    unchanged: u64,
    pending: u64,
    unmatched: u64,
    calls: u64,
}

/// `rci sync ARGS`; returns the exit code.
pub fn run_sync(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let o = match parse_args(args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            let _ = writeln!(out, "{USAGE}");
            return 0;
        }
        Err(e) => {
            let _ = writeln!(err, "rci sync: {e}\n{USAGE}");
            return 2;
        }
    };
    match sync(&o, out, err) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(
                err,
                "rci sync: {e}; nothing is lost: the next run catches up"
            );
            1
        }
    }
}

fn sync(o: &Options, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), String> {
    let sacct = command::on_path("sacct").ok_or("no sacct on PATH")?;
    let sacctmgr = command::on_path("sacctmgr").ok_or("no sacctmgr on PATH")?;
    let mut state = load_state(&o.state)?;
    let mut tally = Tally::default();

    for file in input_files(&o.inputs)? {
        let name = file.display().to_string();
        let mark = state.files.get(&name).cloned();
        let jobs = &mut state.jobs;
        let (new_mark, _skipped) = read_new(&file, mark.as_ref(), |record| {
            tally.records += 1;
            if o.cluster.as_ref().is_some_and(|c| *c != record.cluster) {
                return;
            }
            let key = job_key(&record.cluster, record.job_id);
            let job = jobs.entry(key).or_default();
            if add_record(job, &record) {
                tally.new_records += 1;
            }
        })?;
        state.files.insert(name, new_mark);
    }

    // Jobs to look at: new records, or not yet confirmed in slurmdbd.
    let mut by_cluster: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (key, job) in &state.jobs {
        let token = job.summary.to_token();
        if job.given_up || job.synced.as_deref() == Some(token.as_str()) {
            continue;
        }
        let Some((cluster, id)) = key.rsplit_once('/') else {
            continue;
        };
        if let Ok(id) = id.parse::<u32>() {
            by_cluster.entry(cluster.to_owned()).or_default().push(id);
        }
    }
    let set_energy = slurm_release(&sacctmgr).is_some_and(|v| v >= (25, 11));
    let mut commands: Vec<String> = Vec::new();
    let mut confirmed: Vec<(String, String)> = Vec::new();
    for (cluster, ids) in &by_cluster {
        for chunk in ids.chunks(o.batch) {
            let found = lookup(&sacct, cluster, chunk)?;
            tally.calls += 1;
            for id in chunk {
                let key = job_key(cluster, *id);
                let Some(job) = state.jobs.get_mut(&key) else {
                    continue;
                };
                let token = job.summary.to_token();
                let Some(db) = found.get(id) else {
                    job.attempts += 1;
                    if job.attempts >= o.max_attempts {
                        job.given_up = true;
                        tally.unmatched += 1;
                        let _ = writeln!(
                            err,
                            "rci sync: job {key} is not in slurmdbd after {} runs; its records \
                             stay in the spool, not summarised there",
                            job.attempts
                        );
                    } else {
                        tally.pending += 1;
                    }
                    continue;
                };
                let wanted = with_token(&db.admin_comment, &token);
                let others = with_token(&db.admin_comment, "");
                let mut changed = false;
                if wanted != db.admin_comment && others.chars().any(char::is_uppercase) {
                    // sacctmgr would store all of it lower-cased, changing what is not ours.
                    let _ = writeln!(
                        err,
                        "rci sync: job {key}: its AdminComment holds upper-case text that \
                         sacctmgr would lower-case; left alone"
                    );
                    continue;
                }
                if wanted != db.admin_comment {
                    let Some(value) = quoted(&wanted) else {
                        let _ = writeln!(
                            err,
                            "rci sync: job {key}: its AdminComment holds quotes or newlines; \
                             left alone"
                        );
                        continue;
                    };
                    commands.push(format!(
                        "modify job where jobid={id} cluster={cluster} set AdminComment={value}"
                    ));
                    changed = true;
                }
                let joules = job.summary.joules.round() as u64;
                if set_energy && db.consumed_energy_raw != Some(joules) {
                    commands.push(format!(
                        "modify job where jobid={id} cluster={cluster} set tres=energy={joules}"
                    ));
                    changed = true;
                }
                if changed {
                    tally.written += 1;
                } else {
                    tally.unchanged += 1;
                }
                confirmed.push((key, token));
            }
        }
    }

    if o.dry_run {
        for c in &commands {
            let _ = writeln!(out, "sacctmgr -i {c}");
        }
        let _ = writeln!(
            out,
            "rci sync: dry run: {} job(s) would be written, {} unchanged, {} not in slurmdbd yet",
            tally.written, tally.unchanged, tally.pending
        );
        return Ok(());
    }
    for chunk in commands.chunks(o.batch) {
        let mut input = chunk.join("\n");
        input.push('\n');
        let ran = command::run(&sacctmgr, &["-i"], Some(&input), CALL_TIMEOUT)?;
        tally.calls += 1;
        let refused = ran
            .stdout
            .lines()
            .chain(ran.stderr.lines())
            .find(|l| {
                let l = l.to_ascii_lowercase();
                l.contains("error") || l.contains("unknown option") || l.contains("problem")
            })
            .map(str::to_owned);
        if !ran.success || refused.is_some() {
            return Err(format!(
                "sacctmgr refused the updates: {}",
                refused.unwrap_or_else(|| ran.stderr.trim().to_owned())
            ));
        }
    }
    for (key, token) in confirmed {
        if let Some(job) = state.jobs.get_mut(&key) {
            job.synced = Some(token);
            job.attempts = 0;
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    state.jobs.retain(|_, j| {
        let done = j.given_up || j.synced.as_deref() == Some(j.summary.to_token().as_str());
        !(done && now - j.end_unix > KEEP_DAYS * 86_400)
    });
    save_state(&o.state, &state)?;
    let _ = writeln!(
        out,
        "rci sync: {} record(s) read, {} new; {} job(s) written, {} unchanged, {} not in \
         slurmdbd yet, {} unmatched; {} sacct/sacctmgr call(s)",
        tally.records,
        tally.new_records,
        tally.written,
        tally.unchanged,
        tally.pending,
        tally.unmatched,
        tally.calls
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = parse_args(&args(&[
            "--state",
            "/s",
            "--dry-run",
            "/spool",
            "/var/log/rci.log",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.state, PathBuf::from("/s"));
        assert!(o.dry_run);
        assert_eq!(o.inputs.len(), 2);
        assert!(parse_args(&args(&["--help"])).unwrap().is_none());
        assert!(parse_args(&args(&[])).unwrap_err().contains("at least one"));
        assert!(parse_args(&args(&["--batch", "0", "x"]))
            .unwrap_err()
            .contains("above 0"));
    }

    #[test]
    fn values_with_quotes_are_not_sent() {
        assert_eq!(quoted("a b").as_deref(), Some("\"a b\""));
        assert_eq!(quoted("a\"b"), None);
    }
}
