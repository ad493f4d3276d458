//! A destination's request bodies as JSON lines, exactly as the uploader
//! would send them (the same piece writer, the same framing), read back as
//! JSON: one request of up to [`SPANS_PER_REQUEST`] spans per line. For
//! `export --format` and the viewer's downloads.

use std::io::Write;

use tracespool_schema::{Resource, SpanData};

use super::sink::Sink;
use super::{Piece, PieceWriter};
use crate::repair::ConvertOptions;

/// Spans per request, as `upload`'s default batch.
pub(crate) const SPANS_PER_REQUEST: usize = 1000;

/// Writes spans as request lines.
pub(crate) struct RequestLines {
    sink: Sink,
    writer: Box<dyn PieceWriter>,
    now_ns: u64,
    buf: Vec<u8>,
    pieces: Vec<Piece>,
}

impl RequestLines {
    /// Requests of `sink` for `project` (empty: none).
    pub(crate) fn new(sink: Sink, project: &str, opts: ConvertOptions) -> Self {
        let now_ns = opts.now_ns;
        let mut writer = sink.piece_writer(project, opts);
        let mut buf = Vec::new();
        writer.begin(&mut buf);
        RequestLines {
            sink,
            writer,
            now_ns,
            buf,
            pieces: Vec::new(),
        }
    }

    /// Adds a span; writes a line when a request is full.
    pub(crate) fn push(
        &mut self,
        span: &SpanData,
        resource: &Resource,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let first = self.pieces.is_empty();
        let piece = self
            .writer
            .write(&mut self.buf, first, span, resource, self.now_ns);
        self.pieces.push(piece);
        if self.pieces.len() == SPANS_PER_REQUEST {
            self.flush(out)?;
        }
        Ok(())
    }

    /// Writes the last, partial request, if any.
    pub(crate) fn flush(&mut self, out: &mut dyn Write) -> anyhow::Result<()> {
        if self.pieces.is_empty() {
            return Ok(());
        }
        let refs: Vec<&Piece> = self.pieces.iter().collect();
        let (_, body) = self.writer.finish(&mut self.buf, &refs);
        self.sink
            .write_body_json(body.as_deref().unwrap_or(&self.buf), out)?;
        out.write_all(b"\n")?;
        self.buf.clear();
        self.pieces.clear();
        self.writer.begin(&mut self.buf);
        Ok(())
    }
}
