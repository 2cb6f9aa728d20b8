//! What an ordinary user can do to the node side of rci, tried as that user ([`TEST_USER`]) on
//! a real cluster: forge the GPU lists and job facts in the environment, export a megabyte of
//! variables, run many steps, spread a job over nodes, reuse a job id, kill the extern step, and
//! (the admin's bad day) a driver whose NVML blocks. Records must stay facts, the GPU list given
//! to containers must stay Slurm's allocation, and nothing may hang or be lost silently.
//!
//! The tests share one cluster and run one at a time: they count GPUs and step notes of gpu01.

mod common;
mod fake_nvml;

use common::{
    assert_success, fake_gpu_uuid, shared_cluster, stderr_of, stdout_of, test_lock, wait_until,
    Cluster, ClusterOptions, JOB_TIMEOUT, TEST_USER,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::MutexGuard;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a record may take to appear after its job ended.
const RECORD_TIMEOUT: Duration = Duration::from_secs(30);
/// Slurm's step id of the batch step.
const BATCH_STEP: u32 = 0xffff_fffb;

fn cluster() -> &'static Cluster {
    shared_cluster(ClusterOptions::plugins())
}

/// The cluster to this test alone, with no job left from another test.
fn exclusive() -> (MutexGuard<'static, ()>, &'static Cluster) {
    let guard = test_lock();
    let c = cluster();
    let mut last = String::new();
    let idle = wait_until(JOB_TIMEOUT, || {
        last = stdout_of(&c.run("squeue", &["-h", "-o", "%i %T"]));
        last.trim().is_empty()
    });
    assert!(idle, "jobs still queued: {last}\n{}", c.log_tails());
    (guard, c)
}

/// Runs a bash script as the test user (so `export`s reach sbatch/salloc/srun as a user's would).
fn as_user(c: &Cluster, timeout: Duration, script: &str) -> std::process::Output {
    c.run_full(Some(TEST_USER), timeout, "bash", &["-c", script], None)
}

/// `sbatch --parsable ARGS` run by the user's `script_prefix` (exports), output to DIR/out.
fn sbatch_as_user(c: &Cluster, exports: &str, args: &str) -> u32 {
    let out = as_user(
        c,
        Duration::from_secs(60),
        &format!(
            "{exports}\nsbatch --parsable -o {}/out/%j.out {args}",
            c.dir().display()
        ),
    );
    let text = assert_success(&out, "sbatch");
    text.lines()
        .last()
        .and_then(|l| l.split(';').next())
        .and_then(|id| id.trim().parse().ok())
        .unwrap_or_else(|| panic!("no job id from sbatch: {text}"))
}

fn uid_of(user: &str) -> u32 {
    let out = std::process::Command::new("id")
        .args(["-u", user])
        .output()
        .expect("id runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a uid")
}

fn all_records(c: &Cluster) -> Vec<Value> {
    let Ok(entries) = fs::read_dir(c.dir().join("accounting")) else {
        return Vec::new();
    };
    let mut records = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "jsonl") {
            for line in fs::read_to_string(&path).unwrap_or_default().lines() {
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

/// Waits for at least `n` records of the job; returns them.
fn wait_records(c: &Cluster, job_id: u32, n: usize) -> Vec<Value> {
    let found = wait_until(RECORD_TIMEOUT, || records_of(c, job_id).len() >= n);
    assert!(
        found,
        "fewer than {n} record(s) for job {job_id}: {:?}\n{}",
        records_of(c, job_id),
        c.log_tails()
    );
    records_of(c, job_id)
}

fn wait_done(c: &Cluster, job_id: u32) -> String {
    c.wait_job_done(job_id, JOB_TIMEOUT)
}

fn notes_dir(c: &Cluster) -> PathBuf {
    c.dir().join("accounting/.step-notes")
}

/// The step-notes files of `job_id` (any node, any uid) that hold anything, and their sizes
/// (an emptied file the extern step could not unlink, on 24.11-25.11, goes with the next job).
fn notes_of(c: &Cluster, job_id: u32) -> Vec<(String, u64)> {
    let Ok(entries) = fs::read_dir(notes_dir(c)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let parts: Vec<&str> = name.split('.').collect();
            (parts.len() == 4 && parts[1] == job_id.to_string())
                .then(|| (name, e.metadata().map(|m| m.len()).unwrap_or(0)))
        })
        .filter(|(_, size)| *size > 0)
        .collect()
}

/// `KEY=value` lines of `env` output between `== NAME` markers.
fn sections(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut parts: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            current = name.trim().to_owned();
            parts.entry(current.clone()).or_default();
        } else if let Some((k, v)) = line.split_once('=') {
            parts
                .entry(current.clone())
                .or_default()
                .insert(k.to_owned(), v.to_owned());
        }
    }
    parts
}

