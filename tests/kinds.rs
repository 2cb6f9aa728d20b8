//! Job kinds and their time limits against a real Slurm (issue 4): VM, Jupyter and server jobs
//! are recognised from what reaches job_submit (script text, job name, `--rci-kind` through
//! the SPANK plugin), their limits are defaulted, capped or rejected, allowlisted accounts get
//! the longer cap, users cannot raise limits past the cap with `scontrol update`, and plain
//! batch jobs are left alone.
//!
//! All jobs here are submitted with `--hold` (nothing needs to run: the "qemu" in the scripts is
//! just text) and cancelled afterwards; the tests share one cluster and never change rci.conf.

mod common;

use common::{
    assert_success, shared_cluster, stderr_of, stdout_of, wait_until, Cluster, ClusterOptions,
    COMMAND_TIMEOUT, TEST_USER,
};
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

/// The policy under test. UpdateMaxTime is not set: it defaults to the smallest MaxTime of the
/// kinds (interactive, 08:00:00). The SPANK side is switched off (no accounting records on this
/// host, no container variables).
const KINDS_CONF: &str = "\
GpuPartitions=gpu
CpuPartition=cpu
Kind=interactive MaxTime=8:00:00 Action=reject Hint=\"use sbatch for longer work\"
Kind=jupyter DefaultTime=4:00:00 MaxTime=12:00:00
Kind=server DefaultTime=1-00:00:00 MaxTime=7-00:00:00 Action=cap \\
    AllowAccounts=web-hosting AllowMaxTime=30-00:00:00
Kind=vm MaxTime=3-00:00:00 Action=cap
Accounting=no
ContainerGpuEnv=no
";

/// A VM launcher script: only its text matters to the plugin (the job never runs).
const VM_SCRIPT: &str = "#!/bin/bash\n#SBATCH -c 2\n\
                         qemu-system-x86_64 -enable-kvm -m 4G -drive file=$HOME/vm.qcow2 -nographic\n";

const VM_CAPPED: &str = "rci: vm job; time limit 5-00:00:00 capped to 3-00:00:00 (MaxTime for vm \
                         jobs; ask the admins for an approved hosting slot)";

fn cluster() -> &'static Cluster {
    shared_cluster(ClusterOptions {
        job_submit: true,
        spank: true,
        rci_conf: Some(KINDS_CONF.to_owned()),
        ..ClusterOptions::default()
    })
}

/// Submits a held job as root; returns (its record, sbatch's stderr) and cancels it.
fn held(c: &Cluster, args: &[&str], script: &str) -> (HashMap<String, String>, String) {
    let mut full = vec!["--hold"];
    full.extend_from_slice(args);
    let (id, _, err) = c
        .sbatch(&full, script)
        .unwrap_or_else(|e| panic!("sbatch {args:?} rejected: {e}"));
    let record = c.scontrol_show_job(id);
    let _ = c.run("scancel", &[&id.to_string()]);
    (record, err)
}

/// The `rci: ` lines sbatch printed.
fn rci_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.split_once("rci: ").map(|(_, rest)| rest))
        .collect()
}

#[test]
fn vm_script_is_classified_and_capped() {
    let c = cluster();
    let (job, err) = held(c, &["-p", "cpu", "-t", "5-0"], VM_SCRIPT);
    assert!(err.contains(VM_CAPPED), "{err}");
    assert_eq!(job["TimeLimit"], "3-00:00:00");
    assert_eq!(job["Partition"], "cpu");
    // Within the cap: kept, no message.
    let (job, err) = held(c, &["-p", "cpu", "-t", "1-0"], VM_SCRIPT);
    assert!(rci_lines(&err).is_empty(), "{err}");
    assert_eq!(job["TimeLimit"], "1-00:00:00");
    // A full path to the binary counts too.
    let (job, _) = held(
        c,
        &["-p", "cpu", "-t", "UNLIMITED"],
        "exec /usr/bin/qemu-system-x86_64 -m 1G",
    );
    assert_eq!(job["TimeLimit"], "3-00:00:00");
}

#[test]
fn qemu_mentioned_only_in_a_comment_stays_batch() {
    let c = cluster();
    let script =
        "#!/bin/bash\n# later: qemu-system-x86_64 -m 4G disk.img\necho simulation # not qemu-kvm\n";
    let (job, err) = held(c, &["-p", "cpu", "-t", "5-0"], script);
    assert!(rci_lines(&err).is_empty(), "{err}");
    assert_eq!(job["TimeLimit"], "5-00:00:00");
}

