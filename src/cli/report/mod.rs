//! `rci report`: totals over energy records, or one job's records.
//!
//! ```text
//! rci report [FILE|DIR|-]... --by user|account|partition|month|node
//!            [--since DATE] [--until DATE] [--format table|csv|json|html]
//! rci report --idle-gpus [--below PCT] [FILE|DIR|-]... [--since DATE] [--until DATE]
//!            [--format table|json]
//! rci report --job ID [FILE|DIR|-]... [--format table|json]
//! ```
//! Inputs are spool files, files a central syslog daemon wrote and journald exports
//! ([`crate::energy::collected`]; directories are scanned for `*.jsonl`, `-` is stdin; with no
//! input, the default spool directory); lines that are not records are skipped. Lines are streamed: one reused buffer, and only the
//! fields a summary needs are parsed, borrowing strings from the buffer. Memory grows only with
//! the number of groups and of distinct jobs (8-12 bytes per job, to count a job that ran on
//! several nodes, and so has several records, once).
//!
//! - `--since`/`--until` select records by their **end** time: `since <= end < until`. DATE is
//!   `YYYY-MM-DD`, `YYYY-MM` or `YYYY-MM-DDTHH:MM:SS[Z]`, UTC.
//! - `month` groups by the month of the end time.
//! - Lines that are not valid records are skipped, counted, and reported on stderr.
//! - `--job ID` matches `job_id`, `array_job_id` or `het_job_id` = ID; `ID_T` an array task;
//!   `ID+O` a het-job component. It prints every matching record (one per node).

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::PathBuf;

use serde_json::Value;

use crate::energy::record::parse_utc;
use crate::energy::DEFAULT_SPOOL_DIR;

mod html;
mod job;
pub mod summary;

pub use html::*;

pub use job::*;
pub use summary::*;

