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

/// The partitions slurm.conf text defines (`PartitionName=` lines other than `DEFAULT`), or
/// `None` when that list may be incomplete: the file has `Include` lines (not followed) or no
/// partition at all (an excerpt such as slurm-conf/example/slurm.conf).
pub fn partition_names(text: &str) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for (_, line) in logical_lines(text) {
        let first_word = line.split_whitespace().next().unwrap_or("");
        if first_word.eq_ignore_ascii_case("include") {
            return None;
        }
        let Ok(pairs) = tokenize(&line) else { continue };
        let Some((first_key, name)) = pairs.first() else {
            continue;
        };
        if first_key.eq_ignore_ascii_case("PartitionName")
            && !name.eq_ignore_ascii_case("DEFAULT")
            && !names.contains(name)
        {
            names.push(name.clone());
        }
    }
    (!names.is_empty()).then_some(names)
}

/// The value of a plain `Key=value` setting in slurm.conf text (case-insensitive key; the last
/// one wins, as in slurmctld). Lines describing nodes, partitions and the like are skipped:
/// their keys belong to that record. `Include` files are not followed.
pub fn setting(text: &str, key: &str) -> Option<String> {
    settings(text, key).pop()
}

/// Every value of a setting that may be given more than once (`SlurmctldHost`), in file order.
pub fn settings(text: &str, key: &str) -> Vec<String> {
    const RECORDS: &[&str] = &[
        "nodename",
        "partitionname",
        "nodeset",
        "frontendname",
        "downnodes",
        "switchname",
    ];
    let mut found = Vec::new();
    for (_, line) in logical_lines(text) {
        let Ok(pairs) = tokenize(&line) else { continue };
        let Some((first_key, _)) = pairs.first() else {
            continue;
        };
        if RECORDS.contains(&first_key.to_ascii_lowercase().as_str()) {
            continue;
        }
        found.extend(
            pairs
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone()),
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_case_insensitively_and_the_last_wins() {
        let text = "PrologFlags=Alloc\nNodeName=n1 PrologFlags=x CPUs=4\n\
                    prologflags=Alloc,Contain\nPluginDir=/a:/b # comment\n";
        assert_eq!(
            setting(text, "PrologFlags").as_deref(),
            Some("Alloc,Contain")
        );
        assert_eq!(setting(text, "plugindir").as_deref(), Some("/a:/b"));
        assert_eq!(setting(text, "CPUs"), None);
        assert_eq!(setting(text, "JobSubmitPlugins"), None);
    }
}
