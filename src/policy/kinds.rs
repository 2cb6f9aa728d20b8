//! Job kinds (batch, interactive, jupyter, server, vm): how a job is classified and what its
//! kind's time policy does to it.
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
//! Script rules look for a word on a line that is not a comment: lines whose first word starts
//! with `#` (the shebang, `#SBATCH` lines) and the rest of a line after a word starting with `#`
//! do not count. Words are separated by blanks and the shell characters ``;&|()<>`"'={}``, so a
//! pattern matches at word boundaries only: `uvicorn` matches `uvicorn app:app`,
//! `python -m uvicorn`, `/opt/bin/uvicorn` (a first pattern word may match the part after the
//! last `/`) and `exec "uvicorn"`, but not `uvicorn_helper` or `# uvicorn`. A pattern of several
//! words (`streamlit run`) matches consecutive words on one line. Any word counts, not just a
//! command in command position (`pip install uvicorn` counts too): finding the command position
//! of shell text is guesswork, and wrappers (`srun`, `apptainer exec img`, `python -m`) would
//! hide the programs rules are written for. Quotes do not protect `#`.
//!
//! Cost: this runs under slurmctld's locks on scripts of up to several MB. Each script pattern
//! carries a precompiled substring finder for its longest literal run; the scan visits each byte
//! a constant number of times per pattern (linear) and allocates nothing.

use crate::config::{Config, KindPolicy, MaxTime, TimeAction};
use crate::job::{JobRequest, TimeLimit};
use crate::slurm_time::format_minutes;
use memchr::memmem::Finder;
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

// ---------------------------------------------------------------------------------------------
// Globs
// ---------------------------------------------------------------------------------------------

/// A shell-style glob with `*` (any run of characters) and `?` (one character); everything else
/// matches itself, case-sensitively. Matching is O(text × pattern) at worst and allocation-free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Box<str>,
}

impl Glob {
    /// Compiles a pattern (nothing can fail: every string is a valid glob).
    pub fn new(pattern: &str) -> Glob {
        Glob {
            pattern: pattern.into(),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// True when the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        wildcard_match(self.pattern.as_bytes(), text.as_bytes())
    }

    /// The longest run of the pattern without wildcards (used to prefilter script scans).
    pub fn longest_literal(&self) -> &str {
        self.pattern
            .split(['*', '?'])
            .max_by_key(|run| run.len())
            .unwrap_or("")
    }
}

/// Length of the UTF-8 character starting with byte `b` (1 for ASCII and stray bytes).
fn char_len(b: u8) -> usize {
    match b {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

/// Iterative wildcard matching with single-star backtracking (linear in practice; at worst
/// text length × pattern length, both bounded here by a config pattern and one word or field).
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        match (pattern.get(p), text.get(t)) {
            (Some(b'*'), _) => {
                resume = Some((p, t));
                p += 1;
            }
            (Some(b'?'), Some(&c)) => {
                p += 1;
                t += char_len(c);
            }
            (Some(&pc), Some(&tc)) if pc == tc => {
                p += 1;
                t += 1;
            }
            _ => match resume {
                Some((star_p, star_t)) => {
                    let next = star_t + text.get(star_t).map_or(1, |&c| char_len(c));
                    resume = Some((star_p, next));
                    p = star_p + 1;
                    t = next;
                }
                None => return false,
            },
        }
    }
    // `?` may have stepped past the end of a truncated multi-byte character.
    if t > text.len() {
        return false;
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&b| b == b'*'))
}

// ---------------------------------------------------------------------------------------------
// Script patterns
// ---------------------------------------------------------------------------------------------

/// Bytes that end a word in a script: blanks and shell punctuation.
fn is_word_separator(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'\n'
            | b'\r'
            | 0x0b
            | 0x0c
            | b';'
            | b'&'
            | b'|'
            | b'('
            | b')'
            | b'<'
            | b'>'
            | b'`'
            | b'"'
            | b'\''
            | b'='
            | b'{'
            | b'}'
    )
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t')
}

