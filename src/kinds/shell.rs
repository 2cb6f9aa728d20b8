//! Where the comments of a shell script are, as bash reads them: a `#` starts a comment only at
//! the start of a word in code, never inside quotes (`"VM #1"`), after a backslash (`a\ #`), inside
//! `${…}` or in a here-document's body.
//!
//! The tracker is a forward-only lexer asked about increasing positions (the hits of the script
//! scan): it reads the script only up to the last position asked about, each byte once, and
//! allocates nothing. Its errors must only ever go one way: text it cannot place (too deep a
//! nesting, too many or too long here-document delimiters) switches comment recognition off for
//! the rest of the script, so that a command is never hidden by a comment the shell would not see.
//! Words inside quotes, `$(…)`, backticks and here-documents still count for the rules (they may be
//! run by `bash -c`, `eval`, `ssh`, `bash <<EOF`).

/// Deepest nesting of quotes and substitutions followed.
const MAX_DEPTH: usize = 32;
/// Here-documents waiting for their bodies on one line.
const MAX_HEREDOCS: usize = 8;
/// Longest here-document delimiter followed.
const MAX_DELIMITER: usize = 64;

/// What the byte being read belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// Commands outside any quote or substitution.
    Code,
    /// `$(…)` (and `$((…))`), with the count of open parentheses.
    CommandSubst(u32),
    /// `${…}`.
    Parameter,
    /// `"…"` (and `$"…"`).
    Double,
    /// `'…'`.
    Single,
    /// `$'…'`: backslash escapes the next byte.
    AnsiC,
    /// `` `…` ``: followed only to its end (its inner quotes are not tracked).
    Backtick,
}

#[derive(Debug, Clone, Copy)]
struct Heredoc {
    delimiter: [u8; MAX_DELIMITER],
    len: usize,
    /// `<<-`: leading tabs of body lines are stripped.
    strip_tabs: bool,
}

const NO_HEREDOC: Heredoc = Heredoc {
    delimiter: [0; MAX_DELIMITER],
    len: 0,
    strip_tabs: false,
};

/// Bytes that separate words in code (bash's metacharacters and newline): a `#` after one of
/// them (or at the start of the script) starts a comment.
fn is_metachar(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>'
    )
}

/// Bytes that end a run of plain code bytes: the ones [`CommentTracker::step_code`] acts on.
const CODE_SPECIAL: [bool; 256] = special(b"\\'\"`$#\n()}<");
/// The same inside double quotes.
const DOUBLE_SPECIAL: [bool; 256] = special(b"\\\"$`");

const fn special(bytes: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
}

/// Length of the run of bytes at the start of `bytes` that `table` does not mark.
fn plain_run(bytes: &[u8], table: &[bool; 256]) -> usize {
    bytes
        .iter()
        .position(|&b| table[usize::from(b)])
        .unwrap_or(bytes.len())
}

/// Answers "is this position inside a comment?" for increasing positions of one script.
#[derive(Debug, Clone)]
pub struct CommentTracker<'a> {
    bytes: &'a [u8],
    /// Next byte to read.
    pos: usize,
    stack: [Context; MAX_DEPTH],
    depth: usize,
    /// The next byte starts a word (in a code context).
    word_start: bool,
    /// The last comment found, as `[start, end)` (end: its newline or the end of the script).
    comment: Option<(usize, usize)>,
    heredocs: [Heredoc; MAX_HEREDOCS],
    pending: usize,
    /// Lost track of the quoting: no more comments are recognised.
    blind: bool,
}

