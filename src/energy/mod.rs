//! Per-job energy and GPU accounting.
//!
//! How the SPANK glue uses it, in the slurmstepd that measures the job:
//! 1. at job start: `let meter = EnergyMeter::start(&cfg, &gpus);` (returns at once: RAPL's first
//!    reading is a few sysfs reads; NVML is opened in the sampling thread, so a hanging
//!    `nvmlInit` never delays the job);
//! 2. at job end (`slurm_spank_exit`): `let m = meter.stop();` (joins the thread);
//! 3. `let record = build_record(facts, m.cpu, m.gpus, &cfg);`
//! 4. `for e in emit(&record, &cfg) { log(e) }`: spool file and syslog; errors are only logged,
//!    accounting never fails a job.
//!
//! Attribution (`Attribution=`): RAPL counters are node-wide. `exclusive` (default) gives the job
//! all CPU-package and DRAM energy of the node, which is right when jobs get whole nodes. `share`
//! gives it `alloc_cpus / node_cpus` of that energy (node_cpus from the job facts, else the
//! number of online CPUs in `<SysfsRoot>/devices/system/cpu/online`): an approximation by
//! allocation, not by activity, for nodes shared between jobs. GPU energy is always per
//! allocated GPU and never scaled.

pub mod collected;
pub mod cost;
pub mod gpu;
pub mod rapl;
pub mod record;
pub(crate) mod sampler;
pub mod spool;
pub mod step_notes;
pub mod syslog;

use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::energy::record::{
    rfc3339_utc, Attribution, AttributionMethod, ClaimedFacts, Cost, EnergyDomain, EnergyFlags,
    EnergySource, GpuInfo, GpuUsage, Record, SCHEMA_NAME, SCHEMA_VERSION,
};
use gpu::{GpuEnergy, GpuMeter, NodeGpuEnergy};
use rapl::{DomainEnergy, RaplMeter};
use sampler::{Background, Sampling};

pub use crate::config::energy::{EnergyConfig, DEFAULT_SPOOL_DIR};

/// What the SPANK glue knows about the job on this node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobFacts {
    /// Slurm's ClusterName (replaced by `Cluster=` when set).
    pub cluster: String,
    /// Job id.
    pub job_id: u32,
    /// Array master job id, for array tasks.
    pub array_job_id: Option<u32>,
    /// Array task index, for array tasks.
    pub array_task_id: Option<u32>,
    /// Het job leader id, for het-job components.
    pub het_job_id: Option<u32>,
    /// Het job component offset.
    pub het_job_offset: Option<u32>,
    /// Job name.
    pub job_name: String,
    /// Owner's user name.
    pub user: String,
    /// Owner's uid.
    pub uid: u32,
    /// Account ("" if unknown).
    pub account: String,
    /// Partition ("" if unknown).
    pub partition: String,
    /// QOS, if known.
    pub qos: Option<String>,
    /// This node's name.
    pub node: String,
    /// CPUs of the whole node, for `Attribution=share`; `None`: count online CPUs in sysfs.
    pub node_cpus: Option<u32>,
    /// CPUs allocated to the job on this node.
    pub alloc_cpus: u32,
    /// Memory allocated on this node, MB.
    pub alloc_mem_mb: u64,
    /// Measurement start, unix seconds.
    pub start_unix: i64,
    /// Measurement end, unix seconds.
    pub end_unix: i64,
    /// GPUs allocated on this node (UUIDs are needed to measure them).
    pub gpus: Vec<GpuInfo>,
    /// Exit status, if known.
    pub exit_status: Option<i32>,
    /// What only the job's user vouched for.
    pub claimed: Option<ClaimedFacts>,
    /// Why the record is not whole.
    pub incomplete: Vec<String>,
}

/// Counts CPUs in a sysfs CPU list such as `0-3,8-11,16` (also Slurm's core lists).
pub fn count_cpu_list(list: &str) -> Option<u32> {
    let mut n = 0u32;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let count = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                b.checked_sub(a)?.checked_add(1)?
            }
            None => {
                part.parse::<u32>().ok()?;
                1
            }
        };
        n = n.checked_add(count)?;
    }
    (n > 0).then_some(n)
}

