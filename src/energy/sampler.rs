//! A meter sampled periodically in one background thread, stopped and joined on demand.
//!
//! The thread waits on an mpsc channel with `recv_timeout(interval)`: a timeout means "sample
//! now", a message (or the sender going away) means "finish". No mutex is shared with the thread,
//! so nothing can be poisoned, and stopping wakes it at once instead of after the interval.
//! If the thread cannot be created, the meter is kept in the caller and only sampled at stop.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Something sampled periodically, then finished into a result.
pub(crate) trait Sampling: Send + 'static {
    /// What [`finish`](Self::finish) produces.
    type Output: Send + 'static;
    /// Takes one sample.
    fn sample(&mut self);
    /// The longest interval at which sampling stays correct, if there is one.
    fn max_interval(&self) -> Option<Duration>;
    /// Takes the final sample and returns the result.
    fn finish(self) -> Self::Output;
    /// The result to report when the sampling thread died (it never should).
    fn lost(reason: &str) -> Self::Output;
}

enum State<S: Sampling> {
    Thread {
        stop: Sender<()>,
        handle: JoinHandle<S::Output>,
    },
    /// The thread could not be started: sample only at the end.
    Inline(S),
    Stopped,
}

/// A [`Sampling`] meter running in its own thread.
pub(crate) struct Background<S: Sampling> {
    state: State<S>,
}

impl<S: Sampling> std::fmt::Debug for Background<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Thread { .. } => "thread",
            State::Inline(_) => "inline",
            State::Stopped => "stopped",
        };
        f.debug_struct("Background").field("state", &state).finish()
    }
}

/// The thread runs vendor code (dlopen of libnvidia-ml, NVML queries) and a cdylib has no
/// stack-overflow guard handler, so it gets a normal 8 MiB stack (virtual memory only).
const STACK_SIZE: usize = 8 << 20;

/// How long `stop` waits for the final sample. A GPU that hangs in NVML must not keep the job
/// COMPLETING until Slurm declares the step unkillable and drains the node.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `f` in a thread named `name` and waits at most `deadline` for it. `None` on a timeout:
/// the thread is left to finish on its own (a driver call that hangs) and this shared object
/// stays mapped for it.
pub(crate) fn within<T: Send + 'static>(
    name: &str,
    deadline: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name(name.to_owned())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .ok()?;
    match rx.recv_timeout(deadline) {
        Ok(value) => {
            let _ = handle.join();
            Some(value)
        }
        Err(_) => {
            crate::ffi::dso::pin_this_object();
            None
        }
    }
}

impl<S: Sampling> Background<S> {
    /// Starts a thread named `name` that builds the meter with `init`, then samples it every
    /// `interval` (shortened to the meter's `max_interval`).
    pub(crate) fn start<F>(name: &str, interval: Duration, init: F) -> Background<S>
    where
        F: FnOnce() -> S + Send + 'static,
    {
        // The closure is parked in a slot so it can still be run here if the spawn fails
        // (a failed spawn drops what it was given). Nothing panics while the lock is held.
        let slot = Arc::new(Mutex::new(Some(init)));
        let thread_slot = Arc::clone(&slot);
        let (stop, stop_rx) = mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name(name.to_owned())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                let init = thread_slot.lock().ok().and_then(|mut g| g.take());
                drop(thread_slot);
                let Some(init) = init else {
                    return S::lost("sampler lost its meter");
                };
                let mut meter = init();
                let interval = meter
                    .max_interval()
                    .map_or(interval, |max| interval.min(max));
                // A timeout means "sample now"; a stop message or a dropped sender ends it.
                while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(interval) {
                    meter.sample();
                }
                meter.finish()
            });
        let state = match spawned {
            Ok(handle) => State::Thread { stop, handle },
            Err(_) => {
                let init = slot.lock().ok().and_then(|mut g| g.take());
                match init {
                    Some(init) => State::Inline(init()),
                    None => State::Stopped,
                }
            }
        };
        Background { state }
    }

    /// Wakes the thread, lets it take its final sample, joins it and returns the result.
    pub(crate) fn stop(mut self) -> S::Output {
        self.stop_now()
    }

    fn stop_now(&mut self) -> S::Output {
        match std::mem::replace(&mut self.state, State::Stopped) {
            State::Thread { stop, handle } => {
                // An error means the thread already left its loop.
                let _ = stop.send(());
                let deadline = Instant::now() + STOP_TIMEOUT;
                while !handle.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if !handle.is_finished() {
                    // Stuck in a driver call. Leave it, and keep this plugin mapped so the
                    // thread never returns into unmapped code after slurmstepd's dlclose.
                    crate::ffi::dso::pin_this_object();
                    drop(handle);
                    return S::lost("the final energy sample did not finish within 10 s");
                }
                match handle.join() {
                    Ok(out) => out,
                    Err(_) => S::lost("sampler thread panicked"),
                }
            }
            State::Inline(meter) => meter.finish(),
            State::Stopped => S::lost("sampler already stopped"),
        }
    }
}

