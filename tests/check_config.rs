//! `rci check-config` on malformed files: each is rejected (exit 1) with `file:line` and a
//! message naming the problem. The plugins load with the same parser: on a real cluster each
//! of these files is refused by slurmctld, which logs why and keeps the last good config.

mod common;

use common::{test_lock, wait_until, Cluster, ClusterOptions};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SLURM_CONF: &str = "PartitionName=DEFAULT State=UP\n\
                          PartitionName=cpu Nodes=c01\n\
                          PartitionName=gpu Nodes=g01 Default=YES\n";

/// Writes `rci` as rci.conf (and slurm.conf beside it unless `None`) and runs check-config.
fn check(rci: &[u8], slurm_conf: Option<&str>) -> (i32, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rci.conf");
    std::fs::write(&path, rci).expect("write rci.conf");
    if let Some(text) = slurm_conf {
        std::fs::write(dir.path().join("slurm.conf"), text).expect("write slurm.conf");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rci"))
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run rci");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        dir,
    )
}

fn rejected(rci: &[u8], slurm_conf: Option<&str>, line: usize, wanted: &[&str]) -> String {
    let (code, out, err, dir) = check(rci, slurm_conf);
    assert_eq!(
        code,
        1,
        "accepted {:?}: {out}{err}",
        String::from_utf8_lossy(rci)
    );
    let at = format!("{}:{line}: ", dir.path().join("rci.conf").display());
    assert!(err.contains(&at), "no {at} in: {err}");
    for w in wanted {
        let w = w.replace("DIR", &dir.path().display().to_string());
        assert!(err.contains(&w), "no '{w}' in: {err}");
    }
    err
}

const GOOD_START: &str = "CpuPartition=cpu\n";

#[test]
fn a_nul_after_the_gpu_partition_is_rejected() {
    let text = format!("{GOOD_START}GpuPartitions=gpu\0\n");
    rejected(
        text.as_bytes(),
        Some(SLURM_CONF),
        2,
        &["column 18: NUL (U+0000)"],
    );
}

#[test]
fn a_zero_width_space_after_the_gpu_partition_is_rejected() {
    let text = format!("{GOOD_START}GpuPartitions=gpu\u{200b}\n");
    rejected(
        text.as_bytes(),
        Some(SLURM_CONF),
        2,
        &["ZERO WIDTH SPACE (U+200B)"],
    );
}

#[test]
fn a_control_character_after_the_gpu_partition_is_rejected() {
    let text = format!("{GOOD_START}GpuPartitions=gpu\u{7}\n");
    rejected(
        text.as_bytes(),
        Some(SLURM_CONF),
        2,
        &["a control character (U+0007)"],
    );
    // Not only in names: a bidi override in a comment is rejected too.
    rejected("# \u{202e} x\n".as_bytes(), None, 1, &["U+202E"]);
}

#[test]
fn a_cpu_partition_missing_from_slurm_conf_is_rejected() {
    rejected(
        b"GpuPartitions=gpu\nCpuPartition=nosuchpart\n",
        Some(SLURM_CONF),
        2,
        &["CpuPartition: partition 'nosuchpart' is not defined in DIR/slurm.conf (its partitions: cpu, gpu)"],
    );
}

#[test]
fn a_gpu_partition_missing_from_slurm_conf_is_rejected() {
    rejected(
        b"GpuPartitions=gpu,nosuch\nCpuPartition=cpu\n",
        Some(SLURM_CONF),
        1,
        &["GpuPartitions: partition 'nosuch' is not defined in DIR/slurm.conf"],
    );
}

#[test]
fn a_default_partition_missing_from_slurm_conf_is_rejected() {
    rejected(
        b"GpuPartitions=gpu\nCpuPartition=cpu\nDefaultPartition=nosuch\n",
        Some(SLURM_CONF),
        3,
        &["DefaultPartition: partition 'nosuch' is not defined in DIR/slurm.conf"],
    );
}

#[test]
fn a_kind_partition_missing_from_slurm_conf_is_rejected() {
    rejected(
        b"Kind=vm MaxTime=1-0 Partition=vms\n",
        Some(SLURM_CONF),
        1,
        &["Partition: partition 'vms' is not defined in DIR/slurm.conf"],
    );
}

