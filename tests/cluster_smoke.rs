//! The test cluster itself, with none of our plugins: it starts, runs batch jobs and steps on
//! both nodes with GPU environment on gpu01, accepts an unprivileged user, reports a broken
//! plugin with the daemon's own words, and stops without leaving processes behind.

mod common;

use common::{
    assert_success, fake_gpu_bus_id, fake_gpu_uuid, parse_scontrol_record, process_running,
    shared_cluster, stdout_of, Cluster, ClusterOptions, JOB_TIMEOUT, TEST_USER,
};
use std::collections::HashMap;
use std::fs;
use std::path::Path;

fn cluster() -> &'static Cluster {
    shared_cluster(ClusterOptions::stock())
}

/// `KEY=value` lines of `env` output, for the keys we look at.
fn env_vars(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn both_nodes_are_idle_and_gpu01_has_four_l40() {
    let c = cluster();
    let out = assert_success(&c.run("sinfo", &["-h", "-N", "-o", "%N|%P|%t|%G"]), "sinfo");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "cpu01|both|idle|(null)",
            "cpu01|cpu|idle|(null)",
            "cpu01|special|idle|(null)",
            "gpu01|both|idle|gpu:l40:4",
            "gpu01|gpu*|idle|gpu:l40:4"
        ]
    );
    let config = assert_success(
        &c.run("scontrol", &["show", "config"]),
        "scontrol show config",
    );
    let plugstack = format!("{}/etc/plugstack.conf", c.dir().display());
    assert!(
        config.contains(&plugstack),
        "PlugStackConfig not ours:\n{config}"
    );
    assert!(
        config.contains("ClusterName             = rcitest"),
        "{config}"
    );
    assert!(
        !config.contains("job_submit/rci") && !config.contains("JobSubmitPlugins        = rci"),
        "plugins are off in the stock cluster:\n{config}"
    );
}

#[test]
fn batch_job_runs_on_cpu01() {
    let c = cluster();
    let (id, _, _) = c
        .sbatch(
            &["-p", "cpu"],
            "echo node=$SLURMD_NODENAME; echo user=$(id -un)",
        )
        .expect("sbatch");
    assert_eq!(c.wait_job_done(id, JOB_TIMEOUT), "COMPLETED");
    let output = c.job_output(id);
    assert!(output.contains("node=cpu01"), "{output}");
    assert!(output.contains("user=root"), "{output}");
    let job = c.scontrol_show_job(id);
    assert_eq!(job["Partition"], "cpu");
    assert_eq!(job["NodeList"], "cpu01");
    assert_eq!(job["ExitCode"], "0:0");
}

#[test]
fn batch_job_defaults_to_gpu_partition_and_failure_is_reported() {
    let c = cluster();
    let (id, _, _) = c.sbatch(&[], "exit 3").expect("sbatch");
    assert_eq!(c.wait_job_done(id, JOB_TIMEOUT), "FAILED");
    let job = c.scontrol_show_job(id);
    assert_eq!(job["Partition"], "gpu");
    assert_eq!(job["ExitCode"], "3:0");
    let record = c
        .jobcomp_record(id)
        .expect("jobcomp record of an ended job");
    assert_eq!(record["JobState"], "FAILED");
}

#[test]
fn srun_on_gpu01_gets_two_gpus() {
    let c = cluster();
    let out = c.srun(&["-p", "gpu", "--gres=gpu:2", "env"]);
    let vars = env_vars(&assert_success(&out, "srun --gres=gpu:2 env"));
    assert_eq!(vars["SLURMD_NODENAME"], "gpu01");
    assert_eq!(vars["CUDA_VISIBLE_DEVICES"], "0,1");
    assert_eq!(vars["SLURM_STEP_GPUS"], "0,1");
}

#[test]
fn batch_job_sees_job_gpus() {
    let c = cluster();
    let (id, _, _) = c
        .sbatch(
            &["--gres=gpu:l40:3"],
            "env | grep -E '^(CUDA_VISIBLE_DEVICES|SLURM_JOB_GPUS)='",
        )
        .expect("sbatch");
    assert_eq!(c.wait_job_done(id, JOB_TIMEOUT), "COMPLETED");
    let vars = env_vars(&c.job_output(id));
    assert_eq!(vars["SLURM_JOB_GPUS"], "0,1,2");
    assert_eq!(vars["CUDA_VISIBLE_DEVICES"], "0,1,2");
    // "gres:" until 23.02, "gres/" from 23.11 on.
    let tres = c.scontrol_show_job(id)["TresPerNode"].replace("gres/", "gres:");
    assert_eq!(tres, "gres:gpu:l40:3");
}

#[test]
fn unprivileged_user_submits_with_munge() {
    let c = cluster();
    let (id, _, _) = c
        .sbatch_as(TEST_USER, &["-p", "cpu"], "id -un; pwd")
        .expect("sbatch as rcitest");
    assert_eq!(c.wait_job_done(id, JOB_TIMEOUT), "COMPLETED");
    let output = c.job_output(id);
    assert!(output.starts_with("rcitest\n"), "{output}");
    assert!(c.scontrol_show_job(id)["UserId"].starts_with("rcitest("));

    let out = c.srun_as(TEST_USER, &["-p", "cpu", "id", "-un"]);
    assert_eq!(assert_success(&out, "srun as rcitest").trim(), "rcitest");
    let out = c.salloc_as(TEST_USER, &["-p", "cpu", "srun", "id", "-un"]);
    assert_eq!(assert_success(&out, "salloc as rcitest").trim(), "rcitest");
}

