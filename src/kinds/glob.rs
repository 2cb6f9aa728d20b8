//! Shell-style globs for names, comments and partitions in kind rules.

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
