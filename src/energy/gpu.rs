//! GPU energy of the job's GPUs from NVML's cumulative energy counter.
//!
//! `nvmlDeviceGetTotalEnergyConsumption` counts mJ since the driver was loaded, as a u64 that does
//! not wrap in practice, so a reading at start and one at end suffice. GPUs are identified by UUID
//! (Slurm's GRES index is not NVML's index) and looked up again at the end, because a handle does
//! not survive a driver reload.
//!
//! Reset: if the end reading is below the start reading, the driver was reloaded during the job
//! (no persistence mode). The record then has `flags.reset = true` and `joules` = the end reading,
//! i.e. the energy since the reload: a **lower bound** on the job's GPU energy, with an
//! `unavailable` note saying so. Counting it as unknown would drop energy we know was used.
//!
//! Usage: at every RAPL sample (and once at the end) the meter also reads each GPU's
//! utilisation (`nvmlDeviceGetUtilizationRates`) and memory used (`nvmlDeviceGetMemoryInfo`),
//! in a helper thread with a deadline ([`crate::energy::sampler::within`]): a driver that
//! blocks costs the usage figures, never the RAPL sampling. After one missed deadline usage is
//! no longer sampled.

use std::sync::Arc;
use std::time::Duration;

use crate::energy::record::{GpuInfo, GpuUsage};
use crate::ffi::nvml::{Nvml, NvmlError};

/// How long one usage sample of all GPUs may take when the meter was not told a deadline.
const DEFAULT_USAGE_DEADLINE: Duration = Duration::from_secs(5);

/// Running utilisation and memory figures of one GPU.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageTally {
    samples: u32,
    sm_sum: f64,
    sm_max: u32,
    mem_sum: f64,
    memory_used_max_mib: Option<u64>,
}

/// One usage reading: SM %, memory-bandwidth %, memory used in bytes (where reported).
pub type UsageReading = (u32, u32, Option<u64>);

impl UsageTally {
    /// Adds one reading.
    pub fn add(&mut self, (sm, mem, used_bytes): UsageReading) {
        self.samples += 1;
        self.sm_sum += f64::from(sm);
        self.sm_max = self.sm_max.max(sm);
        self.mem_sum += f64::from(mem);
        if let Some(bytes) = used_bytes {
            let mib = bytes >> 20;
            self.memory_used_max_mib = Some(self.memory_used_max_mib.map_or(mib, |m| m.max(mib)));
        }
    }

    /// The figures for the record, or `None` without any sample.
    pub fn usage(&self, index: u32) -> Option<GpuUsage> {
        (self.samples > 0).then(|| GpuUsage {
            index,
            samples: self.samples,
            sm_util_mean_pct: self.sm_sum / f64::from(self.samples),
            sm_util_max_pct: self.sm_max,
            mem_util_mean_pct: self.mem_sum / f64::from(self.samples),
            memory_used_max_mib: self.memory_used_max_mib,
        })
    }
}

fn read_usage(nvml: &Nvml, uuid: &str) -> Option<UsageReading> {
    let dev = nvml.device_by_uuid(uuid).ok()?;
    let u = nvml.utilization(&dev).ok()?;
    let used = nvml.memory_info(&dev).ok().map(|m| m.used);
    Some((u.gpu, u.memory, used))
}

/// Energy of one allocated GPU over the job.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuEnergy {
    /// Slurm's GRES index.
    pub index: u32,
    /// UUID, if known.
    pub uuid: Option<String>,
    /// Product name from NVML (or from the job facts), if known.
    pub model: Option<String>,
    /// Energy in mJ; `None` when unavailable (with `reset`, a lower bound).
    pub millijoules: Option<u64>,
    /// The counter went backwards: the driver was reloaded during the job.
    pub reset: bool,
    /// Why `millijoules` is missing or only a lower bound.
    pub unavailable: Option<String>,
    /// Utilisation and memory used over the job, where NVML reported them.
    pub usage: Option<GpuUsage>,
}

/// Note attached to a GPU whose counter was reset during the job.
pub const RESET_NOTE: &str =
    "energy counter reset during the job (driver reloaded): joules counts only since the reset";

fn describe(e: &NvmlError) -> String {
    if e.is_not_supported() {
        format!("NVML: energy counter not supported on this GPU (Volta or newer needed): {e}")
    } else {
        format!("NVML: {e}")
    }
}

