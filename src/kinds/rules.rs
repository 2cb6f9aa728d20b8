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

/// The rules rci ships with, as `(kind, key, pattern)`; `key` is `Script` or `Name`. The README's
/// job-kind section lists them (a test compares the two).
///
/// Interactive development environments (notebooks, code-server) are `jupyter`; web apps,
/// dashboards and long-running services are `server`; hypervisors and VM managers are `vm`.
/// `-m X` patterns catch `python -m X` (any python, any options before `-m`) without catching
/// `pip install X`.
pub const BUILTIN_RULES: &[(JobKind, &str, &str)] = &[
    (JobKind::Vm, "Script", "qemu-system-*"),
    (JobKind::Vm, "Script", "qemu-kvm"),
    (JobKind::Vm, "Script", "virsh start"),
    (JobKind::Vm, "Script", "virsh create"),
    (JobKind::Vm, "Script", "virt-install"),
    (JobKind::Jupyter, "Name", "spawner-jupyterhub"),
    (JobKind::Jupyter, "Name", "ondemand/*"),
    (JobKind::Jupyter, "Script", "jupyterhub-singleuser"),
    (JobKind::Jupyter, "Script", "batchspawner-singleuser"),
    (JobKind::Jupyter, "Script", "jupyter-lab"),
    (JobKind::Jupyter, "Script", "jupyter-notebook"),
    (JobKind::Jupyter, "Script", "jupyter-server"),
    (JobKind::Jupyter, "Script", "jupyter lab"),
    (JobKind::Jupyter, "Script", "jupyter notebook"),
    (JobKind::Jupyter, "Script", "jupyter server"),
    (JobKind::Jupyter, "Script", "-m jupyterlab"),
    (JobKind::Jupyter, "Script", "-m notebook"),
    (JobKind::Jupyter, "Script", "code-server"),
    (JobKind::Server, "Script", "uvicorn"),
    (JobKind::Server, "Script", "gunicorn"),
    (JobKind::Server, "Script", "streamlit run"),
    (JobKind::Server, "Script", "-m http.server"),
    (JobKind::Server, "Script", "flask run"),
    (JobKind::Server, "Script", "voila"),
    (JobKind::Server, "Script", "panel serve"),
    (JobKind::Server, "Script", "tensorboard --logdir*"),
    (JobKind::Server, "Script", "mlflow server"),
    (JobKind::Server, "Script", "mlflow ui"),
    (JobKind::Server, "Script", "ray start --head"),
];
