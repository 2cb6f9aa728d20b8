//! `rci doctor` against fake nodes: a temp dir with a fake /proc/driver/nvidia tree, `mknod`
//! GPU device files, a fake RAPL tree, the fake libnvidia-ml (tests/fake_nvml) and the rci.conf,
//! gres.conf and slurm.conf naming them. A healthy fake node is all OK; each broken fixture gives
//! a FAIL (or WARN) whose reason names what is broken. The last test runs the doctor on the real
//! test cluster's GPU node.
//!
//! The CLI under test is the built (or installed, `RCI_CLI`) binary, run as a child with a
//! generous kill deadline so a hang fails the test instead of stalling it.

mod common;
mod fake_nvml;

use common::{
    fake_gpu_bus_id, fake_gpu_uuid, plugin_path, rci_cli, shared_cluster, ClusterOptions,
};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// No doctor run here may take longer; they are bounded by their own timeouts well below this.
const KILL_AFTER: Duration = Duration::from_secs(60);

/// One fake GPU node in a temp dir.
struct FakeNode {
    dir: tempfile::TempDir,
}

impl FakeNode {
    /// Four healthy L40s (minor N at PCI 0000:1N:00.0, as scripts/rci-cluster makes them),
    /// NVML agreeing and drawing 60 W each, RAPL with one package and its DRAM.
    fn healthy() -> FakeNode {
        let node = FakeNode {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        for minor in 0..4 {
            node.add_proc_gpu(minor, &fake_gpu_uuid(minor), &fake_gpu_bus_id(minor));
            node.mknod(minor);
        }
        node.write_rapl(262_143_328_850);
        node.nvml_state("power_mw 60000\n");
        fs::create_dir_all(node.path("nvml")).unwrap();
        let lib = node.path("nvml/libnvidia-ml.so.1");
        fs::copy(fake_nvml::library(), &lib).unwrap();
        fs::set_permissions(&lib, fs::Permissions::from_mode(0o755)).unwrap();
        node.gres("NodeName=gpu01 Name=gpu Type=l40 File=@/dev/nvidia[0-3]\n");
        node.rci_conf("");
        node
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn root(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text.replace('@', &self.root())).unwrap();
    }

    fn add_proc_gpu(&self, minor: u32, uuid: &str, bus: &str) {
        self.write(
            &format!("fakeproc/driver/nvidia/gpus/{bus}/information"),
            &format!(
                "Model: \t\t NVIDIA L40\nIRQ:   \t\t 183\nGPU UUID: \t {uuid}\n\
                 Video BIOS: \t 95.02.3c.00.01\nBus Type: \t PCIe\nBus Location: \t {bus}\n\
                 Device Minor: \t {minor}\nGPU Excluded:\t No\n"
            ),
        );
    }

    fn mknod(&self, minor: u32) {
        fs::create_dir_all(self.path("dev")).unwrap();
        let path = self.path(&format!("dev/nvidia{minor}"));
        let status = Command::new("mknod")
            .args(["-m", "0666"])
            .arg(&path)
            .args(["c", "195", &minor.to_string()])
            .status()
            .expect("mknod runs");
        assert!(
            status.success(),
            "mknod {} (the tests run as root)",
            path.display()
        );
    }

    fn write_rapl(&self, range_uj: u64) {
        for (zone, name) in [
            ("intel-rapl:0", "package-0"),
            ("intel-rapl:0/intel-rapl:0:0", "dram"),
        ] {
            self.write(
                &format!("fakesys/class/powercap/{zone}/name"),
                &format!("{name}\n"),
            );
            self.write(
                &format!("fakesys/class/powercap/{zone}/energy_uj"),
                "1000000\n",
            );
            self.write(
                &format!("fakesys/class/powercap/{zone}/max_energy_range_uj"),
                &format!("{range_uj}\n"),
            );
        }
    }

    /// The fake NVML's state: the four GPUs as /proc has them, then `extra` lines.
    fn nvml_state(&self, extra: &str) {
        self.nvml_devices(
            &(0..4).map(|m| (fake_gpu_uuid(m), m)).collect::<Vec<_>>(),
            extra,
        );
    }

    fn nvml_devices(&self, devices: &[(String, u32)], extra: &str) {
        let mut text: String = devices
            .iter()
            .map(|(uuid, minor)| format!("device {uuid} {minor} 1000000 NVIDIA L40\n"))
            .collect();
        text.push_str(extra);
        self.write("nvml/libnvidia-ml.so.1.state", &text);
    }

    fn gres(&self, text: &str) {
        self.write("etc/gres.conf", text);
    }

    fn rci_conf(&self, extra: &str) {
        self.write(
            "etc/rci.conf",
            &format!(
                "NvidiaProcRoot=@/fakeproc\nDevRoot=@/dev\nSysfsRoot=@/fakesys\n\
                 AccountingSpool=@/spool\nNvmlLibrary=@/nvml/libnvidia-ml.so.1\n\
                 RaplSampleInterval=1\nSyslog=no\n{extra}"
            ),
        );
    }

    /// Runs `rci doctor --json` on this node for the given areas; (exit code, report).
    fn doctor(&self, only: &str, extra: &[&str]) -> (i32, Value) {
        let mut cmd = Command::new(rci_cli());
        cmd.args([
            "doctor",
            "--json",
            "--node",
            "gpu01",
            "--energy-interval",
            "0.3",
        ])
        .arg("--conf")
        .arg(self.path("etc/rci.conf"))
        .args(["--only", only])
        .args(extra);
        run_doctor(cmd)
    }
}

/// Runs a doctor command, killing it after [`KILL_AFTER`]; (exit code, parsed JSON).
fn run_doctor(mut cmd: Command) -> (i32, Value) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rci runs");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > KILL_AFTER {
            let _ = child.kill();
            panic!("rci doctor still running after {KILL_AFTER:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "rci doctor --json printed no JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// Messages of the checks with `status` (`ok`, `warn`, `fail`).
fn with_status(report: &Value, status: &str) -> Vec<String> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == status)
        .map(|c| {
            format!(
                "[{}] {}",
                c["area"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Asserts exactly one FAIL, containing every one of `parts`; exit code 1.
fn assert_one_fail(code: i32, report: &Value, parts: &[&str]) {
    let fails = with_status(report, "fail");
    assert_eq!(
        fails.len(),
        1,
        "expected one FAIL, got {fails:#?}\n{report:#}"
    );
    for part in parts {
        assert!(
            fails[0].contains(part),
            "FAIL should say {part:?}: {}",
            fails[0]
        );
    }
    assert_eq!(code, 1, "a FAIL exits 1");
}

fn assert_all_ok(code: i32, report: &Value) {
    let bad: Vec<String> = [with_status(report, "warn"), with_status(report, "fail")].concat();
    assert!(
        bad.is_empty(),
        "expected every check OK: {bad:#?}\n{report:#}"
    );
    assert_eq!(code, 0);
}

#[test]
fn a_healthy_fake_gpu_node_is_all_ok() {
    let node = FakeNode::healthy();
    let (code, report) = node.doctor("config,gpu,nvml,rapl,spool", &[]);
    assert_all_ok(code, &report);
    let ok = with_status(&report, "ok");
    for minor in 0..4u32 {
        let line = ok
            .iter()
            .find(|m| m.contains(&format!("GRES index {minor},")))
            .unwrap_or_else(|| panic!("no line for GRES index {minor}: {ok:#?}"));
        assert!(line.contains(&fake_gpu_uuid(minor)), "{line}");
        assert!(line.contains(&fake_gpu_bus_id(minor)), "{line}");
        assert!(line.contains("/proc and NVML agree"), "{line}");
    }
    assert!(
        ok.iter()
            .any(|m| m.contains("driver 535.183.01") && m.contains("4 GPU(s)")),
        "{ok:#?}"
    );
    // 60 W for 0.3 s and more: the counter advanced at about that power.
    let energy = ok
        .iter()
        .filter(|m| m.contains("energy counter advancing"))
        .count();
    assert_eq!(energy, 4, "{ok:#?}");
    assert!(
        ok.iter().any(|m| m.contains("cpu-package-0: readable")),
        "{ok:#?}"
    );
    assert!(ok.iter().any(|m| m.contains("dram-0: readable")), "{ok:#?}");
}

#[test]
fn text_output_has_one_line_per_check_and_a_summary() {
    let node = FakeNode::healthy();
    let out = Command::new(rci_cli())
        .args([
            "doctor",
            "--node",
            "gpu01",
            "--only",
            "gpu",
            "--energy-interval",
            "0.1",
            "--conf",
        ])
        .arg(node.path("etc/rci.conf"))
        .output()
        .expect("rci runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines
            .iter()
            .take(lines.len() - 1)
            .all(|l| l.starts_with("OK   gpu ")),
        "{text}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        format!(
            "rci doctor on gpu01: {} OK, 0 WARN, 0 FAIL",
            lines.len() - 1
        )
    );
}

#[test]
fn proc_and_nvml_naming_different_gpus_fails_with_both_uuids() {
    let node = FakeNode::healthy();
    let other = "GPU-deadbeef-0000-4000-8000-000000000002";
    let mut devices: Vec<(String, u32)> = (0..4).map(|m| (fake_gpu_uuid(m), m)).collect();
    devices[2].0 = other.to_owned();
    node.nvml_devices(&devices, "power_mw 60000\n");
    let (code, report) = node.doctor("gpu", &[]);
    assert_one_fail(
        code,
        &report,
        &["GRES index 2", "minor 2", &fake_gpu_uuid(2), other],
    );
}

#[test]
fn proc_and_nvml_disagreeing_on_the_pci_address_fails() {
    let node = FakeNode::healthy();
    node.nvml_state("power_mw 60000\npci 1 00000000:99:00.0\n");
    let (code, report) = node.doctor("gpu", &[]);
    assert_one_fail(
        code,
        &report,
        &["GRES index 1", "0000:11:00.0", "00000000:99:00.0"],
    );
}

#[test]
fn a_gres_file_with_no_gpu_behind_it_fails() {
    let node = FakeNode::healthy();
    node.mknod(4);
    node.gres("NodeName=gpu01 Name=gpu Type=l40 File=@/dev/nvidia[0-4]\n");
    let (code, report) = node.doctor("gpu", &[]);
    assert_one_fail(
        code,
        &report,
        &["GRES index 4", "minor 4 has no GPU behind it", "NVML"],
    );
}

#[test]
fn a_missing_or_plain_device_file_fails() {
    let node = FakeNode::healthy();
    fs::remove_file(node.path("dev/nvidia3")).unwrap();
    let (code, report) = node.doctor("gpu", &[]);
    assert_one_fail(
        code,
        &report,
        &["GRES index 3", "dev/nvidia3 cannot be read"],
    );

    fs::write(node.path("dev/nvidia3"), "").unwrap();
    let (code, report) = node.doctor("gpu", &[]);
    assert_one_fail(
        code,
        &report,
        &["GRES index 3", "is not a character device"],
    );
}

#[test]
fn autodetect_order_differing_from_file_order_fails() {
    let node = FakeNode::healthy();
    // File= lists minor 1 first; AutoDetect=nvml numbers by PCI bus, where minor 0 comes first.
    node.gres(
        "AutoDetect=nvml\nNodeName=gpu01 Name=gpu Type=l40 File=@/dev/nvidia1\n\
         NodeName=gpu01 Name=gpu Type=l40 File=@/dev/nvidia0\n",
    );
    let (code, report) = node.doctor("gpu", &[]);
    assert_one_fail(
        code,
        &report,
        &["AutoDetect=nvml", "minors 0,1", "File= lists minors 1,0"],
    );

    // Without AutoDetect the same File= order is Slurm's own: a warning, not a failure.
    node.gres(
        "NodeName=gpu01 Name=gpu Type=l40 File=@/dev/nvidia1\n\
         NodeName=gpu01 Name=gpu Type=l40 File=@/dev/nvidia0\n",
    );
    let (code, report) = node.doctor("gpu", &[]);
    assert_eq!(code, 0, "{report:#}");
    let warns = with_status(&report, "warn");
    assert!(
        warns
            .iter()
            .any(|w| w.contains("differs from PCI bus order")),
        "{warns:#?}"
    );
    // GPUs 2 and 3 are in /proc but in no File=: Slurm never allocates them.
    assert_eq!(
        warns
            .iter()
            .filter(|w| w.contains("never allocates it"))
            .count(),
        2,
        "{warns:#?}"
    );
}

#[test]
fn a_missing_nvml_on_a_gpu_node_fails_and_proc_alone_still_names_the_gpus() {
    let node = FakeNode::healthy();
    node.rci_conf("NvmlLibrary=/nonexistent/libnvidia-ml.so.1\n");
    let (code, report) = node.doctor("gpu,nvml", &[]);
    assert_one_fail(
        code,
        &report,
        &["[nvml]", "/nonexistent/libnvidia-ml.so.1 not found"],
    );
    let ok = with_status(&report, "ok");
    assert!(
        ok.iter()
            .any(|m| m.contains(&fake_gpu_uuid(0)) && m.contains("NVML not available")),
        "{ok:#?}"
    );
}

#[test]
fn a_hanging_nvml_init_is_given_up_on_within_the_timeout() {
    let node = FakeNode::healthy();
    node.nvml_state("init_sleep_ms 600000\n");
    let (code, report) = node.doctor("nvml", &["--nvml-timeout", "1"]);
    assert_one_fail(code, &report, &["nvmlInit_v2 did not return within 1.0 s"]);
}

#[test]
fn nvml_hanging_after_init_is_given_up_on_and_named() {
    let node = FakeNode::healthy();
    node.nvml_state("query_sleep_ms 600000\n");
    let (code, report) = node.doctor("gpu,nvml", &["--nvml-timeout", "1"]);
    assert_one_fail(
        code,
        &report,
        &["did not answer within", "stuck in nvmlDeviceGetCount_v2"],
    );
}

#[test]
fn energy_counters_missing_or_stuck_and_mig_are_warnings() {
    let node = FakeNode::healthy();
    // GPU 0: no counter (pre-Volta); every counter stands still (power_mw 0); GPU 3 has MIG on.
    let mut text: String = (0..4)
        .map(|m| {
            let energy = if m == 0 {
                "NOT_SUPPORTED".to_owned()
            } else {
                "5000".to_owned()
            };
            format!("device {} {m} {energy} NVIDIA L40\n", fake_gpu_uuid(m))
        })
        .collect();
    text.push_str("mig 3 1 1\nmig 2 0 1\n");
    node.write("nvml/libnvidia-ml.so.1.state", &text);
    let (code, report) = node.doctor("nvml", &[]);
    assert_eq!(code, 0, "warnings only: {report:#}");
    let warns = with_status(&report, "warn");
    assert!(
        warns
            .iter()
            .any(|w| w.contains("GPU 0") && w.contains("no energy counter")),
        "{warns:#?}"
    );
    assert_eq!(
        warns
            .iter()
            .filter(|w| w.contains("did not advance"))
            .count(),
        3,
        "{warns:#?}"
    );
    assert!(
        warns
            .iter()
            .any(|w| w.contains("GPU 3") && w.contains("MIG enabled")),
        "{warns:#?}"
    );
    assert!(
        warns
            .iter()
            .any(|w| w.contains("GPU 2") && w.contains("next GPU reset")),
        "{warns:#?}"
    );
}

#[test]
fn rapl_without_zones_unreadable_or_wrapping_fast() {
    let node = FakeNode::healthy();
    // 20 J at the assumed 1 kW wraps every 0.02 s: a 1 s interval misses wraps.
    node.write_rapl(20_000_000);
    let (code, report) = node.doctor("rapl", &[]);
    assert_eq!(code, 0, "{report:#}");
    let warns = with_status(&report, "warn");
    assert!(
        warns
            .iter()
            .any(|w| w.contains("cpu-package-0") && w.contains("less than twice per wrap")),
        "{warns:#?}"
    );

    // A zone whose counter cannot be read.
    node.write_rapl(262_143_328_850);
    let energy = node.path("fakesys/class/powercap/intel-rapl:0/energy_uj");
    fs::remove_file(&energy).unwrap();
    fs::create_dir(&energy).unwrap();
    let (code, report) = node.doctor("rapl", &[]);
    assert_one_fail(
        code,
        &report,
        &["cpu-package-0", "cannot read", "energy_uj"],
    );

    fs::remove_dir_all(node.path("fakesys/class")).unwrap();
    let (code, report) = node.doctor("rapl", &[]);
    assert_eq!(code, 0);
    let warns = with_status(&report, "warn");
    assert!(
        warns.iter().any(|w| w.contains("no RAPL powercap zones")),
        "{warns:#?}"
    );
}

#[test]
fn unsafe_spool_directories_fail() {
    let node = FakeNode::healthy();
    let spool = node.path("spool");
    let (code, report) = node.doctor("spool", &[]);
    assert_eq!(code, 0, "{report:#}");
    assert!(with_status(&report, "ok")
        .iter()
        .any(|m| m.contains("does not exist yet")));

    fs::create_dir(&spool).unwrap();
    fs::set_permissions(&spool, fs::Permissions::from_mode(0o777)).unwrap();
    let (code, report) = node.doctor("spool", &[]);
    assert_one_fail(code, &report, &["group- or world-writable"]);

    fs::set_permissions(&spool, fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(&spool, Some(4321), None).unwrap();
    let (code, report) = node.doctor("spool", &[]);
    assert_one_fail(code, &report, &["owned by uid 4321"]);

    fs::remove_dir(&spool).unwrap();
    let elsewhere = node.path("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &spool).unwrap();
    let (code, report) = node.doctor("spool", &[]);
    assert_one_fail(code, &report, &["is a symlink"]);
}

#[test]
fn a_syslog_socket_nobody_listens_on_is_a_warning() {
    let node = FakeNode::healthy();
    node.rci_conf(&format!(
        "Syslog=yes\nSyslogSocket={}\n",
        node.path("no-such-socket").display()
    ));
    let (code, report) = node.doctor("spool", &[]);
    assert_eq!(code, 0, "{report:#}");
    let warns = with_status(&report, "warn");
    assert!(
        warns
            .iter()
            .any(|w| w.contains("no-such-socket") && w.contains("records still go to the spool")),
        "{warns:#?}"
    );
}

/// A node's Slurm files: slurm.conf with `extra`, plugstack.conf with `plugstack`, and the
/// built plugins in a plugin dir.
fn slurm_files(node: &FakeNode, extra: &str, plugstack: &str) {
    fs::create_dir_all(node.path("plugins")).unwrap();
    for krate in ["spank_rci", "job_submit_rci"] {
        fs::copy(
            plugin_path(krate),
            node.path(&format!("plugins/{krate}.so")),
        )
        .unwrap();
    }
    node.write(
        "etc/slurm.conf",
        &format!(
            "ClusterName=fake\nSlurmctldHost=not-this-host\nPluginDir=@/plugins\n\
             PlugStackConfig=@/etc/plugstack.conf\n{extra}NodeName=gpu01 CPUs=8 Gres=gpu:4\n"
        ),
    );
    node.write("etc/plugstack.conf", plugstack);
}

/// `rci doctor --only slurm` with `bin` (fake slurmd/slurmctld) first on PATH.
fn doctor_slurm(node: &FakeNode, bin: Option<&Path>) -> (i32, Value) {
    let mut cmd = Command::new(rci_cli());
    cmd.args(["doctor", "--json", "--only", "slurm", "--conf"])
        .arg(node.path("etc/rci.conf"));
    if let Some(bin) = bin {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", bin.display()));
    }
    run_doctor(cmd)
}

#[test]
fn slurm_wiring_is_checked() {
    let node = FakeNode::healthy();
    slurm_files(
        &node,
        "PrologFlags=Alloc,Contain\nJobSubmitPlugins=lua,rci\n",
        "include @/etc/plugstack.conf.d/*.conf\n",
    );
    node.write(
        "etc/plugstack.conf.d/rci.conf",
        "required spank_rci.so conf=/x\n",
    );
    let (code, report) = doctor_slurm(&node, None);
    assert_all_ok(code, &report);
    let ok = with_status(&report, "ok");
    assert!(
        ok.iter()
            .any(|m| m.contains("plugstack.conf.d/rci.conf:1 loads")
                && m.contains("plugins/spank_rci.so")),
        "{ok:#?}"
    );

    slurm_files(
        &node,
        "PrologFlags=Alloc\nJobSubmitPlugins=rci\n",
        "required @/plugins/spank_rci.so\n",
    );
    let (code, report) = doctor_slurm(&node, None);
    assert_one_fail(
        code,
        &report,
        &["PrologFlags=Alloc lacks Contain", "extern step"],
    );

    slurm_files(
        &node,
        "PrologFlags=Contain\nJobSubmitPlugins=rci\n",
        "required /other/plugin.so\n",
    );
    let (code, report) = doctor_slurm(&node, None);
    assert_one_fail(
        code,
        &report,
        &["plugstack.conf does not list spank_rci.so"],
    );

    slurm_files(
        &node,
        "PrologFlags=Contain\nJobSubmitPlugins=rci\n",
        "required @/plugins/missing/spank_rci.so\n",
    );
    let (code, report) = doctor_slurm(&node, None);
    assert_one_fail(
        code,
        &report,
        &["missing/spank_rci.so, which does not exist"],
    );

    // Not listed in JobSubmitPlugins: a failure on the controller, a warning elsewhere.
    slurm_files(
        &node,
        "PrologFlags=Contain\n",
        "required @/plugins/spank_rci.so\n",
    );
    let (code, report) = doctor_slurm(&node, None);
    assert_eq!(code, 0, "{report:#}");
    assert!(with_status(&report, "warn")
        .iter()
        .any(|w| w.contains("does not list rci")));
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim().split('.').next().unwrap().to_owned();
    slurm_files(
        &node,
        &format!("SlurmctldHost={host}(127.0.0.1)\nPrologFlags=Contain\n"),
        "required @/plugins/spank_rci.so\n",
    );
    let (code, report) = doctor_slurm(&node, None);
    assert_one_fail(
        code,
        &report,
        &["JobSubmitPlugins=(unset) does not list rci"],
    );
}

#[test]
fn plugins_built_for_another_release_fail() {
    let node = FakeNode::healthy();
    slurm_files(
        &node,
        "PrologFlags=Contain\nJobSubmitPlugins=rci\n",
        "required @/plugins/spank_rci.so\n",
    );
    let bin = node.path("bin");
    fs::create_dir_all(&bin).unwrap();
    for daemon in ["slurmd", "slurmctld"] {
        let path = bin.join(daemon);
        fs::write(&path, "#!/bin/sh\necho 'slurm 20.11.9'\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let (code, report) = doctor_slurm(&node, Some(&bin));
    let fails = with_status(&report, "fail");
    assert_eq!(code, 1);
    assert_eq!(fails.len(), 2, "{fails:#?}");
    assert!(
        fails
            .iter()
            .any(|f| f.contains("spank_rci.so is built for Slurm")
                && f.contains("slurmd is 20.11.9")),
        "{fails:#?}"
    );
    assert!(
        fails
            .iter()
            .any(|f| f.contains("job_submit_rci.so is built for Slurm")
                && f.contains("slurmctld is 20.11.9")),
        "{fails:#?}"
    );
}

#[test]
fn help_and_bad_options() {
    let out = Command::new(rci_cli())
        .args(["doctor", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: rci doctor"));
    let out = Command::new(rci_cli())
        .args(["doctor", "--only", "gpus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown area 'gpus'"));
}

/// The real test cluster's GPU node: its rci.conf, gres.conf, slurm.conf, plugstack.conf and
/// installed plugins, with the fake NVML where rci.conf says. Every check is OK.
#[test]
fn every_check_is_ok_on_the_test_clusters_gpu_node() {
    let c = shared_cluster(ClusterOptions::plugins());
    let dir = c.dir().join("nvml");
    fs::create_dir_all(&dir).unwrap();
    let state: String = (0..4)
        .map(|m| format!("device {} {m} 1000 NVIDIA L40\n", fake_gpu_uuid(m)))
        .collect::<String>()
        + "power_mw 50000\n";
    fs::write(dir.join("libnvidia-ml.so.1.state"), state).unwrap();
    let lib = dir.join("libnvidia-ml.so.1");
    if !lib.exists() {
        let tmp = dir.join("libnvidia-ml.so.1.tmp");
        fs::copy(fake_nvml::library(), &tmp).unwrap();
        fs::rename(&tmp, &lib).unwrap();
    }
    let mut cmd = Command::new(rci_cli());
    cmd.args([
        "doctor",
        "--json",
        "--node",
        "gpu01",
        "--energy-interval",
        "0.3",
        "--conf",
    ])
    .arg(c.rci_conf_path());
    let (code, report) = run_doctor(cmd);
    assert_all_ok(code, &report);
    let ok = with_status(&report, "ok");
    for area in [
        "[config]", "[gpu]", "[nvml]", "[rapl]", "[spool]", "[slurm]",
    ] {
        assert!(
            ok.iter().any(|m| m.starts_with(area)),
            "no {area} check: {ok:#?}"
        );
    }
    assert_eq!(
        ok.iter()
            .filter(|m| m.contains("/proc and NVML agree"))
            .count(),
        4,
        "{ok:#?}"
    );
    assert!(
        ok.iter()
            .any(|m| m.contains("job_submit_rci.so is built for Slurm")),
        "{ok:#?}"
    );
    assert!(
        ok.iter()
            .any(|m| m.contains("spank_rci.so is built for Slurm")),
        "{ok:#?}"
    );
}
