//! Every line of rci that touches C lives under this module.
//!
//! - [`sys`]: bindgen's output for `include/rci_slurm.h` (types and constants; no functions).
//! - [`slurm`]: Slurm's logging and allocator, looked up in the host process at run time.
//! - [`guard`]: the one guard every exported function runs through (no unwinding into C).
//! - [`job_submit`]: job_desc ⇄ [`crate::job::JobRequest`] and the `job_submit_plugin!` export
//!   macro; [`spank`]: the SPANK handle (`Spank<'cb>`) and the `spank_plugin!` export macro. Both
//!   macros are given their handlers by path: this module never names the layers above it.
//! - [`passwd`]: uid → user name (getpwuid_r) and job_submit's cache of it.
//! - [`nvml`]: NVIDIA's management library, dlopen'ed for GPU energy; [`dso`]: keeping this
//!   shared object mapped where a thread or hook of ours may outlive a dlclose, and reading a
//!   plugin's `plugin_version`; [`statvfs`]: free space on a filesystem.
//!
//! Functions from libslurmfull are resolved with `dlsym(RTLD_DEFAULT, …)` rather than linked: the
//! plugins never link `-lslurm`, the same code runs in every host process (slurmctld, slurmstepd,
//! srun), and unit tests run outside Slurm with a stderr fallback for logging.

pub mod dso;
pub mod guard;
pub mod job_submit;
pub mod nvml;
pub mod passwd;
pub mod slurm;
pub mod spank;
pub mod statvfs;
pub mod sys;

/// `SLURM_VERSION_NUMBER` of the headers we were built against; Slurm refuses to load a plugin
/// whose `plugin_version` differs (major.minor for SPANK, exact for every other type).
pub const SLURM_VERSION_NUMBER: u32 = sys::SLURM_VERSION_NUMBER;

/// A NUL-terminated byte array for `plugin_name`/`plugin_type`: Slurm takes the symbol's
/// address as `char *`, so these must be arrays, not pointers.
pub const fn c_array<const N: usize>(text: &str) -> [u8; N] {
    let bytes = text.as_bytes();
    assert!(bytes.len() + 1 == N, "array length must be text length + 1");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i] != 0, "no NUL inside plugin strings");
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// The three data symbols every Slurm plugin exports.
#[doc(hidden)]
#[macro_export]
macro_rules! __rci_plugin_identity {
    ($name:expr, $type:expr) => {
        /// Human-readable plugin name (Slurm reads the symbol address as `char *`).
        #[unsafe(no_mangle)]
        pub static plugin_name: [u8; $name.len() + 1] = $crate::ffi::c_array($name);
        /// `major/minor` plugin type string.
        #[unsafe(no_mangle)]
        pub static plugin_type: [u8; $type.len() + 1] = $crate::ffi::c_array($type);
        /// Must equal the running Slurm's SLURM_VERSION_NUMBER.
        #[unsafe(no_mangle)]
        pub static plugin_version: u32 = $crate::ffi::SLURM_VERSION_NUMBER;
    };
}
