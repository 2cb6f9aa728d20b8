//! `rci sync` and `rci job` against a real slurmdbd with its own MariaDB (the test cluster with
//! `accounting`): summaries land in AdminComment where sacct shows them, a second run writes
//! nothing, an unprivileged user sees their own job and nothing of another's (PrivateData=jobs),
//! slurmdbd refusing loses nothing, and on Slurm 25.11+ the energy TRES is set.

mod common;
mod fake_nvml;

use common::{
    assert_success, fake_gpu_uuid, rci_cli, slurm_at_least, stdout_of, test_lock,
    try_shared_cluster, wait_until, Cluster, ClusterOptions, JOB_TIMEOUT, TEST_USER,
};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

/// The test cluster with slurmdbd, or `None` where this release's slurmdbd cannot run: Debian
/// trixie's slurmdbd 24.11.5 dies against trixie's own MariaDB 11.8 (`fatal:
/// _check_mysql_concat_is_sane`, client error 5027), with or without rci.
fn cluster() -> Option<&'static Cluster> {
    let options = ClusterOptions {
        accounting: true,
        ..ClusterOptions::plugins()
    };
    match try_shared_cluster(options) {
        Ok(c) => {
            install_fake_nvml(c);
            Some(c)
        }
        Err(e) if e.contains("_check_mysql_concat_is_sane") => {
            eprintln!(
                "SKIPPED: this release's slurmdbd cannot use its MariaDB (Debian packaging, not \
                 rci): {}",
                e.lines()
                    .find(|l| l.contains("fatal:"))
                    .unwrap_or("_check_mysql_concat_is_sane")
            );
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// The fake NVML where rci.conf says, its GPUs drawing power (so GPU energy is not 0).
fn install_fake_nvml(c: &Cluster) {
    let dir = c.dir().join("nvml");
    let lib = dir.join("libnvidia-ml.so.1");
    if lib.exists() {
        return;
    }
    fs::create_dir_all(&dir).unwrap();
    let state: String = (0..4)
        .map(|m| format!("device {} {m} 1000 NVIDIA L40\n", fake_gpu_uuid(m)))
        .collect::<String>()
        + "power_mw 70000\n";
    fs::write(dir.join("libnvidia-ml.so.1.state"), state).unwrap();
    let tmp = dir.join("lib.tmp");
    fs::copy(fake_nvml::library(), &tmp).unwrap();
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).unwrap();
    fs::rename(&tmp, &lib).unwrap();
}

fn rci(c: &Cluster, user: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = c.command("timeout");
    cmd.args(["-k", "5", "120"]);
    if let Some(u) = user {
        cmd.args(["runuser", "-u", u, "--"]);
    }
    cmd.arg(rci_cli()).args(args).output().expect("rci runs")
}

fn state_file(c: &Cluster) -> String {
    c.dir().join("work/sync.state").display().to_string()
}

fn sync(c: &Cluster) -> String {
    let spool = c.dir().join("accounting").display().to_string();
    let out = rci(c, None, &["sync", "--state", &state_file(c), &spool]);
    assert_success(&out, "rci sync")
}

fn admin_comment(c: &Cluster, id: u32) -> String {
    let out = c.run(
        "sacct",
        &[
            "-a",
            "-X",
            "-n",
            "-P",
            "-j",
            &id.to_string(),
            "-o",
            "AdminComment",
        ],
    );
    stdout_of(&out).trim().to_owned()
}

fn records_of(c: &Cluster, id: u32) -> Vec<Value> {
    let mut found = Vec::new();
    for entry in fs::read_dir(c.dir().join("accounting"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.path().extension().is_some_and(|x| x == "jsonl") {
            for line in fs::read_to_string(entry.path()).unwrap_or_default().lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                if v["job_id"] == id {
                    found.push(v);
                }
            }
        }
    }
    found
}

/// Submits as `user`, waits for the end, for the record and for slurmdbd to have the job.
fn job(c: &Cluster, user: &str, args: &[&str]) -> (u32, Value) {
    let (id, _, _) = c.sbatch_as(user, args, "").expect("sbatch");
    assert_eq!(c.wait_job_done(id, JOB_TIMEOUT), "COMPLETED");
    let recorded = wait_until(Duration::from_secs(30), || !records_of(c, id).is_empty());
    assert!(recorded, "no record of job {id}\n{}", c.log_tails());
    let in_db = wait_until(Duration::from_secs(30), || {
        stdout_of(&c.run(
            "sacct",
            &["-a", "-X", "-n", "-P", "-j", &id.to_string(), "-o", "State"],
        ))
        .contains("COMPLETED")
    });
    assert!(in_db, "job {id} not in slurmdbd");
    (id, records_of(c, id).remove(0))
}

#[test]
fn sync_writes_summaries_sacct_shows_and_a_second_run_writes_nothing() {
    let _lock = test_lock();
    let Some(c) = cluster() else { return };
    let (gpu, gpu_record) = job(
        c,
        TEST_USER,
        &[
            "-p",
            "gpu",
            "--gres=gpu:1",
            "-A",
            "chemistry",
            "--wrap",
            "sleep 2",
        ],
    );
    let (cpu, cpu_record) = job(c, TEST_USER, &["-p", "cpu", "--wrap", "sleep 1"]);
    // slurmdbd is the source of account and QOS: facts in the record.
    assert_eq!(gpu_record["account"], "chemistry", "{gpu_record}");
    assert_eq!(cpu_record["qos"], "normal", "{cpu_record}");
    // An admin's own note in AdminComment stays.
    assert_success(
        &c.run(
            "sacctmgr",
            &[
                "-i",
                "modify",
                "job",
                "where",
                &format!("jobid={cpu}"),
                "set",
                "AdminComment=ticket-42",
            ],
        ),
        "sacctmgr",
    );

    let first = sync(c);
    assert!(first.contains("written"), "{first}");
    let gpu_comment = admin_comment(c, gpu);
    let cpu_comment = admin_comment(c, cpu);
    assert!(gpu_comment.starts_with("rci:1;"), "{gpu_comment}");
    assert!(gpu_comment.contains("gm=nvidia%20l40:"), "{gpu_comment}");
    assert!(cpu_comment.starts_with("ticket-42 rci:1;"), "{cpu_comment}");
    let kwh = |comment: &str| -> f64 {
        comment
            .split(';')
            .find_map(|kv| kv.strip_prefix("kwh="))
            .and_then(|v| v.parse().ok())
            .expect("kwh in the token")
    };
    let want = gpu_record["kwh"].as_f64().unwrap();
    assert!(
        (kwh(&gpu_comment) - want).abs() < 1e-6,
        "{gpu_comment} vs {want}"
    );
    assert!(
        kwh(&gpu_comment) > 0.0,
        "the fake GPU drew power: {gpu_comment}"
    );

    let second = sync(c);
    assert!(second.contains(" 0 job(s) written"), "{second}");
    assert_eq!(admin_comment(c, gpu), gpu_comment);

    if slurm_at_least(25, 11) {
        let joules: f64 = gpu_record["energy"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["in_total"] == true)
            .filter_map(|d| d["joules"].as_f64())
            .sum();
        let raw = stdout_of(&c.run(
            "sacct",
            &[
                "-a",
                "-X",
                "-n",
                "-P",
                "-j",
                &gpu.to_string(),
                "-o",
                "ConsumedEnergyRaw",
            ],
        ));
        assert_eq!(
            raw.trim(),
            format!("{}", joules.round() as u64),
            "sacct ConsumedEnergyRaw"
        );
    }

    // The job's user reads it with rci job; another user's job stays hidden.
    let out = rci(c, Some(TEST_USER), &["job", &gpu.to_string(), "--json"]);
    let view: Value = serde_json::from_str(&assert_success(&out, "rci job")).unwrap();
    assert_eq!(view["source"], "slurmdbd");
    assert_eq!(view["account"], "chemistry");
    assert!(
        (view["summary"]["kwh"].as_f64().unwrap() - want).abs() < 1e-6,
        "{view}"
    );
    let text = assert_success(
        &rci(c, Some(TEST_USER), &["job", &gpu.to_string()]),
        "rci job",
    );
    assert!(text.contains("GPU-hours"), "{text}");
    let (root_job, _) = job(c, "root", &["-p", "cpu", "--wrap", "true"]);
    sync(c);
    assert!(admin_comment(c, root_job).contains("rci:1;"));
    let out = rci(c, Some(TEST_USER), &["job", &root_job.to_string()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());

    // An accountant with only sacct gets the same numbers as from the spool (the GPU job's
    // account, chemistry: its only job here).
    let spool = c.dir().join("accounting").display().to_string();
    let chemistry = |args: &[&str]| -> (u64, f64) {
        let text = assert_success(&rci(c, None, args), "rci report");
        let v: Value = serde_json::from_str(&text).unwrap();
        let group = v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["account"] == "chemistry")
            .cloned()
            .unwrap_or_else(|| panic!("no chemistry group: {v}"));
        (
            group["jobs"].as_u64().unwrap(),
            group["kwh"].as_f64().unwrap(),
        )
    };
    let from_spool = chemistry(&["report", "--by", "account", "--format", "json", &spool]);
    let from_sacct = chemistry(&[
        "report",
        "--from-sacct",
        "--by",
        "account",
        "--format",
        "json",
    ]);
    assert_eq!(from_spool.0, from_sacct.0, "jobs");
    assert!(
        (from_spool.1 - from_sacct.1).abs() < 1e-5,
        "{from_spool:?} {from_sacct:?}"
    );
}

#[test]
fn slurmdbd_refusing_loses_nothing_and_the_next_run_catches_up() {
    let _lock = test_lock();
    let Some(c) = cluster() else { return };
    let (id, _) = job(c, TEST_USER, &["-p", "cpu", "--wrap", "true"]);
    // A sacctmgr that refuses, first on PATH.
    let bin: PathBuf = c.dir().join("work/broken-bin");
    fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("sacctmgr");
    fs::write(
        &fake,
        "#!/bin/sh\necho 'sacctmgr: error: Problem talking to the database' >&2\nexit 1\n",
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let spool = c.dir().join("accounting").display().to_string();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let before = fs::read(state_file(c)).ok();
    let out = Command::new("timeout")
        .args(["-k", "5", "120"])
        .arg(rci_cli())
        .args(["sync", "--state", &state_file(c), &spool])
        .env("SLURM_CONF", c.slurm_conf())
        .env("PATH", path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sacctmgr refused the updates") && stderr.contains("Problem talking"),
        "{stderr}"
    );
    assert_eq!(fs::read(state_file(c)).ok(), before, "state untouched");
    assert!(!admin_comment(c, id).contains("rci:1;"));
    sync(c);
    assert!(admin_comment(c, id).contains("rci:1;"), "caught up");
}