/// A `Script=` pattern: one or more globs matched against consecutive words of a script line.
#[derive(Debug, Clone)]
pub struct ScriptPattern {
    text: Box<str>,
    words: Vec<Glob>,
    /// The longest literal run of the first word: every match contains it.
    literal: Box<[u8]>,
    finder: Finder<'static>,
}

impl ScriptPattern {
    /// Compiles a pattern; errors name the problem for rci.conf messages.
    pub fn new(text: &str) -> Result<ScriptPattern, String> {
        let words: Vec<Glob> = text.split_ascii_whitespace().map(Glob::new).collect();
        let first = words
            .first()
            .ok_or_else(|| "empty Script pattern".to_owned())?;
        if let Some(bad) = text.bytes().find(|&b| !is_blank(b) && is_word_separator(b)) {
            return Err(format!(
                "Script pattern '{text}' contains '{}', which separates words in a script",
                char::from(bad)
            ));
        }
        let literal = first.longest_literal();
        if literal.is_empty() {
            return Err(format!(
                "Script pattern '{text}' needs at least one character besides * and ? in its first word"
            ));
        }
        let finder = Finder::new(literal.as_bytes()).into_owned();
        Ok(ScriptPattern {
            text: text.into(),
            literal: literal.as_bytes().into(),
            words,
            finder,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The byte offset of the first word where the pattern matches outside comments, if any.
    pub fn find_in(&self, script: &str) -> Option<usize> {
        scan_words(&self.finder, script, |start, end| {
            self.matches_at(script, start, end)
        })
    }

    /// Does the pattern match the words starting with `script[start..end]`?
    pub fn matches_at(&self, script: &str, start: usize, end: usize) -> bool {
        let Some(word) = script.get(start..end) else {
            return false;
        };
        let mut globs = self.words.iter();
        let first_ok = globs.next().is_some_and(|first| {
            first.matches(word)
                || word
                    .rsplit_once('/')
                    .is_some_and(|(_, base)| first.matches(base))
        });
        if !first_ok {
            return false;
        }
        let bytes = script.as_bytes();
        let mut cursor = end;
        for glob in globs {
            // Only blanks may separate the words of a multi-word pattern.
            let mut next = cursor;
            while bytes.get(next).is_some_and(|&b| is_blank(b)) {
                next += 1;
            }
            if next == cursor {
                return false;
            }
            let next_end = word_end_from(bytes, next);
            match script.get(next..next_end) {
                Some(w) if !w.is_empty() && glob.matches(w) => cursor = next_end,
                _ => return false,
            }
        }
        true
    }
}

/// Visits, in order, each word outside comments that contains a hit of `finder`, as
/// `(word start, word end)`, until `on_word` returns true; returns that word's start.
///
/// Linear in the script: newlines and comment starts are looked for incrementally, and the
/// search resumes after each visited word, so no byte is looked at more than a few times.
fn scan_words(
    finder: &Finder<'_>,
    script: &str,
    mut on_word: impl FnMut(usize, usize) -> bool,
) -> Option<usize> {
    let bytes = script.as_bytes();
    let mut pos = 0usize;
    // Start of the line holding the current hit, how far back newlines were already looked
    // for, where a comment starts on this line (if found yet) and how far it was looked for.
    let mut line_start = 0usize;
    let mut newline_scanned = 0usize;
    let mut comment_at: Option<usize> = None;
    let mut comment_scanned = 0usize;
    while let Some(rel) = bytes.get(pos..).and_then(|rest| finder.find(rest)) {
        let hit = pos + rel;
        if let Some(nl) = bytes
            .get(newline_scanned..hit)
            .and_then(|gap| memchr::memrchr(b'\n', gap))
        {
            line_start = newline_scanned + nl + 1;
            comment_at = None;
            comment_scanned = line_start;
        }
        newline_scanned = hit;
        if comment_at.is_none() {
            comment_at = find_comment_start(bytes, line_start, comment_scanned, hit);
            comment_scanned = hit;
        }
        if comment_at.is_some_and(|c| c <= hit) {
            // The rest of this line is a comment: continue on the next line.
            let nl = bytes
                .get(hit..)
                .and_then(|rest| memchr::memchr(b'\n', rest))?;
            pos = hit + nl + 1;
            line_start = pos;
            newline_scanned = pos;
            comment_at = None;
            comment_scanned = pos;
            continue;
        }
        let mut word_start = hit;
        while word_start > line_start
            && bytes
                .get(word_start - 1)
                .is_some_and(|&b| !is_word_separator(b))
        {
            word_start -= 1;
        }
        let word_end = word_end_from(bytes, hit);
        if on_word(word_start, word_end) {
            return Some(word_start);
        }
        pos = word_end.max(hit + 1);
    }
    None
}

fn word_end_from(bytes: &[u8], from: usize) -> usize {
    let mut end = from;
    while bytes.get(end).is_some_and(|&b| !is_word_separator(b)) {
        end += 1;
    }
    end
}

/// The first `#` in `bytes[from..to]` that starts a word on the line beginning at `line_start`.
fn find_comment_start(bytes: &[u8], line_start: usize, from: usize, to: usize) -> Option<usize> {
    let region = bytes.get(from..to)?;
    let mut search = 0usize;
    while let Some(rel) = region.get(search..).and_then(|r| memchr::memchr(b'#', r)) {
        let at = from + search + rel;
        let starts_word = at == line_start
            || at
                .checked_sub(1)
                .and_then(|i| bytes.get(i))
                .is_some_and(|&b| b.is_ascii_whitespace());
        if starts_word {
            return Some(at);
        }
        search += rel + 1;
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Scanning for all Script= rules at once
// ---------------------------------------------------------------------------------------------

/// Rules with an index at or above this are not grouped; they are scanned one by one.
pub const SCAN_LIMIT: usize = 256;

/// Shortest literal a group may search for (shorter ones would hit too often), unless a
/// pattern's own literal is shorter.
const MIN_GROUP_LITERAL: usize = 4;

/// Above this many script rules the groups are not optimised (only identical literals merge),
/// keeping config loading cheap.
const GREEDY_LIMIT: usize = 64;

/// Which rules' `Script=` conditions matched a script.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanHits([u64; SCAN_LIMIT / 64]);

impl ScanHits {
    fn set(&mut self, rule: usize) {
        if let Some(word) = self.0.get_mut(rule / 64) {
            *word |= 1u64 << (rule % 64);
        }
    }

    /// True when rule `rule`'s Script condition matched (false for rules beyond the limit).
    pub fn get(&self, rule: usize) -> bool {
        self.0
            .get(rule / 64)
            .is_some_and(|word| word & (1u64 << (rule % 64)) != 0)
    }
}

/// One substring search serving several script patterns.
#[derive(Debug, Clone)]
struct ScanGroup {
    finder: Finder<'static>,
    /// Rule indices whose pattern literal contains the group's literal.
    members: Vec<usize>,
}

/// Every `Script=` condition of a rule list, searched with as few passes over the script as
/// possible: patterns are grouped under a shared literal (`jupyter` serves `jupyter-lab`,
/// `jupyter lab` and `jupyterhub-singleuser`), chosen greedily at config load. Each group costs
/// one linear pass; each word holding a hit is checked against the group's patterns.
#[derive(Debug, Clone, Default)]
pub struct ScriptScan {
    groups: Vec<ScanGroup>,
}

impl ScriptScan {
    /// Builds the groups for `rules` (indices refer to this slice).
    pub fn build(rules: &[KindRule]) -> ScriptScan {
        let patterns: Vec<(usize, &[u8])> = rules
            .iter()
            .enumerate()
            .take(SCAN_LIMIT)
            .filter_map(|(i, r)| Some((i, &*r.script.as_ref()?.literal)))
            .collect();
        let mut uncovered: Vec<(usize, &[u8])> = patterns;
        let mut groups: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
        let greedy = uncovered.len() <= GREEDY_LIMIT;
        while let Some(&(_, first_literal)) = uncovered.first() {
            let chosen: Vec<u8> = if greedy {
                best_cover(&uncovered).unwrap_or_else(|| first_literal.to_vec())
            } else {
                first_literal.to_vec()
            };
            let (covered, rest): (Vec<_>, Vec<_>) = uncovered
                .into_iter()
                .partition(|(_, lit)| memchr::memmem::find(lit, &chosen).is_some());
            uncovered = rest;
            let members = covered.into_iter().map(|(i, _)| i).collect();
            groups.push((chosen, members));
        }
        ScriptScan {
            groups: groups
                .into_iter()
                .map(|(literal, members)| ScanGroup {
                    finder: Finder::new(&literal).into_owned(),
                    members,
                })
                .collect(),
        }
    }

    /// Number of passes a script costs.
    pub fn passes(&self) -> usize {
        self.groups.len()
    }

    /// Which of `rules`' Script conditions match `script`.
    pub fn run(&self, rules: &[KindRule], script: &str) -> ScanHits {
        let mut hits = ScanHits::default();
        for group in &self.groups {
            let mut remaining = group.members.len();
            scan_words(&group.finder, script, |start, end| {
                for &member in &group.members {
                    if hits.get(member) {
                        continue;
                    }
                    let matched = rules
                        .get(member)
                        .and_then(|r| r.script.as_ref())
                        .is_some_and(|p| p.matches_at(script, start, end));
                    if matched {
                        hits.set(member);
                        remaining = remaining.saturating_sub(1);
                    }
                }
                remaining == 0
            });
        }
        hits
    }
}

/// The substring (of at least [`MIN_GROUP_LITERAL`] bytes, or a whole short literal) of one of
/// the uncovered literals that is contained in the most of them; ties go to the longer one.
fn best_cover(uncovered: &[(usize, &[u8])]) -> Option<Vec<u8>> {
    let mut best: Option<(usize, usize, &[u8])> = None;
    for &(_, literal) in uncovered {
        let min_len = MIN_GROUP_LITERAL.min(literal.len()).max(1);
        for start in 0..literal.len() {
            for end in (start + min_len)..=literal.len() {
                let Some(candidate) = literal.get(start..end) else {
                    continue;
                };
                let cover = uncovered
                    .iter()
                    .filter(|(_, other)| memchr::memmem::find(other, candidate).is_some())
                    .count();
                let better = match best {
                    None => true,
                    Some((c, len, _)) => (cover, candidate.len()) > (c, len),
                };
                if better {
                    best = Some((cover, candidate.len(), candidate));
                }
            }
        }
    }
    best.map(|(_, _, literal)| literal.to_vec())
}

// ---------------------------------------------------------------------------------------------
// Rules and classification
// ---------------------------------------------------------------------------------------------

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
    fn fields_match(&self, req: &JobRequest, default_partition: Option<&str>) -> bool {
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

/// The entries of a `-p a,b` list, trimmed, empty ones dropped.
pub fn partition_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|p| !p.is_empty())
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

/// How the detected kind was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectedBy {
    /// Index into `Config::kinds.rules`.
    Rule(usize),
    /// No rule matched and there is no batch script.
    NoScript,
    /// No rule matched: a batch job.
    Fallback,
}

/// The outcome of classifying one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// The kind whose policy applies.
    pub kind: JobKind,
    /// What detection found.
    pub detected: JobKind,
    /// Which rule (or fallback) gave `detected`.
    pub detected_by: DetectedBy,
    /// What the user declared with `--rci-kind`, if anything.
    pub declared: Option<JobKind>,
}

impl Classification {
    /// True when the user's declaration replaced the detected kind.
    pub fn declared_won(&self) -> bool {
        self.declared == Some(self.kind) && self.kind != self.detected
    }
}

/// The SPANK job-env variable `--rci-kind` sets.
pub const DECLARED_KIND_VAR: &str = "RCI_KIND";

/// Classifies `req`; `Err` carries the rejection message for an unknown declared kind.
pub fn classify(cfg: &Config, req: &JobRequest) -> Result<Classification, String> {
    let declared = match req.spank_env(DECLARED_KIND_VAR) {
        None => None,
        Some(text) => Some(JobKind::from_name(text).ok_or_else(|| {
            format!(
                "rci: unknown job kind '{text}' (--rci-kind); valid kinds: {}",
                JobKind::valid_names()
            )
        })?),
    };
    let default_partition = cfg.routing.default_partition.as_deref();
    let rules = cfg.kinds.rules();
    let mut hits: Option<ScanHits> = None;
    let matching = rules.iter().enumerate().find(|&(i, rule)| {
        if !rule.fields_match(req, default_partition) {
            return false;
        }
        let (Some(pattern), Some(script)) = (&rule.script, req.script.as_deref()) else {
            return rule.script.is_none();
        };
        if i < SCAN_LIMIT {
            hits.get_or_insert_with(|| cfg.kinds.scan().run(rules, script))
                .get(i)
        } else {
            pattern.find_in(script).is_some()
        }
    });
    let (detected, detected_by) = match matching.map(|(i, rule)| (rule.kind, DetectedBy::Rule(i))) {
        Some(found) => found,
        // sbatch sends the script with the first het component only: a later component without
        // one may belong to a batch job, so it falls back to batch rather than interactive.
        None if req.script.is_none() && req.het_job_offset.unwrap_or(0) == 0 => {
            (JobKind::Interactive, DetectedBy::NoScript)
        }
        None => (JobKind::Batch, DetectedBy::Fallback),
    };
    let kind = match declared {
        Some(d)
            if effective_max(cfg.kinds.policy(d), req)
                < effective_max(cfg.kinds.policy(detected), req) =>
        {
            d
        }
        _ => detected,
    };
    Ok(Classification {
        kind,
        detected,
        detected_by,
        declared,
    })
}

/// The cap that applies to this request's user under `policy`, and whether the allowlist gave it.
pub fn effective_max(policy: &KindPolicy, req: &JobRequest) -> MaxTime {
    effective_max_with_source(policy, req).0
}

fn effective_max_with_source(policy: &KindPolicy, req: &JobRequest) -> (MaxTime, bool) {
    match policy.allow_max_time {
        Some(allow) if is_allowlisted(policy, req) => (allow, true),
        _ => (policy.max_time, false),
    }
}

fn is_allowlisted(policy: &KindPolicy, req: &JobRequest) -> bool {
    let user = req.user_name.as_deref().or(req.submit_user_name.as_deref());
    user.is_some_and(|u| policy.allow_users.iter().any(|a| a == u))
        || req
            .account
            .as_deref()
            .is_some_and(|acct| policy.allow_accounts.iter().any(|a| a == acct))
}

// ---------------------------------------------------------------------------------------------
// Time policy
// ---------------------------------------------------------------------------------------------

/// Which setting a time decision came from (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// The kind's `DefaultTime=`.
    DefaultTime,
    /// The kind's `MaxTime=`.
    MaxTime,
    /// The kind's `AllowMaxTime=` (allowlisted user or account).
    AllowMaxTime,
}

impl TimeSource {
    /// The rci.conf key this source names.
    pub fn key(self) -> &'static str {
        match self {
            TimeSource::DefaultTime => "DefaultTime",
            TimeSource::MaxTime => "MaxTime",
            TimeSource::AllowMaxTime => "AllowMaxTime",
        }
    }
}

/// What the kind's time policy does to the request's time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOutcome {
    /// Left as requested (within the cap, or no cap).
    Kept,
    /// No limit given: set to `minutes` from `source`.
    Defaulted {
        /// The limit set.
        minutes: u32,
        /// Where it came from.
        source: TimeSource,
    },
    /// Above the cap: lowered.
    Capped {
        /// The limit asked for.
        requested: TimeLimit,
        /// The limit set.
        minutes: u32,
        /// The cap that applied.
        source: TimeSource,
    },
    /// Above the cap with `Action=reject`.
    Rejected {
        /// The limit asked for.
        requested: TimeLimit,
        /// The cap.
        max: u32,
        /// The cap that applied.
        source: TimeSource,
    },
}

