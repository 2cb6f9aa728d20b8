//! `rci report --format html` and `rci report --idle-gpus`: what a summary table cannot show.
//!
//! The HTML page is one self-contained file: inline CSS and SVG, no script, no font, no image
//! from anywhere (cluster networks are closed; the Content-Security-Policy forbids loading
//! anything). It prints to PDF from a browser (`@media print`). Charts: kWh, CO2 and cost per
//! month stacked by the `--by` key, GPU-hours by partition and by GPU model, top users, idle
//! GPU-hours per user; then the same table as `--format table` (each cell also carries the
//! exact figure of `--format json` in `data-value`), the assumptions and the period.
//!
//! Idle GPUs: a GPU of a version 2 record whose mean SM utilisation is below the threshold
//! (`--below`, default 5 %) was held but idle; its GPU-hours are the record's `elapsed_s` / 3600.
//! GPUs without usage figures (version 1 records, NVML without utilisation) are never idle.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::PathBuf;

use serde::Deserialize;

use super::summary::*;
use super::{table_cells, COLUMNS};
use crate::energy::collected::{Item, RecordReader};
use crate::energy::record::{parse_utc, SCHEMA_NAME};

/// The default `--below`: a GPU busy less than this (mean SM %) was idle.
pub const DEFAULT_IDLE_BELOW_PCT: f64 = 5.0;

#[derive(Deserialize)]
struct GpuLine<'a> {
    index: u32,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct UsageLine {
    index: u32,
    sm_util_mean_pct: f64,
    #[serde(default)]
    memory_used_max_mib: Option<u64>,
}

#[derive(Deserialize)]
struct AttributionLine<'a> {
    #[serde(borrow)]
    method: Cow<'a, str>,
}

#[derive(Deserialize)]
struct PriceLine<'a> {
    amount: f64,
    #[serde(borrow)]
    currency: Cow<'a, str>,
    energy_price_per_kwh: f64,
    cpu_hour_price: f64,
    gpu_hour_price: f64,
}

/// The fields the charts and the idle list read.
#[derive(Deserialize)]
struct DetailLine<'a> {
    #[serde(borrow)]
    schema: Cow<'a, str>,
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
    elapsed_s: u64,
    gpu_hours: f64,
    kwh: f64,
    facility_kwh: f64,
    co2_g: f64,
    #[serde(borrow)]
    cost: PriceLine<'a>,
    pue: f64,
    carbon_intensity_g_per_kwh: f64,
    #[serde(borrow)]
    attribution: AttributionLine<'a>,
    #[serde(borrow, default)]
    gpus: Vec<GpuLine<'a>>,
    #[serde(default)]
    gpu_usage: Vec<UsageLine>,
}

/// One record with idle GPUs.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleRecord {
    pub job_id: u32,
    pub user: String,
    pub account: String,
    pub node: String,
    pub end: String,
    /// GPUs held on the node.
    pub gpus: usize,
    /// Of them, idle.
    pub idle_gpus: usize,
    /// Mean SM utilisation of the idle GPUs, percent.
    pub idle_sm_mean_pct: f64,
    /// Highest memory used on an idle GPU, MiB.
    pub idle_memory_max_mib: Option<u64>,
    pub idle_gpu_hours: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Triple {
    kwh: f64,
    co2_kg: f64,
    cost: f64,
}

/// What the charts show, summed over the selected records.
#[derive(Debug, Default)]
pub struct Details {
    /// month → group key → sums.
    by_month: BTreeMap<String, HashMap<String, Triple>>,
    keys: BTreeSet<String>,
    gpu_hours_by_partition: BTreeMap<String, f64>,
    gpu_hours_by_model: BTreeMap<String, f64>,
    /// user → (kWh, cost, GPU-hours).
    users: BTreeMap<String, (f64, f64, f64)>,
    idle_by_user: BTreeMap<String, f64>,
    /// Records with idle GPUs, in input order.
    pub idle: Vec<IdleRecord>,
    /// (PUE, intensity, energy price, CPU-hour price, GPU-hour price, currency, method) seen.
    assumptions: BTreeSet<String>,
    first_end: Option<String>,
    last_end: Option<String>,
    records: u64,
    facility_kwh: f64,
}

/// `+` for `fold(0.0, add)`: `Iterator::sum` of no floats is -0.0, printed "-0.00".
fn add(a: f64, b: f64) -> f64 {
    a + b
}

