//! NVML's answer to "which UUID has the GPU with this minor number", asked once per slurmstepd
//! before tasks fork, for when the driver's /proc tree cannot name this node's GPUs.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::config::SpankConfig;
use crate::ffi::nvml::query_bounded;
use crate::ffi::slurm;
use crate::gpu::resolve::{NoUuidFallback, UuidByMinor};
use crate::gpu::{gres_conf, proc_nvidia};

/// NVML's answer to "which UUID has the GPU with this minor number", for every GPU of the node,
/// asked once per process and kept as plain data: NVML is opened, read and shut down in one go.
pub struct NvmlUuids {
    library: String,
    timeout: std::time::Duration,
    map: OnceLock<HashMap<u32, String>>,
}

impl NvmlUuids {
    fn map(&self) -> &HashMap<u32, String> {
        self.map.get_or_init(|| {
            // One deadline for open, init and every query: this runs on slurmstepd's own
            // thread (a step's init_post_opt, the job's end), which a hung driver must not hold.
            let answer = query_bounded(&self.library, self.timeout, |nvml| {
                let devices = nvml.devices().unwrap_or_default();
                devices
                    .iter()
                    .filter_map(|d| Some((nvml.minor_number(d).ok()?, nvml.uuid(d).ok()?)))
                    .collect::<HashMap<u32, String>>()
            });
            answer.unwrap_or_else(|e| {
                slurm::error(&format!("spank_rci: GPU UUIDs from NVML: {e}"));
                HashMap::new()
            })
        })
    }

    /// Asks NVML now (in slurmstepd, before tasks fork) when /proc cannot name this node's
    /// GPUs, so that task_init in the forked child only reads the answer.
    pub fn warm_up_if_needed(&self, cfg: &SpankConfig, node: &str) {
        let proc_has_gpus = !proc_nvidia::scan(&cfg.container.nvidia_proc_root)
            .gpus
            .is_empty();
        let node_has_gpus = gres_conf::load(&cfg.container.gres_conf_path())
            .is_ok_and(|conf| conf.has_gpu_records(node));
        if !proc_has_gpus && node_has_gpus {
            self.map();
        }
    }
}

impl UuidByMinor for NvmlUuids {
    fn uuid_for_minor(&self, minor: u32) -> Option<String> {
        // Opened only when /proc could not answer: dlopen + nvmlInit cost up to the timeout.
        self.map().get(&minor).cloned()
    }
}

/// For task_init, which runs in a child forked from the multithreaded slurmstepd: use NVML's
/// answer only if the parent already obtained it; never dlopen or start threads there.
pub struct ForkedChildUuids(&'static NvmlUuids);

impl UuidByMinor for ForkedChildUuids {
    fn uuid_for_minor(&self, minor: u32) -> Option<String> {
        self.0.map.get()?.get(&minor).cloned()
    }
}

/// The process's NVML UUID source (`None` when `NvmlLibrary=` is empty).
pub fn nvml_uuids(cfg: &SpankConfig) -> Option<&'static NvmlUuids> {
    static UUIDS: OnceLock<Option<NvmlUuids>> = OnceLock::new();
    UUIDS
        .get_or_init(|| {
            (!cfg.energy.nvml_library.is_empty()).then(|| NvmlUuids {
                library: cfg.energy.nvml_library.clone(),
                timeout: cfg.energy.nvml_init_timeout,
                map: OnceLock::new(),
            })
        })
        .as_ref()
}

/// Where UUIDs come from when /proc/driver/nvidia has no entry for a GPU (slurmstepd, not a
/// forked task): NVML, asked once per process.
pub fn uuid_fallback(cfg: &SpankConfig) -> &'static dyn UuidByMinor {
    match nvml_uuids(cfg) {
        Some(uuids) => uuids,
        None => &NoUuidFallback,
    }
}

/// The fallback for a forked task child (see [`ForkedChildUuids`]).
pub fn forked_child_uuid_fallback(cfg: &SpankConfig) -> Box<dyn UuidByMinor> {
    match nvml_uuids(cfg) {
        Some(uuids) => Box::new(ForkedChildUuids(uuids)),
        None => Box::new(NoUuidFallback),
    }
}
