//! Per-job energy records written by spank_rci.so in the extern step of real Slurm jobs: GPUs
//! identified and measured through a fake libnvidia-ml, CPU energy from the fake RAPL tree
//! (counter wraps included), a spool that refuses symlinks and survives being unwritable, and
//! `rci report` over the records.
//!
//! The test cluster's rci.conf (slurm-conf/rci.conf.in) points SysfsRoot at DIR/fakesys (package
//! and DRAM counters of one socket, wrapping at 262143328850 µJ), AccountingSpool at
//! DIR/accounting, NvmlLibrary at DIR/nvml/libnvidia-ml.so.1 (installed here) and samples RAPL
//! every second. The counters are shared by both nodes, so every test holds the test lock while
//! a job runs: one job at a time, and the energy each job sees is exactly what its test added.

mod common;
mod fake_nvml;

use common::{
    assert_success, fake_gpu_uuid, rci_cli, shared_cluster, stderr_of, stdout_of, test_lock,
    wait_until, Cluster, ClusterOptions, JOB_TIMEOUT, TEST_USER,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// `max_energy_range_uj` of the fake RAPL zones (scripts/rci-cluster make_fake_rapl).
const RAPL_RANGE_UJ: u64 = 262_143_328_850;
/// How long a record may take to appear after its job ended (the extern step writes it last).
const RECORD_TIMEOUT: Duration = Duration::from_secs(30);

fn cluster() -> &'static Cluster {
    let c = shared_cluster(ClusterOptions::plugins());
    install_fake_nvml(c);
    c
}

// ------------------------------------------------------------------------------------------
// fake NVML

/// Energy counters (mJ) of the four fake GPUs, by device minor (= GRES index on gpu01).
type GpuCounters = [u64; 4];

/// The state file the fake library reads on every call (`<library>.state`).
fn nvml_state_path(c: &Cluster) -> PathBuf {
    c.dir().join("nvml/libnvidia-ml.so.1.state")
}

/// Sets the fake GPUs' counters, atomically (a slurmstepd may be reading the file).
fn set_gpu_counters(c: &Cluster, mj: GpuCounters) {
    let text: String = mj
        .iter()
        .enumerate()
        .map(|(minor, e)| {
            format!(
                "device {} {minor} {e} NVIDIA L40\n",
                fake_gpu_uuid(minor as u32)
            )
        })
        .collect();
    let path = nvml_state_path(c);
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, &path).unwrap();
}

/// Puts the fake library where rci.conf's NvmlLibrary points (once per cluster), UUIDs and
/// minors as in the fake /proc/driver/nvidia tree.
fn install_fake_nvml(c: &Cluster) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = c.dir().join("nvml");
        fs::create_dir_all(&dir).unwrap();
        set_gpu_counters(c, [1_000, 5_000, 7_000, 9_000]);
        let tmp = dir.join("libnvidia-ml.so.1.tmp");
        fs::copy(fake_nvml::library(), &tmp).unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).unwrap();
        fs::rename(&tmp, dir.join("libnvidia-ml.so.1")).unwrap();
    });
}

fn gpu_counters(c: &Cluster) -> GpuCounters {
    let text = fs::read_to_string(nvml_state_path(c)).unwrap();
    let mut mj = [0u64; 4];
    for line in text.lines().filter(|l| l.starts_with("device ")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let minor: usize = f[2].parse().unwrap();
        mj[minor] = f[3].parse().unwrap();
    }
    mj
}

// ------------------------------------------------------------------------------------------
// fake RAPL

/// The fake package (`package-0`) or DRAM zone's directory.
fn rapl_zone(c: &Cluster, dram: bool) -> PathBuf {
    let pkg = c.dir().join("fakesys/class/powercap/intel-rapl:0");
    if dram {
        pkg.join("intel-rapl:0:0")
    } else {
        pkg
    }
}

fn rapl_counter(c: &Cluster, dram: bool) -> u64 {
    let path = rapl_zone(c, dram).join("energy_uj");
    fs::read_to_string(&path).unwrap().trim().parse().unwrap()
}

/// Advances a fake RAPL counter by `uj` (less than one range), wrapping like the hardware
/// (the counter runs 0..=max_energy_range_uj). Returns whether it wrapped.
fn advance_rapl(c: &Cluster, dram: bool, uj: u64) -> bool {
    assert!(
        uj < RAPL_RANGE_UJ,
        "one step must stay below the wrap range"
    );
    let old = rapl_counter(c, dram);
    let new = (old + uj) % (RAPL_RANGE_UJ + 1);
    let path = rapl_zone(c, dram).join("energy_uj");
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, format!("{new}\n")).unwrap();
    fs::rename(&tmp, &path).unwrap();
    new < old
}

// ------------------------------------------------------------------------------------------
// jobs and records

/// A job that runs until the test releases it, so the test can change counters while the
/// extern step measures.
struct HeldJob<'a> {
    c: &'a Cluster,
    id: u32,
    node: &'static str,
    release: PathBuf,
}

impl<'a> HeldJob<'a> {
    /// Submits (as `user`, or root) a batch job that waits for its release file, and waits
    /// until the extern step reports its start readings (RAPL and NVML) in the slurmd log.
    fn submit(c: &'a Cluster, user: Option<&str>, node: &'static str, args: &[&str]) -> Self {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let release = c.dir().join(format!("work/release-{n}"));
        let script = format!(
            "while [ ! -e {} ]; do sleep 0.1; done\necho released",
            release.display()
        );
        let (id, _, _) = match user {
            Some(u) => c.sbatch_as(u, args, &script),
            None => c.sbatch(args, &script),
        }
        .unwrap_or_else(|e| panic!("sbatch {args:?}: {e}"));
        let job = HeldJob {
            c,
            id,
            node,
            release,
        };
        let line = format!("spank_rci: accounting: measuring job {id} on {node}:");
        let measuring = wait_until(JOB_TIMEOUT, || c.slurmd_log(node).contains(&line));
        if !measuring {
            job.finish();
            panic!("no '{line}' in the log of {node}\n{}", c.log_tails());
        }
        job
    }

