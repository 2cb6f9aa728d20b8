//! The per-job energy record: one JSON object per line, `"schema": "rci.job-energy"`,
//! `"schema_version": 2`. `schema/job-energy-record.schema.json` describes the same shape.
//!
//! Version 2 adds `gpu_usage` (NVML utilisation and memory used per GPU, sampled with RAPL);
//! version 1 records (without it) are still read: the field defaults to empty, and a GPU
//! without usage figures is never counted as idle.
//!
//! Units and conventions (version 1):
//! - Times are RFC 3339 UTC strings of whole seconds, always `YYYY-MM-DDTHH:MM:SSZ` (fixed width,
//!   so they also sort as strings); `elapsed_s` is `end - start`.
//! - Energy is in **joules** as a JSON number (`f64`). The meters count in integers (RAPL µJ,
//!   NVML mJ) and convert once; an `f64` holds every integer number of µJ below 2^53 (≈ 2.5 MWh)
//!   exactly, far above what one job on one node uses. `joules` is `null` when the domain could
//!   not be measured, and `unavailable` then says why.
//! - `energy[].joules` is what the node's counter measured. Only domains with `in_total: true`
//!   (CPU packages, DRAM, GPUs) add up to the job's energy; `core`, `uncore` and `psys` are
//!   recorded for information only, because they overlap with the package domains.
//! - `kwh` is the job's IT energy: CPU-side domains × `attribution.share` plus the job's GPUs.
//!   `facility_kwh` = `kwh` × `pue`; CO2 and the energy part of the cost use `facility_kwh`.
//! - One record per job per node: a multi-node job writes one line from each node.
//! - What the writer (the job's extern step) cannot know is left empty, never guessed
//!   (see [`crate::plugin::spank::accounting`]): `job_name`, `partition` (and with slurmdbd
//!   `account`, `qos`) come from the job's batch step on that node, the GPUs from its batch or
//!   srun steps; they are empty when no such step ran there. What only the user vouched for is
//!   in `claimed`, and `incomplete` says what is missing and why; `alloc_cpus` is the batch step's `SLURM_CPUS_ON_NODE`, else the
//!   cores allocated on the node; `alloc_mem_mb` is 0 unless memory is a consumable resource
//!   (`SelectTypeParameters=CR_*_Memory`); `exit_status` is always null.

use serde::{Deserialize, Serialize};

/// The value of the `schema` field.
pub const SCHEMA_NAME: &str = "rci.job-energy";
/// The value of the `schema_version` field written by this code.
pub const SCHEMA_VERSION: u32 = 2;

