//! The hand-off between recording threads and the writer thread: the
//! state they share ([`Shared`]), each thread's handle on it
//! ([`ThreadHandle`]) and what a full queue does ([`OnFull`]).
//!
//! A span ends on the caller's thread by pushing its pooled box onto the
//! thread's lane ([`crate::queue::Lanes`]); the writer is woken when a lane
//! passes the high-water mark, at the flush interval, or on a flush. The
//! only shared line a caller writes is its lane; drop counters are per lane.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use tracespool_schema::{RecordEncoder, Resource};

use crate::deferred::DeferredQueues;
use crate::queue::{Lanes, QueuedSpan};
use crate::sampler::Sampler;

/// What recording does when the queue to the writer thread is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnFull {
    /// Drop the span being ended and count it (`dropped_queue_full`). The
    /// caller never waits. The default.
    #[default]
    DropNewest,
    /// Wait until the writer makes room (the caller may block; nothing is
    /// dropped while the spool is writable). For batch jobs and load tests.
    Block,
}

pub(crate) struct Shared {
    pub(crate) lanes: Lanes,
    /// Lanes handed to threads so far (round robin).
    pub(crate) next_lane: AtomicUsize,
    pub(crate) high_water: usize,
    pub(crate) on_full: OnFull,
    pub(crate) sampler: Sampler,
    pub(crate) encoder: RecordEncoder,
    /// The resource `encoder` attaches.
    pub(crate) resource: Resource,
    /// Adapters' resources ([`crate::SpanResource`]): id `i + 1` is entry
    /// `i`. Append-only, one entry per distinct resource.
    pub(crate) span_resources: Mutex<Vec<(Resource, Arc<RecordEncoder>)>>,
    /// Adapters' queues built on the writer ([`crate::DeferredQueue`]).
    pub(crate) deferred: DeferredQueues,
    /// Capacity of the queue, in spans (of each deferred queue too).
    pub(crate) queue_capacity: usize,
    // Hot-path counters, touched only on their (rare) events.
    pub(crate) sampled_out: AtomicU64,
    pub(crate) dropped_other: AtomicU64,
    // Writer-side counters (single writer).
    pub(crate) dequeued: AtomicU64,
    pub(crate) written: AtomicU64,
    pub(crate) dropped_write_error: AtomicU64,
    pub(crate) dropped_budget: AtomicU64,
    pub(crate) evicted_by_budget: AtomicU64,
    pub(crate) dropped_age: AtomicU64,
    // Wake-ups and flushes.
    pub(crate) writer: OnceLock<Thread>,
    pub(crate) wake_pending: AtomicBool,
    pub(crate) flush_requested: AtomicU64,
    /// `dropped_write_error` as of the last flush that reported it.
    pub(crate) write_errors_reported: AtomicU64,
    pub(crate) flush_done: Mutex<FlushState>,
    pub(crate) flush_cv: Condvar,
    pub(crate) space_waiters: AtomicUsize,
    pub(crate) space_lock: Mutex<()>,
    pub(crate) space_cv: Condvar,
    pub(crate) shutdown: AtomicBool,
}

#[derive(Default)]
pub(crate) struct FlushState {
    pub(crate) done_epoch: u64,
    pub(crate) stopped: bool,
}

impl Shared {
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

    /// Spans queued for the writer: in the lanes and deferred queues.
    pub(crate) fn queued(&self) -> usize {
        self.lanes.len() + self.deferred.len()
    }

    /// Spans dropped on a full queue: lanes and deferred queues.
    pub(crate) fn dropped_queue_full(&self) -> u64 {
        self.lanes.dropped() + self.deferred.dropped()
    }

    pub(crate) fn wake_writer(&self) {
        // A plain read first: while a wake-up is pending (the common case
        // when many spans ask at once), no thread writes the shared line.
        if !self.wake_pending.load(Ordering::Acquire)
            && !self.wake_pending.swap(true, Ordering::AcqRel)
        {
            if let Some(t) = self.writer.get() {
                t.unpark();
            }
        }
    }
}

/// A per-thread reference to a recorder. Every span holds one, so starting
/// and ending spans on a thread changes a reference count that only that
/// thread touches, instead of one count shared (and bounced between cores)
/// by every thread. Each thread caches the handle of the last recorder it
/// used.
pub(crate) struct ThreadHandle {
    pub(crate) shared: Arc<Shared>,
    /// This thread's lane of the queue (see [`crate::queue::Lanes`]).
    pub(crate) lane: usize,
}

thread_local! {
    /// The last span this thread ended was dropped on a full queue.
    static DROPPED_LAST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static PUSHES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    pub(crate) static HANDLE: std::cell::RefCell<Option<Arc<ThreadHandle>>> = const { std::cell::RefCell::new(None) };
}

impl ThreadHandle {
    /// For a span not built yet (an adapter's): whether it would be
    /// dropped on a full queue anyway, in which case the drop is counted
    /// now and the caller skips the work of building it. Checked only
    /// after this thread's last span was dropped (reading every lane's
    /// fill costs cache misses): an overloaded application then pays less
    /// per dropped span, not more.
    #[inline]
    pub(crate) fn drop_before_building(&self) -> bool {
        if !DROPPED_LAST.with(|d| d.get()) {
            return false;
        }
        let sh = &*self.shared;
        if sh.on_full == OnFull::DropNewest && sh.lanes.is_full() {
            sh.lanes.count_drop(self.lane);
            sh.wake_writer();
            return true;
        }
        DROPPED_LAST.with(|d| d.set(false));
        false
    }

    /// Queues a finished span for the writer.
    #[inline]
    pub(crate) fn submit(&self, data: QueuedSpan) {
        let sh = &*self.shared;
        let mut q = data;
        loop {
            // Reading the lane's length touches the cache lines the writer
            // is updating: do it every 32nd span of a thread.
            let n = PUSHES.with(|c| {
                let n = c.get().wrapping_add(1);
                c.set(n);
                n
            });
            match sh.lanes.push(self.lane, q, n.is_multiple_of(32)) {
                Ok(wake) => {
                    if wake {
                        sh.wake_writer();
                    }
                    return;
                }
                Err(back) => {
                    if sh.on_full == OnFull::DropNewest || sh.shutdown.load(Ordering::Acquire) {
                        DROPPED_LAST.with(|d| d.set(true));
                        sh.lanes.count_drop(self.lane);
                        sh.lanes.recycle(back);
                        sh.wake_writer();
                        return;
                    }
                    q = back;
                    sh.wake_writer();
                    sh.wait_for_space(|| sh.lanes.is_full());
                }
            }
        }
    }
}
