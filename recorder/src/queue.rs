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
//!
//! The queue and the pool are split into [`Lanes`]: each recording thread
//! is given one lane (round robin) and pushes to and takes from that lane
//! only, so two threads recording at once do not fight over the same
//! queue head and tail (measured: two threads on two cores paid about
//! twice the one-thread cost per span with one shared queue). A full lane
//! overflows into the others, so the queue's capacity is shared by all
//! threads; the writer drains every lane and returns each box to the lane
//! it came from.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;
use tracespool_schema::{
    DroppedCounts, SpanData, SpanId, SpanKind, Status, TraceId, TRACE_FLAG_SAMPLED,
};

/// Vectors larger than this are shrunk before a box is pooled again, so a
/// single huge span does not pin memory forever.
const MAX_POOLED_ITEMS: usize = 32;

pub(crate) type QueuedSpan = Box<Pooled>;

/// A pooled span and the lane whose pool it returns to: the lane of the
/// thread that started it, which takes from that pool again.
pub(crate) struct Pooled {
    span: SpanData,
    lane: u8,
    /// The id of an adapter's resource ([`crate::SpanResource`]); 0: the
    /// recorder's own. An index, not an `Arc`: a reference count shared
    /// by every span of an adapter was the hottest line of its hot path.
    resource: u32,
}

impl Pooled {
    #[inline]
    pub(crate) fn set_resource(&mut self, id: u32) {
        self.resource = id;
    }

    /// The id of this span's resource (0: the recorder's own).
    #[inline]
    pub(crate) fn resource(&self) -> u32 {
        self.resource
    }
}

impl std::ops::Deref for Pooled {
    type Target = SpanData;
    #[inline]
    fn deref(&self) -> &SpanData {
        &self.span
    }
}

