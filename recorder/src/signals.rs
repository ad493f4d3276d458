//! How the recording threads and the writer thread signal each other:
//! wake-ups, flushes, shutdown, and waits for room in a full queue.
//!
//! # Invariants
//!
//! * **A flush is a number.** Each flush takes the next epoch; the writer
//!   reads the requested epoch before it drains, and after the drain marks
//!   that epoch done. So a flush returns only after every span ended before
//!   it was committed (or counted).
//! * **Waiters never hang on a writer that is gone.** The writer marks
//!   itself stopped on a normal return and on a panic alike
//!   ([`Signals::writer_gone`]); every wait ends then.
//! * **A wake-up costs one shared write per round.** While a wake-up is
//!   pending, recording threads only read the flag.
//! * **A missed notification costs a millisecond, not a hang.** A thread
//!   waiting for room re-checks at least every millisecond.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// The signals between a recorder's threads.
#[derive(Default)]
pub(crate) struct Signals {
    writer: OnceLock<Thread>,
    wake_pending: AtomicBool,
    flush_requested: AtomicU64,
    flush_done: Mutex<FlushState>,
    flush_cv: Condvar,
    space_waiters: AtomicUsize,
    space_lock: Mutex<()>,
    space_cv: Condvar,
    shutdown: AtomicBool,
}

#[derive(Default)]
struct FlushState {
    done_epoch: u64,
    stopped: bool,
}

/// How a wait for the writer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// What was waited for happened.
    Done,
    /// The writer stopped first.
    Stopped,
    /// The deadline passed first.
    TimedOut,
}

/// What the writer does this round.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Round {
    /// The flush epoch this round's drain covers.
    pub(crate) epoch: u64,
    /// Whether to stop after this round.
    pub(crate) stop: bool,
}

impl Signals {
    fn lock_flush(&self) -> std::sync::MutexGuard<'_, FlushState> {
        self.flush_done.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits on the flush condition until `done` holds, the writer stops,
    /// or `deadline` passes.
    fn wait_flush_state(&self, deadline: Instant, done: impl Fn(&FlushState) -> bool) -> Waited {
        let mut st = self.lock_flush();
        loop {
            if done(&st) {
                return Waited::Done;
            }
            if st.stopped {
                return Waited::Stopped;
            }
            let now = Instant::now();
            if now >= deadline {
                return Waited::TimedOut;
            }
            st = self
                .flush_cv
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    // --- Recording threads and flush callers ---

    /// Registers the writer thread (once).
    pub(crate) fn set_writer(&self, t: Thread) {
        let _ = self.writer.set(t);
    }

    fn unpark_writer(&self) {
        if let Some(t) = self.writer.get() {
            t.unpark();
        }
    }

    /// Wakes the writer, unless a wake-up is already pending.
    #[inline]
    pub(crate) fn wake_writer(&self) {
        // A plain read first: while a wake-up is pending (the common case
        // when many spans ask at once), no thread writes the shared line.
        if !self.wake_pending.load(Ordering::Acquire)
            && !self.wake_pending.swap(true, Ordering::AcqRel)
        {
            self.unpark_writer();
        }
    }

    /// Whether the recorder was shut down.
    #[inline]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Asks the writer to commit everything queued now, and waits until it
    /// did, it stopped, or `deadline` passed.
    pub(crate) fn flush(&self, deadline: Instant) -> Waited {
        let epoch = self.flush_requested.fetch_add(1, Ordering::SeqCst) + 1;
        self.unpark_writer();
        self.wait_flush_state(deadline, |st| st.done_epoch >= epoch)
    }

    /// Asks the writer to drain and stop, and waits until it stopped or
    /// `deadline` passed. Returns whether it stopped.
    pub(crate) fn shutdown(&self, deadline: Instant) -> bool {
        self.shutdown.store(true, Ordering::SeqCst);
        self.unpark_writer();
        self.wait_flush_state(deadline, |st| st.stopped) == Waited::Done
    }

    /// Waits (1 ms at most: a missed notification costs that, not a hang)
    /// for the writer to make room while `full()`.
    pub(crate) fn wait_for_space(&self, full: impl Fn() -> bool) {
        self.space_waiters.fetch_add(1, Ordering::SeqCst);
        let g = self.space_lock.lock().unwrap_or_else(|e| e.into_inner());
        if full() {
            let _ = self.space_cv.wait_timeout(g, Duration::from_millis(1));
        }
        self.space_waiters.fetch_sub(1, Ordering::SeqCst);
    }

    // --- The writer thread ---

    /// Starts a round: clears the pending wake-up and reads what the round
    /// must cover.
    pub(crate) fn begin_round(&self) -> Round {
        self.wake_pending.store(false, Ordering::Release);
        Round {
            epoch: self.flush_requested.load(Ordering::SeqCst),
            stop: self.shutdown.load(Ordering::SeqCst),
        }
    }

    /// Tells threads waiting for room that the writer took spans.
    pub(crate) fn room_made(&self) {
        if self.space_waiters.load(Ordering::SeqCst) > 0 {
            let _g = self.space_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.space_cv.notify_all();
        }
    }

    /// Ends a round: its flush epoch is done (and the writer stopped, if
    /// the round said so).
    pub(crate) fn end_round(&self, round: Round) {
        let mut st = self.lock_flush();
        if round.epoch > st.done_epoch {
            st.done_epoch = round.epoch;
        }
        if round.stop {
            st.stopped = true;
        }
        self.flush_cv.notify_all();
    }

    /// Whether the writer may sleep after `round`: nothing asked for it
    /// since it began.
    pub(crate) fn may_sleep(&self, round: Round) -> bool {
        self.flush_requested.load(Ordering::SeqCst) == round.epoch
            && !self.shutdown.load(Ordering::SeqCst)
    }

    /// The writer thread ended (returned or panicked): no wait may hang.
    pub(crate) fn writer_gone(&self) {
        self.lock_flush().stopped = true;
        self.flush_cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_end_when_the_writer_is_gone() {
        let s = Signals::default();
        s.writer_gone();
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(s.flush(far), Waited::Stopped);
        assert!(s.shutdown(far));
    }

    #[test]
    fn a_flush_waits_for_the_round_that_covers_it() {
        let s = std::sync::Arc::new(Signals::default());
        let writer = {
            let s = s.clone();
            std::thread::spawn(move || {
                s.set_writer(std::thread::current());
                loop {
                    let round = s.begin_round();
                    s.end_round(round);
                    if round.stop {
                        return;
                    }
                    if s.may_sleep(round) {
                        std::thread::park_timeout(Duration::from_millis(50));
                    }
                }
            })
        };
        let soon = || Instant::now() + Duration::from_secs(10);
        assert_eq!(s.flush(soon()), Waited::Done);
        assert_eq!(s.flush(soon()), Waited::Done);
        assert!(s.shutdown(soon()));
        writer.join().unwrap();
        assert_eq!(s.flush(soon()), Waited::Stopped);
    }
}
