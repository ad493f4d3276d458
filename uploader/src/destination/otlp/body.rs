//! OTLP request bodies: spans encoded one by one, assembled into an
//! `ExportTraceServiceRequest` grouped by resource and scope.
//!
//! Each span is encoded once, as an OTLP `Span` message, into the batch's
//! piece buffer; its resource and scope are encoded once per distinct
//! value (a recorder's spans share one resource). The request is then
//! framed around the pieces with protobuf length prefixes, so a batch
//! split after a 400 is re-framed from the same pieces, never re-encoded.
//!
//! Quotas: a ResourceSpans holds at most 8,192 attributes, its resource's,
//! scopes', spans', events' and links' together (the Telemetry API's
//! limit; a collector that forwards a request to Google unchanged gets
//! it refused after it answered 200, and the spans are lost there). The
//! spans of one resource therefore go into as many ResourceSpans as their
//! attributes need. A request body is at most [`MAX_REQUEST_BYTES`]
//! (uncompressed): a larger batch is sent in parts (see
//! `upload::deliver`).
//!
//! ```text
//! ExportTraceServiceRequest
//!   1: ResourceSpans (per distinct resource, in order of first use; more
//!      when its spans' attributes pass 8,192)
//!        1: Resource             (encoded once per resource)
//!        2: ScopeSpans (per distinct scope of that resource)
//!             1: InstrumentationScope (encoded once per scope)
//!             2: Span ...        (the pieces)
//!             3: schema_url      (the scope's, when set)
//!        3: schema_url           (the resource's, when set)
//! ```
//! `opentelemetry_proto`'s own decoder reads these bodies back exactly
//! (see the tests).

use std::sync::Arc;

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use prost::Message;
use tracespool_schema::{InstrumentationScope, Resource, SpanData};

use super::convert;
use crate::destination::{Framing, Piece};
use crate::repair::ConvertOptions;

/// The largest request body, uncompressed: 4 MiB, the message size a
/// gRPC server accepts by default (the OpenTelemetry Collector's OTLP/gRPC
/// receiver's `max_recv_msg_size_mib`), so that any collector hop, gRPC or
/// HTTP (20 MiB by default), takes a request unchanged.
pub(crate) const MAX_REQUEST_BYTES: usize = 4 << 20;

/// A resource or a scope, encoded.
#[derive(Debug)]
pub(crate) struct Encoded {
    bytes: Vec<u8>,
    schema_url: String,
    /// Its attributes.
    attributes: usize,
}

/// The resources and scopes the spans of one batch use.
#[derive(Debug, Default, Clone)]
pub(crate) struct BatchGroups {
    resources: Vec<Arc<Encoded>>,
    scopes: Vec<Arc<Encoded>>,
}

/// Encodes spans into pieces (on the preparing thread).
pub(crate) struct OtlpBatchWriter {
    opts: ConvertOptions,
    project: Option<String>,
    resources: Vec<(Resource, Arc<Encoded>)>,
    scopes: Vec<(InstrumentationScope, Arc<Encoded>)>,
    batch: BatchGroups,
}

/// More distinct resources or scopes than this in one batch are sent in
/// the last group's place (never in practice: one per recorder).
const MAX_GROUPS: usize = u16::MAX as usize;

impl OtlpBatchWriter {
    pub(crate) fn new(project: Option<String>, opts: ConvertOptions) -> Self {
        OtlpBatchWriter {
            opts,
            project,
            resources: Vec::new(),
            scopes: Vec::new(),
            batch: BatchGroups::default(),
        }
    }

    pub(crate) fn set_now_ns(&mut self, now: u64) {
        self.opts.now_ns = now;
    }

    /// Starts a batch.
    pub(crate) fn begin_batch(&mut self) {
        self.batch = BatchGroups::default();
    }

    /// The groups of the batch so far.
    pub(crate) fn groups(&self) -> BatchGroups {
        self.batch.clone()
    }

