//! Routing against a real Slurm (issue 3): CPU-only jobs aimed at the GPU partition end up in
//! `cpu` and run on cpu01, GPU jobs stay on gpu01, users cannot move jobs back with
//! `scontrol update`, het jobs and arrays are judged as Slurm hands them to job_submit, and
//! rci.conf edits take effect without restarting slurmctld.
//!
//! Two clusters: the shared one keeps [`ROUTING_CONF`] for its whole life (its tests may run in
//! parallel); [`editable_cluster`] is for the tests that rewrite rci.conf, which hold
//! [`test_lock`] and set the configuration they need first.

mod common;

use common::{
    assert_success, parse_scontrol_record, shared_cluster, stderr_of, stdout_of, test_lock,
    wait_until, Cluster, ClusterOptions, COMMAND_TIMEOUT, JOB_TIMEOUT, TERMINAL_STATES, TEST_USER,
};
use std::collections::HashMap;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The policy of the shared cluster: gpu is the GPU partition (and slurm.conf's default),
/// CPU-only jobs go to cpu. The SPANK side is switched off (no accounting records on this host,
/// no container variables): only job_submit is under test here.
const ROUTING_CONF: &str = "\
GpuPartitions=gpu
CpuPartition=cpu
Accounting=no
ContainerGpuEnv=no
";

const REROUTED: &str =
    "rci: job has no GPU request; partition gpu -> cpu (GPU nodes are kept for GPU jobs)";
const REROUTED_FROM_DEFAULT: &str =
    "rci: job has no GPU request; default partition gpu -> cpu (GPU nodes are kept for GPU jobs)";
const REJECTED: &str = "rci: job has no GPU request but partition gpu is for GPU jobs; add a GPU \
                        request (e.g. --gres=gpu:1) or use partition cpu (GPU nodes are kept for \
                        GPU jobs)";

/// srun/salloc get less than the harness default: a job that cannot start should fail the test
/// well within the binary's time budget.
const INTERACTIVE_TIMEOUT: Duration = Duration::from_secs(30);

fn options(conf: &str) -> ClusterOptions {
    ClusterOptions {
        job_submit: true,
        spank: true,
        rci_conf: Some(conf.to_owned()),
        ..ClusterOptions::default()
    }
}

fn cluster() -> &'static Cluster {
    shared_cluster(options(ROUTING_CONF))
}

/// A second cluster whose rci.conf tests rewrite (under [`test_lock`]). Like the shared one it
/// lives in a static and is stopped by the harness's watchdog once this process exits.
fn editable_cluster() -> &'static Cluster {
    static EDITABLE: OnceLock<Result<Cluster, String>> = OnceLock::new();
    match EDITABLE.get_or_init(|| Cluster::try_start(options(ROUTING_CONF))) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// Every record `scontrol -o show job ID` prints (one per het component or array task).
fn job_records(c: &Cluster, id: u32) -> Vec<HashMap<String, String>> {
    let out = c.run("scontrol", &["-o", "show", "job", &id.to_string()]);
    assert_success(&out, &format!("scontrol show job {id}"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_scontrol_record)
        .collect()
}

/// Waits until every record of job `id` is in a terminal state; returns the records.
fn wait_all_done(c: &Cluster, id: u32) -> Vec<HashMap<String, String>> {
    let mut records = Vec::new();
    let done = wait_until(JOB_TIMEOUT, || {
        records = job_records(c, id);
        !records.is_empty()
            && records
                .iter()
                .all(|r| TERMINAL_STATES.contains(&r["JobState"].as_str()))
    });
    assert!(done, "job {id} not done: {records:?}\n{}", c.log_tails());
    records
}

fn cancel(c: &Cluster, id: u32) {
    // Best effort: a job that already ended is fine.
    let _ = c.run("scancel", &[&id.to_string()]);
}

/// The job id of an allocation made by salloc/srun, from `SLURM_JOB_ID` printed by the command.
fn printed_job_id(out: &std::process::Output) -> u32 {
    let stdout = stdout_of(out);
    stdout
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no job id printed:\nstdout: {stdout}\nstderr: {}",
                stderr_of(out)
            )
        })
}

