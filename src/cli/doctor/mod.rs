//! `rci doctor`: run on a node (as root) after installing rci, it checks what spank_rci and
//! job_submit_rci will see there, one line per check with OK, WARN or FAIL, the reason and the
//! fix; exit code 1 on any FAIL.
//!
//! - [`check`]: a check and the report (text or `--json`);
//! - `gpus`: GPU identity (GRES index → gres.conf `File=` → minor → UUID, /proc against NVML)
//!   and NVML itself (energy counter, utilisation, MIG), from one bounded `nvml_probe`;
//! - `rapl`: RAPL zones and their wrap period against `RaplSampleInterval`;
//! - `spool`: the spool directory and the syslog socket;
//! - `slurm`: PrologFlags, plugstack.conf, JobSubmitPlugins and the plugins' releases.

pub mod check;
mod gpus;
mod nvml_probe;
mod rapl;
mod slurm;
mod spool;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use check::{Check, Report, Status};

use crate::config::paths::expand_node_path;
use crate::config::slurm_conf::{setting, slurm_conf_beside};
use crate::config::Config;
use crate::gpu::resolve::NodeGpus;
use crate::gpu::{gres_conf, proc_nvidia};

/// Usage of `rci doctor`.
pub const USAGE: &str = "\
usage: rci doctor [--conf FILE] [--node NAME] [--slurm-conf FILE] [--only AREAS]
                  [--nvml-timeout SECS] [--energy-interval SECS] [--json]
Checks this node as spank_rci and job_submit_rci see it; run it as root on every node after
installing rci. One line per check: OK, WARN or FAIL with the reason and the fix. Exit code 1
if anything FAILs, 2 on a usage error.
  --conf FILE           rci.conf (default: $RCI_CONF, else rci.conf next to $SLURM_CONF, else
                        /etc/slurm/rci.conf)
  --node NAME           the node's Slurm name (default: the short host name)
  --slurm-conf FILE     slurm.conf (default: next to rci.conf)
  --only AREAS          comma list of config,gpu,nvml,rapl,spool,slurm (default: all)
  --nvml-timeout SECS   give up on NVML after this long (default 10)
  --energy-interval SECS  time between the two GPU energy readings (default 1)
  --json                one JSON object instead of lines";

const AREAS: &[&str] = &["config", "gpu", "nvml", "rapl", "spool", "slurm"];

#[derive(Debug, Clone, PartialEq)]
struct Options {
    conf: Option<PathBuf>,
    node: Option<String>,
    slurm_conf: Option<PathBuf>,
    only: Vec<String>,
    nvml_timeout: Duration,
    energy_interval: Duration,
    json: bool,
}

enum Parsed {
    Run(Options),
    Help,
}

fn parse_args(args: &[String]) -> Result<Parsed, String> {
    let mut o = Options {
        conf: None,
        node: None,
        slurm_conf: None,
        only: AREAS.iter().map(|a| a.to_string()).collect(),
        nvml_timeout: Duration::from_secs(10),
        energy_interval: Duration::from_secs(1),
        json: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--json" => o.json = true,
            "--conf" | "--config" => o.conf = Some(PathBuf::from(value()?)),
            "--node" => o.node = Some(value()?),
            "--slurm-conf" => o.slurm_conf = Some(PathBuf::from(value()?)),
            "--only" => {
                let v = value()?;
                let areas: Vec<String> = v.split(',').map(|a| a.trim().to_owned()).collect();
                if let Some(bad) = areas.iter().find(|a| !AREAS.contains(&a.as_str())) {
                    return Err(format!(
                        "--only: unknown area '{bad}' (one of {})",
                        AREAS.join(", ")
                    ));
                }
                o.only = areas;
            }
            "--nvml-timeout" => o.nvml_timeout = seconds(flag, &value()?)?,
            "--energy-interval" => o.energy_interval = seconds(flag, &value()?)?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Parsed::Run(o))
}

