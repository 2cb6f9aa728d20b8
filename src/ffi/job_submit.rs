//! The job_submit plugin boundary: `job_desc_msg_t` ⇄ [`JobRequest`]/[`Verdict`].
//!
//! slurmctld calls `job_submit` under its config/job/node/partition read locks and `job_modify`
//! under the job and node write locks, so everything here copies what it needs, asks the pure
//! policy, writes back with Slurm's allocator and returns; no I/O besides logging.

use super::passwd::cached_user_name;
use std::ffi::{c_char, c_int};

use super::slurm::{self, append_string, replace_string, string_from};
use super::sys::{self, job_desc_msg_t};
use crate::ffi::guard::guard;
use crate::job::{
    log_safe, JobChanges, JobRequest, Origin, TimeLimit, Verdict, LOG_TEXT_MAX_CHARS,
};

/// The policy function a job_submit plugin crate supplies.
pub type Handler = fn(&JobRequest) -> Verdict;

/// Return code for a policy rejection: the user sees "Access/permission denied" after our
/// message. Never EAGAIN-like codes, which make sbatch retry.
pub const REJECT_RC: c_int = sys::ESLURM_ACCESS_DENIED as c_int;
/// Return code when rci itself failed (a caught panic, Slurm's allocator missing).
pub const INTERNAL_RC: c_int = sys::ESLURM_INTERNAL as c_int;

fn opt_u32(v: u32) -> Option<u32> {
    (v != sys::NO_VAL).then_some(v)
}

fn time_limit(v: u32) -> TimeLimit {
    match v {
        sys::NO_VAL => TimeLimit::Unset,
        sys::INFINITE => TimeLimit::Infinite,
        m => TimeLimit::Minutes(m),
    }
}

/// The job id in `scontrol update`'s `job_id_str` when it names one whole job (`123`); `None`
/// for array tasks (`123_4`), het components (`123+1`) and anything else, which a single
/// number would misdescribe.
fn plain_job_id(text: &str) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u32>().ok().and_then(opt_u32)
}

/// The descriptor's job id field (NO_VAL when unset): `job_id` up to 25.05, `step_id.job_id`
/// from 25.11 on.
fn desc_job_id(d: &job_desc_msg_t) -> u32 {
    #[cfg(slurm_job_desc_step_id)]
    return d.step_id.job_id;
    #[cfg(not(slurm_job_desc_step_id))]
    return d.job_id;
}

/// Sets the descriptor's job id field (see [`desc_job_id`]); for unit tests.
#[cfg(test)]
fn set_desc_job_id(d: &mut job_desc_msg_t, id: u32) {
    #[cfg(slurm_job_desc_step_id)]
    {
        d.step_id.job_id = id;
    }
    #[cfg(not(slurm_job_desc_step_id))]
    {
        d.job_id = id;
    }
}

/// What an unset `user_id` reads besides NO_VAL: SLURM_AUTH_NOBODY from 23.02 on (a private
/// Slurm constant, 99). Only job_modify's descriptor can have it unset; slurmctld fills in the
/// submitter for job_submit, where 99 is a real uid.
#[cfg(slurm_auth_nobody_unset)]
const UNSET_USER_ID: u32 = 99;
#[cfg(not(slurm_auth_nobody_unset))]
const UNSET_USER_ID: u32 = sys::NO_VAL;

