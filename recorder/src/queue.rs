//! The hand-off between the caller's thread and the writer thread.
//!
//! A [`QueuedSpan`] is small (about 90 bytes): the span's columns and a
//! buffer holding its encoded record followed by its name. Buffers are
//! **recycled**: the writer returns them to a free list after the commit and
//! the caller's thread takes one from there, so no heap block allocated on
//! one thread is freed on the other (a cross-thread free costs several times
//! a small copy), and nothing large is copied through the queue.

use crossbeam_queue::ArrayQueue;
use tracespool_schema::{EncodeError, RecordEncoder, SpanData};

use crate::spool::NewRow;

/// The size of a recycled buffer; larger spans get a buffer of their own.
pub(crate) const BUFFER_BYTES: usize = 1024;
/// Buffers larger than this are not recycled (they came from huge spans).
const MAX_RECYCLED_BYTES: usize = 16 * 1024;

pub(crate) struct QueuedSpan {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub start_ns: u64,
    pub end_ns: u64,
    record_len: u32,
    name: Name,
    buf: Vec<u8>,
}

/// Where the span's name is: a `'static` string needs no copy and no
/// re-validation; any other name is copied after the record.
enum Name {
    Static(&'static str),
    InBuf(u32),
}

/// Recycled buffers.
pub(crate) struct BufferPool {
    free: ArrayQueue<Vec<u8>>,
}

impl BufferPool {
    pub(crate) fn new(capacity: usize) -> Self {
        BufferPool {
            free: ArrayQueue::new(capacity.max(1)),
        }
    }

    fn take(&self) -> Vec<u8> {
        self.free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUFFER_BYTES))
    }

    /// Gives a span's buffer back (dropped if the pool is full or it is huge).
    pub(crate) fn recycle(&self, q: QueuedSpan) {
        if q.buf.capacity() <= MAX_RECYCLED_BYTES {
            let _ = self.free.push(q.buf);
        }
    }
}

impl QueuedSpan {
    /// Encodes `data` into a recycled buffer.
    pub(crate) fn encode(
        data: &SpanData,
        encoder: &RecordEncoder,
        pool: &BufferPool,
    ) -> Result<Self, EncodeError> {
        let mut buf = pool.take();
        encoder.encode_into(data, &mut buf)?;
        let record_len = buf.len();
        let name = match &data.name {
            std::borrow::Cow::Borrowed(s) => Name::Static(s),
            std::borrow::Cow::Owned(s) => {
                buf.extend_from_slice(s.as_bytes());
                Name::InBuf(s.len() as u32)
            }
        };
        Ok(QueuedSpan {
            trace_id: data.trace_id.0,
            span_id: data.span_id.0,
            parent_span_id: data.parent_span_id.map(|p| p.0),
            start_ns: data.start_ns,
            end_ns: data.end_ns,
            record_len: record_len as u32,
            name,
            buf,
        })
    }

    /// The row to append.
    pub(crate) fn row(&self) -> NewRow<'_> {
        let r = self.record_len as usize;
        let name = match self.name {
            Name::Static(s) => s,
            // The bytes came from a String.
            Name::InBuf(n) => std::str::from_utf8(&self.buf[r..r + n as usize]).unwrap_or(""),
        };
        NewRow {
            trace_id: &self.trace_id,
            span_id: &self.span_id,
            parent_span_id: self.parent_span_id.as_ref(),
            name,
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            record: &self.buf[..r],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracespool_schema::{decode_record, Resource, SpanId, TraceId};

    #[test]
    fn small_and_large_spans_round_trip_and_recycle() {
        let enc = RecordEncoder::new(&Resource::default()).unwrap();
        let pool = BufferPool::new(4);
        for len in [0usize, 10, 900, 1000, 5000, 20_000] {
            let mut d = SpanData::new(TraceId::random(), SpanId::random(), "x".repeat(len));
            if len == 10 {
                d.name = std::borrow::Cow::Borrowed("static name");
            }
            d.parent_span_id = Some(SpanId::random());
            let q = QueuedSpan::encode(&d, &enc, &pool).unwrap();
            let r = q.row();
            assert_eq!(r.name, d.name);
            assert_eq!(decode_record(r.record).unwrap().span, d);
            assert_eq!(r.parent_span_id, d.parent_span_id.as_ref().map(|p| &p.0));
            pool.recycle(q);
        }
        // Huge buffers are not kept.
        assert!(pool.free.len() < 6);
        while let Some(b) = pool.free.pop() {
            assert!(b.capacity() <= MAX_RECYCLED_BYTES);
        }
    }
}