/// gpu01's state as sinfo prints it (`idle`, `drain`, …).
fn node_state(c: &Cluster) -> String {
    stdout_of(&c.run("sinfo", &["-h", "-p", "gpu", "-n", "gpu01", "-o", "%t"]))
        .trim()
        .to_owned()
}

/// The pid of job `job_id`'s extern slurmstepd (its process title is `slurmstepd: [N.extern]`).
fn extern_stepd_pid(job_id: u32) -> Option<u32> {
    let title = format!("slurmstepd: [{job_id}.extern]");
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = fs::read(e.path().join("cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline)
            .starts_with(&title)
            .then_some(pid)
    })
}

fn gres_indices(list: &str) -> Vec<u32> {
    list.split(',')
        .map(|i| i.parse().expect("an index"))
        .collect()
}

fn record_gpu_indices(r: &Value) -> Vec<u64> {
    r["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["index"].as_u64().unwrap())
        .collect()
}

#[test]
fn forged_gpu_lists_never_widen_or_change_the_gpus() {
    let (_lock, c) = exclusive();
    for (forged, count) in [("0,1,2,3", 1), ("3", 1), ("x", 2)] {
        let id = sbatch_as_user(
            c,
            &format!("export SLURM_STEP_GPUS={forged}"),
            &format!(
                "-p gpu --gres=gpu:{count} --wrap 'echo == batch; env; echo == none; \
                 SLURM_STEP_GPUS=0,1,2,3 srun --gres=none env; sleep 1'"
            ),
        );
        assert_eq!(wait_done(c, id), "COMPLETED");
        let parts = sections(&c.job_output(id));
        let batch = &parts["batch"];
        let allocated = gres_indices(&batch["SLURM_JOB_GPUS"]);
        assert_eq!(allocated.len(), count, "{forged}: {batch:?}");
        let expected: Vec<String> = allocated.iter().map(|&i| fake_gpu_uuid(i)).collect();
        assert_eq!(
            batch["NVIDIA_VISIBLE_DEVICES"],
            expected.join(","),
            "SLURM_STEP_GPUS={forged} exported: containers get exactly Slurm's allocation"
        );
        assert_eq!(parts["none"]["NVIDIA_VISIBLE_DEVICES"], "void", "{forged}");

        let r = &wait_records(c, id, 1)[0];
        let indices: Vec<u64> = allocated.iter().map(|&i| u64::from(i)).collect();
        assert_eq!(record_gpu_indices(r), indices, "{forged}: {r}");
        for (gpu, want) in r["gpus"].as_array().unwrap().iter().zip(&expected) {
            assert_eq!(&gpu["uuid"], want, "{r}");
        }
        assert!(r["gpu_hours"].as_f64().unwrap() > 0.0, "{forged}: {r}");
    }
}

#[test]
fn forged_account_name_and_qos_are_never_facts() {
    let (_lock, c) = exclusive();
    // An srun step's environment is what the user's client sends.
    let out = as_user(
        c,
        Duration::from_secs(60),
        "salloc -p gpu --gres=gpu:1 -A physics -J realname bash -c \
         'SLURM_JOB_ACCOUNT=victim SLURM_JOB_QOS=victimq SLURM_JOB_NAME=victimname \
          SLURM_JOB_PARTITION=victimpart srun sleep 1; \
          SLURM_JOB_ACCOUNT=$(printf \"evil\\nTOTAL 999\") srun true'",
    );
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    let id: u32 = stderr
        .split("Granted job allocation ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no job id in: {stderr}"));
    let r = &wait_records(c, id, 1)[0];
    assert_eq!(r["account"], "", "{r}");
    assert_eq!(r["qos"], Value::Null, "{r}");
    assert_eq!(r["job_name"], "", "{r}");
    assert_eq!(r["partition"], "", "{r}");
    // Kept as a claim: the forged srun value, or (26.05 runs salloc's interactive step, which
    // speaks first) what salloc said.
    assert!(
        r["claimed"]["account"] == "victim" || r["claimed"]["account"] == "physics",
        "kept as the user's claim: {r}"
    );
    assert_eq!(record_gpu_indices(r).len(), 1, "{r}");

    // The batch step: Slurm overwrites name and partition; without slurmdbd a job may have no
    // QOS (and no account), so those stay claims.
    let id = sbatch_as_user(
        c,
        "export SLURM_JOB_ACCOUNT=victim SLURM_JOB_NAME=victimname SLURM_JOB_QOS=victimq \
         SLURM_JOB_PARTITION=victimpart",
        "-p gpu --gres=gpu:1 -J realname -A physics --wrap 'sleep 1'",
    );
    assert_eq!(wait_done(c, id), "COMPLETED");
    let r = &wait_records(c, id, 1)[0];
    assert_eq!(r["job_name"], "realname", "{r}");
    assert_eq!(r["partition"], "gpu", "{r}");
    assert_ne!(r["account"], "victim", "{r}");
    assert_eq!(r["qos"], Value::Null, "{r}");
    assert_eq!(r["claimed"]["qos"], "victimq", "{r}");

    // No forged row in an accountant's table.
    let out = std::process::Command::new(common::rci_cli())
        .args(["report", "--by", "account", "--format", "table"])
        .arg(c.dir().join("accounting"))
        .output()
        .expect("rci report runs");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(
        !table.lines().any(|l| l.starts_with("TOTAL 999")),
        "{table}"
    );
    assert!(!table.contains("victim"), "{table}");
}

