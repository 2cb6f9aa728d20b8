//! Kind rules: `KindRule=` lines and the built-in ones.

use super::{Glob, JobKind, ScriptPattern};
use crate::job::{partition_list, JobRequest};

/// Where a kind rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleOrigin {
    /// A `KindRule=` line of rci.conf (line number).
    Config {
        /// Line of the `KindRule=` entry.
        line: usize,
    },
    /// Built into rci (switched off by `DefaultKindRules=no`).
    Builtin,
}

/// One detection rule: every condition given must match.
#[derive(Debug, Clone)]
pub struct KindRule {
    /// The kind a match gives.
    pub kind: JobKind,
    /// Glob over the whole job name.
    pub name: Option<Glob>,
    /// Glob over the whole comment.
    pub comment: Option<Glob>,
    /// Glob over any one of the requested partitions (or the default partition).
    pub partition: Option<Glob>,
    /// Words in the batch script.
    pub script: Option<ScriptPattern>,
    /// Where the rule was written.
    pub origin: RuleOrigin,
    /// The rule as rci.conf would spell it, for `rci explain`.
    pub text: String,
}

impl KindRule {
    /// True when every condition of the rule holds for `req` (scanning the script for this rule
    /// alone; classification scans for all rules at once).
    pub fn matches(&self, req: &JobRequest, default_partition: Option<&str>) -> bool {
        if !self.fields_match(req, default_partition) {
            return false;
        }
        match &self.script {
            None => true,
            Some(pattern) => req
                .script
                .as_deref()
                .and_then(|s| pattern.find_in(s))
                .is_some(),
        }
    }

    /// The conditions other than `Script=`.
    pub fn fields_match(&self, req: &JobRequest, default_partition: Option<&str>) -> bool {
        if let Some(glob) = &self.name {
            if !req.name.as_deref().is_some_and(|n| glob.matches(n)) {
                return false;
            }
        }
        if let Some(glob) = &self.comment {
            if !req.comment.as_deref().is_some_and(|c| glob.matches(c)) {
                return false;
            }
        }
        if let Some(glob) = &self.partition {
            let hit = match req.partition.as_deref() {
                Some(list) => partition_list(list).any(|p| glob.matches(p)),
                None => default_partition.is_some_and(|p| glob.matches(p)),
            };
            if !hit {
                return false;
            }
        }
        true
    }
}

/// The rules rci ships with, as `(kind, key, pattern)`; `key` is `Script` or `Name`.
pub const BUILTIN_RULES: &[(JobKind, &str, &str)] = &[
    (JobKind::Vm, "Script", "qemu-system-*"),
    (JobKind::Vm, "Script", "qemu-kvm"),
    (JobKind::Jupyter, "Name", "spawner-jupyterhub"),
    (JobKind::Jupyter, "Name", "ondemand/*"),
    (JobKind::Jupyter, "Script", "jupyterhub-singleuser"),
    (JobKind::Jupyter, "Script", "batchspawner-singleuser"),
    (JobKind::Jupyter, "Script", "jupyter-lab"),
    (JobKind::Jupyter, "Script", "jupyter-notebook"),
    (JobKind::Jupyter, "Script", "jupyter lab"),
    (JobKind::Jupyter, "Script", "jupyter notebook"),
    (JobKind::Server, "Script", "uvicorn"),
    (JobKind::Server, "Script", "gunicorn"),
    (JobKind::Server, "Script", "streamlit run"),
];
