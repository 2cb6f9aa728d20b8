//! Both plugins load into a real Slurm: slurmctld runs job_submit_rci.so, sbatch/srun/slurmstepd
//! run spank_rci.so, the .so files export exactly what Slurm looks up and bind lazily.

mod common;

use common::{
    assert_success, cargo_profile_dir, plugin_path, shared_cluster, stderr_of, Cluster,
    ClusterOptions,
};
use std::process::Command;

fn cluster() -> &'static Cluster {
    shared_cluster(ClusterOptions::plugins())
}

fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn defined_symbols(lib: &str) -> Vec<String> {
    let path = plugin_path(lib);
    let text = tool("nm", &["-D", "--defined-only", path.to_str().unwrap()]);
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[test]
fn job_submit_plugin_exports_exactly_what_slurmctld_looks_up() {
    assert_eq!(
        defined_symbols("job_submit_rci"),
        [
            "init",
            "job_modify",
            "job_submit",
            "plugin_name",
            "plugin_type",
            "plugin_version"
        ]
    );
}

#[test]
fn spank_plugin_exports_only_the_callbacks_it_implements() {
    assert_eq!(
        defined_symbols("spank_rci"),
        [
            "plugin_name",
            "plugin_type",
            "plugin_version",
            "slurm_spank_exit",
            "slurm_spank_init",
            "slurm_spank_init_post_opt",
            "slurm_spank_task_init",
        ]
    );
}

#[test]
fn plugins_bind_lazily_and_do_not_link_libslurm() {
    for lib in ["job_submit_rci", "spank_rci"] {
        let path = plugin_path(lib);
        let dynamic = tool("readelf", &["-d", path.to_str().unwrap()]);
        assert!(!dynamic.contains("BIND_NOW"), "{lib} binds now:\n{dynamic}");
        assert!(
            !dynamic.contains("FLAGS_1") || !dynamic.contains(" NOW"),
            "{lib}:\n{dynamic}"
        );
        assert!(
            !dynamic.contains("libslurm"),
            "{lib} links libslurm:\n{dynamic}"
        );
    }
}

#[test]
fn plugins_load_in_a_process_without_slurm() {
    // Slurm's own functions are looked up at run time, so dlopen (as Slurm does it: RTLD_LAZY,
    // not global) succeeds even where libslurmfull is absent; an undefined spank_* or slurm_*
    // bound through the GOT would fail here.
    for lib in ["job_submit_rci", "spank_rci"] {
        let path = std::ffi::CString::new(plugin_path(lib).to_str().unwrap()).unwrap();
        // SAFETY: dlopen of our own plugin; it has no constructors that depend on a host.
        let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_LAZY) };
        if handle.is_null() {
            // SAFETY: dlerror returns a static NUL-terminated message after a failure.
            let err = unsafe { std::ffi::CStr::from_ptr(libc::dlerror()) };
            panic!("dlopen {lib}: {}", err.to_string_lossy());
        }
        // SAFETY: plugin_version is a u32 data symbol of the plugin.
        let version = unsafe { libc::dlsym(handle, c"plugin_version".as_ptr()) };
        assert!(!version.is_null(), "{lib} has no plugin_version");
        // SAFETY: the symbol is a u32 (see __rci_plugin_identity!).
        assert_eq!(
            unsafe { *(version as *const u32) },
            rci::ffi::SLURM_VERSION_NUMBER
        );
    }
}

#[test]
fn slurmctld_loads_job_submit_rci() {
    let c = cluster();
    let config = assert_success(
        &c.run("scontrol", &["show", "config"]),
        "scontrol show config",
    );
    assert!(
        config
            .lines()
            .any(|l| l.starts_with("JobSubmitPlugins") && l.contains("rci")),
        "{config}"
    );
    let log = c.slurmctld_log();
    assert!(
        log.contains("job_submit/rci: loaded"),
        "no load line in slurmctld.log:\n{log}"
    );
}

#[test]
fn sbatch_shows_the_message_job_submit_put_in_err_msg() {
    // A CPU-only job aimed at the GPU partition is rerouted; the reason reaches the user through
    // err_msg, which must have been allocated by Slurm's xmalloc for sbatch to print it.
    let c = cluster();
    let (id, _out, err) = c
        .sbatch(&["-p", "gpu", "--hold"], "true")
        .expect("sbatch accepted");
    assert!(
        err.contains("rci: job has no GPU request; partition gpu -> cpu"),
        "stderr: {err}"
    );
    assert_eq!(c.scontrol_show_job(id)["Partition"], "cpu");
    c.run("scancel", &[&id.to_string()]);
}

