//! Integration-test harness: a real, throwaway Slurm cluster started by `scripts/rci-cluster`.
//!
//! A cluster is slurmctld plus two slurmd (`cpu01`; `gpu01` with four fake L40 GPUs) and a
//! private munged, all under one directory (see `scripts/rci-cluster`). Starting one takes about
//! a second, stopping one about two, so the tests of one test binary share a cluster:
//!
//! ```ignore
//! mod common;
//! use common::{shared_cluster, ClusterOptions};
//!
//! #[test]
//! fn gpu_job_runs() {
//!     let c = shared_cluster(ClusterOptions::plugins());
//!     let (id, _, _) = c.sbatch(&["-p", "gpu", "--gres=gpu:1"], "nvidia-smi || true").unwrap();
//!     assert_eq!(c.wait_job_done(id, common::JOB_TIMEOUT), "COMPLETED");
//! }
//! ```
//!
//! Tests that rewrite rci.conf hold [`test_lock`] while they do, so they run one at a time.
//!
//! Cleanup: a [`Cluster`] owned by a test stops in `Drop`. The shared cluster lives in a static
//! that is never dropped, so every cluster is started with `--owner-pid <this process>`: a
//! watchdog stops it (and removes its directory) once the test process has exited, even when it
//! was killed. `make test` runs `scripts/rci-cluster reap` afterwards to do the same
//! synchronously. Set `RCI_KEEP_CLUSTER=1` to keep the directories (logs) for debugging; a
//! cluster dropped while its test panics keeps its directory too and says where it is.
//!
//! Plugins come from the directory holding the build outputs of the profile this test binary
//! was built with (`target/release` under `cargo test --release`, which is what `make test`
//! runs after `make build`), or from `$RCI_PLUGIN_DIR`.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Time limit of one client command (sbatch, srun, scontrol ...) unless a test says otherwise.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// A generous bound for a short test job to finish.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(60);
/// The unprivileged user that scripts/install-deps.sh creates.
pub const TEST_USER: &str = "rcitest";
/// Job states after which a job never runs again.
pub const TERMINAL_STATES: &[&str] = &[
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "OUT_OF_MEMORY",
];

/// What a test cluster runs besides stock Slurm.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterOptions {
    /// `JobSubmitPlugins=rci` (job_submit_rci.so loaded by slurmctld).
    pub job_submit: bool,
    /// `required .../spank_rci.so` in plugstack.conf.
    pub spank: bool,
    /// rci.conf in place before the daemons start; `None`: slurm-conf/rci.conf.in.
    pub rci_conf: Option<String>,
    /// Arguments after the SPANK plugin's path in plugstack.conf.
    pub spank_args: Option<String>,
    /// Where the built plugins are; `None`: see [`plugin_build_dir`].
    pub plugin_dir: Option<PathBuf>,
    /// slurmdbd with its own MariaDB (`rci-cluster start --accounting`): accounts physics and
    /// chemistry, `PrivateData=jobs,usage`.
    pub accounting: bool,
}

impl ClusterOptions {
    /// Stock Slurm, none of our plugins.
    pub fn stock() -> Self {
        Self::default()
    }

    /// Both plugins enabled, default rci.conf.
    pub fn plugins() -> Self {
        Self {
            job_submit: true,
            spank: true,
            ..Self::default()
        }
    }
}

/// A running test cluster. Stops (and removes its directory) when dropped.
pub struct Cluster {
    dir: PathBuf,
    options: ClusterOptions,
    stopped: AtomicBool,
}

/// The repository root (where scripts/ and slurm-conf/ are).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory with the plugins under test: `$RCI_PLUGIN_DIR` (e.g. the installed
/// `/usr/lib/x86_64-linux-gnu/slurm-wlm`), else [`cargo_profile_dir`].
pub fn plugin_build_dir() -> PathBuf {
    match std::env::var_os("RCI_PLUGIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => cargo_profile_dir(),
    }
}

/// The cargo profile directory of this test binary (`<target>/<profile>/deps/<test>` →
/// `<target>/<profile>`), where `make build` puts the plugins and the CLI.
pub fn cargo_profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe of the test binary");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo_root().join("target/release"))
}

/// Plugin `krate` (`job_submit_rci`, `spank_rci`) in [`plugin_build_dir`]: cargo's name
/// (`libspank_rci.so`) or the installed one (`spank_rci.so`).
pub fn plugin_path(krate: &str) -> PathBuf {
    let dir = plugin_build_dir();
    let cargo_name = dir.join(format!("lib{krate}.so"));
    let installed = dir.join(format!("{krate}.so"));
    if !cargo_name.exists() && installed.exists() {
        installed
    } else {
        cargo_name
    }
}