/// Energy between two readings (mJ), the reset flag and a note; see the module docs.
pub fn energy_between(
    start: &Result<u64, String>,
    end: &Result<u64, String>,
) -> (Option<u64>, bool, Option<String>) {
    match (start, end) {
        (Err(e), _) => (None, false, Some(format!("at start: {e}"))),
        (Ok(_), Err(e)) => (None, false, Some(format!("at end: {e}"))),
        (Ok(s), Ok(e)) if e >= s => (Some(e - s), false, None),
        (Ok(_), Ok(e)) => (Some(*e), true, Some(RESET_NOTE.to_owned())),
    }
}

#[derive(Debug)]
struct Tracked {
    info: GpuInfo,
    start: Result<u64, String>,
    usage: UsageTally,
}

/// Start readings of the job's GPUs; [`sample_usage`](Self::sample_usage) adds utilisation
/// samples, [`finish`](Self::finish) takes the end readings.
#[derive(Debug)]
pub struct GpuMeter {
    nvml: Result<Arc<Nvml>, String>,
    gpus: Vec<Tracked>,
    /// How long one usage sample of every GPU may take.
    usage_deadline: Duration,
    /// A usage sample missed its deadline: no more are taken.
    usage_stuck: bool,
}

/// Every GPU of the node, measured because the job's own GPUs were not known when measuring
/// started (the extern step's environment has no `SLURM_JOB_GPUS` on Slurm 22.05); the job's
/// GPUs are picked out by UUID at the end with [`NodeGpuEnergy::select`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeGpuEnergy {
    /// One entry per GPU NVML listed at the start; `index` is NVML's enumeration index.
    pub devices: Vec<GpuEnergy>,
    /// Why no GPU could be listed (NVML missing, `nvmlInit` failed or hung).
    pub error: Option<String>,
}

impl NodeGpuEnergy {
    /// The energy of the job's GPUs, matched by UUID, each with the job's GRES index.
    pub fn select(&self, job_gpus: &[GpuInfo]) -> Vec<GpuEnergy> {
        job_gpus
            .iter()
            .map(|info| {
                let measured = info.uuid.as_deref().and_then(|uuid| {
                    self.devices
                        .iter()
                        .find(|d| d.uuid.as_deref() == Some(uuid))
                });
                match measured {
                    Some(d) => GpuEnergy {
                        index: info.index,
                        uuid: info.uuid.clone(),
                        model: info.model.clone().or_else(|| d.model.clone()),
                        ..d.clone()
                    },
                    None => GpuEnergy {
                        index: info.index,
                        uuid: info.uuid.clone(),
                        model: info.model.clone(),
                        millijoules: None,
                        reset: false,
                        usage: None,
                        unavailable: Some(match (&info.uuid, &self.error) {
                            (None, _) => "GPU UUID unknown".to_owned(),
                            (Some(_), Some(e)) => e.clone(),
                            (Some(uuid), None) => {
                                format!("NVML did not list GPU {uuid} when the job started")
                            }
                        }),
                    },
                }
            })
            .collect()
    }
}

impl GpuMeter {
    /// Opens NVML from `library` (waiting at most `init_timeout` for `nvmlInit`) and reads the
    /// start energy of `gpus`. Without GPUs NVML is not touched.
    pub fn start(library: &str, init_timeout: Duration, gpus: &[GpuInfo]) -> GpuMeter {
        let nvml = if gpus.is_empty() {
            Err("no GPUs allocated".to_owned())
        } else {
            Nvml::open(library, init_timeout)
        };
        let mut meter = Self::start_with(nvml, gpus);
        meter.usage_deadline = init_timeout;
        meter
    }

    /// Reads the start energy of `gpus` through an already opened NVML (or the reason there is
    /// none, which every GPU then reports).
    pub fn start_with(nvml: Result<Nvml, String>, gpus: &[GpuInfo]) -> GpuMeter {
        let nvml = nvml.map(Arc::new);
        let gpus = gpus
            .iter()
            .map(|info| {
                let mut info = info.clone();
                let start = match &nvml {
                    Ok(nvml) => {
                        if info.model.is_none() {
                            info.model = Self::model(nvml, &info);
                        }
                        Self::read(nvml, &info)
                    }
                    Err(e) => Err(e.clone()),
                };
                Tracked {
                    info,
                    start,
                    usage: UsageTally::default(),
                }
            })
            .collect();
        GpuMeter {
            nvml,
            gpus,
            usage_deadline: DEFAULT_USAGE_DEADLINE,
            usage_stuck: false,
        }
    }

