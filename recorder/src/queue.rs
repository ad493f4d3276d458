//! The hand-off between the caller's thread and the writer thread.
//!
//! A finished span travels as a `Box<SpanData>` (one pointer) through a
//! bounded lock-free queue. The boxes are **pooled**: the writer encodes the
//! span, clears it (keeping the capacity of its vectors) and returns the box
//! to a free list, where the caller's thread takes it for its next span. So
//! the hot path allocates nothing in the steady state, copies nothing large,
//! does not encode, and no heap block allocated on one thread is freed on
//! the other (a cross-thread free costs several times a small copy). Only
//! owned strings the application hands in (`String` names or values) are
//! freed by the writer.

use crossbeam_queue::ArrayQueue;
use tracespool_schema::{DroppedCounts, SpanData, SpanId, SpanKind, Status, TraceId};

/// Vectors larger than this are shrunk before a box is pooled again, so a
/// single huge span does not pin memory forever.
const MAX_POOLED_ITEMS: usize = 32;

pub(crate) type QueuedSpan = Box<SpanData>;

/// Cleared, reusable span boxes.
pub(crate) struct SpanPool {
    free: ArrayQueue<QueuedSpan>,
}

impl SpanPool {
    pub(crate) fn new(capacity: usize) -> Self {
        SpanPool {
            free: ArrayQueue::new(capacity.max(1)),
        }
    }

    /// A cleared span (from the pool, or new). The clearing happens here,
    /// on the thread that fills the span next: its cache lines are then
    /// warm for the caller, and owned strings the caller's thread allocated
    /// are freed by that same thread in the common case.
    #[inline]
    pub(crate) fn take(&self) -> QueuedSpan {
        match self.free.pop() {
            Some(mut d) => {
                clear(&mut d);
                d
            }
            None => {
                let mut d = Box::new(SpanData::new(TraceId([0; 16]), SpanId([0; 8]), ""));
                d.attributes.reserve(8);
                d
            }
        }
    }

    /// A pooled span, if any (without allocating).
    pub(crate) fn take_pooled(&self) -> Option<QueuedSpan> {
        self.free.pop()
    }

    /// Keeps a span for reuse (dropped if the pool is full).
    #[inline]
    pub(crate) fn recycle(&self, d: QueuedSpan) {
        let _ = self.free.push(d);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.free.len()
    }
}

fn clear(d: &mut SpanData) {
    d.attributes.clear();
    d.events.clear();
    d.links.clear();
    if d.attributes.capacity() > MAX_POOLED_ITEMS
        || d.events.capacity() > MAX_POOLED_ITEMS
        || d.links.capacity() > MAX_POOLED_ITEMS
    {
        d.attributes.shrink_to(8);
        d.events.shrink_to(0);
        d.links.shrink_to(0);
    }
    d.name = "".into();
    d.parent_span_id = None;
    d.parent_is_remote = false;
    d.kind = SpanKind::Unspecified;
    d.status = Status::default();
    d.dropped = DroppedCounts::default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracespool_schema::Attribute;

    #[test]
    fn recycled_spans_are_clean_and_bounded() {
        let pool = SpanPool::new(2);
        let mut d = pool.take();
        d.name = "x".to_string().into();
        d.parent_span_id = Some(SpanId([1; 8]));
        for i in 0..100i64 {
            d.attributes.push(Attribute::new("k", i));
        }
        d.dropped.attributes = 3;
        pool.recycle(d);
        let d = pool.take();
        assert_eq!(*d, SpanData::new(TraceId([0; 16]), SpanId([0; 8]), ""));
        assert!(d.attributes.capacity() <= MAX_POOLED_ITEMS);
        pool.recycle(d);
        pool.recycle(pool.take());
        pool.recycle(Box::new(SpanData::new(
            TraceId([0; 16]),
            SpanId([0; 8]),
            "",
        )));
        pool.recycle(Box::new(SpanData::new(
            TraceId([0; 16]),
            SpanId([0; 8]),
            "",
        )));
        assert_eq!(pool.len(), 2, "the pool is bounded");
    }
}
