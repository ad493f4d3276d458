//! The preparing thread of an upload run: leases, decodes, expires and
//! converts the next batches into request bodies ahead of the sender.

use tracespool_schema::RecordDecoder;
use tracespool_spool::{now_ns, LeasedSpan, SpoolOptions, SpoolReader};

use crate::convert::{is_expired, ConvertOptions};
use crate::json::SpanJsonWriter;

/// One span of a prepared batch: its row, and where its JSON is in the
/// batch's body.
pub(crate) struct Prepared {
    pub(crate) row_id: i64,
    pub(crate) json: std::ops::Range<usize>,
}

/// A batch ready to send, made by the preparing thread.
pub(crate) struct PreparedBatch {
    pub(crate) corrupt: Vec<(i64, String)>,
    pub(crate) expired: Vec<i64>,
    /// The request body for all of `spans`.
    pub(crate) body: bytes::Bytes,
    pub(crate) spans: Vec<Prepared>,
}

pub(crate) const BODY_START: &[u8] = b"{\"spans\":[";
pub(crate) const BODY_END: &[u8] = b"]}";

pub(crate) enum FromPrep {
    Batch(PreparedBatch),
    /// No pending span after the cursor; wait for a `()` on the control
    /// channel before looking again.
    CaughtUp,
    Failed(tracespool_spool::SpoolError),
}

/// Decodes, expires and converts one lease, writing the request body.
pub(crate) fn prepare(
    lease: Vec<LeasedSpan>,
    decoder: &mut RecordDecoder,
    json: &mut SpanJsonWriter,
    now: u64,
) -> PreparedBatch {
    let mut corrupt = Vec::new();
    let mut expired = Vec::new();
    let mut spans = Vec::with_capacity(lease.len());
    let guess: usize = lease.iter().map(|l| l.record.len() * 3).sum();
    let mut body = Vec::with_capacity(guess + 64);
    body.extend_from_slice(BODY_START);
    for l in lease {
        match decoder.decode(&l.record) {
            Err(e) => corrupt.push((l.row_id, e.reason().to_owned())),
            Ok((span, _)) if is_expired(&span, now) => expired.push(l.row_id),
            Ok((span, resource)) => {
                if !spans.is_empty() {
                    body.push(b',');
                }
                let start = body.len();
                json.set_now_ns(now);
                json.write(&mut body, &span, resource);
                spans.push(Prepared {
                    row_id: l.row_id,
                    json: start..body.len(),
                });
            }
        }
    }
    body.extend_from_slice(BODY_END);
    PreparedBatch {
        corrupt,
        expired,
        body: body.into(),
        spans,
    }
}

/// The preparing thread: leases pending spans oldest first (a cursor on the
/// row id, so batches in flight are not leased twice), prepares them, and
/// hands them over, at most two ahead, on its own connection.
pub(crate) fn prepare_loop(
    spool: &std::path::Path,
    project: &str,
    batch: usize,
    as_of: Option<u64>,
    opts: ConvertOptions,
    tx: tokio::sync::mpsc::Sender<FromPrep>,
    ctl: std::sync::mpsc::Receiver<()>,
) {
    let reader = match SpoolReader::open(spool, &SpoolOptions::default()) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.blocking_send(FromPrep::Failed(e.into()));
            return;
        }
    };
    let mut json = SpanJsonWriter::new(project, opts);
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
        let now = as_of.unwrap_or_else(now_ns);
        let msg = FromPrep::Batch(prepare(lease, &mut decoder, &mut json, now));
        if tx.blocking_send(msg).is_err() {
            return;
        }
    }
}