#[test]
fn spank_rci_loads_in_sbatch_srun_and_slurmstepd() {
    let c = cluster();
    let (id, _out, err) = c
        .sbatch(&["-v", "-p", "cpu"], "echo batch-ran")
        .expect("sbatch accepted");
    assert!(
        err.contains("spank_rci: loaded in allocator (sbatch/salloc) context"),
        "{err}"
    );
    assert_eq!(c.wait_job_done(id, common::JOB_TIMEOUT), "COMPLETED");
    assert!(c.job_output(id).contains("batch-ran"));

    let out = c.srun(&["-p", "cpu", "echo", "step-ran"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("step-ran"));
    // srun does not raise its log level before SPANK's callbacks run; the plugin's own option
    // check shows that it is loaded and running in srun.
    let out = c.srun(&["-p", "cpu", "--rci-kind=bogus", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("rci: invalid --rci-kind 'bogus'; valid kinds:"),
        "{}",
        stderr_of(&out)
    );

    let slurmd = c.slurmd_log("cpu01");
    assert!(
        slurmd.contains("spank_rci: loaded in remote (slurmstepd) context"),
        "{slurmd}"
    );
    assert!(
        slurmd.contains("spank_rci: loaded in slurmd context"),
        "{slurmd}"
    );
}

#[test]
fn rci_kind_option_is_shown_in_the_clients_help() {
    let c = cluster();
    for client in ["sbatch", "salloc", "srun"] {
        let help = assert_success(&c.run(client, &["--help"]), client);
        let line = help
            .lines()
            .find(|l| l.contains("--rci-kind=kind"))
            .unwrap_or_else(|| panic!("{client} --help has no --rci-kind:\n{help}"));
        assert!(line.contains("RCI job kind"), "{line}");
    }
}

#[test]
fn slurmctld_survives_a_thousand_submissions() {
    let c = cluster();
    // One shell loop rather than 1000 test-harness processes: the point is slurmctld's health
    // after 1000 calls through job_submit (xmalloc'd err_msg and partition rewrites each time).
    let script = "ok=0; for i in $(seq 1000); do \
                  sbatch -Q --hold -J burst -p gpu --wrap true >/dev/null 2>&1 && ok=$((ok+1)); \
                  done; echo $ok";
    let out = c.run_full(
        None,
        std::time::Duration::from_secs(600),
        "bash",
        &["-c", script],
        None,
    );
    let accepted = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(accepted, "1000", "stderr: {}", stderr_of(&out));
    let pending = assert_success(
        &c.run("squeue", &["-h", "-n", "burst", "-o", "%P", "-t", "PD"]),
        "squeue",
    );
    assert_eq!(pending.lines().count(), 1000);
    assert!(
        pending.lines().all(|p| p == "cpu"),
        "every burst job was rerouted"
    );
    assert!(c
        .running_daemons()
        .iter()
        .any(|(name, _)| name == "slurmctld"));
    assert_success(&c.run("scancel", &["-n", "burst"]), "scancel");
    assert_success(&c.run("scontrol", &["ping"]), "scontrol ping");
}

#[test]
fn make_install_replaces_plugins_by_rename() {
    // `make install` must never write into a .so a running daemon has mapped: it copies to a
    // temporary name in the same directory and renames, so the installed file gets a new inode.
    use std::os::unix::fs::MetadataExt;
    let root = tempfile::tempdir().unwrap();
    let install = |dest: &std::path::Path| {
        let out = Command::new("make")
            .args(["-s", "install"])
            .arg(format!("DESTDIR={}", dest.display()))
            .args(["PLUGIN_DIR=/plugins", "BINDIR=/bin"])
            .arg(format!(
                "CARGO_TARGET_DIR={}",
                cargo_profile_dir().parent().unwrap().display()
            ))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    install(root.path());
    let so = root.path().join("plugins/job_submit_rci.so");
    let first = std::fs::metadata(&so).unwrap().ino();
    assert!(root.path().join("plugins/spank_rci.so").is_file());
    assert!(root.path().join("bin/rci").is_file());
    install(root.path());
    assert_ne!(
        std::fs::metadata(&so).unwrap().ino(),
        first,
        "installed by rename"
    );
    let leftovers: Vec<_> = std::fs::read_dir(root.path().join("plugins"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn a_broken_rci_conf_on_a_node_never_fails_a_job() {
    // slurmctld keeps its last good config; each slurmstepd reads rci.conf afresh, logs the
    // error with file and line, and runs the step with built-in defaults.
    let c = common::Cluster::start(ClusterOptions::plugins());
    let good = std::fs::read_to_string(c.rci_conf_path()).unwrap();
    c.write_rci_conf(&format!("{good}Pue=lots\n"));
    let out = c.srun(&[
        "-p",
        "gpu",
        "--gres=gpu:1",
        "printenv",
        "NVIDIA_VISIBLE_DEVICES",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let line = format!(
        "{}:{}:",
        c.rci_conf_path().display(),
        good.lines().count() + 1
    );
    let logged = common::wait_until(std::time::Duration::from_secs(10), || {
        c.slurmd_log("gpu01")
            .lines()
            .any(|l| l.contains("spank_rci:") && l.contains(&line) && l.contains("Pue"))
    });
    assert!(
        logged,
        "no '{line} ... Pue' error in slurmd-gpu01.log:\n{}",
        c.log_tails()
    );
    let (id, _, _) = c.sbatch(&["-p", "cpu"], "true").expect("sbatch accepted");
    assert_eq!(c.wait_job_done(id, common::JOB_TIMEOUT), "COMPLETED");
}

#[test]
fn make_install_refuses_a_job_submit_plugin_of_another_release() {
    // slurmctld would refuse to start with it: the install stops first and says why.
    let root = tempfile::tempdir().unwrap();
    let fake_ctld = root.path().join("slurmctld");
    std::fs::write(&fake_ctld, "#!/bin/sh\necho 'slurm-wlm 99.01.0'\n").unwrap();
    std::fs::set_permissions(
        &fake_ctld,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = Command::new("make")
        .args(["-s", "install"])
        .arg(format!("DESTDIR={}", root.path().join("dest").display()))
        .arg(format!("SLURMCTLD={}", fake_ctld.display()))
        .arg(format!(
            "CARGO_TARGET_DIR={}",
            cargo_profile_dir().parent().unwrap().display()
        ))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "installed anyway: {err}");
    assert!(err.contains("is Slurm 99.01.0"), "{err}");
    assert!(
        err.contains("Rebuild against the running release's headers"),
        "{err}"
    );
    assert!(!root.path().join("dest").exists(), "nothing was installed");
}