impl<'a> CommentTracker<'a> {
    /// A tracker at the start of `script`.
    pub fn new(script: &'a [u8]) -> CommentTracker<'a> {
        CommentTracker {
            bytes: script,
            pos: 0,
            stack: [Context::Code; MAX_DEPTH],
            depth: 1,
            word_start: true,
            comment: None,
            heredocs: [NO_HEREDOC; MAX_HEREDOCS],
            pending: 0,
            blind: false,
        }
    }

    /// When byte `at` lies in a comment, the end of that comment (where to resume looking).
    /// Positions must be asked about in non-decreasing order.
    pub fn comment_end(&mut self, at: usize) -> Option<usize> {
        if let Some((start, end)) = self.comment {
            if (start..end).contains(&at) {
                return Some(end);
            }
        }
        while self.pos <= at && self.pos < self.bytes.len() && !self.blind {
            self.step();
            if let Some((start, end)) = self.comment {
                if (start..end).contains(&at) {
                    return Some(end);
                }
            }
        }
        None
    }

    fn context(&self) -> Context {
        self.stack
            .get(self.depth.wrapping_sub(1))
            .copied()
            .unwrap_or(Context::Code)
    }

    fn push(&mut self, context: Context) {
        match self.stack.get_mut(self.depth) {
            Some(slot) => {
                *slot = context;
                self.depth += 1;
            }
            None => self.blind = true,
        }
    }

    fn pop(&mut self) {
        if self.depth > 1 {
            self.depth -= 1;
        }
    }

    fn set_top(&mut self, context: Context) {
        if let Some(slot) = self
            .depth
            .checked_sub(1)
            .and_then(|i| self.stack.get_mut(i))
        {
            *slot = context;
        }
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.bytes.get(i).copied()
    }

    /// Reads one token's worth of bytes from `pos`.
    fn step(&mut self) {
        let Some(b) = self.at(self.pos) else {
            return;
        };
        match self.context() {
            Context::Single => {
                match self
                    .bytes
                    .get(self.pos..)
                    .and_then(|rest| memchr::memchr(b'\'', rest))
                {
                    Some(rel) => {
                        self.pos += rel + 1;
                        self.pop();
                    }
                    None => self.pos = self.bytes.len(),
                }
                self.word_start = false;
            }
            Context::AnsiC => {
                self.pos += match b {
                    b'\\' => 2,
                    b'\'' => {
                        self.pop();
                        self.word_start = false;
                        1
                    }
                    _ => 1,
                };
            }
            Context::Backtick => {
                self.pos += match b {
                    b'\\' => 2,
                    b'`' => {
                        self.pop();
                        self.word_start = false;
                        1
                    }
                    _ => 1,
                };
            }
            Context::Double => self.step_double(b),
            code => self.step_code(code, b),
        }
    }

    fn step_double(&mut self, b: u8) {
        let run = plain_run(self.bytes.get(self.pos..).unwrap_or(&[]), &DOUBLE_SPECIAL);
        if run > 0 {
            self.pos += run;
            return;
        }
        match b {
            b'\\' => self.pos += 2,
            b'"' => {
                self.pop();
                self.word_start = false;
                self.pos += 1;
            }
            b'$' => self.dollar(),
            b'`' => {
                self.push(Context::Backtick);
                self.pos += 1;
            }
            _ => self.pos += 1,
        }
    }

    /// `$` in code or inside double quotes: the substitutions and quotes it may open.
    fn dollar(&mut self) {
        let opened = match self.at(self.pos + 1) {
            Some(b'(') => Some(Context::CommandSubst(1)),
            Some(b'{') => Some(Context::Parameter),
            Some(b'\'') if self.context() != Context::Double => Some(Context::AnsiC),
            Some(b'"') if self.context() != Context::Double => Some(Context::Double),
            _ => None,
        };
        match opened {
            Some(context) => {
                self.push(context);
                self.pos += 2;
                self.word_start = matches!(context, Context::CommandSubst(_));
            }
            None => {
                self.pos += 1;
                self.word_start = false;
            }
        }
    }

    fn step_code(&mut self, context: Context, b: u8) {
        let rest = self.bytes.get(self.pos..).unwrap_or(&[]);
        let run = plain_run(rest, &CODE_SPECIAL);
        if let Some(&last) = run.checked_sub(1).and_then(|i| rest.get(i)) {
            self.word_start = is_metachar(last);
            self.pos += run;
            return;
        }
        match b {
            b'\\' => {
                // `\` + newline joins lines and leaves the word state as it was.
                if self.at(self.pos + 1) != Some(b'\n') {
                    self.word_start = false;
                }
                self.pos += 2;
            }
            b'\'' => {
                self.push(Context::Single);
                self.word_start = false;
                self.pos += 1;
            }
            b'"' => {
                self.push(Context::Double);
                self.word_start = false;
                self.pos += 1;
            }
            b'`' => {
                self.push(Context::Backtick);
                self.word_start = false;
                self.pos += 1;
            }
            b'$' => self.dollar(),
            b'#' if self.word_start && context != Context::Parameter => {
                let end = self
                    .bytes
                    .get(self.pos..)
                    .and_then(|rest| memchr::memchr(b'\n', rest))
                    .map_or(self.bytes.len(), |rel| self.pos + rel);
                self.comment = Some((self.pos, end));
                self.pos = end;
            }
            b'\n' => {
                self.word_start = true;
                self.pos += 1;
                if self.pending > 0 {
                    self.skip_heredoc_bodies();
                }
            }
            b'(' => {
                if let Context::CommandSubst(open) = context {
                    self.set_top(Context::CommandSubst(open.saturating_add(1)));
                }
                self.word_start = true;
                self.pos += 1;
            }
            b')' => {
                self.pos += 1;
                match context {
                    Context::CommandSubst(1) => {
                        self.pop();
                        self.word_start = false;
                    }
                    Context::CommandSubst(open) => {
                        self.set_top(Context::CommandSubst(open - 1));
                        self.word_start = true;
                    }
                    _ => self.word_start = true,
                }
            }
            b'}' if context == Context::Parameter => {
                self.pop();
                self.word_start = false;
                self.pos += 1;
            }
            b'<' if self.at(self.pos + 1) == Some(b'<') => {
                if self.at(self.pos + 2) == Some(b'<') {
                    // A here-string: no body.
                    self.pos += 3;
                } else {
                    self.heredoc_operator();
                }
                self.word_start = true;
            }
            _ => {
                self.word_start = is_metachar(b);
                self.pos += 1;
            }
        }
    }

    /// `<<[-] word`: remembers the delimiter (quotes removed) for the bodies after the newline.
    fn heredoc_operator(&mut self) {
        let mut i = self.pos + 2;
        let mut doc = NO_HEREDOC;
        if self.at(i) == Some(b'-') {
            doc.strip_tabs = true;
            i += 1;
        }
        while matches!(self.at(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        let mut ok = true;
        let mut push = |doc: &mut Heredoc, b: u8| match doc.delimiter.get_mut(doc.len) {
            Some(slot) => {
                *slot = b;
                doc.len += 1;
            }
            None => ok = false,
        };
        while let Some(b) = self.at(i) {
            if is_metachar(b) {
                break;
            }
            match b {
                b'\'' | b'"' => {
                    i += 1;
                    while let Some(q) = self.at(i) {
                        i += 1;
                        if q == b {
                            break;
                        }
                        push(&mut doc, q);
                    }
                }
                b'\\' => {
                    if let Some(escaped) = self.at(i + 1) {
                        push(&mut doc, escaped);
                    }
                    i += 2;
                }
                _ => {
                    push(&mut doc, b);
                    i += 1;
                }
            }
        }
        match self.heredocs.get_mut(self.pending) {
            Some(slot) if ok && doc.len > 0 => {
                *slot = doc;
                self.pending += 1;
            }
            _ => self.blind = true,
        }
        self.pos = i.min(self.bytes.len());
    }

    /// At the start of the line after a command with here-documents: skips their bodies.
    fn skip_heredoc_bodies(&mut self) {
        let docs = self.heredocs;
        for doc in docs.iter().take(self.pending) {
            let delimiter = doc.delimiter.get(..doc.len).unwrap_or(&[]);
            while let Some(rest) = self.bytes.get(self.pos..).filter(|r| !r.is_empty()) {
                let line_len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
                let line = rest.get(..line_len).unwrap_or(&[]);
                let line = if doc.strip_tabs {
                    let tabs = line.iter().take_while(|&&c| c == b'\t').count();
                    line.get(tabs..).unwrap_or(&[])
                } else {
                    line
                };
                self.pos += line_len + 1;
                if line == delimiter {
                    break;
                }
            }
        }
        self.pos = self.pos.min(self.bytes.len());
        self.pending = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::CommentTracker;

    /// The positions of `script` that the tracker puts in a comment, as a string of `c`/`.`.
    fn map(script: &str) -> String {
        let mut t = CommentTracker::new(script.as_bytes());
        (0..script.len())
            .map(|i| if t.comment_end(i).is_some() { 'c' } else { '.' })
            .collect()
    }

    fn commented(script: &str, word: &str) -> bool {
        let at = script.find(word).unwrap();
        CommentTracker::new(script.as_bytes())
            .comment_end(at)
            .is_some()
    }

    #[test]
    fn plain_comments() {
        assert_eq!(map("a #b\nc"), "..cc..");
        assert_eq!(map("#x\ny"), "cc..");
        assert!(commented("echo a;#qemu", "qemu"));
        assert!(commented("echo a | # qemu", "qemu"));
        assert!(!commented("echo a#qemu", "qemu"));
        assert!(!commented("echo $#qemu", "qemu"));
        assert!(!commented("echo ${#qemu}", "qemu"));
        assert!(!commented("echo ${x#qemu}", "qemu"));
    }

    #[test]
    fn quotes_and_escapes_hide_hashes() {
        assert!(!commented("echo \"VM #1\"; qemu", "qemu"));
        assert!(!commented("echo 'VM #1'; qemu", "qemu"));
        assert!(!commented("echo a\\ #; qemu", "qemu"));
        assert!(!commented("echo \\#; qemu", "qemu"));
        assert!(!commented("echo $'it\\'s #'; qemu", "qemu"));
        assert!(!commented("echo \"a\n#\"; qemu", "qemu"));
        assert!(!commented("echo \"$(echo \")\") #\"; qemu", "qemu"));
        // inside $(…) a `#` does start a comment (bash agrees)
        assert!(commented("echo \"$(echo \")\" #\")\"; qemu", "qemu"));
        assert!(commented("echo \"a\" # qemu", "qemu"));
        assert!(commented("echo 'it''s' # qemu", "qemu"));
    }

    #[test]
    fn substitutions() {
        assert!(commented("x=$(echo a # qemu\n)", "qemu"));
        assert!(!commented("x=$(echo a)#; qemu", "qemu"));
        assert!(!commented("x=`echo # `; qemu", "qemu"));
        assert!(!commented("echo $((1 + (2)))#; qemu", "qemu"));
    }

    #[test]
    fn heredocs() {
        let s = "cat <<EOF\nit's # here\nEOF\necho 'x #'; qemu\n";
        assert!(!commented(s, "qemu"));
        assert!(!commented(s, "here"), "a body has no comments");
        let s = "cat <<'E O' <<-\"B\"\nit's\nE O\n\t'\n\tB\n# qemu\n";
        assert!(commented(s, "qemu"));
        assert!(!commented("cat <<EOF\n# qemu\n", "qemu"));
        assert!(commented("cat <<< it\\'s\n# qemu\n", "qemu"));
    }

    #[test]
    fn losing_track_stops_recognising_comments() {
        let deep = format!("{}\n# qemu", "$(".repeat(40));
        assert!(!commented(&deep, "qemu"));
        let long = format!("cat <<{}\n\n# qemu", "E".repeat(100));
        assert!(!commented(&long, "qemu"));
    }
}