fn assert_ran_on(job: &HashMap<String, String>, partition: &str, node: &str) {
    assert_eq!(job["Partition"], partition, "{job:?}");
    assert_eq!(job["NodeList"], node, "{job:?}");
}

/// Lines of slurmctld.log containing `needle`.
fn ctld_lines(c: &Cluster, needle: &str) -> Vec<String> {
    c.slurmctld_log()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// CPU-only jobs
// ---------------------------------------------------------------------------------------------

#[test]
fn cpu_only_sbatch_to_gpu_or_default_runs_on_cpu01() {
    let c = cluster();
    for (args, message) in [
        (&["-p", "gpu"][..], REROUTED),
        (&[][..], REROUTED_FROM_DEFAULT),
    ] {
        let (id, _, err) = c
            .sbatch(args, "echo ran on $SLURMD_NODENAME")
            .expect("sbatch accepted");
        assert!(err.contains(message), "sbatch {args:?}: {err}");
        assert_eq!(c.wait_job_done(id, JOB_TIMEOUT), "COMPLETED");
        assert_ran_on(&c.scontrol_show_job(id), "cpu", "cpu01");
        assert!(c.job_output(id).contains("ran on cpu01"));
    }
}

#[test]
fn cpu_only_salloc_to_gpu_or_default_runs_on_cpu01() {
    let c = cluster();
    for (args, message) in [
        (&["-p", "gpu"][..], REROUTED),
        (&[][..], REROUTED_FROM_DEFAULT),
    ] {
        let mut full = args.to_vec();
        full.extend(["bash", "-c", "echo $SLURM_JOB_ID $SLURM_JOB_NODELIST"]);
        let out = c.run_full(None, INTERACTIVE_TIMEOUT, "salloc", &full, None);
        assert!(out.status.success(), "salloc {full:?}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains(message), "{}", stderr_of(&out));
        assert!(stdout_of(&out).contains(" cpu01"), "{}", stdout_of(&out));
        assert_ran_on(&c.scontrol_show_job(printed_job_id(&out)), "cpu", "cpu01");
    }
}

#[test]
fn cpu_only_srun_to_gpu_or_default_runs_on_cpu01() {
    let c = cluster();
    for (args, message) in [
        (&["-p", "gpu"][..], REROUTED),
        (&[][..], REROUTED_FROM_DEFAULT),
    ] {
        let mut full = args.to_vec();
        full.extend(["bash", "-c", "echo $SLURM_JOB_ID $SLURMD_NODENAME"]);
        let out = c.run_full(None, INTERACTIVE_TIMEOUT, "srun", &full, None);
        assert!(out.status.success(), "srun {full:?}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains(message), "{}", stderr_of(&out));
        assert!(stdout_of(&out).contains(" cpu01"), "{}", stdout_of(&out));
        assert_ran_on(&c.scontrol_show_job(printed_job_id(&out)), "cpu", "cpu01");
    }
}

#[test]
fn every_form_of_gpu_request_stays_in_gpu_and_runs_on_gpu01() {
    let c = cluster();
    for form in [
        &["--gres=gpu:1"][..],
        &["--gpus=1"][..],
        &["--gpus-per-node=l40:1"][..],
        // srun refuses --gpus-per-task without a task count.
        &["-n", "1", "--gpus-per-task=1"][..],
    ] {
        let mut args = vec!["-p", "gpu"];
        args.extend_from_slice(form);
        args.extend(["bash", "-c", "echo $SLURM_JOB_ID $SLURMD_NODENAME"]);
        let out = c.run_full(None, INTERACTIVE_TIMEOUT, "srun", &args, None);
        assert!(out.status.success(), "srun {args:?}: {}", stderr_of(&out));
        assert!(
            !stderr_of(&out).contains("rci: job has no GPU request"),
            "{form:?}: {}",
            stderr_of(&out)
        );
        assert!(stdout_of(&out).contains(" gpu01"), "{}", stdout_of(&out));
        assert_ran_on(&c.scontrol_show_job(printed_job_id(&out)), "gpu", "gpu01");
    }
    // The same through sbatch (TRES strings built by sbatch rather than srun).
    for form in ["--gres=gpu:1", "--gpus=1", "--gpus-per-node=l40:1"] {
        let (id, _, err) = c
            .sbatch(&["--hold", "-p", "gpu", form], "true")
            .expect("sbatch accepted");
        assert!(!err.contains("rci:"), "{form}: {err}");
        assert_eq!(c.scontrol_show_job(id)["Partition"], "gpu", "{form}");
        cancel(c, id);
    }
    // A zero count is no GPU request.
    let (id, _, err) = c
        .sbatch(&["--hold", "-p", "gpu", "--gres=gpu:0"], "true")
        .expect("sbatch accepted");
    assert!(err.contains(REROUTED), "{err}");
    assert_eq!(c.scontrol_show_job(id)["Partition"], "cpu");
    cancel(c, id);
}

#[test]
fn cpu_only_job_listing_gpu_and_a_cpu_partition_loses_gpu() {
    let c = cluster();
    for (list, kept) in [("gpu,cpu", "cpu"), ("special,gpu", "special")] {
        let (id, _, err) = c
            .sbatch(&["--hold", "-p", list], "true")
            .expect("sbatch accepted");
        let message = format!(
            "rci: job has no GPU request; partitions {list} -> {kept} (GPU nodes are kept for GPU jobs)"
        );
        assert!(err.contains(&message), "{err}");
        assert_eq!(c.scontrol_show_job(id)["Partition"], kept);
        cancel(c, id);
    }
    // A GPU job keeps its whole list.
    let (id, _, err) = c
        .sbatch(&["--hold", "-p", "gpu,cpu", "--gres=gpu:1"], "true")
        .expect("sbatch accepted");
    assert!(!err.contains("rci:"), "{err}");
    assert_eq!(c.scontrol_show_job(id)["Partition"], "gpu,cpu");
    cancel(c, id);
}

// ---------------------------------------------------------------------------------------------
// scontrol update
// ---------------------------------------------------------------------------------------------

#[test]
fn users_cannot_move_a_cpu_only_job_to_gpu_but_root_can() {
    let c = cluster();
    let (id, _, err) = c
        .sbatch_as(TEST_USER, &["--hold", "-p", "gpu"], "true")
        .expect("sbatch accepted");
    assert!(err.contains(REROUTED), "{err}");
    let job = id.to_string();
    let update = |user: Option<&str>, args: &[&str]| {
        let mut full = vec!["update".to_owned(), format!("jobid={job}")];
        full.extend(args.iter().map(|a| a.to_string()));
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        c.run_full(user, COMMAND_TIMEOUT, "scontrol", &full, None)
    };

    let out = update(Some(TEST_USER), &["partition=gpu"]);
    assert!(!out.status.success(), "the user's update went through");
    // 22.05's job_modify has no err_msg: the user sees the code's text, the reason is logged.
    assert!(
        stderr_of(&out).contains("Access/permission denied"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(c.scontrol_show_job(id)["Partition"], "cpu");
    let logged = format!(
        "job_modify/rci: job {id} user {TEST_USER}: rejected: rci: moving job {id} to GPU \
         partition gpu needs a GPU request in the same update (e.g. scontrol update jobid={id} \
         partition=gpu gres=gpu:1); GPU nodes are kept for GPU jobs"
    );
    assert!(
        wait_until(Duration::from_secs(5), || !ctld_lines(c, &logged)
            .is_empty()),
        "no line {logged:?} in slurmctld.log:\n{}",
        c.log_tails()
    );

    let out = update(None, &["partition=gpu"]);
    assert!(out.status.success(), "root: {}", stderr_of(&out));
    assert_eq!(c.scontrol_show_job(id)["Partition"], "gpu");
    assert!(
        !ctld_lines(
            c,
            &format!("job_modify/rci: job {id} user {TEST_USER} by root: accepted unchanged")
        )
        .is_empty(),
        "root's update is logged as root's"
    );
    cancel(c, id);

    // With a GPU request in the same update the user may move the job.
    let (id, _, _) = c
        .sbatch_as(TEST_USER, &["--hold", "-p", "gpu"], "true")
        .expect("sbatch accepted");
    let out = c.run_as(
        TEST_USER,
        "scontrol",
        &[
            "update",
            &format!("jobid={id}"),
            "partition=gpu",
            "gres=gpu:1",
        ],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let record = c.scontrol_show_job(id);
    assert_eq!(record["Partition"], "gpu");
    assert!(
        record.get("TresPerNode").is_some_and(|t| t.contains("gpu")),
        "{record:?}"
    );
    cancel(c, id);
}

#[test]
fn users_may_drop_the_gpu_request_only_with_a_move_off_gpu() {
    let c = cluster();
    let (id, _, _) = c
        .sbatch_as(TEST_USER, &["--hold", "-p", "gpu", "--gres=gpu:1"], "true")
        .expect("sbatch accepted");
    let update = |args: &[&str]| {
        let mut full = vec!["update".to_owned(), format!("jobid={id}")];
        full.extend(args.iter().map(|a| a.to_string()));
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        c.run_as(TEST_USER, "scontrol", &full)
    };
    let out = update(&["gres=gpu:0"]);
    assert!(!out.status.success(), "GPU request dropped on gpu");
    // The rejection suggests an update; it must be one this Slurm accepts.
    let logged = format!(
        "job_modify/rci: job {id} user {TEST_USER}: rejected: rci: removing the GPU request of \
         job {id} needs a move to a non-GPU partition in the same update (e.g. scontrol update \
         jobid={id} gres=gpu:0 partition=cpu)"
    );
    assert!(
        wait_until(Duration::from_secs(5), || !ctld_lines(c, &logged)
            .is_empty()),
        "no {logged:?} in slurmctld.log\n{}",
        c.log_tails()
    );
    let out = update(&["gres=gpu:0", "partition=cpu"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let record = c.scontrol_show_job(id);
    assert_eq!(record["Partition"], "cpu");
    assert!(
        record
            .get("TresPerNode")
            .is_some_and(|t| t.ends_with("gpu:0")),
        "{record:?}"
    );
    cancel(c, id);
}

// ---------------------------------------------------------------------------------------------
// Het jobs and arrays
// ---------------------------------------------------------------------------------------------

#[test]
fn het_job_cpu_component_is_rerouted_gpu_component_stays() {
    let c = cluster();
    let script = "#!/bin/bash\n#SBATCH -p gpu\n#SBATCH hetjob\n#SBATCH -p gpu --gres=gpu:1\n\
                  srun --het-group=0,1 hostname\n";
    let (id, _, err) = c.sbatch(&[], script).expect("sbatch accepted");
    assert!(
        err.contains("rci: het component 0: job has no GPU request; partition gpu -> cpu"),
        "{err}"
    );
    assert!(!err.contains("het component 1"), "{err}");
    let records = wait_all_done(c, id);
    assert_eq!(records.len(), 2, "{records:?}");
    for r in &records {
        assert_eq!(r["JobState"], "COMPLETED", "{r:?}");
        match r["HetJobOffset"].as_str() {
            "0" => assert_ran_on(r, "cpu", "cpu01"),
            "1" => assert_ran_on(r, "gpu", "gpu01"),
            other => panic!("het offset {other}: {r:?}"),
        }
    }

    // The command-line form: components separated by ':'.
    let (id, _, err) = c
        .sbatch(
            &["--hold", "-p", "gpu", ":", "-p", "gpu", "--gpus=1"],
            "true",
        )
        .expect("sbatch accepted");
    assert!(err.contains("rci: het component 0: "), "{err}");
    let partitions: Vec<String> = job_records(c, id)
        .iter()
        .map(|r| format!("{}={}", r["HetJobOffset"], r["Partition"]))
        .collect();
    assert_eq!(partitions, ["0=cpu", "1=gpu"]);
    cancel(c, id);
}

#[test]
fn job_array_is_judged_once_and_every_task_runs_on_cpu01() {
    let c = cluster();
    let name = "array-routing";
    let (id, _, err) = c
        .sbatch(
            &["-p", "gpu", "-a", "1-3", "-J", name, "-o", "/dev/null"],
            "true",
        )
        .expect("sbatch accepted");
    assert_eq!(err.matches(REROUTED).count(), 1, "{err}");
    let records = wait_all_done(c, id);
    assert_eq!(records.len(), 3, "{records:?}");
    for r in &records {
        assert_eq!(r["JobState"], "COMPLETED", "{r:?}");
        assert_ran_on(r, "cpu", "cpu01");
    }
    assert_eq!(
        ctld_lines(c, &format!("job_submit/rci: job '{name}'")).len(),
        1,
        "job_submit is called once per array"
    );
}

// ---------------------------------------------------------------------------------------------
// rci.conf edits (editable cluster)
// ---------------------------------------------------------------------------------------------

/// Pid of the cluster's slurmctld.
fn slurmctld_pid(c: &Cluster) -> u32 {
    c.running_daemons()
        .into_iter()
        .find(|(name, _)| name == "slurmctld")
        .map(|(_, pid)| pid)
        .unwrap_or_else(|| panic!("slurmctld is not running\n{}", c.log_tails()))
}

/// Makes slurmctld look at rci.conf (job_submit checks it on submissions, at most once a
/// second) without creating a job.
fn probe(c: &Cluster) {
    let _ = c.run("sbatch", &["--test-only", "-p", "cpu", "--wrap", "true"]);
}

/// Writes rci.conf and waits until slurmctld has loaded it.
fn install_conf(c: &Cluster, text: &str) {
    let reloads = || ctld_lines(c, "rci: reloaded").len();
    let before = reloads();
    c.write_rci_conf(text);
    let loaded = wait_until(Duration::from_secs(15), || {
        probe(c);
        reloads() > before
    });
    assert!(loaded, "rci.conf not reloaded\n{}", c.log_tails());
}

#[test]
fn reject_mode_rejects_with_the_message() {
    let _lock = test_lock();
    let c = editable_cluster();
    install_conf(c, &format!("{ROUTING_CONF}CpuJobsOnGpuPartitions=reject\n"));
    let err = c
        .sbatch(&["--hold", "-p", "gpu"], "true")
        .expect_err("a CPU-only job on gpu is rejected");
    assert!(err.contains(&format!("error: {REJECTED}")), "{err}");
    assert!(err.contains("Access/permission denied"), "{err}");
    // salloc/srun are refused the same way, and nothing is left queued.
    let out = c.run_full(
        None,
        INTERACTIVE_TIMEOUT,
        "srun",
        &["-p", "gpu", "true"],
        None,
    );
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains(REJECTED), "{}", stderr_of(&out));
    // A list with a CPU partition is still narrowed, a GPU job is still accepted.
    let (id, _, err) = c
        .sbatch(&["--hold", "-p", "gpu,cpu"], "true")
        .expect("narrowed, not rejected");
    assert!(err.contains("partitions gpu,cpu -> cpu"), "{err}");
    cancel(c, id);
    let (id, _, _) = c
        .sbatch(&["--hold", "-p", "gpu", "--gres=gpu:1"], "true")
        .expect("GPU job accepted");
    assert_eq!(c.scontrol_show_job(id)["Partition"], "gpu");
    cancel(c, id);
}

#[test]
fn exempt_users_and_accounts_keep_their_partition() {
    let _lock = test_lock();
    let c = editable_cluster();
    install_conf(
        c,
        &format!("{ROUTING_CONF}ExemptUsers={TEST_USER}\nExemptAccounts=gpu-admins\n"),
    );
    // With accounting_storage/none any --account string is accepted as given.
    for (user, args) in [
        (Some(TEST_USER), &["--hold", "-p", "gpu"][..]),
        (None, &["--hold", "-p", "gpu", "-A", "gpu-admins"][..]),
    ] {
        let result = match user {
            Some(u) => c.sbatch_as(u, args, "true"),
            None => c.sbatch(args, "true"),
        };
        let (id, _, err) = result.expect("sbatch accepted");
        assert!(!err.contains("rci:"), "{user:?} {args:?}: {err}");
        assert_eq!(c.scontrol_show_job(id)["Partition"], "gpu", "{args:?}");
        cancel(c, id);
    }
    // Not exempt: root without the account.
    let (id, _, err) = c.sbatch(&["--hold", "-p", "gpu"], "true").unwrap();
    assert!(err.contains(REROUTED), "{err}");
    cancel(c, id);
    // The exempt user may also move a CPU-only job to gpu with scontrol update.
    let (id, _, _) = c
        .sbatch_as(TEST_USER, &["--hold", "-p", "cpu"], "true")
        .unwrap();
    let out = c.run_as(
        TEST_USER,
        "scontrol",
        &["update", &format!("jobid={id}"), "partition=gpu"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(c.scontrol_show_job(id)["Partition"], "gpu");
    cancel(c, id);
}

#[test]
fn config_edits_apply_without_restart_and_broken_edits_keep_the_last_good_one() {
    let _lock = test_lock();
    let c = editable_cluster();
    install_conf(c, ROUTING_CONF);
    let pid = slurmctld_pid(c);
    let (id, _, err) = c.sbatch(&["--hold", "-p", "gpu"], "true").unwrap();
    assert!(err.contains(REROUTED), "{err}");
    cancel(c, id);

    // An edit: the next submissions (slurmctld looks at most once a second) see it.
    c.write_rci_conf(&format!("{ROUTING_CONF}CpuJobsOnGpuPartitions=reject\n"));
    let mut last = String::new();
    let applied = wait_until(Duration::from_secs(10), || {
        match c.sbatch(&["--hold", "-p", "gpu"], "true") {
            Ok((id, _, err)) => {
                cancel(c, id);
                last = err;
                false
            }
            Err(err) => {
                last = err;
                true
            }
        }
    });
    assert!(applied, "the edit was not picked up; last stderr: {last}");
    assert!(last.contains(REJECTED), "{last}");
    assert_eq!(slurmctld_pid(c), pid, "slurmctld was not restarted");

    // A broken edit: logged with file and line, the last good configuration (reject) stays.
    let broken = format!("{ROUTING_CONF}CpuJobsOnGpuPartitions=reroute\nGpuPartitons=gpu\n");
    let bad_line = broken.lines().count();
    c.write_rci_conf(&broken);
    let expected = format!(
        "error: rci: {}:{bad_line}: unknown key 'GpuPartitons'",
        c.rci_conf_path().display()
    );
    let logged = wait_until(Duration::from_secs(10), || {
        probe(c);
        !ctld_lines(c, &expected).is_empty()
    });
    assert!(
        logged,
        "no {expected:?} in slurmctld.log\n{}",
        c.log_tails()
    );
    let line = ctld_lines(c, &expected).remove(0);
    assert!(
        line.ends_with("keeping the previous configuration"),
        "{line}"
    );
    let err = c
        .sbatch(&["--hold", "-p", "gpu"], "true")
        .expect_err("still the reject configuration");
    assert!(err.contains(REJECTED), "{err}");
    // Logged once per broken version, not once per submission.
    probe(c);
    std::thread::sleep(Duration::from_millis(1100));
    probe(c);
    assert_eq!(ctld_lines(c, &expected).len(), 1);
    assert_eq!(slurmctld_pid(c), pid);

    // Fixing the file brings the new version in.
    install_conf(c, ROUTING_CONF);
    let (id, _, err) = c.sbatch(&["--hold", "-p", "gpu"], "true").unwrap();
    assert!(err.contains(REROUTED), "{err}");
    cancel(c, id);
}

#[test]
fn slurmctld_does_not_start_with_a_broken_rci_conf() {
    let broken = "GpuPartitions=gpu\nCpuPartition=cpu\nKind=vm MaxTime=forever\n";
    let err = match Cluster::try_start(options(broken)) {
        Ok(c) => panic!(
            "slurmctld started with a broken rci.conf\n{}",
            c.log_tails()
        ),
        Err(e) => e,
    };
    assert!(
        err.contains("job_submit/rci: cannot start with this rci.conf: ")
            && err.contains("/etc/rci.conf:3: MaxTime: invalid time 'forever'"),
        "{err}"
    );
    assert!(
        err.contains("fatal: failed to initialize job_submit plugin"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// rci check-config (no Slurm)
// ---------------------------------------------------------------------------------------------

#[test]
fn check_config_names_file_and_line_of_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rci.conf");
    std::fs::write(
        &path,
        "# comment\nGpuPartitions=gpu\nCpuPartition=cpu\nCpuJobsOnGpuPartitions=sometimes\n",
    )
    .unwrap();
    let out = Command::new(common::rci_cli())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.starts_with(&format!("{}:4: ", path.display())) && err.contains("sometimes"),
        "{err}"
    );

    std::fs::write(&path, ROUTING_CONF).unwrap();
    let out = Command::new(common::rci_cli())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains("routing: CPU-only jobs on gpu: reroute to cpu"),
        "{}",
        stdout_of(&out)
    );
}