/// Online CPUs of the node, from `<sysfs_root>/devices/system/cpu/online` (not affected by the
/// cpuset of the calling process, unlike `available_parallelism`).
pub fn online_cpus(sysfs_root: &Path) -> Option<u32> {
    let text = fs::read_to_string(sysfs_root.join("devices/system/cpu/online")).ok()?;
    count_cpu_list(&text)
}

/// Everything measured for a job on this node.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurements {
    /// RAPL domains.
    pub cpu: Vec<DomainEnergy>,
    /// The job's GPUs, when they were listed at the start ([`GpuScope::Listed`]).
    pub gpus: Vec<GpuEnergy>,
    /// Every GPU of the node, when the job's were not known at the start ([`GpuScope::Node`]).
    pub node_gpus: Option<NodeGpuEnergy>,
    /// Why the GPU readings are missing, when the final sample never finished (a driver that
    /// hangs); the RAPL totals, complete before the GPUs were read, are kept.
    pub gpus_lost: Option<String>,
}

impl Measurements {
    /// The energy of `job_gpus`: the listed measurements as they are, or the job's GPUs picked
    /// out of the node-wide ones by UUID.
    pub fn job_gpus(&self, job_gpus: &[GpuInfo]) -> Vec<GpuEnergy> {
        if let Some(reason) = &self.gpus_lost {
            return job_gpus
                .iter()
                .map(|info| GpuEnergy {
                    index: info.index,
                    uuid: info.uuid.clone(),
                    model: info.model.clone(),
                    millijoules: None,
                    reset: false,
                    unavailable: Some(reason.clone()),
                    usage: None,
                })
                .collect();
        }
        match &self.node_gpus {
            Some(node) => node.select(job_gpus),
            None => self.gpus.clone(),
        }
    }
}

/// Which GPUs a meter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuScope<'a> {
    /// Exactly these (the job's GPUs, known at the start).
    Listed(&'a [GpuInfo]),
    /// Every GPU NVML lists; the job's are selected at the end ([`Measurements::job_gpus`]).
    Node,
}

struct NodeMeter {
    rapl: RaplMeter,
    gpus: GpuMeter,
    node_wide: bool,
    /// The RAPL totals, handed over as soon as they are final: reading the GPUs afterwards may
    /// hang in the driver, and then they are all [`EnergyMeter::stop`] gets.
    cpu_done: Arc<Mutex<Option<Vec<DomainEnergy>>>>,
}

impl NodeMeter {
    fn summary(&self) -> String {
        format!(
            "RAPL: {}; {}: {}",
            self.rapl.summary(),
            if self.node_wide {
                "all GPUs of the node"
            } else {
                "the job's GPUs"
            },
            self.gpus.summary()
        )
    }
}

impl Sampling for NodeMeter {
    type Output = Measurements;

    fn sample(&mut self) {
        self.rapl.sample_once();
        self.gpus.sample_usage();
    }

    fn max_interval(&self) -> Option<Duration> {
        self.rapl.max_safe_interval()
    }

    fn finish(self) -> Measurements {
        let cpu = self.rapl.finish();
        if let Ok(mut slot) = self.cpu_done.lock() {
            *slot = Some(cpu.clone());
        }
        if self.node_wide {
            Measurements {
                cpu,
                gpus: Vec::new(),
                node_gpus: Some(self.gpus.finish_node()),
                gpus_lost: None,
            }
        } else {
            Measurements {
                cpu,
                gpus: self.gpus.finish(),
                node_gpus: None,
                gpus_lost: None,
            }
        }
    }

    fn lost(reason: &str) -> Measurements {
        Measurements {
            cpu: RaplMeter::lost(reason),
            gpus: Vec::new(),
            node_gpus: None,
            gpus_lost: Some(reason.to_owned()),
        }
    }
}

/// RAPL sampling plus GPU start/end readings for one job, in one background thread (`rci-energy`).
#[derive(Debug)]
pub struct EnergyMeter {
    background: Background<NodeMeter>,
    cpu_done: Arc<Mutex<Option<Vec<DomainEnergy>>>>,
}

