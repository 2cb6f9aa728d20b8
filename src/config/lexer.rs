//! rci.conf lines: continuations, comments, `Key=Value` tokens with double quotes.

/// Physical lines → logical lines: comments stripped (outside double quotes), `\` continuations
/// joined. Each logical line carries the number of its first physical line.
pub(super) fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
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
    out
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