    /// The extern step's "measuring" line.
    fn measuring_line(&self) -> String {
        let line = format!("measuring job {} on {}:", self.id, self.node);
        self.c
            .slurmd_log(self.node)
            .lines()
            .find(|l| l.contains(&line))
            .unwrap_or_default()
            .to_owned()
    }

    /// Lets the job end; returns its final state.
    fn finish(&self) -> String {
        fs::write(&self.release, "").unwrap();
        self.c.wait_job_done(self.id, JOB_TIMEOUT)
    }
}

/// Every record in the spool's `*.jsonl` files (empty when the spool is missing).
fn all_records(c: &Cluster) -> Vec<Value> {
    let Ok(entries) = fs::read_dir(c.dir().join("accounting")) else {
        return Vec::new();
    };
    let mut records = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "jsonl") {
            for line in fs::read_to_string(&path).unwrap().lines() {
                records.push(serde_json::from_str(line).expect("every spool line is JSON"));
            }
        }
    }
    records
}

fn records_of(c: &Cluster, job_id: u32) -> Vec<Value> {
    all_records(c)
        .into_iter()
        .filter(|r| r["job_id"] == job_id)
        .collect()
}

/// Waits for the job's record and checks it is the only one.
fn wait_record(c: &Cluster, job_id: u32) -> Value {
    let found = wait_until(RECORD_TIMEOUT, || !records_of(c, job_id).is_empty());
    assert!(
        found,
        "no record for job {job_id} in {}/accounting\n{}",
        c.dir().display(),
        c.log_tails()
    );
    let mut records = records_of(c, job_id);
    assert_eq!(records.len(), 1, "one record per job and node: {records:?}");
    records.remove(0)
}

/// The spool file of a node: one file per node and month.
fn spool_file_of(c: &Cluster, record: &Value) -> PathBuf {
    let month = &record["end"].as_str().unwrap()[..7];
    let node = record["node"].as_str().unwrap();
    c.dir()
        .join(format!("accounting/rci-energy-{node}-{month}.jsonl"))
}

fn domain<'r>(record: &'r Value, name: &str) -> &'r Value {
    record["energy"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == name)
        .unwrap_or_else(|| panic!("no energy domain {name} in {record}"))
}

fn joules(record: &Value, name: &str) -> f64 {
    domain(record, name)["joules"]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} has no joules: {record}"))
}

/// Sum of the joules of the domains that count towards the job's kWh.
fn total_joules(record: &Value) -> f64 {
    record["energy"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["in_total"] == true)
        .filter_map(|d| d["joules"].as_f64())
        .sum()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-9)
}

fn f(record: &Value, key: &str) -> f64 {
    record[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {record}"))
}

/// µJ as the record's joules (the meters convert once, the same way).
fn uj_to_j(uj: u64) -> f64 {
    uj as f64 / 1e6
}

// ------------------------------------------------------------------------------------------
// the GPU and CPU jobs, shared by the tests that look at their records

/// A job on gpu01 with `--gres=gpu:2` as the test user; the test moves all four fake GPUs'
/// counters and both RAPL counters while it runs. (record, GPU mJ added, RAPL µJ added).
fn gpu_job() -> &'static (Value, [u64; 4], [u64; 2]) {
    static JOB: OnceLock<(Value, [u64; 4], [u64; 2])> = OnceLock::new();
    JOB.get_or_init(|| {
        let c = cluster();
        let _lock = test_lock();
        let job = HeldJob::submit(
            c,
            Some(TEST_USER),
            "gpu01",
            &[
                "-p",
                "gpu",
                "--gres=gpu:2",
                "-c",
                "2",
                "-J",
                "acct-gpu",
                "-A",
                "proj-gpu",
            ],
        );
        // Two of the four GPUs are the job's; the others move too and must not count.
        let gpu_added = [3_600_000, 1_800_500, 999_999_000, 5];
        let before = gpu_counters(c);
        let mut after = before;
        for (a, add) in after.iter_mut().zip(gpu_added) {
            *a += add;
        }
        set_gpu_counters(c, after);
        let rapl_added = [7_200_000_000, 360_000_000];
        advance_rapl(c, false, rapl_added[0]);
        advance_rapl(c, true, rapl_added[1]);
        let line = job.measuring_line();
        assert!(
            line.contains("all GPUs of the node: 4 of 4 GPU(s) read"),
            "{line}"
        );
        assert_eq!(job.finish(), "COMPLETED");
        (wait_record(c, job.id), gpu_added, rapl_added)
    })
}

/// A CPU job on cpu01 as root; the test adds known RAPL energy. (record, RAPL µJ added).
fn cpu_job() -> &'static (Value, [u64; 2]) {
    static JOB: OnceLock<(Value, [u64; 2])> = OnceLock::new();
    JOB.get_or_init(|| {
        let c = cluster();
        let _lock = test_lock();
        let job = HeldJob::submit(
            c,
            None,
            "cpu01",
            &["-p", "cpu", "-c", "3", "-J", "acct-cpu"],
        );
        let rapl_added = [1_234_567_890, 98_765];
        advance_rapl(c, false, rapl_added[0]);
        advance_rapl(c, true, rapl_added[1]);
        assert_eq!(job.finish(), "COMPLETED");
        (wait_record(c, job.id), rapl_added)
    })
}

