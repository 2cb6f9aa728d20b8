//! The container GPU environment (issue 5) as a real slurmstepd writes it: spank_rci.so's
//! task_init on the test cluster's gpu01 (four fake L40s, fake /proc/driver/nvidia tree, see
//! scripts/rci-cluster) and cpu01.
//!
//! Every expectation is derived from what Slurm itself told the same task (`SLURM_STEP_GPUS`,
//! `SLURM_JOB_GPUS`) mapped through [`fake_gpu_uuid`], so the tests check the mapping and not
//! Slurm's placement. The tests of this binary share one cluster and run one at a time
//! ([`exclusive`]): some hold GPUs with other jobs or rewrite rci.conf.

mod common;
mod fake_nvml;

use common::{
    assert_success, fake_gpu_bus_id, fake_gpu_uuid, repo_root, shared_cluster, stderr_of,
    stdout_of, test_lock, wait_until, Cluster, ClusterOptions, JOB_TIMEOUT, TEST_USER,
};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;
use std::sync::MutexGuard;

const NVIDIA: &str = "NVIDIA_VISIBLE_DEVICES";
const APPTAINER: &str = "APPTAINERENV_NVIDIA_VISIBLE_DEVICES";
const SINGULARITY: &str = "SINGULARITYENV_NVIDIA_VISIBLE_DEVICES";
const CDI: &str = "RCI_CDI_DEVICES";
const ALL_VARS: [&str; 4] = [NVIDIA, APPTAINER, SINGULARITY, CDI];
/// What spank_rci logs (slurmd log and task stderr) when it cannot name a step's GPUs.
const NO_GPU_WARNING: &str = "spank_rci: this step's containers get no GPU";
/// The same without the prefix: counted, so a second copy under another prefix shows up.
const NO_GPU_REASON: &str = "this step's containers get no GPU";

type Env = HashMap<String, String>;

fn cluster() -> &'static Cluster {
    shared_cluster(ClusterOptions::plugins())
}

/// The shared cluster, to this test alone, with no job left from an earlier test (a job still
/// completing holds its GPUs and would change where the next one lands).
fn exclusive() -> (MutexGuard<'static, ()>, &'static Cluster) {
    let guard = test_lock();
    let c = cluster();
    wait_idle(c);
    (guard, c)
}

fn wait_idle(c: &Cluster) {
    let mut last = String::new();
    let idle = wait_until(JOB_TIMEOUT, || {
        last = stdout_of(&c.run("squeue", &["-h", "-o", "%i %T"]));
        last.trim().is_empty()
    });
    assert!(idle, "jobs still queued: {last}\n{}", c.log_tails());
}

/// `KEY=value` lines (of `env` output) as a map; other lines are ignored.
fn env_map(text: &str) -> Env {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `srun -l env` output (`N: KEY=value`) as one map per task.
fn task_envs(text: &str) -> BTreeMap<u32, Env> {
    let mut tasks: BTreeMap<u32, String> = BTreeMap::new();
    for line in text.lines() {
        if let Some((task, rest)) = line.split_once(": ") {
            if let Ok(task) = task.trim().parse::<u32>() {
                let lines = tasks.entry(task).or_default();
                lines.push_str(rest);
                lines.push('\n');
            }
        }
    }
    tasks.into_iter().map(|(t, l)| (t, env_map(&l))).collect()
}

/// Output split at `== NAME` lines, each part as an env map.
fn sections(text: &str) -> HashMap<String, Env> {
    let mut parts: HashMap<String, String> = HashMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            current = Some(name.trim().to_string());
            parts.entry(name.trim().to_string()).or_default();
        } else if let Some(name) = &current {
            let part = parts.entry(name.clone()).or_default();
            part.push_str(line);
            part.push('\n');
        }
    }
    parts.into_iter().map(|(n, t)| (n, env_map(&t))).collect()
}

fn get<'a>(env: &'a Env, key: &str, what: &str) -> &'a str {
    env.get(key)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("{what}: {key} is not set; env: {env:?}"))
}

