//! Finding a rule's words in a batch script: one linear pass per group of patterns, no
//! allocation (this runs under slurmctld's locks on scripts of several MB).

use memchr::memmem::Finder;

use super::{Glob, KindRule};

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