impl EnergyMeter {
    /// Starts measuring: RAPL's first reading now, NVML opened and read in the thread.
    pub fn start(cfg: &EnergyConfig, gpus: &[GpuInfo]) -> EnergyMeter {
        Self::start_scoped(cfg, GpuScope::Listed(gpus), |_| {})
    }

    /// Like [`start`](Self::start) for the GPUs in `scope`. `on_ready` is called in the
    /// sampling thread once the start readings are taken (NVML included), with one line saying
    /// what is measured, for the log; the measurement starts before that (RAPL is read here).
    pub fn start_scoped(
        cfg: &EnergyConfig,
        scope: GpuScope<'_>,
        on_ready: impl FnOnce(String) + Send + 'static,
    ) -> EnergyMeter {
        let rapl = RaplMeter::open(&cfg.sysfs_root);
        let library = cfg.nvml_library.clone();
        let timeout = cfg.nvml_init_timeout;
        let listed = match scope {
            GpuScope::Listed(gpus) => Some(gpus.to_vec()),
            GpuScope::Node => None,
        };
        let cpu_done = Arc::new(Mutex::new(None));
        let thread_cpu_done = Arc::clone(&cpu_done);
        EnergyMeter {
            cpu_done,
            background: Background::start("rci-energy", cfg.rapl_sample_interval, move || {
                let node_wide = listed.is_none();
                let wanted = listed.clone().unwrap_or_default();
                // NVML may hang after init too: give its start one deadline, and sample RAPL
                // without the GPUs rather than not at all.
                let gpus = sampler::within("rci-nvml-start", timeout, move || match &listed {
                    Some(gpus) => GpuMeter::start(&library, timeout, gpus),
                    None => GpuMeter::start_node(&library, timeout),
                })
                .unwrap_or_else(|| {
                    GpuMeter::start_with(
                        Err(format!(
                            "NVML did not answer within {:.1} s when the job started",
                            timeout.as_secs_f64()
                        )),
                        &wanted,
                    )
                });
                let meter = NodeMeter {
                    rapl,
                    cpu_done: thread_cpu_done,
                    node_wide,
                    gpus,
                };
                on_ready(meter.summary());
                meter
            }),
        }
    }

    /// Takes the final readings, joins the thread and returns what was measured.
    pub fn stop(self) -> Measurements {
        let mut measured = self.background.stop();
        if measured.gpus_lost.is_some() {
            // Only the GPU readings hung: the RAPL totals were final before them.
            if let Some(cpu) = self.cpu_done.lock().ok().and_then(|mut slot| slot.take()) {
                measured.cpu = cpu;
            }
        }
        measured
    }
}

