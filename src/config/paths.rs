//! Where rci.conf lives: next to slurm.conf unless the admin says otherwise.

use std::path::{Path, PathBuf};

/// slurm.conf's location when neither SLURM_CONF nor a `-f` option says otherwise (Debian and
/// upstream's default `--sysconfdir=/etc/slurm`).
pub const DEFAULT_SLURM_CONF: &str = "/etc/slurm/slurm.conf";

/// The rci.conf to use, in order: an explicit path (plugstack.conf `conf=` argument or the CLI's
/// `--config`), `$RCI_CONF`, `rci.conf` in the directory of `$SLURM_CONF`, then next to the
/// default slurm.conf.
pub fn rci_conf_path(explicit: Option<&str>, env: impl Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(p) = explicit.filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = env("RCI_CONF").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let slurm_conf = env("SLURM_CONF")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_SLURM_CONF.to_owned());
    Path::new(&slurm_conf)
        .parent()
        .unwrap_or_else(|| Path::new("/etc/slurm"))
        .join("rci.conf")
}

/// This host's short name (for when SLURMD_NODENAME is not in a step's environment, and for
/// `rci doctor`).
pub fn short_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().split('.').next().unwrap_or("").to_owned())
        .unwrap_or_default()
}

/// The process environment, for [`rci_conf_path`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Expands slurm.conf's `%n` (node name) and `%h` (host name) in a per-node path such as
/// `SlurmdSpoolDir=/var/spool/slurmd/%n`.
pub fn expand_node_path(template: &str, node: &str, host: &str) -> PathBuf {
    PathBuf::from(template.replace("%n", node).replace("%h", host))
}

/// `conf=/path` from plugstack.conf arguments.
pub fn conf_arg(args: &[String]) -> Option<&str> {
    args.iter().find_map(|a| a.strip_prefix("conf="))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn explicit_path_wins() {
        let p = rci_conf_path(Some("/x/rci.conf"), env_of(&[("RCI_CONF", "/y")]));
        assert_eq!(p, PathBuf::from("/x/rci.conf"));
    }

    #[test]
    fn rci_conf_env_beats_slurm_conf() {
        let p = rci_conf_path(
            None,
            env_of(&[("RCI_CONF", "/y/r.conf"), ("SLURM_CONF", "/z/slurm.conf")]),
        );
        assert_eq!(p, PathBuf::from("/y/r.conf"));
    }

    #[test]
    fn next_to_slurm_conf() {
        let p = rci_conf_path(None, env_of(&[("SLURM_CONF", "/tmp/c/etc/slurm.conf")]));
        assert_eq!(p, PathBuf::from("/tmp/c/etc/rci.conf"));
        assert_eq!(
            rci_conf_path(None, env_of(&[])),
            PathBuf::from("/etc/slurm/rci.conf")
        );
    }

    #[test]
    fn node_paths_are_expanded() {
        assert_eq!(
            expand_node_path("/tmp/c/spool/%n", "gpu01", "vm"),
            PathBuf::from("/tmp/c/spool/gpu01")
        );
        assert_eq!(
            expand_node_path("/var/spool/%h/x", "n", "host1"),
            PathBuf::from("/var/spool/host1/x")
        );
    }

    #[test]
    fn conf_argument_is_found() {
        let args = vec!["debug".to_string(), "conf=/a/b".to_string()];
        assert_eq!(conf_arg(&args), Some("/a/b"));
    }
}
