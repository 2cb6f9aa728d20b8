//! What each fuzz target checks, one function per parser of user- or admin-written text.
//!
//! Shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`, nightly) and by
//! `tests/fuzz_seeds.rs`, which runs every committed seed and every past crash through the same
//! checks on stable in `cargo test`, so a crash once found stays a regression test. Every check
//! takes raw bytes, must not panic, and asserts the properties a caller relies on.

use std::io::Cursor;

use rci::cli::report::summary::{GroupBy, Summary};
use rci::cli::sbatch_args::{
    build_requests, parse_explain_args, parse_sbatch_args, script_directives,
};
use rci::cli::sync::collect::record_in_line;
use rci::config::Config;
use rci::energy::record::Record;
use rci::energy::step_notes::{merge, parse_content, should_write};
use rci::gpu::{gres_conf, hostlist};
use rci::job::{JobRequest, TimeLimit};
use rci::kinds::ScriptPattern;
use rci::policy::classify::classify;
use rci::slurm_time::{format_limit, parse_time};
use rci::tres::gpu_request;

/// The targets, by name: the fuzz target, its seed directory and its regression directory
/// share this name.
/// A check: raw input bytes in, a panic when a property fails.
pub type Check = fn(&[u8]);

pub const TARGETS: &[(&str, Check)] = &[
    ("tres_parse", tres_parse),
    ("rci_conf", rci_conf),
    ("gres_conf", gres_conf),
    ("hostlist", hostlist),
    ("script_scan", script_scan),
    ("sbatch_args", sbatch_args),
    ("step_notes", step_notes),
    ("records", records),
    ("syslog_lines", syslog_lines),
];

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// TRES GPU requests (`gres/gpu:l40:2,...`) and Slurm time limits.
pub fn tres_parse(data: &[u8]) {
    let text = text(data);
    let whole = gpu_request(&text);
    // A list is the merge of its halves when split at a separator.
    if let Some((left, right)) = text.split_once(',') {
        assert_eq!(
            whole,
            gpu_request(left).merge(gpu_request(right)),
            "{text:?}"
        );
    }
    // Zero-only and absent requests never count as asking for GPUs.
    if !whole.mentions_gpus() {
        assert!(!whole.asks_for_gpus());
    }
    if let Ok(limit) = parse_time(&text) {
        assert_ne!(limit, TimeLimit::Unset);
        assert_eq!(parse_time(&format_limit(limit)), Ok(limit), "{text:?}");
    }
}

/// rci.conf, as slurmctld, slurmstepd and `rci check-config` parse it.
pub fn rci_conf(data: &[u8]) {
    let text = text(data);
    match Config::parse(&text, "fuzz.conf") {
        Ok(cfg) => {
            // A valid config classifies any request without panicking, the same way twice.
            let req = JobRequest {
                script: Some(text.clone().into_owned()),
                partition: Some("gpu".to_owned()),
                tres_per_node: Some("gres/gpu:1".to_owned()),
                ..JobRequest::default()
            };
            let first = classify(&cfg, &req).map(|c| c.kind);
            assert_eq!(first, classify(&cfg, &req).map(|c| c.kind));
        }
        Err(e) => {
            // Every error names the file, and the message is never empty.
            assert!(!e.issues.is_empty());
            for issue in &e.issues {
                assert_eq!(issue.path, "fuzz.conf");
            }
            assert!(!e.to_string().is_empty());
        }
    }
}

/// gres.conf, including `Include` loops (the included text is the same text again).
pub fn gres_conf(data: &[u8]) {
    let text = text(data);
    let parsed = gres_conf::parse(&text);
    let mut read_self = |_: &std::path::Path| Ok(text.clone().into_owned());
    let included =
        gres_conf::parse_with_includes(&text, std::path::Path::new("gres.conf"), &mut read_self);
    if let Ok(conf) = parsed.or(included) {
        for node in ["gpu01", "cpu01", "n1"] {
            let files = conf.gpu_files(node);
            assert!(conf.has_gpu_records(node) || files.is_empty());
            let _ = conf.autodetect(node);
        }
        let _ = conf.warnings();
    }
}

/// Hostlist expressions (`gpu[01-04,07]`, `/dev/nvidia[0-3]`).
pub fn hostlist(data: &[u8]) {
    let text = text(data);
    if let Ok(names) = hostlist::expand(&text) {
        assert!(names.len() <= hostlist::MAX_EXPANSION);
        // `contains` expands again: only for short lists, so big ranges do not slow the run.
        if names.len() > 256 {
            return;
        }
        if let (Some(first), Some(last)) = (names.first(), names.last()) {
            assert!(hostlist::contains(&text, first), "{text:?} lost {first:?}");
            assert!(hostlist::contains(&text, last), "{text:?} lost {last:?}");
        }
    }
}

/// Batch scripts scanned for job kinds by the built-in and configured rules.
pub fn script_scan(data: &[u8]) {
    let text = text(data);
    let cfg = Config::default();
    let req = JobRequest {
        script: Some(text.clone().into_owned()),
        ..JobRequest::default()
    };
    let kind = classify(&cfg, &req).map(|c| c.kind);
    assert_eq!(kind, classify(&cfg, &req).map(|c| c.kind));
    // The first line as an admin's Script= pattern, searched in the rest.
    if let Some((first, rest)) = text.split_once('\n') {
        if let Ok(pattern) = ScriptPattern::new(first) {
            if let Some(at) = pattern.find_in(rest) {
                assert!(at <= rest.len() && rest.is_char_boundary(at));
            }
        }
    }
}

/// sbatch/salloc command lines (NUL-separated words) and `#SBATCH` lines, as `rci explain` reads them.
pub fn sbatch_args(data: &[u8]) {
    let args: Vec<String> = data
        .split(|&b| b == 0)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let _ = parse_explain_args(&args);
    let text = text(data);
    let _ = script_directives(&text);
    if let Ok(line) = parse_sbatch_args(&args) {
        if let Ok(requests) = build_requests(&line, Some(&text), Some("alice"), 1000) {
            assert!(!requests.is_empty());
        }
    }
}

/// A job's step notes file, as the extern step reads it at the job's end.
pub fn step_notes(data: &[u8]) {
    let content = parse_content(data, 7, "notes");
    for note in &content.notes {
        assert_eq!(note.job_id, 7);
    }
    let _ = merge(&content.notes, false);
    let _ = merge(&content.notes, true);
    if let Some((last, earlier)) = content.notes.split_last() {
        let _ = should_write(last, earlier);
    }
}

/// Spool records as `rci report` summarises them, and each line as a typed record.
pub fn records(data: &[u8]) {
    for by in [GroupBy::User, GroupBy::Month] {
        let mut summary = Summary::default();
        let read = summary.read(Cursor::new(data), "fuzz", by, Some(0), Some(i64::MAX));
        assert!(read.is_ok());
        assert!(summary.malformed <= summary.lines);
    }
    for line in data.split(|&b| b == b'\n') {
        if let Ok(record) = serde_json::from_slice::<Record>(line) {
            if let Ok(json) = record.to_json_line() {
                let again: Record =
                    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
                assert_eq!(again.job_id, record.job_id);
            }
        }
    }
}

/// Lines of files written by a central syslog daemon, records found after `rci-energy:`.
pub fn syslog_lines(data: &[u8]) {
    for line in text(data).lines() {
        let _ = record_in_line(line);
    }
}
