//! Slurm's logging and allocator, resolved in the host process.
//!
//! Every string we hand to Slurm must come from Slurm's own allocator (`xmalloc` keeps a header in
//! front of the pointer and slurmctld later `xfree`s it), so allocation goes through
//! `slurm_xstrdup`/`slurm_xstrcat`/`slurm_xfree`. Logging always passes `"%s"` as the format so no
//! user-controlled text is ever read as a printf format.

use std::ffi::{c_char, c_void, CStr, CString};
use std::io::Write;
use std::sync::OnceLock;

type LogFn = unsafe extern "C" fn(fmt: *const c_char, ...);
type XstrdupFn = unsafe extern "C" fn(s: *const c_char) -> *mut c_char;
type XstrcatFn = unsafe extern "C" fn(dst: *mut *mut c_char, src: *const c_char);
type XfreeFn = unsafe extern "C" fn(p: *mut *mut c_void);

/// Function pointers into libslurmfull; `None` where the host process does not have them (unit
/// tests, the `rci` CLI).
struct SlurmApi {
    info: Option<LogFn>,
    error: Option<LogFn>,
    verbose: Option<LogFn>,
    debug: Option<LogFn>,
    xstrdup: Option<XstrdupFn>,
    xstrcat: Option<XstrcatFn>,
    xfree: Option<XfreeFn>,
}

/// A symbol of the host process (libslurmfull's functions and globals), if it has one.
pub(crate) fn lookup(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads the loaded symbol tables.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

/// Looks a function up with [`lookup`] and gives it its C type.
macro_rules! resolve {
    ($name:literal, $ty:ty) => {
        // SAFETY: the symbol named here is the libslurmfull function with exactly this C
        // signature (slurm/spank.h, src/common/xmalloc.h, src/common/xstring.h); a data pointer
        // and a function pointer have the same size on every platform Slurm supports.
        $crate::ffi::slurm::lookup($name)
            .map(|p| unsafe { std::mem::transmute::<*mut ::std::ffi::c_void, $ty>(p) })
    };
}
pub(crate) use resolve;

fn api() -> &'static SlurmApi {
    static API: OnceLock<SlurmApi> = OnceLock::new();
    API.get_or_init(|| SlurmApi {
        info: resolve!(c"slurm_info", LogFn),
        error: resolve!(c"slurm_error", LogFn),
        verbose: resolve!(c"slurm_verbose", LogFn),
        debug: resolve!(c"slurm_debug", LogFn),
        xstrdup: resolve!(c"slurm_xstrdup", XstrdupFn),
        xstrcat: resolve!(c"slurm_xstrcat", XstrcatFn),
        xfree: resolve!(c"slurm_xfree", XfreeFn),
    })
}

/// Log levels we use; they map onto Slurm's `slurm_*` log functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Info,
    Verbose,
    Debug,
}

/// A C string for Slurm: interior NULs (which C would silently truncate at) become '?'.
pub fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "?")).unwrap_or_default()
}

/// Logs one line through Slurm, or to stderr where Slurm's logger is not loaded.
pub fn log(level: Level, msg: &str) {
    // The last line of defence for the daemon logs: whatever a caller formatted, one call is one
    // bounded line without control characters.
    let msg = &crate::job::log_line_safe(msg, LOG_MAX_CHARS);
    let api = api();
    let f = match level {
        Level::Error => api.error,
        Level::Info => api.info,
        Level::Verbose => api.verbose,
        Level::Debug => api.debug,
    };
    match f {
        Some(f) => {
            let msg = c_string(msg);
            // SAFETY: `f` is one of Slurm's printf-style loggers; the format is the literal "%s"
            // and the single vararg is a valid NUL-terminated string that outlives the call.
            unsafe { f(c"%s".as_ptr(), msg.as_ptr()) }
        }
        // Outside Slurm (unit tests, the CLI). Never eprintln!, which panics when stderr is
        // gone: this runs in the guard's error path, where a second panic aborts the host.
        None => {
            let _ = writeln!(std::io::stderr(), "{msg}");
        }
    }
}

/// The longest message (in characters) one log call writes.
pub const LOG_MAX_CHARS: usize = 8192;

pub fn error(msg: &str) {
    log(Level::Error, msg)
}
pub fn info(msg: &str) {
    log(Level::Info, msg)
}
pub fn verbose(msg: &str) {
    log(Level::Verbose, msg)
}
pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}

/// Slurm's allocator is not present in this process (we are not inside a Slurm daemon or client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSlurmAllocator;

/// Whether this process has all of Slurm's allocator functions rci uses (checked before writing
/// anything into a job descriptor, and by job_submit's `init()`).
pub fn allocator_available() -> Result<(), NoSlurmAllocator> {
    let api = api();
    match (api.xstrdup, api.xstrcat, api.xfree) {
        (Some(_), Some(_), Some(_)) => Ok(()),
        _ => Err(NoSlurmAllocator),
    }
}

/// Copies `text` into memory from Slurm's allocator.
pub fn xstrdup(text: &str) -> Result<*mut c_char, NoSlurmAllocator> {
    let f = api().xstrdup.ok_or(NoSlurmAllocator)?;
    let c = c_string(text);
    // SAFETY: slurm_xstrdup copies the NUL-terminated string into a fresh xmalloc'd buffer.
    Ok(unsafe { f(c.as_ptr()) })
}