/// Parses Slurm's GRES index list (`0,2`).
fn indices(list: &str) -> Vec<u32> {
    list.split(',')
        .map(|i| {
            i.trim()
                .parse()
                .unwrap_or_else(|_| panic!("'{list}' is not an index list"))
        })
        .collect()
}

/// Asserts that every variable family names exactly the GPUs of Slurm's list `list_var` of the
/// same task, in Slurm's order; returns the indices.
fn assert_gpu_env(env: &Env, list_var: &str, what: &str) -> Vec<u32> {
    let list = indices(get(env, list_var, what));
    assert!(
        list.windows(2).all(|w| w[0] < w[1]),
        "{what}: Slurm's {list_var} is not ascending: {list:?}"
    );
    let uuids: Vec<String> = list.iter().map(|&i| fake_gpu_uuid(i)).collect();
    let visible = uuids.join(",");
    let cdi: Vec<String> = uuids
        .iter()
        .map(|u| format!("nvidia.com/gpu={u}"))
        .collect();
    assert_eq!(get(env, NVIDIA, what), visible, "{what}");
    assert_eq!(get(env, APPTAINER, what), visible, "{what}");
    assert_eq!(get(env, SINGULARITY, what), visible, "{what}");
    assert_eq!(get(env, CDI, what), cdi.join(","), "{what}");
    if let Some(cvd) = env.get("CUDA_VISIBLE_DEVICES") {
        assert_eq!(cvd.split(',').count(), list.len(), "{what}: {cvd}");
    }
    list
}

/// Asserts the "no GPU" values: `void` and an empty CDI list.
fn assert_void(env: &Env, what: &str) {
    for var in [NVIDIA, APPTAINER, SINGULARITY] {
        assert_eq!(get(env, var, what), "void", "{what}: {var}");
    }
    assert_eq!(get(env, CDI, what), "", "{what}: {CDI}");
}

fn srun_env(c: &Cluster, args: &[&str]) -> (Env, String) {
    let out = c.srun(args);
    let stdout = assert_success(&out, &format!("srun {args:?}"));
    (env_map(&stdout), stderr_of(&out))
}

#[test]
fn two_gpus_get_their_uuids_in_slurm_order() {
    let (_lock, c) = exclusive();
    let (env, stderr) = srun_env(c, &["-p", "gpu", "--gres=gpu:2", "env"]);
    assert_eq!(get(&env, "SLURMD_NODENAME", "gpu:2"), "gpu01");
    let gpus = assert_gpu_env(&env, "SLURM_STEP_GPUS", "srun --gres=gpu:2");
    assert_eq!(gpus.len(), 2);
    assert!(!env.contains_key("NVIDIA_DRIVER_CAPABILITIES"), "{env:?}");
    assert!(!env.contains_key("APPTAINERENV_CUDA_VISIBLE_DEVICES"));
    assert!(!stderr.contains("spank_rci"), "{stderr}");
}

#[test]
fn cpu_only_steps_get_void() {
    let (_lock, c) = exclusive();
    let (env, stderr) = srun_env(c, &["-p", "cpu", "env"]);
    assert_eq!(get(&env, "SLURMD_NODENAME", "cpu"), "cpu01");
    assert_void(&env, "srun -p cpu");
    assert!(!stderr.contains("spank_rci"), "{stderr}");

    // A step without GPUs on the GPU node, inside a GPU allocation. (A job of its own cannot
    // get there: `srun -p gpu --gres=gpu:0` is a CPU-only job, which job_submit_rci moves to
    // the cpu partition.)
    let out = c.salloc(&[
        "-p",
        "gpu",
        "--gres=gpu:1",
        "bash",
        "-c",
        "echo '== none'; srun --gres=none env; echo '== zero'; srun --gres=gpu:0 env; \
         echo '== one'; srun env",
    ]);
    let parts = sections(&assert_success(&out, "salloc"));
    for step in ["none", "zero"] {
        let env = &parts[step];
        assert_eq!(get(env, "SLURMD_NODENAME", step), "gpu01");
        assert!(!env.contains_key("SLURM_STEP_GPUS"), "{step}: {env:?}");
        assert_void(env, &format!("srun --gres={step} in a GPU allocation"));
    }
    let gpus = assert_gpu_env(
        &parts["one"],
        "SLURM_STEP_GPUS",
        "srun in a gpu:1 allocation",
    );
    assert_eq!(gpus.len(), 1);
    assert!(
        !stderr_of(&out).contains("spank_rci"),
        "{}",
        stderr_of(&out)
    );

    let (env, _) = srun_env(c, &["-p", "gpu", "--gres=gpu:0", "env"]);
    assert_eq!(get(&env, "SLURMD_NODENAME", "gpu:0"), "cpu01");
    assert_void(&env, "srun -p gpu --gres=gpu:0 (rerouted)");
}

