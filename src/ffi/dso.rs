//! Keeping this shared object mapped: slurmstepd dlcloses SPANK plugins at step end, which would
//! unmap code that a leaked thread (a hung nvmlInit, a hung final NVML sample) will return into,
//! or that a process-wide panic hook points at.

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
