//! The energy accounting settings (`Accounting=`, `AccountingSpool=`, `Pue=`, prices, ...);
//! what they do is [`crate::energy`].

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The syslog socket used unless `SyslogSocket=` says otherwise.
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

/// How CPU-side energy (packages and DRAM, which are node-wide) is attributed to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributionMethod {
    /// The job had the node to itself: all of it is the job's.
    Exclusive,
    /// The node was shared: the job gets `alloc_cpus / node_cpus` of it.
    Share,
}

/// Syslog facilities accepted in `SyslogFacility=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facility {
    /// `user` (1)
    User,
    /// `daemon` (3)
    Daemon,
    /// `local0` (16)
    Local0,
    /// `local1` (17)
    Local1,
    /// `local2` (18)
    Local2,
    /// `local3` (19)
    Local3,
    /// `local4` (20)
    Local4,
    /// `local5` (21)
    Local5,
    /// `local6` (22)
    Local6,
    /// `local7` (23)
    Local7,
}

impl Facility {
    /// Parses `user`, `daemon`, `local0` … `local7` (any case).
    pub fn parse(text: &str) -> Result<Facility, String> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "user" => Facility::User,
            "daemon" => Facility::Daemon,
            "local0" => Facility::Local0,
            "local1" => Facility::Local1,
            "local2" => Facility::Local2,
            "local3" => Facility::Local3,
            "local4" => Facility::Local4,
            "local5" => Facility::Local5,
            "local6" => Facility::Local6,
            "local7" => Facility::Local7,
            _ => {
                return Err(format!(
                    "SyslogFacility must be user, daemon or local0..local7, got {text:?}"
                ))
            }
        })
    }

    /// The facility's number.
    pub fn code(self) -> u8 {
        match self {
            Facility::User => 1,
            Facility::Daemon => 3,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

/// Spool directory when neither rci.conf (`AccountingSpool=`) nor slurm.conf (`SlurmdSpoolDir`,
/// read by the SPANK plugin: `<SlurmdSpoolDir>/rci-accounting`) says otherwise.
pub const DEFAULT_SPOOL_DIR: &str = "/var/spool/slurmd/rci-accounting";

/// Energy accounting settings from rci.conf.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyConfig {
    /// `Accounting=yes|no` (default yes): measure jobs and write records.
    pub accounting: bool,
    /// `AccountingSpool=` directory for the JSON Lines files.
    pub spool_dir: PathBuf,
    /// True when rci.conf names `AccountingSpool=`; otherwise the SPANK plugin puts the spool
    /// under slurmd's own spool directory (SlurmdSpoolDir) when it can read it.
    pub spool_dir_set: bool,
    /// `Syslog=yes|no` (default yes): also send each record to syslog.
    pub syslog: bool,
    /// `SyslogFacility=` (default local0).
    pub syslog_facility: Facility,
    /// `SyslogSocket=` (default /dev/log): the local syslog daemon's datagram socket.
    pub syslog_socket: PathBuf,
    /// `Cluster=`: overrides Slurm's ClusterName in records.
    pub cluster: Option<String>,
    /// `Pue=` (default 1.67), ≥ 1.
    pub pue: f64,
    /// `CarbonIntensity=` g CO2e per kWh (default 467).
    pub carbon_intensity_g_per_kwh: f64,
    /// `EnergyPrice=` per facility kWh (default 0.25).
    pub energy_price_per_kwh: f64,
    /// `CpuHourPrice=` (default 0).
    pub cpu_hour_price: f64,
    /// `GpuHourPrice=` (default 0).
    pub gpu_hour_price: f64,
    /// `Currency=` (default EUR).
    pub currency: String,
    /// `SysfsRoot=` (default /sys).
    pub sysfs_root: PathBuf,
    /// `NvmlLibrary=` (default libnvidia-ml.so.1, found through the loader's search path).
    pub nvml_library: String,
    /// How long to wait for `nvmlInit` (not in rci.conf; 5 s).
    pub nvml_init_timeout: Duration,
    /// `RaplSampleInterval=` seconds (default 30, 1..=120). The sampler also caps it at half the
    /// shortest wrap period at 1 kW, so a too-long value cannot lose wraps.
    pub rapl_sample_interval: Duration,
    /// `Attribution=exclusive|share` (default exclusive); see the module docs.
    pub attribution: AttributionMethod,
}

impl Default for EnergyConfig {
    fn default() -> Self {
        EnergyConfig {
            accounting: true,
            spool_dir: PathBuf::from(DEFAULT_SPOOL_DIR),
            spool_dir_set: false,
            syslog: true,
            syslog_facility: Facility::Local0,
            syslog_socket: PathBuf::from(DEFAULT_SYSLOG_SOCKET),
            cluster: None,
            pue: 1.67,
            carbon_intensity_g_per_kwh: 467.0,
            energy_price_per_kwh: 0.25,
            cpu_hour_price: 0.0,
            gpu_hour_price: 0.0,
            currency: "EUR".to_owned(),
            sysfs_root: PathBuf::from("/sys"),
            nvml_library: "libnvidia-ml.so.1".to_owned(),
            nvml_init_timeout: Duration::from_secs(5),
            rapl_sample_interval: Duration::from_secs(30),
            attribution: AttributionMethod::Exclusive,
        }
    }
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Ok(true),
        "no" | "false" | "0" | "off" => Ok(false),
        _ => Err(format!("expected yes or no, got {value:?}")),
    }
}

