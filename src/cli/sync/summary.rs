//! The compact per-job summary `rci sync` writes into a job's AdminComment in slurmdbd, and
//! reads back (`rci job`, `rci report --from-sacct`).
//!
//! One whitespace-free token, versioned, `key=value` pairs separated by `;`:
//!
//! ```text
//! rci:1;kwh=0.012345;cpu_kwh=0.010000;gpu_kwh=0.002345;fkwh=0.020616;co2_g=9.628;cost=0.005154;
//! cur=EUR;cpuh=0.5000;gpuh=0.0833;j=44442.0;n=2;pue=1.67;ci=467;ep=0.25;gm=NVIDIA%20L40:0.002345;
//! miss=gpu-1@gpu02
//! ```
//!
//! (one line in reality). slurmdbd turns `"` into a backtick and sacct prints AdminComment as
//! it is, so the token uses no quotes, no spaces and no `|` (sacct's `-P` separator): values are
//! percent-encoded outside `[a-z0-9._@-]`, and it is all lower case (sacctmgr lowers the case of
//! what it stores; GPU models read back lower-case, currencies upper-case). Whatever else an admin keeps in AdminComment
//! (jobstats' `JS1:` …) stays: the token replaces only an earlier `rci:1;` token.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The token's prefix (name and version).
pub const PREFIX: &str = "rci:1;";

/// One job's energy and GPU accounting, summed over its nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    /// IT energy, kWh (CPU side as attributed, plus GPUs).
    pub kwh: f64,
    /// CPU packages and DRAM, as attributed to the job, kWh.
    pub cpu_kwh: f64,
    /// GPUs, kWh.
    pub gpu_kwh: f64,
    /// `kwh × pue`.
    pub facility_kwh: f64,
    pub co2_g: f64,
    pub cost: f64,
    pub currency: String,
    pub cpu_hours: f64,
    pub gpu_hours: f64,
    /// Measured energy in joules, every node and domain counted in the total (what
    /// Slurm's energy TRES gets).
    pub joules: f64,
    /// Nodes with a record.
    pub nodes: u32,
    pub pue: f64,
    pub carbon_intensity_g_per_kwh: f64,
    pub energy_price_per_kwh: f64,
    /// GPU energy per GPU model, kWh.
    pub gpu_kwh_by_model: BTreeMap<String, f64>,
    /// What could not be measured: `domain@node` (`gpu-1@gpu02`, `cpu@cpu01`), sorted.
    pub missing: Vec<String>,
}

