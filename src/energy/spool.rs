//! The accounting spool: JSON Lines files on the node's local disk.
//!
//! Layout: `<spool>/rci-energy-<node>-<YYYY-MM>.jsonl`, one file per node and month of the job's
//! end. The node name keeps files from different nodes apart when they are collected in one
//! place; the month bounds each file's size and lets old months be archived whole.
//!
//! Safety rules (slurmstepd writes as root into a directory users must not control):
//! - the spool directory is created with mode 0750 if missing; it must then be a real directory
//!   (not a symlink), owned by the expected owner (root), and not group- or world-writable;
//! - files are opened with `O_NOFOLLOW` (a planted symlink fails with ELOOP) and `O_NONBLOCK` (a
//!   planted FIFO cannot block us), and must be regular files with one link, owned by the
//!   expected owner; new files get mode 0640;
//! - each record is appended with one `write()` of the whole line under an exclusive `flock`
//!   (waited for at most [`LOCK_WAIT`]), so concurrent jobs never interleave; if the write
//!   fails (disk full), the file is truncated back to its previous length so no torn line stays.
//!
//! Errors are returned as text for the caller to log; they never fail a job.

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The owner the spool must have in production.
pub const ROOT_UID: u32 = 0;

/// Longest wait for another writer's lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The file a record goes to: `rci-energy-<node>-<YYYY-MM>.jsonl`, from the node name and the
/// record's RFC 3339 end time. Characters other than ASCII letters, digits, `.`, `_` and `-` in
/// the node name become `_` (a node name never holds a `/`, but the path must not depend on it).
pub fn file_name(node: &str, end_rfc3339: &str) -> String {
    let node: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let node = if node.is_empty() || node.starts_with('.') {
        format!("_{node}")
    } else {
        node
    };
    let month = end_rfc3339
        .get(0..7)
        .filter(|m| {
            m.bytes().enumerate().all(|(i, b)| {
                if i == 4 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
        })
        .unwrap_or("unknown");
    format!("rci-energy-{node}-{month}.jsonl")
}

/// The effective uid of this process (the owner of `/proc/self`), without `unsafe`.
pub fn current_euid() -> Option<u32> {
    fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Creates `dir` (mode 0750) if missing and checks it is a safe spool directory.
pub fn ensure_dir(dir: &Path, expected_owner: u32) -> Result<(), String> {
    let show = dir.display();
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)
                .map_err(|e| format!("cannot create spool directory {show}: {e}"))?;
        }
        Err(e) => return Err(format!("cannot inspect spool directory {show}: {e}")),
        Ok(_) => {}
    }
    check_dir(dir, expected_owner)
}

/// Checks that an existing `dir` is a safe spool directory: a real directory (not a symlink),
/// owned by `expected_owner`, not group- or world-writable.
pub fn check_dir(dir: &Path, expected_owner: u32) -> Result<(), String> {
    let show = dir.display();
    let meta = fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot inspect spool directory {show}: {e}"))?;
    if meta.file_type().is_symlink() {
        return Err(format!("spool directory {show} is a symlink; refusing it"));
    }
    if !meta.is_dir() {
        return Err(format!("spool path {show} is not a directory"));
    }
    if meta.uid() != expected_owner {
        return Err(format!(
            "spool directory {show} is owned by uid {}, not {expected_owner}; refusing it",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "spool directory {show} is group- or world-writable (mode {:o}); refusing it",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// Takes `file`'s exclusive flock, retrying for at most [`LOCK_WAIT`].
fn lock_bounded(file: &File) -> io::Result<()> {
    let deadline = Instant::now() + LOCK_WAIT;
    let mut pause = Duration::from_micros(50);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::Error(e)) => return Err(e),
            Err(TryLockError::WouldBlock) if Instant::now() >= deadline => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "another writer held the lock too long",
                ))
            }
            Err(TryLockError::WouldBlock) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
        }
    }
}

