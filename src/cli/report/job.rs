//! `rci report --job`: one job's records, found and shown whole.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::Value;

use super::summary::*;
use crate::energy::collected::{Item, RecordReader};

/// One matching record for `--job`, with where it came from.
#[derive(Debug)]
pub struct FoundRecord {
    /// `file:line`.
    pub location: String,
    /// The whole record.
    pub record: Value,
}

/// Finds the records of one job. Malformed lines are counted like in a summary.
pub fn find_job(
    files: &[PathBuf],
    selector: JobSelector,
    malformed: &mut u64,
) -> Result<Vec<FoundRecord>, String> {
    let mut found = Vec::new();
    for path in files {
        let show = path.display().to_string();
        let reader = open_input(path).map_err(|e| format!("cannot open {show}: {e}"))?;
        let mut records = RecordReader::whole(reader);
        while let Some(item) = records
            .next_item()
            .map_err(|e| format!("cannot read {show}: {e}"))?
        {
            let Item::Record {
                json: line,
                line: line_no,
            } = item
            else {
                continue;
            };
            match serde_json::from_slice::<JobLine>(line) {
                Ok(ids) if selector.matches(&ids) => {
                    if let Ok(record) = serde_json::from_slice::<Value>(line) {
                        found.push(FoundRecord {
                            location: format!("{show}:{line_no}"),
                            record,
                        });
                    }
                }
                Ok(_) => {}
                Err(_) => *malformed += 1,
            }
        }
    }
    Ok(found)
}

pub(crate) fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, sub) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, sub, out);
            }
        }
        Value::Array(items) if items.is_empty() => out.push((prefix.to_owned(), "[]".into())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                // Energy domains are easier to read by name than by position.
                let label = match item.get("domain").and_then(Value::as_str) {
                    Some(d) => format!("{prefix}.{d}"),
                    None => format!("{prefix}[{i}]"),
                };
                match item {
                    Value::Object(map) => {
                        for (k, sub) in map.iter().filter(|(k, _)| k.as_str() != "domain") {
                            flatten(&format!("{label}.{k}"), sub, out);
                        }
                    }
                    other => flatten(&label, other, out),
                }
            }
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        Value::Null => out.push((prefix.to_owned(), "-".into())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// One record as aligned `key  value` lines.
pub fn render_record(record: &Value) -> String {
    let mut pairs = Vec::new();
    flatten("", record, &mut pairs);
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let _ = writeln!(out, "{k:<width$}  {}", super::printable(&v));
    }
    out
}

pub(crate) const USAGE: &str = "\
usage: rci report [FILE|DIR|-]... --by user|account|partition|month|node
                  [--since DATE] [--until DATE] [--format table|csv|json|html]
       rci report --idle-gpus [--below PCT] [FILE|DIR|-]... [--format table|json]
       rci report --job ID[_TASK|+OFFSET] [FILE|DIR|-]... [--format table|json]

Sums the per-job energy records of the given files (spool files, files a syslog
daemon wrote, journalctl -o json/export output), of the *.jsonl files in the
given directories, or of the default spool directory; other lines are skipped.
--format html writes one self-contained page with charts (--by defaults to account).
--idle-gpus lists records whose GPUs had a mean SM utilisation below PCT
(default 5) and their GPU-hours (schema version 2 records only).
--since/--until select records whose end time is in [since, until);
DATE is YYYY-MM-DD, YYYY-MM or YYYY-MM-DDTHH:MM:SS[Z] (UTC).
";