/// One job (or het-job component) on one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Always [`SCHEMA_NAME`].
    pub schema: String,
    /// Always [`SCHEMA_VERSION`] when written by this version.
    pub schema_version: u32,
    /// Slurm's ClusterName, or the `Cluster=` override from rci.conf.
    pub cluster: String,
    /// Slurm job id (for an array task, the task's own job id).
    pub job_id: u32,
    /// The array's master job id, for array tasks.
    pub array_job_id: Option<u32>,
    /// The array task index, for array tasks.
    pub array_task_id: Option<u32>,
    /// The het job's leader id, for het-job components.
    pub het_job_id: Option<u32>,
    /// The component's offset in its het job.
    pub het_job_offset: Option<u32>,
    /// The job's name.
    pub job_name: String,
    /// The owner's user name (empty when it could not be resolved).
    pub user: String,
    /// The owner's uid.
    pub uid: u32,
    /// Slurm account (empty when unknown).
    pub account: String,
    /// Slurm partition (empty when unknown).
    pub partition: String,
    /// Slurm QOS, where known.
    pub qos: Option<String>,
    /// The node this record was measured on.
    pub node: String,
    /// Start of the measurement, RFC 3339 UTC.
    pub start: String,
    /// End of the measurement, RFC 3339 UTC.
    pub end: String,
    /// `end - start` in seconds.
    pub elapsed_s: u64,
    /// CPUs allocated to the job on this node.
    pub alloc_cpus: u32,
    /// Memory allocated to the job on this node, MB.
    pub alloc_mem_mb: u64,
    /// GPUs allocated to the job on this node.
    pub gpus: Vec<GpuInfo>,
    /// Measured energy, one entry per domain (CPU packages, DRAM, … and one per GPU).
    pub energy: Vec<EnergyDomain>,
    /// How busy each GPU of `gpus` was (schema version 2; empty in version 1 records and for
    /// GPUs NVML could not sample).
    #[serde(default)]
    pub gpu_usage: Vec<GpuUsage>,
    /// How the node-wide CPU energy was attributed to this job.
    pub attribution: Attribution,
    /// `alloc_cpus × elapsed_s / 3600`.
    pub cpu_hours: f64,
    /// `gpus.len() × elapsed_s / 3600`.
    pub gpu_hours: f64,
    /// IT energy attributed to the job, kWh (no PUE).
    pub kwh: f64,
    /// `kwh × pue`.
    pub facility_kwh: f64,
    /// `facility_kwh × carbon_intensity_g_per_kwh`, grams of CO2-equivalent.
    pub co2_g: f64,
    /// What the job cost, and the prices used.
    pub cost: Cost,
    /// Power usage effectiveness used for `facility_kwh`.
    pub pue: f64,
    /// Carbon intensity used for `co2_g`, g CO2e per kWh.
    pub carbon_intensity_g_per_kwh: f64,
    /// The job's exit status (wait(2) status as Slurm reports it), where known.
    pub exit_status: Option<i32>,
    /// What only the job's user vouched for (see [`ClaimedFacts`]); absent when nothing was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed: Option<ClaimedFacts>,
    /// Why the record is not whole (energy or GPUs that could not be measured or identified,
    /// a job whose extern step died, …); absent when it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incomplete: Vec<String>,
}

/// Job facts that only the job's user vouches for: the environment of an srun or interactive
/// step, which the user's own client sends (`SLURM_JOB_ACCOUNT=x srun …`), and without
/// slurmdbd the batch step's account and QOS, which Slurm leaves as the user exported them when
/// the job has none. Kept for reference; never the record's `account`, `qos`, … (`rci sync`
/// fills those from slurmdbd).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
}

impl ClaimedFacts {
    /// True when nothing was claimed.
    pub fn is_empty(&self) -> bool {
        self.job_name.is_none()
            && self.account.is_none()
            && self.partition.is_none()
            && self.qos.is_none()
    }
}

/// One allocated GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// Slurm's GRES index (the number in `SLURM_JOB_GPUS`).
    pub index: u32,
    /// `GPU-…` or `MIG-…` UUID, where known.
    pub uuid: Option<String>,
    /// Product name as NVML reports it, where known.
    pub model: Option<String>,
}

/// NVML's utilisation and memory figures of one GPU over the job, sampled at the RAPL interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuUsage {
    /// Slurm's GRES index, as in `gpus[].index`.
    pub index: u32,
    /// How many samples were taken (at least one: the one at the job's end).
    pub samples: u32,
    /// Mean SM utilisation, percent (`nvmlDeviceGetUtilizationRates().gpu`).
    pub sm_util_mean_pct: f64,
    /// Highest SM utilisation sampled, percent.
    pub sm_util_max_pct: u32,
    /// Mean memory-bandwidth utilisation, percent (`nvmlDeviceGetUtilizationRates().memory`).
    pub mem_util_mean_pct: f64,
    /// Highest device memory in use sampled (`nvmlDeviceGetMemoryInfo().used`), MiB; `null`
    /// when the library does not report it.
    pub memory_used_max_mib: Option<u64>,
}

/// Where an energy figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnergySource {
    /// Linux powercap (`/sys/class/powercap/intel-rapl:*`), Intel and AMD.
    Rapl,
    /// `nvmlDeviceGetTotalEnergyConsumption`.
    Nvml,
}

/// Anomalies seen while counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EnergyFlags {
    /// How many times the counter wrapped during the job (RAPL), all accounted for.
    pub wraps: u32,
    /// The counter went backwards without a wrap (NVML: driver reloaded during the job).
    pub reset: bool,
}

