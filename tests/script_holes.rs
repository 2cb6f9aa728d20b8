//! The script scan against a real Slurm (issue 15): a `#` the shell does not take for a comment
//! (quoted, escaped, in a here-document) hides nothing, and the common notebook, web and VM
//! commands are recognised by the built-in rules, so each job below is capped to its kind's
//! MaxTime instead of keeping the 10 days it asked for.
//!
//! All jobs are submitted held (only the script's text matters: nothing runs) and cancelled.

mod common;

use common::{shared_cluster, Cluster, ClusterOptions};

/// Three capped kinds with different caps, so the limit a job gets names its kind.
const CONF: &str = "\
GpuPartitions=gpu
CpuPartition=cpu
Kind=jupyter MaxTime=12:00:00 Action=cap
Kind=server MaxTime=2-00:00:00 Action=cap
Kind=vm MaxTime=3-00:00:00 Action=cap
Accounting=no
ContainerGpuEnv=no
";

fn cluster() -> &'static Cluster {
    shared_cluster(ClusterOptions {
        job_submit: true,
        rci_conf: Some(CONF.to_owned()),
        ..ClusterOptions::default()
    })
}

/// Submits `script` held with a 10-day limit; returns the limit Slurm recorded and sbatch's
/// stderr.
fn limit_of(c: &Cluster, script: &str) -> (String, String) {
    let (id, _, err) = c
        .sbatch(&["--hold", "-p", "cpu", "-t", "10-0"], script)
        .unwrap_or_else(|e| panic!("sbatch rejected {script:?}: {e}"));
    let record = c.scontrol_show_job(id);
    let _ = c.run("scancel", &[&id.to_string()]);
    (record["TimeLimit"].clone(), err)
}

fn cap_of(kind: &str) -> &'static str {
    match kind {
        "jupyter" => "12:00:00",
        "server" => "2-00:00:00",
        "vm" => "3-00:00:00",
        _ => "10-00:00:00",
    }
}

/// Every `(script, kind)`: the job must get the kind's cap and the cap message.
fn assert_kinds(cases: &[(&str, &str)]) {
    let c = cluster();
    let mut wrong = Vec::new();
    for &(script, kind) in cases {
        let (limit, err) = limit_of(c, script);
        let said = err.contains(&format!("rci: {kind} job; time limit 10-00:00:00 capped"));
        if limit != cap_of(kind) || !said {
            wrong.push(format!(
                "{script:?}: {limit} (want {kind}, {}): {err}",
                cap_of(kind)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn quoted_or_escaped_hash_hides_no_command() {
    assert_kinds(&[
        (
            "echo \"starting VM #1\"; qemu-system-x86_64 -m 4G -nographic",
            "vm",
        ),
        ("echo a\\ #; qemu-system-x86_64 -m 4G", "vm"),
        ("echo 'VM #1' && qemu-system-x86_64 -m 4G", "vm"),
        ("echo \\#1; qemu-kvm -m 4G", "vm"),
        ("echo $'it\\'s #1'; qemu-kvm -m 4G", "vm"),
        ("echo \"line one\n# line two\"; qemu-kvm -m 4G", "vm"),
        ("echo ${HOME#/}; qemu-kvm -m 4G", "vm"),
        (
            "cat <<EOF > notes.txt\nit's VM #1\nEOF\necho 'x #'; qemu-kvm -m 4G",
            "vm",
        ),
        (
            "echo \"$(hostname) #1\"; jupyter lab --no-browser",
            "jupyter",
        ),
    ]);
}

#[test]
fn commands_behind_shell_syntax_are_seen() {
    assert_kinds(&[
        ("true && qemu-kvm -m 1G", "vm"),
        ("false || qemu-kvm -m 1G", "vm"),
        ("cat /dev/null | qemu-kvm -m 1G", "vm"),
        ("x=$(qemu-kvm -version)", "vm"),
        ("x=`qemu-kvm -version`", "vm"),
        ("exec qemu-kvm -m 1G", "vm"),
        ("nohup qemu-kvm -m 1G &\nwait", "vm"),
        ("env DISPLAY= qemu-kvm -m 1G", "vm"),
        ("srun qemu-kvm -m 1G", "vm"),
        ("/usr/bin/qemu-system-x86_64 -m 1G", "vm"),
    ]);
}

#[test]
fn common_servers_and_vm_managers_are_recognised() {
    assert_kinds(&[
        ("python -m jupyterlab --no-browser --port 8888", "jupyter"),
        ("python3 -m notebook --no-browser", "jupyter"),
        ("jupyter server --no-browser", "jupyter"),
        ("jupyter-server --port 8888", "jupyter"),
        ("jupyter-lab --ip 0.0.0.0", "jupyter"),
        ("code-server --bind-addr 0.0.0.0:8080", "jupyter"),
        ("python3 -m http.server 8000", "server"),
        ("python3.11 -m http.server", "server"),
        ("flask run --host 0.0.0.0", "server"),
        ("voila dashboard.ipynb --port 8866", "server"),
        ("panel serve app.py", "server"),
        ("tensorboard --logdir runs --port 6006", "server"),
        ("mlflow server --host 0.0.0.0", "server"),
        ("mlflow ui --port 5000", "server"),
        ("ray start --head --block", "server"),
        ("virsh start myvm", "vm"),
        ("virsh create vm.xml", "vm"),
        ("virt-install --name x --memory 2048", "vm"),
        ("qemu-kvm -m 4G", "vm"),
    ]);
}

#[test]
fn installing_or_commenting_keeps_batch() {
    let c = cluster();
    for script in [
        "pip install jupyterlab notebook tensorboard voila-gridstack\npython train.py",
        "echo done # then qemu-system-x86_64 -m 4G",
        "echo 'it''s' # virsh start vm",
        "virsh list --all",
        "ray start --address=$HEAD_NODE:6379",
    ] {
        let (limit, err) = limit_of(c, script);
        assert_eq!(limit, "10-00:00:00", "{script:?}: {err}");
        assert!(!err.contains("rci:"), "{script:?}: {err}");
    }
}
