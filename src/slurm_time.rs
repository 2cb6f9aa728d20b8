//! Slurm's time-limit formats, read and written the way Slurm does (`time_str2mins`,
//! `mins2time_str` in src/common/parse_time.c).
//!
//! Accepted: `minutes`, `minutes:seconds`, `hours:minutes:seconds`, `days-hours`,
//! `days-hours:minutes`, `days-hours:minutes:seconds`, and `UNLIMITED` / `INFINITE` / `-1`
//! (case-insensitive). Like Slurm, fields are not range-checked (`90` minutes and `0:90:00` are
//! both fine) and seconds round up to the next whole minute. Unlike `time_str2mins`, a value whose
//! minutes do not fit a job's `u32` time limit is an error rather than a wrapped number.
//!
//! `0` parses to `Minutes(0)`: the clients turn `--time=0` into INFINITE themselves, and the
//! callers here decide what zero means in their context.

use crate::job::TimeLimit;
use std::fmt;

/// Slurm's INFINITE (0xffffffff) is not a valid number of minutes; anything at or above it is
/// rejected so a parsed value can always be stored in `job_desc->time_limit` unambiguously.
const MAX_MINUTES: u64 = 0xffff_fffd;

/// Why a time string was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError {
    input: String,
    reason: &'static str,
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid time '{}': {} (use minutes, [days-]hours:minutes:seconds, days-hours or UNLIMITED)",
            self.input, self.reason
        )
    }
}

impl std::error::Error for TimeError {}

