//! The container GPU environment's settings (`ContainerGpuEnv=`, `ContainerEnv=`, ...); what
//! they do is [`crate::gpu::container_env`].

use std::path::{Path, PathBuf};

/// gres.conf used when neither `GresConf=` nor the caller's slurm.conf directory is known.
pub const DEFAULT_GRES_CONF: &str = "/etc/slurm/gres.conf";

/// Default name of the CDI device list variable.
pub const DEFAULT_CDI_VARIABLE: &str = "RCI_CDI_DEVICES";

/// The value for "no GPU" in the NVIDIA_VISIBLE_DEVICES family.
pub const NO_GPU: &str = "void";

/// Capabilities nvidia-container-toolkit knows.
const DRIVER_CAPABILITIES: &[&str] = &[
    "all", "compute", "compat32", "display", "graphics", "ngx", "utility", "video",
];

/// Which variable families to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerFamilies {
    pub nvidia: bool,
    pub apptainer: bool,
    pub singularity: bool,
    pub cdi: bool,
}

impl Default for ContainerFamilies {
    fn default() -> Self {
        ContainerFamilies {
            nvidia: true,
            apptainer: true,
            singularity: true,
            cdi: true,
        }
    }
}

impl ContainerFamilies {
    /// Parses `nvidia,apptainer,singularity,cdi`, `all` or `none` (case-insensitive).
    pub fn parse(value: &str) -> Result<ContainerFamilies, String> {
        let mut families = ContainerFamilies {
            nvidia: false,
            apptainer: false,
            singularity: false,
            cdi: false,
        };
        let items: Vec<String> = value
            .split(',')
            .map(|item| item.trim().to_ascii_lowercase())
            .collect();
        if items.iter().all(|item| item.is_empty()) {
            return Err(
                "ContainerEnv needs a list (nvidia,apptainer,singularity,cdi), all or none"
                    .to_string(),
            );
        }
        for item in &items {
            match item.as_str() {
                "nvidia" => families.nvidia = true,
                "apptainer" => families.apptainer = true,
                "singularity" => families.singularity = true,
                "cdi" => families.cdi = true,
                "all" => families = ContainerFamilies::default(),
                "none" if items.len() == 1 => {}
                other => {
                    return Err(format!(
                        "ContainerEnv: unknown family '{other}' (nvidia, apptainer, \
                         singularity, cdi, all, none)"
                    ))
                }
            }
        }
        Ok(families)
    }
}

/// The container GPU settings from rci.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    /// `ContainerGpuEnv=yes|no`: the feature switch (default yes).
    pub enabled: bool,
    /// `ContainerEnv=`.
    pub families: ContainerFamilies,
    /// `ContainerCdiVariable=` (default `RCI_CDI_DEVICES`).
    pub cdi_variable: String,
    /// `NvidiaDriverCapabilities=`: `None` leaves the variable to the image.
    pub nvidia_driver_capabilities: Option<String>,
    /// `GresConf=`: `None` means gres.conf next to slurm.conf (see [`Self::gres_conf_path`]).
    pub gres_conf: Option<PathBuf>,
    /// Directory of slurm.conf when the caller knows it (not an rci.conf key).
    pub slurm_conf_dir: Option<PathBuf>,
    /// `NvidiaProcRoot=` (default `/proc`).
    pub nvidia_proc_root: PathBuf,
    /// `DevRoot=` (default `/dev`): where gres.conf's `/dev/...` files are looked up.
    pub dev_root: PathBuf,
}

impl Default for ContainerConfig {
    fn default() -> Self {
        ContainerConfig {
            enabled: true,
            families: ContainerFamilies::default(),
            cdi_variable: DEFAULT_CDI_VARIABLE.to_string(),
            nvidia_driver_capabilities: None,
            gres_conf: None,
            slurm_conf_dir: None,
            nvidia_proc_root: PathBuf::from("/proc"),
            dev_root: PathBuf::from("/dev"),
        }
    }
}

impl ContainerConfig {
    /// The keys [`ContainerConfig::set_key`] takes, as the README spells them.
    pub const KEYS: &'static [&'static str] = &[
        "ContainerGpuEnv",
        "ContainerEnv",
        "ContainerCdiVariable",
        "NvidiaDriverCapabilities",
        "GresConf",
        "NvidiaProcRoot",
        "DevRoot",
    ];

    /// Applies one rci.conf setting. `None`: not a key of this section; `Some(Err)`: the value
    /// is invalid (the message names the key).
    pub fn set_key(&mut self, key_lowercase: &str, value: &str) -> Option<Result<(), String>> {
        let value = value.trim();
        let result = match key_lowercase {
            "containergpuenv" => parse_bool("ContainerGpuEnv", value).map(|b| self.enabled = b),
            "containerenv" => ContainerFamilies::parse(value).map(|f| self.families = f),
            "containercdivariable" => {
                validate_variable_name(value).map(|()| self.cdi_variable = value.to_string())
            }
            "nvidiadrivercapabilities" => {
                parse_capabilities(value).map(|caps| self.nvidia_driver_capabilities = caps)
            }
            "gresconf" => absolute_path("GresConf", value).map(|p| self.gres_conf = Some(p)),
            "nvidiaprocroot" => {
                absolute_path("NvidiaProcRoot", value).map(|p| self.nvidia_proc_root = p)
            }
            "devroot" => absolute_path("DevRoot", value).map(|p| self.dev_root = p),
            _ => return None,
        };
        Some(result)
    }

    /// The gres.conf to read: `GresConf=`, else `gres.conf` beside slurm.conf when known, else
    /// [`DEFAULT_GRES_CONF`].
    pub fn gres_conf_path(&self) -> PathBuf {
        match (&self.gres_conf, &self.slurm_conf_dir) {
            (Some(path), _) => path.clone(),
            (None, Some(dir)) => dir.join("gres.conf"),
            (None, None) => PathBuf::from(DEFAULT_GRES_CONF),
        }
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" => Ok(false),
        _ => Err(format!("{key}={value}: expected yes or no")),
    }
}

fn validate_variable_name(value: &str) -> Result<(), String> {
    let mut bytes = value.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "ContainerCdiVariable={value}: not an environment variable name"
        ));
    }
    let taken = [
        "NVIDIA_VISIBLE_DEVICES",
        "NVIDIA_DRIVER_CAPABILITIES",
        "APPTAINERENV_NVIDIA_VISIBLE_DEVICES",
        "SINGULARITYENV_NVIDIA_VISIBLE_DEVICES",
        "CUDA_VISIBLE_DEVICES",
    ];
    if taken.contains(&value) || value.starts_with("SLURM_") {
        return Err(format!(
            "ContainerCdiVariable={value}: that variable has another meaning"
        ));
    }
    Ok(())
}

fn parse_capabilities(value: &str) -> Result<Option<String>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let items: Vec<String> = value
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    if let Some(bad) = items
        .iter()
        .find(|c| !DRIVER_CAPABILITIES.contains(&c.as_str()))
    {
        return Err(format!(
            "NvidiaDriverCapabilities: unknown capability '{bad}' (one of {})",
            DRIVER_CAPABILITIES.join(", ")
        ));
    }
    Ok(Some(items.join(",")))
}

fn absolute_path(key: &str, value: &str) -> Result<PathBuf, String> {
    let path = Path::new(value);
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Err(format!("{key}={value}: needs an absolute path"))
    }
}