    /// Reads every GPU's utilisation and memory used once, in a helper thread that may take
    /// at most the usage deadline (see the module docs).
    pub fn sample_usage(&mut self) {
        let Ok(nvml) = &self.nvml else { return };
        if self.usage_stuck || self.gpus.is_empty() {
            return;
        }
        let nvml = Arc::clone(nvml);
        let uuids: Vec<Option<String>> = self.gpus.iter().map(|t| t.info.uuid.clone()).collect();
        let read = super::sampler::within("rci-nvml-usage", self.usage_deadline, move || {
            uuids
                .iter()
                .map(|u| u.as_deref().and_then(|u| read_usage(&nvml, u)))
                .collect::<Vec<_>>()
        });
        match read {
            Some(readings) => {
                for (t, r) in self.gpus.iter_mut().zip(readings) {
                    if let Some(r) = r {
                        t.usage.add(r);
                    }
                }
            }
            None => self.usage_stuck = true,
        }
    }

    /// Opens NVML like [`start`](Self::start) and reads the start energy of every GPU it
    /// lists; [`finish_node`](Self::finish_node) returns them all.
    pub fn start_node(library: &str, init_timeout: Duration) -> GpuMeter {
        let nvml = Nvml::open(library, init_timeout);
        let listed: Result<Vec<GpuInfo>, String> = match &nvml {
            Ok(nvml) => nvml.devices().map_err(|e| describe(&e)).map(|devices| {
                devices
                    .iter()
                    .zip(0u32..)
                    .map(|(dev, index)| GpuInfo {
                        index,
                        uuid: nvml.uuid(dev).ok(),
                        model: nvml.name(dev).ok(),
                    })
                    .collect()
            }),
            Err(e) => Err(e.clone()),
        };
        match listed {
            Ok(gpus) => {
                let mut meter = Self::start_with(nvml, &gpus);
                meter.usage_deadline = init_timeout;
                meter
            }
            Err(e) => GpuMeter {
                nvml: Err(e),
                gpus: Vec::new(),
                usage_deadline: init_timeout,
                usage_stuck: false,
            },
        }
    }

    /// One line for the log: how many GPUs have a start reading, or why none has.
    pub fn summary(&self) -> String {
        let read = self.gpus.iter().filter(|t| t.start.is_ok()).count();
        match &self.nvml {
            Err(e) if self.gpus.is_empty() => format!("no GPU readings ({e})"),
            _ => format!("{read} of {} GPU(s) read", self.gpus.len()),
        }
    }

    /// Takes the end readings of a meter made by [`start_node`](Self::start_node).
    pub fn finish_node(self) -> NodeGpuEnergy {
        let error = self.nvml.as_ref().err().cloned();
        NodeGpuEnergy {
            devices: self.finish(),
            error,
        }
    }

    fn model(nvml: &Nvml, info: &GpuInfo) -> Option<String> {
        let dev = nvml.device_by_uuid(info.uuid.as_deref()?).ok()?;
        nvml.name(&dev).ok()
    }

    fn read(nvml: &Nvml, info: &GpuInfo) -> Result<u64, String> {
        let uuid = info
            .uuid
            .as_deref()
            .ok_or_else(|| "GPU UUID unknown".to_owned())?;
        let dev = nvml.device_by_uuid(uuid).map_err(|e| describe(&e))?;
        nvml.total_energy_mj(&dev).map_err(|e| describe(&e))
    }