fn table_cells(t: &Totals) -> [String; 9] {
    [
        t.jobs.to_string(),
        t.records.to_string(),
        format!("{:.2}", t.cpu_hours),
        format!("{:.2}", t.gpu_hours),
        format!("{:.3}", t.kwh),
        format!("{:.3}", t.facility_kwh),
        format!("{:.3}", t.co2_g / 1000.0),
        format!("{:.2}", t.cost),
        t.currency.clone(),
    ]
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn json_totals(key_name: &str, key: &str, t: &Totals) -> Value {
    serde_json::json!({
        key_name: key,
        "jobs": t.jobs,
        "records": t.records,
        "cpu_hours": t.cpu_hours,
        "gpu_hours": t.gpu_hours,
        "kwh": t.kwh,
        "facility_kwh": t.facility_kwh,
        "co2_kg": t.co2_g / 1000.0,
        "cost": t.cost,
        "currency": t.currency,
    })
}

/// `text` for a terminal: control characters (newlines, escape sequences) and invisible
/// formatting characters (bidirectional overrides, zero-width spaces) written as `\n`,
/// `\u{202e}`…, so that a name a user chose (a job name, an account in a record) can never add
/// or disguise a row. CSV and JSON keep the exact text.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
    };
    if !text.chars().any(invisible) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if invisible(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Renders a summary in `format`.
pub fn render(summary: &Summary, by: GroupBy, format: Format) -> String {
    let groups = summary.groups();
    let mut out = String::new();
    match format {
        Format::Table => {
            let mut rows: Vec<Vec<String>> = Vec::with_capacity(groups.len() + 2);
            let mut header = vec![by.name().to_ascii_uppercase()];
            header.extend(COLUMNS.iter().map(|c| c.to_ascii_uppercase()));
            rows.push(header);
            for (key, t) in &groups {
                let mut row = vec![printable(key).into_owned()];
                row.extend(table_cells(t));
                rows.push(row);
            }
            let mut total = vec!["TOTAL".to_owned()];
            total.extend(table_cells(&summary.total));
            rows.push(total);
            let ncols = COLUMNS.len() + 1;
            let widths: Vec<usize> = (0..ncols)
                .map(|c| {
                    rows.iter()
                        .filter_map(|r| r.get(c))
                        .map(|s| s.chars().count())
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            for row in &rows {
                let mut line = String::new();
                for (c, (cell, w)) in row.iter().zip(&widths).enumerate() {
                    if c > 0 {
                        line.push_str("  ");
                    }
                    // Key and currency left-aligned, numbers right-aligned.
                    if c == 0 || c == ncols - 1 {
                        let _ = write!(line, "{cell:<w$}");
                    } else {
                        let _ = write!(line, "{cell:>w$}");
                    }
                }
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        Format::Csv => {
            out.push_str(by.name());
            for c in COLUMNS {
                out.push(',');
                out.push_str(c);
            }
            out.push('\n');
            for (key, t) in &groups {
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{}",
                    csv_field(key),
                    t.jobs,
                    t.records,
                    t.cpu_hours,
                    t.gpu_hours,
                    t.kwh,
                    t.facility_kwh,
                    t.co2_g / 1000.0,
                    t.cost,
                    csv_field(&t.currency)
                );
            }
        }
        Format::Html => {
            out = render_html(
                summary,
                &Details::default(),
                by,
                None,
                None,
                DEFAULT_IDLE_BELOW_PCT,
            );
        }
        Format::Json => {
            let doc = serde_json::json!({
                "by": by.name(),
                "groups": groups.iter().map(|(k, t)| json_totals(by.name(), k, t)).collect::<Vec<_>>(),
                "total": json_totals(by.name(), "TOTAL", &summary.total),
                "malformed_lines": summary.malformed,
            });
            out = serde_json::to_string_pretty(&doc).unwrap_or_default();
            out.push('\n');
        }
    }
    out
}

#[derive(Debug, PartialEq)]
struct Options {
    inputs: Vec<PathBuf>,
    by: Option<GroupBy>,
    job: Option<JobSelector>,
    since: Option<i64>,
    until: Option<i64>,
    format: Format,
    help: bool,
    /// Read the summaries `rci sync` wrote into slurmdbd instead of records.
    from_sacct: bool,
    /// List records whose GPUs were held but idle.
    idle_gpus: bool,
    /// Mean SM utilisation below which a GPU counts as idle, percent.
    below: f64,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        inputs: Vec::new(),
        by: None,
        job: None,
        since: None,
        until: None,
        format: Format::Table,
        help: false,
        from_sacct: false,
        idle_gpus: false,
        below: DEFAULT_IDLE_BELOW_PCT,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{what} needs a value")),
            }
        };
        match name {
            "-h" | "--help" => o.help = true,
            "--from-sacct" => o.from_sacct = true,
            "--idle-gpus" => o.idle_gpus = true,
            "--below" => {
                let v = value("--below")?;
                o.below = v
                    .parse::<f64>()
                    .ok()
                    .filter(|b| b.is_finite() && *b >= 0.0)
                    .ok_or_else(|| format!("bad --below percentage {v:?}"))?;
            }
            "--by" => {
                let v = value("--by")?;
                o.by = Some(GroupBy::parse(&v).ok_or_else(|| format!("unknown --by {v:?}"))?);
            }
            "--job" | "-j" => {
                let v = value("--job")?;
                o.job = Some(JobSelector::parse(&v).ok_or_else(|| format!("bad job id {v:?}"))?);
            }
            "--since" => {
                let v = value("--since")?;
                o.since = Some(parse_utc(&v).ok_or_else(|| format!("bad --since date {v:?}"))?);
            }
            "--until" => {
                let v = value("--until")?;
                o.until = Some(parse_utc(&v).ok_or_else(|| format!("bad --until date {v:?}"))?);
            }
            "--format" => {
                let v = value("--format")?;
                o.format = match v.as_str() {
                    "table" => Format::Table,
                    "csv" => Format::Csv,
                    "json" => Format::Json,
                    "html" => Format::Html,
                    _ => return Err(format!("unknown --format {v:?}")),
                };
            }
            "--" => o.inputs.extend(it.by_ref().map(PathBuf::from)),
            s if s.starts_with('-') && s != "-" => return Err(format!("unknown option {s}")),
            s => o.inputs.push(PathBuf::from(s)),
        }
    }
    if o.idle_gpus {
        if o.by.is_some() || o.job.is_some() {
            return Err("--idle-gpus excludes --by and --job".into());
        }
        if matches!(o.format, Format::Csv | Format::Html) {
            return Err("--idle-gpus prints a table or json".into());
        }
    } else if !o.help {
        match (o.by, o.job) {
            // The page's charts are stacked by account unless --by says otherwise.
            (None, None) if o.format == Format::Html => o.by = Some(GroupBy::Account),
            (None, None) => return Err("give --by KEY or --job ID".into()),
            (Some(_), Some(_)) => return Err("--by and --job exclude each other".into()),
            _ => {}
        }
    }
    Ok(o)
}

fn report_malformed(count: u64, examples: &[String], err: &mut dyn Write) {
    if count > 0 {
        let _ = writeln!(err, "rci report: skipped {count} malformed line(s)");
        for e in examples {
            let _ = writeln!(err, "  {e}");
        }
    }
}

/// Runs `rci report` with `args` (the words after `report`), writing to `out` and `err`.
/// Returns the exit status: 0 done, 1 an input could not be read or the job was not found,
/// 2 usage error.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let o = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            let _ = write!(err, "rci report: {e}\n{USAGE}");
            return 2;
        }
    };
    if o.help {
        let _ = out.write_all(USAGE.as_bytes());
        return 0;
    }
    if o.from_sacct {
        return report_from_sacct(&o, out, err);
    }
    let inputs = if o.inputs.is_empty() {
        vec![PathBuf::from(DEFAULT_SPOOL_DIR)]
    } else {
        o.inputs
    };
    let files = match expand_inputs(&inputs) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "rci report: {e}");
            return 1;
        }
    };
    if o.idle_gpus {
        return match details(&files, GroupBy::User, o.since, o.until, o.below) {
            Ok(d) => {
                let text = render_idle(&d, o.below, o.format == Format::Json);
                let _ = out.write_all(text.as_bytes());
                0
            }
            Err(e) => {
                let _ = writeln!(err, "rci report: {e}");
                1
            }
        };
    }
    if let Some(selector) = o.job {
        let mut malformed = 0;
        let found = match find_job(&files, selector, &mut malformed) {
            Ok(f) => f,
            Err(e) => {
                let _ = writeln!(err, "rci report: {e}");
                return 1;
            }
        };
        report_malformed(malformed, &[], err);
        if found.is_empty() {
            let _ = writeln!(err, "rci report: no record for job {}", args_job(args));
            return 1;
        }
        let text = match o.format {
            Format::Json => {
                let all: Vec<&Value> = found.iter().map(|f| &f.record).collect();
                let mut s = serde_json::to_string_pretty(&all).unwrap_or_default();
                s.push('\n');
                s
            }
            Format::Table | Format::Csv | Format::Html => {
                let mut s = String::new();
                for (i, f) in found.iter().enumerate() {
                    if i > 0 {
                        s.push('\n');
                    }
                    let _ = writeln!(s, "# {}", f.location);
                    s.push_str(&render_record(&f.record));
                }
                s
            }
        };
        let _ = out.write_all(text.as_bytes());
        return 0;
    }
    let by = o.by.unwrap_or(GroupBy::User);
    match summarize(&files, by, o.since, o.until) {
        Ok(summary) => {
            report_malformed(summary.malformed, &summary.malformed_examples, err);
            let text = if o.format == Format::Html {
                match details(&files, by, o.since, o.until, o.below) {
                    Ok(d) => render_html(&summary, &d, by, o.since, o.until, o.below),
                    Err(e) => {
                        let _ = writeln!(err, "rci report: {e}");
                        return 1;
                    }
                }
            } else {
                render(&summary, by, o.format)
            };
            let _ = out.write_all(text.as_bytes());
            0
        }
        Err(e) => {
            let _ = writeln!(err, "rci report: {e}");
            1
        }
    }
}