#[test]
fn values_the_user_exported_are_replaced_as_the_user() {
    // task_init runs as the job's user, after Slurm dropped privileges.
    let (_lock, c) = exclusive();
    let user_env = [
        "NVIDIA_VISIBLE_DEVICES=all",
        "APPTAINERENV_NVIDIA_VISIBLE_DEVICES=all",
        "SINGULARITYENV_NVIDIA_VISIBLE_DEVICES=all",
        "RCI_CDI_DEVICES=nvidia.com/gpu=all",
    ];
    let script = "echo TASK_USER=$(id -un); env";
    for (partition, gres) in [("gpu", "--gres=gpu:1"), ("cpu", "--gres=none")] {
        let mut args: Vec<&str> = user_env.to_vec();
        args.extend(["srun", "-p", partition, gres, "bash", "-c", script]);
        let out = c.run_as(TEST_USER, "env", &args);
        let env = env_map(&assert_success(
            &out,
            &format!("srun -p {partition} as rcitest"),
        ));
        assert_eq!(get(&env, "TASK_USER", partition), TEST_USER);
        assert_eq!(get(&env, "SLURM_JOB_USER", partition), TEST_USER);
        if partition == "gpu" {
            assert_eq!(
                assert_gpu_env(&env, "SLURM_STEP_GPUS", "rcitest gpu:1").len(),
                1
            );
        } else {
            assert_void(&env, "rcitest CPU step with NVIDIA_VISIBLE_DEVICES=all");
        }
    }
}

#[test]
fn batch_step_and_its_steps_each_get_their_own_gpus() {
    let (_lock, c) = exclusive();
    let script = "\
echo '== batch'; env
export NVIDIA_VISIBLE_DEVICES=all APPTAINERENV_NVIDIA_VISIBLE_DEVICES=all
echo '== one'; srun --gres=gpu:1 env
echo '== none'; srun --gres=none env
echo '== whole'; srun env
";
    let (id, _, _) = c
        .sbatch_as(TEST_USER, &["-p", "gpu", "--gres=gpu:3"], script)
        .expect("sbatch");
    assert_eq!(c.wait_job_done(id, JOB_TIMEOUT), "COMPLETED");
    let output = c.job_output(id);
    let parts = sections(&output);
    let job = assert_gpu_env(&parts["batch"], "SLURM_JOB_GPUS", "batch step");
    assert_eq!(job.len(), 3, "{output}");

    let one = assert_gpu_env(&parts["one"], "SLURM_STEP_GPUS", "srun --gres=gpu:1");
    assert_eq!(one.len(), 1);
    assert!(job.contains(&one[0]), "step GPU {one:?} not in job {job:?}");

    // The step inherits SLURM_JOB_GPUS from the batch script; it holds no GPU all the same.
    let none = &parts["none"];
    assert_eq!(indices(get(none, "SLURM_JOB_GPUS", "none")), job);
    assert_void(none, "srun --gres=none in a gpu:3 batch job");

    let whole = assert_gpu_env(&parts["whole"], "SLURM_STEP_GPUS", "srun in the batch job");
    assert_eq!(whole, job);
    assert!(!output.contains("spank_rci"), "{output}");
}