// ------------------------------------------------------------------------------------------
// tests

#[test]
fn gpu_job_record_has_the_two_gpus_and_exact_energy() {
    let c = cluster();
    let (r, gpu_added, rapl_added) = gpu_job();
    assert_eq!(r["schema"], "rci.job-energy");
    assert_eq!(r["cluster"], "rcitest");
    assert_eq!(r["node"], "gpu01");
    assert_eq!(r["user"], TEST_USER);
    assert_eq!(r["job_name"], "acct-gpu");
    assert_eq!(r["partition"], "gpu");
    // Without slurmdbd a job may have no account, and then the batch step's SLURM_JOB_ACCOUNT
    // is whatever the user exported: kept as claimed, not as the record's account.
    assert_eq!(r["account"], "");
    assert_eq!(r["claimed"]["account"], "proj-gpu");
    assert_eq!(r["array_job_id"], Value::Null, "not an array job");
    assert_eq!(r["array_task_id"], Value::Null);
    assert_eq!(r["alloc_cpus"], 2);
    assert_eq!(
        r["exit_status"],
        Value::Null,
        "not known in the extern step"
    );
    let gpus: Vec<(u64, &str, &str)> = r["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["index"].as_u64().unwrap(),
                g["uuid"].as_str().unwrap(),
                g["model"].as_str().unwrap(),
            )
        })
        .collect();
    let (uuid0, uuid1) = (fake_gpu_uuid(0), fake_gpu_uuid(1));
    assert_eq!(
        gpus,
        [
            (0, uuid0.as_str(), "NVIDIA L40"),
            (1, uuid1.as_str(), "NVIDIA L40")
        ]
    );

    // NVML counts mJ: exactly what the fake counters moved by, for the job's GPUs only.
    assert_eq!(joules(r, "gpu-0"), gpu_added[0] as f64 / 1e3);
    assert_eq!(joules(r, "gpu-1"), gpu_added[1] as f64 / 1e3);
    assert_eq!(domain(r, "gpu-0")["source"], "nvml");
    assert_eq!(domain(r, "gpu-1")["unavailable"], Value::Null);
    let domains: Vec<&str> = r["energy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(domains, ["cpu-package-0", "dram-0", "gpu-0", "gpu-1"]);
    // RAPL counts µJ.
    assert_eq!(joules(r, "cpu-package-0"), uj_to_j(rapl_added[0]));
    assert_eq!(joules(r, "dram-0"), uj_to_j(rapl_added[1]));
    assert_eq!(domain(r, "cpu-package-0")["source"], "rapl");

    let expected_j = 7200.0 + 360.0 + 3600.0 + 1800.5;
    assert!(close(total_joules(r), expected_j), "{r}");
    assert!(close(f(r, "kwh"), expected_j / 3.6e6), "{r}");
    assert!(close(f(r, "facility_kwh"), f(r, "kwh") * f(r, "pue")));
    let elapsed = f(r, "elapsed_s");
    assert!(close(f(r, "gpu_hours"), 2.0 * elapsed / 3600.0), "{r}");
    assert!(close(f(r, "cpu_hours"), 2.0 * elapsed / 3600.0), "{r}");

    // One line in the node's spool file; the step notes are gone.
    let text = fs::read_to_string(spool_file_of(c, r)).unwrap();
    let lines = text
        .lines()
        .filter(|l| l.contains(&format!("\"job_id\":{},", r["job_id"])))
        .count();
    assert_eq!(lines, 1);
    let notes = c.dir().join("accounting/.step-notes");
    let prefix = format!("gpu01.{}.", r["job_id"]);
    // Emptied and removed; on 24.11-25.11 the extern step's end may run under the job user's
    // euid for a moment, and then an emptied file stays until the next job on the node.
    let left: Vec<_> = fs::read_dir(&notes)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .filter(|e| e.metadata().map(|m| m.len()).unwrap_or(1) > 0)
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "step notes left with notes in them: {left:?}"
    );
}