/// Appends `line` (which must end in a newline) to `file` under its exclusive lock, with one
/// `write()` in the normal case. On failure the file is cut back to its length before the
/// write, so a partial line never stays behind. Works on any writable file (tests use
/// `/dev/full`).
pub(crate) fn append_locked(file: &mut File, line: &[u8]) -> io::Result<()> {
    lock_bounded(file)?;
    let before = file.metadata().map(|m| m.len()).ok();
    let result = file.write_all(line);
    if result.is_err() {
        if let Some(len) = before {
            // Best effort: on a full disk shrinking still works; on a device it does not apply.
            let _ = file.set_len(len);
        }
    }
    // The lock is released when `file` is closed by the caller; unlock now anyway so a slow
    // close does not hold others up.
    let _ = file.unlock();
    result
}

/// A spool file opened (and checked) for appending; writes through it need no permission
/// check on the path any more. The extern step opens one at job start, as root, for the moment
/// Slurm 24.11–25.11 runs its end with the job user's euid (see `spank_accounting`).
#[derive(Debug)]
pub struct SpoolFile {
    file: File,
    path: PathBuf,
}

impl SpoolFile {
    /// Opens `<dir>/<file_name>` for appending, creating the directory and the file if missing
    /// and applying the rules in the module docs.
    pub fn open(dir: &Path, expected_owner: u32, file_name: &str) -> Result<SpoolFile, String> {
        if file_name.contains('/') || file_name.starts_with('.') || file_name.is_empty() {
            return Err(format!("bad spool file name {file_name:?}"));
        }
        ensure_dir(dir, expected_owner)?;
        let path = dir.join(file_name);
        let file = open_checked(&path, expected_owner, "spool file")?;
        Ok(SpoolFile { file, path })
    }

    /// The path it was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one JSON line (`line` without the trailing newline) under the file's lock.
    pub fn append(&mut self, line: &str) -> Result<(), String> {
        if line.contains('\n') {
            return Err("record contains a newline; not written".to_owned());
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        append_locked(&mut self.file, &buf)
            .map_err(|e| format!("cannot write spool file {}: {e}", self.path.display()))
    }
}

/// Opens `path` for appending (created with mode 0640 if missing) without following links or
/// blocking, and checks it is a regular file with one link, owned by `expected_owner`. `what`
/// names it in messages.
pub(crate) fn open_checked(path: &Path, expected_owner: u32, what: &str) -> Result<File, String> {
    open_checked_or_unlinked(path, expected_owner, what)?
        .ok_or_else(|| format!("{what} {} has 0 links; refusing it", path.display()))
}

/// [`open_checked`], but `Ok(None)` when the file was removed between the open and the check
/// (no link left): the caller may simply open the path again.
pub(crate) fn open_checked_or_unlinked(
    path: &Path,
    expected_owner: u32,
    what: &str,
) -> Result<Option<File>, String> {
    let show = path.display();
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| format!("cannot open {what} {show}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot inspect {what} {show}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{what} {show} is not a regular file; refusing it"));
    }
    if meta.nlink() == 0 {
        return Ok(None);
    }
    if meta.nlink() != 1 {
        return Err(format!(
            "{what} {show} has {} links; refusing it",
            meta.nlink()
        ));
    }
    if meta.uid() != expected_owner {
        return Err(format!(
            "{what} {show} is owned by uid {}, not {expected_owner}; refusing it",
            meta.uid()
        ));
    }
    Ok(Some(file))
}