/// Copies the fields the policies read out of Slurm's request.
///
/// # Safety
/// `desc` must point to a valid `job_desc_msg_t` whose strings are NULL or NUL-terminated.
pub unsafe fn read_request(
    desc: *const job_desc_msg_t,
    submit_uid: u32,
    origin: Origin,
    slurm_user_id: Option<u32>,
) -> JobRequest {
    // SAFETY: valid for reads per this function's contract.
    let d = unsafe { &*desc };
    // SAFETY (all `string_from` calls below): the fields are NULL or NUL-terminated C strings
    // owned by slurmctld for the duration of this call.
    let s = |p: *mut c_char| unsafe { string_from(p) };
    let spank_job_env = if d.spank_job_env.is_null() {
        Vec::new()
    } else {
        // SAFETY: Slurm keeps `spank_job_env_size` valid entries in `spank_job_env`.
        let entries =
            unsafe { std::slice::from_raw_parts(d.spank_job_env, d.spank_job_env_size as usize) };
        entries.iter().filter_map(|&p| s(p)).collect()
    };
    let user_id =
        opt_u32(d.user_id).filter(|&uid| !(origin == Origin::Modify && uid == UNSET_USER_ID));
    // `scontrol update jobid=N` leaves `job_id` at NO_VAL and sends the id as text in
    // `job_id_str` (Slurm 22.05 verified); messages would otherwise say `<jobid>`.
    let job_id =
        opt_u32(desc_job_id(d)).or_else(|| s(d.job_id_str).as_deref().and_then(plain_job_id));
    JobRequest {
        origin,
        job_id,
        submit_uid,
        submit_user_name: cached_user_name(submit_uid),
        submitter_is_slurm_operator: submit_uid == 0 || Some(submit_uid) == slurm_user_id,
        user_id,
        user_name: user_id.and_then(cached_user_name),
        name: s(d.name),
        partition: s(d.partition),
        account: s(d.account),
        qos: s(d.qos),
        comment: s(d.comment),
        tres_per_job: s(d.tres_per_job),
        tres_per_node: s(d.tres_per_node),
        tres_per_socket: s(d.tres_per_socket),
        tres_per_task: s(d.tres_per_task),
        time_limit: time_limit(d.time_limit),
        // time_min is 0 when not given (Slurm's default), NO_VAL in some updates.
        time_min: match d.time_min {
            0 => TimeLimit::Unset,
            v => time_limit(v),
        },
        script: s(d.script),
        spank_job_env,
        // job_modify's descriptor has no meaningful het offset: 22.05 sends 0 for every update
        // (the field is not part of the update RPC). Only job_submit's is real.
        het_job_offset: match origin {
            Origin::Submit => opt_u32(d.het_job_offset),
            Origin::Modify => None,
        },
        array_inx: s(d.array_inx),
        min_cpus: opt_u32(d.min_cpus),
    }
}

/// Writes a policy's changes into Slurm's request.
///
/// # Safety
/// `desc` must point to a valid, writable `job_desc_msg_t` whose strings are NULL or xmalloc'd.
pub unsafe fn apply_changes(
    desc: *mut job_desc_msg_t,
    changes: &JobChanges,
) -> Result<(), slurm::NoSlurmAllocator> {
    // SAFETY: valid for writes per this function's contract.
    let d = unsafe { &mut *desc };
    if let Some(p) = &changes.partition {
        // SAFETY: `partition` is NULL or xmalloc'd by slurmctld (contract above).
        unsafe { replace_string(&mut d.partition, p)? };
    }
    if let Some(q) = &changes.qos {
        // SAFETY: as above for `qos`.
        unsafe { replace_string(&mut d.qos, q)? };
    }
    if let Some(t) = changes.time_limit {
        d.time_limit = t;
    }
    if let Some(t) = changes.time_min {
        d.time_min = t;
    }
    Ok(())
}

/// One line for slurmctld.log describing the request and the decision.
fn log_line(entry: &str, req: &JobRequest, verdict: &Verdict) -> String {
    // Everything a user controls (job name, user names from NSS, the messages, which quote
    // partitions and names) is escaped and bounded: a newline in a job name must not forge a
    // slurmctld.log line.
    let safe = |t: &str| log_safe(t, LOG_TEXT_MAX_CHARS);
    let who = req
        .user_name
        .as_deref()
        .or(req.submit_user_name.as_deref())
        .map_or_else(|| req.submit_uid.to_string(), safe);
    let job = match req.job_id {
        Some(id) => format!("job {id}"),
        None => format!("job '{}'", safe(req.name.as_deref().unwrap_or(""))),
    };
    let het = req
        .het_job_offset
        .map(|o| format!(" het+{o}"))
        .unwrap_or_default();
    // For an update the job's owner (`user_id`, filled in by slurmctld) is rarely the one who
    // sends it: name the sender too, or root's updates read as the owner's.
    let submitter = req
        .submit_user_name
        .as_deref()
        .map_or_else(|| req.submit_uid.to_string(), safe);
    let by = if submitter == who {
        String::new()
    } else {
        format!(" by {submitter}")
    };
    match verdict {
        Verdict::Accept { messages, .. } if messages.is_empty() => {
            format!("{entry}: {job}{het} user {who}{by}: accepted unchanged")
        }
        Verdict::Accept { messages, .. } => {
            format!(
                "{entry}: {job}{het} user {who}{by}: {}",
                messages
                    .iter()
                    .map(|m| log_safe(m, 4 * LOG_TEXT_MAX_CHARS))
                    .collect::<Vec<_>>()
                    .join(" | ")
            )
        }
        Verdict::Reject { message } => {
            format!(
                "{entry}: {job}{het} user {who}{by}: rejected: {}",
                log_safe(message, 4 * LOG_TEXT_MAX_CHARS)
            )
        }
    }
}

