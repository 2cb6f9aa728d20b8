//! Streaming records into totals: inputs, the fields a summary needs, groups.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::energy::collected::{Item, RecordReader};
use crate::energy::record::{parse_utc, SCHEMA_NAME};

/// What to group totals by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// Job owner.
    User,
    /// Slurm account.
    Account,
    /// Slurm partition.
    Partition,
    /// Month of the job's end (`YYYY-MM`).
    Month,
    /// Node the record was measured on.
    Node,
}

impl GroupBy {
    pub(crate) fn parse(s: &str) -> Option<GroupBy> {
        Some(match s {
            "user" => GroupBy::User,
            "account" => GroupBy::Account,
            "partition" => GroupBy::Partition,
            "month" => GroupBy::Month,
            "node" => GroupBy::Node,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            GroupBy::User => "user",
            GroupBy::Account => "account",
            GroupBy::Partition => "partition",
            GroupBy::Month => "month",
            GroupBy::Node => "node",
        }
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// Comma-separated with a header line, full precision.
    Csv,
    /// One JSON document.
    Json,
    /// One self-contained HTML page with charts (see [`super::html`]).
    Html,
}

/// Sums over a group of records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Distinct jobs (a job on several nodes counts once).
    pub jobs: u64,
    /// Records (one per job per node).
    pub records: u64,
    /// CPU-hours.
    pub cpu_hours: f64,
    /// GPU-hours.
    pub gpu_hours: f64,
    /// IT energy, kWh.
    pub kwh: f64,
    /// Facility energy, kWh.
    pub facility_kwh: f64,
    /// CO2e, grams.
    pub co2_g: f64,
    /// Cost.
    pub cost: f64,
    /// The records' currency; `"mixed"` when they differ.
    pub currency: String,
}

/// The fields a summary reads; everything else in the line is skipped unparsed into values.
#[derive(Deserialize)]
pub(crate) struct SummaryLine<'a> {
    #[serde(borrow)]
    schema: Cow<'a, str>,
    #[serde(borrow)]
    cluster: Cow<'a, str>,
    job_id: u32,
    #[serde(borrow)]
    user: Cow<'a, str>,
    #[serde(borrow)]
    account: Cow<'a, str>,
    #[serde(borrow)]
    partition: Cow<'a, str>,
    #[serde(borrow)]
    node: Cow<'a, str>,
    #[serde(borrow)]
    end: Cow<'a, str>,
    cpu_hours: f64,
    gpu_hours: f64,
    kwh: f64,
    facility_kwh: f64,
    co2_g: f64,
    #[serde(borrow)]
    cost: CostLine<'a>,
}

#[derive(Deserialize)]
pub(crate) struct CostLine<'a> {
    amount: f64,
    #[serde(borrow)]
    currency: Cow<'a, str>,
}

/// The fields `--job` matches on.
#[derive(Deserialize)]
pub(crate) struct JobLine {
    job_id: u32,
    array_job_id: Option<u32>,
    array_task_id: Option<u32>,
    het_job_id: Option<u32>,
    het_job_offset: Option<u32>,
}

/// Which records `--job` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobSelector {
    /// `ID`: job id, array master id or het leader id.
    Any(u32),
    /// `ID_T`: one array task.
    ArrayTask(u32, u32),
    /// `ID+O`: one het-job component.
    HetComponent(u32, u32),
}

impl JobSelector {
    /// Parses `123`, `123_4` or `123+1`.
    pub fn parse(s: &str) -> Option<JobSelector> {
        if let Some((a, b)) = s.split_once('_') {
            return Some(JobSelector::ArrayTask(a.parse().ok()?, b.parse().ok()?));
        }
        if let Some((a, b)) = s.split_once('+') {
            return Some(JobSelector::HetComponent(a.parse().ok()?, b.parse().ok()?));
        }
        Some(JobSelector::Any(s.parse().ok()?))
    }

    pub(crate) fn matches(self, l: &JobLine) -> bool {
        match self {
            JobSelector::Any(id) => {
                l.job_id == id || l.array_job_id == Some(id) || l.het_job_id == Some(id)
            }
            JobSelector::ArrayTask(id, t) => {
                l.array_job_id == Some(id) && l.array_task_id == Some(t)
            }
            JobSelector::HetComponent(id, o) => {
                l.het_job_id == Some(id) && l.het_job_offset == Some(o)
            }
        }
    }
}

/// How many malformed-line examples to keep for stderr.
pub(crate) const MALFORMED_EXAMPLES: usize = 3;

/// The result of summarising inputs.
#[derive(Debug, Default)]
pub struct Summary {
    /// Totals per group key, unsorted.
    groups: Vec<(String, Totals)>,
    index: HashMap<String, usize>,
    clusters: Vec<String>,
    /// (group, cluster, job) already counted in a group.
    seen_in_group: HashSet<(u32, u32, u32)>,
    /// (cluster, job) already counted in the total.
    seen_total: HashSet<(u32, u32)>,
    /// Totals over every selected record.
    pub total: Totals,
    /// Non-empty lines read.
    pub lines: u64,
    /// Lines skipped as malformed.
    pub malformed: u64,
    /// Lines (or journal entries) that are not records: other programs' syslog lines.
    pub other_lines: u64,
    /// `source:line: error` of the first few malformed lines.
    pub malformed_examples: Vec<String>,
}