#[test]
fn cpu_job_record_has_no_gpus() {
    let (r, rapl_added) = cpu_job();
    assert_eq!(r["node"], "cpu01");
    assert_eq!(r["user"], "root");
    assert_eq!(r["job_name"], "acct-cpu");
    assert_eq!(r["partition"], "cpu");
    assert_eq!(r["alloc_cpus"], 3);
    assert_eq!(r["gpus"], serde_json::json!([]));
    assert_eq!(f(r, "gpu_hours"), 0.0);
    let domains: Vec<&str> = r["energy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(domains, ["cpu-package-0", "dram-0"], "no GPU domain: {r}");
    assert_eq!(joules(r, "cpu-package-0"), uj_to_j(rapl_added[0]));
    assert_eq!(joules(r, "dram-0"), uj_to_j(rapl_added[1]));
    let expected_j = uj_to_j(rapl_added[0]) + uj_to_j(rapl_added[1]);
    assert!(close(f(r, "kwh"), expected_j / 3.6e6), "{r}");
    // Float results: compare to a relative 1e-9, not bit for bit (the order of operations
    // differs between the record's arithmetic and this expression).
    assert!(
        close(f(r, "cpu_hours"), 3.0 * f(r, "elapsed_s") / 3600.0),
        "{r}"
    );
}

#[test]
fn srun_job_without_batch_step_gets_its_step_gpus() {
    let c = cluster();
    let _lock = test_lock();
    let out = c.srun(&["-p", "gpu", "--gres=gpu:1", "-J", "acct-srun", "true"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let id: u32 = assert_success(
        &c.run(
            "squeue",
            &["-h", "-t", "all", "-n", "acct-srun", "-o", "%i"],
        ),
        "squeue",
    )
    .lines()
    .filter_map(|l| l.trim().parse().ok())
    .max()
    .expect("the srun job is known");
    let r = wait_record(c, id);
    // An srun step's environment is what the user's client sent: claimed, never facts.
    assert_eq!(r["job_name"], "");
    assert_eq!(r["partition"], "");
    assert_eq!(r["claimed"]["job_name"], "acct-srun");
    assert_eq!(r["claimed"]["partition"], "gpu");
    let gpus = r["gpus"].as_array().unwrap();
    assert_eq!(gpus.len(), 1, "{r}");
    let index = gpus[0]["index"].as_u64().unwrap() as u32;
    assert_eq!(gpus[0]["uuid"], fake_gpu_uuid(index));
    // The counters did not move while it ran.
    assert_eq!(joules(&r, &format!("gpu-{index}")), 0.0);
}

#[test]
fn rapl_counter_wrapping_several_times_is_counted_exactly() {
    let c = cluster();
    let _lock = test_lock();
    let job = HeldJob::submit(c, None, "cpu01", &["-p", "cpu", "-J", "acct-wrap"]);
    // Each step is below one range, and the sampler (every second) sees each value before the
    // next step: several wraps, each one accounted for.
    let pkg_steps = [
        RAPL_RANGE_UJ / 10 * 8,
        RAPL_RANGE_UJ / 10 * 8 + 12_345,
        RAPL_RANGE_UJ / 10 * 8,
        RAPL_RANGE_UJ / 10 * 8 + 1,
    ];
    let dram_steps = [RAPL_RANGE_UJ / 2, RAPL_RANGE_UJ - 1, 77, RAPL_RANGE_UJ / 3];
    let (mut pkg_wraps, mut dram_wraps) = (0u64, 0u64);
    for (p, d) in pkg_steps.iter().zip(&dram_steps) {
        pkg_wraps += u64::from(advance_rapl(c, false, *p));
        dram_wraps += u64::from(advance_rapl(c, true, *d));
        std::thread::sleep(Duration::from_millis(2500));
    }
    assert!(pkg_wraps >= 3, "the test must wrap several times");
    assert_eq!(job.finish(), "COMPLETED");
    let r = wait_record(c, job.id);
    let pkg_uj: u64 = pkg_steps.iter().sum();
    let dram_uj: u64 = dram_steps.iter().sum();
    assert_eq!(joules(&r, "cpu-package-0"), uj_to_j(pkg_uj), "{r}");
    assert_eq!(joules(&r, "dram-0"), uj_to_j(dram_uj), "{r}");
    assert_eq!(domain(&r, "cpu-package-0")["flags"]["wraps"], pkg_wraps);
    assert_eq!(domain(&r, "dram-0")["flags"]["wraps"], dram_wraps);
    assert!(close(
        f(&r, "kwh"),
        (uj_to_j(pkg_uj) + uj_to_j(dram_uj)) / 3.6e6
    ));
}

/// Restores the spool directory and rci.conf when a test that changed them ends.
struct SpoolRestore<'a> {
    c: &'a Cluster,
    rci_conf: String,
    saved_spool: Option<PathBuf>,
}

impl<'a> SpoolRestore<'a> {
    fn new(c: &'a Cluster) -> Self {
        SpoolRestore {
            c,
            rci_conf: fs::read_to_string(c.rci_conf_path()).unwrap(),
            saved_spool: None,
        }
    }

    /// Moves the real spool aside (to be put back on drop).
    fn move_spool_aside(&mut self) {
        let spool = self.c.dir().join("accounting");
        let saved = self.c.dir().join("accounting.saved");
        if fs::symlink_metadata(&spool).is_ok() {
            fs::rename(&spool, &saved).unwrap();
            self.saved_spool = Some(saved);
        }
    }
}

impl Drop for SpoolRestore<'_> {
    fn drop(&mut self) {
        self.c.write_rci_conf(&self.rci_conf);
        let spool = self.c.dir().join("accounting");
        if fs::symlink_metadata(&spool).is_ok_and(|m| m.file_type().is_symlink()) {
            let _ = fs::remove_file(&spool);
        }
        if let Some(saved) = &self.saved_spool {
            let _ = fs::rename(saved, &spool);
        }
    }
}

/// Runs a short CPU job, checks it completed and waits for the slurmd log of cpu01 to say
/// `expected` about its record.
fn job_logs_spool_error(c: &Cluster, name: &str, expected: &str) -> u32 {
    let (id, _, _) = c
        .sbatch(&["-p", "cpu", "-J", name], "true")
        .expect("sbatch accepted");
    assert_eq!(c.wait_job_done(id, JOB_TIMEOUT), "COMPLETED");
    let line = format!("spank_rci: accounting record for job {id}: {expected}");
    let logged = wait_until(RECORD_TIMEOUT, || c.slurmd_log("cpu01").contains(&line));
    assert!(logged, "no '{line}' in slurmd-cpu01.log\n{}", c.log_tails());
    id
}

#[test]
fn symlinked_spool_is_refused_and_the_job_still_completes() {
    let c = cluster();
    let _lock = test_lock();
    let mut restore = SpoolRestore::new(c);
    restore.move_spool_aside();
    let target = c.dir().join("acct-symlink-target");
    fs::create_dir_all(&target).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o750)).unwrap();
    let spool = c.dir().join("accounting");
    std::os::unix::fs::symlink(&target, &spool).unwrap();

    let expected = format!(
        "spool directory {} is a symlink; refusing it",
        spool.display()
    );
    job_logs_spool_error(c, "acct-symlink", &expected);
    let written: Vec<_> = fs::read_dir(&target).unwrap().flatten().collect();
    assert!(
        written.is_empty(),
        "written through the symlink: {written:?}"
    );
}

