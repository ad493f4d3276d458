//! A prepared batch's spans as pieces of one buffer, and the request body
//! for any subset of them, per sink: JSON pieces joined into
//! `{"spans":[...]}` (Cloud Trace), or OTLP `Span` pieces framed into an
//! `ExportTraceServiceRequest` (see `crate::otlp::body`). Compressed when
//! asked. A batch split after a 400 is re-framed from the same pieces.

use tracespool_schema::{Resource, SpanData};

use crate::json::SpanJsonWriter;
use crate::otlp::body::{assemble, BatchGroups, OtlpBatchWriter, Piece};
use crate::sink::{gzip, Compression};

pub(crate) const BODY_START: &[u8] = b"{\"spans\":[";
pub(crate) const BODY_END: &[u8] = b"]}";

/// How the pieces of a batch become a body.
#[derive(Clone)]
pub(crate) enum Framing {
    /// Cloud Trace JSON: the buffer is the whole uncompressed body, each
    /// piece a span's JSON object within it.
    Json,
    /// OTLP: the buffer holds the span messages; the groups their
    /// resources and scopes.
    Otlp(BatchGroups),
}

/// Writes spans as pieces (on the preparing thread).
pub(crate) enum PieceWriter {
    Json(Box<SpanJsonWriter>),
    Otlp(Box<OtlpBatchWriter>),
}

impl PieceWriter {
    pub(crate) fn begin(&mut self, buf: &mut Vec<u8>) {
        match self {
            PieceWriter::Json(_) => buf.extend_from_slice(BODY_START),
            PieceWriter::Otlp(w) => w.begin(),
        }
    }

    pub(crate) fn write(
        &mut self,
        buf: &mut Vec<u8>,
        first: bool,
        span: &SpanData,
        resource: &Resource,
        now: u64,
    ) -> Piece {
        match self {
            PieceWriter::Json(w) => {
                if !first {
                    buf.push(b',');
                }
                let start = buf.len();
                w.set_now_ns(now);
                w.write(buf, span, resource);
                Piece {
                    range: start..buf.len(),
                    resource: 0,
                    scope: 0,
                }
            }
            PieceWriter::Otlp(w) => {
                w.set_now_ns(now);
                w.write(buf, span, resource)
            }
        }
    }

    /// Ends the batch: its framing, and its body if the pieces are not it.
    pub(crate) fn finish(
        &mut self,
        buf: &mut Vec<u8>,
        pieces: &[&Piece],
    ) -> (Framing, Option<Vec<u8>>) {
        match self {
            PieceWriter::Json(_) => {
                buf.extend_from_slice(BODY_END);
                (Framing::Json, None)
            }
            PieceWriter::Otlp(w) => {
                let groups = w.groups();
                let body = assemble(&groups, buf, pieces.iter().copied());
                (Framing::Otlp(groups), Some(body))
            }
        }
    }
}

/// The uncompressed body for `pieces` (a subset of a batch's) of `buf`.
pub(crate) fn body_of<'a>(
    framing: &Framing,
    buf: &[u8],
    pieces: impl IntoIterator<Item = &'a Piece>,
) -> Vec<u8> {
    match framing {
        Framing::Json => {
            let mut body = Vec::with_capacity(buf.len() + 16);
            body.extend_from_slice(BODY_START);
            for (i, p) in pieces.into_iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&buf[p.range.clone()]);
            }
            body.extend_from_slice(BODY_END);
            body
        }
        Framing::Otlp(groups) => assemble(groups, buf, pieces),
    }
}

/// The body as sent.
pub(crate) fn compress(body: Vec<u8>, compression: Compression) -> Vec<u8> {
    match compression {
        Compression::Gzip => gzip(&body),
        Compression::None => body,
    }
}
