//! One doctor check (OK/WARN/FAIL with its reason and fix) and the list of them, printed as text
//! (one line each) or JSON.

use serde::Serialize;
use std::fmt::Write as _;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As rci needs it.
    Ok,
    /// Works, but something is degraded or worth a look (e.g. no RAPL in a VM).
    Warn,
    /// rci would act wrongly or not at all: exit code 1.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The part of the node checked: `config`, `gpu`, `nvml`, `rapl`, `spool`, `slurm`.
    pub area: &'static str,
    pub status: Status,
    /// What was found, and why it is a problem when it is one.
    pub message: String,
    /// What to do about a WARN or FAIL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(area: &'static str, message: impl Into<String>) -> Check {
        Check {
            area,
            status: Status::Ok,
            message: message.into(),
            fix: None,
        }
    }

    pub fn warn(area: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            area,
            status: Status::Warn,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn fail(area: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            area,
            status: Status::Fail,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Everything the doctor found on one node.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub node: String,
    pub checks: Vec<Check>,
}

impl Report {
    /// Number of checks with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The worst status found (OK for no checks).
    pub fn worst(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    /// One line per check (`STATUS area: message`), the fix indented under it, and a summary.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let _ = writeln!(
                out,
                "{:<4} {:<6} {}",
                c.status.label(),
                c.area,
                one_line(&c.message)
            );
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "            fix: {}", one_line(fix));
            }
        }
        let _ = writeln!(
            out,
            "rci doctor on {}: {} OK, {} WARN, {} FAIL",
            one_line(&self.node),
            self.count(Status::Ok),
            self.count(Status::Warn),
            self.count(Status::Fail)
        );
        out
    }

    /// The report as one JSON object (`node`, `checks`, `ok`/`warn`/`fail` counts).
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            node: &'a str,
            ok: usize,
            warn: usize,
            fail: usize,
            checks: &'a [Check],
        }
        serde_json::to_string_pretty(&Out {
            node: &self.node,
            ok: self.count(Status::Ok),
            warn: self.count(Status::Warn),
            fail: self.count(Status::Fail),
            checks: &self.checks,
        })
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Text that came from files or NVML, on one line with control characters escaped, so a
/// hostile or broken value cannot forge other lines of the report.
fn one_line(text: &str) -> String {
    text.chars()
        .flat_map(char::escape_debug)
        .collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_status_decides_and_text_is_one_line_per_check() {
        let report = Report {
            node: "gpu01".into(),
            checks: vec![
                Check::ok("config", "rci.conf parses"),
                Check::warn("rapl", "no zones", "run on bare metal"),
                Check::fail("gpu", "a\nFAIL forged", "fix gres.conf"),
            ],
        };
        assert_eq!(report.worst(), Status::Fail);
        let text = report.to_text();
        assert_eq!(text.lines().count(), 6, "{text}");
        assert!(text.contains("FAIL gpu    a\\nFAIL forged"), "{text}");
        assert!(
            text.ends_with("rci doctor on gpu01: 1 OK, 1 WARN, 1 FAIL\n"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["fail"], 1);
        assert_eq!(json["checks"][2]["status"], "fail");
        assert!(json["checks"][0].get("fix").is_none());
    }
}