#[test]
fn unwritable_spool_is_logged_and_the_job_still_completes() {
    let c = cluster();
    let _lock = test_lock();
    let restore = SpoolRestore::new(c);
    let with_spool = |spool: &Path| {
        let text: String = restore
            .rci_conf
            .lines()
            .filter(|l| !l.trim_start().starts_with("AccountingSpool="))
            .map(|l| format!("{l}\n"))
            .collect();
        c.write_rci_conf(&format!("{text}AccountingSpool={}\n", spool.display()));
    };

    // Nobody, root included, can create a directory in /proc.
    let in_proc = Path::new("/proc/rci-accounting-test");
    with_spool(in_proc);
    job_logs_spool_error(
        c,
        "acct-proc",
        &format!("cannot create spool directory {}", in_proc.display()),
    );

    // A file where the directory should be.
    let file = c.dir().join("acct-not-a-dir");
    fs::write(&file, "").unwrap();
    with_spool(&file);
    job_logs_spool_error(
        c,
        "acct-file",
        &format!("spool path {} is not a directory", file.display()),
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), "");
}

#[test]
fn without_accounting_spool_records_go_under_slurmd_spool_dir() {
    let c = cluster();
    let _lock = test_lock();
    let restore = SpoolRestore::new(c);
    let text: String = restore
        .rci_conf
        .lines()
        .filter(|l| !l.trim_start().starts_with("AccountingSpool="))
        .map(|l| format!("{l}\n"))
        .collect();
    c.write_rci_conf(&text);
    let (id, _, _) = c
        .sbatch(&["-p", "cpu", "-J", "acct-default-spool"], "true")
        .expect("sbatch accepted");
    assert_eq!(c.wait_job_done(id, JOB_TIMEOUT), "COMPLETED");
    // The test cluster has SlurmdSpoolDir=<dir>/spool/%n.
    let spool = c.dir().join("spool/cpu01/rci-accounting");
    let found = wait_until(RECORD_TIMEOUT, || {
        fs::read_dir(&spool).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.file_name().to_string_lossy().ends_with(".jsonl")
                    && fs::read_to_string(e.path())
                        .is_ok_and(|t| t.contains(&format!("\"job_id\":{id},")))
            })
        })
    });
    assert!(
        found,
        "no record of job {id} under {}\n{}",
        spool.display(),
        c.log_tails()
    );
}

#[test]
fn records_also_go_to_syslog() {
    use std::os::unix::net::UnixDatagram;
    let c = cluster();
    let _lock = test_lock();
    let restore = SpoolRestore::new(c);
    let socket = c.dir().join("syslog.sock");
    let _ = fs::remove_file(&socket);
    let syslogd = UnixDatagram::bind(&socket).expect("bind a fake syslog socket");
    syslogd
        .set_read_timeout(Some(RECORD_TIMEOUT))
        .expect("read timeout");
    let text: String = restore
        .rci_conf
        .lines()
        .filter(|l| !l.trim_start().to_ascii_lowercase().starts_with("syslog"))
        .map(|l| format!("{l}\n"))
        .collect();
    c.write_rci_conf(&format!(
        "{text}Syslog=yes\nSyslogFacility=local3\nSyslogSocket={}\n",
        socket.display()
    ));
    let (id, _, _) = c
        .sbatch(&["-p", "cpu", "-J", "acct-syslog"], "true")
        .expect("sbatch accepted");
    assert_eq!(c.wait_job_done(id, JOB_TIMEOUT), "COMPLETED");
    let mut buf = vec![0u8; 65536];
    let wanted = format!("\"job_id\":{id},");
    let message = loop {
        let n = syslogd
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no syslog message for job {id}: {e}\n{}", c.log_tails()));
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.contains(&wanted) {
            break text;
        }
    };
    // local3.info = 19 * 8 + 6; the tag, then the same JSON line as in the spool.
    assert!(message.starts_with("<158>"), "{message}");
    assert!(message.contains("rci-energy"), "{message}");
    assert!(
        message.contains("\"schema\":\"rci.job-energy\""),
        "{message}"
    );
    let _ = fs::remove_file(&socket);
}

/// `rci report ARGS` with the CLI built next to the plugins.
fn rci_report(args: &[&str]) -> String {
    let rci = rci_cli();
    let out = Command::new(&rci)
        .arg("report")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", rci.display()));
    assert!(
        out.status.success(),
        "rci report {args:?}: {}",
        stderr_of(&out)
    );
    stdout_of(&out)
}

/// CSV output as one map per row.
fn csv_rows(text: &str) -> Vec<HashMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split(',').map(str::to_owned))
                .collect()
        })
        .collect()
}

fn num(row: &HashMap<String, String>, key: &str) -> f64 {
    row[key].parse().unwrap()
}