/// Appends `text` as its own line to the err_msg shared by the JobSubmitPlugins chain.
///
/// # Safety
/// `err_msg` must be NULL or point to a `char *` that is NULL or xmalloc'd.
unsafe fn add_user_message(
    err_msg: *mut *mut c_char,
    text: &str,
) -> Result<(), slurm::NoSlurmAllocator> {
    if err_msg.is_null() {
        return Ok(());
    }
    // SAFETY: non-NULL, and *err_msg is NULL or xmalloc'd per the contract.
    let line = if unsafe { (*err_msg).is_null() } {
        text.to_owned()
    } else {
        format!("\n{text}")
    };
    // SAFETY: per the contract.
    unsafe { append_string(err_msg, &line) }
}

/// Everything `job_submit`/`job_modify` do, behind the guard.
///
/// # Safety
/// `desc` must be slurmctld's valid request; `err_msg` NULL or a valid `char **` (NULL on
/// 22.05's job_modify, which has no err_msg).
pub unsafe fn entry(
    origin: Origin,
    desc: *mut job_desc_msg_t,
    submit_uid: u32,
    err_msg: *mut *mut c_char,
    handler: Handler,
) -> c_int {
    let entry_name = match origin {
        Origin::Submit => "job_submit/rci",
        Origin::Modify => "job_modify/rci",
    };
    guard(entry_name, INTERNAL_RC, slurm::error, || {
        let slurm_user_id = slurm::slurm_user_id();
        if desc.is_null() {
            slurm::error(&format!("{entry_name}: called with a NULL job descriptor"));
            return INTERNAL_RC;
        }
        // SAFETY: non-NULL and valid per this function's contract.
        let req = unsafe { read_request(desc, submit_uid, origin, slurm_user_id) };
        let verdict = handler(&req);
        slurm::info(&log_line(entry_name, &req, &verdict));
        // All of Slurm's allocator or nothing: never a partition replaced and then a failure.
        // (init() refuses to load without it, so this holds in slurmctld.)
        let writes_strings = match &verdict {
            Verdict::Accept { changes, messages } => {
                changes.partition.is_some() || changes.qos.is_some() || !messages.is_empty()
            }
            Verdict::Reject { .. } => true,
        };
        let allocator = if writes_strings {
            slurm::allocator_available()
        } else {
            Ok(())
        };
        let outcome = allocator.and_then(|()| match &verdict {
            Verdict::Accept { changes, messages } => {
                // SAFETY: per this function's contract.
                unsafe { apply_changes(desc, changes) }
                    .and_then(|()| {
                        messages
                            .iter()
                            // SAFETY: per this function's contract.
                            .try_for_each(|m| unsafe { add_user_message(err_msg, m) })
                    })
                    .map(|()| sys::SLURM_SUCCESS as c_int)
            }
            Verdict::Reject { message } => {
                // SAFETY: per this function's contract.
                unsafe { add_user_message(err_msg, message) }.map(|()| REJECT_RC)
            }
        });
        outcome.unwrap_or_else(|slurm::NoSlurmAllocator| {
            slurm::error(&format!(
                "{entry_name}: Slurm's allocator (slurm_xstrdup) not found"
            ));
            INTERNAL_RC
        })
    })
}

/// `init()`: a non-zero return makes slurmctld exit with a fatal error, which is what an admin
/// wants for a broken rci.conf at start-up (the message names file and line).
pub fn init_entry(init: fn() -> Result<String, String>) -> c_int {
    guard(
        "job_submit/rci init",
        sys::SLURM_ERROR,
        slurm::error,
        || match slurm::allocator_available()
            .map_err(|slurm::NoSlurmAllocator| {
                "Slurm's allocator (slurm_xstrdup, slurm_xstrcat, slurm_xfree) is not in this \
             process: this plugin must be loaded by slurmctld"
                    .to_owned()
            })
            .and_then(|()| init())
        {
            Ok(msg) => {
                slurm::info(&format!("job_submit/rci: {msg}"));
                sys::SLURM_SUCCESS as c_int
            }
            Err(msg) => {
                slurm::error(&format!("job_submit/rci: {msg}"));
                sys::SLURM_ERROR
            }
        },
    )
}