/// Replaces the Slurm-owned string at `*field` with a copy of `text`, freeing the old one.
///
/// # Safety
/// `field` must point to a `char *` that is NULL or was allocated by Slurm's xmalloc, and that
/// nobody else frees concurrently (true for job_desc fields inside job_submit/job_modify).
pub unsafe fn replace_string(field: *mut *mut c_char, text: &str) -> Result<(), NoSlurmAllocator> {
    let xfree = api().xfree.ok_or(NoSlurmAllocator)?;
    let new = xstrdup(text)?;
    // SAFETY: per this function's contract *field is NULL or xmalloc'd; slurm_xfree accepts both
    // and sets it to NULL before we store the new pointer.
    unsafe {
        xfree(field.cast());
        *field = new;
    }
    Ok(())
}

/// Appends `text` to the Slurm-owned string at `*dst` (NULL means empty), as `xstrcat` does.
///
/// # Safety
/// `dst` must be a valid pointer to a `char *` that is NULL or xmalloc'd (e.g. job_submit's
/// `err_msg`).
pub unsafe fn append_string(dst: *mut *mut c_char, text: &str) -> Result<(), NoSlurmAllocator> {
    let xstrcat = api().xstrcat.ok_or(NoSlurmAllocator)?;
    let c = c_string(text);
    // SAFETY: per this function's contract; xstrcat grows *dst with xrealloc.
    unsafe { xstrcat(dst, c.as_ptr()) };
    Ok(())
}

/// Copies a C string owned by Slurm into Rust; NULL becomes `None`, invalid UTF-8 is replaced.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string valid for the duration of the call.
pub unsafe fn string_from(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// The daemon's parsed slurm.conf (libslurmfull's `slurm_conf` global), if this process has one.
fn slurm_conf() -> Option<*const super::sys::slurm_conf_t> {
    // dlsym takes the loader's lock: look the address up once, not on every job_submit.
    static ADDRESS: OnceLock<Option<usize>> = OnceLock::new();
    ADDRESS
        .get_or_init(|| lookup(c"slurm_conf").map(|p| p as usize))
        .map(|a| a as *const super::sys::slurm_conf_t)
}

/// SlurmUser's uid, for operator checks in job_submit.
pub fn slurm_user_id() -> Option<u32> {
    let conf = slurm_conf()?;
    // SAFETY: `conf` is the address of libslurmfull's `slurm_conf_t slurm_conf`, whose layout is
    // that of the headers we were built against (the plugin_version check guarantees the same
    // release). slurmctld calls job_submit/job_modify under locks that exclude a reconfigure,
    // so the plain u32 is not being rewritten.
    Some(unsafe { (*conf).slurm_user_id })
}

/// ClusterName from slurm.conf, where this process has loaded it (slurmstepd does).
pub fn cluster_name() -> Option<String> {
    let conf = slurm_conf()?;
    // SAFETY: as in slurm_user_id; `cluster_name` is NULL or a NUL-terminated string owned by
    // the configuration, which slurmstepd never rewrites while a step runs.
    unsafe { string_from((*conf).cluster_name) }.filter(|n| !n.is_empty())
}

/// The path of the slurm.conf this daemon read (`-f`, `SLURM_CONF` or the built-in default).
pub fn slurm_conf_path() -> Option<String> {
    let conf = slurm_conf()?;
    // SAFETY: as in cluster_name; `slurm_conf` (the file name) is NULL or a NUL-terminated
    // string owned by the configuration.
    unsafe { string_from((*conf).slurm_conf) }.filter(|p| !p.is_empty())
}

/// The environment as rci's path lookup sees it inside a Slurm process: `SLURM_CONF` falls back
/// to the file the daemon actually read, so `slurmctld -f /x/slurm.conf` finds `/x/rci.conf`.
pub fn daemon_env(name: &str) -> Option<String> {
    let value = std::env::var(name).ok().filter(|v| !v.is_empty());
    if name == "SLURM_CONF" {
        return value.or_else(slurm_conf_path);
    }
    value
}

/// SlurmdSpoolDir from slurm.conf (may contain `%n`/`%h`), where this process has loaded it.
pub fn slurmd_spool_dir() -> Option<String> {
    let conf = slurm_conf()?;
    // SAFETY: as in cluster_name; `slurmd_spooldir` is NULL or a NUL-terminated string owned by
    // the configuration, not rewritten while a step runs.
    unsafe { string_from((*conf).slurmd_spooldir) }.filter(|d| !d.is_empty())
}

/// Whether slurm.conf's `AccountingStorageType` is `accounting_storage/slurmdbd` (then every
/// job has an account and a QOS, which Slurm writes into the batch step's environment).
pub fn accounting_uses_slurmdbd() -> bool {
    let Some(conf) = slurm_conf() else {
        return false;
    };
    // SAFETY: as in cluster_name; `accounting_storage_type` is NULL or a NUL-terminated string
    // owned by the configuration, not rewritten while a step runs.
    unsafe { string_from((*conf).accounting_storage_type) }
        .is_some_and(|t| t.ends_with("/slurmdbd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_slurm_allocation_is_refused_not_faked() {
        assert_eq!(xstrdup("x"), Err(NoSlurmAllocator));
    }

    #[test]
    fn interior_nul_does_not_truncate_silently() {
        assert_eq!(c_string("a\0b").as_bytes(), b"a?b");
    }

    #[test]
    fn logging_outside_slurm_falls_back_to_stderr() {
        log(
            Level::Error,
            "rci: test line with %n and %s that must not be a format",
        );
    }
}
