//! A recorder's counters (this process only; the spool keeps its own),
//! each changed by one method that names the event it counts.
//!
//! The recording threads touch only `sampled_out` and `dropped_other`, and
//! only on those (rare) events; spans dropped on a full queue are counted
//! per lane ([`crate::queue::Lanes`]) and per deferred queue. Everything
//! else is written by the writer thread alone.

use std::sync::atomic::{AtomicU64, Ordering};

use tracespool_spool::AppendOutcome;

/// The counters.
#[derive(Default)]
pub(crate) struct Counters {
    sampled_out: AtomicU64,
    dropped_other: AtomicU64,
    /// Spans the writer took from the queues (written or not).
    dequeued: AtomicU64,
    written: AtomicU64,
    dropped_write_error: AtomicU64,
    dropped_no_room: AtomicU64,
    dropped_budget: AtomicU64,
    evicted_by_budget: AtomicU64,
    dropped_age: AtomicU64,
    /// `dropped_write_error` as of the last flush that reported it.
    write_errors_reported: AtomicU64,
}

/// The counters at one moment (see [`crate::RecorderStats`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Snapshot {
    pub(crate) sampled_out: u64,
    pub(crate) dropped_other: u64,
    pub(crate) dequeued: u64,
    pub(crate) written: u64,
    pub(crate) dropped_write_error: u64,
    pub(crate) dropped_no_room: u64,
    pub(crate) dropped_budget: u64,
    pub(crate) evicted_by_budget: u64,
    pub(crate) dropped_age: u64,
}

impl Counters {
    /// A span the sampler did not record.
    #[inline]
    pub(crate) fn sampled_out(&self) {
        self.sampled_out.fetch_add(1, Ordering::Relaxed);
    }

    /// Spans lost for another reason: ended after shutdown, not encodable,
    /// or lost to a panicking adapter.
    #[inline]
    pub(crate) fn dropped_other(&self, n: u64) {
        self.dropped_other.fetch_add(n, Ordering::Relaxed);
    }

    /// The writer took `n` spans from the queues (after counting what
    /// became of them).
    pub(crate) fn dequeued(&self, n: u64) {
        self.dequeued.fetch_add(n, Ordering::Release);
    }

    /// What the spool did with a batch.
    pub(crate) fn appended(&self, out: &AppendOutcome) {
        self.written.fetch_add(out.written, Ordering::Release);
        self.dropped_budget
            .fetch_add(out.refused_newest + out.refused_oversize, Ordering::Relaxed);
        self.dropped_age
            .fetch_add(out.refused_age, Ordering::Relaxed);
        self.evicted_by_budget
            .fetch_add(out.evicted_oldest, Ordering::Relaxed);
    }

    /// A batch of `n` spans the spool could not take; `no_room`: for lack
    /// of room on the file system.
    pub(crate) fn write_failed(&self, n: u64, no_room: bool) {
        if no_room {
            self.dropped_no_room.fetch_add(n, Ordering::Relaxed);
        }
        self.dropped_write_error.fetch_add(n, Ordering::Relaxed);
    }

    /// Spans dropped on write errors so far, and of them for lack of room
    /// (for the spool's counters).
    pub(crate) fn write_errors(&self) -> (u64, u64) {
        // No room first: a concurrent failure is then never reported as a
        // no-room drop without its write error.
        let no_room = self.dropped_no_room.load(Ordering::Acquire);
        (self.dropped_write_error.load(Ordering::Acquire), no_room)
    }

    /// Spans lost to write errors since the last flush that reported them
    /// (each is reported by exactly one caller).
    pub(crate) fn unreported_write_errors(&self) -> u64 {
        let errors = self.dropped_write_error.load(Ordering::Acquire);
        errors.saturating_sub(
            self.write_errors_reported
                .fetch_max(errors, Ordering::AcqRel),
        )
    }

    /// Every counter, now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            sampled_out: self.sampled_out.load(Ordering::Relaxed),
            dropped_other: self.dropped_other.load(Ordering::Relaxed),
            dequeued: self.dequeued.load(Ordering::Acquire),
            written: self.written.load(Ordering::Acquire),
            dropped_write_error: self.dropped_write_error.load(Ordering::Relaxed),
            dropped_no_room: self.dropped_no_room.load(Ordering::Relaxed),
            dropped_budget: self.dropped_budget.load(Ordering::Relaxed),
            evicted_by_budget: self.evicted_by_budget.load(Ordering::Relaxed),
            dropped_age: self.dropped_age.load(Ordering::Relaxed),
        }
    }
}