#[test]
fn rci_report_totals_match_the_records() {
    let c = cluster();
    let (gpu, _, _) = gpu_job();
    let (cpu, _) = cpu_job();
    let _lock = test_lock();

    // Just these two records.
    let tmp = tempfile::tempdir().unwrap();
    let two = format!("{gpu}\n{cpu}\n");
    fs::write(tmp.path().join("two.jsonl"), two).unwrap();
    let dir = tmp.path().to_str().unwrap();

    let by_user = csv_rows(&rci_report(&[dir, "--by", "user", "--format", "csv"]));
    let users: Vec<&str> = by_user.iter().map(|r| r["user"].as_str()).collect();
    assert_eq!(users, ["rcitest", "root"]);
    for (row, rec) in by_user.iter().zip([gpu, cpu]) {
        assert_eq!(row["jobs"], "1");
        assert_eq!(row["records"], "1");
        assert!(close(num(row, "gpu_hours"), f(rec, "gpu_hours")), "{row:?}");
        assert!(close(num(row, "cpu_hours"), f(rec, "cpu_hours")), "{row:?}");
        assert!(close(num(row, "kwh"), total_joules(rec) / 3.6e6), "{row:?}");
        assert_eq!(row["currency"], "EUR");
    }
    assert_eq!(
        num(&by_user[0], "gpu_hours"),
        2.0 * f(gpu, "elapsed_s") / 3600.0
    );

    let by_partition = csv_rows(&rci_report(&[dir, "--by", "partition", "--format", "csv"]));
    let parts: Vec<(&str, &str)> = by_partition
        .iter()
        .map(|r| (r["partition"].as_str(), r["jobs"].as_str()))
        .collect();
    assert_eq!(parts, [("cpu", "1"), ("gpu", "1")]);

    let json: Value =
        serde_json::from_str(&rci_report(&[dir, "--by", "partition", "--format", "json"])).unwrap();
    assert_eq!(json["total"]["jobs"], 2);
    let total_kwh = (total_joules(gpu) + total_joules(cpu)) / 3.6e6;
    assert!(
        close(json["total"]["kwh"].as_f64().unwrap(), total_kwh),
        "{json}"
    );
    assert_eq!(json["malformed_lines"], 0);

    // One job's record, from the cluster's spool.
    let spool = c.dir().join("accounting");
    let spool = spool.to_str().unwrap();
    let id = gpu["job_id"].to_string();
    let shown = rci_report(&["--job", &id, spool]);
    assert!(shown.contains(&fake_gpu_uuid(0)), "{shown}");
    assert!(shown.contains(&fake_gpu_uuid(1)), "{shown}");
    assert!(shown.contains("acct-gpu"), "{shown}");
    let as_json: Value =
        serde_json::from_str(&rci_report(&["--job", &id, spool, "--format", "json"])).unwrap();
    assert_eq!(as_json, Value::Array(vec![gpu.clone()]));

    // Over the whole spool: the totals are those of every record there.
    let records = all_records(c);
    let jobs: HashSet<String> = records.iter().map(|r| r["job_id"].to_string()).collect();
    let json: Value =
        serde_json::from_str(&rci_report(&[spool, "--by", "user", "--format", "json"])).unwrap();
    assert_eq!(json["total"]["jobs"], jobs.len() as u64);
    assert_eq!(json["total"]["records"], records.len() as u64);
    let kwh: f64 = records.iter().map(total_joules).sum::<f64>() / 3.6e6;
    assert!(close(json["total"]["kwh"].as_f64().unwrap(), kwh), "{json}");
    let gpu_hours: f64 = records.iter().map(|r| f(r, "gpu_hours")).sum();
    assert!(close(
        json["total"]["gpu_hours"].as_f64().unwrap(),
        gpu_hours
    ));
    assert!(rci_report(&[spool, "--by", "user"]).contains("TOTAL"));
}

