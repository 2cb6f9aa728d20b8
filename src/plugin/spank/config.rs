//! rci.conf as seen by spank_rci.so in slurmstepd: read once per process (each step has its own
//! slurmstepd, so an edit is picked up by the next step). A broken file is logged with file and
//! line and the defaults apply; a job is never failed for it.

use std::sync::OnceLock;

use crate::config::paths::{conf_arg, expand_node_path, rci_conf_path, short_hostname};
use crate::config::Config;
use crate::ffi::slurm;

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
                e.log_summary()
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