/// The `rci` CLI under test: `$RCI_CLI` (e.g. the installed `/usr/bin/rci`), else the one
/// cargo built with this test binary.
pub fn rci_cli() -> PathBuf {
    match std::env::var_os("RCI_CLI") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_rci")),
    }
}

/// The Slurm release the tests run against, as `(major, minor, micro)` from `slurmctld -V`
/// ("slurm-wlm 24.11.5"; `sinfo -V` would need a configuration), asked once per test process.
pub fn slurm_version() -> (u32, u32, u32) {
    static VERSION: OnceLock<(u32, u32, u32)> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let out = Command::new("slurmctld")
            .arg("-V")
            .output()
            .expect("running slurmctld -V");
        let text = stdout_of(&out);
        let numbers: Vec<u32> = text
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        match numbers[..] {
            [major, minor, micro, ..] => (major, minor, micro),
            [major, minor] => (major, minor, 0),
            _ => panic!("cannot read the Slurm version from `slurmctld -V`: {text:?}"),
        }
    })
}

/// Whether the Slurm under test is at least `major.minor`.
pub fn slurm_at_least(major: u32, minor: u32) -> bool {
    let (ma, mi, _) = slurm_version();
    (ma, mi) >= (major, minor)
}

/// The UUID the fake driver tree reports for the GPU with this minor number.
pub fn fake_gpu_uuid(minor: u32) -> String {
    format!("GPU-00000000-1111-4000-8000-0000000000{minor:02}")
}

/// PCI bus id of the fake GPU with this minor number (its directory under fakeproc).
pub fn fake_gpu_bus_id(minor: u32) -> String {
    format!("0000:{:02x}:00.0", 0x10 + minor)
}

/// Stdout of a command as text.
pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr of a command as text.
pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Panics with the command's output unless it succeeded; returns its stdout.
pub fn assert_success(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout_of(out),
        stderr_of(out)
    );
    stdout_of(out)
}

/// Parses one `scontrol -o show ...` record (`Key=Value Key=Value ...`). A value runs until the
/// next word that looks like a key (`Word=`, Slurm's keys start with an upper-case letter and
/// may hold `/` and `:`), so values with spaces survive unless they contain such a word.
pub fn parse_scontrol_record(line: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let mut current: Option<(String, String)> = None;
    for word in line.split_whitespace() {
        let key_len = word.find('=').filter(|&i| {
            let key = &word[..i];
            key.starts_with(|c: char| c.is_ascii_uppercase())
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | ':'))
        });
        match (key_len, current.as_mut()) {
            (Some(i), _) => {
                if let Some((k, v)) = current.take() {
                    map.insert(k, v);
                }
                current = Some((word[..i].to_string(), word[i + 1..].to_string()));
            }
            (None, Some((_, v))) => {
                v.push(' ');
                v.push_str(word);
            }
            (None, None) => {}
        }
    }
    if let Some((k, v)) = current {
        map.insert(k, v);
    }
    map
}

/// Polls `done` every 100 ms until it returns true or `timeout` passes; returns whether it did.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A source file that plugin crate `krate` is built from (the core crate's library sources,
/// include/, build.rs, plugins/<krate>/) modified after `artifact` was linked, if any.
fn source_newer_than(artifact: &Path, krate: &str) -> Option<PathBuf> {
    fn newest_after(path: &Path, built: SystemTime, skip: &Path) -> Option<PathBuf> {
        if path == skip {
            return None;
        }
        let meta = fs::metadata(path).ok()?;
        if meta.is_dir() {
            let entries = fs::read_dir(path).ok()?;
            entries
                .flatten()
                .find_map(|e| newest_after(&e.path(), built, skip))
        } else {
            meta.modified()
                .is_ok_and(|m| m > built)
                .then(|| path.to_path_buf())
        }
    }
    let built = fs::metadata(artifact).and_then(|m| m.modified()).ok()?;
    let root = repo_root();
    // src/bin is the CLI: changing it does not relink the plugins.
    let skip = root.join("src/bin");
    ["src", "include", "build.rs", &format!("plugins/{krate}")]
        .iter()
        .find_map(|p| newest_after(&root.join(p), built, &skip))
}

