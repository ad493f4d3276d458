//! Cloud Trace v2: `traces:batchWrite`, REST/JSON, to
//! `{endpoint}/v2/projects/{project}/traces:batchWrite`.
//!
//! * [`convert`]: the rules of the mapping (attribute selection, labels,
//!   events, links) within Cloud Trace's limits ([`limits`]).
//! * [`json`]: each span written straight into the request body as one
//!   piece; a body is `{"spans":[` pieces joined by `,` `]}`.
//! * [`resource_labels`]: the resource as span labels (service, monitored
//!   resource, opted-in attributes).
//! * `reference` (tests only): the readable model the writer is held to.
//!
//! Answers: Cloud Trace's 2xx has no partial success; error bodies are
//! Google's JSON error (`error.message`). Every span past the 14-day window
//! is refused, so such spans are never sent.

use std::io::Write;

use tracespool_schema::{Resource, SpanData};

use super::{Destination, Framing, Piece, PieceWriter, Probe};
use crate::answer::{body_text, google_error_message, Decision};
use crate::compression::Compression;
use crate::repair::ConvertOptions;

pub(crate) mod convert;
pub(crate) mod json;
pub(crate) mod limits;
pub(crate) mod resource_labels;

#[cfg(test)]
mod reference;

/// The Cloud Trace v2 destination.
pub(crate) struct CloudTrace;

const BODY_START: &[u8] = b"{\"spans\":[";
const BODY_END: &[u8] = b"]}";

impl Destination for CloudTrace {
    fn name(&self) -> &'static str {
        "cloudtrace"
    }

    fn display_name(&self) -> &'static str {
        "Cloud Trace"
    }

    fn export_format(&self) -> &'static str {
        "cloudtrace"
    }

    fn description(&self) -> &'static str {
        "Cloud Trace API v2, traces:batchWrite (JSON)"
    }

    fn default_endpoint(&self) -> &'static str {
        "https://cloudtrace.googleapis.com"
    }

    fn default_compression(&self) -> Compression {
        Compression::None
    }

    fn needs_project(&self, _authenticated: bool) -> bool {
        true
    }

    fn url(&self, endpoint: &str, project: &str) -> String {
        let e = endpoint.trim_end_matches('/');
        format!("{e}/v2/projects/{project}/traces:batchWrite")
    }

    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn own_headers(&self, _project: &str, _authenticated: bool) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    fn expires_old_spans(&self, _endpoint: &str) -> bool {
        true
    }

    fn piece_writer(&self, project: &str, opts: ConvertOptions) -> Box<dyn PieceWriter> {
        Box::new(json::SpanJsonWriter::new(project, opts))
    }

    fn accepted(&self, _body: &[u8]) -> Decision {
        Decision::Delivered
    }

    fn error_message(&self, body: &[u8]) -> Option<String> {
        google_error_message(&String::from_utf8_lossy(body)).or_else(|| body_text(body))
    }

    fn config_hint(&self) -> &'static str {
        "check the project id, the API is enabled and the role roles/cloudtrace.agent"
    }

    fn write_body_json(&self, raw: &[u8], out: &mut dyn Write) -> anyhow::Result<()> {
        // The body is JSON already.
        out.write_all(raw)?;
        Ok(())
    }

    fn probe(&self) -> Probe {
        Probe::AnyAnswer
    }
}

impl PieceWriter for json::SpanJsonWriter {
    fn begin(&mut self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(BODY_START);
    }

    fn write(
        &mut self,
        buf: &mut Vec<u8>,
        first: bool,
        span: &SpanData,
        resource: &Resource,
        now_ns: u64,
    ) -> Piece {
        if !first {
            buf.push(b',');
        }
        let start = buf.len();
        self.set_now_ns(now_ns);
        self.write_span(buf, span, resource);
        Piece {
            range: start..buf.len(),
            resource: 0,
            scope: 0,
            attributes: 0,
        }
    }

    fn finish(
        &mut self,
        buf: &mut Vec<u8>,
        _pieces: &[&Piece],
    ) -> (Box<dyn Framing>, Option<Vec<u8>>) {
        // The buffer is the whole body: the pieces, joined, in the frame.
        buf.extend_from_slice(BODY_END);
        (Box::new(JsonFraming), None)
    }
}

/// `{"spans":[` pieces joined by `,` `]}`.
struct JsonFraming;

impl Framing for JsonFraming {
    fn body(&self, buf: &[u8], pieces: &mut dyn Iterator<Item = &Piece>) -> Vec<u8> {
        let mut body = Vec::with_capacity(buf.len() + 16);
        body.extend_from_slice(BODY_START);
        for (i, p) in pieces.enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&buf[p.range.clone()]);
        }
        body.extend_from_slice(BODY_END);
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracespool_schema::{SpanId, TraceId};

    #[test]
    fn a_subset_is_framed_from_the_same_pieces() {
        let opts = ConvertOptions {
            resource_labels: None,
            now_ns: 1_700_000_000_000_000_000,
        };
        let mut w = CloudTrace.piece_writer("proj-p1", opts.clone());
        let r = Resource::new(vec![]);
        let mut buf = Vec::new();
        w.begin(&mut buf);
        let spans: Vec<SpanData> = (1..=3u8)
            .map(|i| {
                let mut s = SpanData::new(TraceId([i; 16]), SpanId([i; 8]), format!("s{i}"));
                s.start_ns = opts.now_ns;
                s.end_ns = opts.now_ns;
                s
            })
            .collect();
        let pieces: Vec<Piece> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| w.write(&mut buf, i == 0, s, &r, opts.now_ns))
            .collect();
        let refs: Vec<&Piece> = pieces.iter().collect();
        let (framing, body) = w.finish(&mut buf, &refs);
        assert!(body.is_none(), "the buffer is the body");
        // The body is the reference model's `traces:batchWrite`, byte for byte.
        let model: Vec<_> = spans
            .iter()
            .map(|s| {
                let rec = tracespool_schema::SpanRecord {
                    version: 3,
                    span: s.clone(),
                    resource: r.clone(),
                };
                reference::to_cloud_trace("proj-p1", &rec, &opts)
            })
            .collect();
        let want = serde_json::to_vec(&reference::BatchWrite { spans: &model }).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&buf),
            String::from_utf8_lossy(&want)
        );
        let whole: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(whole["spans"].as_array().unwrap().len(), 3);
        let part = framing.body(&buf, &mut pieces[1..].iter());
        let part: serde_json::Value = serde_json::from_slice(&part).unwrap();
        let names: Vec<&str> = part["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["displayName"]["value"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["s2", "s3"]);
        assert_eq!(part["spans"][0], whole["spans"][1]);
    }
}