pub(crate) fn add(t: &mut Totals, rec: &SummaryLine<'_>, new_job: bool) {
    t.jobs += u64::from(new_job);
    t.records += 1;
    t.cpu_hours += rec.cpu_hours;
    t.gpu_hours += rec.gpu_hours;
    t.kwh += rec.kwh;
    t.facility_kwh += rec.facility_kwh;
    t.co2_g += rec.co2_g;
    t.cost += rec.cost.amount;
    if t.currency.is_empty() {
        t.currency = rec.cost.currency.to_string();
    } else if t.currency != rec.cost.currency {
        t.currency = "mixed".to_owned();
    }
}

impl Summary {
    /// Groups sorted by key.
    pub fn groups(&self) -> Vec<(&str, &Totals)> {
        let mut v: Vec<(&str, &Totals)> =
            self.groups.iter().map(|(k, t)| (k.as_str(), t)).collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }

    pub(crate) fn malformed_line(&mut self, source: &str, line_no: u64, why: &str) {
        self.malformed += 1;
        if self.malformed_examples.len() < MALFORMED_EXAMPLES {
            self.malformed_examples
                .push(format!("{source}:{line_no}: {why}"));
        }
    }

    pub(crate) fn cluster_index(&mut self, cluster: &str) -> u32 {
        let i = match self.clusters.iter().position(|c| c == cluster) {
            Some(i) => i,
            None => {
                self.clusters.push(cluster.to_owned());
                self.clusters.len() - 1
            }
        };
        u32::try_from(i).unwrap_or(u32::MAX)
    }

    pub(crate) fn add_record(&mut self, by: GroupBy, rec: &SummaryLine<'_>) {
        let key: &str = match by {
            GroupBy::User => &rec.user,
            GroupBy::Account => &rec.account,
            GroupBy::Partition => &rec.partition,
            GroupBy::Node => &rec.node,
            GroupBy::Month => rec.end.get(0..7).unwrap_or(""),
        };
        let key = if key.is_empty() { "(none)" } else { key };
        let gi = match self.index.get(key) {
            Some(&i) => i,
            None => {
                self.groups.push((key.to_owned(), Totals::default()));
                let i = self.groups.len() - 1;
                self.index.insert(key.to_owned(), i);
                i
            }
        };
        let ci = self.cluster_index(&rec.cluster);
        let g32 = u32::try_from(gi).unwrap_or(u32::MAX);
        let new_in_group = self.seen_in_group.insert((g32, ci, rec.job_id));
        let new_in_total = self.seen_total.insert((ci, rec.job_id));
        if let Some((_, t)) = self.groups.get_mut(gi) {
            add(t, rec, new_in_group);
        }
        add(&mut self.total, rec, new_in_total);
    }

    /// Reads records from `reader` (named `source` in messages) into the summary.
    pub fn read<R: BufRead>(
        &mut self,
        reader: R,
        source: &str,
        by: GroupBy,
        since: Option<i64>,
        until: Option<i64>,
    ) -> io::Result<()> {
        let mut records = RecordReader::whole(reader);
        while let Some(item) = records.next_item()? {
            self.lines += 1;
            let (line, line_no) = match item {
                Item::Record { json, line } => (json, line),
                Item::Other { .. } | Item::Unterminated { .. } => {
                    self.other_lines += 1;
                    continue;
                }
            };
            let rec: SummaryLine<'_> = match serde_json::from_slice(line) {
                Ok(r) => r,
                Err(e) => {
                    self.malformed_line(source, line_no, &e.to_string());
                    continue;
                }
            };
            if rec.schema != SCHEMA_NAME {
                self.malformed_line(source, line_no, "not an rci.job-energy record");
                continue;
            }
            if since.is_some() || until.is_some() {
                let Some(end) = parse_utc(&rec.end) else {
                    self.malformed_line(source, line_no, "bad end time");
                    continue;
                };
                if since.is_some_and(|s| end < s) || until.is_some_and(|u| end >= u) {
                    continue;
                }
            }
            self.add_record(by, &rec);
        }
        Ok(())
    }
}

/// Expands inputs: directories become their `*.jsonl` files (sorted), other paths stay.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for input in inputs {
        if input.as_os_str() != "-" && input.is_dir() {
            let entries = fs::read_dir(input)
                .map_err(|e| format!("cannot read directory {}: {e}", input.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl") && p.is_file())
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}

pub(crate) fn open_input(path: &Path) -> io::Result<Box<dyn BufRead>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(BufReader::with_capacity(1 << 20, io::stdin())))
    } else {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            File::open(path)?,
        )))
    }
}

/// Summarises every record in `files` (already expanded). Unreadable files are errors.
pub fn summarize(
    files: &[PathBuf],
    by: GroupBy,
    since: Option<i64>,
    until: Option<i64>,
) -> Result<Summary, String> {
    let mut summary = Summary::default();
    for path in files {
        let show = path.display().to_string();
        let reader = open_input(path).map_err(|e| format!("cannot open {show}: {e}"))?;
        summary
            .read(reader, &show, by, since, until)
            .map_err(|e| format!("cannot read {show}: {e}"))?;
    }
    Ok(summary)
}

pub(crate) const COLUMNS: [&str; 9] = [
    "jobs",
    "records",
    "cpu_hours",
    "gpu_hours",
    "kwh",
    "facility_kwh",
    "co2_kg",
    "cost",
    "currency",
];