/// Number of jobs [`every_job_of_an_unprivileged_user_gets_a_complete_record`] submits
/// (`RCI_RECORD_JOBS`, default 200).
fn record_jobs() -> u32 {
    std::env::var("RCI_RECORD_JOBS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

#[test]
fn every_job_of_an_unprivileged_user_gets_a_complete_record() {
    // Slurm 24.11-25.11 run the extern step's end (slurm_spank_exit) while another thread has
    // switched the whole slurmstepd to the job user's euid for a moment: root-only paths then
    // fail with EACCES. Jobs of root never show it, so this is a normal user's. Short jobs, as
    // many as possible at once, on both nodes, GPU jobs among them.
    let c = cluster();
    let _lock = test_lock();
    let n = record_jobs();
    let mut jobs = Vec::new();
    for i in 0..n {
        let name = format!("rec-{i}");
        let gpu = i % 2 == 1;
        let mut args = vec!["--job-name", &name, "--wrap=true"];
        if gpu {
            args.extend(["-p", "gpu", "--gres=gpu:1"]);
        } else {
            args.extend(["-p", "cpu", "-c", "1"]);
        }
        let (id, _, _) = c
            .sbatch_as(TEST_USER, &args, "")
            .unwrap_or_else(|e| panic!("sbatch {args:?}: {e}"));
        jobs.push((id, name, gpu));
    }
    let uid: u64 = stdout_of(&Command::new("id").args(["-u", TEST_USER]).output().unwrap())
        .trim()
        .parse()
        .unwrap();
    let ids: HashSet<u32> = jobs.iter().map(|(id, _, _)| *id).collect();
    let complete = || {
        all_records(c)
            .iter()
            .filter(|r| {
                r["job_id"]
                    .as_u64()
                    .is_some_and(|id| ids.contains(&(id as u32)))
            })
            .count()
            >= ids.len()
    };
    let all_there = wait_until(Duration::from_secs(60 + u64::from(n) / 2), complete);
    let records: HashMap<u32, Vec<Value>> =
        all_records(c).into_iter().fold(HashMap::new(), |mut m, r| {
            if let Some(id) = r["job_id"].as_u64() {
                m.entry(id as u32).or_default().push(r);
            }
            m
        });
    let mut problems = Vec::new();
    for (id, name, gpu) in &jobs {
        let Some(found) = records.get(id) else {
            problems.push(format!("job {id}: no record"));
            continue;
        };
        if found.len() != 1 {
            problems.push(format!("job {id}: {} records", found.len()));
        }
        let r = &found[0];
        let (partition, node, gpus) = if *gpu {
            ("gpu", "gpu01", 1)
        } else {
            ("cpu", "cpu01", 0)
        };
        let facts = [
            ("user", r["user"] == TEST_USER),
            ("uid", r["uid"] == uid),
            ("job_name", r["job_name"] == name.as_str()),
            ("partition", r["partition"] == partition),
            ("node", r["node"] == node),
            (
                "gpus",
                r["gpus"].as_array().is_some_and(|g| g.len() == gpus),
            ),
        ];
        for (fact, ok) in facts {
            if !ok {
                problems.push(format!("job {id}: wrong or missing {fact}: {r}"));
            }
        }
    }
    // The notes of finished jobs do not stay behind: a job that could not remove its own
    // (euid switched at that moment) left it empty, and the next job on the node removes it.
    let notes = c.dir().join("accounting/.step-notes");
    let notes_of_these_jobs = || -> Vec<(String, u64)> {
        fs::read_dir(&notes)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        let ours = ids.iter().any(|id| name.contains(&format!(".{id}.")));
                        ours.then(|| (name, e.metadata().map(|m| m.len()).unwrap_or(0)))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // A record is written just before its notes are consumed: give the last extern steps a
    // moment to finish.
    let consumed = || notes_of_these_jobs().iter().all(|(_, len)| *len == 0);
    wait_until(Duration::from_secs(30), consumed);
    let non_empty: Vec<(String, u64)> = notes_of_these_jobs()
        .into_iter()
        .filter(|(_, len)| *len > 0)
        .collect();
    // A job's start removes the emptied files no live job holds; one whose extern step had
    // not closed it yet waits for the next start. A few rounds of jobs on both nodes, then.
    for _ in 0..5 {
        if notes_of_these_jobs().is_empty() {
            break;
        }
        for partition in ["cpu", "gpu"] {
            let (id, _, _) = c.sbatch(&["-p", partition, "--wrap=true"], "").unwrap();
            c.wait_job_done(id, JOB_TIMEOUT);
        }
    }
    // Emptied files hold nothing; only notes with content would be a lost or stale record.
    let left: Vec<(String, u64)> = notes_of_these_jobs()
        .into_iter()
        .filter(|(_, len)| *len > 0)
        .collect();
    let errors: Vec<String> = ["cpu01", "gpu01"]
        .iter()
        .flat_map(|node| {
            c.slurmd_log(node)
                .lines()
                .filter(|l| l.contains("spank_rci: accounting") && l.contains("error"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        all_there && problems.is_empty() && left.is_empty() && non_empty.is_empty(),
        "{} of {n} jobs have a complete record (all there: {all_there}); problems:\n{}\nnotes \
         with content after the jobs ended: {non_empty:?}\nnotes left after the next jobs: \
         {left:?}\naccounting errors in slurmd logs:\n{}",
        n as usize - problems.len().min(n as usize),
        problems.join("\n"),
        errors.join("\n")
    );
}

// ------------------------------------------------------------------------------------------
// GPU utilisation and central syslog

/// Sets every fake GPU's SM utilisation to `pct` (memory used 2000 MiB), counters unchanged.
fn set_gpu_util(c: &Cluster, pct: u32) {
    let mut text = fs::read_to_string(nvml_state_path(c)).unwrap();
    text = text
        .lines()
        .filter(|l| l.starts_with("device "))
        .map(|l| format!("{l}\n"))
        .collect();
    for i in 0..4 {
        text.push_str(&format!("util {i} {pct} 3 2000\n"));
    }
    let path = nvml_state_path(c);
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, &path).unwrap();
}

/// A one-GPU job on gpu01 held for two RAPL samples while its GPUs report `pct` % SM.
fn gpu_job_at(c: &Cluster, pct: u32) -> Value {
    set_gpu_util(c, pct);
    let job = HeldJob::submit(
        c,
        None,
        "gpu01",
        &[
            "-p",
            "gpu",
            "--gres=gpu:1",
            "-J",
            &format!("acct-util-{pct}"),
        ],
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(job.finish(), "COMPLETED");
    wait_record(c, job.id)
}

#[test]
fn idle_gpus_are_listed_and_busy_ones_are_not() {
    let c = cluster();
    let _lock = test_lock();
    let idle = gpu_job_at(c, 0);
    let busy = gpu_job_at(c, 90);
    set_gpu_counters(c, gpu_counters(c));
    assert_eq!(idle["schema_version"], 2);
    let usage = &idle["gpu_usage"][0];
    assert_eq!(usage["index"], idle["gpus"][0]["index"], "{idle}");
    assert_eq!(usage["sm_util_mean_pct"], 0.0, "{idle}");
    assert_eq!(usage["memory_used_max_mib"], 2000, "{idle}");
    assert!(usage["samples"].as_u64().unwrap() >= 2, "{idle}");
    assert_eq!(busy["gpu_usage"][0]["sm_util_mean_pct"], 90.0, "{busy}");
    assert_eq!(busy["gpu_usage"][0]["sm_util_max_pct"], 90, "{busy}");

    let spool = c.dir().join("accounting");
    let out: Value = serde_json::from_str(&rci_report(&[
        spool.to_str().unwrap(),
        "--idle-gpus",
        "--format",
        "json",
    ]))
    .unwrap();
    let listed: Vec<&Value> = out["records"].as_array().unwrap().iter().collect();
    let idle_id = &idle["job_id"];
    let row = listed
        .iter()
        .find(|r| &r["job_id"] == idle_id)
        .unwrap_or_else(|| panic!("job {idle_id} not in --idle-gpus: {out}"));
    let hours = idle["elapsed_s"].as_f64().unwrap() / 3600.0;
    assert!(
        (row["idle_gpu_hours"].as_f64().unwrap() - hours).abs() < 1e-9,
        "{row}"
    );
    assert!(
        !listed.iter().any(|r| r["job_id"] == busy["job_id"]),
        "a GPU at 90 % is not idle: {out}"
    );
    // A threshold above 90 % lists both.
    let out = rci_report(&[spool.to_str().unwrap(), "--idle-gpus", "--below", "95"]);
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with(&format!("{} ", busy["job_id"]))),
        "{out}"
    );
}

/// An rsyslogd (Debian's package) listening on `socket`, writing `traditional` (RFC 3164) and
/// `protocol` (RFC 5424) files. Killed on drop.
struct Rsyslogd {
    child: std::process::Child,
}

impl Rsyslogd {
    fn start(dir: &Path, socket: &Path, traditional: &Path, protocol: &Path) -> Option<Rsyslogd> {
        let rsyslogd = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let work = dir.join("rsyslog-work");
        fs::create_dir_all(&work).unwrap();
        let conf = dir.join("rsyslog.conf");
        fs::write(
            &conf,
            format!(
                "global(workDirectory=\"{work}\" maxMessageSize=\"64k\")\n\
                 module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
                 input(type=\"imuxsock\" Socket=\"{socket}\" RateLimit.Interval=\"0\")\n\
                 *.* action(type=\"omfile\" file=\"{traditional}\" template=\"RSYSLOG_TraditionalFileFormat\")\n\
                 *.* action(type=\"omfile\" file=\"{protocol}\" template=\"RSYSLOG_SyslogProtocol23Format\")\n",
                work = work.display(),
                socket = socket.display(),
                traditional = traditional.display(),
                protocol = protocol.display(),
            ),
        )
        .unwrap();
        let child = Command::new(rsyslogd)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let up = wait_until(Duration::from_secs(10), || socket.exists());
        assert!(up, "rsyslogd did not create {}", socket.display());
        Some(Rsyslogd { child })
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn totals_from_a_central_rsyslog_file_equal_the_spools() {
    let c = cluster();
    let _lock = test_lock();
    let restore = SpoolRestore::new(c);
    let dir = c.dir().join("rsyslog");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("log.sock");
    let (traditional, protocol) = (dir.join("messages"), dir.join("messages-5424"));
    let Some(_rsyslogd) = Rsyslogd::start(&dir, &socket, &traditional, &protocol) else {
        let msg = "rsyslogd is not installed (scripts/install-deps.sh installs rsyslog)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return;
    };
    let text: String = restore
        .rci_conf
        .lines()
        .filter(|l| !l.trim_start().to_ascii_lowercase().starts_with("syslog"))
        .map(|l| format!("{l}\n"))
        .collect();
    c.write_rci_conf(&format!(
        "{text}Syslog=yes\nSyslogFacility=local4\nSyslogSocket={}\n",
        socket.display()
    ));
    let mut ids = Vec::new();
    for (i, args) in [
        vec!["-p", "cpu", "-J", "acct-rsyslog-1"],
        vec!["-p", "gpu", "--gres=gpu:1", "-J", "acct-rsyslog-2"],
        vec!["-p", "cpu", "-n", "2", "-J", "acct-rsyslog-3"],
    ]
    .iter()
    .enumerate()
    {
        let (id, _, _) = c
            .sbatch(args, &format!("sleep 0.{i}"))
            .expect("sbatch accepted");
        ids.push(id);
    }
    for &id in &ids {
        assert_eq!(c.wait_job_done(id, JOB_TIMEOUT), "COMPLETED");
    }
    let spool_records: Vec<Value> = ids.iter().map(|&id| wait_record(c, id)).collect();
    for file in [&traditional, &protocol] {
        let all_there = wait_until(RECORD_TIMEOUT, || {
            let text = fs::read_to_string(file).unwrap_or_default();
            ids.iter()
                .all(|id| text.contains(&format!("\"job_id\":{id},")))
        });
        assert!(
            all_there,
            "records missing in {}\n{}",
            file.display(),
            c.log_tails()
        );
    }
    let subset = dir.join("spool-subset.jsonl");
    let lines: String = spool_records.iter().map(|r| format!("{r}\n")).collect();
    fs::write(&subset, lines).unwrap();
    let totals = |path: &Path| -> Value {
        let v: Value = serde_json::from_str(&rci_report(&[
            path.to_str().unwrap(),
            "--by",
            "account",
            "--format",
            "json",
        ]))
        .unwrap();
        v["total"].clone()
    };
    let from_spool = totals(&subset);
    assert_eq!(from_spool["jobs"], 3);
    for file in [&traditional, &protocol] {
        let text = fs::read_to_string(file).unwrap();
        assert!(text.contains(" rci-energy"), "{text}");
        let got = totals(file);
        for (key, want) in from_spool.as_object().unwrap() {
            let same = match (want.as_f64(), got[key].as_f64()) {
                // Jobs may end in another order than submitted: sums may differ in an ulp.
                (Some(w), Some(g)) => (w - g).abs() <= w.abs() * 1e-9,
                _ => &got[key] == want,
            };
            assert!(
                same,
                "{key}: {} vs {want} in {}:\n{text}",
                got[key],
                file.display()
            );
        }
    }
    // rci sync's reader finds the same records in the syslog file.
    let mut found = Vec::new();
    rci::cli::sync::collect::read_new(&traditional, None, |r| found.push(r.job_id)).unwrap();
    let mut want = ids.clone();
    want.sort_unstable();
    found.sort_unstable();
    assert_eq!(found, want);
}