/// Applies the time policy of `kind` to `req.time_limit`.
///
/// An unset limit gets the kind's DefaultTime; without DefaultTime but with a cap it gets the
/// cap, because otherwise the partition's default (unknown here, possibly above the cap) would
/// apply and a job could escape the cap by not asking for a time.
pub fn apply_time(policy: &KindPolicy, req: &JobRequest) -> TimeOutcome {
    let (cap, allowlisted) = effective_max_with_source(policy, req);
    let cap_source = if allowlisted {
        TimeSource::AllowMaxTime
    } else {
        TimeSource::MaxTime
    };
    match (req.time_limit, cap) {
        (TimeLimit::Unset, _) => match (policy.default_time, cap) {
            (Some(d), MaxTime::Minutes(c)) if d > c => TimeOutcome::Defaulted {
                minutes: c,
                source: cap_source,
            },
            (Some(d), _) => TimeOutcome::Defaulted {
                minutes: d,
                source: TimeSource::DefaultTime,
            },
            (None, MaxTime::Minutes(c)) => TimeOutcome::Defaulted {
                minutes: c,
                source: cap_source,
            },
            (None, MaxTime::Unlimited) => TimeOutcome::Kept,
        },
        (_, MaxTime::Unlimited) => TimeOutcome::Kept,
        (TimeLimit::Minutes(m), MaxTime::Minutes(c)) if m <= c => TimeOutcome::Kept,
        (requested, MaxTime::Minutes(c)) => match policy.action {
            TimeAction::Cap => TimeOutcome::Capped {
                requested,
                minutes: c,
                source: cap_source,
            },
            TimeAction::Reject => TimeOutcome::Rejected {
                requested,
                max: c,
                source: cap_source,
            },
        },
    }
}

