//! The one guard every exported entry point runs through.
//!
//! Slurm calls our `extern "C"` functions from its daemons. A Rust panic must never unwind into C
//! (undefined behaviour; since Rust 1.81 an abort of slurmctld/slurmstepd). The guard catches the
//! panic, reports it through the given logger and returns the error code the caller chose for
//! that entry point (for SPANK accounting hooks that is 0: accounting never fails a job).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside [`guard`]: panics here are ours to report.
    static IN_GUARD: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic inside the guard happened (`file:line:column`).
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs, once per process, a panic hook that records where a panic inside [`guard`]
/// happened and prints nothing (the default hook writes to stderr, which in a task is the
/// user's job output); panics outside the guard go to the previous hook. The hook is code of
/// this shared object, called for any panic of the process, so the object is pinned in memory.
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        super::dso::pin_this_object();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_GUARD.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                PANIC_LOCATION.with(|slot| {
                    if let Ok(mut slot) = slot.try_borrow_mut() {
                        *slot = location;
                    }
                });
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `body`; a panic inside it becomes `on_panic` plus one log line naming the entry point
/// and where the panic happened.
///
/// `AssertUnwindSafe` is sound here because nothing observes the closure's captured state after a
/// panic: the entry point returns immediately with an error code, and shared plugin state is only
/// ever replaced wholesale (arc-swap), never left half-written. The error path cannot unwind
/// either: a logger that panics is caught too (a second unwind into C would abort the host).
pub fn guard<F>(entry: &str, on_panic: i32, log_error: fn(&str), body: F) -> i32
where
    F: FnOnce() -> i32,
{
    install_panic_hook();
    let outer = IN_GUARD.with(|g| g.replace(true));
    let rc = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(rc) => rc,
        Err(payload) => {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                let location = PANIC_LOCATION
                    .with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take()))
                    .map(|l| format!(" at {l}"))
                    .unwrap_or_default();
                log_error(&format!(
                    "rci: internal error in {entry}: {}{location}; returning {on_panic}",
                    panic_message(payload.as_ref())
                ));
                drop(payload);
            }));
            on_panic
        }
    };
    IN_GUARD.with(|g| g.set(outer));
    rc
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
    fn the_log_line_says_where_the_panic_happened() {
        let line = line!() + 1;
        let rc = guard("job_modify", -1, record, || panic!("located"));
        assert_eq!(rc, -1);
        let logged = LOGGED.lock().unwrap_or_else(|e| e.into_inner());
        let entry = logged.iter().find(|l| l.contains("located")).unwrap();
        assert!(
            entry.contains(&format!(" at src/ffi/guard.rs:{line}:")),
            "{entry}"
        );
    }

    #[test]
    fn a_panicking_logger_does_not_escape_the_guard() {
        fn bad_logger(_: &str) {
            panic!("the logger itself");
        }
        assert_eq!(guard("slurm_spank_init", 0, bad_logger, || panic!("x")), 0);
        // And the guard still works afterwards on this thread.
        assert_eq!(guard("slurm_spank_init", 0, bad_logger, || 5), 5);
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
