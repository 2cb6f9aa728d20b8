//! Job kinds (batch, interactive, jupyter, server, vm) and the rules that detect them; what a
//! kind's policy does to a job is [`crate::policy`]'s business.
//!
//! Classification, in order:
//! 1. the admin's `KindRule` lines in file order, then the built-in rules (unless
//!    `DefaultKindRules=no`); the first rule whose conditions all match gives the detected kind;
//! 2. otherwise `interactive` when the request has no batch script (salloc, srun), else `batch`
//!    (sbatch sends the script with the first het component only, so later components without
//!    one fall back to `batch`);
//! 3. a kind the user declared (`--rci-kind`, reaching us as `RCI_KIND` in the SPANK job env)
//!    replaces the detected kind only when it is stricter, i.e. when its effective MaxTime for this
//!    user is smaller (unlimited is the loosest). A declaration can make a job stricter, never
//!    looser; an unknown declared kind rejects the job.
//!
//! Script rules look for a word outside comments. A comment is what bash takes for one: a `#`
//! at the start of a word in code, up to the end of the line. A `#` inside quotes
//! (`echo "VM #1"`), after a backslash (`a\ #`), inside `${…}` or in a here-document body starts
//! none; the quoting is followed across lines (src/kinds/shell.rs has the rules, and goes blind, never
//! hiding anything, where it cannot follow). Words are separated by blanks and the shell
//! characters ``;&|()<>`"'={}``, so a pattern matches at word boundaries only: `uvicorn` matches
//! `uvicorn app:app`, `python -m uvicorn`, `/opt/bin/uvicorn` (a first pattern word may match the
//! part after the last `/`), `exec "uvicorn"`, `a && uvicorn`, `$(uvicorn)`, `env A=1 uvicorn`,
//! but not `uvicorn_helper` or `# uvicorn`. A pattern of several words (`streamlit run`) matches
//! consecutive words separated by blanks or `\`-newline continuations. Any word counts, not just a
//! command in command position (`pip install uvicorn` counts too): finding the command position
//! of shell text is guesswork, and wrappers (`srun`, `apptainer exec img`, `python -m`, `nohup`)
//! would hide the programs rules are written for. Words are matched as written: quotes or
//! backslashes inside a word (`q'e'mu-kvm`), variables and `eval` are not undone.
//!
//! Cost: this runs under slurmctld's locks on scripts of up to several MB. Each script pattern
//! has a literal (the longest run without wildcards of its words); one Aho-Corasick automaton over
//! all literals finds candidate words in a single pass, in script order, so the quoting is read
//! once, only up to the last candidate, and a script without candidates is never lexed. Linear,
//! and nothing is allocated per script.

pub mod glob;
mod rules;
mod script;
mod shell;
#[cfg(test)]
mod tests;

pub use glob::Glob;
pub use rules::{KindRule, RuleOrigin, BUILTIN_RULES};
pub use script::{ScanHits, ScriptPattern, ScriptScan, SCAN_LIMIT};

use std::fmt;

/// The kinds of jobs the time policy tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// A batch script (the default for sbatch).
    Batch,
    /// An allocation without a batch script (salloc, srun).
    Interactive,
    /// A notebook server (JupyterLab, batchspawner, Open OnDemand apps).
    Jupyter,
    /// A long-running service (web app, API server).
    Server,
    /// A virtual machine.
    Vm,
}

impl JobKind {
    /// Every kind, in the order they are listed to users.
    pub const ALL: [JobKind; 5] = [
        JobKind::Batch,
        JobKind::Interactive,
        JobKind::Jupyter,
        JobKind::Server,
        JobKind::Vm,
    ];

    /// The name used in rci.conf, `--rci-kind` and messages.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Batch => "batch",
            JobKind::Interactive => "interactive",
            JobKind::Jupyter => "jupyter",
            JobKind::Server => "server",
            JobKind::Vm => "vm",
        }
    }

    /// Reads a kind name, case-insensitively.
    pub fn from_name(name: &str) -> Option<JobKind> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Position in [`JobKind::ALL`] (and in the per-kind policy table).
    pub fn index(self) -> usize {
        self as usize
    }

    /// `batch, interactive, jupyter, server, vm` for messages.
    pub fn valid_names() -> &'static str {
        "batch, interactive, jupyter, server, vm"
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
