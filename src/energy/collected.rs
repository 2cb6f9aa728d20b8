//! Reading records where they were collected: spool files (one JSON record a line), files a
//! central syslog daemon writes, and journald exports. Shared by `rci report` and `rci sync`.
//!
//! What is a record:
//! - a line starting with `{` that is not a journal entry: the record itself (a spool line);
//! - a syslog line with the `rci-energy` tag, whatever comes before it: rsyslog's RFC 3164
//!   templates (`… host rci-energy[PID]: {json}`, also without `[PID]`) and RFC 5424 ones
//!   (`<PRI>1 TIME host rci-energy PID MSGID SD {json}`, SD `-`, an optional BOM);
//! - a journal entry of `journalctl -o json` (one object a line) or `-o export` (`FIELD=value`
//!   lines, binary fields as `FIELD\n` + 64-bit little-endian length + data + `\n`, an empty
//!   line after each entry) whose `SYSLOG_IDENTIFIER` is `rci-energy`: its `MESSAGE`.
//!
//! Every other line is [`Item::Other`]: a syslog file holds other programs' lines, and a
//! reader skips them. Whether a record candidate is a valid record is for the caller to parse.

use std::borrow::Cow;
use std::io::{self, BufRead};

use serde::Deserialize;

/// The syslog tag of records.
pub const TAG: &str = super::syslog::TAG;

/// What [`RecordReader::next_item`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// The JSON text of a record candidate, and the line it started on (1-based).
    Record { json: &'a [u8], line: u64 },
    /// A line, or a journal entry, that is not a record.
    Other { line: u64 },
    /// A last line without its newline (a file being written): not consumed.
    Unterminated { line: u64 },
}

/// Streams a file's record candidates through one reused buffer.
pub struct RecordReader<R> {
    reader: R,
    buf: Vec<u8>,
    /// The message of a journal entry (unescaped from JSON or collected from export fields).
    message: Vec<u8>,
    line: u64,
    /// Bytes of complete lines and entries consumed.
    offset: u64,
    /// Take a last line without newline as it is (a whole file), not as [`Item::Unterminated`].
    whole: bool,
}

/// The fields of a `journalctl -o json` line that matter here; MESSAGE is a string, or an
/// array of bytes when it is not valid UTF-8.
#[derive(Deserialize)]
struct JournalJson<'a> {
    #[serde(rename = "MESSAGE", default)]
    message: Option<JournalValue<'a>>,
    #[serde(rename = "SYSLOG_IDENTIFIER", default, borrow)]
    identifier: Option<Cow<'a, str>>,
    #[serde(rename = "__CURSOR", default, borrow)]
    cursor: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JournalValue<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Bytes(Vec<u8>),
}

fn is_field_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
}

/// The record JSON after the `rci-energy` tag in a syslog line, if the line has one.
pub fn json_after_tag(line: &[u8]) -> Option<&[u8]> {
    let tag = TAG.as_bytes();
    let mut from = 0;
    while let Some(pos) = find(&line[from..], tag) {
        let at = from + pos;
        from = at + 1;
        // The tag is a word of its own: at the start, after a space or after `<PRI>`.
        if at > 0 && !matches!(line[at - 1], b' ' | b'>') {
            continue;
        }
        if let Some(json) = after_tag(&line[at + tag.len()..]) {
            return Some(json);
        }
    }
    None
}