    /// Appends one span's piece to `out`.
    pub(crate) fn write_span(&mut self, out: &mut Vec<u8>, s: &SpanData, r: &Resource) -> Piece {
        let resource = self.resource(r);
        let scope = self.scope(&s.scope);
        let start = out.len();
        let span = convert::span(s, &self.opts);
        // Writing to a Vec cannot fail.
        let _ = span.encode(out);
        Piece {
            range: start..out.len(),
            resource,
            scope,
            attributes: convert::attribute_count(&span) as u32,
        }
    }

    fn resource(&mut self, r: &Resource) -> u16 {
        let enc = match self.resources.iter().find(|(x, _)| x == r) {
            Some((_, e)) => e.clone(),
            None => {
                let proto = convert::resource(r, self.project.as_deref());
                let e = Arc::new(Encoded {
                    bytes: proto.encode_to_vec(),
                    schema_url: r.schema_url.to_string(),
                    attributes: proto.attributes.len(),
                });
                self.resources.push((r.clone(), e.clone()));
                e
            }
        };
        local_index(&mut self.batch.resources, enc)
    }

    fn scope(&mut self, s: &InstrumentationScope) -> u16 {
        let enc = match self.scopes.iter().find(|(x, _)| x == s) {
            Some((_, e)) => e.clone(),
            None => {
                let proto = convert::scope(s);
                let e = Arc::new(Encoded {
                    bytes: proto.encode_to_vec(),
                    schema_url: s.schema_url.to_string(),
                    attributes: proto.attributes.len(),
                });
                self.scopes.push((s.clone(), e.clone()));
                e
            }
        };
        local_index(&mut self.batch.scopes, enc)
    }
}

fn local_index(list: &mut Vec<Arc<Encoded>>, e: Arc<Encoded>) -> u16 {
    match list.iter().position(|x| Arc::ptr_eq(x, &e)) {
        Some(i) => i as u16,
        None if list.len() < MAX_GROUPS => {
            list.push(e);
            (list.len() - 1) as u16
        }
        None => (list.len() - 1) as u16,
    }
}

/// Length of a length-delimited field with this tag and content length.
fn field_len(tag: u32, len: usize) -> usize {
    prost::encoding::key_len(tag) + encoded_len_varint(len as u64) + len
}

fn field_header(out: &mut Vec<u8>, tag: u32, len: usize) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

fn string_field_len(tag: u32, s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        field_len(tag, s.len())
    }
}

fn string_field(out: &mut Vec<u8>, tag: u32, s: &str) {
    if !s.is_empty() {
        field_header(out, tag, s.len());
        out.extend_from_slice(s.as_bytes());
    }
}

impl Framing for BatchGroups {
    fn body(&self, buf: &[u8], pieces: &mut dyn Iterator<Item = &Piece>) -> Vec<u8> {
        assemble(self, buf, pieces)
    }
}

/// A scope's index and its spans' pieces.
type ScopeGroup<'a> = (u16, Vec<&'a Piece>);

/// One ResourceSpans of a request: its resource's index, the attributes
/// it holds so far, and its spans by scope.
struct ResourceGroup<'a> {
    resource: u16,
    attributes: usize,
    scopes: Vec<ScopeGroup<'a>>,
}

