//! OTLP: spool spans as OTLP/HTTP protobuf `ExportTraceServiceRequest`s
//! to `{endpoint}/v1/traces`, for Google's Telemetry API or any
//! OpenTelemetry Collector or OTLP backend.
//!
//! * [`convert`]: one spool span → an OTLP `Span`, within the Telemetry
//!   API's limits.
//! * [`body`]: request bodies framed around per-span pieces (re-framed, not
//!   re-encoded, when a batch is split).
//! * [`answer`]: what a 2xx body (partial success) and an error body say.
//!
//! With credentials, the project goes both into the `gcp.project_id`
//! resource attribute and into the `x-goog-user-project` header (the
//! Telemetry API's quota project). Spans past the 14-day window are
//! dropped only on the way to Google (`*.googleapis.com`): a collector
//! gets every span, however old, and decides for itself.

use std::io::Write;

use anyhow::Context as _;
use tracespool_schema::{Resource, SpanData};

use super::{Destination, Framing, Piece, PieceWriter, Probe};
use crate::answer::Decision;
use crate::compression::Compression;
use crate::repair::ConvertOptions;

pub(crate) mod answer;
pub(crate) mod body;
pub(crate) mod convert;

/// The OTLP/HTTP protobuf destination.
pub(crate) struct Otlp;

impl Destination for Otlp {
    fn name(&self) -> &'static str {
        "otlp"
    }

    fn display_name(&self) -> &'static str {
        "OTLP"
    }

    fn export_format(&self) -> &'static str {
        "otlp-json"
    }

    fn description(&self) -> &'static str {
        "OTLP/HTTP protobuf: Google's Telemetry API, any OpenTelemetry Collector or OTLP backend"
    }

    fn default_endpoint(&self) -> &'static str {
        "https://telemetry.googleapis.com"
    }

    fn default_compression(&self) -> Compression {
        Compression::Gzip
    }

    fn needs_project(&self, authenticated: bool) -> bool {
        // A collector needs none; with one, spans carry gcp.project_id.
        authenticated
    }

    fn url(&self, endpoint: &str, _project: &str) -> String {
        format!("{}/v1/traces", endpoint.trim_end_matches('/'))
    }

    fn content_type(&self) -> &'static str {
        "application/x-protobuf"
    }

    fn own_headers(&self, project: &str, authenticated: bool) -> Vec<(&'static str, String)> {
        if authenticated && !project.is_empty() {
            vec![("x-goog-user-project", project.to_owned())]
        } else {
            Vec::new()
        }
    }

    fn expires_old_spans(&self, endpoint: &str) -> bool {
        crate::endpoint::is_google(endpoint)
    }

    fn reads_otel_environment(&self) -> bool {
        true
    }

    fn max_request_bytes(&self) -> Option<usize> {
        Some(body::MAX_REQUEST_BYTES)
    }

    fn piece_writer(&self, project: &str, opts: ConvertOptions) -> Box<dyn PieceWriter> {
        Box::new(body::OtlpBatchWriter::new(
            (!project.is_empty()).then(|| project.to_owned()),
            opts,
        ))
    }

    fn accepted(&self, body: &[u8]) -> Decision {
        answer::accepted(body)
    }

    fn error_message(&self, body: &[u8]) -> Option<String> {
        answer::error_message(body)
    }

    fn config_hint(&self) -> &'static str {
        "check the endpoint, the headers, the project and the credentials"
    }

    fn write_body_json(&self, raw: &[u8], out: &mut dyn Write) -> anyhow::Result<()> {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use prost::Message;
        let req = ExportTraceServiceRequest::decode(raw).context("read back the OTLP body")?;
        serde_json::to_writer(out, &req)?;
        Ok(())
    }

    fn probe(&self) -> Probe {
        Probe::EmptyRequest
    }
}

impl PieceWriter for body::OtlpBatchWriter {
    fn begin(&mut self, _buf: &mut Vec<u8>) {
        self.begin_batch();
    }

    fn write(
        &mut self,
        buf: &mut Vec<u8>,
        _first: bool,
        span: &SpanData,
        resource: &Resource,
        now_ns: u64,
    ) -> Piece {
        self.set_now_ns(now_ns);
        self.write_span(buf, span, resource)
    }

    fn finish(
        &mut self,
        buf: &mut Vec<u8>,
        pieces: &[&Piece],
    ) -> (Box<dyn Framing>, Option<Vec<u8>>) {
        let groups = self.groups();
        let body = body::assemble(&groups, buf, pieces.iter().copied());
        (Box::new(groups), Some(body))
    }
}
