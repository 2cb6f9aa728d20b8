//! `rci report --by user` against the equivalent jq, on generated records.
//!
//! ```text
//! cargo bench --bench report_vs_jq              # 1,000,000 records
//! RCI_BENCH_RECORDS=100000 cargo bench --bench report_vs_jq
//! RCI_BENCH_JQ_SLURP=1 cargo bench --bench report_vs_jq   # also jq -s group_by (~12 GB RAM at 1M)
//! RCI_BENCH_SKIP_JQ=1 cargo bench --bench report_vs_jq    # rci only
//! ```
//! The records go to `$TMPDIR/rci-bench-<N>.jsonl` (reused when present). The summary runs
//! in-process through the same code as `rci report` (release profile); jq runs as a process.
//! Both results are compared, so a fast wrong answer cannot pass for a fast right one.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rci::cli::report::{details, render, render_html, summarize, Format, GroupBy};
use rci::energy::gpu::GpuEnergy;
use rci::energy::rapl::DomainEnergy;
use rci::energy::record::{GpuInfo, GpuUsage};
use rci::energy::{build_record, EnergyConfig, JobFacts};

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn generate(path: &Path, n: u64) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let cfg = EnergyConfig::default();
    for job in 0..n {
        let user = rng.below(500);
        let ngpus = [0u32, 0, 1, 4][rng.below(4) as usize];
        let elapsed = 60 + rng.below(86_400) as i64;
        let start = 1_700_000_000 + rng.below(30_000_000) as i64;
        let gpus: Vec<GpuInfo> = (0..ngpus)
            .map(|i| GpuInfo {
                index: i,
                uuid: Some(format!("GPU-{:08x}-{i}", rng.next() as u32)),
                model: Some("NVIDIA H100 80GB HBM3".into()),
            })
            .collect();
        let facts = JobFacts {
            cluster: "bench".into(),
            job_id: job as u32 + 1,
            job_name: format!("job-{}", rng.below(1000)),
            user: format!("user{user:03}"),
            uid: 10_000 + user as u32,
            account: format!("acct{:02}", user % 40),
            partition: if ngpus > 0 { "gpu" } else { "cpu" }.into(),
            qos: Some("normal".into()),
            node: format!("n{:04}", rng.below(2000)),
            alloc_cpus: 1 + rng.below(128) as u32,
            alloc_mem_mb: 4_000 * (1 + rng.below(64)),
            start_unix: start,
            end_unix: start + elapsed,
            gpus: gpus.clone(),
            exit_status: Some(0),
            ..JobFacts::default()
        };
        let watts = 100 + rng.below(300);
        let cpu = ["cpu-package-0", "cpu-package-1", "dram-0", "dram-1"]
            .iter()
            .map(|d| DomainEnergy {
                domain: (*d).into(),
                microjoules: Some(watts * elapsed as u64 * 1_000_000 + rng.below(1_000_000)),
                wraps: (watts * elapsed as u64 / 262_143) as u32,
                in_total: true,
                unavailable: None,
            })
            .collect();
        let gpu_energy = gpus
            .iter()
            .map(|g| GpuEnergy {
                index: g.index,
                uuid: g.uuid.clone(),
                model: g.model.clone(),
                millijoules: Some(300 * elapsed as u64 * 1000 + rng.below(1000)),
                reset: false,
                unavailable: None,
                usage: Some(GpuUsage {
                    index: g.index,
                    samples: 60,
                    sm_util_mean_pct: rng.below(100) as f64,
                    sm_util_max_pct: 100,
                    mem_util_mean_pct: rng.below(100) as f64,
                    memory_used_max_mib: Some(rng.below(46_000)),
                }),
            })
            .collect();
        let record = build_record(facts, cpu, gpu_energy, &cfg);
        let line = serde_json::to_string(&record).map_err(std::io::Error::other)?;
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn jq(filter: &str, slurp: bool, file: &Path) -> Option<(f64, HashMap<String, f64>)> {
    let t = Instant::now();
    let mut cmd = Command::new("jq");
    cmd.arg("-c");
    cmd.arg(if slurp { "-s" } else { "-n" });
    let out = cmd.arg(filter).arg(file).output().ok()?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        eprintln!("jq failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let totals = v
        .as_object()?
        .iter()
        .filter_map(|(k, x)| Some((k.clone(), x.as_f64()?)))
        .collect();
    Some((secs, totals))
}

/// `VmHWM` from /proc/self/status.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn agree(ours: &HashMap<String, f64>, theirs: &HashMap<String, f64>) -> bool {
    ours.len() == theirs.len()
        && ours.iter().all(|(k, a)| {
            theirs
                .get(k)
                .is_some_and(|b| (a - b).abs() <= 1e-9 * a.abs().max(1.0))
        })
}

fn main() {
    let n: u64 = std::env::var("RCI_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let file = std::env::temp_dir().join(format!("rci-bench-v2-{n}.jsonl"));
    if !file.exists() {
        let t = Instant::now();
        let tmp = PathBuf::from(format!("{}.partial", file.display()));
        generate(&tmp, n).expect("generate records");
        std::fs::rename(&tmp, &file).expect("rename");
        eprintln!(
            "generated {n} records in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!(
        "input: {} ({n} records, {:.0} MB)",
        file.display(),
        size as f64 / 1e6
    );

    // Warm the page cache so both sides read from memory (streamed: no copy kept in RAM).
    if let Ok(mut f) = File::open(&file) {
        let _ = std::io::copy(&mut f, &mut std::io::sink());
    }

    let t = Instant::now();
    let summary =
        summarize(std::slice::from_ref(&file), GroupBy::User, None, None).expect("summarize");
    let table = render(&summary, GroupBy::User, Format::Table);
    let ours_secs = t.elapsed().as_secs_f64();
    let ours: HashMap<String, f64> = summary
        .groups()
        .into_iter()
        .map(|(k, t)| (k.to_owned(), t.kwh))
        .collect();
    println!(
        "rci report --by user: {ours_secs:.2} s ({} groups, {} lines, {} table bytes)",
        ours.len(),
        summary.lines,
        table.len()
    );
    println!("peak RSS of this process so far: {}", peak_rss());
    // The HTML page and the idle-GPU list read the records a second time, for their charts.
    let t = Instant::now();
    let d = details(
        std::slice::from_ref(&file),
        GroupBy::Account,
        None,
        None,
        5.0,
    )
    .expect("details");
    let page = render_html(&summary, &d, GroupBy::Account, None, None, 5.0);
    println!(
        "rci report --format html (second pass): {:.2} s, {} idle records, {} page bytes",
        t.elapsed().as_secs_f64(),
        d.idle.len(),
        page.len()
    );
    println!("peak RSS of this process so far: {}", peak_rss());
    if std::env::var_os("RCI_BENCH_SKIP_JQ").is_some() {
        return;
    }

    let streaming = "reduce inputs as $r ({}; .[$r.user] += $r.kwh)";
    match jq(streaming, false, &file) {
        Some((secs, theirs)) => println!(
            "jq -n '{streaming}': {secs:.2} s -> rci is {:.1}x faster (goal: at least 15x); results agree: {}",
            secs / ours_secs,
            agree(&ours, &theirs)
        ),
        None => println!("jq (streaming) not run (or killed)"),
    }
    if std::env::var_os("RCI_BENCH_JQ_SLURP").is_some() {
        let slurp = "group_by(.user) | map({(.[0].user): (map(.kwh) | add)}) | add";
        match jq(slurp, true, &file) {
            Some((secs, theirs)) => println!(
                "jq -s '{slurp}': {secs:.2} s -> rci is {:.1}x faster; results agree: {}",
                secs / ours_secs,
                agree(&ours, &theirs)
            ),
            None => println!("jq (slurp) not run"),
        }
    }
}
