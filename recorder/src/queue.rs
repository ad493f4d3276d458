//! The hand-off between the caller's thread and the writer thread.
//!
//! A [`QueuedSpan`] carries the span's columns and its name and encoded
//! record **inline** (up to [`INLINE_BYTES`]), so pushing it onto the
//! pre-allocated `ArrayQueue` is a copy, and no heap block allocated on the
//! caller's thread is ever freed on the writer thread (a cross-thread free
//! costs several times a small copy). Larger spans take a boxed slice.

use crate::spool::NewRow;

/// Bytes of name + record carried inline.
pub(crate) const INLINE_BYTES: usize = 440;

pub(crate) enum SpanBytes {
    Inline([u8; INLINE_BYTES]),
    Heap(Box<[u8]>),
}

pub(crate) struct QueuedSpan {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub start_ns: u64,
    pub end_ns: u64,
    name_len: u16,
    record_len: u32,
    bytes: SpanBytes,
}

impl QueuedSpan {
    /// `name` must be at most `u16::MAX` bytes (the caller cuts it).
    pub(crate) fn new(
        trace_id: [u8; 16],
        span_id: [u8; 8],
        parent_span_id: Option<[u8; 8]>,
        start_ns: u64,
        end_ns: u64,
        name: &str,
        record: &[u8],
    ) -> Self {
        let name = &name.as_bytes()[..name.len().min(u16::MAX as usize)];
        let total = name.len() + record.len();
        let bytes = if total <= INLINE_BYTES {
            let mut buf = [0u8; INLINE_BYTES];
            buf[..name.len()].copy_from_slice(name);
            buf[name.len()..total].copy_from_slice(record);
            SpanBytes::Inline(buf)
        } else {
            let mut v = Vec::with_capacity(total);
            v.extend_from_slice(name);
            v.extend_from_slice(record);
            SpanBytes::Heap(v.into_boxed_slice())
        };
        QueuedSpan {
            trace_id,
            span_id,
            parent_span_id,
            start_ns,
            end_ns,
            name_len: name.len() as u16,
            record_len: record.len() as u32,
            bytes,
        }
    }

    fn data(&self) -> &[u8] {
        match &self.bytes {
            SpanBytes::Inline(b) => &b[..],
            SpanBytes::Heap(b) => b,
        }
    }

    /// The row to append.
    pub(crate) fn row(&self) -> NewRow<'_> {
        let data = self.data();
        let n = self.name_len as usize;
        let name_bytes = &data[..n];
        // The name came from a &str, cut at most at u16::MAX bytes; if that
        // cut fell inside a character, keep the valid prefix.
        let name = match std::str::from_utf8(name_bytes) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&name_bytes[..e.valid_up_to()]).unwrap_or(""),
        };
        NewRow {
            trace_id: &self.trace_id,
            span_id: &self.span_id,
            parent_span_id: self.parent_span_id.as_ref(),
            name,
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            record: &data[n..n + self.record_len as usize],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap_round_trip() {
        for len in [0usize, 10, INLINE_BYTES - 4, INLINE_BYTES, 5000] {
            let rec = vec![7u8; len];
            let q = QueuedSpan::new([1; 16], [2; 8], Some([3; 8]), 5, 6, "name", &rec);
            let r = q.row();
            assert_eq!(r.name, "name");
            assert_eq!(r.record, &rec[..]);
            assert_eq!(r.parent_span_id, Some(&[3; 8]));
            assert_eq!(
                matches!(q.bytes, SpanBytes::Inline(_)),
                len + 4 <= INLINE_BYTES
            );
        }
    }
}