fn after_tag(rest: &[u8]) -> Option<&[u8]> {
    let body = match rest.first()? {
        // RFC 3164: `[PID]: ` or `: `.
        b'[' => {
            let close = rest.iter().position(|&b| b == b']')?;
            if close == 1 || !rest[1..close].iter().all(u8::is_ascii_digit) {
                return None;
            }
            rest[close + 1..].strip_prefix(b": ")?
        }
        b':' => rest.strip_prefix(b": ")?,
        // RFC 5424: ` PROCID MSGID SD `, SD `-` (rci sends no structured data).
        b' ' => {
            let mut words = rest[1..].splitn(4, |&b| b == b' ');
            let (_procid, _msgid, sd) = (words.next()?, words.next()?, words.next()?);
            if sd != b"-" {
                return None;
            }
            words.next()?
        }
        _ => return None,
    };
    let body = body.trim_ascii_start();
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    body.starts_with(b"{").then_some(body)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl<R: BufRead> RecordReader<R> {
    /// A reader over `reader`.
    pub fn new(reader: R) -> RecordReader<R> {
        RecordReader {
            reader,
            buf: Vec::with_capacity(4096),
            message: Vec::new(),
            line: 0,
            offset: 0,
            whole: false,
        }
    }

    /// A reader of a whole file: a last line without newline is read like the others.
    pub fn whole(reader: R) -> RecordReader<R> {
        RecordReader {
            whole: true,
            ..Self::new(reader)
        }
    }

    /// Bytes of complete lines and journal entries consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads one line into `buf`; `Ok(None)` at the end, `Ok(Some(false))` for a last line
    /// without newline.
    fn read_line(&mut self) -> io::Result<Option<bool>> {
        self.buf.clear();
        let n = self.reader.read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let terminated = self.buf.last() == Some(&b'\n');
        Ok(Some(terminated))
    }

    /// The next record candidate or other line; `None` at the end of the input.
    pub fn next_item(&mut self) -> io::Result<Option<Item<'_>>> {
        loop {
            let Some(terminated) = self.read_line()? else {
                return Ok(None);
            };
            let line_no = self.line;
            let len = self.buf.len() as u64;
            let text = self.buf.trim_ascii();
            if text.is_empty() {
                if terminated {
                    self.offset += len;
                }
                continue;
            }
            if !terminated && !self.whole {
                return Ok(Some(Item::Unterminated { line: line_no }));
            }
            self.offset += len;
            if text.starts_with(b"{\"schema\"") {
                let (start, end) = trimmed_range(&self.buf);
                return Ok(Some(Item::Record {
                    json: &self.buf[start..end],
                    line: line_no,
                }));
            }
            if text.starts_with(b"{") {
                if let Ok(entry) = serde_json::from_slice::<JournalJson<'_>>(text) {
                    if entry.cursor.is_some() || entry.identifier.is_some() {
                        let message: Option<Vec<u8>> = match entry.message {
                            Some(JournalValue::Text(t)) => Some(t.as_bytes().to_vec()),
                            Some(JournalValue::Bytes(b)) => Some(b),
                            None => None,
                        };
                        let is_ours = entry.identifier.as_deref() == Some(TAG);
                        return Ok(Some(self.journal_message(message, is_ours, line_no)));
                    }
                }
                let (start, end) = trimmed_range(&self.buf);
                return Ok(Some(Item::Record {
                    json: &self.buf[start..end],
                    line: line_no,
                }));
            }
            if let Some(eq) = text.iter().position(|&b| b == b'=') {
                if is_field_name(&text[..eq]) {
                    return self.export_entry(line_no).map(Some);
                }
            }
            if let Some(json) = json_after_tag(text) {
                let json = json.trim_ascii_end();
                let start = json.as_ptr() as usize - self.buf.as_ptr() as usize;
                let end = start + json.len();
                return Ok(Some(Item::Record {
                    json: &self.buf[start..end],
                    line: line_no,
                }));
            }
            return Ok(Some(Item::Other { line: line_no }));
        }
    }

    fn journal_message(&mut self, message: Option<Vec<u8>>, is_ours: bool, line: u64) -> Item<'_> {
        let Some(message) = message else {
            return Item::Other { line };
        };
        self.message = message;
        let json: Option<&[u8]> = if is_ours {
            let m = self.message.trim_ascii();
            m.starts_with(b"{").then_some(m)
        } else {
            json_after_tag(&self.message)
        };
        match json {
            Some(json) => Item::Record {
                json: json.trim_ascii_end(),
                line,
            },
            None => Item::Other { line },
        }
    }

    /// Reads the rest of a `journalctl -o export` entry whose first field line is in `buf`.
    fn export_entry(&mut self, first_line: u64) -> io::Result<Item<'_>> {
        let mut message: Option<Vec<u8>> = None;
        let mut identifier: Option<Vec<u8>> = None;
        let mut consumed = 0u64;
        loop {
            let line = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            if line.is_empty() {
                break;
            }
            let (name, value) = match line.iter().position(|&b| b == b'=') {
                Some(eq) => (line[..eq].to_vec(), line[eq + 1..].to_vec()),
                None if is_field_name(line) => {
                    // Binary field: 64-bit little-endian length, the data, a newline.
                    let name = line.to_vec();
                    let mut len = [0u8; 8];
                    let mut got = 0;
                    while got < len.len() {
                        match self.reader.read(&mut len[got..]) {
                            Ok(0) => return Ok(Item::Unterminated { line: first_line }),
                            Ok(n) => got += n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                    }
                    let len = u64::from_le_bytes(len);
                    let mut data = Vec::new();
                    (&mut self.reader)
                        .take(len.saturating_add(1))
                        .read_to_end(&mut data)?;
                    if data.len() as u64 != len.saturating_add(1) {
                        return Ok(Item::Unterminated { line: first_line });
                    }
                    data.pop();
                    consumed += 8 + len + 1;
                    (name, data)
                }
                None => (Vec::new(), Vec::new()),
            };
            match name.as_slice() {
                b"MESSAGE" => message = Some(value),
                b"SYSLOG_IDENTIFIER" => identifier = Some(value),
                _ => {}
            }
            let Some(terminated) = self.read_line()? else {
                // The export ended without the empty line after the last entry.
                break;
            };
            if !terminated && !self.whole {
                return Ok(Item::Unterminated { line: first_line });
            }
            consumed += self.buf.len() as u64;
        }
        self.offset += consumed;
        let is_ours = identifier.as_deref() == Some(TAG.as_bytes());
        Ok(self.journal_message(message, is_ours, first_line))
    }
}

