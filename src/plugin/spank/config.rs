//! rci.conf as seen by spank_rci.so in slurmstepd: read once per process (each step has its own
//! slurmstepd, so an edit is picked up by the next step). A broken file is logged with file and
//! line and the defaults apply; a job is never failed for it.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::config::paths::{conf_arg, expand_node_path, rci_conf_path};
use crate::config::Config;
use crate::ffi::nvml::Nvml;
use crate::ffi::slurm;
use crate::gpu::resolve::{NoUuidFallback, UuidByMinor};
use crate::gpu::{gres_conf, proc_nvidia};

/// rci.conf as the SPANK plugin uses it (the container and energy sections).
pub type SpankConfig = Config;

/// Loads (once per process) the configuration named by plugstack.conf's `conf=` argument, or
/// the default location next to slurm.conf.
pub fn load(args: &[String]) -> &'static SpankConfig {
    static CONFIG: OnceLock<SpankConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let path = rci_conf_path(conf_arg(args), slurm::daemon_env);
        let mut cfg = Config::load(&path).unwrap_or_else(|e| {
            slurm::error(&format!(
                "spank_rci: {}; using built-in defaults for this step",
                e.one_line()
            ));
            let mut cfg = Config::default();
            cfg.container.slurm_conf_dir = path.parent().map(|p| p.to_path_buf());
            cfg
        });
        if !cfg.energy.spool_dir_set {
            // Default: next to slurmd's own state, on the node's local disk.
            if let Some(template) = slurm::slurmd_spool_dir() {
                let host = short_hostname();
                let node = std::env::var("SLURMD_NODENAME").unwrap_or_else(|_| host.clone());
                cfg.energy.spool_dir =
                    expand_node_path(&template, &node, &host).join("rci-accounting");
            }
        }
        cfg
    })
}

/// This host's short name, for when SLURMD_NODENAME is not in the step's environment.
pub fn short_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().split('.').next().unwrap_or("").to_owned())
        .unwrap_or_default()
}

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
            let Ok(nvml) = Nvml::open(&self.library, self.timeout) else {
                return HashMap::new();
            };
            let devices = nvml.devices().unwrap_or_default();
            devices
                .iter()
                .filter_map(|d| Some((nvml.minor_number(d).ok()?, nvml.uuid(d).ok()?)))
                .collect()
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