/// The `ExportTraceServiceRequest` for `pieces` (a subset of a batch's,
/// in any order) cut from `buf`.
pub(crate) fn assemble<'a>(
    groups: &BatchGroups,
    buf: &[u8],
    pieces: impl IntoIterator<Item = &'a Piece>,
) -> Vec<u8> {
    // Spans per resource, then per scope, in order of first use; a
    // resource's spans open another ResourceSpans where the open one would
    // pass the attribute quota.
    let mut by_resource: Vec<ResourceGroup<'_>> = Vec::new();
    let mut total_piece_bytes = 0;
    for p in pieces {
        total_piece_bytes += p.range.len() + 8;
        let scope_attributes = groups.scopes[usize::from(p.scope)].attributes;
        let open = by_resource.iter().rposition(|g| g.resource == p.resource);
        let fits = |g: &ResourceGroup<'_>| {
            let new_scope = !g.scopes.iter().any(|(s, _)| *s == p.scope);
            let cost = p.attributes as usize + if new_scope { scope_attributes } else { 0 };
            g.attributes + cost <= convert::limits::RESOURCE_SPANS_ATTRIBUTES
        };
        let r = match open {
            Some(i) if fits(&by_resource[i]) => i,
            _ => {
                by_resource.push(ResourceGroup {
                    resource: p.resource,
                    attributes: groups.resources[usize::from(p.resource)].attributes,
                    scopes: Vec::new(),
                });
                by_resource.len() - 1
            }
        };
        let g = &mut by_resource[r];
        let s = match g.scopes.iter().position(|(s, _)| *s == p.scope) {
            Some(i) => i,
            None => {
                g.scopes.push((p.scope, Vec::new()));
                g.attributes += scope_attributes;
                g.scopes.len() - 1
            }
        };
        g.attributes += p.attributes as usize;
        g.scopes[s].1.push(p);
    }
    let mut out = Vec::with_capacity(total_piece_bytes + 256);
    for ResourceGroup {
        resource: r,
        scopes,
        ..
    } in &by_resource
    {
        let res = &groups.resources[usize::from(*r)];
        let scope_lens: Vec<usize> = scopes
            .iter()
            .map(|(s, spans)| {
                let sc = &groups.scopes[usize::from(*s)];
                field_len(1, sc.bytes.len())
                    + spans
                        .iter()
                        .map(|p| field_len(2, p.range.len()))
                        .sum::<usize>()
                    + string_field_len(3, &sc.schema_url)
            })
            .collect();
        let rs_len = field_len(1, res.bytes.len())
            + scope_lens.iter().map(|l| field_len(2, *l)).sum::<usize>()
            + string_field_len(3, &res.schema_url);
        field_header(&mut out, 1, rs_len);
        field_header(&mut out, 1, res.bytes.len());
        out.extend_from_slice(&res.bytes);
        for ((s, spans), len) in scopes.iter().zip(&scope_lens) {
            let sc = &groups.scopes[usize::from(*s)];
            field_header(&mut out, 2, *len);
            field_header(&mut out, 1, sc.bytes.len());
            out.extend_from_slice(&sc.bytes);
            for p in spans {
                field_header(&mut out, 2, p.range.len());
                out.extend_from_slice(&buf[p.range.clone()]);
            }
            string_field(&mut out, 3, &sc.schema_url);
        }
        string_field(&mut out, 3, &res.schema_url);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
    use tracespool_schema::{Attribute, SpanId, TraceId};

    fn res(name: &'static str, url: &'static str) -> Resource {
        let mut r = Resource::new(vec![Attribute::new("service.name", name)]);
        r.schema_url = url.into();
        r
    }

    fn span(i: u8, scope: &'static str) -> SpanData {
        let mut s = SpanData::new(TraceId([i; 16]), SpanId([i; 8]), format!("s{i}"));
        s.start_ns = 1_700_000_000_000_000_000;
        s.end_ns = s.start_ns + 5;
        s.scope.name = scope.into();
        if scope == "b" {
            s.scope.schema_url = "https://example.invalid/schema".into();
        }
        s
    }

    #[test]
    fn bodies_decode_as_the_request_prost_would_build() {
        let opts = ConvertOptions {
            resource_labels: None,
            now_ns: 1_700_000_000_000_000_000,
        };
        let mut w = OtlpBatchWriter::new(Some("proj-p1".into()), opts.clone());
        w.begin_batch();
        let (r1, r2) = (
            res("a", ""),
            res("b", "https://opentelemetry.io/schemas/1.26.0"),
        );
        let input = [
            (span(1, "a"), &r1),
            (span(2, "b"), &r1),
            (span(3, "a"), &r2),
            (span(4, "a"), &r1),
        ];
        let mut buf = Vec::new();
        let pieces: Vec<Piece> = input
            .iter()
            .map(|(s, r)| w.write_span(&mut buf, s, r))
            .collect();
        let body = assemble(&w.groups(), &buf, &pieces);
        let got = ExportTraceServiceRequest::decode(&body[..]).unwrap();

        let ss = |scope: &InstrumentationScope, spans: Vec<&SpanData>| ScopeSpans {
            scope: Some(convert::scope(scope)),
            spans: spans.into_iter().map(|s| convert::span(s, &opts)).collect(),
            schema_url: scope.schema_url.to_string(),
        };
        let want = ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: Some(convert::resource(&r1, Some("proj-p1"))),
                    scope_spans: vec![
                        ss(&input[0].0.scope, vec![&input[0].0, &input[3].0]),
                        ss(&input[1].0.scope, vec![&input[1].0]),
                    ],
                    schema_url: String::new(),
                },
                ResourceSpans {
                    resource: Some(convert::resource(&r2, Some("proj-p1"))),
                    scope_spans: vec![ss(&input[2].0.scope, vec![&input[2].0])],
                    schema_url: r2.schema_url.to_string(),
                },
            ],
        };
        assert_eq!(got, want);
        // prost's own encoding of the same request is the same length (the
        // field order within messages is the same).
        assert_eq!(want.encode_to_vec().len(), body.len());

        // A split re-frames a subset from the same pieces.
        let half = assemble(&w.groups(), &buf, &pieces[2..]);
        let got = ExportTraceServiceRequest::decode(&half[..]).unwrap();
        let names: Vec<String> = got
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect();
        assert_eq!(names, ["s3", "s4"]);
    }

    /// Attributes of a ResourceSpans, its children's included, as the
    /// Telemetry API counts them.
    fn attributes_of(rs: &ResourceSpans) -> usize {
        rs.resource.as_ref().map_or(0, |r| r.attributes.len())
            + rs.scope_spans
                .iter()
                .map(|ss| {
                    ss.scope.as_ref().map_or(0, |s| s.attributes.len())
                        + ss.spans.iter().map(convert::attribute_count).sum::<usize>()
                })
                .sum::<usize>()
    }

    #[test]
    fn a_resource_s_spans_share_resource_spans_only_up_to_the_attribute_quota() {
        let opts = ConvertOptions {
            resource_labels: None,
            now_ns: 1_700_000_000_000_000_000,
        };
        let mut w = OtlpBatchWriter::new(Some("proj-p1".into()), opts);
        w.begin_batch();
        let mut r = res("fleet", "");
        r.attributes
            .extend((0..40).map(|i| Attribute::new(format!("host.label.{i}"), "x")));
        // 1,000 spans of 12 attributes, two scopes with attributes: 12,000
        // span attributes, more than one ResourceSpans holds.
        let mut buf = Vec::new();
        let pieces: Vec<Piece> = (0..1000u32)
            .map(|i| {
                let mut s = span((i % 250) as u8 + 1, if i % 2 == 0 { "a" } else { "b" });
                s.name = format!("s{i}").into();
                s.scope.attributes = vec![Attribute::new("scope.attr", i64::from(i % 2))];
                s.attributes = (0..12)
                    .map(|k| Attribute::new(format!("k{k}"), i64::from(i)))
                    .collect();
                w.write_span(&mut buf, &s, &r)
            })
            .collect();
        let body = assemble(&w.groups(), &buf, &pieces);
        let got = ExportTraceServiceRequest::decode(&body[..]).unwrap();
        assert_eq!(
            got.resource_spans.len(),
            2,
            "12,000 attributes: two ResourceSpans"
        );
        for rs in &got.resource_spans {
            assert!(attributes_of(rs) <= convert::limits::RESOURCE_SPANS_ATTRIBUTES);
            assert_eq!(
                rs.resource, got.resource_spans[0].resource,
                "the same resource"
            );
        }
        let names: Vec<String> = got
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect();
        assert_eq!(names.len(), 1000, "every span once");
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 1000);
    }
}