#[test]
fn partitions_are_checked_only_against_a_readable_complete_slurm_conf() {
    let (code, out, err, _dir) = check(b"GpuPartitions=gpu\nCpuPartition=cpu\n", Some(SLURM_CONF));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("partitions: all defined in "), "{out}");
    let (code, out, err, _dir) = check(b"GpuPartitions=gpu\nCpuPartition=elsewhere\n", None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("partitions: not checked ("), "{out}");
    let include = "Include /etc/slurm/partitions.conf\nPartitionName=gpu\n";
    let (code, out, err, _dir) = check(b"GpuPartitions=gpu\nCpuPartition=cpu\n", Some(include));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("has Include lines"), "{out}");
}

#[test]
fn a_name_with_an_equals_sign_is_rejected() {
    rejected(
        b"GpuPartitions=gpu\nCpuPartition=a=b\n",
        None,
        2,
        &["CpuPartition: 'a=b' is not a name ('=' cannot be in a name"],
    );
}

#[test]
fn a_dangling_backslash_at_the_end_is_rejected_with_its_line() {
    rejected(
        b"GpuPartitions=gpu\nCpuPartition=cpu \\",
        Some(SLURM_CONF),
        2,
        &["the last line ends with '\\'"],
    );
    rejected(
        b"GpuPartitions=gpu\nCpuPartition=cpu \\\n",
        Some(SLURM_CONF),
        2,
        &["the last line ends with '\\'"],
    );
}

#[test]
fn invalid_utf8_names_its_line_and_byte() {
    rejected(
        b"# rci.conf\nGpuPartitions=gpu\nCpuPartition=c\xe9pu\n",
        Some(SLURM_CONF),
        3,
        &["byte 15 of the line (0xe9", "invalid UTF-8"],
    );
}

#[test]
fn a_bom_at_the_start_is_accepted() {
    let (code, out, err, _dir) = check(
        b"\xef\xbb\xbfGpuPartitions=gpu\nCpuPartition=cpu\n",
        Some(SLURM_CONF),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("routing: CPU-only jobs on gpu: reroute to cpu"),
        "{out}"
    );
    // Anywhere else a BOM is an invisible character.
    rejected(
        "GpuPartitions=gpu\u{feff}\n".as_bytes(),
        None,
        1,
        &["byte order mark"],
    );
}

#[test]
fn kind_keys_outside_a_kind_line_say_where_they_belong() {
    rejected(
        b"GpuPartitions=gpu\nMaxTime=3-0\n",
        None,
        2,
        &["MaxTime is only valid on a Kind= line"],
    );
    rejected(
        b"DefaultTime=1:00:00\n",
        None,
        1,
        &["DefaultTime is only valid on a Kind= line"],
    );
}

#[test]
fn the_shipped_example_is_still_accepted() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("slurm-conf/example");
    let text = std::fs::read(example.join("rci.conf")).expect("example rci.conf");
    let slurm = std::fs::read_to_string(example.join("slurm.conf")).expect("example slurm.conf");
    let (code, out, err, _dir) = check(&text, Some(&slurm));
    assert_eq!(code, 0, "{out}{err}");
}

// ---------------------------------------------------------------------------------------------
// The plugins reject the same files (real cluster)
// ---------------------------------------------------------------------------------------------

const CLUSTER_CONF: &str =
    "GpuPartitions=gpu\nCpuPartition=cpu\nAccounting=no\nContainerGpuEnv=no\n";
const REROUTED: &str = "rci: job has no GPU request; partition gpu -> cpu";

/// Replaces rci.conf by rename (so slurmctld never reads half a file).
fn install(c: &Cluster, bytes: &[u8]) {
    let path = c.rci_conf_path();
    let tmp = path.with_extension("conf.test-tmp");
    std::fs::write(&tmp, bytes).expect("write rci.conf");
    std::fs::rename(&tmp, &path).expect("rename rci.conf");
}

fn still_rerouted(c: &Cluster) {
    let (id, _, err) = c
        .sbatch(&["--hold", "-p", "gpu"], "true")
        .unwrap_or_else(|e| panic!("sbatch failed: {e}"));
    assert!(
        err.contains(REROUTED),
        "the last good config is gone: {err}"
    );
    let _ = c.run("scancel", &[&id.to_string()]);
}

