//! The SPANK plugin boundary: a safe handle over `spank_t` and the exported callbacks.
//!
//! SPANK loads `spank_rci.so` into srun ("local"), sbatch/salloc ("allocator"), every slurmstepd
//! ("remote") and slurmd. Each callback runs through the guard; a failure in accounting or
//! container set-up is logged and returns 0 unless the job really must not start, because a
//! non-zero return from a required plugin's remote init drains the node.

use std::ffi::{c_char, c_int, CStr};
use std::marker::PhantomData;
use std::sync::OnceLock;

use super::slurm::{self, c_string, resolve, string_from};
use super::sys;
use sys::{spank_context_t, spank_err_t, spank_item_t, spank_option, spank_t};

type ContextFn = unsafe extern "C" fn() -> spank_context_t;
type GetenvFn = unsafe extern "C" fn(spank_t, *const c_char, *mut c_char, c_int) -> spank_err_t;
type SetenvFn = unsafe extern "C" fn(spank_t, *const c_char, *const c_char, c_int) -> spank_err_t;
type GetItemFn = unsafe extern "C" fn(spank_t, spank_item_t, ...) -> spank_err_t;
type OptionRegisterFn = unsafe extern "C" fn(spank_t, *mut spank_option) -> spank_err_t;
type StrerrorFn = unsafe extern "C" fn(spank_err_t) -> *const c_char;

/// SPANK's API, looked up in the host process rather than linked: rustc calls external
/// functions through the GOT, which the dynamic linker binds at dlopen time even with
/// `-z lazy`, so a linked `spank_*` would make the plugin unloadable in any process without it.
/// A function missing here makes the call fail with an error, never the load.
struct SpankApi {
    context: Option<ContextFn>,
    getenv: Option<GetenvFn>,
    setenv: Option<SetenvFn>,
    job_control_setenv: Option<SetenvFn>,
    get_item: Option<GetItemFn>,
    option_register: Option<OptionRegisterFn>,
    strerror: Option<StrerrorFn>,
}

fn api() -> &'static SpankApi {
    static API: OnceLock<SpankApi> = OnceLock::new();
    API.get_or_init(|| SpankApi {
        context: resolve!(c"spank_context", ContextFn),
        getenv: resolve!(c"spank_getenv", GetenvFn),
        setenv: resolve!(c"spank_setenv", SetenvFn),
        job_control_setenv: resolve!(c"spank_job_control_setenv", SetenvFn),
        get_item: resolve!(c"spank_get_item", GetItemFn),
        option_register: resolve!(c"spank_option_register", OptionRegisterFn),
        strerror: resolve!(c"spank_strerror", StrerrorFn),
    })
}

fn missing(name: &str) -> String {
    format!("{name} is not available in this process")
}
use crate::ffi::guard::guard;

/// Where this process is, as SPANK reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// srun
    Local,
    /// slurmstepd
    Remote,
    /// sbatch / salloc
    Allocator,
    Slurmd,
    JobScript,
    Unknown,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::Local => "local (srun)",
            Context::Remote => "remote (slurmstepd)",
            Context::Allocator => "allocator (sbatch/salloc)",
            Context::Slurmd => "slurmd",
            Context::JobScript => "job_script (prolog/epilog)",
            Context::Unknown => "unknown",
        }
    }
}

/// The current SPANK context.
pub fn context() -> Context {
    let Some(spank_context) = api().context else {
        return Context::Unknown;
    };
    // SAFETY: spank_context takes no arguments and only reads SPANK's global state.
    match unsafe { spank_context() } {
        sys::S_CTX_LOCAL => Context::Local,
        sys::S_CTX_REMOTE => Context::Remote,
        sys::S_CTX_ALLOCATOR => Context::Allocator,
        sys::S_CTX_SLURMD => Context::Slurmd,
        sys::S_CTX_JOB_SCRIPT => Context::JobScript,
        _ => Context::Unknown,
    }
}

/// A borrowed SPANK handle, valid for the duration of one callback (`'cb`): only
/// [`callback`] makes one, and lends it to the callback's body. Not `Copy`: it cannot be kept
/// past the callback.
pub struct Spank<'cb> {
    raw: sys::spank_t,
    _callback: PhantomData<&'cb mut ()>,
}

