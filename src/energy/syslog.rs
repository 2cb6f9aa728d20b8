//! Sending a record to the local syslog daemon.
//!
//! One datagram per record to the local socket (`/dev/log`), in the RFC 3164 form the local
//! socket accepts: `<PRI>rci-energy[PID]: {json}`, severity `info`, facility configurable. The
//! daemon adds timestamp and host name. The socket is non-blocking: if the daemon's queue is full
//! the record is not sent and an error is returned (accounting never blocks a job), as for any
//! other failure (no daemon, stream-only socket).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// The local syslog socket.
pub const DEFAULT_SOCKET: &str = crate::config::energy::DEFAULT_SYSLOG_SOCKET;

/// Tag in front of every message.
pub const TAG: &str = "rci-energy";

/// Severity `info` (RFC 5424 table 2).
const SEVERITY_INFO: u8 = 6;

pub use crate::config::energy::Facility;

/// `<PRI>rci-energy[pid]: line`.
pub fn format_message(facility: Facility, pid: u32, line: &str) -> String {
    let pri = u16::from(facility.code()) * 8 + u16::from(SEVERITY_INFO);
    format!("<{pri}>{TAG}[{pid}]: {line}")
}

/// Sends `line` (one JSON record) to the syslog socket at `socket`.
pub fn send(socket: &Path, facility: Facility, line: &str) -> Result<(), String> {
    let err = |e: std::io::Error| format!("syslog via {}: {e}", socket.display());
    let sock = UnixDatagram::unbound().map_err(err)?;
    sock.set_nonblocking(true).map_err(err)?;
    let msg = format_message(facility, std::process::id(), line);
    let sent = sock.send_to(msg.as_bytes(), socket).map_err(err)?;
    check_sent(socket, sent, msg.len())
}

fn check_sent(socket: &Path, sent: usize, len: usize) -> Result<(), String> {
    if sent != len {
        return Err(format!(
            "syslog via {}: sent {sent} of {len} bytes",
            socket.display()
        ));
    }
    Ok(())
}

/// A socket connected to the syslog daemon ahead of time: sending through it needs no
/// permission on the socket's path any more (the extern step connects at job start, as root).
#[derive(Debug)]
pub struct SyslogConnection {
    sock: UnixDatagram,
    path: PathBuf,
}

impl SyslogConnection {
    /// Connects to the syslog socket at `socket` (non-blocking).
    pub fn connect(socket: &Path) -> Result<SyslogConnection, String> {
        let err = |e: std::io::Error| format!("syslog via {}: {e}", socket.display());
        let sock = UnixDatagram::unbound().map_err(err)?;
        sock.set_nonblocking(true).map_err(err)?;
        sock.connect(socket).map_err(err)?;
        Ok(SyslogConnection {
            sock,
            path: socket.to_path_buf(),
        })
    }

    /// Sends `line` through the connection (fails if the daemon went away since).
    pub fn send(&self, facility: Facility, line: &str) -> Result<(), String> {
        let msg = format_message(facility, std::process::id(), line);
        let sent = self
            .sock
            .send(msg.as_bytes())
            .map_err(|e| format!("syslog via {}: {e}", self.path.display()))?;
        check_sent(&self.path, sent, msg.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities() {
        assert_eq!(
            format_message(Facility::Local0, 7, "{}"),
            "<134>rci-energy[7]: {}"
        );
        assert_eq!(
            format_message(Facility::User, 1, "x"),
            "<14>rci-energy[1]: x"
        );
        assert_eq!(
            format_message(Facility::Daemon, 1, "x"),
            "<30>rci-energy[1]: x"
        );
        assert_eq!(
            format_message(Facility::Local7, 1, "x"),
            "<190>rci-energy[1]: x"
        );
    }

    #[test]
    fn parses_facilities() {
        assert_eq!(Facility::parse("LOCAL3"), Ok(Facility::Local3));
        assert_eq!(Facility::parse("daemon"), Ok(Facility::Daemon));
        assert!(Facility::parse("local8").is_err());
        assert!(Facility::parse("kern").is_err());
    }

    #[test]
    fn sends_one_datagram_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let line = r#"{"schema":"rci.job-energy","job_id":1}"#;
        send(&path, Facility::Local5, line).unwrap();
        send(&path, Facility::User, "second").unwrap();
        let mut buf = [0u8; 4096];
        let n = server.recv(&mut buf).unwrap();
        let expected = format_message(Facility::Local5, std::process::id(), line);
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), expected);
        let n = server.recv(&mut buf).unwrap();
        assert!(std::str::from_utf8(&buf[..n])
            .unwrap()
            .ends_with("]: second"));
    }

    #[test]
    fn missing_socket_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = send(&dir.path().join("none"), Facility::Local0, "{}").unwrap_err();
        assert!(err.starts_with("syslog via"), "{err}");
    }

    #[test]
    fn full_queue_is_an_error_not_a_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let _server = UnixDatagram::bind(&path).unwrap();
        // Nobody reads: the receive queue fills up and a send fails with EAGAIN.
        let big = "x".repeat(16 * 1024);
        let failed = (0..10_000).find_map(|_| send(&path, Facility::Local0, &big).err());
        assert!(failed.is_some());
    }
}
