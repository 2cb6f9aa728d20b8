//! What NVML says about the node's GPUs, asked once for all NVML checks, under one deadline.
//!
//! The probe runs in its own thread: a driver that hangs in any NVML call (not only in
//! `nvmlInit`, which [`Nvml::open`] already bounds) must not hang the doctor. When the deadline
//! passes the thread is left behind (the process exits soon after) and the report says which
//! call it was stuck in.

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ffi::nvml::{MigMode, Nvml, NvmlError, Utilization};

/// One GPU in NVML's enumeration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvmlGpu {
    /// NVML's index (nvidia-smi's, which is not Slurm's GRES index).
    pub index: u32,
    pub uuid: Result<String, NvmlError>,
    pub minor: Result<u32, NvmlError>,
    /// `00000000:17:00.0`.
    pub bus_id: Result<String, NvmlError>,
    pub name: Result<String, NvmlError>,
    pub mig: Result<MigMode, NvmlError>,
    /// mJ at the first reading, and at the second one `interval` later.
    pub energy_first: Result<u64, NvmlError>,
    pub energy_second: Result<u64, NvmlError>,
    pub utilization: Result<Utilization, NvmlError>,
}

/// An answering NVML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvmlView {
    pub init_time: Duration,
    pub driver_version: Result<String, NvmlError>,
    /// `Err` when `nvmlDeviceGetCount` failed.
    pub gpus: Result<Vec<NvmlGpu>, NvmlError>,
    /// Time between the two energy readings.
    pub interval: Duration,
}

impl NvmlView {
    /// The GPU behind `/dev/nvidia<minor>`.
    pub fn by_minor(&self, minor: u32) -> Option<&NvmlGpu> {
        self.gpus
            .as_ref()
            .ok()?
            .iter()
            .find(|g| g.minor.as_ref().ok() == Some(&minor))
    }
}

/// How asking NVML went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NvmlProbe {
    /// The library could not be loaded or initialised (the reason names it).
    Unavailable(String),
    /// No answer within `after`; `stage` is the call it was in.
    TimedOut {
        after: Duration,
        stage: String,
    },
    Ready(NvmlView),
}

/// Asks `library` about every GPU, reading the energy counters twice `interval` apart. Returns
/// within about `timeout + interval`.
pub fn probe(library: &str, timeout: Duration, interval: Duration) -> NvmlProbe {
    let stage = Arc::new(Mutex::new("nvmlInit_v2".to_owned()));
    let (tx, rx) = mpsc::channel();
    let library = library.to_owned();
    let thread_stage = Arc::clone(&stage);
    let spawned = std::thread::Builder::new()
        .name("rci-doctor-nvml".to_owned())
        .spawn(move || {
            let set_stage = |what: String| {
                if let Ok(mut s) = thread_stage.lock() {
                    *s = what;
                }
            };
            let _ = tx.send(ask(&library, timeout, interval, &set_stage));
        });
    if let Err(e) = spawned {
        return NvmlProbe::Unavailable(format!("cannot start a thread for NVML: {e}"));
    }
    let deadline = timeout + interval + Duration::from_secs(1);
    match rx.recv_timeout(deadline) {
        Ok(answer) => answer,
        Err(_) => NvmlProbe::TimedOut {
            after: deadline,
            stage: stage.lock().map(|s| s.clone()).unwrap_or_default(),
        },
    }
}

fn ask(
    library: &str,
    timeout: Duration,
    interval: Duration,
    set_stage: &dyn Fn(String),
) -> NvmlProbe {
    let started = Instant::now();
    let nvml = match Nvml::open(library, timeout) {
        Ok(nvml) => nvml,
        Err(e) => return NvmlProbe::Unavailable(e),
    };
    let init_time = started.elapsed();
    set_stage("nvmlSystemGetDriverVersion".to_owned());
    let driver_version = nvml.driver_version();
    set_stage("nvmlDeviceGetCount_v2".to_owned());
    let count = match nvml.device_count() {
        Ok(n) => n,
        Err(e) => {
            return NvmlProbe::Ready(NvmlView {
                init_time,
                driver_version,
                gpus: Err(e),
                interval,
            })
        }
    };
    let mut gpus = Vec::new();
    let mut handles = Vec::new();
    for index in 0..count {
        let at = |call: &str| set_stage(format!("{call} for NVML GPU {index}"));
        at("nvmlDeviceGetHandleByIndex_v2");
        let dev = match nvml.device_by_index(index) {
            Ok(dev) => dev,
            Err(e) => {
                gpus.push(NvmlGpu {
                    index,
                    uuid: Err(e),
                    minor: Err(e),
                    bus_id: Err(e),
                    name: Err(e),
                    mig: Err(e),
                    energy_first: Err(e),
                    energy_second: Err(e),
                    utilization: Err(e),
                });
                continue;
            }
        };
        at("nvmlDeviceGetUUID");
        let uuid = nvml.uuid(&dev);
        at("nvmlDeviceGetMinorNumber");
        let minor = nvml.minor_number(&dev);
        at("nvmlDeviceGetPciInfo_v3");
        let bus_id = nvml.pci_bus_id(&dev);
        at("nvmlDeviceGetName");
        let name = nvml.name(&dev);
        at("nvmlDeviceGetMigMode");
        let mig = nvml.mig_mode(&dev);
        at("nvmlDeviceGetTotalEnergyConsumption");
        let energy_first = nvml.total_energy_mj(&dev);
        handles.push((gpus.len(), dev));
        gpus.push(NvmlGpu {
            index,
            uuid,
            minor,
            bus_id,
            name,
            mig,
            energy_first,
            energy_second: energy_first,
            utilization: Err(NvmlError {
                call: "nvmlDeviceGetUtilizationRates",
                code: 21,
            }),
        });
    }
    set_stage(format!(
        "waiting {:.1} s between energy readings",
        interval.as_secs_f64()
    ));
    let first_read = Instant::now();
    std::thread::sleep(interval);
    for (slot, dev) in handles {
        let gpu = &mut gpus[slot];
        set_stage(format!(
            "nvmlDeviceGetTotalEnergyConsumption for NVML GPU {} (second reading)",
            gpu.index
        ));
        gpu.energy_second = nvml.total_energy_mj(&dev);
        set_stage(format!(
            "nvmlDeviceGetUtilizationRates for NVML GPU {}",
            gpu.index
        ));
        gpu.utilization = nvml.utilization(&dev);
    }
    NvmlProbe::Ready(NvmlView {
        init_time,
        driver_version,
        gpus: Ok(gpus),
        interval: first_read.elapsed().max(interval),
    })
}
