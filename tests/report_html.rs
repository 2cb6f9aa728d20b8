//! `rci report --format html` in a real browser: Debian's `chromium`, headless, renders the
//! page to a PNG without a console message, and the figures in the page's table equal those of
//! `--format json`. Inputs mix schema version 1 and 2 records, a spool file and an rsyslog file.
//!
//! Without chromium the test says so and passes, except under `CI=true`, where it fails
//! (scripts/install-deps.sh installs chromium).

use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::process::Command;

fn rci() -> std::path::PathBuf {
    match std::env::var_os("RCI_CLI") {
        Some(path) => path.into(),
        None => env!("CARGO_BIN_EXE_rci").into(),
    }
}

fn record(job: u32, user: &str, account: &str, end: &str, kwh: f64, idle: bool, v1: bool) -> Value {
    let mut r = json!({
        "schema": "rci.job-energy", "schema_version": 2, "cluster": "hpc", "job_id": job,
        "array_job_id": null, "array_task_id": null, "het_job_id": null, "het_job_offset": null,
        "job_name": "train", "user": user, "uid": 1000 + job, "account": account,
        "partition": if job.is_multiple_of(2) { "gpu" } else { "l40" }, "qos": null, "node": "gpu01",
        "start": "2026-01-01T00:00:00Z", "end": end, "elapsed_s": 7200, "alloc_cpus": 8,
        "alloc_mem_mb": 0,
        "gpus": [{"index": 0, "uuid": "GPU-a", "model": if job.is_multiple_of(3) { "NVIDIA H100" } else { "NVIDIA L40" }}],
        "energy": [],
        "gpu_usage": [{"index": 0, "samples": 10, "sm_util_mean_pct": if idle { 0.0 } else { 88.5 },
            "sm_util_max_pct": if idle { 0 } else { 100 }, "mem_util_mean_pct": 1.0,
            "memory_used_max_mib": 500}],
        "attribution": {"method": "share", "share": 0.5},
        "cpu_hours": 16.0, "gpu_hours": 2.0, "kwh": kwh, "facility_kwh": kwh * 1.3,
        "co2_g": kwh * 1.3 * 400.0,
        "cost": {"currency": "EUR", "amount": kwh * 1.3 * 0.25 + 0.16 + 1.0,
            "energy_price_per_kwh": 0.25, "cpu_hour_price": 0.01, "gpu_hour_price": 0.5},
        "pue": 1.3, "carbon_intensity_g_per_kwh": 400.0, "exit_status": null
    });
    if v1 {
        r["schema_version"] = 1.into();
        r.as_object_mut().unwrap().remove("gpu_usage");
    }
    r
}

fn write_inputs(dir: &Path) {
    let mut spool = String::new();
    let users = ["alice", "bob", "carol", "dave"];
    let accounts = ["physics", "chemistry", "biology"];
    let months = [
        "2026-01-15T10:00:00Z",
        "2026-02-15T10:00:00Z",
        "2026-03-15T10:00:00Z",
    ];
    for job in 1..=24u32 {
        let r = record(
            job,
            users[job as usize % users.len()],
            accounts[job as usize % accounts.len()],
            months[job as usize % months.len()],
            0.5 + f64::from(job) * 0.37,
            job % 5 == 0,
            job % 4 == 0,
        );
        spool.push_str(&r.to_string());
        spool.push('\n');
    }
    fs::write(dir.join("rci-energy-gpu01-2026-01.jsonl"), spool).unwrap();
    // The same kind of records as a central rsyslog writes them, with other programs' lines.
    let r = record(
        99,
        "erin",
        "physics",
        "2026-03-20T10:00:00Z",
        3.25,
        true,
        false,
    );
    fs::write(
        dir.join("rci-energy-syslog.jsonl"),
        format!(
            "Mar 20 10:00:00 gpu02 systemd[1]: Started session.\n\
             Mar 20 10:00:01 gpu02 rci-energy[4242]: {r}\n"
        ),
    )
    .unwrap();
}

