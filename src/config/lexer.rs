//! rci.conf lines: continuations, comments, `Key=Value` tokens with double quotes.

/// Physical lines → logical lines: comments stripped (outside double quotes), `\` continuations
/// joined. Each logical line carries the number of its first physical line.
pub(super) fn logical_lines(text: &str) -> Vec<(usize, String)> {
    split_logical_lines(text).0
}

/// [`logical_lines`], and the number of the last line when it ends in a `\` that continues
/// into nothing (the end of the file).
pub(super) fn split_logical_lines(text: &str) -> (Vec<(usize, String)>, Option<usize>) {
    let mut out = Vec::new();
    let mut last_continued = None;
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let stripped = strip_comment(raw);
        let trimmed = stripped.trim_end();
        let (body, continues) = match trimmed.strip_suffix('\\') {
            Some(body) => (body, true),
            None => (trimmed, false),
        };
        let (start, mut acc) = pending.take().unwrap_or((number, String::new()));
        if !acc.is_empty() {
            acc.push(' ');
        }
        acc.push_str(body);
        last_continued = continues.then_some(number);
        if continues {
            pending = Some((start, acc));
        } else if !acc.trim().is_empty() {
            out.push((start, acc));
        }
    }
    if let Some((start, acc)) = pending {
        if !acc.trim().is_empty() {
            out.push((start, acc));
        }
    }
    (out, last_continued)
}

/// A character rci.conf must not contain, with its name: controls (NUL, C0, DEL, C1) and
/// characters that cannot be seen or look like a plain space (zero-width, bidi controls, a BOM
/// after the start, no-break and other Unicode spaces). Such characters make a name that looks
/// right and matches nothing (`GpuPartitions=gpu\u{200b}` silently disables routing), or text
/// that reads differently from what it does. A tab is allowed.
pub(super) fn forbidden_char_name(c: char) -> Option<&'static str> {
    Some(match c {
        '\t' => return None,
        '\0' => "NUL",
        '\r' => "a carriage return (CR) inside a line",
        '\u{1}'..='\u{1f}' | '\u{7f}' => "a control character",
        '\u{80}'..='\u{9f}' => "a C1 control character",
        '\u{a0}' => "NO-BREAK SPACE",
        '\u{ad}' => "SOFT HYPHEN",
        '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}' => {
            "a Unicode space (write a plain space)"
        }
        '\u{200b}' => "ZERO WIDTH SPACE",
        '\u{200c}' => "ZERO WIDTH NON-JOINER",
        '\u{200d}' => "ZERO WIDTH JOINER",
        '\u{2060}' => "WORD JOINER",
        '\u{feff}' => "a byte order mark (BOM) after the start of the file",
        '\u{200e}' | '\u{200f}' | '\u{061c}' => "a bidirectional mark",
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => "a bidirectional override/isolate",
        '\u{2028}' | '\u{2029}' => "a Unicode line/paragraph separator",
        _ => return None,
    })
}

/// Every line holding a [`forbidden_char_name`] character (the first one of each line), as
/// `(line, message)`; line numbers are those of [`logical_lines`]. A CR right before the
/// newline (CRLF files) is allowed.
pub(super) fn forbidden_chars(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let bad = line
            .char_indices()
            .find_map(|(at, c)| forbidden_char_name(c).map(|name| (at, c, name)));
        if let Some((at, c, name)) = bad {
            let column = line.get(..at).map_or(0, |before| before.chars().count()) + 1;
            found.push((
                i + 1,
                format!(
                    "column {column}: {name} (U+{:04X}) is not allowed in rci.conf; \
                     invisible and control characters make names that match nothing",
                    u32::from(c)
                ),
            ));
        }
    }
    found
}

/// Decodes rci.conf bytes: a UTF-8 byte order mark at the start is skipped (editors on
/// Windows write one); invalid UTF-8 is an error naming the line and the byte in it.
pub(super) fn decode(bytes: &[u8]) -> Result<&str, (usize, String)> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = bytes.get(..e.valid_up_to()).unwrap_or(&[]);
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = memchr::memrchr(b'\n', valid).map_or(0, |nl| nl + 1);
        let byte = e.valid_up_to() - line_start + 1;
        let bad = bytes
            .get(e.valid_up_to()..)
            .and_then(|rest| rest.first())
            .copied()
            .unwrap_or(0);
        (
            line,
            format!(
                "byte {byte} of the line (0x{bad:02x}, byte {} of the file): invalid UTF-8; \
                 rci.conf must be UTF-8 (or ASCII)",
                e.valid_up_to() + 1
            ),
        )
    })
}

/// Why `name` cannot be a partition (or QOS) name, if it cannot: Slurm names have no blanks,
/// `=`, `,`, quotes, `#` or backslashes, and rci.conf names are ASCII.
pub(super) fn bad_name(key: &str, name: &str) -> Option<String> {
    if name.is_empty() {
        return Some(format!("{key}: empty name"));
    }
    let bad = name.chars().find(|&c| {
        !c.is_ascii_graphic() || matches!(c, '=' | ',' | '"' | '\'' | '#' | '\\' | '`')
    })?;
    Some(match bad {
        '=' => format!(
            "{key}: '{}' is not a name ('=' cannot be in a name; one Key=Value per word)",
            name.escape_debug()
        ),
        c => format!(
            "{key}: '{}' is not a name ({} cannot be in a partition or QOS name)",
            name.escape_debug(),
            if c.is_ascii() {
                format!("'{}'", c.escape_debug())
            } else {
                format!("U+{:04X}, not ASCII,", u32::from(c))
            }
        ),
    })
}

pub(super) fn strip_comment(line: &str) -> &str {
    let mut in_quotes = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '#' if !in_quotes => return line.get(..i).unwrap_or(line),
            _ => {}
        }
    }
    line
}

/// Splits a logical line into `(Key, Value)` pairs.
pub(super) fn tokenize(line: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = rest.get(..key_end).unwrap_or("");
        let after_key = rest.get(key_end..).unwrap_or("");
        let Some(after_eq) = after_key.strip_prefix('=') else {
            return Err(format!("expected Key=Value, found '{key}'"));
        };
        if key.is_empty() {
            return Err("expected Key=Value, found '=' without a key".to_owned());
        }
        let (value, remaining) = if let Some(quoted) = after_eq.strip_prefix('"') {
            let close = quoted
                .find('"')
                .ok_or_else(|| format!("unterminated quote in value of {key}"))?;
            let remaining = quoted.get(close + 1..).unwrap_or("");
            if remaining.starts_with(|c: char| !c.is_whitespace()) {
                return Err(format!("unexpected text after the quoted value of {key}"));
            }
            (quoted.get(..close).unwrap_or(""), remaining)
        } else {
            let end = after_eq.find(char::is_whitespace).unwrap_or(after_eq.len());
            (
                after_eq.get(..end).unwrap_or(""),
                after_eq.get(end..).unwrap_or(""),
            )
        };
        pairs.push((key.to_owned(), value.to_owned()));
        rest = remaining.trim_start();
    }
    Ok(pairs)
}
