//! The one guard every exported entry point runs through.
//!
//! Slurm calls our `extern "C"` functions from its daemons. A Rust panic must never unwind into C
//! (undefined behaviour; since Rust 1.81 an abort of slurmctld/slurmstepd). The guard catches the
//! panic, reports it through the given logger and returns the error code the caller chose for
//! that entry point (for SPANK accounting hooks that is 0: accounting never fails a job).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `body`; a panic inside it becomes `on_panic` plus one log line naming the entry point.
///
/// `AssertUnwindSafe` is sound here because nothing observes the closure's captured state after a
/// panic: the entry point returns immediately with an error code, and shared plugin state is only
/// ever replaced wholesale (arc-swap), never left half-written.
pub fn guard<F>(entry: &str, on_panic: i32, log_error: fn(&str), body: F) -> i32
where
    F: FnOnce() -> i32,
{
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(rc) => rc,
        Err(payload) => {
            log_error(&format!(
                "rci: internal error in {entry}: {}; returning {on_panic}",
                panic_message(payload.as_ref())
            ));
            on_panic
        }
    }
}

/// The text of a panic payload (`panic!("...")` carries a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "panic with a non-string payload"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn record(msg: &str) {
        LOGGED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(msg.to_owned());
    }

    #[test]
    fn returns_body_result_when_no_panic() {
        assert_eq!(guard("job_submit", -1, record, || 7), 7);
    }

    #[test]
    fn panic_becomes_error_code_and_log_line() {
        let rc = guard("job_submit", -1, record, || {
            let v: Vec<i32> = Vec::new();
            v[3] // index out of bounds panics with a formatted String payload
        });
        assert_eq!(rc, -1);
        let logged = LOGGED.lock().unwrap_or_else(|e| e.into_inner());
        let line = logged
            .iter()
            .find(|l| l.contains("index out of bounds"))
            .expect("the panic was logged");
        assert!(
            line.starts_with("rci: internal error in job_submit:"),
            "{line}"
        );
    }

    #[test]
    fn static_str_payload_is_reported() {
        let rc = guard("slurm_spank_exit", 0, record, || panic!("boom"));
        assert_eq!(rc, 0);
        assert!(LOGGED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|l| l.contains("slurm_spank_exit: boom")));
    }
}
