//! What the job_submit plugin knows about a request, in plain Rust.
//!
//! The FFI layer copies the fields of Slurm's `job_desc_msg_t` that the policies read into a
//! [`JobRequest`]; the policies answer with a [`Verdict`] that the FFI layer writes back. Nothing
//! here knows about C.

/// Slurm's "unset" and "unlimited" markers, translated once at the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeLimit {
    /// The user gave no limit (NO_VAL): the partition default applies unless a policy sets one.
    #[default]
    Unset,
    /// `INFINITE` (`--time=UNLIMITED`).
    Infinite,
    /// Minutes.
    Minutes(u32),
}

/// Which entry point the request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// `job_submit`: sbatch, salloc, srun allocations, `--test-only`, scrontab.
    #[default]
    Submit,
    /// `job_modify`: `scontrol update` on an existing job; only changed fields are set.
    Modify,
}

/// The parts of a job request the policies look at. Strings are `None` when Slurm left the field
/// NULL (for a submit: not given, defaults not applied yet; for a modify: not being changed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobRequest {
    pub origin: Origin,
    /// Job id for job_modify (and sbatch --jobid); `None` when NO_VAL.
    pub job_id: Option<u32>,
    /// The uid of the user who sent the request (job_submit's / job_modify's `submit_uid`).
    pub submit_uid: u32,
    /// Name of `submit_uid`, resolved by the FFI layer (for AdminUsers and messages).
    pub submit_user_name: Option<String>,
    /// True when the submitter is root or Slurm's SlurmUser: Slurm operators may override policy.
    pub submitter_is_slurm_operator: bool,
    /// The uid the job runs as (`job_desc->user_id`).
    pub user_id: Option<u32>,
    /// Resolved from the uid by the FFI layer; used for exemptions and messages.
    pub user_name: Option<String>,
    pub name: Option<String>,
    /// Comma-separated list as the user gave it (`-p gpu,cpu`).
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    pub comment: Option<String>,
    pub tres_per_job: Option<String>,
    pub tres_per_node: Option<String>,
    pub tres_per_socket: Option<String>,
    pub tres_per_task: Option<String>,
    pub time_limit: TimeLimit,
    /// `--time-min`: the least limit the job accepts (for backfill); Slurm rejects a job whose
    /// TimeMin is above its TimeLimit.
    pub time_min: TimeLimit,
    /// Batch script text; `None` for salloc/srun allocations (interactive jobs).
    pub script: Option<String>,
    /// `NAME=value` pairs set by SPANK plugins on the client (`spank_job_control_setenv`).
    pub spank_job_env: Vec<String>,
    /// Het-job component offset; `None` for plain jobs.
    pub het_job_offset: Option<u32>,
    /// `--array` index expression; `None` for plain jobs.
    pub array_inx: Option<String>,
    /// `min_cpus` when set.
    pub min_cpus: Option<u32>,
}

impl JobRequest {
    /// The value a SPANK plugin set for `name` with `spank_job_control_setenv`, if any.
    /// Slurm stores these without the `SPANK_` prefix the prolog sees.
    pub fn spank_env(&self, name: &str) -> Option<&str> {
        self.spank_job_env.iter().find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            let k = k.strip_prefix("SPANK_").unwrap_or(k);
            (k == name).then_some(v)
        })
    }
}

/// Changes a policy wants written back into the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobChanges {
    pub partition: Option<String>,
    pub time_limit: Option<u32>,
    /// New `time_min`, lowered with a lowered time limit.
    pub time_min: Option<u32>,
    pub qos: Option<String>,
}

impl JobChanges {
    pub fn is_empty(&self) -> bool {
        self == &JobChanges::default()
    }
}

/// A policy's answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accept, possibly with changes; every message goes to the user (one line each) and the log.
    Accept {
        changes: JobChanges,
        messages: Vec<String>,
    },
    /// Reject with one precise line for the user.
    Reject { message: String },
}

impl Verdict {
    pub fn accept() -> Self {
        Verdict::Accept {
            changes: JobChanges::default(),
            messages: Vec::new(),
        }
    }
}

/// The entries of a `-p a,b` list, trimmed, empty ones dropped.
pub fn partition_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|p| !p.is_empty())
}

/// How many characters of one piece of user-controlled text a log line carries.
pub const LOG_TEXT_MAX_CHARS: usize = 200;

/// `text` made safe for one log line: control characters (newline, carriage return, escape,
/// DEL, C1 controls) and invisible format characters become `\n`, `\x1b`, `\u{200b}` ...
/// escapes, a backslash becomes `\\`, and text beyond `max_chars` characters is cut with
/// `...(N more chars)`. Job names, comments, user names and paths reach slurmctld.log and
/// slurmd's log through this, so a user cannot forge a log line or fill the log.
pub fn log_safe(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 2));
    for (count, (at, c)) in text.char_indices().enumerate() {
        if count == max_chars {
            let rest = text[at..].chars().count();
            out.push_str(&format!("...({rest} more chars)"));
            return out;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if is_invisible_format(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// A whole log message made one bounded line: like [`log_safe`] but backslashes stay as they
/// are (the pieces in it were escaped by [`log_safe`] already); for the logging functions.
pub fn log_line_safe(text: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    let clean = |c: char| !c.is_control() && !is_invisible_format(c);
    if text.len() <= max_chars && text.chars().all(clean) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(max_chars * 2));
    for (count, c) in text.chars().enumerate() {
        if count == max_chars {
            let rest = text.chars().count() - count;
            out.push_str(&format!("...({rest} more chars)"));
            break;
        }
        match c {
            c if !clean(c) => out.push_str(&log_safe(c.encode_utf8(&mut [0; 4]), 1)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Format characters that display as nothing (zero-width, bidi controls, BOM, line/paragraph
/// separators): they can hide or reorder what an admin reads in a log.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206f}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_safe_escapes_line_breaks_controls_and_invisibles_and_bounds_length() {
        assert_eq!(log_safe("plain name-1", 50), "plain name-1");
        assert_eq!(
            log_safe("x\n[2026-01-01T00:00:00] error: forged", 100),
            "x\\n[2026-01-01T00:00:00] error: forged"
        );
        assert_eq!(log_safe("a\rb\x1b[31mc\u{7f}", 50), "a\\rb\\x1b[31mc\\x7f");
        assert_eq!(log_safe("a\u{200b}b\u{202e}", 50), "a\\u{200b}b\\u{202e}");
        assert_eq!(log_safe("back\\slash", 50), "back\\\\slash");
        assert_eq!(log_safe(&"y".repeat(10), 4), "yyyy...(6 more chars)");
        assert_eq!(log_safe("éé", 2), "éé");
        assert_eq!(log_line_safe("a\\nb", 50), "a\\nb");
        assert_eq!(log_line_safe("a\nb\\", 50), "a\\nb\\");
        assert_eq!(log_line_safe("abcdef", 3), "abc...(3 more chars)");
        assert!(!log_safe("\u{85}\u{2028}", 10)
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}'));
    }

    #[test]
    fn spank_env_finds_values_with_and_without_prefix() {
        let req = JobRequest {
            spank_job_env: vec![
                "RCI_KIND=server".into(),
                "SPANK_OTHER=x".into(),
                "junk".into(),
            ],
            ..Default::default()
        };
        assert_eq!(req.spank_env("RCI_KIND"), Some("server"));
        assert_eq!(req.spank_env("OTHER"), Some("x"));
        assert_eq!(req.spank_env("MISSING"), None);
    }
}