fn parse_number(value: &str, min: f64) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= min => Ok(x),
        _ => Err(format!("expected a number ≥ {min}, got {value:?}")),
    }
}

fn non_empty(value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        Err("value must not be empty".to_owned())
    } else {
        Ok(v.to_owned())
    }
}

impl EnergyConfig {
    /// The keys [`EnergyConfig::set_key`] takes, as the README spells them.
    pub const KEYS: &'static [&'static str] = &[
        "Accounting",
        "AccountingSpool",
        "Syslog",
        "SyslogFacility",
        "SyslogSocket",
        "Cluster",
        "Pue",
        "CarbonIntensity",
        "EnergyPrice",
        "CpuHourPrice",
        "GpuHourPrice",
        "Currency",
        "SysfsRoot",
        "NvmlLibrary",
        "RaplSampleInterval",
        "Attribution",
    ];

    /// Applies one `Key=value` of rci.conf. `key` is lower-case. `None`: not an energy key;
    /// `Some(Err(_))`: an energy key with a bad value (the setting is left unchanged).
    pub fn set_key(&mut self, key: &str, value: &str) -> Option<Result<(), String>> {
        let result = match key {
            "accounting" => parse_bool(value).map(|v| self.accounting = v),
            "accountingspool" => non_empty(value).and_then(|v| {
                if v.starts_with('/') {
                    self.spool_dir = PathBuf::from(v);
                    self.spool_dir_set = true;
                    Ok(())
                } else {
                    Err(format!("AccountingSpool must be an absolute path, got {v:?}"))
                }
            }),
            "syslog" => parse_bool(value).map(|v| self.syslog = v),
            "syslogfacility" => Facility::parse(value).map(|f| self.syslog_facility = f),
            "syslogsocket" => non_empty(value).and_then(|v| {
                if v.starts_with('/') {
                    self.syslog_socket = PathBuf::from(v);
                    Ok(())
                } else {
                    Err(format!("SyslogSocket must be an absolute path, not '{v}'"))
                }
            }),
            "cluster" => non_empty(value).map(|v| self.cluster = Some(v)),
            "pue" => parse_number(value, 1.0).map(|v| self.pue = v),
            "carbonintensity" => parse_number(value, 0.0).map(|v| self.carbon_intensity_g_per_kwh = v),
            "energyprice" => parse_number(value, 0.0).map(|v| self.energy_price_per_kwh = v),
            "cpuhourprice" => parse_number(value, 0.0).map(|v| self.cpu_hour_price = v),
            "gpuhourprice" => parse_number(value, 0.0).map(|v| self.gpu_hour_price = v),
            "currency" => non_empty(value).map(|v| self.currency = v),
            "sysfsroot" => non_empty(value).map(|v| self.sysfs_root = PathBuf::from(v)),
            "nvmllibrary" => non_empty(value).map(|v| self.nvml_library = v),
            "raplsampleinterval" => match value.trim().parse::<u64>() {
                Ok(s) if (1..=120).contains(&s) => {
                    self.rapl_sample_interval = Duration::from_secs(s);
                    Ok(())
                }
                _ => Err(format!(
                    "RaplSampleInterval must be 1..=120 seconds (well under the RAPL wrap period), got {value:?}"
                )),
            },
            "attribution" => match value.trim().to_ascii_lowercase().as_str() {
                "exclusive" => {
                    self.attribution = AttributionMethod::Exclusive;
                    Ok(())
                }
                "share" => {
                    self.attribution = AttributionMethod::Share;
                    Ok(())
                }
                _ => Err(format!("Attribution must be exclusive or share, got {value:?}")),
            },
            _ => return None,
        };
        Some(result)
    }
}
