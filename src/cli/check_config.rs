//! `rci check-config`: parse rci.conf as the plugins would and summarise what it does.

use super::explain::*;
use crate::config::{Config, ConfigError, CpuJobAction, DefaultPartitionSource};
use crate::kinds::{self, RuleOrigin};
use crate::slurm_time::format_minutes;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

/// Usage of `rci check-config`.
pub const CHECK_CONFIG_USAGE: &str = "\
usage: rci check-config [FILE]
Parses rci.conf as the plugins do (default: $RCI_CONF, else rci.conf next to $SLURM_CONF, else
/etc/slurm/rci.conf), checks its partition names against the slurm.conf next to it and prints
what it does. Exit code 0 OK, 1 errors (one line each, with file:line), 2 a usage error.";

/// `rci check-config [FILE]`; returns the exit code.
pub fn run_check_config(
    args: &[String],
    env: &CliEnv,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    if asks_for_help(args) {
        let _ = writeln!(out, "{CHECK_CONFIG_USAGE}");
        return EXIT_OK;
    }
    let path = match args {
        [] => env.default_config.clone(),
        [one] if !one.starts_with('-') => PathBuf::from(one),
        _ => {
            let _ = writeln!(
                err,
                "rci check-config: expected one file\n{CHECK_CONFIG_USAGE}"
            );
            return EXIT_USAGE;
        }
    };
    match Config::load(&path) {
        Ok(cfg) => {
            let _ = writeln!(out, "OK: {}", path.display());
            let _ = write!(out, "{}", summary(&cfg));
            let _ = writeln!(out, "  partitions: {}", partitions_checked(&path));
            for w in crate::policy::update_caps::cap_escape_warnings(&cfg) {
                let _ = writeln!(err, "warning: {}: {w}", path.display());
            }
            EXIT_OK
        }
        Err(e) => {
            print_config_error(&e, err);
            EXIT_FAIL
        }
    }
}

/// Whether the partition names were checked against the slurm.conf beside `path`, and if not
/// why (they are when it is readable and lists its partitions completely).
fn partitions_checked(path: &std::path::Path) -> String {
    let slurm_conf = crate::config::slurm_conf_beside(path);
    match std::fs::read_to_string(&slurm_conf) {
        Err(e) => format!("not checked ({}: {e})", slurm_conf.display()),
        Ok(text) => match crate::config::slurm_conf::partition_names(&text) {
            Some(_) => format!("all defined in {}", slurm_conf.display()),
            None => format!(
                "not checked ({} has Include lines or no PartitionName)",
                slurm_conf.display()
            ),
        },
    }
}

fn print_config_error(e: &ConfigError, err: &mut dyn Write) {
    for issue in &e.issues {
        let _ = writeln!(err, "{issue}");
    }
}

/// A few lines describing what the configuration does.
pub fn summary(cfg: &Config) -> String {
    let mut s = String::new();
    let r = &cfg.routing;
    if r.enabled() {
        let action = match r.action {
            CpuJobAction::Reroute => format!("reroute to {}", r.cpu_partition),
            CpuJobAction::Reject => "reject".to_owned(),
            CpuJobAction::Allow => match r.allow_max_cpus {
                Some(n) => format!("allow up to {n} CPUs"),
                None => "allow".to_owned(),
            },
        };
        let _ = writeln!(
            s,
            "  routing: CPU-only jobs on {}: {action}",
            r.gpu_partitions.join(",")
        );
        let default = match (&r.default_partition, &r.default_partition_source) {
            (Some(d), DefaultPartitionSource::SlurmConf(p)) => {
                format!("{d} (from {})", p.display())
            }
            (Some(d), _) => d.clone(),
            (None, _) => "unknown (jobs without a partition are left alone)".to_owned(),
        };
        let _ = writeln!(s, "  default partition: {default}");
    } else {
        let _ = writeln!(s, "  routing: off (no GpuPartitions)");
    }
    for kind in kinds::JobKind::ALL {
        let p = cfg.kinds.policy(kind);
        if p.has_effect() {
            let _ = writeln!(
                s,
                "  {kind}: MaxTime={} DefaultTime={}{}{}",
                p.max_time,
                p.default_time
                    .map_or_else(|| "-".to_owned(), format_minutes),
                p.partition
                    .as_deref()
                    .map(|x| format!(" Partition={x}"))
                    .unwrap_or_default(),
                p.qos
                    .as_deref()
                    .map(|x| format!(" Qos={x}"))
                    .unwrap_or_default(),
            );
        }
    }
    let _ = writeln!(
        s,
        "  kind rules: {} ({} built-in)",
        cfg.kinds.rules().len(),
        cfg.kinds
            .rules()
            .iter()
            .filter(|r| r.origin == RuleOrigin::Builtin)
            .count()
    );
    let _ = writeln!(s, "  UpdateMaxTime: {}", cfg.effective_update_max_time());
    s
}