#[test]
fn rejected_submission_returns_stderr() {
    let c = cluster();
    let err = c
        .sbatch(&["-p", "no_such_partition"], "true")
        .expect_err("an unknown partition is refused");
    assert!(err.to_lowercase().contains("invalid partition"), "{err}");
}

#[test]
fn fake_nvidia_tree_matches_gres_devices() {
    let c = cluster();
    for minor in 0..4u32 {
        let dev = c.dir().join(format!("dev/nvidia{minor}"));
        let meta = fs::metadata(&dev).unwrap_or_else(|e| panic!("{}: {e}", dev.display()));
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        assert!(meta.file_type().is_char_device());
        // Linux's dev_t encoding for small numbers: major in bits 8..19, minor in bits 0..7.
        assert_eq!(meta.rdev(), (195 << 8) | u64::from(minor));

        let info = c.fakeproc().join(format!(
            "driver/nvidia/gpus/{}/information",
            fake_gpu_bus_id(minor)
        ));
        let text = fs::read_to_string(&info).unwrap_or_else(|e| panic!("{}: {e}", info.display()));
        let fields: HashMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        assert_eq!(fields["Model"], "NVIDIA L40");
        assert_eq!(fields["GPU UUID"], fake_gpu_uuid(minor));
        assert_eq!(fields["Device Minor"], minor.to_string());
        assert_eq!(fields["Bus Location"], fake_gpu_bus_id(minor));
    }
}

#[test]
fn rci_conf_is_replaced_by_a_new_readable_file() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let c = cluster();
    let _guard = common::test_lock();
    let before = fs::metadata(c.rci_conf_path()).expect("rci.conf from the template");
    assert!(fs::read_to_string(c.rci_conf_path())
        .expect("read")
        .contains(&format!("{}/fakeproc", c.dir().display())));
    c.write_rci_conf("# replaced\n");
    let after = fs::metadata(c.rci_conf_path()).expect("rci.conf");
    assert_ne!(before.ino(), after.ino(), "a reload must see a new inode");
    assert_eq!(after.permissions().mode() & 0o777, 0o644);
    assert_eq!(
        fs::read_to_string(c.rci_conf_path()).expect("read"),
        "# replaced\n"
    );
}

#[test]
fn env_file_points_clients_at_the_cluster() {
    let c = cluster();
    let script = format!(
        "env -u SLURM_CONF bash -c 'source {}/env && sinfo -h -o %P'",
        c.dir().display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("bash");
    let partitions = assert_success(&out, "sinfo after sourcing env");
    assert_eq!(
        partitions.split_whitespace().collect::<Vec<_>>(),
        ["cpu", "gpu*", "special", "both"]
    );
}

#[test]
fn scontrol_record_parser_keeps_values_with_spaces_and_equals() {
    let rec = parse_scontrol_record(
        "JobId=7 JobName=my job TRES=cpu=1,mem=1000M Socks/Node=* NtasksPerN:B:S:C=0:0:*:* \
         Comment=two words",
    );
    assert_eq!(rec["JobId"], "7");
    assert_eq!(rec["JobName"], "my job");
    assert_eq!(rec["TRES"], "cpu=1,mem=1000M");
    assert_eq!(rec["Socks/Node"], "*");
    assert_eq!(rec["NtasksPerN:B:S:C"], "0:0:*:*");
    assert_eq!(rec["Comment"], "two words");
}

/// A cluster of its own (next to the shared one, on other ports): a running job's processes
/// and every daemon are gone after stop.
#[test]
fn own_cluster_stops_cleanly_with_a_running_job() {
    let c = Cluster::start(ClusterOptions::stock());
    let daemons = c.running_daemons();
    assert_eq!(daemons.len(), 4, "{daemons:?}");

    let (id, _, _) = c
        .sbatch(&["-p", "cpu"], "echo pid=$$; exec sleep 300")
        .expect("sbatch");
    let started = common::wait_until(JOB_TIMEOUT, || {
        fs::read_to_string(c.output_path(id)).is_ok_and(|t| t.contains("pid="))
    });
    assert!(started, "job {id} did not start\n{}", c.log_tails());
    let job_pid: u32 = c
        .job_output(id)
        .trim()
        .strip_prefix("pid=")
        .and_then(|p| p.parse().ok())
        .expect("pid line");
    assert!(process_running(job_pid, "sleep"));

    let out = c.stop();
    assert!(out.status.success(), "stop failed: {}", stdout_of(&out));
    for (name, pid) in &daemons {
        assert!(!process_running(*pid, name), "{name} ({pid}) still running");
    }
    assert!(c.running_daemons().is_empty());
    assert!(
        !process_running(job_pid, "sleep"),
        "job process survived stop"
    );
    assert!(!Path::new(&c.dir().join("owner")).exists());
}

/// A plugin that fails to load stops the start, and the error says why in Slurm's words.
#[test]
fn broken_job_submit_plugin_fails_start_with_reason() {
    let fake = std::env::temp_dir().join(format!("rci-fake-plugins-{}", std::process::id()));
    fs::create_dir_all(&fake).expect("mkdir");
    // Not a Slurm plugin at all: dlopen fails.
    fs::write(fake.join("libjob_submit_rci.so"), b"not an ELF file").expect("write");
    let result = Cluster::try_start(ClusterOptions {
        job_submit: true,
        plugin_dir: Some(fake.clone()),
        ..ClusterOptions::stock()
    });
    let _ = fs::remove_dir_all(&fake);
    let err = match result {
        Ok(_) => panic!("a cluster with a broken job_submit plugin started"),
        Err(e) => e,
    };
    assert!(
        err.contains("fatal: failed to initialize job_submit plugin"),
        "{err}"
    );
    assert!(err.contains("job_submit_rci.so"), "{err}");
}