#[test]
fn plain_batch_job_is_untouched() {
    let c = cluster();
    let name = "plain-batch-kinds";
    let (job, err) = held(c, &["-p", "cpu", "-J", name], "echo hello");
    assert!(rci_lines(&err).is_empty(), "{err}");
    // No -t: the partition default (MaxTime=UNLIMITED, no DefaultTime) applies.
    assert_eq!(job["TimeLimit"], "UNLIMITED");
    assert_eq!(job["Partition"], "cpu");
    let log = c.slurmctld_log();
    assert!(
        log.contains(&format!(
            "job_submit/rci: job '{name}' user root: accepted unchanged"
        )),
        "{}",
        c.log_tails()
    );
}

#[test]
fn spawner_jupyterhub_job_is_jupyter() {
    let c = cluster();
    let args = ["-p", "cpu", "-J", "spawner-jupyterhub"];
    // Too long: capped.
    let (job, err) = held(c, &[&args[..], &["-t", "1-0"]].concat(), "sleep 100");
    assert!(
        err.contains(
            "rci: jupyter job; time limit 1-00:00:00 capped to 12:00:00 (MaxTime for jupyter jobs)"
        ),
        "{err}"
    );
    assert_eq!(job["TimeLimit"], "12:00:00");
    // No limit given: DefaultTime.
    let (job, err) = held(c, &args, "sleep 100");
    assert!(
        err.contains(
            "rci: jupyter job; no time limit given, using 04:00:00 (DefaultTime for jupyter jobs)"
        ),
        "{err}"
    );
    assert_eq!(job["TimeLimit"], "04:00:00");
}

#[test]
fn allowlisted_account_gets_the_longer_limit() {
    let c = cluster();
    let server = "uvicorn app:app --host 0.0.0.0 --port 8000";
    // With accounting_storage/none any --account string is accepted as given.
    let (job, err) = held(c, &["-p", "cpu", "-t", "20-0", "-A", "web-hosting"], server);
    assert!(rci_lines(&err).is_empty(), "{err}");
    assert_eq!(job["TimeLimit"], "20-00:00:00");
    assert_eq!(job["Account"], "web-hosting");
    // Above AllowMaxTime: capped there.
    let (job, err) = held(c, &["-p", "cpu", "-t", "40-0", "-A", "web-hosting"], server);
    assert!(err.contains("capped to 30-00:00:00"), "{err}");
    assert_eq!(job["TimeLimit"], "30-00:00:00");
    // Any other account: the ordinary cap.
    let (job, err) = held(c, &["-p", "cpu", "-t", "20-0", "-A", "physics"], server);
    assert!(
        err.contains("rci: server job; time limit 20-00:00:00 capped to 7-00:00:00 (MaxTime for server jobs; ask the admins for an approved hosting slot)"),
        "{err}"
    );
    assert_eq!(job["TimeLimit"], "7-00:00:00");
}

#[test]
fn rci_kind_option_of_sbatch_reaches_job_submit() {
    let c = cluster();
    // A script nothing would classify: the declared kind decides.
    let (job, err) = held(
        c,
        &["-p", "cpu", "-t", "10-0", "--rci-kind=server"],
        "./serve",
    );
    assert!(
        err.contains("rci: server job; time limit 10-00:00:00 capped to 7-00:00:00"),
        "{err}"
    );
    assert_eq!(job["TimeLimit"], "7-00:00:00");
    // Unset time: the declared kind's DefaultTime; also for an unprivileged user.
    let (id, _, err) = c
        .sbatch_as(
            TEST_USER,
            &["--hold", "-p", "cpu", "--rci-kind=server"],
            "./serve",
        )
        .expect("sbatch accepted");
    assert!(
        err.contains(
            "rci: server job; no time limit given, using 1-00:00:00 (DefaultTime for server jobs)"
        ),
        "{err}"
    );
    assert_eq!(c.scontrol_show_job(id)["TimeLimit"], "1-00:00:00");
    let _ = c.run("scancel", &[&id.to_string()]);
    // A declared kind cannot loosen a detected one: a VM declared batch is still capped.
    let (job, err) = held(
        c,
        &["-p", "cpu", "-t", "5-0", "--rci-kind=batch"],
        VM_SCRIPT,
    );
    assert!(err.contains(VM_CAPPED), "{err}");
    assert_eq!(job["TimeLimit"], "3-00:00:00");
}

#[test]
fn cpu_only_vm_job_aimed_at_gpu_is_rerouted_and_capped() {
    let c = cluster();
    let (job, err) = held(c, &["-p", "gpu", "-t", "5-0"], VM_SCRIPT);
    assert_eq!(
        rci_lines(&err),
        [
            "job has no GPU request; partition gpu -> cpu (GPU nodes are kept for GPU jobs)",
            VM_CAPPED.trim_start_matches("rci: "),
        ],
        "{err}"
    );
    assert_eq!(job["Partition"], "cpu");
    assert_eq!(job["TimeLimit"], "3-00:00:00");
}