/// Energy of one domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyDomain {
    /// `cpu-package-N`, `dram-N`, `core-N`, `uncore-N`, `psys`, `gpu-<index>`, or `cpu` for a
    /// node without any RAPL zone.
    pub domain: String,
    /// Measured energy in joules; `null` when unavailable.
    pub joules: Option<f64>,
    /// The counter it was read from.
    pub source: EnergySource,
    /// Wraps and resets seen.
    pub flags: EnergyFlags,
    /// Whether this domain is part of the job's `kwh` (false for overlapping sub-domains).
    pub in_total: bool,
    /// Why `joules` is missing (or, with `flags.reset`, only a lower bound).
    pub unavailable: Option<String>,
}

pub use crate::config::energy::AttributionMethod;

/// The attribution applied to the CPU-side domains.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// Exclusive or share.
    pub method: AttributionMethod,
    /// Fraction of the CPU-side energy counted for the job (1.0 for exclusive).
    pub share: f64,
}

/// The job's cost and the prices it was computed with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// ISO 4217 code or any label (`EUR`).
    pub currency: String,
    /// `facility_kwh × energy_price_per_kwh + cpu_hours × cpu_hour_price + gpu_hours ×
    /// gpu_hour_price`.
    pub amount: f64,
    /// Price of one facility kWh.
    pub energy_price_per_kwh: f64,
    /// Price of one CPU-hour.
    pub cpu_hour_price: f64,
    /// Price of one GPU-hour.
    pub gpu_hour_price: f64,
}

