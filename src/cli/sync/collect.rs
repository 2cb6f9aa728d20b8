//! Reading energy records where they are collected (spool directories, files a central syslog
//! writes) and summing each job over its nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::summary::JobSummary;
use crate::energy::collected::{Item, RecordReader};
use crate::energy::record::{EnergySource, Record, SCHEMA_NAME};

/// One job's records seen so far, and what was written for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    pub summary: JobSummary,
    /// `node@start` of every record counted (the same record may be in a spool and a syslog
    /// file, or read again after a crash).
    pub records: BTreeSet<String>,
    /// End of its latest record, unix seconds (for pruning).
    pub end_unix: i64,
    /// The token last confirmed in slurmdbd (written, or found there).
    pub synced: Option<String>,
    /// Runs that did not find the job in slurmdbd.
    pub attempts: u32,
    /// Reported as not matchable (after too many attempts).
    pub given_up: bool,
}

/// Where reading a file stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMark {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
}

/// `cluster/job_id`.
pub fn job_key(cluster: &str, job_id: u32) -> String {
    format!("{cluster}/{job_id}")
}

/// Adds `record` to `job`; false when it was counted before.
pub fn add_record(job: &mut JobState, record: &Record) -> bool {
    let key = format!("{}@{}", record.node, record.start);
    if !job.records.insert(key) {
        return false;
    }
    let s = &mut job.summary;
    s.kwh += record.kwh;
    s.facility_kwh += record.facility_kwh;
    s.co2_g += record.co2_g;
    s.cost += record.cost.amount;
    s.currency.clone_from(&record.cost.currency);
    s.cpu_hours += record.cpu_hours;
    s.gpu_hours += record.gpu_hours;
    s.nodes += 1;
    s.pue = record.pue;
    s.carbon_intensity_g_per_kwh = record.carbon_intensity_g_per_kwh;
    s.energy_price_per_kwh = record.cost.energy_price_per_kwh;
    for d in &record.energy {
        let Some(j) = d.joules else {
            if d.in_total {
                s.missing.push(format!("{}@{}", d.domain, record.node));
            }
            continue;
        };
        if !d.in_total {
            continue;
        }
        match d.source {
            EnergySource::Rapl => {
                let attributed = j * record.attribution.share;
                s.cpu_kwh += attributed / 3.6e6;
                s.joules += attributed;
            }
            EnergySource::Nvml => {
                s.gpu_kwh += j / 3.6e6;
                s.joules += j;
                let model = d
                    .domain
                    .strip_prefix("gpu-")
                    .and_then(|i| i.parse::<u32>().ok())
                    .and_then(|i| record.gpus.iter().find(|g| g.index == i))
                    .and_then(|g| g.model.as_deref())
                    .unwrap_or("unknown")
                    .to_ascii_lowercase();
                *s.gpu_kwh_by_model.entry(model).or_insert(0.0) += j / 3.6e6;
            }
        }
    }
    s.missing.sort();
    s.missing.dedup();
    if let Some(end) = crate::energy::record::parse_utc(&record.end) {
        job.end_unix = job.end_unix.max(end);
    }
    true
}

/// A record in one line of a spool file (the line itself) or of a syslog file (after the
/// `rci-energy` tag, whatever prefix rsyslog put before it).
pub fn record_in_line(line: &str) -> Option<Record> {
    let mut reader = RecordReader::whole(line.as_bytes());
    match reader.next_item().ok()?? {
        Item::Record { json, .. } => parse_record(json),
        _ => None,
    }
}

fn parse_record(json: &[u8]) -> Option<Record> {
    let record: Record = serde_json::from_slice(json).ok()?;
    (record.schema == SCHEMA_NAME).then_some(record)
}

/// Reads the new part of `path` (after `mark`, or all of it when the file was replaced or
/// shrank), calling `each` per record; returns the new mark and the number of lines that were
/// not records (other syslog lines are expected; in a spool file they are reported).
pub fn read_new(
    path: &Path,
    mark: Option<&FileMark>,
    mut each: impl FnMut(Record),
) -> Result<(FileMark, u64), String> {
    let show = path.display();
    let mut file = File::open(path).map_err(|e| format!("cannot open {show}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot stat {show}: {e}"))?;
    let start = match mark {
        Some(m) if m.dev == meta.dev() && m.ino == meta.ino() && m.offset <= meta.len() => m.offset,
        _ => 0,
    };
    file.seek(SeekFrom::Start(start))
        .map_err(|e| format!("cannot seek {show}: {e}"))?;
    let mut reader = RecordReader::new(BufReader::with_capacity(1 << 20, file));
    let mut skipped = 0;
    while let Some(item) = reader
        .next_item()
        .map_err(|e| format!("cannot read {show}: {e}"))?
    {
        match item {
            Item::Record { json, .. } => match parse_record(json) {
                Some(record) => each(record),
                None => skipped += 1,
            },
            Item::Other { .. } => skipped += 1,
            // Being written: read it next time.
            Item::Unterminated { .. } => break,
        }
    }
    Ok((
        FileMark {
            dev: meta.dev(),
            ino: meta.ino(),
            offset: start + reader.offset(),
        },
        skipped,
    ))
}

/// The files of the inputs: a directory's `*.jsonl` (spool) files, other paths as they are.
pub fn input_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    crate::cli::report::expand_inputs(inputs)
}

/// Jobs by key.
pub type Jobs = BTreeMap<String, JobState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_found_in_spool_and_syslog_lines() {
        let line = crate::energy::record::tests::example()
            .to_json_line()
            .unwrap();
        assert!(record_in_line(&line).is_some());
        for prefix in [
            "Dec  2 04:22:56 gpu01 rci-energy[4242]: ",
            "<134>1 2026-12-02T04:22:56Z gpu01 rci-energy 4242 - - ",
            "2026-12-02T04:22:56+00:00 gpu01 rci-energy: ",
        ] {
            let got = record_in_line(&format!("{prefix}{line}"));
            assert!(got.is_some(), "{prefix}");
        }
        assert!(record_in_line("Dec  2 04:22:56 gpu01 sshd[1]: hello").is_none());
        assert!(record_in_line("rci-energy[x]: {}").is_none());
    }
}