#[test]
fn gpus_per_task_follow_each_tasks_slurm_list() {
    // See "a task-to-GPU map of our own" in src/container_env.rs.
    let (_lock, c) = exclusive();
    let out = c.srun(&["-p", "gpu", "--gpus-per-task=1", "-n", "2", "-l", "env"]);
    let tasks = task_envs(&assert_success(&out, "srun --gpus-per-task=1 -n 2"));
    assert_eq!(tasks.len(), 2, "{}", stdout_of(&out));
    let mut seen = Vec::new();
    for (task, env) in &tasks {
        let gpus = assert_gpu_env(env, "SLURM_STEP_GPUS", &format!("task {task}"));
        // Slurm binds one GPU to each task (implied --gpu-bind=per_task:1).
        assert_eq!(gpus.len(), 1, "task {task}: {gpus:?}");
        seen.extend(gpus);
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 2, "the tasks share a GPU: {seen:?}");

    // No binding: every task gets the step's list.
    let out = c.srun(&["-p", "gpu", "--gpus=2", "-n", "2", "-l", "env"]);
    let tasks = task_envs(&assert_success(&out, "srun --gpus=2 -n 2"));
    assert_eq!(tasks.len(), 2);
    let lists: Vec<Vec<u32>> = tasks
        .iter()
        .map(|(t, env)| assert_gpu_env(env, "SLURM_STEP_GPUS", &format!("task {t}")))
        .collect();
    assert_eq!(lists[0].len(), 2);
    assert_eq!(lists[0], lists[1]);

    // --gpu-bind=none: Slurm 22.05 gives the tasks no list at all. Containers then get nothing,
    // and the task is told why, once (not once by us and once by Slurm's log to stderr).
    let out = c.srun(&[
        "-p",
        "gpu",
        "--gpus-per-task=1",
        "-n",
        "2",
        "--gpu-bind=none",
        "-l",
        "env",
    ]);
    let tasks = task_envs(&assert_success(&out, "srun --gpu-bind=none"));
    let stderr = stderr_of(&out);
    assert_eq!(tasks.len(), 2);
    for (task, env) in &tasks {
        let what = format!("--gpu-bind=none task {task}");
        if env.contains_key("SLURM_STEP_GPUS") {
            assert_gpu_env(env, "SLURM_STEP_GPUS", &what);
        } else {
            assert_eq!(get(env, "SLURM_GPUS_ON_NODE", &what), "2");
            assert_void(env, &what);
            let lines: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with(&format!("{task}: ")) && l.contains(NO_GPU_REASON))
                .collect();
            assert_eq!(lines.len(), 1, "{what}: {stderr}");
            assert!(lines[0].contains("SLURM_GPUS_ON_NODE=2"), "{}", lines[0]);
        }
    }
}

/// Batch jobs holding GPUs (one each) until [`Holds`] is dropped.
struct Holds<'a> {
    c: &'a Cluster,
    jobs: Vec<u32>,
}

impl Holds<'_> {
    /// Submits a job holding one GPU; returns (job id, its GRES index) once it runs.
    fn add(&mut self) -> (u32, u32) {
        let (id, _, _) = self
            .c
            .sbatch(
                &["-p", "gpu", "--gres=gpu:1"],
                "echo HELD=$SLURM_JOB_GPUS; exec sleep 300",
            )
            .expect("sbatch");
        self.jobs.push(id);
        let path = self.c.output_path(id);
        let mut held = None;
        let started = wait_until(JOB_TIMEOUT, || {
            held = fs::read_to_string(&path).ok().and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("HELD="))
                    .and_then(|v| v.trim().parse::<u32>().ok())
            });
            held.is_some()
        });
        assert!(
            started,
            "hold job {id} did not start\n{}",
            self.c.log_tails()
        );
        (id, held.unwrap_or_default())
    }

    fn cancel(&mut self, id: u32) {
        self.c.run("scancel", &[&id.to_string()]);
        let gone = wait_until(JOB_TIMEOUT, || {
            stdout_of(
                &self
                    .c
                    .run("squeue", &["-h", "-j", &id.to_string(), "-o", "%i"]),
            )
            .trim()
            .is_empty()
        });
        assert!(gone, "job {id} still there after scancel");
        self.jobs.retain(|&j| j != id);
    }
}

