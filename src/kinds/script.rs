//! Finding a rule's words in a batch script: one linear pass for all patterns, no allocation
//! (this runs under slurmctld's locks on scripts of several MB).

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};
use memchr::memmem::Finder;

use super::shell::CommentTracker;
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
    /// The word whose literal is searched for (the one with the longest literal run).
    anchor: usize,
    /// The longest literal run of the anchor word: every match contains it.
    literal: Box<[u8]>,
    finder: Finder<'static>,
}

impl ScriptPattern {
    /// Compiles a pattern; errors name the problem for rci.conf messages.
    pub fn new(text: &str) -> Result<ScriptPattern, String> {
        let words: Vec<Glob> = text.split_ascii_whitespace().map(Glob::new).collect();
        if words.is_empty() {
            return Err("empty Script pattern".to_owned());
        }
        if let Some(bad) = text.bytes().find(|&b| !is_blank(b) && is_word_separator(b)) {
            return Err(format!(
                "Script pattern '{text}' contains '{}', which separates words in a script",
                char::from(bad)
            ));
        }
        // The first of the longest literals: `-m http.server` searches for `http.server`.
        let (anchor, literal) =
            words
                .iter()
                .map(Glob::longest_literal)
                .enumerate()
                .fold((0, ""), |best, (i, lit)| {
                    if lit.len() > best.1.len() {
                        (i, lit)
                    } else {
                        best
                    }
                });
        if literal.is_empty() {
            return Err(format!(
                "Script pattern '{text}' needs at least one character besides * and ? in one of its words"
            ));
        }
        let finder = Finder::new(literal.as_bytes()).into_owned();
        Ok(ScriptPattern {
            text: text.into(),
            literal: literal.as_bytes().into(),
            anchor,
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
        let mut found = None;
        scan_words(&self.finder, script, |start, end| {
            found = self.match_start(script, start, end);
            found.is_some()
        });
        found
    }

    /// Does the pattern match with its anchor word at `script[start..end]`?
    pub fn matches_at(&self, script: &str, start: usize, end: usize) -> bool {
        self.match_start(script, start, end).is_some()
    }

    /// Where the match with its anchor word at `script[start..end]` begins, if it matches.
    fn match_start(&self, script: &str, start: usize, end: usize) -> Option<usize> {
        let bytes = script.as_bytes();
        if !self.word_matches(self.anchor, script.get(start..end)?) {
            return None;
        }
        // Words before the anchor, right to left, then the words after it.
        let mut first = start;
        for index in (0..self.anchor).rev() {
            let prev_end = skip_blanks_back(bytes, first)?;
            let mut prev_start = prev_end;
            while prev_start > 0
                && bytes
                    .get(prev_start - 1)
                    .is_some_and(|&b| !is_word_separator(b))
            {
                prev_start -= 1;
            }
            let word = script.get(prev_start..prev_end).filter(|w| !w.is_empty())?;
            if !self.word_matches(index, word) {
                return None;
            }
            first = prev_start;
        }
        let mut cursor = end;
        for index in self.anchor + 1..self.words.len() {
            let next = skip_blanks(bytes, cursor)?;
            let next_end = word_end_from(bytes, next);
            let word = script.get(next..next_end).filter(|w| !w.is_empty())?;
            if !self.word_matches(index, word) {
                return None;
            }
            cursor = next_end;
        }
        Some(first)
    }

    /// Word `index` of the pattern against one script word (the first pattern word may match
    /// the part after the last `/`: `/usr/bin/qemu-kvm`).
    fn word_matches(&self, index: usize, word: &str) -> bool {
        self.words.get(index).is_some_and(|glob| {
            glob.matches(word)
                || (index == 0
                    && word
                        .rsplit_once('/')
                        .is_some_and(|(_, base)| glob.matches(base)))
        })
    }
}

/// After the blanks (and `\`-newline line continuations) at `from`: the next word's start, if
/// at least one was skipped. Only these may separate the words of a multi-word pattern.
fn skip_blanks(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        match bytes.get(at) {
            Some(&b) if is_blank(b) => at += 1,
            Some(b'\\') if bytes.get(at + 1) == Some(&b'\n') => at += 2,
            _ => break,
        }
    }
    (at > from).then_some(at)
}

/// Before the blanks (and line continuations) ending at `to`: the previous word's end, if at
/// least one was skipped.
fn skip_blanks_back(bytes: &[u8], to: usize) -> Option<usize> {
    let mut at = to;
    loop {
        match at.checked_sub(1).and_then(|i| bytes.get(i)) {
            Some(&b) if is_blank(b) => at -= 1,
            Some(b'\n') if at >= 2 && bytes.get(at - 2) == Some(&b'\\') => at -= 2,
            _ => break,
        }
    }
    (at < to).then_some(at)
}

/// Visits, in order, each word outside comments that contains a hit of `finder`, as
/// `(word start, word end)`, until `on_word` returns true.
///
/// Linear in the script: the finder resumes after each visited word or comment, and the comment
/// tracker reads each byte once, only up to the last hit.
fn scan_words(finder: &Finder<'_>, script: &str, mut on_word: impl FnMut(usize, usize) -> bool) {
    let bytes = script.as_bytes();
    let mut comments = CommentTracker::new(bytes);
    let mut pos = 0usize;
    while let Some(rel) = bytes.get(pos..).and_then(|rest| finder.find(rest)) {
        let hit = pos + rel;
        pos = match comments.comment_end(hit) {
            Some(end) => end.max(hit + 1),
            None => {
                let (start, end) = word_around(bytes, hit);
                if on_word(start, end) {
                    return;
                }
                end.max(hit + 1)
            }
        };
    }
}

/// The word holding byte `hit`.
fn word_around(bytes: &[u8], hit: usize) -> (usize, usize) {
    let mut start = hit;
    while start > 0 && bytes.get(start - 1).is_some_and(|&b| !is_word_separator(b)) {
        start -= 1;
    }
    (start, word_end_from(bytes, hit))
}

fn word_end_from(bytes: &[u8], from: usize) -> usize {
    let mut end = from;
    while bytes.get(end).is_some_and(|&b| !is_word_separator(b)) {
        end += 1;
    }
    end
}

// ---------------------------------------------------------------------------------------------
// Scanning for all Script= rules at once
// ---------------------------------------------------------------------------------------------

/// Rules with an index at or above this are not in the shared pass; they are scanned one by one.
pub const SCAN_LIMIT: usize = 256;

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

/// Every `Script=` condition of a rule list, searched in one pass over the script: one
/// Aho-Corasick automaton (SIMD-prefiltered) over all the patterns' literals finds the words
/// that may match, in script order, so one comment tracker serves them all. Each such word is
/// checked against every pattern whose literal it contains (found by the same automaton, run
/// over the word alone).
#[derive(Debug, Clone, Default)]
pub struct ScriptScan {
    searcher: Option<AhoCorasick>,
    /// The same literals, for the overlapping search within one word.
    in_word: Option<AhoCorasick>,
    /// Indices of the rules with a Script condition (below [`SCAN_LIMIT`]).
    members: Vec<usize>,
}

impl ScriptScan {
    /// Builds the searcher for `rules` (indices refer to this slice).
    pub fn build(rules: &[KindRule]) -> ScriptScan {
        let (members, literals): (Vec<usize>, Vec<&[u8]>) = rules
            .iter()
            .enumerate()
            .take(SCAN_LIMIT)
            .filter_map(|(i, r)| Some((i, &*r.script.as_ref()?.literal)))
            .unzip();
        let automaton = |kind| {
            if literals.is_empty() {
                return None;
            }
            AhoCorasick::builder()
                .match_kind(kind)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&literals)
                .ok()
        };
        // Leftmost-first gets the SIMD prefilter for the long search; only standard matching
        // can list overlapping literals.
        let searcher = automaton(MatchKind::LeftmostFirst);
        let in_word = automaton(MatchKind::Standard);
        ScriptScan {
            searcher,
            in_word,
            members,
        }
    }