fn key_of<'a>(by: GroupBy, r: &'a DetailLine<'_>) -> &'a str {
    let k: &str = match by {
        GroupBy::User => &r.user,
        GroupBy::Account => &r.account,
        GroupBy::Partition => &r.partition,
        GroupBy::Node => &r.node,
        GroupBy::Month => r.end.get(0..7).unwrap_or(""),
    };
    if k.is_empty() {
        "(none)"
    } else {
        k
    }
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "(none)".to_owned()
    } else {
        s.to_owned()
    }
}

impl Details {
    fn add(&mut self, by: GroupBy, r: &DetailLine<'_>, below: f64) {
        self.records += 1;
        self.facility_kwh += r.facility_kwh;
        let month = r.end.get(0..7).unwrap_or("?").to_owned();
        let key = key_of(by, r).to_owned();
        let t = self
            .by_month
            .entry(month)
            .or_default()
            .entry(key.clone())
            .or_default();
        t.kwh += r.kwh;
        t.co2_kg += r.co2_g / 1000.0;
        t.cost += r.cost.amount;
        self.keys.insert(key);
        if r.gpu_hours > 0.0 {
            *self
                .gpu_hours_by_partition
                .entry(or_none(&r.partition))
                .or_default() += r.gpu_hours;
        }
        let per_gpu = r.elapsed_s as f64 / 3600.0;
        for g in &r.gpus {
            let model = g.model.as_deref().unwrap_or("unknown").to_owned();
            *self.gpu_hours_by_model.entry(model).or_default() += per_gpu;
        }
        let u = self.users.entry(or_none(&r.user)).or_default();
        u.0 += r.kwh;
        u.1 += r.cost.amount;
        u.2 += r.gpu_hours;
        let held: BTreeSet<u32> = r.gpus.iter().map(|g| g.index).collect();
        let idle: Vec<&UsageLine> = r
            .gpu_usage
            .iter()
            .filter(|u| held.contains(&u.index) && u.sm_util_mean_pct < below)
            .collect();
        if !idle.is_empty() {
            let hours = per_gpu * idle.len() as f64;
            *self.idle_by_user.entry(or_none(&r.user)).or_default() += hours;
            self.idle.push(IdleRecord {
                job_id: r.job_id,
                user: r.user.to_string(),
                account: r.account.to_string(),
                node: r.node.to_string(),
                end: r.end.to_string(),
                gpus: r.gpus.len(),
                idle_gpus: idle.len(),
                idle_sm_mean_pct: idle.iter().map(|u| u.sm_util_mean_pct).fold(0.0, add)
                    / idle.len() as f64,
                idle_memory_max_mib: idle.iter().filter_map(|u| u.memory_used_max_mib).max(),
                idle_gpu_hours: hours,
            });
        }
        self.assumptions.insert(format!(
            "PUE {} · {} g CO2e/kWh · {} {}/kWh · {} {}/CPU-hour · {} {}/GPU-hour · CPU energy: {}",
            r.pue,
            r.carbon_intensity_g_per_kwh,
            r.cost.energy_price_per_kwh,
            r.cost.currency,
            r.cost.cpu_hour_price,
            r.cost.currency,
            r.cost.gpu_hour_price,
            r.cost.currency,
            r.attribution.method
        ));
        let end = r.end.to_string();
        if self.first_end.as_ref().is_none_or(|f| &end < f) {
            self.first_end = Some(end.clone());
        }
        if self.last_end.as_ref().is_none_or(|l| &end > l) {
            self.last_end = Some(end);
        }
    }

    /// Reads the records of `reader` (other lines and malformed records are skipped: the
    /// summary read before counts them).
    pub fn read<R: BufRead>(
        &mut self,
        reader: R,
        by: GroupBy,
        since: Option<i64>,
        until: Option<i64>,
        below: f64,
    ) -> std::io::Result<()> {
        let mut records = RecordReader::whole(reader);
        while let Some(item) = records.next_item()? {
            let Item::Record { json, .. } = item else {
                continue;
            };
            let Ok(r) = serde_json::from_slice::<DetailLine<'_>>(json) else {
                continue;
            };
            if r.schema != SCHEMA_NAME {
                continue;
            }
            if since.is_some() || until.is_some() {
                let Some(end) = parse_utc(&r.end) else {
                    continue;
                };
                if since.is_some_and(|s| end < s) || until.is_some_and(|u| end >= u) {
                    continue;
                }
            }
            self.add(by, &r, below);
        }
        Ok(())
    }
}