impl Drop for Holds<'_> {
    fn drop(&mut self) {
        if !self.jobs.is_empty() {
            let ids: Vec<String> = self.jobs.iter().map(u32::to_string).collect();
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            self.c.run("scancel", &ids);
        }
    }
}

#[test]
fn allocations_that_do_not_start_at_gpu_0_map_to_the_right_uuids() {
    let (_lock, c) = exclusive();
    let mut holds = Holds {
        c,
        jobs: Vec::new(),
    };
    let (_, a) = holds.add();
    let (b_id, b) = holds.add();
    assert_eq!((a, b), (0, 1), "first-fit placement of the hold jobs");

    let (env, _) = srun_env(c, &["-p", "gpu", "--gres=gpu:2", "env"]);
    let gpus = assert_gpu_env(&env, "SLURM_STEP_GPUS", "gpu:2 behind two holds");
    assert_eq!(gpus, [2, 3]);

    // GPU 2 held, GPU 1 freed: the next pair is 1 and 3.
    let (_, held) = holds.add();
    assert_eq!(held, 2);
    holds.cancel(b_id);
    let (env, _) = srun_env(c, &["-p", "gpu", "--gres=gpu:2", "env"]);
    let gpus = assert_gpu_env(&env, "SLURM_STEP_GPUS", "gpu:2 around holds");
    assert_eq!(gpus, [1, 3]);
    assert_eq!(
        get(&env, NVIDIA, "1,3"),
        format!("{},{}", fake_gpu_uuid(1), fake_gpu_uuid(3))
    );
}

/// rci.conf as the cluster started with (slurm-conf/rci.conf.in for this cluster's directory).
fn default_rci_conf(c: &Cluster) -> String {
    let template = fs::read_to_string(repo_root().join("slurm-conf/rci.conf.in"))
        .expect("reading slurm-conf/rci.conf.in");
    template.replace("@DIR@", &c.dir().display().to_string())
}

/// The default rci.conf with `settings` replacing (or adding) keys. Puts the default back when
/// dropped; each slurmstepd reads rci.conf afresh, so the change applies to the next step.
struct RciConf<'a> {
    c: &'a Cluster,
}

impl<'a> RciConf<'a> {
    fn set(c: &'a Cluster, settings: &[(&str, &str)]) -> RciConf<'a> {
        let mut text: String = default_rci_conf(c)
            .lines()
            .filter(|line| {
                let key = line.split('=').next().unwrap_or("").trim();
                !settings.iter().any(|(k, _)| k.eq_ignore_ascii_case(key))
            })
            .map(|line| format!("{line}\n"))
            .collect();
        for (key, value) in settings {
            text.push_str(&format!("{key}={value}\n"));
        }
        c.write_rci_conf(&text);
        RciConf { c }
    }
}

impl Drop for RciConf<'_> {
    fn drop(&mut self) {
        self.c.write_rci_conf(&default_rci_conf(self.c));
    }
}