#[test]
fn a_megabyte_of_exported_variables_loses_no_gpu_hours() {
    let (_lock, c) = exclusive();
    // Eight variables of 120 KiB (the kernel allows 128 KiB per string): every one rci reads.
    let exports = "big=$(head -c 122880 /dev/zero | tr '\\0' x); \
        export SLURM_JOB_NAME=$big SLURM_JOB_ACCOUNT=$big SLURM_JOB_PARTITION=$big \
        SLURM_JOB_QOS=$big SLURM_SHARDS_ON_NODE=$big CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=$big \
        SLURM_STEP_GPUS=$big RCI_FILLER=$big";
    let id = sbatch_as_user(
        c,
        exports,
        "-p gpu --gres=gpu:2 -J big --wrap 'srun --gres=gpu:1 true; sleep 2'",
    );
    assert_eq!(wait_done(c, id), "COMPLETED");
    let r = &wait_records(c, id, 1)[0];
    assert_eq!(r["job_name"], "big", "{r}");
    assert_eq!(r["partition"], "gpu", "{r}");
    let gpus = r["gpus"].as_array().unwrap();
    assert_eq!(gpus.len(), 2, "{r}");
    assert!(gpus.iter().all(|g| g["uuid"].is_string()), "{r}");
    assert!(r["gpu_hours"].as_f64().unwrap() > 0.0, "{r}");
    assert!(notes_of(c, id).is_empty(), "notes removed at the end");
}

#[test]
fn fifty_srun_steps_with_large_variables_keep_the_notes_small() {
    let (_lock, c) = exclusive();
    let marker = c.dir().join("work/fifty-done");
    let _ = fs::remove_file(&marker);
    let script = format!(
        "salloc -p gpu --gres=gpu:2 -J fifty bash -c 'big=$(head -c 100000 /dev/zero | tr \"\\0\" x); \
         for i in $(seq 50); do SLURM_JOB_NAME=$big SLURM_JOB_ACCOUNT=$big srun --gres=gpu:1 true; \
         done; touch {}; sleep 6'",
        marker.display()
    );
    let runner = std::thread::spawn({
        let script = script.clone();
        move || as_user(cluster(), Duration::from_secs(240), &script)
    });
    let done = wait_until(Duration::from_secs(200), || marker.exists());
    assert!(done, "50 steps did not finish\n{}", c.log_tails());
    let job_id: u32 = assert_success(
        &c.run("squeue", &["-h", "-n", "fifty", "-o", "%i"]),
        "squeue",
    )
    .trim()
    .parse()
    .expect("the salloc job runs");
    let notes = notes_of(c, job_id);
    let total: u64 = notes.iter().map(|(_, size)| size).sum();
    assert!(total <= 64 * 1024, "{total} bytes of notes: {notes:?}");
    let out = runner.join().expect("salloc thread");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let r = &wait_records(c, job_id, 1)[0];
    assert!(!record_gpu_indices(r).is_empty(), "{r}");
    let incomplete = r["incomplete"].to_string();
    assert!(incomplete.contains("SLURM_JOB_NAME (100000 bytes)"), "{r}");
    assert!(notes_of(c, job_id).is_empty());
}

