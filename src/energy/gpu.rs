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

use std::time::Duration;

use crate::ffi::nvml::{Nvml, NvmlError};
use crate::record::GpuInfo;

/// Energy of one allocated GPU over the job.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// Start readings of the job's GPUs; [`finish`](Self::finish) takes the end readings.
#[derive(Debug)]
pub struct GpuMeter {
    nvml: Result<Nvml, String>,
    gpus: Vec<Tracked>,
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
        Self::start_with(nvml, gpus)
    }

    /// Reads the start energy of `gpus` through an already opened NVML (or the reason there is
    /// none, which every GPU then reports).
    pub fn start_with(nvml: Result<Nvml, String>, gpus: &[GpuInfo]) -> GpuMeter {
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
                Tracked { info, start }
            })
            .collect();
        GpuMeter { nvml, gpus }
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

    /// Takes the end readings, shuts NVML down and returns one entry per GPU.
    pub fn finish(self) -> Vec<GpuEnergy> {
        let GpuMeter { nvml, gpus } = self;
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

    #[test]
    fn cpu_only_job_does_not_open_nvml() {
        let meter = GpuMeter::start("/nonexistent", Duration::from_secs(1), &[]);
        assert!(meter.finish().is_empty());
    }
}