/// Builds the job's record from its facts and measurements (see [`crate::energy::record`] for units).
pub fn build_record(
    job: JobFacts,
    cpu: Vec<DomainEnergy>,
    gpus: Vec<GpuEnergy>,
    cfg: &EnergyConfig,
) -> Record {
    let share = match cfg.attribution {
        AttributionMethod::Exclusive => 1.0,
        AttributionMethod::Share => {
            let node_cpus = job
                .node_cpus
                .filter(|&n| n > 0)
                .or_else(|| online_cpus(&cfg.sysfs_root));
            match node_cpus {
                Some(n) => (f64::from(job.alloc_cpus) / f64::from(n)).min(1.0),
                // Unknown node size: attribute everything rather than guess.
                None => 1.0,
            }
        }
    };

    let mut energy = Vec::with_capacity(cpu.len() + job.gpus.len());
    let mut cpu_joules = 0.0;
    for d in cpu {
        let joules = d.microjoules.map(|uj| uj as f64 / 1e6);
        if d.in_total {
            cpu_joules += joules.unwrap_or(0.0);
        }
        energy.push(EnergyDomain {
            domain: d.domain,
            joules,
            source: EnergySource::Rapl,
            flags: EnergyFlags {
                wraps: d.wraps,
                reset: false,
            },
            in_total: d.in_total,
            unavailable: d.unavailable,
        });
    }

    let mut gpu_joules = 0.0;
    let mut gpu_infos = job.gpus;
    let mut gpu_usage = Vec::new();
    for info in &mut gpu_infos {
        let measured = gpus.iter().find(|g| g.index == info.index);
        if let Some(usage) = measured.and_then(|g| g.usage.clone()) {
            gpu_usage.push(GpuUsage {
                index: info.index,
                ..usage
            });
        }
        if info.model.is_none() {
            info.model = measured.and_then(|g| g.model.clone());
        }
        if info.uuid.is_none() {
            info.uuid = measured.and_then(|g| g.uuid.clone());
        }
        let joules = measured
            .and_then(|g| g.millijoules)
            .map(|mj| mj as f64 / 1e3);
        gpu_joules += joules.unwrap_or(0.0);
        energy.push(EnergyDomain {
            domain: format!("gpu-{}", info.index),
            joules,
            source: EnergySource::Nvml,
            flags: EnergyFlags {
                wraps: 0,
                reset: measured.is_some_and(|g| g.reset),
            },
            in_total: true,
            unavailable: match measured {
                Some(g) => g.unavailable.clone(),
                None => Some("GPU not measured".to_owned()),
            },
        });
    }

    let elapsed_s = u64::try_from(job.end_unix.saturating_sub(job.start_unix)).unwrap_or(0);
    let n_gpus = u32::try_from(gpu_infos.len()).unwrap_or(u32::MAX);
    let acc = cost::account(
        cpu_joules * share + gpu_joules,
        job.alloc_cpus,
        n_gpus,
        elapsed_s,
        cfg,
    );

    Record {
        schema: SCHEMA_NAME.to_owned(),
        schema_version: SCHEMA_VERSION,
        cluster: cfg.cluster.clone().unwrap_or(job.cluster),
        job_id: job.job_id,
        array_job_id: job.array_job_id,
        array_task_id: job.array_task_id,
        het_job_id: job.het_job_id,
        het_job_offset: job.het_job_offset,
        job_name: job.job_name,
        user: job.user,
        uid: job.uid,
        account: job.account,
        partition: job.partition,
        qos: job.qos,
        node: job.node,
        start: rfc3339_utc(job.start_unix),
        end: rfc3339_utc(job.end_unix),
        elapsed_s,
        alloc_cpus: job.alloc_cpus,
        alloc_mem_mb: job.alloc_mem_mb,
        gpus: gpu_infos,
        energy,
        gpu_usage,
        attribution: Attribution {
            method: cfg.attribution,
            share,
        },
        cpu_hours: acc.cpu_hours,
        gpu_hours: acc.gpu_hours,
        kwh: acc.kwh,
        facility_kwh: acc.facility_kwh,
        co2_g: acc.co2_g,
        cost: Cost {
            currency: cfg.currency.clone(),
            amount: acc.cost,
            energy_price_per_kwh: cfg.energy_price_per_kwh,
            cpu_hour_price: cfg.cpu_hour_price,
            gpu_hour_price: cfg.gpu_hour_price,
        },
        pue: cfg.pue,
        carbon_intensity_g_per_kwh: cfg.carbon_intensity_g_per_kwh,
        exit_status: job.exit_status,
        claimed: job.claimed.filter(|c| !c.is_empty()),
        incomplete: job.incomplete,
    }
}

/// Writes the record to the spool (owned by root) and, with `Syslog=yes`, to syslog. Returns
/// one message per failure, for the caller to log; an empty list means everything was written.
pub fn emit(record: &Record, cfg: &EnergyConfig) -> Vec<String> {
    emit_with(record, cfg, &mut HeldOutputs::default())
}

/// Where a record can go without opening anything by path: the spool file and the syslog
/// socket as opened at job start, by root. On Slurm 24.11–25.11 the extern step's end may run
/// while the whole slurmstepd has the job user's euid for a moment (its X11 shutdown thread),
/// when opening root-only paths fails with EACCES; these already-open descriptors still work.
#[derive(Debug, Default)]
pub struct HeldOutputs {
    /// The spool file of the month the job started in.
    pub spool: Option<crate::energy::spool::SpoolFile>,
    /// A socket connected to the syslog daemon.
    pub syslog: Option<crate::energy::syslog::SyslogConnection>,
}