/// A directory readable by every user (slurmstepd reads it as root, but keep it plain).
fn public_dir(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn copy_tree(from: &Path, to: &Path) {
    public_dir(to);
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn a_missing_driver_tree_gives_void_and_says_why() {
    let (_lock, c) = exclusive();
    let empty = c.dir().join("emptyproc");
    public_dir(&empty);
    let no_nvml = c.dir().join("no-nvml/libnvidia-ml.so.1");
    let _conf = RciConf::set(
        c,
        &[
            ("NvidiaProcRoot", empty.to_str().unwrap()),
            ("NvmlLibrary", no_nvml.to_str().unwrap()),
        ],
    );
    let out = c.srun(&[
        "-p",
        "gpu",
        "--gres=gpu:1",
        "bash",
        "-c",
        "echo JOB=$SLURM_JOB_ID; env",
    ]);
    let env = env_map(&assert_success(&out, "srun with an empty NvidiaProcRoot"));
    assert!(env.contains_key("SLURM_STEP_GPUS"), "{env:?}");
    assert_void(&env, "empty NvidiaProcRoot");
    let stderr = stderr_of(&out);
    let why = format!("{}/driver/nvidia/gpus", empty.display());
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(NO_GPU_REASON))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning on the task's stderr:\n{stderr}"
    );
    assert!(warnings[0].contains(NO_GPU_WARNING), "{}", warnings[0]);
    assert!(warnings[0].contains(&why), "{}", warnings[0]);
    assert!(warnings[0].contains("SLURM_STEP_GPUS="), "{}", warnings[0]);
    let job = get(&env, "JOB", "task");
    let log = c.slurmd_log("gpu01");
    let logged = log
        .lines()
        .find(|l| l.contains(&format!("[{job}.0] error: {NO_GPU_WARNING}")));
    match logged {
        Some(line) => assert!(line.contains(&why), "{line}"),
        None => panic!("no warning for step {job}.0 in slurmd-gpu01.log:\n{log}"),
    }

    // A batch job: the warning lands in its output, the job succeeds.
    let (id, _, _) = c
        .sbatch(
            &["-p", "gpu", "--gres=gpu:1"],
            "echo NV=$NVIDIA_VISIBLE_DEVICES",
        )
        .expect("sbatch");
    assert_eq!(c.wait_job_done(id, JOB_TIMEOUT), "COMPLETED");
    let output = c.job_output(id);
    assert!(output.contains("NV=void"), "{output}");
    assert_eq!(output.matches(NO_GPU_REASON).count(), 1, "{output}");
    assert!(
        output.contains(NO_GPU_WARNING) && output.contains(&why),
        "{output}"
    );
    assert_eq!(c.scontrol_show_job(id)["ExitCode"], "0:0");
}

#[test]
fn without_a_driver_proc_tree_nvml_names_the_gpus() {
    // /proc/driver/nvidia is empty (e.g. inside a container), NVML answers: slurmstepd asks it
    // once before the tasks fork, and task_init maps minors to NVML's UUIDs. The fake NVML gives
    // UUIDs different from the fake /proc tree, so the test sees which source answered.
    let (_lock, c) = exclusive();
    let empty = c.dir().join("emptyproc-nvml");
    public_dir(&empty);
    let dir = c.dir().join("nvml-for-containers");
    public_dir(&dir);
    let lib = dir.join("libnvidia-ml.so.1");
    let nvml_uuid = |minor: u32| format!("GPU-aaaa0000-2222-4000-8000-0000000000{minor:02}");
    let state: String = (0..4)
        .map(|m| format!("device {} {m} 0 NVIDIA L40\n", nvml_uuid(m)))
        .collect();
    fs::write(dir.join("libnvidia-ml.so.1.state"), state).unwrap();
    fs::copy(fake_nvml::library(), &lib).unwrap();
    let _conf = RciConf::set(
        c,
        &[
            ("NvidiaProcRoot", empty.to_str().unwrap()),
            ("NvmlLibrary", lib.to_str().unwrap()),
        ],
    );
    let (env, stderr) = srun_env(c, &["-p", "gpu", "--gres=gpu:2", "env"]);
    let indices = indices(get(&env, "SLURM_STEP_GPUS", "task"));
    let expected: Vec<String> = indices.iter().map(|&i| nvml_uuid(i)).collect();
    assert_eq!(get(&env, NVIDIA, "task"), expected.join(","), "{stderr}");
    assert_eq!(get(&env, APPTAINER, "task"), expected.join(","));
    assert!(!stderr.contains(NO_GPU_REASON), "{stderr}");
}