#[test]
fn action_reject_refuses_jobs_over_the_cap() {
    let c = cluster();
    let expected = "rci: interactive job; time limit 1-00:00:00 is above 08:00:00 (MaxTime for \
                    interactive jobs; use sbatch for longer work); use --time=08:00:00 or less";
    for program in ["salloc", "srun"] {
        let out = c.run_full(
            None,
            Duration::from_secs(30),
            program,
            &["-p", "cpu", "-t", "1-0", "true"],
            None,
        );
        assert!(!out.status.success(), "{program} was allowed");
        let err = stderr_of(&out);
        assert!(err.contains(&format!("error: {expected}")), "{err}");
        assert!(err.contains("Access/permission denied"), "{err}");
    }
    // sbatch declaring the stricter kind is judged by it.
    let err = c
        .sbatch(
            &["--hold", "-p", "cpu", "-t", "1-0", "--rci-kind=interactive"],
            "true",
        )
        .expect_err("rejected");
    assert!(err.contains(expected), "{err}");
    // Within the cap: accepted unchanged.
    let out = c.run_full(
        None,
        Duration::from_secs(30),
        "srun",
        &["-p", "cpu", "-t", "10", "true"],
        None,
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        rci_lines(&stderr_of(&out)).is_empty(),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn users_cannot_raise_a_limit_above_the_cap_with_scontrol_but_root_can() {
    let c = cluster();
    // No -t: the job starts with the partition's UNLIMITED, so lowering it to 2 days is a
    // decrease that Slurm itself allows users; only rci's UpdateMaxTime (default: the smallest
    // MaxTime, 8 hours) refuses it.
    let (id, _, _) = c
        .sbatch_as(TEST_USER, &["--hold", "-p", "cpu"], "true")
        .expect("sbatch accepted");
    let update = |user: Option<&str>, limit: &str| {
        c.run_full(
            user,
            COMMAND_TIMEOUT,
            "scontrol",
            &[
                "update",
                &format!("jobid={id}"),
                &format!("TimeLimit={limit}"),
            ],
            None,
        )
    };
    let out = update(Some(TEST_USER), "2-0");
    assert!(!out.status.success(), "the user's update went through");
    assert!(
        stderr_of(&out).contains("Access/permission denied"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(c.scontrol_show_job(id)["TimeLimit"], "UNLIMITED");
    // 22.05's job_modify has no err_msg: the reason is in slurmctld.log.
    let logged = format!(
        "job_modify/rci: job {id} user {TEST_USER}: rejected: rci: time limit 2-00:00:00 for job \
         {id} is above 08:00:00 and needs an operator (UpdateMaxTime, by default the smallest \
         MaxTime of the job kinds; ask the admins)"
    );
    assert!(
        wait_until(Duration::from_secs(5), || c
            .slurmctld_log()
            .contains(&logged)),
        "no {logged:?}\n{}",
        c.log_tails()
    );

    let out = update(Some(TEST_USER), "4:00:00");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(c.scontrol_show_job(id)["TimeLimit"], "04:00:00");

    let out = update(None, "5-0");
    assert!(out.status.success(), "root: {}", stderr_of(&out));
    assert_eq!(c.scontrol_show_job(id)["TimeLimit"], "5-00:00:00");
    assert_success(&c.run("scancel", &[&id.to_string()]), "scancel");
}

// ---------------------------------------------------------------------------------------------
// rci explain (no Slurm)
// ---------------------------------------------------------------------------------------------

#[test]
fn explain_shows_reroute_and_cap_of_a_cpu_only_vm_job_aimed_at_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("rci.conf");
    let script = dir.path().join("vm.sh");
    std::fs::write(&conf, KINDS_CONF).unwrap();
    std::fs::write(&script, VM_SCRIPT).unwrap();
    let out = Command::new(common::rci_cli())
        .arg("explain")
        .arg("--config")
        .arg(&conf)
        .args(["--", "-p", "gpu", "-t", "5-0"])
        .arg(&script)
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr_of(&out));
    for expected in [
        "kind:        vm — detected vm by KindRule=vm Script=qemu-system-* (built-in); script line 3",
        "partition:   gpu -> cpu (no GPU request; CpuJobsOnGpuPartitions=reroute, CpuPartition=cpu)",
        "time limit:  5-00:00:00 -> 3-00:00:00 (capped: MaxTime for vm jobs, Action=cap)",
        "verdict:     accept with partition=cpu time=3-00:00:00",
        "user sees:   rci: job has no GPU request; partition gpu -> cpu (GPU nodes are kept for GPU jobs)",
        &format!("user sees:   {VM_CAPPED}"),
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    // A rejection exits 1.
    let out = Command::new(common::rci_cli())
        .arg("explain")
        .arg("--config")
        .arg(&conf)
        .args(["--", "-p", "cpu", "-t", "1-0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout_of(&out));
    assert!(
        stdout_of(&out).contains("verdict:     reject"),
        "{}",
        stdout_of(&out)
    );
}