#[test]
fn het_and_two_node_jobs_file_each_nodes_facts_under_that_node() {
    let (_lock, c) = exclusive();
    // From a file: sbatch 22.05 misreads a het job's script given on stdin.
    let script = c.dir().join("work/het.sh");
    fs::write(
        &script,
        "#!/bin/bash\n#SBATCH -J hjob -p cpu\n#SBATCH hetjob\n#SBATCH -p gpu --gres=gpu:1\n\
         srun --het-group=1 sleep 2\n",
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();
    let out = as_user(
        c,
        Duration::from_secs(60),
        &format!(
            "sbatch --parsable -o {}/out/%j.out {}",
            c.dir().display(),
            script.display()
        ),
    );
    let leader: u32 = assert_success(&out, "sbatch het")
        .trim()
        .split(';')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("a job id");
    assert_eq!(wait_done(c, leader), "COMPLETED");
    let on_gpu = wait_until(RECORD_TIMEOUT, || {
        all_records(c)
            .iter()
            .any(|r| r["node"] == "gpu01" && (r["job_id"] == leader || r["job_id"] == leader + 1))
    });
    assert!(
        on_gpu,
        "no gpu01 record of het job {leader}\n{}",
        c.log_tails()
    );
    let records: Vec<Value> = all_records(c)
        .into_iter()
        .filter(|r| r["job_id"] == leader || r["job_id"] == leader + 1)
        .collect();
    let gpu = records.iter().find(|r| r["node"] == "gpu01").unwrap();
    assert_eq!(
        record_gpu_indices(gpu).len(),
        1,
        "the GPU component's GPU: {gpu}"
    );
    assert!(gpu["gpus"][0]["uuid"].is_string(), "{gpu}");
    let cpu = records
        .iter()
        .find(|r| r["node"] == "cpu01")
        .unwrap_or_else(|| {
            panic!("no cpu01 record of het job {leader}: {records:?}");
        });
    assert_eq!(cpu["job_name"], "hjob", "{cpu}");
    assert!(record_gpu_indices(cpu).is_empty(), "{cpu}");
    assert!(notes_of(c, leader).is_empty() && notes_of(c, leader + 1).is_empty());

    let id = sbatch_as_user(c, "", "-p both -N 2 -J twonode --wrap 'srun -N 2 sleep 1'");
    assert_eq!(wait_done(c, id), "COMPLETED");
    let records = wait_records(c, id, 2);
    let mut nodes: Vec<&str> = records
        .iter()
        .map(|r| r["node"].as_str().unwrap())
        .collect();
    nodes.sort_unstable();
    assert_eq!(nodes, ["cpu01", "gpu01"], "{records:?}");
    for r in &records {
        assert!(r["alloc_cpus"].as_u64().unwrap() > 0, "{r}");
        assert!(record_gpu_indices(r).is_empty(), "{r}");
        let named = r["job_name"] == "twonode" || r["claimed"]["job_name"] == "twonode";
        assert!(named, "each node's record names its job: {r}");
    }
    assert!(notes_of(c, id).is_empty(), "{:?}", notes_of(c, id));
}

#[test]
fn a_reused_job_id_never_inherits_an_earlier_jobs_notes() {
    let (_lock, c) = exclusive();
    let id = sbatch_as_user(
        c,
        "",
        "--hold -p gpu --gres=gpu:1 -J fresh --wrap 'sleep 1'",
    );
    // What an earlier job 'id' of the same user left on gpu01 before the controller lost its
    // state (its extern step died with the node): a header and a batch note, a day old.
    let day_ago = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 86_400;
    let uid = uid_of(TEST_USER);
    let dir = notes_dir(c);
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(
        c.dir().join("accounting"),
        fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
    let ghost = json!({"job_id": id, "step_id": BATCH_STEP, "job_name": "ghost",
        "partition": "ghostpart", "job_gpus": "3", "written_unix": day_ago});
    let header = json!({"job_id": id, "uid": uid, "extern_start_unix": day_ago});
    let path = dir.join(format!("gpu01.{id}.{uid}.notes"));
    fs::write(&path, format!("{header}\n{ghost}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();

    assert_success(&c.run("scontrol", &["release", &id.to_string()]), "release");
    assert_eq!(wait_done(c, id), "COMPLETED");
    let records = wait_records(c, id, 2);
    let fresh = records
        .iter()
        .find(|r| r["job_name"] == "fresh")
        .unwrap_or_else(|| panic!("no record of the new job: {records:?}"));
    assert!(fresh["incomplete"].is_null(), "{fresh}");
    assert_eq!(record_gpu_indices(fresh).len(), 1, "{fresh}");
    let earlier = records
        .iter()
        .find(|r| r["job_name"] == "ghost")
        .unwrap_or_else(|| panic!("the earlier job's notes were dropped silently: {records:?}"));
    assert!(
        earlier["incomplete"].to_string().contains("extern step"),
        "{earlier}"
    );
    assert_eq!(record_gpu_indices(earlier), [3], "{earlier}");
    assert!(notes_of(c, id).is_empty());
}

#[test]
fn kill_9_of_the_extern_step_leaves_an_incomplete_record() {
    let (_lock, c) = exclusive();
    let id = sbatch_as_user(c, "", "-p gpu --gres=gpu:1 -J killed --wrap 'sleep 30'");
    let uid = uid_of(TEST_USER);
    let path = notes_dir(c).join(format!("gpu01.{id}.{uid}.notes"));
    let noted = wait_until(JOB_TIMEOUT, || {
        fs::read_to_string(&path).is_ok_and(|t| t.contains(&format!("\"step_id\":{BATCH_STEP}")))
    });
    assert!(
        noted,
        "no batch note in {}\n{}",
        path.display(),
        c.log_tails()
    );
    let pid = extern_stepd_pid(id).unwrap_or_else(|| panic!("no extern slurmstepd of job {id}"));
    let killed = std::process::Command::new("bash")
        .args(["-c", &format!("kill -9 {pid}")])
        .status()
        .expect("bash runs");
    assert!(killed.success());
    let _ = c.run("scancel", &[&id.to_string()]);
    wait_done(c, id);
    // Slurm may take the node down for a step it could not end; bring it back for the rest.
    let _ = c.run("scontrol", &["update", "nodename=gpu01", "state=resume"]);
    let idle = wait_until(JOB_TIMEOUT, || node_state(c) == "idle");
    assert!(idle, "gpu01 not idle again\n{}", c.log_tails());

    // The next job on the node finds the dead extern step's notes.
    let next = sbatch_as_user(c, "", "-p gpu --gres=gpu:1 -J next --wrap true");
    assert_eq!(wait_done(c, next), "COMPLETED");
    wait_records(c, next, 1);
    let records = wait_records(c, id, 1);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["job_name"], "killed", "{r}");
    assert_eq!(record_gpu_indices(r).len(), 1, "{r}");
    assert!(r["incomplete"].to_string().contains("extern step"), "{r}");
    assert!(
        !path.exists(),
        "the notes are turned into the record, then removed"
    );
}

#[test]
fn a_blocking_nvml_delays_step_launch_and_job_end_only_by_its_deadline() {
    let (_lock, c) = exclusive();
    let dir = c.dir().join("nvml-blocking");
    fs::create_dir_all(&dir).unwrap();
    let lib = dir.join("libnvidia-ml.so.1");
    fs::copy(fake_nvml::library(), &lib).unwrap();
    fs::set_permissions(&lib, fs::Permissions::from_mode(0o755)).unwrap();
    let state: String = (0..4)
        .map(|m| format!("device {} {m} 1000 NVIDIA L40\n", fake_gpu_uuid(m)))
        .collect::<String>()
        + "query_sleep_ms 600000\n";
    fs::write(dir.join("libnvidia-ml.so.1.state"), state).unwrap();
    // No driver tree: NVML is asked for the UUIDs, and blocks in every device query.
    let empty = c.dir().join("emptyproc");
    fs::create_dir_all(&empty).unwrap();
    let original = fs::read_to_string(c.rci_conf_path()).unwrap();
    let blocking = original
        .lines()
        .filter(|l| !l.starts_with("NvidiaProcRoot=") && !l.starts_with("NvmlLibrary="))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + &format!(
            "NvidiaProcRoot={}\nNvmlLibrary={}\n",
            empty.display(),
            lib.display()
        );
    c.write_rci_conf(&blocking);
    let started = Instant::now();
    let id = sbatch_as_user(c, "", "-p gpu --gres=gpu:1 -J blocked --wrap 'echo ran'");
    let state = wait_done(c, id);
    let took = started.elapsed();
    c.write_rci_conf(&original);
    assert_eq!(state, "COMPLETED", "{}", c.log_tails());
    // Deadlines: 5 s for NVML in the batch step's launch, 5 s at the job's end; not a timing
    // assertion, a hang check (the job never ended before).
    assert!(took < Duration::from_secs(50), "took {took:?}");
    assert_eq!(c.job_output(id).trim_end().lines().last(), Some("ran"));
    assert_eq!(node_state(c), "idle", "{}", c.log_tails());
    let r = &wait_records(c, id, 1)[0];
    let cpu = r["energy"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "cpu-package-0")
        .unwrap_or_else(|| panic!("{r}"));
    assert!(cpu["joules"].is_number(), "RAPL measured all the same: {r}");
    assert_eq!(record_gpu_indices(r).len(), 1, "{r}");
    assert!(
        r["incomplete"].to_string().contains("GPUs not identified"),
        "{r}"
    );
}