impl std::ops::DerefMut for Pooled {
    #[inline]
    fn deref_mut(&mut self) -> &mut SpanData {
        &mut self.span
    }
}

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

    /// A cleared span (from the pool, or new).
    #[cfg(test)]
    pub(crate) fn take(&self) -> QueuedSpan {
        match self.free.pop() {
            Some(d) => Self::cleared(d),
            None => Self::fresh(),
        }
    }

    /// Clears a pooled span. The clearing happens on the thread that fills
    /// the span next: its cache lines are then warm for the caller, and
    /// owned strings the caller's thread allocated are freed by that same
    /// thread in the common case.
    #[inline]
    fn cleared(mut d: QueuedSpan) -> QueuedSpan {
        clear(&mut d);
        d.resource = 0;
        d
    }

    fn fresh() -> QueuedSpan {
        let mut d = Box::new(Pooled {
            span: SpanData::new(TraceId([0; 16]), SpanId([0; 8]), ""),
            lane: 0,
            resource: 0,
        });
        d.attributes.reserve(8);
        d
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

/// The hand-off split into lanes (see the module docs).
pub(crate) struct Lanes {
    lanes: Box<[Lane]>,
    /// A lane holding this many spans wakes the writer.
    lane_high_water: usize,
}

struct Lane {
    queue: ArrayQueue<QueuedSpan>,
    pool: SpanPool,
    /// Spans of this lane's threads dropped on a full queue (a counter per
    /// lane: dropping threads do not fight over one cache line).
    dropped: Padded,
}

/// An atomic counter alone on its cache line(s).
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct Padded(pub(crate) AtomicU64);

impl Lanes {
    /// `capacity` spans in all (split evenly, at least 64 a lane). Each
    /// lane's pool has room for what its threads can have in flight: a full
    /// lane plus a writer batch (boxes are allocated only when needed).
    pub(crate) fn new(capacity: usize, max_batch: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let n = (cores * 2).clamp(2, 32).min(capacity.div_ceil(64)).max(1);
        let per_lane = capacity.div_ceil(n).max(1);
        Lanes {
            lanes: (0..n)
                .map(|_| Lane {
                    queue: ArrayQueue::new(per_lane),
                    pool: SpanPool::new(per_lane + max_batch),
                    dropped: Padded::default(),
                })
                .collect(),
            lane_high_water: (per_lane / 2).max(1),
        }
    }

    /// Number of lanes.
    pub(crate) fn count(&self) -> usize {
        self.lanes.len()
    }

    /// A cleared span from `lane`'s pool, or a new one.
    #[inline]
    pub(crate) fn take(&self, lane: usize) -> QueuedSpan {
        match self.lanes[lane].pool.take_pooled() {
            Some(d) => SpanPool::cleared(d),
            None => {
                let mut d = SpanPool::fresh();
                d.lane = lane as u8;
                d
            }
        }
    }

    /// Queues a span on `lane`, or on another lane if that one is full.
    /// Returns whether the writer should be woken (the lane is filling up or
    /// overflowed), or the span back if every lane is full.
    #[inline]
    pub(crate) fn push(
        &self,
        lane: usize,
        q: QueuedSpan,
        check_fill: bool,
    ) -> Result<bool, QueuedSpan> {
        let own = &self.lanes[lane].queue;
        let mut q = match own.push(q) {
            Ok(()) => return Ok(check_fill && own.len() >= self.lane_high_water),
            Err(q) => q,
        };
        for i in 1..self.lanes.len() {
            match self.lanes[(lane + i) % self.lanes.len()].queue.push(q) {
                Ok(()) => return Ok(true),
                Err(back) => q = back,
            }
        }
        Err(q)
    }

    /// Moves up to `max - batch.len()` queued spans into `batch`, taking
    /// from every lane in turn.
    pub(crate) fn drain_into(&self, batch: &mut Vec<QueuedSpan>, max: usize) {
        let mut empty = 0;
        while batch.len() < max && empty < self.lanes.len() {
            empty = 0;
            for lane in self.lanes.iter() {
                // Up to 64 at a time from each lane, so no lane waits long.
                let mut took = 0;
                while took < 64 && batch.len() < max {
                    match lane.queue.pop() {
                        Some(q) => {
                            batch.push(q);
                            took += 1;
                        }
                        None => break,
                    }
                }
                if took == 0 {
                    empty += 1;
                }
            }
        }
    }

    /// Returns a box to the pool of the lane that took it (dropped if that
    /// pool is full).
    #[inline]
    pub(crate) fn recycle(&self, q: QueuedSpan) {
        self.lanes[usize::from(q.lane)].pool.recycle(q);
    }

    /// Counts a span of `lane` dropped on a full queue.
    #[inline]
    pub(crate) fn count_drop(&self, lane: usize) {
        self.lanes[lane].dropped.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Spans dropped on a full queue, in all lanes.
    pub(crate) fn dropped(&self) -> u64 {
        self.lanes
            .iter()
            .map(|l| l.dropped.0.load(Ordering::Relaxed))
            .sum()
    }

    /// Spans queued in all lanes.
    pub(crate) fn len(&self) -> usize {
        self.lanes.iter().map(|l| l.queue.len()).sum()
    }

    /// Whether every lane is full.
    pub(crate) fn is_full(&self) -> bool {
        self.lanes.iter().all(|l| l.queue.is_full())
    }

    /// Frees every pooled box (at shutdown).
    pub(crate) fn empty_pools(&self) {
        for l in self.lanes.iter() {
            while l.pool.take_pooled().is_some() {}
        }
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
    d.trace_flags = TRACE_FLAG_SAMPLED;
    if !d.trace_state.is_empty() {
        d.trace_state = "".into();
    }
    if !d.scope.is_empty() {
        d.scope.name = "".into();
        d.scope.version = "".into();
        d.scope.schema_url = "".into();
        d.scope.attributes.clear();
    }
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
        assert_eq!(**d, SpanData::new(TraceId([0; 16]), SpanId([0; 8]), ""));
        assert!(d.attributes.capacity() <= MAX_POOLED_ITEMS);
        pool.recycle(d);
        pool.recycle(pool.take());
        pool.recycle(SpanPool::fresh());
        pool.recycle(SpanPool::fresh());
        assert_eq!(pool.len(), 2, "the pool is bounded");
    }

    #[test]
    fn a_full_lane_overflows_and_boxes_return_to_the_lane_that_took_them() {
        // 256 spans in all, split over the lanes (their number depends on the cores).
        let lanes = Lanes::new(256, 0);
        let n = lanes.count();
        assert!(n >= 2);
        let per_lane = 256usize.div_ceil(n);
        let mut taken = 0;
        // One thread's lane takes the whole capacity through overflow.
        loop {
            let d = lanes.take(0);
            taken += 1;
            if let Err(back) = lanes.push(0, d, false) {
                assert!(lanes.is_full());
                lanes.recycle(back);
                break;
            }
            assert!(taken <= 256, "more spans queued than the capacity");
        }
        assert_eq!(
            taken - 1,
            per_lane * n,
            "the capacity is shared by all lanes"
        );
        assert_eq!(lanes.len(), per_lane * n);
        let mut batch = Vec::new();
        lanes.drain_into(&mut batch, usize::MAX);
        assert_eq!(batch.len(), per_lane * n);
        assert_eq!(lanes.len(), 0);
        assert!(
            batch.iter().all(|d| d.lane == 0),
            "every box was taken by lane 0"
        );
        for d in batch.drain(..) {
            lanes.recycle(d);
        }
        // They are all back in lane 0's pool, none in the others.
        assert!(lanes.lanes[0].pool.len() >= per_lane.min(lanes.lanes[0].pool.free.capacity()));
        assert!(lanes.lanes[1..].iter().all(|l| l.pool.len() == 0));
    }
}
