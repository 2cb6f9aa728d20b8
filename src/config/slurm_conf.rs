//! What rci reads from the slurm.conf next to rci.conf.

use super::lexer::{logical_lines, tokenize};
use std::path::{Path, PathBuf};

/// `dirname(rci_conf)/slurm.conf`.
pub fn slurm_conf_beside(rci_conf: &Path) -> PathBuf {
    rci_conf
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("slurm.conf")
}

/// The partition marked `Default=YES` in slurm.conf text (the last one, as slurmctld keeps the
/// last). Tolerant: unknown lines are skipped; `Include` files are not followed.
pub fn default_partition_from_slurm_conf(text: &str) -> Option<String> {
    let mut found = None;
    for (_, line) in logical_lines(text) {
        let Ok(pairs) = tokenize(&line) else { continue };
        let Some((first_key, name)) = pairs.first() else {
            continue;
        };
        if !first_key.eq_ignore_ascii_case("PartitionName") || name.eq_ignore_ascii_case("DEFAULT")
        {
            continue;
        }
        let is_default = pairs
            .iter()
            .skip(1)
            .any(|(k, v)| k.eq_ignore_ascii_case("Default") && v.eq_ignore_ascii_case("YES"));
        if is_default {
            found = Some(name.clone());
        }
    }
    found
}
