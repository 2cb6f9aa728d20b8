//! Where records go: the spool directory (safe, with room) and the syslog socket.

use std::path::{Path, PathBuf};

use super::check::Check;
use crate::config::energy::EnergyConfig;
use crate::energy::spool;
use crate::energy::syslog::SyslogConnection;
use crate::ffi::statvfs::free_bytes;

const AREA: &str = "spool";

/// Below this much free space a record may not fit: FAIL. Records are about 2 KiB each.
const FAIL_BELOW: u64 = 1 << 20;
/// Below this, a month of records on a busy node may not fit: WARN.
const WARN_BELOW: u64 = 64 << 20;

/// The checks of the spool directory `dir` and, when enabled, the syslog socket.
pub fn spool_checks(dir: &Path, energy: &EnergyConfig) -> Vec<Check> {
    let mut checks = vec![dir_check(dir)];
    let existing = nearest_existing(dir);
    checks.push(match free_bytes(&existing) {
        Ok((_, free)) if free < FAIL_BELOW => Check::fail(
            AREA,
            format!(
                "only {} free on {}: records would be lost",
                size(free),
                existing.display()
            ),
            "free space there, or move AccountingSpool= to a filesystem with room",
        ),
        Ok((_, free)) if free < WARN_BELOW => Check::warn(
            AREA,
            format!("only {} free on {}", size(free), existing.display()),
            "free space there, or move AccountingSpool= to a filesystem with room",
        ),
        Ok((_, free)) => Check::ok(
            AREA,
            format!("{} free on {}", size(free), existing.display()),
        ),
        Err(e) => Check::warn(
            AREA,
            format!("cannot read free space of {}: {e}", existing.display()),
            "check the filesystem",
        ),
    });
    checks.push(if !energy.syslog {
        Check::ok(AREA, "Syslog=no: records go to the spool only")
    } else {
        let socket = &energy.syslog_socket;
        match SyslogConnection::connect(socket) {
            Ok(_) => Check::ok(
                AREA,
                format!("syslog socket {} accepts records", socket.display()),
            ),
            Err(e) => Check::warn(
                AREA,
                format!("syslog: {e}; records still go to the spool"),
                "start the syslog daemon (rsyslog, systemd-journald), set SyslogSocket=, or \
                 Syslog=no",
            ),
        }
    });
    checks
}

fn dir_check(dir: &Path) -> Check {
    let show = dir.display();
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = nearest_existing(dir);
            match spool::check_dir(&parent, 0) {
                Ok(()) => Check::ok(
                    AREA,
                    format!(
                        "{show} does not exist yet: spank_rci creates it (root, mode 0750) at the \
                         first job"
                    ),
                ),
                Err(_) if parent.parent().is_none() => Check::ok(
                    AREA,
                    format!("{show} does not exist yet: spank_rci creates it at the first job"),
                ),
                Err(e) => Check::warn(
                    AREA,
                    format!("{show} does not exist yet, and its parent is not safe: {e}"),
                    "create the spool directory yourself: install -d -o root -m 0750 DIR",
                ),
            }
        }
        Err(e) => Check::fail(
            AREA,
            format!("cannot inspect {show}: {e}"),
            "fix AccountingSpool=",
        ),
        Ok(_) => match spool::check_dir(dir, 0) {
            Ok(()) => Check::ok(
                AREA,
                format!("{show}: a directory owned by root, not group- or world-writable"),
            ),
            Err(e) => Check::fail(
                AREA,
                format!("{e}: spank_rci writes no records there"),
                format!(
                    "make it a real directory: rm it if it is a symlink, then install -d -o root \
                     -m 0750 {show}"
                ),
            ),
        },
    }
}

/// `dir` or its closest ancestor that exists.
fn nearest_existing(dir: &Path) -> PathBuf {
    let mut at = dir;
    while std::fs::symlink_metadata(at).is_err() {
        match at.parent() {
            Some(parent) => at = parent,
            None => break,
        }
    }
    at.to_path_buf()
}

fn size(bytes: u64) -> String {
    const GIB: u64 = 1 << 30;
    if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}