/// Exports a job_submit plugin: identity symbols, `init`, `job_submit` and `job_modify` (with the
/// argument list of the Slurm release we build against), nothing else.
///
/// ```text
/// rci::job_submit_plugin!(name: "...", type: "job_submit/rci",
///     init: path::to::init, submit: path::to::submit, modify: path::to::modify);
/// ```
#[macro_export]
macro_rules! job_submit_plugin {
    (name: $name:expr, type: $type:expr, init: $init:path, submit: $submit:path, modify: $modify:path $(,)?) => {
        $crate::__rci_plugin_identity!($name, $type);

        /// Called once when slurmctld loads the plugin.
        #[unsafe(no_mangle)]
        pub extern "C" fn init() -> ::std::ffi::c_int {
            $crate::ffi::job_submit::init_entry($init)
        }

        /// Called for every job submission (sbatch, salloc, srun allocations, het components).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn job_submit(
            job_desc: *mut $crate::ffi::sys::job_desc_msg_t,
            submit_uid: u32,
            err_msg: *mut *mut ::std::ffi::c_char,
        ) -> ::std::ffi::c_int {
            // SAFETY: slurmctld passes a valid job descriptor and a valid err_msg pointer.
            unsafe {
                $crate::ffi::job_submit::entry(
                    $crate::job::Origin::Submit,
                    job_desc,
                    submit_uid,
                    err_msg,
                    $submit,
                )
            }
        }

        $crate::__rci_job_modify!($modify);
    };
}

/// job_modify as of Slurm 23.02+: four arguments, with err_msg.
#[cfg(slurm_job_modify_err_msg)]
#[doc(hidden)]
#[macro_export]
macro_rules! __rci_job_modify {
    ($modify:path) => {
        /// Called for `scontrol update` of a job; `job_ptr` is slurmctld's private record.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn job_modify(
            job_desc: *mut $crate::ffi::sys::job_desc_msg_t,
            _job_ptr: *mut ::std::ffi::c_void,
            submit_uid: u32,
            err_msg: *mut *mut ::std::ffi::c_char,
        ) -> ::std::ffi::c_int {
            // SAFETY: slurmctld passes a valid job descriptor and a valid err_msg pointer.
            unsafe {
                $crate::ffi::job_submit::entry(
                    $crate::job::Origin::Modify,
                    job_desc,
                    submit_uid,
                    err_msg,
                    $modify,
                )
            }
        }
    };
}

