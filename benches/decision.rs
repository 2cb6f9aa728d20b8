//! One `decide` call on typical requests (goal: ≤ 1 µs median with a 2 KB script).
//!
//! Run with `cargo bench --bench decision`.

use criterion::{criterion_group, criterion_main, Criterion};
use rci::config::Config;
use rci::job::{JobRequest, TimeLimit};
use rci::policy::decide;
use std::hint::black_box;

const CONF: &str = r#"
GpuPartitions=gpu,gpu-long CpuPartition=cpu
ExemptAccounts=gpu-admins
DefaultPartition=cpu
Kind=interactive DefaultTime=1:00:00 MaxTime=8:00:00 Action=reject
Kind=jupyter DefaultTime=4:00:00 MaxTime=12:00:00
Kind=server DefaultTime=1-00:00:00 MaxTime=7-00:00:00 AllowUsers=carol AllowMaxTime=30-00:00:00
Kind=vm MaxTime=3-00:00:00
KindRule=server Comment=*rci:server*
"#;
const CONF_NO_BUILTINS: &str = "DefaultKindRules=no";

/// About 2 KB of an ordinary batch script that no kind rule matches (the common case, and the
/// one that scans the whole script once per script rule).
fn typical_script() -> String {
    let mut s = String::from(
        "#!/bin/bash\n\
         #SBATCH --job-name=train-resnet\n\
         #SBATCH --partition=gpu\n\
         #SBATCH --gres=gpu:1\n\
         #SBATCH --cpus-per-task=8\n\
         #SBATCH --mem=32G\n\
         #SBATCH --time=2-00:00:00\n\
         #SBATCH --output=logs/%x-%j.out\n\
         set -euo pipefail\n\
         module purge\n\
         module load cuda/12.2 python/3.11\n\
         source $HOME/venvs/torch/bin/activate\n\
         export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK\n\
         cd $SLURM_SUBMIT_DIR\n",
    );
    while s.len() < 2000 {
        s.push_str(
            "# train one fold, then copy the checkpoint back to project storage\n\
             srun python train.py --data /scratch/$USER/imagenet --epochs 90 --fold $FOLD\n\
             cp -r checkpoints/fold-$FOLD /project/ml/results/\n",
        );
    }
    s
}

fn bench(c: &mut Criterion) {
    let cfg = Config::parse(CONF, "bench").expect("bench config parses");
    let gpu_job = JobRequest {
        user_name: Some("dave".into()),
        submit_user_name: Some("dave".into()),
        submit_uid: 1000,
        name: Some("train-resnet".into()),
        partition: Some("gpu".into()),
        account: Some("ml".into()),
        tres_per_node: Some("gres/gpu:1".into()),
        tres_per_task: Some("cpu=8".into()),
        time_limit: TimeLimit::Minutes(2 * 1440),
        script: Some(typical_script()),
        min_cpus: Some(8),
        ..Default::default()
    };
    let mut cpu_job = gpu_job.clone();
    cpu_job.tres_per_node = None;
    let mut server_job = cpu_job.clone();
    if let Some(s) = server_job.script.as_mut() {
        s.push_str("uvicorn app:app --port 8000\n");
    }
    server_job.time_limit = TimeLimit::Minutes(30 * 1440);
    let mut big = gpu_job.clone();
    big.script = Some(typical_script().repeat(2500)); // ~5 MB

    println!(
        "script sizes: typical {} bytes, large {} bytes",
        gpu_job.script.as_ref().map_or(0, String::len),
        big.script.as_ref().map_or(0, String::len)
    );

    c.bench_function("decide/gpu_job_2KB_script", |b| {
        b.iter(|| decide(black_box(&cfg), black_box(&gpu_job)))
    });
    let bare = Config::parse(&format!("{CONF}{CONF_NO_BUILTINS}"), "bench").expect("parses");
    c.bench_function("decide/gpu_job_2KB_no_script_rules", |b| {
        b.iter(|| decide(black_box(&bare), black_box(&gpu_job)))
    });
    c.bench_function("decide/cpu_job_rerouted_2KB_script", |b| {
        b.iter(|| decide(black_box(&cfg), black_box(&cpu_job)))
    });
    c.bench_function("decide/server_job_capped_2KB_script", |b| {
        b.iter(|| decide(black_box(&cfg), black_box(&server_job)))
    });
    c.bench_function("decide/gpu_job_5MB_script", |b| {
        b.iter(|| decide(black_box(&cfg), black_box(&big)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
