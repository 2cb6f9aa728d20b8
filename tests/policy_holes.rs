//! Issue 15 against a real Slurm: the holes a hostile user (or a careless admin) found in the
//! job-kind caps and in how slurmctld reads rci.conf, one test each.
//!
//! The cluster starts with the shipped `slurm-conf/example/rci.conf` (plus the two lines that
//! switch off the SPANK side this host cannot do); tests that need another rci.conf hold
//! [`test_lock`], write theirs and put the example back. Every test holds the lock, so each sees
//! the configuration it expects.

mod common;

use common::{
    assert_success, repo_root, shared_cluster, stderr_of, stdout_of, test_lock, wait_until,
    Cluster, ClusterOptions, COMMAND_TIMEOUT, TEST_USER,
};
use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// A VM launcher script: only its text matters (the jobs are held and never run).
const VM_SCRIPT: &str = "#!/bin/bash\nqemu-system-x86_64 -enable-kvm -m 4G -nographic vm.qcow2\n";

/// The shipped example, as an admin would install it.
fn example_conf() -> String {
    let path = repo_root().join("slurm-conf/example/rci.conf");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // The test cluster has no gpu-long partition, and rci.conf's partitions are checked
    // against the slurm.conf beside it.
    let text = text.replace("GpuPartitions=gpu,gpu-long", "GpuPartitions=gpu");
    format!("{text}\nAccounting=no\nContainerGpuEnv=no\n")
}

fn cluster() -> &'static Cluster {
    shared_cluster(ClusterOptions {
        job_submit: true,
        spank: false,
        rci_conf: Some(example_conf()),
        ..ClusterOptions::default()
    })
}

/// Replaces rci.conf and waits past the plugin's reload interval (one second), so the next
/// submission reads it.
fn set_conf(c: &Cluster, text: &str) {
    c.write_rci_conf(text);
    std::thread::sleep(Duration::from_millis(1300));
}

/// Puts the example back (and makes the plugin read it) when a test that changed rci.conf ends,
/// whether it passed or not.
struct RestoreExample<'a>(&'a Cluster);

impl Drop for RestoreExample<'_> {
    fn drop(&mut self) {
        set_conf(self.0, &example_conf());
        // One submission to make the plugin notice the change now.
        let _ = self
            .0
            .sbatch(&["--hold", "-p", "cpu"], "true")
            .map(|(id, _, _)| {
                let _ = self.0.run("scancel", &[&id.to_string()]);
            });
    }
}

fn scontrol_update_as(
    c: &Cluster,
    user: Option<&str>,
    id: u32,
    what: &[&str],
) -> std::process::Output {
    let job = format!("jobid={id}");
    let mut args = vec!["update", job.as_str()];
    args.extend_from_slice(what);
    c.run_full(user, COMMAND_TIMEOUT, "scontrol", &args, None)
}

fn record(c: &Cluster, id: u32) -> HashMap<String, String> {
    c.scontrol_show_job(id)
}

#[test]
fn het_salloc_component_with_gpu_and_ten_days_gets_the_interactive_cap() {
    let _lock = test_lock();
    let c = cluster();
    // Interactive jobs capped (not rejected) so the allocation starts and shows its limits.
    let _restore = RestoreExample(c);
    set_conf(
        c,
        "GpuPartitions=gpu\nCpuPartition=cpu\n\
         Kind=interactive DefaultTime=1:00:00 MaxTime=8:00:00 Action=cap\n\
         Kind=vm MaxTime=3-00:00:00\nAccounting=no\nContainerGpuEnv=no\n",
    );
    let out = c.run_full(
        Some(TEST_USER),
        Duration::from_secs(60),
        "salloc",
        &[
            "-p",
            "cpu",
            "-t",
            "1",
            ":",
            "-p",
            "gpu",
            "--gres=gpu:1",
            "-t",
            "10-0",
            "bash",
            "-c",
            "squeue -h -j $SLURM_JOB_ID -o '%i %l'",
        ],
        None,
    );
    let err = stderr_of(&out);
    assert!(
        out.status.success(),
        "salloc failed: {err}\n{}",
        c.log_tails()
    );
    let limits = stdout_of(&out);
    let component1 = limits
        .lines()
        .find(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|id| id.ends_with("+1"))
        })
        .unwrap_or_else(|| panic!("no component 1 in {limits:?}"));
    assert_eq!(
        component1.split_whitespace().nth(1),
        Some("8:00:00"),
        "component 1 kept its limit: {limits}\n{err}"
    );
    assert!(
        err.contains(
            "rci: het component 1: interactive job; time limit 10-00:00:00 capped to 08:00:00"
        ),
        "{err}"
    );
}