#[test]
fn slurmctld_refuses_each_file_check_config_refuses_and_keeps_the_last_good_one() {
    let _lock = test_lock();
    let c = Cluster::try_start(ClusterOptions {
        job_submit: true,
        spank: true,
        rci_conf: Some(CLUSTER_CONF.to_owned()),
        ..ClusterOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let slurm_conf = c.slurm_conf().display().to_string();
    let cases: Vec<(Vec<u8>, usize, String)> = vec![
        (
            b"GpuPartitions=gpu\0\nCpuPartition=cpu\n".to_vec(),
            1,
            "NUL (U+0000)".into(),
        ),
        (
            "GpuPartitions=gpu\u{200b}\nCpuPartition=cpu\n".into(),
            1,
            "ZERO WIDTH SPACE (U+200B)".into(),
        ),
        (
            b"GpuPartitions=gpu\x1b\nCpuPartition=cpu\n".to_vec(),
            1,
            "(U+001B)".into(),
        ),
        (
            b"GpuPartitions=gpu\nCpuPartition=nosuchpart\n".to_vec(),
            2,
            format!("CpuPartition: partition 'nosuchpart' is not defined in {slurm_conf}"),
        ),
        (
            b"GpuPartitions=gpu,nosuch\nCpuPartition=cpu\n".to_vec(),
            1,
            format!("GpuPartitions: partition 'nosuch' is not defined in {slurm_conf}"),
        ),
        (
            b"GpuPartitions=gpu\nCpuPartition=cpu\nDefaultPartition=nosuch\n".to_vec(),
            3,
            format!("DefaultPartition: partition 'nosuch' is not defined in {slurm_conf}"),
        ),
        (
            b"GpuPartitions=gpu\nCpuPartition=a=b\n".to_vec(),
            2,
            "'a=b' is not a name".into(),
        ),
        (
            b"GpuPartitions=gpu\nCpuPartition=cpu \\".to_vec(),
            2,
            // (log lines escape the backslash itself)
            "the last line ends with '".into(),
        ),
        (
            b"GpuPartitions=gpu\nCpuPartition=c\xffpu\n".to_vec(),
            2,
            "invalid UTF-8".into(),
        ),
        (
            b"GpuPartitions=gpu\nCpuPartition=cpu\nMaxTime=3-0\n".to_vec(),
            3,
            "MaxTime is only valid on a Kind= line".into(),
        ),
    ];
    still_rerouted(&c);
    for (bytes, line, message) in cases {
        install(&c, &bytes);
        // One problem is logged as `rci: FILE:LINE: ...`, several as `rci: N problems: FILE:LINE: ...`.
        let expected = format!("{}:{line}: ", c.rci_conf_path().display());
        let mut found = None;
        let logged = wait_until(Duration::from_secs(15), || {
            let _ = c.run("sbatch", &["--test-only", "-p", "cpu", "--wrap", "true"]);
            found = c
                .slurmctld_log()
                .lines()
                .rev()
                .find(|l| {
                    l.contains("error: rci: ") && l.contains(&expected) && l.contains(&message)
                })
                .map(str::to_owned);
            found.is_some()
        });
        assert!(
            logged,
            "slurmctld did not refuse {:?} with {expected}...{message}\n{}",
            String::from_utf8_lossy(&bytes),
            c.log_tails()
        );
        let found = found.unwrap_or_default();
        assert!(
            found.ends_with("keeping the previous configuration"),
            "{found}"
        );
        still_rerouted(&c);
    }
    // A BOM at the start is accepted by slurmctld as by check-config.
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(CLUSTER_CONF.as_bytes());
    bom.extend_from_slice(b"CpuJobsOnGpuPartitions=reject\n");
    install(&c, &bom);
    let mut last = String::new();
    let applied = wait_until(Duration::from_secs(15), || {
        match c.sbatch(&["--hold", "-p", "gpu"], "true") {
            Ok((id, _, err)) => {
                let _ = c.run("scancel", &[&id.to_string()]);
                last = err;
                false
            }
            Err(err) => {
                last = err;
                true
            }
        }
    });
    assert!(
        applied,
        "rci.conf with a BOM was not loaded; last: {last}\n{}",
        c.log_tails()
    );
    assert!(last.contains("no GPU request"), "{last}");
}