/// Reads the details of every file.
pub fn details(
    files: &[PathBuf],
    by: GroupBy,
    since: Option<i64>,
    until: Option<i64>,
    below: f64,
) -> Result<Details, String> {
    let mut d = Details::default();
    for path in files {
        let show = path.display().to_string();
        let reader = open_input(path).map_err(|e| format!("cannot open {show}: {e}"))?;
        d.read(reader, by, since, until, below)
            .map_err(|e| format!("cannot read {show}: {e}"))?;
    }
    Ok(d)
}

/// `--idle-gpus` as a table or JSON.
pub fn render_idle(d: &Details, below: f64, json: bool) -> String {
    if json {
        let rows: Vec<serde_json::Value> = d
            .idle
            .iter()
            .map(|i| {
                serde_json::json!({
                    "job_id": i.job_id, "user": i.user, "account": i.account, "node": i.node,
                    "end": i.end, "gpus": i.gpus, "idle_gpus": i.idle_gpus,
                    "idle_sm_util_mean_pct": i.idle_sm_mean_pct,
                    "idle_memory_used_max_mib": i.idle_memory_max_mib,
                    "idle_gpu_hours": i.idle_gpu_hours,
                })
            })
            .collect();
        let total = d.idle.iter().map(|i| i.idle_gpu_hours).fold(0.0, add);
        let doc = serde_json::json!({
            "below_pct": below,
            "records": rows,
            "idle_gpu_hours_by_user": d.idle_by_user,
            "idle_gpu_hours": total,
        });
        let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
        s.push('\n');
        return s;
    }
    let mut rows = vec![[
        "JOB",
        "USER",
        "ACCOUNT",
        "NODE",
        "END",
        "IDLE/GPUS",
        "SM_MEAN_%",
        "MEM_MAX_MIB",
        "IDLE_GPU_HOURS",
    ]
    .map(String::from)];
    for i in &d.idle {
        rows.push([
            i.job_id.to_string(),
            super::printable(&i.user).into_owned(),
            super::printable(&i.account).into_owned(),
            super::printable(&i.node).into_owned(),
            i.end.clone(),
            format!("{}/{}", i.idle_gpus, i.gpus),
            format!("{:.1}", i.idle_sm_mean_pct),
            i.idle_memory_max_mib
                .map_or_else(|| "-".to_owned(), |m| m.to_string()),
            format!("{:.2}", i.idle_gpu_hours),
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            let w = widths[c];
            if c > 0 {
                line.push_str("  ");
            }
            if (1..5).contains(&c) {
                let _ = write!(line, "{cell:<w$}");
            } else {
                let _ = write!(line, "{cell:>w$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let total = d.idle.iter().map(|i| i.idle_gpu_hours).fold(0.0, add);
    let _ = writeln!(
        out,
        "{} record(s) with GPUs below {below} % mean SM utilisation, {total:.2} idle GPU-hours",
        d.idle.len()
    );
    out
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in super::printable(s).chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// A value axis whose grid lines fall on round numbers (1, 2, 2.5 or 5 times a power of ten),
/// as a reader expects: 0, 10, 20, 30, 40, 50 rather than quarters of the largest bar.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    step: f64,
    /// Grid lines above zero; the last one is at or above the largest value.
    steps: u32,
    /// Decimals that show every label exactly.
    decimals: usize,
}

impl Axis {
    /// At most five steps from 0 to at least `max` (1 when there is nothing to show).
    fn up_to(max: f64) -> Axis {
        let max = if max.is_finite() && max > 0.0 {
            max
        } else {
            1.0
        };
        let raw = max / 5.0;
        let exp = raw.log10().floor();
        let magnitude = 10f64.powf(exp);
        // The second figure: decimals a step of this multiple needs beyond the power of ten.
        let (mult, extra) = [(1.0, 0.0), (2.0, 0.0), (2.5, 1.0), (5.0, 0.0), (10.0, -1.0)]
            .into_iter()
            .find(|&(m, _)| m * magnitude >= raw * (1.0 - 1e-9))
            .unwrap_or((10.0, -1.0));
        let step = mult * magnitude;
        // Float division of an exact multiple may land just above it: 1e-9 keeps 40/10 at 4.
        let steps = ((max / step) * (1.0 - 1e-9)).ceil().clamp(1.0, 10.0) as u32;
        let decimals = (extra - exp).max(0.0) as usize;
        Axis {
            step,
            steps,
            decimals,
        }
    }

    fn top(&self) -> f64 {
        self.step * f64::from(self.steps)
    }

    fn label(&self, k: u32) -> String {
        format!("{:.*}", self.decimals, self.step * f64::from(k))
    }
}

/// A stacked vertical bar chart: one bar per category, one segment per series.
fn stacked_bars(title: &str, unit: &str, cats: &[String], series: &[(String, Vec<f64>)]) -> String {
    let (w, h, left, bottom, top) = (720.0, 300.0, 70.0, 40.0, 20.0);
    let totals: Vec<f64> = (0..cats.len())
        .map(|i| {
            series
                .iter()
                .map(|s| s.1.get(i).copied().unwrap_or(0.0))
                .fold(0.0, add)
        })
        .collect();
    let axis = Axis::up_to(totals.iter().copied().fold(0.0, f64::max));
    let max = axis.top();
    let plot_h = h - bottom - top;
    let slot = (w - left - 10.0) / cats.len().max(1) as f64;
    let bar = (slot * 0.7).min(60.0);
    let mut s = format!(
        "<figure><figcaption>{}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    for k in 0..=axis.steps {
        let y = top + plot_h - plot_h * f64::from(k) / f64::from(axis.steps);
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" class=\"grid\"/><text x=\"{}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            w - 10.0,
            left - 6.0,
            y + 4.0,
            axis.label(k)
        );
    }
    for (i, cat) in cats.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = top + plot_h;
        for (si, (name, values)) in series.iter().enumerate() {
            let v = values.get(i).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let bh = plot_h * v / max;
            y -= bh;
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{} {}: {} {}</title></rect>",
                PALETTE[si % PALETTE.len()],
                esc(cat),
                esc(name),
                short(v),
                esc(unit)
            );
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
            x + bar / 2.0,
            h - bottom + 16.0,
            esc(cat)
        );
    }
    let _ = write!(
        s,
        "<text x=\"12\" y=\"{:.1}\" class=\"unit\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text></svg>",
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        esc(unit)
    );
    s.push_str("<div class=\"legend\">");
    for (si, (name, _)) in series.iter().enumerate() {
        let _ = write!(
            s,
            "<span><i style=\"background:{}\"></i>{}</span>",
            PALETTE[si % PALETTE.len()],
            esc(name)
        );
    }
    s.push_str("</div></figure>\n");
    s
}

/// A horizontal bar chart of labelled values.
fn hbars(title: &str, unit: &str, items: &[(String, f64)]) -> String {
    let row = 22.0;
    let (w, left) = (720.0, 180.0);
    let h = 20.0 + row * items.len().max(1) as f64;
    let max = items.iter().map(|i| i.1).fold(0.0, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let mut s = format!(
        "<figure><figcaption>{}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    if items.is_empty() {
        s.push_str("<text x=\"10\" y=\"24\" class=\"tick\">none</text>");
    }
    for (i, (label, v)) in items.iter().enumerate() {
        let y = 10.0 + row * i as f64;
        let bw = (w - left - 110.0) * v / max;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text><rect x=\"{left}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\">{} {}</text>",
            left - 6.0,
            y + 14.0,
            esc(label),
            row - 6.0,
            PALETTE[i % PALETTE.len()],
            left + bw + 6.0,
            y + 14.0,
            short(*v),
            esc(unit)
        );
    }
    s.push_str("</svg></figure>\n");
    s
}

fn short(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

const TOP_USERS: usize = 10;
const MAX_SERIES: usize = 9;

const CSS: &str = "body{font:14px/1.4 sans-serif;margin:2em auto;max-width:60em;color:#222}\
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}\
figure{margin:1em 0;break-inside:avoid;page-break-inside:avoid}figcaption{font-weight:bold}\
svg{width:100%;height:auto}.grid{stroke:#ddd}.tick{font-size:11px;fill:#333}.unit{font-size:12px;fill:#333}\
.legend span{margin-right:1em;white-space:nowrap}.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.1em}\
table{border-collapse:collapse;break-inside:avoid}td,th{padding:.2em .6em;border-bottom:1px solid #ddd}\
td.n{text-align:right;font-variant-numeric:tabular-nums}tr.total td{font-weight:bold;border-top:2px solid #888}\
@media print{body{margin:0;max-width:none}h2{break-after:avoid}}";

/// The HTML page.
pub fn render_html(
    summary: &Summary,
    d: &Details,
    by: GroupBy,
    since: Option<i64>,
    until: Option<i64>,
    below: f64,
) -> String {
    use crate::energy::record::rfc3339_utc;
    let mut h = String::with_capacity(64 * 1024);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    h.push_str("<title>rci report</title><style>");
    h.push_str(CSS);
    h.push_str("</style></head><body>\n<h1>Energy, CO2 and cost of jobs</h1>\n");
    let period = match (since, until) {
        (None, None) => match (&d.first_end, &d.last_end) {
            (Some(f), Some(l)) => format!("jobs that ended from {f} to {l} (all records read)"),
            _ => "no records".to_owned(),
        },
        (s, u) => format!(
            "jobs that ended from {} to before {}",
            s.map_or_else(|| "the first record".to_owned(), rfc3339_utc),
            u.map_or_else(|| "the last record".to_owned(), rfc3339_utc)
        ),
    };
    let _ = writeln!(
        h,
        "<p id=\"period\">Period: {}. {} jobs, {} records, grouped by {}.</p>",
        esc(&period),
        summary.total.jobs,
        summary.total.records,
        by.name()
    );

    // Stacked monthly charts, the largest groups as their own series, the rest as "other".
    let months: Vec<String> = d.by_month.keys().cloned().collect();
    let mut key_weight: Vec<(String, f64)> = d
        .keys
        .iter()
        .map(|k| {
            let w = d
                .by_month
                .values()
                .filter_map(|m| m.get(k))
                .map(|t| t.kwh)
                .fold(0.0, add);
            (k.clone(), w)
        })
        .collect();
    key_weight.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let named: Vec<String> = key_weight
        .iter()
        .take(if key_weight.len() > MAX_SERIES + 1 {
            MAX_SERIES
        } else {
            key_weight.len()
        })
        .map(|k| k.0.clone())
        .collect();
    let has_other = named.len() < key_weight.len();
    let series = |pick: fn(&Triple) -> f64| -> Vec<(String, Vec<f64>)> {
        let mut out: Vec<(String, Vec<f64>)> = named
            .iter()
            .map(|k| {
                let v = months
                    .iter()
                    .map(|m| d.by_month[m].get(k).map_or(0.0, pick))
                    .collect();
                (k.clone(), v)
            })
            .collect();
        if has_other {
            let v = months
                .iter()
                .map(|m| {
                    d.by_month[m]
                        .iter()
                        .filter(|(k, _)| !named.contains(k))
                        .map(|(_, t)| pick(t))
                        .fold(0.0, add)
                })
                .collect();
            out.push(("other".to_owned(), v));
        }
        out
    };
    let currency = esc(&summary.total.currency);
    h.push_str("<h2>Per month</h2>\n");
    h.push_str(&stacked_bars(
        &format!("IT energy per month by {}", by.name()),
        "kWh",
        &months,
        &series(|t| t.kwh),
    ));
    h.push_str(&stacked_bars(
        &format!("CO2e per month by {}", by.name()),
        "kg CO2e",
        &months,
        &series(|t| t.co2_kg),
    ));
    h.push_str(&stacked_bars(
        &format!("Cost per month by {}", by.name()),
        &summary.total.currency,
        &months,
        &series(|t| t.cost),
    ));
    h.push_str("<h2>GPUs</h2>\n");
    let part: Vec<(String, f64)> = d
        .gpu_hours_by_partition
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    h.push_str(&hbars("GPU-hours by partition", "GPU-h", &part));
    let models: Vec<(String, f64)> = d
        .gpu_hours_by_model
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    h.push_str(&hbars("GPU-hours by GPU model", "GPU-h", &models));
    let mut idle: Vec<(String, f64)> = d
        .idle_by_user
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    idle.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    h.push_str(&hbars(
        &format!("Idle GPU-hours per user (GPUs held below {below} % mean SM utilisation)"),
        "GPU-h",
        &idle,
    ));
    h.push_str("<h2>Top users</h2>\n");
    let mut users: Vec<(String, f64)> = d.users.iter().map(|(k, v)| (k.clone(), v.0)).collect();
    users.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    users.truncate(TOP_USERS);
    h.push_str(&hbars("Top users by IT energy", "kWh", &users));
    let mut by_cost: Vec<(String, f64)> = d.users.iter().map(|(k, v)| (k.clone(), v.1)).collect();
    by_cost.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    by_cost.truncate(TOP_USERS);
    h.push_str(&hbars(
        "Top users by cost",
        &summary.total.currency,
        &by_cost,
    ));

    // The table of `--format table`, with the exact JSON figures in data-value.
    let _ = writeln!(
        h,
        "<h2>Totals by {}</h2>\n<table id=\"totals\"><thead><tr><th>{}</th>",
        by.name(),
        by.name()
    );
    for c in COLUMNS {
        let _ = write!(h, "<th>{c}</th>");
    }
    h.push_str("</tr></thead><tbody>\n");
    let row = |h: &mut String, key: &str, t: &Totals, class: &str| {
        let exact = [
            t.jobs as f64,
            t.records as f64,
            t.cpu_hours,
            t.gpu_hours,
            t.kwh,
            t.facility_kwh,
            t.co2_g / 1000.0,
            t.cost,
        ];
        let _ = write!(
            h,
            "<tr class=\"{class}\" data-key=\"{}\"><td>{}</td>",
            esc(key),
            esc(key)
        );
        for (i, cell) in table_cells(t).iter().enumerate() {
            match exact.get(i) {
                Some(v) => {
                    let _ = write!(
                        h,
                        "<td class=\"n\" data-col=\"{}\" data-value=\"{v:?}\">{}</td>",
                        COLUMNS[i],
                        esc(cell)
                    );
                }
                None => {
                    let _ = write!(h, "<td data-col=\"{}\">{}</td>", COLUMNS[i], esc(cell));
                }
            }
        }
        h.push_str("</tr>\n");
    };
    for (key, t) in summary.groups() {
        row(&mut h, key, t, "group");
    }
    row(&mut h, "TOTAL", &summary.total, "total");
    h.push_str("</tbody></table>\n");

    h.push_str("<h2>Assumptions</h2>\n<ul id=\"assumptions\">");
    for a in &d.assumptions {
        let _ = write!(h, "<li>{}</li>", esc(a));
    }
    h.push_str(
        "</ul>\n<p>Method: energy is measured per job and node by rci's SPANK plugin: \
        CPU packages and DRAM from RAPL (attributed to the job by its share of the node's CPUs \
        unless the node is exclusive), each GPU from NVML's energy counter. IT energy (kWh) \
        × PUE = facility energy; CO2e = facility energy × carbon intensity; cost = facility \
        energy × energy price + CPU-hours × CPU-hour price + GPU-hours × GPU-hour price. \
        Each record keeps the figures it was computed with.</p>\n",
    );
    let _ = writeln!(
        h,
        "<p class=\"foot\">{} records, {:.3} facility kWh, currency {currency}. Written by rci report.</p>",
        d.records, d.facility_kwh
    );
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::Axis;

    fn labels(max: f64) -> Vec<String> {
        let a = Axis::up_to(max);
        (0..=a.steps).map(|k| a.label(k)).collect()
    }

    #[test]
    fn axis_grid_lines_fall_on_round_numbers_above_the_largest_value() {
        assert_eq!(labels(44.25), ["0", "10", "20", "30", "40", "50"]);
        assert_eq!(labels(40.0), ["0", "10", "20", "30", "40"]);
        assert_eq!(labels(23.01), ["0", "5", "10", "15", "20", "25"]);
        assert_eq!(labels(9.0), ["0", "2", "4", "6", "8", "10"]);
        assert_eq!(labels(11.0), ["0.0", "2.5", "5.0", "7.5", "10.0", "12.5"]);
        assert_eq!(labels(0.8), ["0.0", "0.2", "0.4", "0.6", "0.8"]);
        assert_eq!(labels(0.013), ["0.000", "0.005", "0.010", "0.015"]);
        assert_eq!(labels(1234.0), ["0", "250", "500", "750", "1000", "1250"]);
        assert_eq!(
            labels(4.8e6),
            ["0", "1000000", "2000000", "3000000", "4000000", "5000000"]
        );
        assert_eq!(labels(0.0), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!(labels(f64::NAN), labels(0.0));
    }

    #[test]
    fn axis_covers_every_value_in_at_most_five_steps() {
        let mut v = 1e-6;
        while v < 1e12 {
            let a = Axis::up_to(v);
            assert!(a.top() >= v * (1.0 - 1e-9), "{v}: {a:?}");
            assert!((2..=5).contains(&a.steps), "{v}: {a:?}");
            assert!(a.top() <= v * 1.41, "{v}: {a:?} wastes the chart");
            let last = a.label(a.steps);
            let shown = last.parse::<f64>().unwrap();
            assert!(
                (shown - a.top()).abs() <= a.top() * 1e-9,
                "{v}: {a:?} label {last}"
            );
            v *= 1.37;
        }
    }
}
