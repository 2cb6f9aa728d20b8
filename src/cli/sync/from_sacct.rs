//! `rci report --from-sacct`: the summaries `rci sync` wrote, read back from slurmdbd with
//! `sacct`, as summary lines `rci report` can sum (one per job; `node` is `(slurmdbd)`), so an
//! accountant with only sacct access gets the same tables.

use std::time::Duration;

use serde_json::json;

use super::summary::JobSummary;
use crate::cli::command;
use crate::energy::record::{rfc3339_utc, SCHEMA_NAME};

/// JSON Lines, one per job of every user sacct shows between `since` and `until` (unix
/// seconds; sacct's `-S`/`-E` select jobs that ran in that window) that has an rci summary; and
/// the number of jobs without one.
pub fn summary_lines(since: Option<i64>, until: Option<i64>) -> Result<(String, u64), String> {
    let sacct = command::on_path("sacct").ok_or("no sacct on PATH")?;
    let start = since.map_or_else(|| "2000-01-01T00:00:00".to_owned(), sacct_time);
    let end = until.map_or_else(|| "now".to_owned(), sacct_time);
    let args = [
        "-a",
        "-X",
        "-n",
        "-P",
        "-S",
        &start,
        "-E",
        &end,
        "-o",
        "JobIDRaw,Cluster,User,Account,Partition,End,AdminComment",
    ];
    // End as unix seconds (strftime %s), whatever the site's SLURM_TIME_FORMAT is.
    let env = [("TZ", "UTC"), ("SLURM_TIME_FORMAT", "%s")];
    let ran = command::run_env(&sacct, &args, &env, None, Duration::from_secs(600))?;
    if !ran.success {
        return Err(format!("sacct failed: {}", ran.stderr.trim()));
    }
    let mut out = String::new();
    let mut without = 0;
    for line in ran.stdout.lines() {
        let f: Vec<&str> = line.splitn(7, '|').collect();
        let [id, cluster, user, account, partition, end, comment] = f[..] else {
            continue;
        };
        let (Ok(id), Some(s)) = (id.parse::<u32>(), JobSummary::from_admin_comment(comment)) else {
            without += 1;
            continue;
        };
        let end_unix = end.trim().parse::<i64>().unwrap_or(0);
        let line = json!({
            "schema": SCHEMA_NAME,
            "cluster": cluster,
            "job_id": id,
            "user": user,
            "account": account,
            "partition": partition,
            "node": "(slurmdbd)",
            "end": rfc3339_utc(end_unix),
            "cpu_hours": s.cpu_hours,
            "gpu_hours": s.gpu_hours,
            "kwh": s.kwh,
            "facility_kwh": s.facility_kwh,
            "co2_g": s.co2_g,
            "cost": {"amount": s.cost, "currency": s.currency},
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    Ok((out, without))
}

/// Unix seconds as sacct's `-S`/`-E` take them (UTC, as the child runs with `TZ=UTC`).
fn sacct_time(unix: i64) -> String {
    rfc3339_utc(unix).trim_end_matches('Z').to_owned()
}