/// A SPANK item and the exact type `spank_get_item` writes for it (spank.h), so that an item
/// can never be read into a value of another size.
trait Item {
    const ID: spank_item_t;
    type Value: Default;
}

macro_rules! spank_items {
    ($($(#[$doc:meta])* $name:ident = $id:ident: $ty:ty;)*) => {
        $($(#[$doc])* struct $name; impl Item for $name {
            const ID: spank_item_t = sys::$id;
            type Value = $ty;
        })*
    };
}

spank_items! {
    /// `uid_t *`
    JobUid = S_JOB_UID: u32;
    /// `uint32_t *`
    JobId = S_JOB_ID: u32;
    /// `uint32_t *`
    JobStepId = S_JOB_STEPID: u32;
    /// `uint16_t *`
    JobNcpus = S_JOB_NCPUS: u16;
    /// `uint64_t *` (MB)
    JobAllocMem = S_JOB_ALLOC_MEM: u64;
    /// `uint32_t *` (0 when not an array job)
    JobArrayId = S_JOB_ARRAY_ID: u32;
    /// `uint32_t *`
    JobArrayTaskId = S_JOB_ARRAY_TASK_ID: u32;
}

impl Spank<'_> {
    /// A numeric item, read into exactly the type spank.h gives it.
    fn item<I: Item>(&self) -> Option<I::Value> {
        let get_item = api().get_item?;
        let mut v = I::Value::default();
        // SAFETY: live handle; `I::Value` is the type spank.h documents for `I::ID` (the
        // `spank_items!` table), so SPANK writes exactly `size_of::<I::Value>()` bytes into `v`.
        let rc = unsafe { get_item(self.raw, I::ID, &mut v as *mut I::Value) };
        (rc == sys::ESPANK_SUCCESS).then_some(v)
    }

    /// `S_JOB_UID`: the job's user (from the credential).
    pub fn job_uid(&self) -> Option<u32> {
        self.item::<JobUid>()
    }

    /// `S_JOB_ID`.
    pub fn job_id(&self) -> Option<u32> {
        self.item::<JobId>()
    }

    /// `S_JOB_STEPID` (a number, or SLURM_BATCH_SCRIPT, SLURM_EXTERN_CONT, ...).
    pub fn step_id(&self) -> Option<u32> {
        self.item::<JobStepId>()
    }

    /// `S_JOB_NCPUS`.
    pub fn job_ncpus(&self) -> Option<u16> {
        self.item::<JobNcpus>()
    }

    /// `S_JOB_ALLOC_MEM`, MB.
    pub fn alloc_mem_mb(&self) -> Option<u64> {
        self.item::<JobAllocMem>()
    }

    /// `S_JOB_ARRAY_ID`.
    pub fn array_id(&self) -> Option<u32> {
        self.item::<JobArrayId>()
    }

    /// `S_JOB_ARRAY_TASK_ID`.
    pub fn array_task_id(&self) -> Option<u32> {
        self.item::<JobArrayTaskId>()
    }

    /// `S_JOB_ALLOC_CORES`: the job's cores on this node in list form (`0-3,8`).
    pub fn alloc_cores(&self) -> Option<String> {
        let get_item = api().get_item?;
        let mut p: *mut c_char = std::ptr::null_mut();
        // SAFETY: S_JOB_ALLOC_CORES takes a `char **` (spank.h); SPANK stores a pointer to a
        // string it owns, valid during this callback.
        let rc = unsafe { get_item(self.raw, sys::S_JOB_ALLOC_CORES, &mut p as *mut *mut c_char) };
        if rc != sys::ESPANK_SUCCESS {
            return None;
        }
        // SAFETY: NULL or NUL-terminated, owned by SPANK for this callback.
        unsafe { string_from(p) }
    }

    /// Environment variable of the job step (remote context only).
    pub fn getenv(&self, name: &str) -> Option<String> {
        let spank_getenv = api().getenv?;
        let name = c_string(name);
        let mut buf = vec![0 as c_char; 4096];
        loop {
            // SAFETY: `self.raw` is the live handle of this callback; `buf` is writable for its
            // full length, which we pass.
            let rc = unsafe {
                spank_getenv(
                    self.raw,
                    name.as_ptr(),
                    buf.as_mut_ptr(),
                    buf.len() as c_int,
                )
            };
            match rc {
                sys::ESPANK_SUCCESS => {
                    // SAFETY: on success SPANK wrote a NUL-terminated string into `buf`.
                    return unsafe { string_from(buf.as_ptr()) };
                }
                sys::ESPANK_NOSPACE if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
                _ => return None,
            }
        }
    }

    /// Sets (overwriting) an environment variable of the job step (remote context only).
    pub fn setenv(&self, name: &str, value: &str) -> Result<(), String> {
        let spank_setenv = api().setenv.ok_or_else(|| missing("spank_setenv"))?;
        let (n, v) = (c_string(name), c_string(value));
        // SAFETY: live handle; both strings are NUL-terminated and outlive the call (SPANK copies).
        let rc = unsafe { spank_setenv(self.raw, n.as_ptr(), v.as_ptr(), 1) };
        spank_result(rc, || format!("spank_setenv({name})"))
    }

    /// Passes `name=value` to slurmctld's job_submit (`spank_job_env`) and the prolog/epilog
    /// (as `SPANK_name`). Local/allocator context only.
    pub fn job_control_setenv(&self, name: &str, value: &str) -> Result<(), String> {
        let setenv = api()
            .job_control_setenv
            .ok_or_else(|| missing("spank_job_control_setenv"))?;
        let (n, v) = (c_string(name), c_string(value));
        // SAFETY: live handle; NUL-terminated strings that outlive the call (SPANK copies).
        let rc = unsafe { setenv(self.raw, n.as_ptr(), v.as_ptr(), 1) };
        spank_result(rc, || format!("spank_job_control_setenv({name})"))
    }

    /// Registers a command-line option (only valid inside `slurm_spank_init`). The option table
    /// must live as long as the process: SPANK keeps the pointer.
    pub fn register_option(&self, option: &'static OptionSpec) -> Result<(), String> {
        let register = api()
            .option_register
            .ok_or_else(|| missing("spank_option_register"))?;
        // Reuse the slot if this spec was registered before (SPANK calls init once per process,
        // but be robust), else take the first free one.
        let slot = OPTION_SLOTS
            .iter()
            .position(|s| s.get().is_some_and(|o| std::ptr::eq(*o, option)))
            .or_else(|| OPTION_SLOTS.iter().position(|s| s.set(option).is_ok()))
            .ok_or_else(|| "too many SPANK options registered".to_string())?;
        let opt = Box::leak(Box::new(sys::spank_option {
            name: option.name.as_ptr().cast_mut(),
            arginfo: option.arginfo.as_ptr().cast_mut(),
            usage: option.usage.as_ptr().cast_mut(),
            has_arg: 1,
            val: slot as c_int,
            cb: Some(option_trampoline),
        }));
        // SAFETY: live handle; `opt` is leaked, so it outlives every later use by SPANK, and its
        // strings are 'static C literals.
        let rc = unsafe { register(self.raw, opt) };
        spank_result(rc, || {
            format!("spank_option_register(--{})", option.name.to_string_lossy())
        })
    }
}

fn spank_result(rc: sys::spank_err_t, what: impl FnOnce() -> String) -> Result<(), String> {
    if rc == sys::ESPANK_SUCCESS {
        return Ok(());
    }
    let reason = match api().strerror {
        // SAFETY: spank_strerror returns a pointer to a static message for any code.
        Some(strerror) => unsafe { string_from(strerror(rc)) }.unwrap_or_default(),
        None => format!("SPANK error {rc}"),
    };
    Err(format!("{} failed: {reason}", what()))
}

/// A `--name=ARG` option a SPANK plugin adds to srun/sbatch/salloc.
pub struct OptionSpec {
    pub name: &'static CStr,
    pub arginfo: &'static CStr,
    pub usage: &'static CStr,
    /// Called with the option's argument (`None` if absent) and whether we are in slurmstepd.
    /// Non-zero rejects the option.
    pub handler: fn(Option<&str>, bool) -> c_int,
}

/// Options registered in this process, indexed by the `val` SPANK hands back to the callback
/// (the C callback has no user-data pointer). Set once per slot, never poisoned.
static OPTION_SLOTS: [OnceLock<&'static OptionSpec>; 8] = [const { OnceLock::new() }; 8];

/// The one C callback for all our options: finds the handler by `val`.
unsafe extern "C" fn option_trampoline(val: c_int, optarg: *const c_char, remote: c_int) -> c_int {
    guard("spank option callback", -1, slurm::error, || {
        let Some(spec) = usize::try_from(val)
            .ok()
            .and_then(|i| OPTION_SLOTS.get(i))
            .and_then(|slot| slot.get())
        else {
            slurm::error(&format!(
                "spank_rci: option callback for unknown slot {val}"
            ));
            return -1;
        };
        // SAFETY: SPANK passes the user's NUL-terminated argument, or NULL.
        let arg = unsafe { string_from(optarg) };
        (spec.handler)(arg.as_deref(), remote != 0)
    })
}

/// The plugin's argument vector from plugstack.conf (`argv` is NULL when `ac == 0`).
///
/// # Safety
/// `argv` must be NULL or point to `ac` NUL-terminated strings.
pub unsafe fn plugin_args(ac: c_int, argv: *mut *mut c_char) -> Vec<String> {
    if argv.is_null() || ac <= 0 {
        return Vec::new();
    }
    // SAFETY: per this function's contract.
    let args = unsafe { std::slice::from_raw_parts(argv, ac as usize) };
    // SAFETY: each entry is NUL-terminated per the contract.
    args.iter()
        .filter_map(|&p| unsafe { string_from(p) })
        .collect()
}

/// Runs one SPANK callback behind the guard: `body` gets the handle and plugstack args.
/// A panic becomes `on_panic` (0 for hooks that must never fail a job).
///
/// # Safety
/// `sp` must be the handle SPANK passed to this callback; `argv` as for [`plugin_args`].
pub unsafe fn callback(
    name: &'static str,
    on_panic: c_int,
    sp: sys::spank_t,
    ac: c_int,
    argv: *mut *mut c_char,
    body: fn(&Spank<'_>, &[String]) -> c_int,
) -> c_int {
    guard(name, on_panic, slurm::error, || {
        // SAFETY: per this function's contract.
        let args = unsafe { plugin_args(ac, argv) };
        let handle = Spank {
            raw: sp,
            _callback: PhantomData,
        };
        body(&handle, &args)
    })
}

/// One exported SPANK callback: the C signature, the guard, and the safe body it runs.
#[doc(hidden)]
#[macro_export]
macro_rules! __rci_spank_hook {
    ($(#[$doc:meta])* $symbol:ident => $body:path) => {
        $(#[$doc])*
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $symbol(
            sp: $crate::ffi::sys::spank_t,
            ac: ::std::ffi::c_int,
            argv: *mut *mut ::std::ffi::c_char,
        ) -> ::std::ffi::c_int {
            // SAFETY: SPANK passes its live handle and plugstack.conf's argument vector; a
            // panic in the body becomes 0 (never fail a job or drain a node for rci's sake).
            unsafe { $crate::ffi::spank::callback(stringify!($symbol), 0, sp, ac, argv, $body) }
        }
    };
}

/// Exports spank_rci.so's identity and exactly the callbacks it implements, each running the
/// given safe function (`fn(&Spank<'_>, &[String]) -> c_int`). Exporting a callback has a cost
/// (e.g. job_prolog would fork a process per job), so each one listed here is used.
#[macro_export]
macro_rules! spank_plugin {
    (
        name: $name:expr,
        init: $init:path,
        init_post_opt: $init_post_opt:path,
        task_init: $task_init:path,
        exit: $exit:path $(,)?
    ) => {
        $crate::__rci_plugin_identity!($name, "spank");
        $crate::__rci_spank_hook!(
            /// Every context: log where we are, register `--rci-kind`.
            slurm_spank_init => $init
        );
        $crate::__rci_spank_hook!(
            /// Options parsed: forward `--rci-kind` to job_submit; start measuring (extern step).
            slurm_spank_init_post_opt => $init_post_opt
        );
        $crate::__rci_spank_hook!(
            /// Each task, before exec: container GPU environment.
            slurm_spank_task_init => $task_init
        );
        $crate::__rci_spank_hook!(
            /// Step end: the extern step writes the job's energy record.
            slurm_spank_exit => $exit
        );
    };
}