    /// Takes the end readings (a last usage sample among them), shuts NVML down and returns
    /// one entry per GPU.
    pub fn finish(mut self) -> Vec<GpuEnergy> {
        self.sample_usage();
        let GpuMeter { nvml, gpus, .. } = self;
        gpus.into_iter()
            .map(|t| {
                let end = match &nvml {
                    Ok(nvml) => Self::read(nvml, &t.info),
                    Err(e) => Err(e.clone()),
                };
                let (millijoules, reset, note) = match (&t.start, &nvml) {
                    // NVML never opened: one reason, not "at start: …".
                    (Err(_), Err(e)) => (None, false, Some(e.clone())),
                    _ => energy_between(&t.start, &end),
                };
                GpuEnergy {
                    usage: t.usage.usage(t.info.index),
                    index: t.info.index,
                    uuid: t.info.uuid,
                    model: t.info.model,
                    millijoules,
                    reset,
                    unavailable: note,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difference_of_two_readings() {
        assert_eq!(
            energy_between(&Ok(1_000), &Ok(5_500)),
            (Some(4_500), false, None)
        );
        assert_eq!(energy_between(&Ok(7), &Ok(7)), (Some(0), false, None));
    }

    #[test]
    fn backwards_counter_is_a_reset_with_a_lower_bound() {
        let (mj, reset, note) = energy_between(&Ok(9_000_000), &Ok(1_234));
        assert_eq!(mj, Some(1_234));
        assert!(reset);
        assert_eq!(note.as_deref(), Some(RESET_NOTE));
    }

    #[test]
    fn failed_readings_are_unavailable() {
        let (mj, reset, note) = energy_between(&Err("NVML: not supported".into()), &Ok(3));
        assert_eq!((mj, reset), (None, false));
        assert_eq!(note.as_deref(), Some("at start: NVML: not supported"));
        let (mj, _, note) = energy_between(&Ok(3), &Err("GPU is lost".into()));
        assert_eq!(mj, None);
        assert_eq!(note.as_deref(), Some("at end: GPU is lost"));
    }

    #[test]
    fn no_library_makes_every_gpu_unavailable_with_its_reason() {
        let gpus = [
            GpuInfo {
                index: 0,
                uuid: Some("GPU-a".into()),
                model: None,
            },
            GpuInfo {
                index: 3,
                uuid: None,
                model: Some("NVIDIA L40".into()),
            },
        ];
        let meter = GpuMeter::start(
            "/nonexistent/libnvidia-ml.so.1",
            Duration::from_secs(1),
            &gpus,
        );
        let result = meter.finish();
        assert_eq!(result.len(), 2);
        for (r, g) in result.iter().zip(&gpus) {
            assert_eq!(r.index, g.index);
            assert_eq!(r.millijoules, None);
            let note = r.unavailable.as_deref().unwrap();
            assert!(
                note.starts_with("/nonexistent/libnvidia-ml.so.1 not found"),
                "{note}"
            );
        }
        assert_eq!(result[1].model.as_deref(), Some("NVIDIA L40"));
    }

    fn measured(index: u32, uuid: &str, mj: u64) -> GpuEnergy {
        GpuEnergy {
            index,
            uuid: Some(uuid.into()),
            model: Some("NVIDIA L40".into()),
            millijoules: Some(mj),
            reset: false,
            unavailable: None,
            usage: None,
        }
    }

    #[test]
    fn usage_tally_means_maxima_and_mib() {
        let mut t = UsageTally::default();
        assert_eq!(t.usage(0), None);
        t.add((10, 4, Some(3 << 20)));
        t.add((90, 0, None));
        t.add((50, 2, Some(1 << 30)));
        let u = t.usage(3).unwrap();
        assert_eq!((u.index, u.samples, u.sm_util_max_pct), (3, 3, 90));
        assert_eq!(u.sm_util_mean_pct, 50.0);
        assert_eq!(u.mem_util_mean_pct, 2.0);
        assert_eq!(u.memory_used_max_mib, Some(1024));
    }

    #[test]
    fn node_wide_readings_are_selected_by_uuid_with_the_gres_index() {
        let node = NodeGpuEnergy {
            // NVML's order differs from Slurm's: index 0 here is GRES index 3.
            devices: vec![measured(0, "GPU-d", 40), measured(1, "GPU-a", 10)],
            error: None,
        };
        let job = [
            GpuInfo {
                index: 0,
                uuid: Some("GPU-a".into()),
                model: None,
            },
            GpuInfo {
                index: 3,
                uuid: Some("GPU-d".into()),
                model: Some("from slurm".into()),
            },
            GpuInfo {
                index: 2,
                uuid: Some("GPU-gone".into()),
                model: None,
            },
            GpuInfo {
                index: 1,
                uuid: None,
                model: None,
            },
        ];
        let got = node.select(&job);
        assert_eq!(got.len(), 4);
        assert_eq!((got[0].index, got[0].millijoules), (0, Some(10)));
        assert_eq!(got[0].model.as_deref(), Some("NVIDIA L40"));
        assert_eq!((got[1].index, got[1].millijoules), (3, Some(40)));
        assert_eq!(got[1].model.as_deref(), Some("from slurm"));
        assert_eq!(got[2].millijoules, None);
        assert!(got[2].unavailable.as_deref().unwrap().contains("GPU-gone"));
        assert_eq!(got[3].unavailable.as_deref(), Some("GPU UUID unknown"));
        assert!(node.select(&[]).is_empty());

        let failed = NodeGpuEnergy {
            devices: Vec::new(),
            error: Some("libnvidia-ml.so.1 not found".into()),
        };
        let got = failed.select(&job[..1]);
        assert_eq!(
            got[0].unavailable.as_deref(),
            Some("libnvidia-ml.so.1 not found")
        );
    }

    #[test]
    fn node_wide_meter_without_nvml_keeps_the_reason() {
        let node = GpuMeter::start_node("/nonexistent/libnvidia-ml.so.1", Duration::from_secs(1))
            .finish_node();
        assert!(node.devices.is_empty());
        assert!(node.error.unwrap().contains("not found"));
    }

    #[test]
    fn cpu_only_job_does_not_open_nvml() {
        let meter = GpuMeter::start("/nonexistent", Duration::from_secs(1), &[]);
        assert!(meter.finish().is_empty());
    }
}