fn seconds(flag: &str, text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 600.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("{flag} takes seconds (0 < s ≤ 600), not '{text}'")),
    }
}

/// `rci doctor ARGS`; returns the exit code (0 no FAIL, 1 a FAIL, 2 usage).
pub fn run_doctor(
    args: &[String],
    default_conf: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let options = match parse_args(args) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Help) => {
            let _ = writeln!(out, "{USAGE}");
            return 0;
        }
        Err(e) => {
            let _ = writeln!(err, "rci doctor: {e}\n{USAGE}");
            return 2;
        }
    };
    let report = diagnose(&options, default_conf);
    let text = if options.json {
        report.to_json() + "\n"
    } else {
        report.to_text()
    };
    let _ = out.write_all(text.as_bytes());
    i32::from(report.worst() == Status::Fail)
}

fn diagnose(o: &Options, default_conf: &Path) -> Report {
    let wants = |area: &str| o.only.iter().any(|a| a == area);
    let conf_path = o.conf.clone().unwrap_or_else(|| default_conf.to_path_buf());
    let hostname = crate::config::paths::short_hostname();
    let node = o.node.clone().unwrap_or_else(|| hostname.clone());
    let mut checks = Vec::new();
    let euid = crate::energy::spool::current_euid();
    let is_root = euid == Some(0);
    if !is_root {
        checks.push(Check::warn(
            "config",
            format!(
                "running as uid {}, not root: RAPL counters and the spool are checked as this \
                 user, not as spank_rci sees them",
                euid.map_or("unknown".to_owned(), |u| u.to_string())
            ),
            "run it as root (sudo rci doctor)",
        ));
    }
    let cfg = match Config::load(&conf_path) {
        Ok(cfg) => {
            if wants("config") {
                checks.push(Check::ok(
                    "config",
                    format!("{} parses", conf_path.display()),
                ));
            }
            cfg
        }
        Err(e) => {
            checks.push(Check::fail(
                "config",
                format!("{}; spank_rci uses built-in defaults", e.one_line()),
                format!("rci check-config {} lists every error", conf_path.display()),
            ));
            let mut cfg = Config::default();
            cfg.container.slurm_conf_dir = conf_path.parent().map(Path::to_path_buf);
            cfg
        }
    };
    let slurm_conf = o
        .slurm_conf
        .clone()
        .unwrap_or_else(|| slurm_conf_beside(&conf_path));
    let slurm_text = std::fs::read_to_string(&slurm_conf).unwrap_or_default();

    if wants("gpu") || wants("nvml") {
        checks.extend(gpu_and_nvml(o, &cfg, &node, wants("gpu"), wants("nvml")));
    }
    if wants("rapl") {
        checks.extend(rapl::rapl_checks(
            &cfg.energy.sysfs_root,
            cfg.energy.rapl_sample_interval,
            is_root,
        ));
    }
    if wants("spool") {
        let dir = spool_dir(&cfg, &slurm_text, &node, &hostname);
        checks.extend(spool::spool_checks(&dir, &cfg.energy));
    }
    if wants("slurm") {
        checks.extend(slurm::slurm_checks(&slurm::SlurmHost {
            slurm_conf: &slurm_conf,
            hostname: &hostname,
        }));
    }
    Report { node, checks }
}

