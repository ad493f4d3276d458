//! The preparing thread of an upload run: leases, decodes, expires and
//! converts the next batches into request bodies ahead of the sender.
//!
//! Each span is written once, as a piece of its batch's buffer, by the
//! destination's [`PieceWriter`]; the body for the whole batch is ready
//! (compressed if asked) when the batch is handed over, and the body of
//! any part of it after a split is framed from the same pieces
//! ([`PreparedBatch::part`]).

use tracespool_schema::RecordDecoder;
use tracespool_spool::{now_ns, ClockSample, LeasedSpan, SampleSource, SpoolOptions, SpoolReader};

use crate::clock_repair::{shift_span, ClockBook, Timing};
use crate::compression::Compression;
use crate::destination::{Framing, Piece, PieceWriter};
use crate::records::learn_dictionaries;
use crate::repair::{is_expired, sent_ids};

/// One span of a prepared batch: its row, and its piece of the batch's
/// buffer.
pub(crate) struct Prepared {
    pub(crate) row_id: i64,
    /// The span id as sent (after repairs): partial-success messages name
    /// spans by it.
    pub(crate) span_id: tracespool_schema::SpanId,
    pub(crate) piece: Piece,
    /// Whether its times were repaired (counted when it is delivered).
    pub(crate) repaired: bool,
}

/// A batch ready to send, made by the preparing thread.
pub(crate) struct PreparedBatch {
    pub(crate) corrupt: Vec<(i64, String)>,
    pub(crate) expired: Vec<i64>,
    /// Past the 14-day window by times known to be wrong (see
    /// `clock_repair`).
    pub(crate) undatable: Vec<i64>,
    /// The request body for all of `spans`, as sent (compressed if asked).
    pub(crate) body: bytes::Bytes,
    /// Its length uncompressed.
    pub(crate) raw_len: usize,
    /// The pieces of `spans` (for a split).
    pub(crate) buf: bytes::Bytes,
    pub(crate) framing: Box<dyn Framing>,
    pub(crate) spans: Vec<Prepared>,
}

pub(crate) enum FromPrep {
    Batch(PreparedBatch),
    /// No pending span after the cursor; wait for a `()` on the control
    /// channel before looking again.
    CaughtUp,
    Failed(tracespool_spool::SpoolError),
}

impl PreparedBatch {
    /// The body as sent for `spans[range]` of this batch, or `None` when
    /// it would be over `max_raw` bytes uncompressed and holds more than
    /// one span (the caller splits the range).
    pub(crate) fn part(
        &self,
        range: std::ops::Range<usize>,
        compression: Compression,
        max_raw: Option<usize>,
    ) -> Option<bytes::Bytes> {
        let over = |len: usize| range.len() > 1 && max_raw.is_some_and(|m| len > m);
        if range == (0..self.spans.len()) {
            return (!over(self.raw_len)).then(|| self.body.clone());
        }
        let raw = self.framing.body(
            &self.buf,
            &mut self.spans[range.clone()].iter().map(|p| &p.piece),
        );
        if over(raw.len()) {
            return None;
        }
        Some(compression.apply(raw).into())
    }
}

/// Decodes, repairs the times of, expires and converts one lease, writing
/// the request body. `now`: the trusted time (ns).
pub(crate) fn prepare(
    lease: Vec<LeasedSpan>,
    decoder: &mut RecordDecoder,
    writer: &mut dyn PieceWriter,
    clocks: &ClockBook,
    compression: Compression,
    expire: bool,
    now: u64,
) -> PreparedBatch {
    let mut corrupt = Vec::new();
    let mut expired = Vec::new();
    let mut undatable = Vec::new();
    let mut spans = Vec::with_capacity(lease.len());
    let guess: usize = lease.iter().map(|l| l.record.len() * 3).sum();
    let mut buf = Vec::with_capacity(guess + 64);
    writer.begin(&mut buf);
    for l in lease {
        let (mut span, resource) = match decoder.decode(&l.record) {
            Err(e) => {
                corrupt.push((l.row_id, e.reason().to_owned()));
                continue;
            }
            Ok(d) => d,
        };
        let timing = clocks.judge(l.clock_sample);
        if let Timing::Shifted(by) = timing {
            shift_span(&mut span, by);
        }
        if expire && is_expired(&span, now) {
            match timing {
                Timing::Undatable => undatable.push(l.row_id),
                _ => expired.push(l.row_id),
            }
            continue;
        }
        let piece = writer.write(&mut buf, spans.is_empty(), &span, resource, now);
        spans.push(Prepared {
            row_id: l.row_id,
            span_id: sent_ids(&span).span,
            piece,
            repaired: matches!(timing, Timing::Shifted(_)),
        });
    }
    let pieces: Vec<&Piece> = spans.iter().map(|p| &p.piece).collect();
    let (framing, body) = writer.finish(&mut buf, &pieces);
    let buf = bytes::Bytes::from(buf);
    let raw_len = body.as_ref().map_or(buf.len(), Vec::len);
    let body = match (body, compression) {
        (None, Compression::None) => buf.clone(),
        (Some(b), c) => c.apply(b).into(),
        (None, c) => c.apply(buf.to_vec()).into(),
    };
    PreparedBatch {
        corrupt,
        expired,
        undatable,
        body,
        raw_len,
        buf,
        framing,
        spans,
    }
}