/// Parses a Slurm time string into minutes or `Infinite`. Never returns `TimeLimit::Unset`.
pub fn parse_time(input: &str) -> Result<TimeLimit, TimeError> {
    let err = |reason| TimeError {
        input: input.to_owned(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if s == "-1" || s.eq_ignore_ascii_case("UNLIMITED") || s.eq_ignore_ascii_case("INFINITE") {
        return Ok(TimeLimit::Infinite);
    }
    let (days, rest) = match s.split_once('-') {
        Some((d, rest)) => (Some(field(d).ok_or_else(|| err("bad days"))?), rest),
        None => (None, s),
    };
    let mut parts = rest.split(':');
    let mut nums = [0u64; 3];
    let mut count = 0usize;
    for (slot, part) in nums.iter_mut().zip(parts.by_ref()) {
        *slot = field(part).ok_or_else(|| err("each field must be a non-negative number"))?;
        count += 1;
    }
    if parts.next().is_some() {
        return Err(err("too many ':' fields"));
    }
    let seconds = match (days, count, nums) {
        // days-hours, days-hours:minutes, days-hours:minutes:seconds
        (Some(d), 1, [h, _, _]) => d * 86_400 + h * 3_600,
        (Some(d), 2, [h, m, _]) => d * 86_400 + h * 3_600 + m * 60,
        (Some(d), 3, [h, m, sec]) => d * 86_400 + h * 3_600 + m * 60 + sec,
        // minutes, minutes:seconds, hours:minutes:seconds
        (None, 1, [m, _, _]) => m * 60,
        (None, 2, [m, sec, _]) => m * 60 + sec,
        (None, 3, [h, m, sec]) => h * 3_600 + m * 60 + sec,
        _ => return Err(err("unrecognised layout")),
    };
    let minutes = seconds.div_ceil(60);
    if minutes > MAX_MINUTES {
        return Err(err("too large"));
    }
    u32::try_from(minutes)
        .map(TimeLimit::Minutes)
        .map_err(|_| err("too large"))
}

/// One numeric field: ASCII digits only, at most 9 of them (so sums stay far below u64::MAX).
fn field(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Writes minutes as Slurm prints a time limit: `D-HH:MM:SS` with days, else `HH:MM:SS`.
pub fn format_minutes(minutes: u32) -> String {
    let days = minutes / 1_440;
    let hours = (minutes / 60) % 24;
    let mins = minutes % 60;
    if days > 0 {
        format!("{days}-{hours:02}:{mins:02}:00")
    } else {
        format!("{hours:02}:{mins:02}:00")
    }
}

/// Writes a limit the way `scontrol show job` does; `Unset` reads as `(unset)`.
pub fn format_limit(limit: TimeLimit) -> String {
    match limit {
        TimeLimit::Unset => "(unset)".to_owned(),
        TimeLimit::Infinite => "UNLIMITED".to_owned(),
        TimeLimit::Minutes(m) => format_minutes(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mins(s: &str) -> u32 {
        match parse_time(s) {
            Ok(TimeLimit::Minutes(m)) => m,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn every_slurm_layout() {
        assert_eq!(mins("90"), 90);
        assert_eq!(mins("0"), 0);
        assert_eq!(mins("10:30"), 11, "seconds round up");
        assert_eq!(mins("10:00"), 10);
        assert_eq!(mins("2:00:00"), 120);
        assert_eq!(mins("1:00:01"), 61);
        assert_eq!(mins("3-4"), 3 * 1440 + 240);
        assert_eq!(mins("3-4:30"), 3 * 1440 + 270);
        assert_eq!(mins("7-00:00:00"), 7 * 1440);
        assert_eq!(mins("1-00:00:30"), 1441);
        assert_eq!(mins(" 15 "), 15);
        assert_eq!(
            mins("0:90:00"),
            90,
            "fields are not range-checked, like Slurm"
        );
    }

    #[test]
    fn unlimited_spellings() {
        for s in ["UNLIMITED", "unlimited", "Infinite", "INFINITE", "-1"] {
            assert_eq!(parse_time(s), Ok(TimeLimit::Infinite), "{s}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "abc",
            "1:2:3:4",
            "1-2:3:4:5",
            "-5",
            "1--2",
            "1-",
            "-",
            "1h",
            "1.5",
            ":",
            "1:",
            "+3",
            "1-2-3",
            "9999999999",
        ] {
            assert!(parse_time(s).is_err(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn rejects_values_that_would_collide_with_infinite() {
        assert!(parse_time("4294967295").is_err());
        assert!(parse_time("999999999-0").is_err());
        assert_eq!(mins("4294967"), 4_294_967);
    }

    #[test]
    fn error_message_names_input() {
        let e = parse_time("7days").unwrap_err().to_string();
        assert!(e.contains("'7days'"), "{e}");
    }

    #[test]
    fn printing_matches_slurm() {
        assert_eq!(format_minutes(0), "00:00:00");
        assert_eq!(format_minutes(59), "00:59:00");
        assert_eq!(format_minutes(61), "01:01:00");
        assert_eq!(format_minutes(1440), "1-00:00:00");
        assert_eq!(format_minutes(7 * 1440), "7-00:00:00");
        assert_eq!(format_minutes(30 * 1440 + 90), "30-01:30:00");
        assert_eq!(format_limit(TimeLimit::Infinite), "UNLIMITED");
        assert_eq!(format_limit(TimeLimit::Minutes(5)), "00:05:00");
    }

    proptest! {
        #[test]
        fn print_then_parse_round_trips(m in 0u32..=0xffff_fffd) {
            prop_assert_eq!(parse_time(&format_minutes(m)), Ok(TimeLimit::Minutes(m)));
        }

        #[test]
        fn parse_then_print_then_parse_is_stable(d in 0u32..400, h in 0u32..48, m in 0u32..120, s in 0u32..120) {
            let text = format!("{d}-{h}:{m}:{s}");
            let first = parse_time(&text).unwrap();
            let printed = format_limit(first);
            prop_assert_eq!(parse_time(&printed), Ok(first));
            let expected = (u64::from(d) * 86_400 + u64::from(h) * 3_600 + u64::from(m) * 60 + u64::from(s)).div_ceil(60);
            prop_assert_eq!(first, TimeLimit::Minutes(expected as u32));
        }

        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = parse_time(&s);
        }

        #[test]
        fn digit_soup_never_panics(s in "[0-9:\\-]{0,30}") {
            let _ = parse_time(&s);
        }
    }
}