fn gpu_and_nvml(
    o: &Options,
    cfg: &Config,
    node: &str,
    want_gpu: bool,
    want_nvml: bool,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let gres_path = cfg.container.gres_conf_path();
    let proc_root = &cfg.container.nvidia_proc_root;
    let scan = proc_nvidia::scan(proc_root);
    let conf = match gres_conf::load(&gres_path) {
        Ok(conf) => {
            if want_gpu {
                checks.push(Check::ok("gpu", format!("{} parses", gres_path.display())));
                for w in conf.warnings() {
                    checks.push(Check::warn(
                        "gpu",
                        format!("{}: {w}", gres_path.display()),
                        "correct the line: slurmd ignores it too",
                    ));
                }
            }
            Some(conf)
        }
        Err(e) if !gres_path.exists() && scan.gpus.is_empty() => {
            if want_gpu {
                checks.push(Check::ok(
                    "gpu",
                    format!("no gres.conf ({e}) and no GPUs from the driver: a node without GPUs"),
                ));
            }
            None
        }
        Err(e) => {
            if want_gpu {
                checks.push(Check::fail(
                    "gpu",
                    e,
                    "fix gres.conf: spank_rci cannot name this node's GPUs without it",
                ));
            }
            None
        }
    };
    let node_gpus = conf
        .as_ref()
        .map(|c| NodeGpus::from_parts(c, node, &cfg.container.dev_root, proc_root, scan.clone()));
    let node_has_gpus = !scan.gpus.is_empty()
        || node_gpus
            .as_ref()
            .is_some_and(|n| n.has_gpu_records || !n.gres_files.is_empty());
    // NVML is asked only where there are GPUs to ask about, or where the nvml checks are wanted.
    let probe = nvml_probe::probe(&cfg.energy.nvml_library, o.nvml_timeout, o.energy_interval);
    let view = match &probe {
        nvml_probe::NvmlProbe::Ready(view) => Some(view),
        _ => None,
    };
    if want_gpu {
        if let Some(node_gpus) = &node_gpus {
            checks.extend(gpus::gpu_checks(node_gpus, view));
        }
    }
    if want_nvml {
        checks.extend(gpus::nvml_checks(
            &cfg.energy.nvml_library,
            &probe,
            node_has_gpus,
        ));
    }
    checks
}

/// The spool directory as spank_rci picks it: `AccountingSpool=`, else
/// `<SlurmdSpoolDir>/rci-accounting` from slurm.conf, else the built-in default.
fn spool_dir(cfg: &Config, slurm_text: &str, node: &str, host: &str) -> PathBuf {
    if cfg.energy.spool_dir_set {
        return cfg.energy.spool_dir.clone();
    }
    match setting(slurm_text, "SlurmdSpoolDir") {
        Some(template) => expand_node_path(&template, node, host).join("rci-accounting"),
        None => cfg.energy.spool_dir.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_parse_and_bad_ones_are_named() {
        let Ok(Parsed::Run(o)) = parse_args(&args(&[
            "--conf=/x/rci.conf",
            "--node",
            "gpu01",
            "--only",
            "gpu,nvml",
            "--nvml-timeout",
            "2.5",
            "--json",
        ])) else {
            panic!("should parse");
        };
        assert_eq!(o.conf, Some(PathBuf::from("/x/rci.conf")));
        assert_eq!(o.node.as_deref(), Some("gpu01"));
        assert_eq!(o.only, ["gpu", "nvml"]);
        assert_eq!(o.nvml_timeout, Duration::from_millis(2500));
        assert!(o.json);
        assert!(matches!(parse_args(&args(&["-h"])), Ok(Parsed::Help)));
        for (bad, says) in [
            (&["--only", "gpus"][..], "unknown area 'gpus'"),
            (&["--nvml-timeout", "0"][..], "takes seconds"),
            (&["--node"][..], "--node needs a value"),
            (&["--frobnicate"][..], "unknown option --frobnicate"),
        ] {
            match parse_args(&args(bad)) {
                Err(e) => assert!(e.contains(says), "{e}"),
                Ok(_) => panic!("{bad:?} should fail"),
            }
        }
    }

    #[test]
    fn help_exits_zero_with_usage_on_stdout() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_doctor(&args(&["--help"]), Path::new("/x"), &mut out, &mut err);
        assert_eq!(code, 0);
        assert!(String::from_utf8_lossy(&out).starts_with("usage: rci doctor"));
        assert!(err.is_empty());
    }
}