use std::io::Read as _;

fn trimmed_range(buf: &[u8]) -> (usize, usize) {
    let start = buf.len() - buf.trim_ascii_start().len();
    let end = buf.trim_ascii_end().len();
    (start, end.max(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(input: &[u8]) -> Vec<Result<String, u64>> {
        let mut r = RecordReader::new(input);
        let mut out = Vec::new();
        while let Some(item) = r.next_item().unwrap() {
            out.push(match item {
                Item::Record { json, .. } => Ok(String::from_utf8(json.to_vec()).unwrap()),
                Item::Other { line } | Item::Unterminated { line } => Err(line),
            });
        }
        out
    }

    const REC: &str = r#"{"schema":"rci.job-energy","job_id":1}"#;

    #[test]
    fn spool_lines_are_records() {
        let input = format!("{REC}\n\n{REC}\n");
        assert_eq!(
            items(input.as_bytes()),
            vec![Ok(REC.into()), Ok(REC.into())]
        );
    }

    #[test]
    fn rsyslog_rfc3164_and_rfc5424_lines() {
        let input = format!(
            "Dec  2 04:22:56 gpu01 rci-energy[4242]: {REC}\n\
             Dec  2 04:22:57 gpu01 sshd[1]: Accepted publickey\n\
             2026-12-02T04:22:56+00:00 gpu01 rci-energy: {REC}\n\
             <134>1 2026-12-02T04:22:56.123+00:00 gpu01 rci-energy 4242 - -  {REC}\n\
             <134>1 2026-12-02T04:22:56Z gpu01 rci-energy 4242 - - \u{feff}{REC}\n\
             Dec  2 04:22:58 gpu01 not-rci-energy[1]: {REC}\n\
             Dec  2 04:22:58 gpu01 rci-energy[x]: {{}}\n"
        );
        let got = items(input.as_bytes());
        assert_eq!(
            got,
            vec![
                Ok(REC.into()),
                Err(2),
                Ok(REC.into()),
                Ok(REC.into()),
                Ok(REC.into()),
                Err(6),
                Err(7)
            ]
        );
    }

    #[test]
    fn journal_json_and_export() {
        let json_line = serde_json::json!({
            "__CURSOR": "s=1", "SYSLOG_IDENTIFIER": "rci-energy", "MESSAGE": REC,
        });
        let other =
            serde_json::json!({"__CURSOR": "s=2", "SYSLOG_IDENTIFIER": "cron", "MESSAGE": "hi"});
        let bytes = serde_json::json!({
            "__CURSOR": "s=3", "SYSLOG_IDENTIFIER": "rci-energy",
            "MESSAGE": REC.as_bytes(),
        });
        let mut export = Vec::new();
        export.extend_from_slice(b"__CURSOR=s=4\n_HOSTNAME=gpu01\nSYSLOG_IDENTIFIER=rci-energy\n");
        export.extend_from_slice(format!("MESSAGE={REC}\n\n").as_bytes());
        export.extend_from_slice(b"__CURSOR=s=5\nSYSLOG_IDENTIFIER=rci-energy\nMESSAGE\n");
        export.extend_from_slice(&(REC.len() as u64).to_le_bytes());
        export.extend_from_slice(REC.as_bytes());
        export.extend_from_slice(b"\nPRIORITY=6\n\n__CURSOR=s=6\nMESSAGE=other\n\n");
        let input = format!("{json_line}\n{other}\n{bytes}\n");
        let mut all = input.into_bytes();
        all.extend_from_slice(&export);
        assert_eq!(
            items(&all),
            vec![
                Ok(REC.into()),
                Err(2),
                Ok(REC.into()),
                Ok(REC.into()),
                Ok(REC.into()),
                Err(14)
            ]
        );
        let mut r = RecordReader::new(&all[..]);
        while r.next_item().unwrap().is_some() {}
        assert_eq!(r.offset(), all.len() as u64);
    }

    #[test]
    fn an_export_cut_inside_a_binary_length_is_unterminated_not_an_error() {
        // Fuzz-found: `journalctl -o export` output cut after a binary field's name (a file
        // copied while written) made the whole report fail with an I/O error.
        let input = b"_X=1\nMESSAGE\n\x05\x00";
        for mut r in [
            RecordReader::new(&input[..]),
            RecordReader::whole(&input[..]),
        ] {
            assert_eq!(r.next_item().unwrap(), Some(Item::Unterminated { line: 1 }));
        }
    }

    #[test]
    fn an_unterminated_last_line_is_not_consumed() {
        let input = format!("{REC}\n{REC}");
        let mut r = RecordReader::new(input.as_bytes());
        assert!(matches!(r.next_item().unwrap(), Some(Item::Record { .. })));
        assert_eq!(r.next_item().unwrap(), Some(Item::Unterminated { line: 2 }));
        assert_eq!(r.offset(), REC.len() as u64 + 1);
    }
}