#[test]
fn one_unreadable_gpu_entry_voids_the_whole_step_never_part_of_it() {
    let (_lock, c) = exclusive();
    let broken = c.dir().join("brokenproc");
    copy_tree(&c.fakeproc(), &broken);
    // What a driver prints before the GPU is initialised: no usable UUID for minor 1.
    let info = broken.join(format!(
        "driver/nvidia/gpus/{}/information",
        fake_gpu_bus_id(1)
    ));
    let text = fs::read_to_string(&info).expect("fake information file");
    let text = text.replace(&fake_gpu_uuid(1), "??");
    fs::write(&info, text).expect("rewriting the information file");
    let no_nvml = c.dir().join("no-nvml/libnvidia-ml.so.1");
    let _conf = RciConf::set(
        c,
        &[
            ("NvidiaProcRoot", broken.to_str().unwrap()),
            ("NvmlLibrary", no_nvml.to_str().unwrap()),
        ],
    );
    // The cluster is idle: two GPUs are 0 and 1.
    let out = c.srun(&["-p", "gpu", "--gres=gpu:2", "env"]);
    let env = env_map(&assert_success(&out, "srun gpu:2"));
    assert_eq!(get(&env, "SLURM_STEP_GPUS", "gpu:2"), "0,1");
    assert_void(&env, "GPU 1 without UUID");
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains(NO_GPU_WARNING)
            && stderr.contains("GRES index 1 is")
            && stderr.contains("minor 1"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("GRES index 0 is"),
        "GPU 0 was fine: {stderr}"
    );

    let (env, stderr) = srun_env(c, &["-p", "gpu", "--gres=gpu:1", "env"]);
    assert_eq!(assert_gpu_env(&env, "SLURM_STEP_GPUS", "gpu:1"), [0]);
    assert!(!stderr.contains("spank_rci"), "{stderr}");
}

#[test]
fn container_env_nvidia_writes_only_the_nvidia_family() {
    let (_lock, c) = exclusive();
    let _conf = RciConf::set(
        c,
        &[
            ("ContainerEnv", "nvidia"),
            ("NvidiaDriverCapabilities", "compute,utility"),
        ],
    );
    let (env, _) = srun_env(c, &["-p", "gpu", "--gres=gpu:1", "env"]);
    let list = indices(get(&env, "SLURM_STEP_GPUS", "gpu:1"));
    assert_eq!(get(&env, NVIDIA, "nvidia"), fake_gpu_uuid(list[0]));
    assert_eq!(
        get(&env, "NVIDIA_DRIVER_CAPABILITIES", "nvidia"),
        "compute,utility"
    );
    for var in [APPTAINER, SINGULARITY, CDI] {
        assert!(!env.contains_key(var), "{var} set: {env:?}");
    }
    let (env, _) = srun_env(c, &["-p", "cpu", "env"]);
    assert_eq!(get(&env, NVIDIA, "cpu"), "void");
    for var in [APPTAINER, SINGULARITY, CDI] {
        assert!(!env.contains_key(var), "{var} set: {env:?}");
    }
}

#[test]
fn container_gpu_env_no_writes_nothing() {
    let (_lock, c) = exclusive();
    let _conf = RciConf::set(c, &[("ContainerGpuEnv", "no")]);
    for partition in ["gpu", "cpu"] {
        let gres = if partition == "gpu" {
            "--gres=gpu:1"
        } else {
            "--gres=none"
        };
        let (env, stderr) = srun_env(c, &["-p", partition, gres, "env"]);
        for var in ALL_VARS {
            assert!(!env.contains_key(var), "{partition}: {var} set: {env:?}");
        }
        assert!(!stderr.contains("spank_rci"), "{stderr}");
    }
    // What the user exported stays as it was.
    let out = c.run(
        "env",
        &[
            "NVIDIA_VISIBLE_DEVICES=all",
            "srun",
            "-p",
            "gpu",
            "--gres=gpu:1",
            "env",
        ],
    );
    let env = env_map(&assert_success(&out, "srun with the feature off"));
    assert_eq!(get(&env, NVIDIA, "off"), "all");
}