#[test]
fn user_cannot_raise_a_pending_capped_vm_job_with_scontrol_but_root_can() {
    let _lock = test_lock();
    let c = cluster();
    let (id, _, err) = c
        .sbatch_as(TEST_USER, &["--hold", "-p", "cpu", "-t", "5-0"], VM_SCRIPT)
        .expect("sbatch accepted");
    assert!(err.contains("capped to 3-00:00:00"), "{err}");
    assert_eq!(record(c, id)["TimeLimit"], "3-00:00:00");

    let out = scontrol_update_as(c, Some(TEST_USER), id, &["TimeLimit=6-0"]);
    assert!(
        !out.status.success(),
        "the user raised the VM job to 6 days: {}",
        stdout_of(&out)
    );
    assert_eq!(record(c, id)["TimeLimit"], "3-00:00:00");

    let out = scontrol_update_as(c, None, id, &["TimeLimit=6-0"]);
    assert!(out.status.success(), "root: {}", stderr_of(&out));
    assert_eq!(record(c, id)["TimeLimit"], "6-00:00:00");
    assert_success(&c.run("scancel", &[&id.to_string()]), "scancel");
}

#[test]
fn user_cannot_move_a_job_out_of_its_kinds_partition() {
    let _lock = test_lock();
    let c = cluster();
    let _restore = RestoreExample(c);
    // The admin lets users raise limits to 7 days and relies on the vm partition's cap
    // (`special` stands in for a partition with MaxTime=3-0 on the same nodes).
    set_conf(
        c,
        "GpuPartitions=gpu\nCpuPartition=cpu\nUpdateMaxTime=7-00:00:00\n\
         Kind=vm MaxTime=3-00:00:00 Partition=special\nAccounting=no\nContainerGpuEnv=no\n",
    );
    let (id, _, err) = c
        .sbatch_as(TEST_USER, &["--hold", "-p", "cpu", "-t", "5-0"], VM_SCRIPT)
        .expect("sbatch accepted");
    assert!(err.contains("partition cpu -> special"), "{err}");
    assert_eq!(record(c, id)["Partition"], "special");

    let out = scontrol_update_as(c, Some(TEST_USER), id, &["Partition=cpu"]);
    assert!(
        !out.status.success(),
        "the user moved the VM job out of its partition: {}",
        stdout_of(&out)
    );
    assert_eq!(record(c, id)["Partition"], "special");
    let logged = format!("job_modify/rci: job {id} user {TEST_USER}: rejected: rci: moving job {id} to partition cpu needs an operator");
    assert!(
        wait_until(Duration::from_secs(5), || c
            .slurmctld_log()
            .contains(&logged)),
        "no {logged:?}\n{}",
        c.log_tails()
    );
    assert_success(&c.run("scancel", &[&id.to_string()]), "scancel");
}

#[test]
fn time_min_above_the_cap_is_lowered_and_the_job_accepted() {
    let _lock = test_lock();
    let c = cluster();
    let (id, _, err) = c
        .sbatch_as(
            TEST_USER,
            &["--hold", "-p", "cpu", "-t", "5-0", "--time-min=4-0"],
            VM_SCRIPT,
        )
        .unwrap_or_else(|e| panic!("rejected: {e}"));
    let job = record(c, id);
    assert_eq!(job["TimeLimit"], "3-00:00:00");
    assert_eq!(job["TimeMin"], "3-00:00:00");
    assert!(
        err.contains(
            "rci: vm job; --time-min 4-00:00:00 lowered to 3-00:00:00 with the time limit"
        ),
        "{err}"
    );
    assert_success(&c.run("scancel", &[&id.to_string()]), "scancel");
}