impl HeldOutputs {
    /// Opens the spool file for a job starting at `start_unix` on `node` and connects to
    /// syslog, as `cfg` asks. What cannot be opened now is tried by path at the end.
    pub fn open(cfg: &EnergyConfig, node: &str, start_unix: i64) -> (HeldOutputs, Vec<String>) {
        let mut problems = Vec::new();
        let name = crate::energy::spool::file_name(node, &rfc3339_utc(start_unix));
        let spool = crate::energy::spool::SpoolFile::open(
            &cfg.spool_dir,
            crate::energy::spool::ROOT_UID,
            &name,
        )
        .map_err(|e| problems.push(e))
        .ok();
        let syslog = if cfg.syslog {
            crate::energy::syslog::SyslogConnection::connect(&cfg.syslog_socket)
                .map_err(|e| problems.push(e))
                .ok()
        } else {
            None
        };
        (HeldOutputs { spool, syslog }, problems)
    }
}

/// [`emit`], falling back on `held` where opening by path fails. The spool is tried by path
/// first (the record then lands in the file of the month the job ended), syslog through the
/// held connection first (a restarted syslog daemon is reached again by path).
pub fn emit_with(record: &Record, cfg: &EnergyConfig, held: &mut HeldOutputs) -> Vec<String> {
    let mut errors = Vec::new();
    let line = match record.to_json_line() {
        Ok(line) => line,
        Err(e) => return vec![e],
    };
    if let Err(by_path) = crate::energy::spool::append_line(
        &cfg.spool_dir,
        crate::energy::spool::ROOT_UID,
        &crate::energy::spool::file_name(&record.node, &record.end),
        &line,
    ) {
        match held.spool.as_mut() {
            Some(file) => {
                if let Err(e) = file.append(&line) {
                    errors.push(format!(
                        "{by_path}; and through the file opened at start: {e}"
                    ));
                }
            }
            None => errors.push(by_path),
        }
    }
    if cfg.syslog {
        let through_held = held
            .syslog
            .as_ref()
            .map(|conn| conn.send(cfg.syslog_facility, &line));
        if !matches!(through_held, Some(Ok(()))) {
            if let Err(e) =
                crate::energy::syslog::send(&cfg.syslog_socket, cfg.syslog_facility, &line)
            {
                errors.push(e);
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::rapl::tests::FakeSysfs;
    use crate::energy::syslog::Facility;
    use std::path::PathBuf;

    #[test]
    fn emit_falls_back_on_the_spool_file_opened_at_start() {
        // 24.11-25.11: the path may be unreachable at the end (euid switched); here it is a
        // planted symlink, which by-path writes refuse.
        let tmp = tempfile::tempdir().unwrap();
        let spool = tmp.path().join("spool");
        let cfg = EnergyConfig {
            spool_dir: spool.clone(),
            syslog: false,
            ..EnergyConfig::default()
        };
        let mut record = build_record(facts(), Vec::new(), Vec::new(), &cfg);
        record.end = record.start.clone();
        let me = crate::energy::spool::current_euid().unwrap();
        let name = crate::energy::spool::file_name(&record.node, &record.start);
        let mut held = HeldOutputs {
            spool: Some(crate::energy::spool::SpoolFile::open(&spool, me, &name).unwrap()),
            syslog: None,
        };
        let moved = tmp.path().join("moved");
        fs::rename(&spool, &moved).unwrap();
        std::os::unix::fs::symlink(&moved, &spool).unwrap();
        let errors = emit_with(&record, &cfg, &mut held);
        assert!(errors.is_empty(), "{errors:?}");
        let text = fs::read_to_string(moved.join(&name)).unwrap();
        assert_eq!(text.lines().count(), 1);
        // Without a held file the failure is reported.
        let errors = emit(&record, &cfg);
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    fn facts() -> JobFacts {
        JobFacts {
            cluster: "slurmcluster".into(),
            job_id: 77,
            job_name: "sim".into(),
            user: "bob".into(),
            uid: 1001,
            account: "chem".into(),
            partition: "batch".into(),
            node: "node01".into(),
            alloc_cpus: 16,
            alloc_mem_mb: 32_000,
            start_unix: 1_700_000_000,
            end_unix: 1_700_007_200,
            gpus: vec![
                GpuInfo {
                    index: 0,
                    uuid: Some("GPU-a".into()),
                    model: None,
                },
                GpuInfo {
                    index: 1,
                    uuid: Some("GPU-b".into()),
                    model: None,
                },
            ],
            exit_status: Some(0),
            ..JobFacts::default()
        }
    }

    fn cpu() -> Vec<DomainEnergy> {
        let d = |domain: &str, uj: Option<u64>, in_total| DomainEnergy {
            domain: domain.into(),
            microjoules: uj,
            wraps: 2,
            in_total,
            unavailable: uj.is_none().then(|| "unreadable".to_owned()),
        };
        vec![
            d("cpu-package-0", Some(2_000_000_000_000), true), // 2 MJ
            d("core-0", Some(1_500_000_000_000), false),       // overlaps package: not counted
            d("dram-0", Some(400_000_000_000), true),          // 0.4 MJ
            d("dram-1", None, true),
        ]
    }

    fn gpus() -> Vec<GpuEnergy> {
        vec![
            GpuEnergy {
                index: 0,
                uuid: Some("GPU-a".into()),
                model: Some("NVIDIA L40".into()),
                millijoules: Some(1_200_000_000), // 1.2 MJ
                reset: false,
                unavailable: None,
                usage: None,
            },
            // GPU 1 has no measurement at all.
        ]
    }

    #[test]
    fn exclusive_record_totals() {
        let cfg = EnergyConfig {
            cluster: Some("override".into()),
            cpu_hour_price: 0.01,
            ..EnergyConfig::default()
        };
        let r = build_record(facts(), cpu(), gpus(), &cfg);
        assert_eq!(r.cluster, "override");
        assert_eq!(r.start, "2023-11-14T22:13:20Z");
        assert_eq!(r.end, "2023-11-15T00:13:20Z");
        assert_eq!(r.elapsed_s, 7200);
        // 2 MJ + 0.4 MJ + 1.2 MJ = 3.6 MJ = 1 kWh.
        assert!((r.kwh - 1.0).abs() < 1e-12, "{}", r.kwh);
        assert!((r.facility_kwh - 1.67).abs() < 1e-12);
        assert!((r.co2_g - 1.67 * 467.0).abs() < 1e-9);
        assert_eq!(r.cpu_hours, 32.0);
        assert_eq!(r.gpu_hours, 4.0);
        assert!((r.cost.amount - (1.67 * 0.25 + 32.0 * 0.01)).abs() < 1e-12);
        assert_eq!(r.attribution.share, 1.0);
        let domains: Vec<&str> = r.energy.iter().map(|d| d.domain.as_str()).collect();
        assert_eq!(
            domains,
            [
                "cpu-package-0",
                "core-0",
                "dram-0",
                "dram-1",
                "gpu-0",
                "gpu-1"
            ]
        );
        assert_eq!(r.energy[0].joules, Some(2_000_000.0));
        assert_eq!(r.energy[0].flags.wraps, 2);
        assert_eq!(r.energy[4].joules, Some(1_200_000.0));
        assert_eq!(r.energy[5].joules, None);
        assert_eq!(r.energy[5].unavailable.as_deref(), Some("GPU not measured"));
        assert_eq!(r.gpus[0].model.as_deref(), Some("NVIDIA L40"));
        assert_eq!(r.gpus[1].model, None);
    }

    #[test]
    fn share_attribution_scales_cpu_but_not_gpu() {
        let sys = FakeSysfs::new();
        let cpu_dir = sys.root().join("devices/system/cpu");
        fs::create_dir_all(&cpu_dir).unwrap();
        fs::write(cpu_dir.join("online"), "0-47,64-79\n").unwrap(); // 64 CPUs
        let cfg = EnergyConfig {
            attribution: AttributionMethod::Share,
            sysfs_root: sys.root().to_path_buf(),
            ..EnergyConfig::default()
        };
        let r = build_record(facts(), cpu(), gpus(), &cfg);
        assert_eq!(r.attribution.method, AttributionMethod::Share);
        assert_eq!(r.attribution.share, 0.25); // 16 of 64 CPUs
        let expected_j = 2.4e6 * 0.25 + 1.2e6;
        assert!((r.kwh - expected_j / 3.6e6).abs() < 1e-12);
        // Explicit node size wins over sysfs.
        let r = build_record(
            JobFacts {
                node_cpus: Some(32),
                ..facts()
            },
            cpu(),
            gpus(),
            &cfg,
        );
        assert_eq!(r.attribution.share, 0.5);
    }

    #[test]
    fn cpu_lists_are_counted() {
        assert_eq!(count_cpu_list("0-63\n"), Some(64));
        assert_eq!(count_cpu_list("0,2,4-7"), Some(6));
        assert_eq!(count_cpu_list("0"), Some(1));
        assert_eq!(count_cpu_list(""), None);
        assert_eq!(count_cpu_list("5-3"), None);
        assert_eq!(count_cpu_list("x"), None);
    }

    #[test]
    fn config_keys() {
        let mut c = EnergyConfig::default();
        assert_eq!(c.set_key("accounting", "yes"), Some(Ok(())));
        assert!(c.accounting);
        assert_eq!(c.set_key("accountingspool", "/srv/acct"), Some(Ok(())));
        assert_eq!(c.spool_dir, PathBuf::from("/srv/acct"));
        assert!(matches!(c.set_key("accountingspool", "rel"), Some(Err(_))));
        assert_eq!(c.set_key("syslog", "No"), Some(Ok(())));
        assert_eq!(c.set_key("syslogfacility", "daemon"), Some(Ok(())));
        assert_eq!(c.syslog_facility, Facility::Daemon);
        assert!(matches!(
            c.set_key("syslogfacility", "local8"),
            Some(Err(_))
        ));
        assert_eq!(c.set_key("cluster", "hpc2"), Some(Ok(())));
        assert_eq!(c.cluster.as_deref(), Some("hpc2"));
        assert_eq!(c.set_key("pue", "1.2"), Some(Ok(())));
        assert_eq!(c.pue, 1.2);
        assert!(matches!(c.set_key("pue", "0.9"), Some(Err(_))));
        assert!(matches!(c.set_key("pue", "NaN"), Some(Err(_))));
        assert_eq!(c.pue, 1.2, "a bad value leaves the setting unchanged");
        assert_eq!(c.set_key("carbonintensity", "300"), Some(Ok(())));
        assert_eq!(c.set_key("energyprice", "0.3"), Some(Ok(())));
        assert_eq!(c.set_key("cpuhourprice", "0.02"), Some(Ok(())));
        assert_eq!(c.set_key("gpuhourprice", "1.5"), Some(Ok(())));
        assert!(matches!(c.set_key("gpuhourprice", "-1"), Some(Err(_))));
        assert_eq!(c.set_key("currency", "CHF"), Some(Ok(())));
        assert_eq!(c.set_key("sysfsroot", "/tmp/sys"), Some(Ok(())));
        assert_eq!(
            c.set_key("nvmllibrary", "/opt/nv/libnvidia-ml.so.1"),
            Some(Ok(()))
        );
        assert_eq!(c.set_key("raplsampleinterval", "10"), Some(Ok(())));
        assert_eq!(c.rapl_sample_interval, Duration::from_secs(10));
        assert!(matches!(c.set_key("raplsampleinterval", "0"), Some(Err(_))));
        assert!(matches!(
            c.set_key("raplsampleinterval", "600"),
            Some(Err(_))
        ));
        assert_eq!(c.set_key("attribution", "Share"), Some(Ok(())));
        assert_eq!(c.attribution, AttributionMethod::Share);
        assert!(matches!(c.set_key("attribution", "fair"), Some(Err(_))));
        assert_eq!(c.set_key("gpuisolation", "yes"), None);
        assert_eq!(
            (
                c.carbon_intensity_g_per_kwh,
                c.energy_price_per_kwh,
                c.currency.as_str()
            ),
            (300.0, 0.3, "CHF")
        );
    }

    #[test]
    fn meter_measures_rapl_and_reports_missing_nvml() {
        let sys = FakeSysfs::new();
        sys.add_zone("intel-rapl:0", "package-0", 1_000_000, 100);
        let cfg = EnergyConfig {
            sysfs_root: sys.root().to_path_buf(),
            nvml_library: "/nonexistent/libnvidia-ml.so.1".into(),
            ..EnergyConfig::default()
        };
        let gpus = facts().gpus;
        let meter = EnergyMeter::start(&cfg, &gpus);
        sys.set("intel-rapl:0", 600);
        let m = meter.stop();
        assert_eq!(m.cpu[0].microjoules, Some(500));
        assert_eq!(m.gpus.len(), 2);
        assert!(m.gpus.iter().all(|g| g.millijoules.is_none()));
        let r = build_record(facts(), m.cpu, m.gpus, &cfg);
        assert_eq!(r.energy[0].joules, Some(0.0005));
    }

    #[test]
    fn node_wide_meter_reports_ready_and_explains_missing_gpus() {
        let sys = FakeSysfs::new();
        sys.add_zone("intel-rapl:0", "package-0", 1_000_000, 0);
        let cfg = EnergyConfig {
            sysfs_root: sys.root().to_path_buf(),
            nvml_library: "/nonexistent/libnvidia-ml.so.1".into(),
            ..EnergyConfig::default()
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let meter = EnergyMeter::start_scoped(&cfg, GpuScope::Node, move |what| {
            tx.send(what).unwrap();
        });
        let ready = rx.recv().unwrap();
        assert!(ready.starts_with("RAPL: cpu-package-0; all GPUs of the node: no GPU readings"));
        sys.set("intel-rapl:0", 42);
        let m = meter.stop();
        assert_eq!(m.cpu[0].microjoules, Some(42));
        assert!(m.gpus.is_empty());
        let job = m.job_gpus(&facts().gpus);
        assert_eq!(job.len(), 2);
        assert_eq!(job[1].index, 1);
        assert!(job[1].unavailable.as_deref().unwrap().contains("not found"));
        // A CPU-only job on a GPU node has no GPU entries at all.
        assert!(m.job_gpus(&[]).is_empty());
    }

    #[test]
    fn emit_writes_spool_and_syslog_and_reports_failures() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        let sock_path = dir.path().join("log.sock");
        let server = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
        let cfg = EnergyConfig {
            accounting: true,
            spool_dir: spool.clone(),
            syslog: true,
            syslog_socket: sock_path,
            ..EnergyConfig::default()
        };
        let record = build_record(facts(), cpu(), gpus(), &cfg);
        let errors = emit(&record, &cfg);
        // The tests run as root (the spool's expected owner); as another user, the ownership
        // check fails and says so.
        if crate::energy::spool::current_euid() == Some(0) {
            assert!(errors.is_empty(), "{errors:?}");
            let text = fs::read_to_string(spool.join("rci-energy-node01-2023-11.jsonl")).unwrap();
            let back: Record = serde_json::from_str(text.trim_end()).unwrap();
            assert_eq!(back, record);
        } else {
            assert_eq!(errors.len(), 1, "{errors:?}");
        }
        let mut buf = vec![0u8; 65536];
        let n = server.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(msg.starts_with("<134>rci-energy["), "{msg}");

        // Spool path is a file, syslog socket is gone: two errors, no panic.
        let bad = EnergyConfig {
            spool_dir: dir.path().join("log.sock"),
            syslog_socket: dir.path().join("missing.sock"),
            ..cfg
        };
        assert_eq!(emit(&record, &bad).len(), 2);
    }
}
