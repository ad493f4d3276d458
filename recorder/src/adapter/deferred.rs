//! [`DeferredQueue`]: an adapter's finished spans, converted on the writer
//! thread.
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
//! * The writer's side (`crate::deferred_queues`) keeps the rest: a
//!   panicking `fill` loses only its span, nobody waits for a conversion,
//!   and a queue whose handles are all dropped is emptied before it is
//!   forgotten.

use std::sync::Arc;

use super::resource::SpanResource;
use crate::deferred_queues::{FinishedSpan, Queue};
use crate::policy::OnFull;
use crate::recorder::Recorder;

/// A queue of an adapter's finished spans, converted on the writer thread
/// (see the module docs). Made by [`Recorder::deferred_queue`]; cheap to
/// clone (the clones share the queue).
pub struct DeferredQueue<T: FinishedSpan> {
    queue: Arc<Queue<T>>,
    recorder: Recorder,
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
            .field("queued", &self.queue.queued())
            .field("capacity", &self.queue.capacity())
            .finish()
    }
}

/// Queues converted on the writer thread (see [`crate::adapter`]).
impl Recorder {
    /// A queue whose spans are built on the writer thread (see
    /// [`DeferredQueue`]). It holds up to the recorder's queue capacity
    /// (see [`crate::RecorderBuilder::queue_capacity`]), allocated now.
    pub fn deferred_queue<T: FinishedSpan>(&self) -> DeferredQueue<T> {
        let sh = &self.shared;
        let queue = Arc::new(Queue::new(sh.settings.queue_capacity, sh.assign_lane()));
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
        self.queue.set_resource(resource.id());
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
        if sh.signals.is_shutdown() {
            sh.counters.dropped_other(1);
            return;
        }
        // One push, the value moved once; a full queue is handled out of
        // line.
        match self.queue.push(span) {
            Ok(()) => {
                // Reading the queue's length touches the writer's cache
                // lines: every 32nd span of a thread.
                let n = PUSHES
                    .try_with(|c| {
                        let n = c.get().wrapping_add(1);
                        c.set(n);
                        n
                    })
                    .unwrap_or(1);
                if n.is_multiple_of(32) && self.queue.queued() >= sh.settings.high_water {
                    sh.signals.wake_writer();
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
            sh.signals.wake_writer();
            if sh.settings.on_full == OnFull::DropNewest || sh.signals.is_shutdown() {
                self.queue.count_drop();
                return;
            }
            sh.signals.wait_for_space(|| self.queue.is_full());
            match self.queue.push_again(value) {
                Ok(()) => return,
                Err(back) => value = back,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracespool_schema::SpanData;

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
        // (The writer thread may already have emptied and forgotten some:
        // it runs while the queues are made.)
        assert!(rec.shared.deferred.count() <= 4);
        rec.flush().unwrap();
        // The three dropped queues were emptied, then forgotten.
        assert_eq!(rec.shared.deferred.count(), 1);
        assert_eq!(rec.stats().written, 3);
        kept.record(Nothing);
        rec.flush().unwrap();
        assert_eq!(rec.stats().written, 4);
    }
}