#[test]
fn rci_conf_replaced_by_a_fifo_never_blocks_slurmctld_and_the_old_config_stays() {
    let _lock = test_lock();
    let c = cluster();
    let _restore = RestoreExample(c);
    let conf = c.rci_conf_path();
    let fifo = conf.with_file_name("rci.conf.fifo");
    let _ = fs::remove_file(&fifo);
    assert_success(
        &c.run("mkfifo", &[fifo.to_str().expect("utf-8 path")]),
        "mkfifo",
    );
    fs::rename(&fifo, &conf).expect("rename the FIFO over rci.conf");
    std::thread::sleep(Duration::from_millis(1300));

    let started = Instant::now();
    let submitted = c.run_full(
        Some(TEST_USER),
        Duration::from_secs(20),
        "sbatch",
        &["--parsable", "--hold", "-p", "cpu", "-t", "5-0"],
        Some(VM_SCRIPT),
    );
    let ping = c.run_full(None, Duration::from_secs(10), "scontrol", &["ping"], None);
    let elapsed = started.elapsed();
    // Unblock a controller that did open the FIFO (on the unfixed plugin), so later tests run.
    release_fifo_readers(&conf);
    assert!(
        submitted.status.success(),
        "sbatch: {}",
        stderr_of(&submitted)
    );
    assert!(ping.status.success(), "scontrol ping: {}", stderr_of(&ping));
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
    assert!(
        stderr_of(&submitted).contains("capped to 3-00:00:00"),
        "the previous configuration should still apply: {}",
        stderr_of(&submitted)
    );
    let log = c.slurmctld_log();
    assert!(
        log.contains("not a regular file (a FIFO)")
            && log.contains("keeping the previous configuration"),
        "{}",
        c.log_tails()
    );
    if let Some(id) = stdout_of(&submitted)
        .trim()
        .split(';')
        .next()
        .and_then(|s| s.parse::<u32>().ok())
    {
        let _ = c.run("scancel", &[&id.to_string()]);
    }
}

/// Opens `path` for writing without blocking (only succeeds while something reads it) and closes
/// it, so a reader stuck in `open()` goes on.
fn release_fifo_readers(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    for _ in 0..5 {
        let _ = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc_o_nonblock())
            .open(path);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// O_NONBLOCK on Linux (the tests do not depend on the libc crate).
fn libc_o_nonblock() -> i32 {
    0o4000
}

#[test]
fn a_config_with_a_hundred_thousand_errors_logs_a_bounded_line() {
    let _lock = test_lock();
    let c = cluster();
    let _restore = RestoreExample(c);
    let before = c.slurmctld_log().len();
    let broken: String = (0..100_000).map(|i| format!("NoSuchKey{i}=1\n")).collect();
    set_conf(c, &broken);
    let (id, _, _) = c
        .sbatch(&["--hold", "-p", "cpu"], "true")
        .expect("the previous configuration accepts jobs");
    let _ = c.run("scancel", &[&id.to_string()]);
    assert!(
        wait_until(Duration::from_secs(5), || c
            .slurmctld_log()
            .contains("keeping the previous configuration")),
        "{}",
        c.log_tails()
    );
    let log = c.slurmctld_log();
    let added = log.get(before..).unwrap_or("");
    let error_line = added
        .lines()
        .find(|l| l.contains("keeping the previous configuration"))
        .expect("the error line");
    assert!(
        error_line.contains("100000 problems"),
        "{}",
        &error_line[..error_line.len().min(500)]
    );
    assert!(
        error_line.len() < 16 * 1024,
        "one error line of {} bytes",
        error_line.len()
    );
    assert!(added.len() < 64 * 1024, "{} bytes logged", added.len());
}

#[test]
fn a_job_name_with_a_newline_forges_no_log_line() {
    let _lock = test_lock();
    let c = cluster();
    let forged = "[2026-01-01T00:00:00.000] error: forged by a job name";
    let name = format!("innocent\n{forged}");
    let (id, _, _) = c
        .sbatch_as(TEST_USER, &["--hold", "-p", "cpu", "-J", &name], "true")
        .expect("sbatch accepted");
    let _ = c.run("scancel", &[&id.to_string()]);
    assert!(
        wait_until(Duration::from_secs(5), || c
            .slurmctld_log()
            .contains("innocent\\n[2026-01-01")),
        "the name is not logged escaped\n{}",
        c.log_tails()
    );
    assert!(
        !c.slurmctld_log().lines().any(|l| l.starts_with(forged)),
        "a forged line in slurmctld.log"
    );
}