impl Record {
    /// The record as one line of JSON without the trailing newline (serde_json escapes control
    /// characters in strings, so the line never contains a raw newline).
    pub fn to_json_line(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| format!("cannot serialise energy record: {e}"))
    }
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), proleptic Gregorian.
/// Howard Hinnant's `civil_from_days`; valid for the whole i64 range we feed it.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// (year, month, day) → days since 1970-01-01; the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ`. Years outside 0..=9999 are clamped to that
/// range (a record never holds such a time, and the fixed width keeps records sortable).
pub fn rfc3339_utc(unix_seconds: i64) -> String {
    const MIN: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let t = unix_seconds.clamp(MIN, MAX);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, d| {
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` or `YYYY-MM-DDTHH:MM:SSZ` (UTC) into unix seconds;
/// `YYYY-MM` means the first day of that month. Anything else (offsets, fractions) is `None`.
pub fn parse_utc(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let year = i64::from(digits(b.get(0..4)?)?);
    let month_part = |at: usize| -> Option<u32> {
        if *b.get(at)? != b'-' {
            return None;
        }
        digits(b.get(at + 1..at + 3)?)
    };
    let month = month_part(4)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    let (day, rest) = if b.len() == 7 {
        (1, &[][..])
    } else {
        let day = month_part(7)?;
        (day, b.get(10..)?)
    };
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) * 86_400;
    if !rest.is_empty() {
        let time = match rest {
            [b'T' | b' ', t @ .., b'Z'] | [b'T' | b' ', t @ ..] => t,
            _ => return None,
        };
        if time.len() != 8 || time[2] != b':' || time[5] != b':' {
            return None;
        }
        let (h, m, s) = (
            digits(&time[0..2])?,
            digits(&time[3..5])?,
            digits(&time[6..8])?,
        );
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        secs += i64::from(h * 3600 + m * 60 + s);
    }
    Some(secs)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// A fully populated record, as written for a 2-GPU job on a shared node.
    pub(crate) fn example() -> Record {
        Record {
            schema: SCHEMA_NAME.into(),
            schema_version: SCHEMA_VERSION,
            cluster: "hpc".into(),
            job_id: 4242,
            array_job_id: Some(4200),
            array_task_id: Some(42),
            het_job_id: None,
            het_job_offset: None,
            job_name: "train \"big\"\nmodel".into(),
            user: "alice".into(),
            uid: 1000,
            account: "physics".into(),
            partition: "gpu".into(),
            qos: Some("normal".into()),
            node: "gpu01".into(),
            start: rfc3339_utc(1_700_000_000),
            end: rfc3339_utc(1_700_003_600),
            elapsed_s: 3600,
            alloc_cpus: 16,
            alloc_mem_mb: 64_000,
            gpus: vec![
                GpuInfo {
                    index: 0,
                    uuid: Some("GPU-0000".into()),
                    model: Some("NVIDIA L40".into()),
                },
                GpuInfo {
                    index: 1,
                    uuid: None,
                    model: None,
                },
            ],
            energy: vec![
                EnergyDomain {
                    domain: "cpu-package-0".into(),
                    joules: Some(1_000_000.5),
                    source: EnergySource::Rapl,
                    flags: EnergyFlags {
                        wraps: 3,
                        reset: false,
                    },
                    in_total: true,
                    unavailable: None,
                },
                EnergyDomain {
                    domain: "gpu-1".into(),
                    joules: None,
                    source: EnergySource::Nvml,
                    flags: EnergyFlags::default(),
                    in_total: true,
                    unavailable: Some("NVML: Not Supported".into()),
                },
            ],
            gpu_usage: vec![GpuUsage {
                index: 0,
                samples: 60,
                sm_util_mean_pct: 71.5,
                sm_util_max_pct: 100,
                mem_util_mean_pct: 30.25,
                memory_used_max_mib: Some(40_960),
            }],
            attribution: Attribution {
                method: AttributionMethod::Share,
                share: 0.25,
            },
            cpu_hours: 16.0,
            gpu_hours: 2.0,
            kwh: 0.5,
            facility_kwh: 0.835,
            co2_g: 389.945,
            cost: Cost {
                currency: "EUR".into(),
                amount: 1.2,
                energy_price_per_kwh: 0.25,
                cpu_hour_price: 0.01,
                gpu_hour_price: 0.5,
            },
            pue: 1.67,
            carbon_intensity_g_per_kwh: 467.0,
            exit_status: Some(0),
            claimed: None,
            incomplete: Vec::new(),
        }
    }

    const SCHEMA: &str = include_str!("../../schema/job-energy-record.schema.json");

    /// Resolves a local `$ref` (`#/$defs/name`) against the schema root.
    fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.strip_prefix("#/$defs/").expect("only local $defs refs");
                &root["$defs"][name]
            }
            None => node,
        }
    }

    fn type_matches(ty: &str, v: &Value) -> bool {
        match ty {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "integer" => v.is_u64() || v.is_i64(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            other => panic!("schema uses unknown type {other}"),
        }
    }

    /// The subset of JSON Schema our schema file uses: type, required, properties,
    /// additionalProperties: false, items, enum, const, minimum, $ref to $defs.
    fn validate(root: &Value, schema: &Value, v: &Value, at: &str) -> Vec<String> {
        let schema = resolve(root, schema);
        let mut errors = Vec::new();
        match &schema["type"] {
            Value::String(t) if !type_matches(t, v) => errors.push(format!("{at}: not a {t}")),
            Value::Array(ts) if !ts.iter().any(|t| type_matches(t.as_str().unwrap(), v)) => {
                errors.push(format!("{at}: not any of {ts:?}"))
            }
            _ => {}
        }
        if let Some(c) = schema.get("const") {
            if c != v {
                errors.push(format!("{at}: {v} is not {c}"));
            }
        }
        if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
            if !choices.contains(v) {
                errors.push(format!("{at}: {v} not in {choices:?}"));
            }
        }
        if let (Some(min), Some(x)) = (schema.get("minimum").and_then(Value::as_f64), v.as_f64()) {
            if x < min {
                errors.push(format!("{at}: {x} < {min}"));
            }
        }
        if let Some(obj) = v.as_object() {
            for key in schema["required"].as_array().into_iter().flatten() {
                if !obj.contains_key(key.as_str().unwrap()) {
                    errors.push(format!("{at}: missing required {key}"));
                }
            }
            let props = schema["properties"].as_object();
            for (key, value) in obj {
                match props.and_then(|p| p.get(key)) {
                    Some(sub) => errors.extend(validate(root, sub, value, &format!("{at}.{key}"))),
                    None if schema["additionalProperties"] == Value::Bool(false) => {
                        errors.push(format!("{at}: unexpected key {key}"))
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
            for (i, item) in arr.iter().enumerate() {
                errors.extend(validate(root, items, item, &format!("{at}[{i}]")));
            }
        }
        errors
    }

    #[test]
    fn example_record_validates_against_schema_file() {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        let line = example().to_json_line().unwrap();
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        let errors = validate(&schema, &schema, &v, "$");
        assert!(errors.is_empty(), "{errors:#?}");
    }

    #[test]
    fn claimed_and_incomplete_validate_and_are_absent_when_empty() {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        let line = example().to_json_line().unwrap();
        assert!(
            !line.contains("claimed") && !line.contains("incomplete"),
            "{line}"
        );
        let record = Record {
            claimed: Some(ClaimedFacts {
                account: Some("victim".into()),
                ..ClaimedFacts::default()
            }),
            incomplete: vec!["the job's extern step died".into()],
            ..example()
        };
        let v: Value = serde_json::from_str(&record.to_json_line().unwrap()).unwrap();
        let errors = validate(&schema, &schema, &v, "$");
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(v["claimed"], serde_json::json!({"account": "victim"}));
        let back: Record = serde_json::from_value(v).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn schema_requires_every_field_the_struct_writes() {
        // additionalProperties:false catches keys the schema lacks; this catches keys the schema
        // lists as optional although the writer always writes them.
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        let v: Value = serde_json::to_value(example()).unwrap();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        for key in v.as_object().unwrap().keys() {
            assert!(required.contains(&key.as_str()), "{key} not required");
        }
    }

    #[test]
    fn validator_rejects_wrong_types_and_missing_keys() {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        let mut v: Value = serde_json::to_value(example()).unwrap();
        v["job_id"] = Value::String("4242".into());
        v["energy"][0]["source"] = Value::String("ipmi".into());
        v.as_object_mut().unwrap().remove("kwh");
        let errors = validate(&schema, &schema, &v, "$");
        assert_eq!(errors.len(), 3, "{errors:#?}");
    }

    #[test]
    fn version_1_records_without_gpu_usage_are_read() {
        let mut v: Value = serde_json::to_value(example()).unwrap();
        v["schema_version"] = 1.into();
        v.as_object_mut().unwrap().remove("gpu_usage");
        let back: Record = serde_json::from_value(v).unwrap();
        assert_eq!(back.schema_version, 1);
        assert!(back.gpu_usage.is_empty());
        assert_eq!(back.kwh, example().kwh);
    }

    #[test]
    fn record_round_trips_through_json() {
        let r = example();
        let back: Record = serde_json::from_str(&r.to_json_line().unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(i64::MAX), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn parses_dates_months_and_times() {
        assert_eq!(parse_utc("1970-01-01"), Some(0));
        assert_eq!(parse_utc("2023-11"), parse_utc("2023-11-01T00:00:00Z"));
        assert_eq!(parse_utc("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse_utc("2023-11-14T22:13:20"), Some(1_700_000_000));
        assert_eq!(parse_utc("2024-02-29"), Some(1_709_164_800));
        for bad in [
            "",
            "2023",
            "2023-13-01",
            "2023-02-29",
            "2023-11-14T25:00:00Z",
            "2023-11-14T22:13:20+01:00",
            "2023-11-14T22:13",
            "+023-11-14",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(t in -62_167_219_200i64..253_402_300_799) {
            let s = rfc3339_utc(t);
            prop_assert_eq!(s.len(), 20);
            prop_assert_eq!(parse_utc(&s), Some(t));
        }

        #[test]
        fn formatted_times_sort_like_numbers(a in 0i64..4_102_444_800, b in 0i64..4_102_444_800) {
            prop_assert_eq!(rfc3339_utc(a).cmp(&rfc3339_utc(b)), a.cmp(&b));
        }
    }
}
