//! Free space on a filesystem (`statvfs`), for `rci doctor`'s spool check.

/// Bytes available to unprivileged users on the filesystem holding `path` (`statvfs`'s
/// `f_bavail`), and to root (`f_bfree`).
pub fn free_bytes(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: statvfs is plain old data; all-zero is a valid value to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and `st` a valid out-pointer.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let block = st.f_frsize;
    Ok((
        st.f_bavail.saturating_mul(block),
        st.f_bfree.saturating_mul(block),
    ))
}