/// `rci report --from-sacct`: the same tables from what `rci sync` wrote into slurmdbd.
fn report_from_sacct(o: &Options, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let by = o.by.unwrap_or(GroupBy::User);
    if o.job.is_some() || by == GroupBy::Node || !o.inputs.is_empty() {
        let _ = writeln!(
            err,
            "rci report: --from-sacct sums whole jobs: no --job, --by node or input files"
        );
        return 2;
    }
    let (lines, without) = match crate::cli::sync::from_sacct::summary_lines(o.since, o.until) {
        Ok(found) => found,
        Err(e) => {
            let _ = writeln!(err, "rci report: {e}");
            return 1;
        }
    };
    if without > 0 {
        let _ = writeln!(
            err,
            "rci report: {without} job(s) in that period have no rci summary (not synced yet?)"
        );
    }
    let mut summary = Summary::default();
    if let Err(e) = summary.read(lines.as_bytes(), "sacct", by, o.since, o.until) {
        let _ = writeln!(err, "rci report: {e}");
        return 1;
    }
    let _ = out.write_all(render(&summary, by, o.format).as_bytes());
    0
}

fn args_job(args: &[String]) -> String {
    args.iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix("--job=") {
            Some(v) => Some(v.to_owned()),
            None if a == "--job" || a == "-j" => args.get(i + 1).cloned(),
            None => None,
        })
        .unwrap_or_default()
}