/// How the preparing thread makes batches.
pub(crate) struct Plan {
    /// Encodes spans for the destination.
    pub(crate) writer: Box<dyn PieceWriter>,
    pub(crate) compression: Compression,
    /// Whether spans past the 14-day window are dropped (see
    /// `Destination::expires_old_spans`).
    pub(crate) expire: bool,
    /// Spans per batch.
    pub(crate) batch: usize,
    /// The time the window is judged at (`None`: now).
    pub(crate) as_of: Option<u64>,
    /// Clock samples known but not in the spool (a dry run's own clock).
    pub(crate) unsaved_samples: Vec<ClockSample>,
    /// How to open the spool.
    pub(crate) spool_options: SpoolOptions,
    /// Open it read-only (a dry run).
    pub(crate) read_only: bool,
}

/// The preparing thread: leases pending spans oldest first (a cursor on the
/// row id, so batches in flight are not leased twice), prepares them, and
/// hands them over, at most two ahead, on its own connection.
pub(crate) fn prepare_loop(
    spool: &std::path::Path,
    plan: Plan,
    tx: tokio::sync::mpsc::Sender<FromPrep>,
    ctl: std::sync::mpsc::Receiver<()>,
) {
    let Plan {
        mut writer,
        compression,
        expire,
        batch,
        as_of,
        unsaved_samples,
        spool_options,
        read_only,
    } = plan;
    let mut clocks = ClockBook::new();
    for s in unsaved_samples {
        clocks.add_unsaved(s);
    }
    let opened = if read_only {
        SpoolReader::open_read_only(spool)
    } else {
        SpoolReader::open(spool, &spool_options)
    };
    let reader = match opened {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.blocking_send(FromPrep::Failed(e.into()));
            return;
        }
    };
    let mut decoder = RecordDecoder::new();
    let mut cursor = 0i64;
    loop {
        let lease = match reader.lease(cursor, batch) {
            Ok(l) => l,
            Err(e) => {
                let _ = tx.blocking_send(FromPrep::Failed(e));
                return;
            }
        };
        let Some(last) = lease.last().map(|l| l.row_id) else {
            if tx.blocking_send(FromPrep::CaughtUp).is_err() || ctl.recv().is_err() {
                return;
            }
            continue;
        };
        cursor = last;
        learn_dictionaries(&mut decoder, &reader, lease.iter().map(|l| &l.record[..]));
        // Samples recorded since the last batch (by recorders, or by this
        // uploader after a server's Date).
        match reader.clock_samples(clocks.last_id()) {
            Ok(new) => new.into_iter().for_each(|(id, s)| clocks.add(id, s)),
            Err(e) => {
                let _ = tx.blocking_send(FromPrep::Failed(e));
                return;
            }
        }
        let now = as_of.unwrap_or_else(|| trusted_now(&clocks));
        let msg = FromPrep::Batch(prepare(
            lease,
            &mut decoder,
            &mut *writer,
            &clocks,
            compression,
            expire,
            now,
        ));
        if tx.blocking_send(msg).is_err() {
            return;
        }
    }
}

/// Now, by this machine's boot clock and its boot's reference (a server's
/// `Date` when the uploader learned one), else the wall clock.
fn trusted_now(clocks: &ClockBook) -> u64 {
    match ClockSample::now(SampleSource::Uploader) {
        Some(own) => clocks.trusted_now_ns(&own).max(0) as u64,
        None => now_ns(),
    }
}