/// The user-facing line for a time outcome (`None` for [`TimeOutcome::Kept`]).
pub fn time_message(
    kind: JobKind,
    policy: &KindPolicy,
    outcome: &TimeOutcome,
    prefix: &str,
) -> Option<String> {
    let hint = || {
        policy
            .hint
            .as_deref()
            .map(|h| format!("; {h}"))
            .unwrap_or_default()
    };
    let whose = |source: TimeSource| match source {
        TimeSource::AllowMaxTime => format!("{} for allowed {kind} jobs", source.key()),
        _ => format!("{} for {kind} jobs", source.key()),
    };
    match *outcome {
        TimeOutcome::Kept => None,
        TimeOutcome::Defaulted { minutes, source } => Some(format!(
            "rci: {prefix}{kind} job; no time limit given, using {} ({})",
            format_minutes(minutes),
            whose(source)
        )),
        TimeOutcome::Capped {
            requested,
            minutes,
            source,
        } => Some(format!(
            "rci: {prefix}{kind} job; time limit {} capped to {} ({}{})",
            crate::slurm_time::format_limit(requested),
            format_minutes(minutes),
            whose(source),
            hint()
        )),
        TimeOutcome::Rejected {
            requested,
            max,
            source,
        } => Some(format!(
            "rci: {prefix}{kind} job; time limit {} is above {} ({}{}); use --time={} or less",
            crate::slurm_time::format_limit(requested),
            format_minutes(max),
            whose(source),
            hint(),
            format_minutes(max)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn glob_basics() {
        let g = Glob::new("qemu-system-*");
        assert!(g.matches("qemu-system-x86_64"));
        assert!(g.matches("qemu-system-"));
        assert!(!g.matches("qemu-img"));
        assert!(!g.matches("xqemu-system-x"));
        assert!(Glob::new("*rci:server*").matches("please rci:server thanks"));
        assert!(Glob::new("*rci:server*").matches("rci:server"));
        assert!(!Glob::new("*rci:server*").matches("rci:serve"));
        assert!(Glob::new("a?c").matches("abc"));
        assert!(
            Glob::new("a?c").matches("aéc"),
            "? is one character, not one byte"
        );
        assert!(!Glob::new("a?c").matches("ac"));
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("**a**").matches("bab"));
        assert!(!Glob::new("").matches("x"));
        assert!(Glob::new("").matches(""));
        assert!(Glob::new("ondemand/*").matches("ondemand/sys/dashboard/sys/jupyter"));
        assert!(Glob::new("*a*b*c").matches("xxaxxbxxbxc"));
        assert!(!Glob::new("*a*b*c").matches("xxaxxbxxbx"));
        assert_eq!(Glob::new("ab*cdef?g").longest_literal(), "cdef");
    }

    fn finds(pattern: &str, script: &str) -> bool {
        ScriptPattern::new(pattern)
            .unwrap()
            .find_in(script)
            .is_some()
    }

    #[test]
    fn script_words_and_boundaries() {
        assert!(finds(
            "uvicorn",
            "#!/bin/bash\nuvicorn app:app --port 8000\n"
        ));
        assert!(finds("uvicorn", "python -m uvicorn app:app"));
        assert!(finds("uvicorn", "srun /opt/venv/bin/uvicorn app:app"));
        assert!(finds("uvicorn", "exec \"uvicorn\" x"));
        assert!(finds("uvicorn", "A=1;uvicorn"));
        assert!(finds("uvicorn", "APP=uvicorn"));
        assert!(!finds("uvicorn", "uvicorn_helper start"));
        assert!(!finds("uvicorn", "myuvicorn start"));
        assert!(!finds("uvicorn", "pip install uvicorns"));
        assert!(finds("qemu-system-*", "  qemu-system-x86_64 -m 4G\n"));
        assert!(finds("qemu-system-*", "/usr/bin/qemu-system-aarch64 -m 4G"));
        assert!(!finds("qemu-system-*", "qemu-img create"));
    }

    #[test]
    fn comments_and_shebang_do_not_count() {
        assert!(!finds("uvicorn", "#!/usr/bin/env uvicorn\n"));
        assert!(!finds("uvicorn", "#SBATCH --comment=uvicorn\necho hi\n"));
        assert!(!finds("qemu-system-*", "  # qemu-system-x86_64\n"));
        assert!(!finds("uvicorn", "echo start # then uvicorn\n"));
        assert!(finds("uvicorn", "# uvicorn\nuvicorn app\n"));
        assert!(
            finds("uvicorn", "echo a#b uvicorn\n"),
            "# inside a word is not a comment"
        );
        assert!(finds("uvicorn", "# one\n# two uvicorn\n\tuvicorn x"));
    }

    #[test]
    fn multi_word_patterns() {
        assert!(finds("streamlit run", "streamlit run app.py"));
        assert!(finds("streamlit run", "python -m streamlit   run app.py"));
        assert!(!finds("streamlit run", "streamlit hello"));
        assert!(!finds("streamlit run", "streamlit\nrun"));
        assert!(!finds("streamlit run", "streamlit; run"));
        assert!(finds("jupyter lab", "jupyter lab --no-browser"));
        assert!(!finds(
            "jupyter lab",
            "jupyter nbconvert --execute lab.ipynb"
        ));
        assert!(finds("jupyter lab", "jupyter nbconvert x\njupyter lab"));
    }

    #[test]
    fn pattern_validation() {
        assert!(ScriptPattern::new("").is_err());
        assert!(ScriptPattern::new("*").is_err());
        assert!(ScriptPattern::new("?* foo").is_err());
        assert!(ScriptPattern::new("a;b").is_err());
        assert!(ScriptPattern::new("x=y").is_err());
        assert!(ScriptPattern::new("  jupyter   lab ").is_ok());
    }

    #[test]
    fn match_offset_points_at_word() {
        let p = ScriptPattern::new("uvicorn").unwrap();
        let script = "#!/bin/sh\necho x\n/bin/uvicorn a\n";
        let at = p.find_in(script).unwrap();
        assert_eq!(&script[at..at + 12], "/bin/uvicorn");
    }

    #[test]
    fn large_pathological_scripts_stay_linear() {
        // One long line of repeated hits, inside and outside of a comment: must finish quickly
        // (quadratic scanning would take minutes at this size); no timing assertion, only the
        // results are checked.
        let p = ScriptPattern::new("uvicorn").unwrap();
        let hay = "uvicornx".repeat(500_000);
        assert!(p.find_in(&hay).is_none());
        let commented = format!("echo # {}", "uvicorn ".repeat(500_000));
        assert!(p.find_in(&commented).is_none());
        let glued = "uvicorn".repeat(500_000);
        assert!(p.find_in(&glued).is_none());
        let late = format!("{}\nuvicorn\n", "# uvicorn\n".repeat(200_000));
        assert!(p.find_in(&late).is_some());
    }

    fn builtin_config() -> Config {
        Config::parse(
            "KindRule=server Script=my-server\nKindRule=vm Script=\"virt *\"",
            "t",
        )
        .unwrap()
    }

    #[test]
    fn builtin_patterns_share_passes() {
        let cfg = builtin_config();
        let scripts = cfg
            .kinds
            .rules()
            .iter()
            .filter(|r| r.script.is_some())
            .count();
        assert_eq!(scripts, 13);
        assert!(
            cfg.kinds.scan().passes() <= 8,
            "{} passes for {scripts} patterns",
            cfg.kinds.scan().passes()
        );
    }

    #[test]
    fn grouped_scan_agrees_with_single_scans() {
        let cfg = builtin_config();
        let rules = cfg.kinds.rules();
        for script in [
            "#!/bin/sh\njupyter lab --port 1\n",
            "jupyter-lab\nuvicorn a\ngunicorn b\n",
            "# jupyter lab\nunicorn uvicornx /x/gunicorn\n",
            "qemu-kvm -m 1\nqemu-system-x86_64\nvirt install\nmy-server\n",
            "python -m streamlit run a.py\nbatchspawner-singleuser jupyterhub-singleuser\n",
            "",
        ] {
            let hits = cfg.kinds.scan().run(rules, script);
            for (i, rule) in rules.iter().enumerate() {
                if let Some(p) = &rule.script {
                    assert_eq!(
                        hits.get(i),
                        p.find_in(script).is_some(),
                        "rule {} on {script:?}",
                        rule.text
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn script_scan_never_panics(script in "\\PC{0,200}", pat in "[a-z*?]{1,6}( [a-z]{1,4})?") {
            if let Ok(p) = ScriptPattern::new(&pat) {
                let _ = p.find_in(&script);
            }
        }

        #[test]
        fn grouped_scan_agrees_on_random_scripts(
            lines in proptest::collection::vec(
                "(#|  )?(jupyter|lab|-lab|uvicorn|gunicorn|qemu-|kvm|system-x|streamlit|run|virt|my-server|/|;| |\\t|x)*",
                0..8,
            )
        ) {
            let cfg = builtin_config();
            let rules = cfg.kinds.rules();
            let script = lines.join("\n");
            let hits = cfg.kinds.scan().run(rules, &script);
            for (i, rule) in rules.iter().enumerate() {
                if let Some(p) = &rule.script {
                    prop_assert_eq!(hits.get(i), p.find_in(&script).is_some(), "{} on {:?}", rule.text, script);
                }
            }
            // classification by the grouped scan picks the first rule that matches on its own
            let req = JobRequest { script: Some(script.clone()), ..Default::default() };
            let expected = rules.iter().position(|r| r.matches(&req, None));
            let got = match classify(&cfg, &req).unwrap().detected_by {
                DetectedBy::Rule(i) => Some(i),
                _ => None,
            };
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn glob_without_wildcards_is_equality(a in "[a-c]{0,6}", b in "[a-c]{0,6}") {
            prop_assert_eq!(Glob::new(&a).matches(&b), a == b);
        }

        #[test]
        fn star_prefix_suffix(pre in "[a-c]{0,4}", mid in "\\PC{0,8}", suf in "[a-c]{0,4}") {
            let text = format!("{pre}{mid}{suf}");
            let pattern = format!("{pre}*{suf}");
            prop_assert!(Glob::new(&pattern).matches(&text));
        }

        #[test]
        fn glob_never_panics(p in "\\PC{0,12}", t in "\\PC{0,24}") {
            let _ = Glob::new(&p).matches(&t);
        }
    }
}