/// Entry point for `rci report ARGS...`: stdout/stderr, returns the exit status.
pub fn cli_main(args: &[String]) -> i32 {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let rc = run(args, &mut out, &mut io::stderr());
    if out.flush().is_err() {
        return 1;
    }
    rc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::record::{rfc3339_utc, tests::example, Record};
    use std::fs;
    use std::path::Path;

    fn rec(job: u32, user: &str, account: &str, node: &str, end: i64, kwh: f64) -> Record {
        let mut r = example();
        r.job_id = job;
        r.user = user.into();
        r.account = account.into();
        r.node = node.into();
        r.end = rfc3339_utc(end);
        r.kwh = kwh;
        r.facility_kwh = kwh * 2.0;
        r.co2_g = kwh * 100.0;
        r.cpu_hours = 10.0;
        r.gpu_hours = 1.0;
        r.cost.amount = kwh;
        r
    }

    const JAN: i64 = 1_704_067_200; // 2024-01-01
    const FEB: i64 = 1_706_745_600; // 2024-02-01

    fn write(dir: &Path, name: &str, records: &[Record], extra: &str) -> PathBuf {
        let mut text = String::new();
        for r in records {
            text.push_str(&r.to_json_line().unwrap());
            text.push('\n');
        }
        text.push_str(extra);
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        p
    }

    fn fixture() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("spool");
        fs::create_dir(&dir).unwrap();
        write(
            &dir,
            "rci-energy-n1-2024-01.jsonl",
            &[
                rec(1, "alice", "phys", "n1", JAN + 10, 1.0),
                rec(2, "bob", "chem", "n1", JAN + 20, 2.0),
                // Job 3 ran on two nodes: two records, one job.
                rec(3, "alice", "phys", "n1", FEB + 5, 4.0),
            ],
            "not json\n\n{\"schema\":\"other\"}\n",
        );
        write(
            &dir,
            "rci-energy-n2-2024-02.jsonl",
            &[rec(3, "alice", "phys", "n2", FEB + 5, 8.0)],
            "",
        );
        fs::write(dir.join("ignored.txt"), "junk").unwrap();
        (tmp, dir)
    }

    fn group<'a>(s: &'a Summary, key: &str) -> &'a Totals {
        s.groups().into_iter().find(|(k, _)| *k == key).unwrap().1
    }

    #[test]
    fn totals_by_user_count_multi_node_jobs_once() {
        let (_tmp, dir) = fixture();
        let files = expand_inputs(&[dir]).unwrap();
        assert_eq!(files.len(), 2);
        let s = summarize(&files, GroupBy::User, None, None).unwrap();
        assert_eq!(s.lines, 6);
        // "not json" is another program's line (as in a syslog file): skipped, not malformed.
        assert_eq!((s.malformed, s.other_lines), (1, 1));
        assert_eq!(s.malformed_examples.len(), 1);
        assert!(
            s.malformed_examples[0].ends_with(":6: not an rci.job-energy record")
                || s.malformed_examples[0].contains(":6: missing field"),
            "{:?}",
            s.malformed_examples
        );
        let alice = group(&s, "alice");
        assert_eq!((alice.jobs, alice.records), (2, 3));
        assert_eq!(alice.kwh, 13.0);
        assert_eq!(alice.facility_kwh, 26.0);
        assert_eq!(alice.co2_g, 1300.0);
        assert_eq!(alice.cpu_hours, 30.0);
        assert_eq!(alice.gpu_hours, 3.0);
        assert_eq!(alice.cost, 13.0);
        assert_eq!(alice.currency, "EUR");
        assert_eq!(group(&s, "bob").kwh, 2.0);
        assert_eq!((s.total.jobs, s.total.records, s.total.kwh), (3, 4, 15.0));
    }

    #[test]
    fn totals_by_node_month_and_account() {
        let (_tmp, dir) = fixture();
        let files = expand_inputs(&[dir]).unwrap();
        let s = summarize(&files, GroupBy::Node, None, None).unwrap();
        assert_eq!(group(&s, "n1").jobs, 3);
        assert_eq!(group(&s, "n2").jobs, 1);
        assert_eq!(s.total.jobs, 3, "job 3 counts once in the total");
        let s = summarize(&files, GroupBy::Month, None, None).unwrap();
        assert_eq!(group(&s, "2024-01").kwh, 3.0);
        assert_eq!(group(&s, "2024-02").kwh, 12.0);
        let s = summarize(&files, GroupBy::Account, None, None).unwrap();
        assert_eq!(group(&s, "phys").kwh, 13.0);
        assert_eq!(group(&s, "chem").kwh, 2.0);
    }

    #[test]
    fn since_and_until_select_by_end_time() {
        let (_tmp, dir) = fixture();
        let files = expand_inputs(&[dir]).unwrap();
        let s = summarize(&files, GroupBy::User, Some(FEB), None).unwrap();
        assert_eq!(s.total.kwh, 12.0);
        let s = summarize(&files, GroupBy::User, None, Some(FEB)).unwrap();
        assert_eq!(s.total.kwh, 3.0);
        let s = summarize(&files, GroupBy::User, Some(JAN + 20), Some(JAN + 21)).unwrap();
        assert_eq!(s.total.kwh, 2.0);
    }

    #[test]
    fn mixed_currencies_are_flagged() {
        let tmp = tempfile::tempdir().unwrap();
        let mut r2 = rec(2, "u", "a", "n", JAN, 1.0);
        r2.cost.currency = "USD".into();
        let p = write(
            tmp.path(),
            "x.jsonl",
            &[rec(1, "u", "a", "n", JAN, 1.0), r2],
            "",
        );
        let s = summarize(&[p], GroupBy::User, None, None).unwrap();
        assert_eq!(group(&s, "u").currency, "mixed");
    }

    #[test]
    fn table_cells_escape_what_could_forge_a_row() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "rci-energy-n1-2024-01.jsonl",
            &[
                rec(1, "alice", "physics\nTOTAL  999", "n1", JAN + 10, 1.0),
                rec(2, "bob", "che\u{202e}mistry", "n1", JAN + 20, 1.0),
            ],
            "",
        );
        let files = expand_inputs(&[tmp.path().to_path_buf()]).unwrap();
        let s = summarize(&files, GroupBy::Account, None, None).unwrap();
        let table = render(&s, GroupBy::Account, Format::Table);
        assert_eq!(table.lines().count(), 4, "{table}");
        assert!(table.contains("physics\\nTOTAL  999"), "{table}");
        assert!(table.contains("che\\u{202e}mistry"), "{table}");
        let csv = render(&s, GroupBy::Account, Format::Csv);
        assert!(csv.contains("\"physics\nTOTAL  999\""), "{csv}");
    }

    #[test]
    fn renders_table_csv_and_json() {
        let (_tmp, dir) = fixture();
        let files = expand_inputs(&[dir]).unwrap();
        let s = summarize(&files, GroupBy::User, None, None).unwrap();
        let table = render(&s, GroupBy::User, Format::Table);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("USER "));
        assert!(lines[1].starts_with("alice "));
        assert!(lines[1].contains("13.000"));
        assert!(lines[3].starts_with("TOTAL"));
        let csv = render(&s, GroupBy::User, Format::Csv);
        assert_eq!(
            csv.lines().next().unwrap(),
            "user,jobs,records,cpu_hours,gpu_hours,kwh,facility_kwh,co2_kg,cost,currency"
        );
        assert_eq!(
            csv.lines().nth(1).unwrap(),
            "alice,2,3,30,3,13,26,1.3,13,EUR"
        );
        let json: Value = serde_json::from_str(&render(&s, GroupBy::User, Format::Json)).unwrap();
        assert_eq!(json["groups"][1]["user"], "bob");
        assert_eq!(json["total"]["kwh"], 15.0);
        assert_eq!(json["malformed_lines"], 1);
    }

    fn run_args(args: &[&str]) -> (i32, String, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let rc = run(&args, &mut out, &mut err);
        (
            rc,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn cli_by_user_reports_malformed_on_stderr() {
        let (_tmp, dir) = fixture();
        let d = dir.to_str().unwrap();
        let (rc, out, err) = run_args(&[d, "--by", "user", "--format=csv"]);
        assert_eq!(rc, 0, "{err}");
        assert!(out.contains("bob,1,1,"));
        assert!(err.contains("skipped 1 malformed line(s)"), "{err}");
    }

    #[test]
    fn cli_html_without_by_groups_by_account_and_no_idle_gpus_is_zero_not_minus_zero() {
        let (_tmp, dir) = fixture();
        let d = dir.to_str().unwrap();
        let (rc, out, err) = run_args(&[d, "--format", "html"]);
        assert_eq!(rc, 0, "{err}");
        assert!(out.starts_with("<!DOCTYPE html>"), "{out:.80}");
        assert_eq!(out, run_args(&[d, "--format", "html", "--by", "account"]).1);
        // The fixture's records are schema v1: nothing is known to be idle.
        let (rc, out, _) = run_args(&[d, "--idle-gpus"]);
        assert_eq!(rc, 0);
        assert!(out.contains(" 0.00 idle GPU-hours"), "{out}");
        assert!(!out.contains("-0.00"), "{out}");
    }

    #[test]
    fn cli_job_prints_every_node_record() {
        let (_tmp, dir) = fixture();
        let d = dir.to_str().unwrap();
        let (rc, out, _) = run_args(&["--job", "3", d]);
        assert_eq!(rc, 0);
        assert_eq!(
            out.matches("\n# ").count() + usize::from(out.starts_with("# ")),
            2
        );
        assert!(out
            .lines()
            .any(|l| l.starts_with("node ") && l.ends_with("n2")));
        assert!(out
            .lines()
            .any(|l| l.starts_with("energy.cpu-package-0.joules ")));
        let (rc, out, _) = run_args(&["--job=3", "--format", "json", d]);
        assert_eq!(rc, 0);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        let (rc, _, err) = run_args(&["--job", "99", d]);
        assert_eq!(rc, 1);
        assert!(err.contains("no record for job 99"));
        // The example record is array task 4200_42.
        let (rc, out, _) = run_args(&["--job", "4200_42", d]);
        assert_eq!(rc, 0);
        assert!(out.contains("job_id"));
    }

    #[test]
    fn cli_usage_errors() {
        assert_eq!(run_args(&[]).0, 2);
        assert_eq!(run_args(&["--by", "colour"]).0, 2);
        assert_eq!(run_args(&["--by", "user", "--job", "1"]).0, 2);
        assert_eq!(run_args(&["--by", "user", "--since", "yesterday"]).0, 2);
        assert_eq!(run_args(&["--by"]).0, 2);
        assert_eq!(run_args(&["--by", "user", "--bogus"]).0, 2);
        let (rc, out, _) = run_args(&["--help"]);
        assert_eq!(rc, 0);
        assert!(out.starts_with("usage: rci report"));
        assert_eq!(run_args(&["--by", "user", "/nonexistent/file.jsonl"]).0, 1);
    }

    #[test]
    fn job_selectors() {
        assert_eq!(JobSelector::parse("12"), Some(JobSelector::Any(12)));
        assert_eq!(
            JobSelector::parse("12_3"),
            Some(JobSelector::ArrayTask(12, 3))
        );
        assert_eq!(
            JobSelector::parse("12+1"),
            Some(JobSelector::HetComponent(12, 1))
        );
        assert_eq!(JobSelector::parse("x"), None);
        assert_eq!(JobSelector::parse("12_"), None);
    }
}
