//! The queues of adapters' own span values, converted on the writer
//! thread: one [`Queue`] per [`crate::adapter::DeferredQueue`], and the
//! recorder's list of them ([`DeferredQueues`]).
//!
//! # Invariants
//!
//! * **The writer survives the adapter.** A [`FinishedSpan::fill`] that
//!   panics loses its span (counted by the writer in `dropped_other`), not
//!   the writer thread.
//! * **Nobody waits for a conversion.** The list of queues is locked only
//!   to copy it and to prune it, so `stats()` and making a queue never wait
//!   for the writer's batch.
//! * **Nothing is lost when the adapter goes away.** A queue whose handles
//!   are all dropped stays registered until the writer has emptied it; its
//!   drop count is kept.
//!
//! # Layout
//!
//! Each queue is a [`crossbeam_queue::ArrayQueue`] of `T` (with its
//! resource id) with the recorder's queue capacity, allocated when the
//! queue is made: for OpenTelemetry's 352-byte `SpanData` and the default
//! capacity, about 3 MiB. The writer converts into the span boxes of the
//! lane the queue was given, so the boxes return to that lane's pool like
//! any other.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_queue::ArrayQueue;
use tracespool_schema::SpanData;

use crate::caps::finish;
use crate::queue::{Lanes, Padded, QueuedSpan};

/// A finished span of an adapter's own type, built into the spool's span
/// on the writer thread.
pub trait FinishedSpan: Send + 'static {
    /// Fills `out` completely, as the closure of
    /// [`crate::Recorder::record_finished`] does (the same cleared span,
    /// the same caps applied afterwards). Runs on the writer thread.
    fn fill(self, out: &mut SpanData);
}

/// One adapter's queue of finished span values.
pub(crate) struct Queue<T> {
    /// Each value with the id of its resource (0: the recorder's).
    values: ArrayQueue<(T, u32)>,
    /// The resource id given to the spans recorded from now on.
    resource: AtomicU32,
    /// The lane whose pool gives this queue's span boxes.
    lane: usize,
    dropped: Padded,
}

impl<T: FinishedSpan> Queue<T> {
    /// A queue of `capacity` values whose spans take boxes from `lane`.
    pub(crate) fn new(capacity: usize, lane: usize) -> Self {
        Queue {
            values: ArrayQueue::new(capacity.max(1)),
            resource: AtomicU32::new(0),
            lane,
            dropped: Padded::default(),
        }
    }

    /// Gives the values pushed from now on resource `id`.
    pub(crate) fn set_resource(&self, id: u32) {
        self.resource.store(id, Ordering::Relaxed);
    }

    /// Queues a value with the current resource, or gives it back if the
    /// queue is full.
    #[inline]
    pub(crate) fn push(&self, value: T) -> Result<(), (T, u32)> {
        self.values
            .push((value, self.resource.load(Ordering::Relaxed)))
    }

    /// Queues a value given back by [`Queue::push`].
    pub(crate) fn push_again(&self, value: (T, u32)) -> Result<(), (T, u32)> {
        self.values.push(value)
    }

    /// Counts a value dropped on a full queue.
    pub(crate) fn count_drop(&self) {
        self.dropped.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the queue is full.
    pub(crate) fn is_full(&self) -> bool {
        self.values.is_full()
    }

    /// Values queued.
    pub(crate) fn queued(&self) -> usize {
        self.values.len()
    }

    /// The queue's capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.values.capacity()
    }
}

/// What the writer sees of a queue, whatever its type.
pub(crate) trait Deferred: Send + Sync {
    /// Builds queued values into `batch` until it holds `max` spans.
    /// Returns how many values were lost to a panicking `fill`.
    fn convert_into(&self, lanes: &Lanes, batch: &mut Vec<QueuedSpan>, max: usize) -> u64;
    fn len(&self) -> usize;
    fn dropped(&self) -> u64;
}

impl<T: FinishedSpan> Deferred for Queue<T> {
    fn convert_into(&self, lanes: &Lanes, batch: &mut Vec<QueuedSpan>, max: usize) -> u64 {
        let mut panicked = 0;
        while batch.len() < max {
            let Some((value, resource)) = self.values.pop() else {
                break;
            };
            let mut d = lanes.take(self.lane);
            match catch_unwind(AssertUnwindSafe(|| value.fill(&mut d))) {
                Ok(()) => {
                    finish(&mut d, resource);
                    batch.push(d);
                }
                // The half-filled box is dropped, not pooled.
                Err(_) => panicked += 1,
            }
        }
        panicked
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn dropped(&self) -> u64 {
        self.dropped.0.load(Ordering::Relaxed)
    }
}

/// The recorder's live deferred queues.
#[derive(Default)]
pub(crate) struct DeferredQueues {
    list: Mutex<Vec<Arc<dyn Deferred>>>,
    /// Drops of the queues removed since.
    retired_dropped: AtomicU64,
}

impl DeferredQueues {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<dyn Deferred>>> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a queue for the writer to drain.
    pub(crate) fn register(&self, q: Arc<dyn Deferred>) {
        self.lock().push(q);
    }

    /// On the writer: builds queued spans into `batch` (up to `max`), then
    /// forgets the queues nobody holds any more once they are empty.
    /// `local` is the writer's scratch list: the lock is held to copy the
    /// list and to prune it, not while converting, so `stats()` never
    /// waits for a batch. Returns how many values were lost to a panicking
    /// `fill`.
    pub(crate) fn convert_into(
        &self,
        lanes: &Lanes,
        batch: &mut Vec<QueuedSpan>,
        max: usize,
        local: &mut Vec<Arc<dyn Deferred>>,
    ) -> u64 {
        local.clear();
        local.extend(self.lock().iter().cloned());
        if local.is_empty() {
            return 0;
        }
        let lost = local
            .iter()
            .map(|q| q.convert_into(lanes, batch, max))
            .sum();
        // Held by the list and by `local`: no handle is left, and none can
        // be made without one.
        self.lock().retain(|q| {
            let keep = Arc::strong_count(q) > 2 || q.len() > 0;
            if !keep {
                self.retired_dropped
                    .fetch_add(q.dropped(), Ordering::Relaxed);
            }
            keep
        });
        local.clear();
        lost
    }

    /// Values queued.
    pub(crate) fn len(&self) -> usize {
        self.lock().iter().map(|q| q.len()).sum()
    }

    /// Values dropped on a full queue, removed queues included.
    pub(crate) fn dropped(&self) -> u64 {
        let list = self.lock();
        self.retired_dropped.load(Ordering::Relaxed) + list.iter().map(|q| q.dropped()).sum::<u64>()
    }

    /// Queues registered (tests).
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.lock().len()
    }
}