impl<S: Sampling> Drop for Background<S> {
    /// Never leave the thread running: the plugin's code may be unmapped after we return.
    fn drop(&mut self) {
        if matches!(self.state, State::Thread { .. }) {
            let _ = self.stop_now();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Wraps a meter and counts its completed samples, so tests can wait for the thread.
    pub(crate) struct Counted<S> {
        inner: S,
        samples: Arc<AtomicUsize>,
    }

    impl<S> Counted<S> {
        pub(crate) fn new(inner: S) -> (Counted<S>, Arc<AtomicUsize>) {
            let samples = Arc::new(AtomicUsize::new(0));
            let counted = Counted {
                inner,
                samples: Arc::clone(&samples),
            };
            (counted, samples)
        }
    }

    impl<S: Sampling> Sampling for Counted<S> {
        type Output = S::Output;
        fn sample(&mut self) {
            self.inner.sample();
            self.samples.fetch_add(1, Ordering::SeqCst);
        }
        fn max_interval(&self) -> Option<Duration> {
            self.inner.max_interval()
        }
        fn finish(self) -> S::Output {
            self.inner.finish()
        }
        fn lost(reason: &str) -> S::Output {
            S::lost(reason)
        }
    }

    /// Counts samples; its output is (samples, finished).
    struct Tally(u32);

    impl Sampling for Tally {
        type Output = (u32, bool);
        fn sample(&mut self) {
            self.0 += 1;
        }
        fn max_interval(&self) -> Option<Duration> {
            Some(Duration::from_millis(1))
        }
        fn finish(self) -> (u32, bool) {
            (self.0, true)
        }
        fn lost(_: &str) -> (u32, bool) {
            (0, false)
        }
    }

    #[test]
    fn stop_wakes_a_long_interval_and_finishes() {
        // An hour-long interval with no cap: stop must not wait for it.
        struct Slow;
        impl Sampling for Slow {
            type Output = &'static str;
            fn sample(&mut self) {}
            fn max_interval(&self) -> Option<Duration> {
                None
            }
            fn finish(self) -> &'static str {
                "finished"
            }
            fn lost(_: &str) -> &'static str {
                "lost"
            }
        }
        let bg = Background::start("t", Duration::from_secs(3600), || Slow);
        assert_eq!(bg.stop(), "finished");
    }

    #[test]
    fn max_interval_caps_the_requested_one() {
        let (meter, samples) = Counted::new(Tally(0));
        let bg = Background::start("t", Duration::from_secs(3600), move || meter);
        while samples.load(Ordering::SeqCst) < 3 {
            std::thread::yield_now();
        }
        let (n, finished) = bg.stop();
        assert!(finished);
        assert!(n >= 3);
    }

    #[test]
    fn drop_joins_the_thread() {
        let (meter, samples) = Counted::new(Tally(0));
        let bg = Background::start("t", Duration::from_millis(1), move || meter);
        drop(bg);
        // After the join nothing samples any more.
        let after = samples.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(samples.load(Ordering::SeqCst), after);
        assert_eq!(
            Arc::strong_count(&samples),
            1,
            "the thread's meter was dropped"
        );
    }
}