fn unique_dir() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "rci-cluster-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

fn keep_dirs() -> bool {
    std::env::var_os("RCI_KEEP_CLUSTER").is_some_and(|v| !v.is_empty() && v != "0")
}

impl Cluster {
    /// Starts a cluster; panics with the daemons' log tails if it does not come up.
    pub fn start(options: ClusterOptions) -> Cluster {
        Self::try_start(options).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a cluster; on failure returns a message with the daemons' log tails.
    pub fn try_start(options: ClusterOptions) -> Result<Cluster, String> {
        let plugin_dir = options.plugin_dir.clone().unwrap_or_else(plugin_build_dir);
        for (wanted, krate) in [
            (options.job_submit, "job_submit_rci"),
            (options.spank, "spank_rci"),
        ] {
            let path = match &options.plugin_dir {
                Some(dir) => dir.join(format!("lib{krate}.so")),
                None => plugin_path(krate),
            };
            if wanted && !path.exists() {
                panic!(
                    "{} is missing: run `make build` first (cargo build --release -p \
                     job_submit_rci -p spank_rci) and test with `cargo test --release`, or \
                     point RCI_PLUGIN_DIR at the directory holding the plugins",
                    path.display()
                );
            }
            // `cargo test` rebuilds the test binaries but not the cdylibs: refuse to test an
            // old plugin against new tests.
            if wanted
                && options.plugin_dir.is_none()
                && std::env::var_os("RCI_PLUGIN_DIR").is_none()
            {
                if let Some(newer) = source_newer_than(&path, krate) {
                    panic!(
                        "{} is older than {}: run `make build` (cargo build --release -p \
                         job_submit_rci -p spank_rci) before the tests",
                        path.display(),
                        newer.display()
                    );
                }
            }
        }
        let dir = unique_dir();
        fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;

        let script = repo_root().join("scripts/rci-cluster");
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "5", "120"])
            .arg(&script)
            .arg("start")
            .arg(&dir)
            .arg("--plugin-dir")
            .arg(&plugin_dir)
            .args([
                "--job-submit",
                if options.job_submit { "rci" } else { "none" },
            ])
            .args(["--spank", if options.spank { "rci" } else { "none" }])
            .args(["--owner-pid", &std::process::id().to_string()]);
        if !keep_dirs() {
            cmd.arg("--remove-dir-on-owner-exit");
        }
        if options.accounting {
            cmd.arg("--accounting");
        }
        if let Some(args) = &options.spank_args {
            cmd.args(["--spank-args", args]);
        }
        if let Some(text) = &options.rci_conf {
            let initial = dir.join("rci.conf.initial");
            fs::write(&initial, text).map_err(|e| format!("writing {}: {e}", initial.display()))?;
            cmd.arg("--rci-conf").arg(&initial);
        }
        let (major, minor, micro) = slurm_version();
        eprintln!("[harness] starting a test cluster on Slurm {major}.{minor:02}.{micro}");
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !out.status.success() {
            if !keep_dirs() {
                let _ = fs::remove_dir_all(&dir);
            }
            return Err(format!(
                "test cluster did not start ({}; options {options:?}):\n{}\n{}",
                out.status,
                stdout_of(&out),
                stderr_of(&out)
            ));
        }
        Ok(Cluster {
            dir,
            options,
            stopped: AtomicBool::new(false),
        })
    }

    /// The cluster's directory (etc/, log/, out/, work/, fakeproc/, dev/ ...).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options it was started with.
    pub fn options(&self) -> &ClusterOptions {
        &self.options
    }

    /// DIR/etc/slurm.conf (what SLURM_CONF points at).
    pub fn slurm_conf(&self) -> PathBuf {
        self.dir.join("etc/slurm.conf")
    }

    /// DIR/etc/rci.conf.
    pub fn rci_conf_path(&self) -> PathBuf {
        self.dir.join("etc/rci.conf")
    }

    /// Root of the fake `/proc` (holds `driver/nvidia/gpus/<bus>/information`).
    pub fn fakeproc(&self) -> PathBuf {
        self.dir.join("fakeproc")
    }

    /// Where `sbatch` (through this harness) writes job output: DIR/out/<id>.out.
    pub fn output_path(&self, job_id: u32) -> PathBuf {
        self.dir.join(format!("out/{job_id}.out"))
    }

    /// A command with this cluster's SLURM_CONF, run in DIR/work (writable by every user).
    /// Slurm variables of the test's own environment (tests run inside a Slurm job) are removed.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if ["SLURM_", "SBATCH_", "SALLOC_", "SRUN_"]
                .iter()
                .any(|p| name.starts_with(p))
            {
                cmd.env_remove(name.as_ref());
            }
        }
        cmd.env("SLURM_CONF", self.slurm_conf())
            .current_dir(self.dir.join("work"));
        cmd
    }

    /// Runs `program args` (as `user` if given) under `timeout`, feeding `stdin` if given.
    /// A timeout shows up as exit status 124 plus a note in stderr.
    ///
    /// `scontrol update` is retried when it fails with "Resource temporarily unavailable":
    /// Slurm 24.11+ without slurmdbd returns a stale errno from `_update_job` at random (13 in
    /// 30 updates on 24.11, 21 in 30 on 26.05, with no plugin loaded), which is Slurm's bug, not
    /// something rci decides. Only here, never in the plugin.
    pub fn run_full(
        &self,
        user: Option<&str>,
        timeout: Duration,
        program: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Output {
        let is_update = program == "scontrol" && args.first() == Some(&"update");
        let mut attempt = 0;
        loop {
            let out = self.run_once(user, timeout, program, args, stdin);
            attempt += 1;
            let spurious = !out.status.success()
                && stderr_of(&out).contains("Resource temporarily unavailable");
            if !(is_update && spurious && attempt < 10) {
                return out;
            }
            eprintln!(
                "[harness] scontrol update: Slurm's spurious EAGAIN, attempt {attempt}; retrying"
            );
        }
    }

    fn run_once(
        &self,
        user: Option<&str>,
        timeout: Duration,
        program: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Output {
        let mut cmd = self.command("timeout");
        cmd.args(["-k", "5", &timeout.as_secs().max(1).to_string()]);
        if let Some(user) = user {
            assert_user_exists(user);
            cmd.args(["runuser", "-u", user, "--"]);
        }
        cmd.arg(program).args(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A program that exits without reading its stdin closes the pipe: not our problem.
            let _ = pipe.write_all(text.as_bytes());
        }
        let mut out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for {program}: {e}"));
        if out.status.code() == Some(124) || out.status.code() == Some(137) {
            out.stderr.extend_from_slice(
                format!(
                    "\n[harness] `{program} {}` timed out after {}s\n",
                    args.join(" "),
                    timeout.as_secs()
                )
                .as_bytes(),
            );
        }
        out
    }

    /// Runs a command as root with the default timeout.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.run_full(None, COMMAND_TIMEOUT, program, args, None)
    }

    /// Runs a command as `user` with the default timeout.
    pub fn run_as(&self, user: &str, program: &str, args: &[&str]) -> Output {
        self.run_full(Some(user), COMMAND_TIMEOUT, program, args, None)
    }

    /// Submits a batch job as root. `script` goes to sbatch's stdin (a `#!/bin/bash` line is
    /// added if missing); pass "" with `--wrap=...` in `args` instead. Output goes to
    /// [`Cluster::output_path`] unless `args` set `--output`/`-o`.
    /// Ok: (job id, stdout, stderr — where job_submit's message appears); Err: stderr.
    pub fn sbatch(&self, args: &[&str], script: &str) -> Result<(u32, String, String), String> {
        self.sbatch_inner(None, args, script)
    }

    /// [`Cluster::sbatch`] as `user` (e.g. [`TEST_USER`]).
    pub fn sbatch_as(
        &self,
        user: &str,
        args: &[&str],
        script: &str,
    ) -> Result<(u32, String, String), String> {
        self.sbatch_inner(Some(user), args, script)
    }

    fn sbatch_inner(
        &self,
        user: Option<&str>,
        args: &[&str],
        script: &str,
    ) -> Result<(u32, String, String), String> {
        let output_arg = format!("--output={}/out/%j.out", self.dir.display());
        let mut full: Vec<&str> = vec!["--parsable"];
        let sets_output = args
            .iter()
            .any(|a| a.starts_with("--output") || a.starts_with("-o"));
        if !sets_output {
            full.push(&output_arg);
        }
        full.extend_from_slice(args);
        let script = if script.is_empty() || script.starts_with("#!") {
            script.to_string()
        } else {
            format!("#!/bin/bash\n{script}\n")
        };
        let stdin = (!script.is_empty()).then_some(script.as_str());
        let out = self.run_full(user, COMMAND_TIMEOUT, "sbatch", &full, stdin);
        let stdout = stdout_of(&out);
        let stderr = stderr_of(&out);
        if !out.status.success() {
            return Err(stderr);
        }
        let id = stdout
            .lines()
            .next()
            .and_then(|l| l.split(';').next())
            .and_then(|id| id.trim().parse::<u32>().ok())
            .ok_or_else(|| {
                format!("sbatch printed no job id:\nstdout: {stdout}\nstderr: {stderr}")
            })?;
        Ok((id, stdout, stderr))
    }

    /// `srun args` as root (e.g. `&["-p", "gpu", "--gres=gpu:2", "env"]`).
    pub fn srun(&self, args: &[&str]) -> Output {
        self.run("srun", args)
    }

    /// `srun args` as `user`.
    pub fn srun_as(&self, user: &str, args: &[&str]) -> Output {
        self.run_as(user, "srun", args)
    }

    /// `salloc args` as root; give the command to run inside the allocation in `args`.
    pub fn salloc(&self, args: &[&str]) -> Output {
        self.run("salloc", args)
    }

    /// `salloc args` as `user`.
    pub fn salloc_as(&self, user: &str, args: &[&str]) -> Output {
        self.run_as(user, "salloc", args)
    }

    /// `scontrol -o show job ID` as a map, or None if slurmctld does not know the job (never
    /// submitted, or purged MinJobAge after it ended).
    pub fn try_scontrol_show_job(&self, job_id: u32) -> Option<HashMap<String, String>> {
        let out = self.run("scontrol", &["-o", "show", "job", &job_id.to_string()]);
        if !out.status.success() {
            let err = stderr_of(&out);
            assert!(
                err.contains("Invalid job id"),
                "scontrol show job {job_id} failed: {err}"
            );
            return None;
        }
        // An array or het job prints one line per component: the first is the one asked for.
        stdout_of(&out)
            .lines()
            .find(|l| !l.trim().is_empty())
            .map(parse_scontrol_record)
    }

    /// `scontrol -o show job ID` as a map; panics if the job is unknown.
    pub fn scontrol_show_job(&self, job_id: u32) -> HashMap<String, String> {
        self.try_scontrol_show_job(job_id)
            .unwrap_or_else(|| panic!("slurmctld does not know job {job_id}\n{}", self.log_tails()))
    }

    /// The job's line in DIR/log/jobcomp.log (jobcomp/filetxt), once it has ended.
    pub fn jobcomp_record(&self, job_id: u32) -> Option<HashMap<String, String>> {
        let text = fs::read_to_string(self.dir.join("log/jobcomp.log")).unwrap_or_default();
        let prefix = format!("JobId={job_id} ");
        text.lines()
            .rfind(|l| l.starts_with(&prefix))
            .map(parse_scontrol_record)
    }

    /// Waits until the job has ended and returns its final JobState (COMPLETED, FAILED, ...).
    /// Panics after `timeout` with the job record and the daemons' log tails.
    pub fn wait_job_done(&self, job_id: u32, timeout: Duration) -> String {
        let mut last = None;
        let done = wait_until(timeout, || match self.try_scontrol_show_job(job_id) {
            Some(job) => {
                let state = job.get("JobState").cloned().unwrap_or_default();
                let finished = TERMINAL_STATES.contains(&state.as_str());
                last = Some(job);
                finished
            }
            None => self.jobcomp_record(job_id).is_some(),
        });
        if !done {
            panic!(
                "job {job_id} not finished after {}s; last record: {last:?}\n{}",
                timeout.as_secs(),
                self.log_tails()
            );
        }
        match self.try_scontrol_show_job(job_id) {
            Some(job) => job.get("JobState").cloned().unwrap_or_default(),
            None => self
                .jobcomp_record(job_id)
                .and_then(|r| r.get("JobState").cloned())
                .unwrap_or_default(),
        }
    }

    /// The job's output file (written through `sbatch` of this harness); panics if missing.
    pub fn job_output(&self, job_id: u32) -> String {
        let path = self.output_path(job_id);
        fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no output for job {job_id} ({}): {e}", path.display()))
    }

    /// Replaces rci.conf atomically (new inode via rename, so a reload sees a new file).
    pub fn write_rci_conf(&self, text: &str) {
        let path = self.rci_conf_path();
        let tmp = self
            .dir
            .join(format!("etc/.rci.conf.{}.tmp", std::process::id()));
        fs::write(&tmp, text).unwrap_or_else(|e| panic!("writing {}: {e}", tmp.display()));
        // Readable by srun/sbatch of unprivileged users whatever the test's umask.
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", tmp.display()));
        fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("renaming to {}: {e}", path.display()));
    }

    /// slurmctld's log so far.
    pub fn slurmctld_log(&self) -> String {
        fs::read_to_string(self.dir.join("log/slurmctld.log")).unwrap_or_default()
    }

    /// The log of slurmd `node` (cpu01, gpu01), which slurmstepd writes to as well.
    pub fn slurmd_log(&self, node: &str) -> String {
        fs::read_to_string(self.dir.join(format!("log/slurmd-{node}.log"))).unwrap_or_default()
    }

    /// The last 40 lines of every daemon log, for failure messages.
    pub fn log_tails(&self) -> String {
        let mut text = format!("cluster directory: {}\n", self.dir.display());
        let mut logs = vec![self.dir.join("munge/munged.log")];
        logs.extend(
            ["slurmctld", "slurmd-cpu01", "slurmd-gpu01"]
                .iter()
                .map(|n| self.dir.join(format!("log/{n}.log"))),
        );
        for log in logs {
            let content = fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = content.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            text.push_str(&format!(
                "----- last {} lines of {} -----\n{}\n",
                tail.len(),
                log.display(),
                tail.join("\n")
            ));
        }
        text
    }

    /// Pids of this cluster's daemons that are running (not zombies), by their pid files.
    pub fn running_daemons(&self) -> Vec<(String, u32)> {
        [
            ("munged", "munge/munged.pid"),
            ("slurmctld", "run/slurmctld.pid"),
            ("slurmd", "run/slurmd-cpu01.pid"),
            ("slurmd", "run/slurmd-gpu01.pid"),
        ]
        .iter()
        .filter_map(|(name, file)| {
            let pid: u32 = fs::read_to_string(self.dir.join(file))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            process_running(pid, name).then(|| (name.to_string(), pid))
        })
        .collect()
    }

    /// Stops the cluster (scancel everything, stop daemons, kill leftovers) and returns the
    /// script's output. Later calls, and Drop, do nothing.
    pub fn stop(&self) -> Output {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return Command::new("true").output().expect("running true");
        }
        Command::new("timeout")
            .args(["-k", "5", "90"])
            .arg(repo_root().join("scripts/rci-cluster"))
            .arg("stop")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output()
            .expect("running scripts/rci-cluster stop")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.stopped.load(Ordering::SeqCst) && !self.dir.exists() {
            return;
        }
        let out = self.stop();
        if !out.status.success() {
            eprintln!(
                "stopping test cluster {} failed: {}{}",
                self.dir.display(),
                stdout_of(&out),
                stderr_of(&out)
            );
        }
        if std::thread::panicking() || keep_dirs() {
            eprintln!("test cluster directory kept: {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// True if `pid` exists, is not a zombie and its command name is `name`.
pub fn process_running(pid: u32, name: &str) -> bool {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    comm.trim() == name && state.is_some_and(|s| s != 'Z')
}

fn assert_user_exists(user: &str) {
    let known = Command::new("id")
        .arg("-u")
        .arg(user)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        known,
        "user {user} does not exist: run `make deps` (scripts/install-deps.sh creates it)"
    );
}

static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// The cluster shared by the tests of this test binary, started on first use with `options`
/// (every caller in one binary must pass the same options). Stopped by the watchdog after the
/// test process exits (see the module documentation).
pub fn shared_cluster(options: ClusterOptions) -> &'static Cluster {
    // Every test that needs the cluster fails with the same message, without retrying.
    try_shared_cluster(options).unwrap_or_else(|e| panic!("{e}"))
}

/// [`shared_cluster`], or why it could not start (for tests that skip on a known limitation).
pub fn try_shared_cluster(options: ClusterOptions) -> Result<&'static Cluster, String> {
    let cluster = SHARED.get_or_init(|| Cluster::try_start(options.clone()));
    match cluster {
        Ok(c) => {
            assert_eq!(
                c.options, options,
                "shared_cluster() called with different options in one test binary"
            );
            Ok(c)
        }
        Err(e) => Err(e.clone()),
    }
}

static TEST_LOCK: Mutex<()> = Mutex::new(());

/// Serialises tests of one binary that change shared state (rci.conf, node states). A test that
/// panicked while holding it does not poison it for the others.
pub fn test_lock() -> MutexGuard<'static, ()> {
    TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