/// Percent-encoding, lower case throughout: sacctmgr (22.05 at least) lowers the case of
/// the whole AdminComment it stores, so the token is written lower-case from the start and
/// reads back exactly as written.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@') {
            out.push(b.to_ascii_lowercase() as char);
        } else {
            let _ = write!(out, "%{b:02x}");
        }
    }
    out
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl JobSummary {
    /// The AdminComment token (see the module docs).
    pub fn to_token(&self) -> String {
        let mut t = String::from(PREFIX);
        let _ = write!(
            t,
            "kwh={:.6};cpu_kwh={:.6};gpu_kwh={:.6};fkwh={:.6};co2_g={:.3};cost={:.6};cur={};\
             cpuh={:.4};gpuh={:.4};j={:.1};n={};pue={};ci={};ep={}",
            self.kwh,
            self.cpu_kwh,
            self.gpu_kwh,
            self.facility_kwh,
            self.co2_g,
            self.cost,
            encode(&self.currency),
            self.cpu_hours,
            self.gpu_hours,
            self.joules,
            self.nodes,
            self.pue,
            self.carbon_intensity_g_per_kwh,
            self.energy_price_per_kwh,
        );
        if !self.gpu_kwh_by_model.is_empty() {
            let models: Vec<String> = self
                .gpu_kwh_by_model
                .iter()
                .map(|(m, k)| format!("{}:{k:.6}", encode(m)))
                .collect();
            let _ = write!(t, ";gm={}", models.join(","));
        }
        if !self.missing.is_empty() {
            let missing: Vec<String> = self.missing.iter().map(|m| encode(m)).collect();
            let _ = write!(t, ";miss={}", missing.join(","));
        }
        t
    }

    /// Parses a token written by [`to_token`](Self::to_token); `None` for anything else.
    pub fn from_token(token: &str) -> Option<JobSummary> {
        let body = token.strip_prefix(PREFIX)?;
        let mut s = JobSummary::default();
        for pair in body.split(';') {
            let (key, value) = pair.split_once('=')?;
            let num = || value.parse::<f64>().ok().filter(|v| v.is_finite());
            match key {
                "kwh" => s.kwh = num()?,
                "cpu_kwh" => s.cpu_kwh = num()?,
                "gpu_kwh" => s.gpu_kwh = num()?,
                "fkwh" => s.facility_kwh = num()?,
                "co2_g" => s.co2_g = num()?,
                "cost" => s.cost = num()?,
                "cur" => s.currency = decode(value).to_ascii_uppercase(),
                "cpuh" => s.cpu_hours = num()?,
                "gpuh" => s.gpu_hours = num()?,
                "j" => s.joules = num()?,
                "n" => s.nodes = value.parse().ok()?,
                "pue" => s.pue = num()?,
                "ci" => s.carbon_intensity_g_per_kwh = num()?,
                "ep" => s.energy_price_per_kwh = num()?,
                "gm" => {
                    for item in value.split(',').filter(|i| !i.is_empty()) {
                        let (model, kwh) = item.rsplit_once(':')?;
                        s.gpu_kwh_by_model.insert(decode(model), kwh.parse().ok()?);
                    }
                }
                "miss" => {
                    s.missing = value
                        .split(',')
                        .filter(|i| !i.is_empty())
                        .map(decode)
                        .collect()
                }
                // A later minor addition: ignored by this reader.
                _ => {}
            }
        }
        Some(s)
    }

    /// The rci token in an AdminComment, parsed.
    pub fn from_admin_comment(comment: &str) -> Option<JobSummary> {
        comment
            .split_whitespace()
            .find(|w| w.starts_with(PREFIX))
            .and_then(JobSummary::from_token)
    }
}

/// `comment` with its rci token (if any) replaced by `token`, everything else kept in order.
pub fn with_token(comment: &str, token: &str) -> String {
    let mut words: Vec<&str> = comment
        .split_whitespace()
        .filter(|w| !w.starts_with(PREFIX))
        .collect();
    words.push(token);
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> JobSummary {
        JobSummary {
            kwh: 0.012345,
            cpu_kwh: 0.01,
            gpu_kwh: 0.002345,
            facility_kwh: 0.020616,
            co2_g: 9.628,
            cost: 0.005154,
            currency: "EUR".into(),
            cpu_hours: 0.5,
            gpu_hours: 0.0833,
            joules: 44442.0,
            nodes: 2,
            pue: 1.67,
            carbon_intensity_g_per_kwh: 467.0,
            energy_price_per_kwh: 0.25,
            gpu_kwh_by_model: [("nvidia l40".to_owned(), 0.002345)].into(),
            missing: vec!["gpu-1@gpu02".into()],
        }
    }

    #[test]
    fn tokens_round_trip_and_carry_no_quotes_spaces_or_bars() {
        let token = example().to_token();
        assert!(token.starts_with("rci:1;kwh=0.012345;"), "{token}");
        assert!(!token.contains([' ', '"', '|', '\n']), "{token}");
        assert!(token.contains("gm=nvidia%20l40:0.002345"), "{token}");
        assert!(token.contains("cur=eur;"), "{token}");
        assert_eq!(token, token.to_ascii_lowercase());
        assert_eq!(JobSummary::from_token(&token), Some(example()));
        assert_eq!(JobSummary::from_token("rci:1;kwh=x"), None);
        assert_eq!(JobSummary::from_token("JS1:abc"), None);
    }

    #[test]
    fn other_admin_comment_content_is_kept() {
        let token = example().to_token();
        assert_eq!(with_token("", &token), token);
        let first = with_token("js1:h4si ticket-42", &token);
        assert_eq!(first, format!("js1:h4si ticket-42 {token}"));
        let again = with_token(&first, "rci:1;kwh=1");
        assert_eq!(again, "js1:h4si ticket-42 rci:1;kwh=1");
        assert_eq!(JobSummary::from_admin_comment(&first), Some(example()));
    }
}
