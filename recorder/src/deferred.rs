//! Spans converted on the writer thread.
//!
//! An adapter whose finished span is a value of its own type
//! (OpenTelemetry's `SpanData`) can skip building the spool's span on the
//! application's thread: [`DeferredQueue::record`] moves the value into a
//! bounded queue of such values, and the writer thread builds the span
//! from it ([`FinishedSpan::fill`]), applies the caps and encodes it. The
//! caller's thread then does what OpenTelemetry's batch processor does, one
//! move into a preallocated slot, whatever the size of the span; the
//! conversion, and the freeing of the adapter's value, happen on the writer.
//!
//! Measured (docs/benchmarks.md §8): converting a 4-attribute span on the
//! caller cost 8–16% more than the batch processor's hand-off, a span with
//! 12 attributes and 2 events 24–35% more; deferred, the hand-off costs
//! about the same as the batch processor's for the first and less for the
//! second. The price is paid by the writer, which converts too: when the
//! application outruns it, more spans are dropped (and counted) than with
//! conversion on the caller's thread. With a real spool, SQLite's inserts
//! dominate the writer's time either way.
//!
//! # Invariants
//!
//! * **Same guarantees as the lanes.** A deferred queue is drained in the
//!   writer's loop with the lanes, so a flush covers its spans, shutdown
//!   drains it, a full queue drops (and counts, in `dropped_queue_full`) or
//!   waits under [`crate::OnFull::Block`], and `stats().recorded` counts
//!   what it holds.
//! * **The writer survives the adapter.** A `fill` that panics loses its
//!   span (counted in `dropped_other`), not the writer thread.
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
//! capacity, about 3 MiB. The
//! recorder keeps every live queue in [`DeferredQueues`]; the writer
//! converts into the span boxes of the lane the queue was given, so the
//! boxes return to that lane's pool like any other.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_queue::ArrayQueue;
use tracespool_schema::SpanData;

use crate::adapter::{finish, SpanResource};
use crate::handoff::OnFull;
use crate::queue::{Lanes, Padded, QueuedSpan};
use crate::recorder::Recorder;

/// A finished span of an adapter's own type, built into the spool's span
/// on the writer thread.
pub trait FinishedSpan: Send + 'static {
    /// Fills `out` completely, as the closure of
    /// [`Recorder::record_finished`] does (the same cleared span, the same
    /// caps applied afterwards). Runs on the writer thread.
    fn fill(self, out: &mut SpanData);
}

/// A queue of an adapter's finished spans, converted on the writer thread
/// (see the module docs). Made by [`Recorder::deferred_queue`]; cheap to
/// clone (the clones share the queue).
pub struct DeferredQueue<T: FinishedSpan> {
    queue: Arc<Queue<T>>,
    recorder: Recorder,
}

struct Queue<T> {
    /// Each value with the id of its [`SpanResource`] (0: the recorder's).
    values: ArrayQueue<(T, u32)>,
    /// The resource id given to the spans recorded from now on.
    resource: AtomicU32,
    /// The lane whose pool gives this queue's span boxes.
    lane: usize,
    dropped: Padded,
}

impl<T: FinishedSpan> Clone for DeferredQueue<T> {
    fn clone(&self) -> Self {
        DeferredQueue {
            queue: self.queue.clone(),
            recorder: self.recorder.clone(),
        }
    }
}

impl<T: FinishedSpan> std::fmt::Debug for DeferredQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeferredQueue")
            .field("queued", &self.queue.values.len())
            .field("capacity", &self.queue.values.capacity())
            .finish()
    }
}

impl Recorder {
    /// A queue whose spans are built on the writer thread (see
    /// [`DeferredQueue`]). It holds up to the recorder's queue capacity
    /// (see [`crate::RecorderBuilder::queue_capacity`]), allocated now.
    pub fn deferred_queue<T: FinishedSpan>(&self) -> DeferredQueue<T> {
        let sh = &self.shared;
        let queue = Arc::new(Queue {
            values: ArrayQueue::new(sh.queue_capacity),
            resource: AtomicU32::new(0),
            lane: sh.next_lane.fetch_add(1, Ordering::Relaxed) % sh.lanes.count(),
            dropped: Padded::default(),
        });
        sh.deferred.register(queue.clone());
        DeferredQueue {
            queue,
            recorder: self.clone(),
        }
    }
}

thread_local! {
    static PUSHES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

impl<T: FinishedSpan> DeferredQueue<T> {
    /// Gives the spans recorded from now on `resource` instead of the
    /// recorder's own.
    pub fn set_resource(&self, resource: &SpanResource) {
        self.queue.resource.store(resource.id(), Ordering::Relaxed);
    }

    /// The recorder this queue records into.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Queues one finished span. Never blocks (unless the recorder was
    /// built with [`OnFull::Block`]), never panics, returns nothing: a span
    /// that finds the queue full is dropped here and counted in
    /// [`Recorder::stats`].
    #[inline]
    pub fn record(&self, span: T) {
        let sh = &*self.recorder.shared;
        if sh.shutdown.load(Ordering::Relaxed) {
            sh.dropped_other.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // One push, the value moved once; a full queue is handled out of
        // line.
        match self
            .queue
            .values
            .push((span, self.queue.resource.load(Ordering::Relaxed)))
        {
            Ok(()) => {
                // Reading the queue's length touches the writer's cache
                // lines: every 32nd span of a thread.
                let n = PUSHES.with(|c| {
                    let n = c.get().wrapping_add(1);
                    c.set(n);
                    n
                });
                if n.is_multiple_of(32) && self.queue.values.len() >= sh.high_water {
                    sh.wake_writer();
                }
            }
            Err(back) => self.full(back),
        }
    }

    /// The queue was full: drop and count, or wait for room.
    #[cold]
    #[inline(never)]
    fn full(&self, mut value: (T, u32)) {
        let sh = &*self.recorder.shared;
        loop {
            sh.wake_writer();
            if sh.on_full == OnFull::DropNewest || sh.shutdown.load(Ordering::Acquire) {
                self.queue.dropped.0.fetch_add(1, Ordering::Relaxed);
                return;
            }
            sh.wait_for_space(|| self.queue.values.is_full());
            match self.queue.values.push(value) {
                Ok(()) => return,
                Err(back) => value = back,
            }
        }
    }
}

/// What the writer sees of a deferred queue, whatever its type.
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

    fn register(&self, q: Arc<dyn Deferred>) {
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

    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    impl FinishedSpan for Nothing {
        fn fill(self, out: &mut SpanData) {
            out.name = "nothing".into();
        }
    }

    #[test]
    fn a_queue_nobody_holds_is_forgotten_once_empty() {
        let dir = tempfile::tempdir().unwrap();
        let (rec, _guard) = Recorder::builder(dir.path().join("q.spool"))
            .build()
            .unwrap();
        let kept = rec.deferred_queue::<Nothing>();
        for _ in 0..3 {
            let q = rec.deferred_queue::<Nothing>();
            q.record(Nothing);
        }
        assert_eq!(rec.shared.deferred.count(), 4);
        rec.flush().unwrap();
        // The three dropped queues were emptied, then forgotten.
        assert_eq!(rec.shared.deferred.count(), 1);
        assert_eq!(rec.stats().written, 3);
        kept.record(Nothing);
        rec.flush().unwrap();
        assert_eq!(rec.stats().written, 4);
    }
}