    /// Number of passes a script costs (0 without Script rules).
    pub fn passes(&self) -> usize {
        if self.members.is_empty() {
            0
        } else {
            1
        }
    }

    /// Which of `rules`' Script conditions match `script`.
    pub fn run(&self, rules: &[KindRule], script: &str) -> ScanHits {
        let mut hits = ScanHits::default();
        let pattern = |member: usize| rules.get(member).and_then(|r| r.script.as_ref());
        let (Some(searcher), Some(in_word)) = (&self.searcher, &self.in_word) else {
            // Only when the automaton could not be built: one scan per pattern.
            for &member in &self.members {
                if pattern(member).is_some_and(|p| p.find_in(script).is_some()) {
                    hits.set(member);
                }
            }
            return hits;
        };
        let bytes = script.as_bytes();
        let mut comments = CommentTracker::new(bytes);
        let mut remaining = self.members.len();
        let mut pos = 0usize;
        while pos < bytes.len() && remaining > 0 {
            let found = searcher.try_find(Input::new(bytes).range(pos..));
            let Ok(Some(m)) = found else {
                break;
            };
            let hit = m.start();
            pos = match comments.comment_end(hit) {
                Some(end) => end.max(hit + 1),
                None => {
                    let (start, end) = word_around(bytes, hit);
                    let word = bytes.get(start..end).unwrap_or(&[]);
                    // Every literal in this word, each checked once per word.
                    for found in in_word.find_overlapping_iter(word) {
                        let Some(&member) = self.members.get(found.pattern().as_usize()) else {
                            continue;
                        };
                        if !hits.get(member)
                            && pattern(member).is_some_and(|p| p.matches_at(script, start, end))
                        {
                            hits.set(member);
                            remaining -= 1;
                        }
                    }
                    end.max(hit + 1)
                }
            };
        }
        hits
    }
}