/// Appends one JSON line (`line` without the trailing newline) to `<dir>/<file_name>`, applying
/// the rules in the module docs. Returns the file's path.
pub fn append_line(
    dir: &Path,
    expected_owner: u32,
    file_name: &str,
    line: &str,
) -> Result<PathBuf, String> {
    if line.contains('\n') {
        return Err("record contains a newline; not written".to_owned());
    }
    let mut file = SpoolFile::open(dir, expected_owner, file_name)?;
    file.append(line)?;
    Ok(file.path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::os::unix::fs::PermissionsExt;

    fn me() -> u32 {
        current_euid().unwrap()
    }

    #[test]
    fn file_names() {
        assert_eq!(
            file_name("gpu01", "2024-03-05T10:00:00Z"),
            "rci-energy-gpu01-2024-03.jsonl"
        );
        assert_eq!(
            file_name("../x y", "2024-03-05T10:00:00Z"),
            "rci-energy-_.._x_y-2024-03.jsonl"
        );
        assert_eq!(file_name("", "garbage"), "rci-energy-_-unknown.jsonl");
    }

    #[test]
    fn creates_dir_0750_and_file_0640_and_appends() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/spool");
        let p = append_line(&dir, me(), "f.jsonl", r#"{"a":1}"#).unwrap();
        append_line(&dir, me(), "f.jsonl", r#"{"a":2}"#).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
        let dmode = fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
        let fmode = fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        // The umask can only remove bits.
        assert_eq!(dmode & !0o750, 0, "{dmode:o}");
        assert_eq!(fmode & !0o640, 0, "{fmode:o}");
    }

    #[test]
    fn refuses_unsafe_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o750)).unwrap();
        assert!(ensure_dir(&real, me()).is_ok());

        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(ensure_dir(&link, me()).unwrap_err().contains("symlink"));

        assert!(ensure_dir(&real, me() + 1)
            .unwrap_err()
            .contains("owned by"));

        fs::set_permissions(&real, fs::Permissions::from_mode(0o770)).unwrap();
        assert!(ensure_dir(&real, me()).unwrap_err().contains("writable"));
        fs::set_permissions(&real, fs::Permissions::from_mode(0o757)).unwrap();
        assert!(ensure_dir(&real, me()).unwrap_err().contains("writable"));

        let file = tmp.path().join("file");
        fs::write(&file, "").unwrap();
        assert!(ensure_dir(&file, me())
            .unwrap_err()
            .contains("not a directory"));
        assert!(append_line(&file, me(), "f.jsonl", "{}").is_err());
    }

    #[test]
    fn refuses_symlinked_fifo_and_hardlinked_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("spool");
        let target = tmp.path().join("target");
        fs::write(&target, "").unwrap();
        append_line(&dir, me(), "ok.jsonl", "{}").unwrap();

        std::os::unix::fs::symlink(&target, dir.join("sym.jsonl")).unwrap();
        let err = append_line(&dir, me(), "sym.jsonl", "{}").unwrap_err();
        assert!(err.contains("cannot open"), "{err}");
        assert_eq!(
            fs::read_to_string(&target).unwrap(),
            "",
            "nothing written through the link"
        );

        fs::hard_link(&target, dir.join("hard.jsonl")).unwrap();
        assert!(append_line(&dir, me(), "hard.jsonl", "{}")
            .unwrap_err()
            .contains("links"));

        fs::create_dir(dir.join("d.jsonl")).unwrap();
        assert!(append_line(&dir, me(), "d.jsonl", "{}").is_err());

        for bad in ["../x.jsonl", ".hidden", ""] {
            assert!(append_line(&dir, me(), bad, "{}").is_err(), "{bad}");
        }
        assert!(append_line(&dir, me(), "ok.jsonl", "a\nb").is_err());
    }

    #[test]
    fn full_disk_is_an_error() {
        let mut full = OpenOptions::new().write(true).open("/dev/full").unwrap();
        let err = append_locked(&mut full, b"{\"x\":1}\n").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    }

    #[test]
    fn unwritable_spool_is_an_error() {
        // /proc is root-owned, mode 0555: it passes the directory checks, but even root cannot
        // create files in it.
        let err = append_line(Path::new("/proc"), ROOT_UID, "x.jsonl", "{}");
        assert!(err.is_err());
    }

    #[test]
    fn concurrent_writers_never_lose_or_tear_lines() {
        const THREADS: usize = 64;
        const PER_THREAD: usize = 1000;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("spool");
        ensure_dir(&dir, me()).unwrap();
        // Lines of varying length, up to 700 bytes of padding.
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    for i in 0..PER_THREAD {
                        let pad = "x".repeat((t * 131 + i * 17) % 700);
                        let line = format!(r#"{{"t":{t},"i":{i},"pad":"{pad}"}}"#);
                        append_line(&dir, me(), "c.jsonl", &line).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let text = fs::read_to_string(dir.join("c.jsonl")).unwrap();
        let mut seen = HashSet::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("whole line");
            let (t, i) = (v["t"].as_u64().unwrap(), v["i"].as_u64().unwrap());
            let pad = v["pad"].as_str().unwrap().len() as u64;
            assert_eq!(pad, (t * 131 + i * 17) % 700);
            assert!(seen.insert((t, i)), "duplicate {t} {i}");
        }
        assert_eq!(seen.len(), THREADS * PER_THREAD);
    }
}
