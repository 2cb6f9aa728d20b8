//! Shared objects. Keeping this one mapped: slurmstepd dlcloses SPANK plugins at step end, which would
//! unmap code that a leaked thread (a hung nvmlInit, a hung final NVML sample) will return into,
//! or that a process-wide panic hook points at. Reading another plugin's `plugin_version`.

use std::ffi::c_void;

/// Keeps the shared object that contains this code mapped for the life of the process.
pub fn pin_this_object() {
    let mut info = libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    let here = pin_this_object as *const () as *const c_void;
    // SAFETY: dladdr only inspects the loaded-object list and fills `info`.
    let found = unsafe { libc::dladdr(here, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return;
    }
    // SAFETY: `dli_fname` is the NUL-terminated path of an object that is loaded right now;
    // RTLD_NOLOAD makes this take a reference without loading anything, and RTLD_NODELETE keeps
    // the object mapped even after every dlclose. The handle is deliberately never closed.
    unsafe {
        libc::dlopen(
            info.dli_fname,
            libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
        );
    }
}

/// The `plugin_version` a Slurm plugin exports, read by loading it the way Slurm does
/// (`RTLD_LAZY`, so its references to Slurm's functions stay unresolved outside Slurm). Only
/// data is read: none of the plugin's functions run. The library stays loaded (this is for
/// short-lived tools such as `rci doctor`).
pub fn plugin_version_of(path: &std::path::Path) -> Result<u32, String> {
    use std::os::unix::ffi::OsStrExt;
    let show = path.display();
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{show}: path contains NUL"))?;
    // SAFETY: `c_path` is NUL-terminated. Loading runs only ELF constructors, which our plugins
    // do not have (Slurm's own `init()` is a plain function that is not called here).
    let lib = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL) };
    if lib.is_null() {
        // SAFETY: dlerror returns NULL or a NUL-terminated string owned by libc; copied at once.
        let why = unsafe {
            let p = libc::dlerror();
            if p.is_null() {
                "dlopen failed".to_owned()
            } else {
                std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        return Err(format!("cannot load {show}: {why}"));
    }
    // SAFETY: `lib` is a live handle and the name is NUL-terminated.
    let sym = unsafe { libc::dlsym(lib, c"plugin_version".as_ptr()) };
    if sym.is_null() {
        return Err(format!(
            "{show} exports no plugin_version: not a Slurm plugin"
        ));
    }
    // SAFETY: every Slurm plugin exports `plugin_version` as a `uint32_t` data symbol
    // (src/common/plugin.c); the object stays mapped (never closed).
    Ok(unsafe { std::ptr::read_unaligned(sym.cast::<u32>()) })
}