/// job_modify before Slurm 23.02: three arguments, no err_msg (messages go to slurmctld.log and
/// the user sees the error code's text).
#[cfg(not(slurm_job_modify_err_msg))]
#[doc(hidden)]
#[macro_export]
macro_rules! __rci_job_modify {
    ($modify:path) => {
        /// Called for `scontrol update` of a job; `job_ptr` is slurmctld's private record.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn job_modify(
            job_desc: *mut $crate::ffi::sys::job_desc_msg_t,
            _job_ptr: *mut ::std::ffi::c_void,
            submit_uid: u32,
        ) -> ::std::ffi::c_int {
            // SAFETY: slurmctld passes a valid job descriptor; there is no err_msg in 22.05.
            unsafe {
                $crate::ffi::job_submit::entry(
                    $crate::job::Origin::Modify,
                    job_desc,
                    submit_uid,
                    ::std::ptr::null_mut(),
                    $modify,
                )
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panicking_policy(_req: &JobRequest) -> Verdict {
        panic!("policy bug")
    }

    fn accepting_policy(req: &JobRequest) -> Verdict {
        assert_eq!(req.partition.as_deref(), None);
        assert_eq!(req.time_limit, TimeLimit::Unset);
        Verdict::accept()
    }

    fn empty_desc() -> job_desc_msg_t {
        // SAFETY: job_desc_msg_t is plain C data; all-zero is a valid value (NULL strings,
        // zero numbers), as slurm_init_job_desc_msg's memset does before setting NO_VALs.
        let mut d: job_desc_msg_t = unsafe { std::mem::zeroed() };
        d.time_limit = sys::NO_VAL;
        set_desc_job_id(&mut d, sys::NO_VAL);
        d.het_job_offset = sys::NO_VAL;
        d
    }

    #[test]
    fn a_panicking_policy_becomes_an_error_code_through_the_real_entry() {
        let mut desc = empty_desc();
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: a valid, zero-initialised descriptor and err_msg slot owned by this test.
        let rc = unsafe { entry(Origin::Submit, &mut desc, 1000, &mut err, panicking_policy) };
        assert_eq!(rc, INTERNAL_RC);
        assert!(err.is_null(), "nothing was allocated outside Slurm");
    }

    #[test]
    fn an_unchanged_accept_returns_success_without_touching_slurm_memory() {
        let mut desc = empty_desc();
        // SAFETY: as above; 22.05's job_modify passes no err_msg, NULL is allowed.
        let rc = unsafe {
            entry(
                Origin::Modify,
                &mut desc,
                0,
                std::ptr::null_mut(),
                accepting_policy,
            )
        };
        assert_eq!(rc, sys::SLURM_SUCCESS as c_int);
    }

    #[test]
    fn null_descriptor_is_an_error_not_a_crash() {
        // SAFETY: entry checks for NULL before dereferencing.
        let rc = unsafe {
            entry(
                Origin::Submit,
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                accepting_policy,
            )
        };
        assert_eq!(rc, INTERNAL_RC);
    }

    #[test]
    fn scontrol_update_job_id_comes_from_job_id_str() {
        // What 22.05's job_modify receives for `scontrol update jobid=123 partition=gpu`.
        let mut desc = empty_desc();
        desc.het_job_offset = 0;
        let id = std::ffi::CString::new("123").unwrap();
        desc.job_id_str = id.as_ptr().cast_mut();
        // SAFETY: a valid descriptor whose only string points to `id`, alive for the call.
        let req = unsafe { read_request(&desc, 1000, Origin::Modify, None) };
        assert_eq!(req.job_id, Some(123));
        assert_eq!(req.het_job_offset, None, "no het offset in an update");
        // job_id itself wins when set
        set_desc_job_id(&mut desc, 77);
        // SAFETY: as above.
        let req = unsafe { read_request(&desc, 1000, Origin::Modify, None) };
        assert_eq!(req.job_id, Some(77));
        // a submit keeps its het offset
        // SAFETY: as above.
        let req = unsafe { read_request(&desc, 1000, Origin::Submit, None) };
        assert_eq!(req.het_job_offset, Some(0));
    }

    #[test]
    fn only_whole_job_ids_are_read_from_text() {
        assert_eq!(plain_job_id("42"), Some(42));
        assert_eq!(plain_job_id(" 42\n"), Some(42));
        for text in [
            "",
            "10_3",
            "7+1",
            "10_[1-3]",
            "x",
            "-1",
            "99999999999",
            "4294967294",
        ] {
            assert_eq!(plain_job_id(text), None, "{text:?}");
        }
    }

    #[test]
    fn user_text_in_the_log_line_cannot_forge_a_line() {
        let req = JobRequest {
            name: Some("x\n[2026-12-02T00:00:00.000] error: forged".into()),
            submit_uid: 1000,
            submit_user_name: Some("eve\r".into()),
            ..Default::default()
        };
        let verdict = Verdict::Accept {
            changes: JobChanges::default(),
            messages: vec!["rci: partition a\nb -> cpu".into()],
        };
        let line = log_line("job_submit/rci", &req, &verdict);
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        assert!(
            line.contains("job 'x\\n[2026-12-02T00:00:00.000] error: forged'"),
            "{line}"
        );
        let long = JobRequest {
            name: Some("n".repeat(100_000)),
            ..req
        };
        assert!(log_line("job_submit/rci", &long, &Verdict::accept()).len() < 1000);
    }

    #[test]
    fn modify_log_line_names_the_job_the_owner_and_the_sender() {
        let req = JobRequest {
            origin: Origin::Modify,
            job_id: Some(9),
            submit_uid: 0,
            submit_user_name: Some("root".into()),
            user_id: Some(1000),
            user_name: Some("alice".into()),
            ..Default::default()
        };
        let line = log_line(
            "job_modify/rci",
            &req,
            &Verdict::Reject {
                message: "rci: no".into(),
            },
        );
        assert_eq!(
            line,
            "job_modify/rci: job 9 user alice by root: rejected: rci: no"
        );
        let own = JobRequest {
            submit_user_name: Some("alice".into()),
            submit_uid: 1000,
            ..req
        };
        assert_eq!(
            log_line("job_modify/rci", &own, &Verdict::accept()),
            "job_modify/rci: job 9 user alice: accepted unchanged"
        );
    }

    #[test]
    fn root_user_name_resolves() {
        assert_eq!(super::super::passwd::user_name(0).as_deref(), Some("root"));
        assert_eq!(cached_user_name(0).as_deref(), Some("root"));
        assert_eq!(cached_user_name(0).as_deref(), Some("root"));
        assert_eq!(cached_user_name(u32::MAX - 7), None);
    }
}