fn run_rci(args: &[&str]) -> String {
    let out = Command::new(rci())
        .arg("report")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rci report {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// The attribute `name="…"` of a tag's text.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let len = tag[at..].find('"')?;
    Some(&tag[at..at + len])
}

/// Console messages in chromium's log (a CSP violation, a failed load, a script error are
/// logged as CONSOLE or "Refused to").
fn console_messages(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Refused to"))
        .collect()
}

#[test]
fn html_report_renders_in_headless_chromium_with_the_json_figures() {
    let Some(browser) = chromium() else {
        let msg = "chromium is not installed (scripts/install-deps.sh installs it)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_inputs(dir);
    let input = dir.to_str().unwrap();
    let html = run_rci(&[input, "--by", "account", "--format", "html"]);
    let page = dir.join("report.html");
    fs::write(&page, &html).unwrap();
    assert!(
        !html.contains("http://") || !html.contains("src=\"http"),
        "nothing loaded"
    );
    assert!(html.contains("<svg"), "charts are inline SVG");
    assert!(
        html.contains("erin"),
        "the syslog file's record counts: {html}"
    );

    let png = dir.join("report.png");
    let profile = dir.join("profile");
    let base = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1000,3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    };
    let mut shot = Command::new(browser);
    base(&mut shot);
    shot.arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()));
    let out = shot.output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed: {log}");
    let meta = fs::metadata(&png).unwrap_or_else(|e| panic!("no PNG ({e}): {log}"));
    assert!(meta.len() > 10_000, "PNG of {} bytes", meta.len());
    assert_eq!(&fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    let console = console_messages(&log);
    assert!(console.is_empty(), "console messages: {console:#?}");
    if let Ok(keep) = std::env::var("RCI_HTML_EXAMPLE_PNG") {
        fs::copy(&png, keep).unwrap();
    }

    // Printed to PDF (what an accountant attaches to a monthly mail): a PDF of a few pages,
    // not one page per chart (figures are kept whole by `break-inside: avoid`), no console
    // messages.
    let pdf = dir.join("report.pdf");
    let mut print = Command::new(browser);
    base(&mut print);
    print
        .arg("--no-pdf-header-footer")
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()));
    let out = print.output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "chromium --print-to-pdf failed: {log}"
    );
    let bytes = fs::read(&pdf).unwrap_or_else(|e| panic!("no PDF ({e}): {log}"));
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    let text = String::from_utf8_lossy(&bytes);
    let pages = text.matches("/Type /Page").count() - text.matches("/Type /Pages").count();
    assert!((2..=5).contains(&pages), "{pages} PDF pages");
    let console = console_messages(&log);
    assert!(
        console.is_empty(),
        "console messages printing: {console:#?}"
    );

    // The page as the browser parsed it: every table cell equals the JSON output's figure.
    let mut dump = Command::new(browser);
    base(&mut dump);
    dump.arg("--dump-dom")
        .arg(format!("file://{}", page.display()));
    let out = dump.output().unwrap();
    assert!(out.status.success());
    let dom = String::from_utf8(out.stdout).unwrap();
    let json: Value =
        serde_json::from_str(&run_rci(&[input, "--by", "account", "--format", "json"])).unwrap();
    let mut rows = json["groups"].as_array().unwrap().clone();
    rows.push(json["total"].clone());
    let mut checked = 0;
    for row in &rows {
        let key = row["account"].as_str().unwrap();
        let start = dom
            .find(&format!("data-key=\"{key}\""))
            .unwrap_or_else(|| panic!("no row {key} in the page"));
        let end = start + dom[start..].find("</tr>").unwrap();
        let tr = &dom[start..end];
        for col in [
            "jobs",
            "records",
            "cpu_hours",
            "gpu_hours",
            "kwh",
            "facility_kwh",
            "co2_kg",
            "cost",
        ] {
            let at = tr
                .find(&format!("data-col=\"{col}\""))
                .unwrap_or_else(|| panic!("no {col} in row {key}"));
            let td_start = tr[..at].rfind("<td").unwrap();
            let td = &tr[td_start..];
            let value: f64 = attr(td, "data-value").unwrap().parse().unwrap();
            let expected = row[col].as_f64().unwrap();
            // serde_json's float parsing (without float_roundtrip) may be off by an ulp.
            assert!(
                (value - expected).abs() <= expected.abs() * 1e-12,
                "{key} {col}: {value} vs {expected}"
            );
            let text = &td[td.find('>').unwrap() + 1..td.find("</td>").unwrap()];
            let shown: f64 = text.parse().unwrap();
            let tolerance = if col == "jobs" || col == "records" {
                0.0
            } else {
                0.0051
            };
            assert!(
                (shown - expected).abs() <= tolerance,
                "{key} {col}: {text} vs {expected}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, rows.len() * 8);
    assert_eq!(
        json["total"]["records"], 25,
        "24 spool records and one from syslog"
    );
    // Idle GPU-hours per user are in the page: jobs 5, 10, 15, 20 (v1 job 20 has no usage) and 99.
    assert!(dom.contains("Idle GPU-hours per user"), "{dom}");
    let idle: Value =
        serde_json::from_str(&run_rci(&[input, "--idle-gpus", "--format", "json"])).unwrap();
    let jobs: Vec<u64> = idle["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["job_id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        jobs,
        vec![5, 10, 15, 99],
        "a version 1 record is never idle"
    );
    assert_eq!(idle["idle_gpu_hours"], 8.0);
}

#[test]
fn version_1_records_are_still_summarised() {
    let tmp = tempfile::tempdir().unwrap();
    let r1 = record(
        1,
        "alice",
        "physics",
        "2026-01-15T10:00:00Z",
        2.0,
        false,
        true,
    );
    let r2 = record(
        2,
        "alice",
        "physics",
        "2026-01-16T10:00:00Z",
        3.0,
        true,
        false,
    );
    let path = tmp.path().join("mixed.jsonl");
    fs::write(&path, format!("{r1}\n{r2}\n")).unwrap();
    let out = Command::new(rci())
        .args([
            "report",
            path.to_str().unwrap(),
            "--by",
            "user",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["total"]["records"], 2);
    assert_eq!(json["total"]["kwh"], 5.0);
    assert_eq!(json["malformed_lines"], 0);
}
