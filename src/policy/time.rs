//! A kind's time policy: default limit, cap or reject, allowlists.

use super::classify::effective_max_with_source;
use crate::config::{KindPolicy, MaxTime, TimeAction};
use crate::job::{JobRequest, TimeLimit};
use crate::kinds::JobKind;
use crate::slurm_time::format_minutes;

/// Which setting a time decision came from (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// The kind's `DefaultTime=`.
    DefaultTime,
    /// The kind's `MaxTime=`.
    MaxTime,
    /// The kind's `AllowMaxTime=` (allowlisted user or account).
    AllowMaxTime,
}

impl TimeSource {
    /// The rci.conf key this source names.
    pub fn key(self) -> &'static str {
        match self {
            TimeSource::DefaultTime => "DefaultTime",
            TimeSource::MaxTime => "MaxTime",
            TimeSource::AllowMaxTime => "AllowMaxTime",
        }
    }
}

/// What the kind's time policy does to the request's time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOutcome {
    /// Left as requested (within the cap, or no cap).
    Kept,
    /// No limit given: set to `minutes` from `source`.
    Defaulted {
        /// The limit set.
        minutes: u32,
        /// Where it came from.
        source: TimeSource,
    },
    /// Above the cap: lowered.
    Capped {
        /// The limit asked for.
        requested: TimeLimit,
        /// The limit set.
        minutes: u32,
        /// The cap that applied.
        source: TimeSource,
    },
    /// Above the cap with `Action=reject`.
    Rejected {
        /// The limit asked for.
        requested: TimeLimit,
        /// The cap.
        max: u32,
        /// The cap that applied.
        source: TimeSource,
    },
}

/// Applies the time policy of `kind` to `req.time_limit`.
///
/// An unset limit gets the kind's DefaultTime; without DefaultTime but with a cap it gets the
/// cap, because otherwise the partition's default (unknown here, possibly above the cap) would
/// apply and a job could escape the cap by not asking for a time.
pub fn apply_time(policy: &KindPolicy, req: &JobRequest) -> TimeOutcome {
    let (cap, allowlisted) = effective_max_with_source(policy, req);
    let cap_source = if allowlisted {
        TimeSource::AllowMaxTime
    } else {
        TimeSource::MaxTime
    };
    match (req.time_limit, cap) {
        (TimeLimit::Unset, _) => match (policy.default_time, cap) {
            (Some(d), MaxTime::Minutes(c)) if d > c => TimeOutcome::Defaulted {
                minutes: c,
                source: cap_source,
            },
            (Some(d), _) => TimeOutcome::Defaulted {
                minutes: d,
                source: TimeSource::DefaultTime,
            },
            (None, MaxTime::Minutes(c)) => TimeOutcome::Defaulted {
                minutes: c,
                source: cap_source,
            },
            (None, MaxTime::Unlimited) => TimeOutcome::Kept,
        },
        (_, MaxTime::Unlimited) => TimeOutcome::Kept,
        (TimeLimit::Minutes(m), MaxTime::Minutes(c)) if m <= c => TimeOutcome::Kept,
        (requested, MaxTime::Minutes(c)) => match policy.action {
            TimeAction::Cap => TimeOutcome::Capped {
                requested,
                minutes: c,
                source: cap_source,
            },
            TimeAction::Reject => TimeOutcome::Rejected {
                requested,
                max: c,
                source: cap_source,
            },
        },
    }
}

/// The user-facing line for a time outcome (`None` for [`TimeOutcome::Kept`]).
pub fn time_message(
    kind: JobKind,
    policy: &KindPolicy,
    outcome: &TimeOutcome,
    prefix: &str,
) -> Option<String> {
    let hint = || {
        policy
            .hint
            .as_deref()
            .map(|h| format!("; {h}"))
            .unwrap_or_default()
    };
    let whose = |source: TimeSource| match source {
        TimeSource::AllowMaxTime => format!("{} for allowed {kind} jobs", source.key()),
        _ => format!("{} for {kind} jobs", source.key()),
    };
    match *outcome {
        TimeOutcome::Kept => None,
        TimeOutcome::Defaulted { minutes, source } => Some(format!(
            "rci: {prefix}{kind} job; no time limit given, using {} ({})",
            format_minutes(minutes),
            whose(source)
        )),
        TimeOutcome::Capped {
            requested,
            minutes,
            source,
        } => Some(format!(
            "rci: {prefix}{kind} job; time limit {} capped to {} ({}{})",
            crate::slurm_time::format_limit(requested),
            format_minutes(minutes),
            whose(source),
            hint()
        )),
        TimeOutcome::Rejected {
            requested,
            max,
            source,
        } => Some(format!(
            "rci: {prefix}{kind} job; time limit {} is above {} ({}{}); use --time={} or less",
            crate::slurm_time::format_limit(requested),
            format_minutes(max),
            whose(source),
            hint(),
            format_minutes(max)
        )),
    }
}
