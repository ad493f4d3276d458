//! The upload path's Cloud Trace JSON: spans written straight into the
//! request body, with no intermediate values.
//!
//! [`crate::convert::to_cloud_trace`] is the readable reference of the
//! mapping (and what `inspect export` uses); this writer produces **the
//! same bytes** as `serde_json::to_vec(&to_cloud_trace(..))`, which the test
//! `direct_json_is_byte_identical_to_the_reference` checks for hand-made
//! and arbitrary spans. Both take their attribute rules from
//! [`crate::convert::select_attributes`]. Strings are escaped by
//! serde_json's own escaper.

use std::io::Write as _;

use tracespool_schema::{Attribute, AttributeValue, Resource, SpanData, StatusCode, TimeEventKind};

use crate::convert::{
    agent, compressed_or_not, cut, dropped_events, dropped_links, int64, limits, link_type,
    message_type, select_attributes, sent_events, span_kind, split_resource, Selection, Val,
};
use crate::timefmt::write_rfc3339_nanos;

/// Writes spans of one project as Cloud Trace v2 JSON. Keeps what can be
/// reused from span to span: the converted resource and scratch space.
pub struct SpanJsonWriter {
    /// `"projects/P/traces/`.
    name_prefix: String,
    /// The last resource seen, split as it is sent, and its agent string.
    resource: Option<ResourceParts>,
}

struct ResourceParts {
    resource: Resource,
    first: Vec<Attribute>,
    rest: Vec<Attribute>,
    agent: String,
}

impl ResourceParts {
    fn new(resource: &Resource) -> Self {
        let (first, rest) = split_resource(resource);
        ResourceParts {
            resource: resource.clone(),
            first,
            rest,
            agent: agent(resource),
        }
    }
}

fn escaped(out: &mut Vec<u8>, s: &str) {
    use serde::Serializer as _;
    // serde_json's own string escaping; writing to a Vec cannot fail.
    let _ = (&mut serde_json::Serializer::new(out)).serialize_str(s);
}

fn truncatable(out: &mut Vec<u8>, s: &str, max: usize) {
    let kept = cut(s, max);
    out.extend_from_slice(b"{\"value\":");
    escaped(out, kept);
    if kept.len() < s.len() {
        out.extend_from_slice(b",\"truncatedByteCount\":");
        uint(out, (s.len() - kept.len()) as u64);
    }
    out.push(b'}');
}

fn uint(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn int_string(out: &mut Vec<u8>, v: i64) {
    out.push(b'"');
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    out.push(b'"');
}

fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 15)]);
    }
}

fn quoted_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    hex(out, bytes);
    out.push(b'"');
}

fn time(out: &mut Vec<u8>, ns: u64) {
    out.push(b'"');
    write_rfc3339_nanos(out, ns);
    out.push(b'"');
}

/// `{"stringValue":{...}` (the caller closes the object).
fn string_value(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(b"{\"stringValue\":");
    truncatable(out, s, limits::STRING_VALUE_BYTES);
}

fn value(out: &mut Vec<u8>, v: Val<'_>) {
    match v {
        Val::Str(s) => string_value(out, s),
        Val::Attr(AttributeValue::String(s)) => string_value(out, s),
        Val::Attr(AttributeValue::Int(i)) => {
            out.extend_from_slice(b"{\"intValue\":");
            int_string(out, *i);
        }
        Val::Attr(AttributeValue::Bool(b)) => {
            out.extend_from_slice(if *b {
                b"{\"boolValue\":true"
            } else {
                b"{\"boolValue\":false"
            });
        }
        Val::Attr(AttributeValue::Float(f)) => {
            out.extend_from_slice(b"{\"stringValue\":");
            truncatable(out, &f.to_string(), limits::STRING_VALUE_BYTES);
        }
        // A kind of value newer than this uploader, as `convert::value`.
        Val::Attr(other) => string_value(out, &format!("{other:?}")),
    }
    out.push(b'}');
}

fn attributes(out: &mut Vec<u8>, sel: &Selection<'_>) {
    out.extend_from_slice(b"{\"attributeMap\":{");
    for (i, (k, v)) in sel.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        escaped(out, k);
        out.push(b':');
        value(out, *v);
    }
    out.push(b'}');
    if sel.dropped > 0 {
        out.extend_from_slice(b",\"droppedAttributesCount\":");
        uint(out, u64::from(sel.dropped));
    }
    out.push(b'}');
}

/// `,"attributes":{...}` for an annotation or a link, unless there is
/// nothing to say.
fn optional_attributes<'a>(
    out: &mut Vec<u8>,
    attrs: &'a [Attribute],
    cap: usize,
    sel: &mut Selection<'a>,
) {
    select_attributes(&[attrs], &[], cap, 0, sel);
    if !sel.items.is_empty() || sel.dropped > 0 {
        out.extend_from_slice(b",\"attributes\":");
        attributes(out, sel);
    }
}

impl SpanJsonWriter {
    /// A writer for spans of `project`.
    pub fn new(project: &str) -> Self {
        SpanJsonWriter {
            name_prefix: format!("\"projects/{project}/traces/"),
            resource: None,
        }
    }

    /// Appends one span (with the resource of its record) as a Cloud Trace
    /// v2 `Span` object to `out`.
    pub fn write(&mut self, out: &mut Vec<u8>, s: &SpanData, resource: &Resource) {
        if self
            .resource
            .as_ref()
            .is_none_or(|r| r.resource != *resource)
        {
            self.resource = Some(ResourceParts::new(resource));
        }
        let res = self.resource.as_ref().expect("set above");
        out.extend_from_slice(b"{\"name\":");
        out.extend_from_slice(self.name_prefix.as_bytes());
        hex(out, &s.trace_id.0);
        out.extend_from_slice(b"/spans/");
        hex(out, &s.span_id.0);
        out.extend_from_slice(b"\",\"spanId\":");
        quoted_hex(out, &s.span_id.0);
        if let Some(p) = s.parent_span_id {
            out.extend_from_slice(b",\"parentSpanId\":");
            quoted_hex(out, &p.0);
        }
        out.extend_from_slice(b",\"displayName\":");
        truncatable(out, &s.name, limits::DISPLAY_NAME_BYTES);
        out.extend_from_slice(b",\"startTime\":");
        time(out, s.start_ns);
        out.extend_from_slice(b",\"endTime\":");
        time(out, s.end_ns.max(s.start_ns));

        let mut sel = Selection::default();
        select_attributes(
            &[&res.first[..], &s.attributes[..], &res.rest[..]],
            &[("g.co/agent", Val::Str(&res.agent))],
            limits::ATTRIBUTES,
            s.dropped.attributes,
            &mut sel,
        );
        out.extend_from_slice(b",\"attributes\":");
        attributes(out, &sel);

        self.time_events(out, s, &mut Selection::default());
        self.links(out, s, &mut Selection::default());

        match s.status.code {
            StatusCode::Unset => {}
            StatusCode::Ok => out.extend_from_slice(b",\"status\":{\"code\":0}"),
            StatusCode::Error => {
                out.extend_from_slice(b",\"status\":{\"code\":2");
                if !s.status.message.is_empty() {
                    out.extend_from_slice(b",\"message\":");
                    escaped(out, &s.status.message);
                }
                out.push(b'}');
            }
        }
        if s.parent_span_id.is_some() {
            out.extend_from_slice(if s.parent_is_remote {
                b",\"sameProcessAsParentSpan\":false"
            } else {
                b",\"sameProcessAsParentSpan\":true"
            });
        }
        out.extend_from_slice(b",\"spanKind\":\"");
        out.extend_from_slice(span_kind(s.kind).as_bytes());
        out.extend_from_slice(b"\"}");
    }

    fn time_events<'a>(&self, out: &mut Vec<u8>, s: &'a SpanData, sel: &mut Selection<'a>) {
        let (dropped_annotations, dropped_messages) = dropped_events(s);
        if s.events.is_empty() && dropped_annotations == 0 && dropped_messages == 0 {
            return;
        }
        out.extend_from_slice(b",\"timeEvents\":{\"timeEvent\":[");
        for (n, e) in sent_events(s).enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"time\":");
            time(out, e.time_ns);
            match &e.kind {
                TimeEventKind::Annotation {
                    description,
                    attributes: attrs,
                } => {
                    out.extend_from_slice(b",\"annotation\":{\"description\":");
                    truncatable(out, description, limits::STRING_VALUE_BYTES);
                    optional_attributes(out, attrs, limits::ANNOTATION_ATTRIBUTES, sel);
                }
                TimeEventKind::Message {
                    kind,
                    id,
                    uncompressed_size,
                    compressed_size,
                } => {
                    out.extend_from_slice(b",\"messageEvent\":{\"type\":\"");
                    out.extend_from_slice(message_type(*kind).as_bytes());
                    out.extend_from_slice(b"\",\"id\":");
                    int_string(out, int64(*id));
                    out.extend_from_slice(b",\"uncompressedSizeBytes\":");
                    int_string(out, int64(*uncompressed_size));
                    out.extend_from_slice(b",\"compressedSizeBytes\":");
                    int_string(
                        out,
                        int64(compressed_or_not(*compressed_size, *uncompressed_size)),
                    );
                }
            }
            out.extend_from_slice(b"}}");
        }
        out.push(b']');
        if dropped_annotations > 0 {
            let _ = write!(out, ",\"droppedAnnotationsCount\":{dropped_annotations}");
        }
        if dropped_messages > 0 {
            let _ = write!(out, ",\"droppedMessageEventsCount\":{dropped_messages}");
        }
        out.push(b'}');
    }

    fn links<'a>(&self, out: &mut Vec<u8>, s: &'a SpanData, sel: &mut Selection<'a>) {
        let dropped = dropped_links(s);
        if s.links.is_empty() && dropped == 0 {
            return;
        }
        out.extend_from_slice(b",\"links\":{\"link\":[");
        for (n, l) in s.links.iter().take(limits::LINKS).enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"traceId\":");
            quoted_hex(out, &l.trace_id.0);
            out.extend_from_slice(b",\"spanId\":");
            quoted_hex(out, &l.span_id.0);
            out.extend_from_slice(b",\"type\":\"");
            out.extend_from_slice(link_type(l.kind).as_bytes());
            out.push(b'"');
            optional_attributes(out, &l.attributes, limits::ATTRIBUTES, sel);
            out.push(b'}');
        }
        out.push(b']');
        if dropped > 0 {
            let _ = write!(out, ",\"droppedLinksCount\":{dropped}");
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use proptest::prelude::*;
    use tracespool_schema::{
        DroppedCounts, Link, LinkKind, MessageKind, SpanId, SpanKind, SpanRecord, Status,
        TimeEvent, TraceId,
    };

    use super::*;
    use crate::convert::to_cloud_trace;

    fn same_bytes(rec: &SpanRecord) {
        let reference = serde_json::to_vec(&to_cloud_trace("proj-1", rec)).unwrap();
        let mut w = SpanJsonWriter::new("proj-1");
        let mut out = Vec::new();
        w.write(&mut out, &rec.span, &rec.resource);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&reference)
        );
        // Again with the resource cached.
        out.clear();
        w.write(&mut out, &rec.span, &rec.resource);
        assert_eq!(out, reference);
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z./_]{0,12}",
            "\\PC{0,8}",
            // Long enough to be cut (multi-byte characters at the cut).
            "[aé\"\\\\\n\u{1}€]{120,300}",
            Just("http.request.method".to_string()),
            Just("http.route".to_string()),
            Just("k8s.pod.name".to_string()),
            Just("service.name".to_string()),
            Just("x".repeat(129)),
        ]
    }

    fn attribute() -> impl Strategy<Value = Attribute> {
        (
            text(),
            prop_oneof![
                text().prop_map(|s| AttributeValue::String(Cow::Owned(s))),
                any::<i64>().prop_map(AttributeValue::Int),
                any::<bool>().prop_map(AttributeValue::Bool),
                any::<f64>().prop_map(AttributeValue::Float),
            ],
        )
            .prop_map(|(k, value)| Attribute {
                key: Cow::Owned(k),
                value,
            })
    }

    fn event() -> impl Strategy<Value = TimeEvent> {
        (
            any::<u64>(),
            prop_oneof![
                (text(), prop::collection::vec(attribute(), 0..7)).prop_map(|(d, a)| {
                    TimeEventKind::Annotation {
                        description: Cow::Owned(d),
                        attributes: a,
                    }
                }),
                (0u8..3, any::<u64>(), any::<u64>(), 0u64..3).prop_map(|(k, id, u, c)| {
                    TimeEventKind::Message {
                        kind: [
                            MessageKind::Unspecified,
                            MessageKind::Sent,
                            MessageKind::Received,
                        ][usize::from(k)],
                        id,
                        uncompressed_size: u,
                        compressed_size: c,
                    }
                }),
            ],
        )
            .prop_map(|(t, kind)| TimeEvent {
                time_ns: t % (4_000_000_000 * 1_000_000_000),
                kind,
            })
    }

    prop_compose! {
        fn record()(
            ids in any::<([u8; 16], [u8; 8], Option<[u8; 8]>, bool)>(),
            name in text(),
            kind in 0u8..6,
            start in 0u64..4_000_000_000 * 1_000_000_000,
            len in any::<u32>(),
            attrs in prop::collection::vec(attribute(), 0..40),
            events in prop::collection::vec(event(), 0..45),
            many_events in any::<bool>(),
            links in prop::collection::vec((any::<([u8; 16], [u8; 8], u8)>(), prop::collection::vec(attribute(), 0..3)), 0..4),
            many_links in any::<bool>(),
            status in (0u8..3, text()),
            dropped in any::<(u8, u8, u8, u8)>(),
            resource in prop::collection::vec(attribute(), 0..5),
        ) -> SpanRecord {
            let mut s = SpanData::new(TraceId(ids.0), SpanId(ids.1), name);
            s.parent_span_id = ids.2.map(SpanId);
            s.parent_is_remote = ids.3;
            s.kind = [SpanKind::Unspecified, SpanKind::Internal, SpanKind::Server,
                SpanKind::Client, SpanKind::Producer, SpanKind::Consumer][usize::from(kind)];
            s.start_ns = start;
            // Sometimes an end before the start (clamped on both paths).
            s.end_ns = if len % 7 == 0 { start.saturating_sub(5) } else { start + u64::from(len) };
            s.attributes = attrs;
            s.events = events;
            if many_events {
                let e = s.events.clone();
                for _ in 0..4 { s.events.extend(e.iter().cloned()); }
            }
            s.links = links.into_iter().map(|((t, i, k), a)| Link {
                trace_id: TraceId(t),
                span_id: SpanId(i),
                kind: [LinkKind::Unspecified, LinkKind::ChildLinkedSpan, LinkKind::ParentLinkedSpan][usize::from(k % 3)],
                attributes: a,
            }).collect();
            if many_links {
                let l = s.links.clone();
                for _ in 0..50 { s.links.extend(l.iter().cloned()); }
            }
            s.status = Status {
                code: [StatusCode::Unset, StatusCode::Ok, StatusCode::Error][usize::from(status.0)],
                message: Cow::Owned(status.1),
            };
            s.dropped = DroppedCounts {
                attributes: u32::from(dropped.0),
                annotations: u32::from(dropped.1),
                message_events: u32::from(dropped.2),
                links: u32::from(dropped.3),
            };
            let mut resource = resource;
            resource.push(Attribute::new("telemetry.sdk.version", "0.1.0"));
            SpanRecord { version: 1, span: s, resource: Resource { attributes: resource } }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn direct_json_is_byte_identical_to_the_reference(rec in record()) {
            same_bytes(&rec);
        }
    }

    #[test]
    fn a_plain_span_and_a_change_of_resource() {
        let mut s = SpanData::new(TraceId([7; 16]), SpanId([9; 8]), "GET /x");
        s.start_ns = 1_764_000_000_123_456_789;
        s.end_ns = s.start_ns + 1000;
        s.attributes = vec![
            Attribute::new("http.request.method", "GET"),
            Attribute::new("n", 5i64),
        ];
        let mut rec = SpanRecord {
            version: 1,
            span: s,
            resource: Resource {
                attributes: vec![
                    Attribute::new("service.name", "kiosk"),
                    Attribute::new("telemetry.sdk.version", "0.1.0"),
                ],
            },
        };
        same_bytes(&rec);
        let mut w = SpanJsonWriter::new("proj-1");
        let mut out = Vec::new();
        w.write(&mut out, &rec.span, &rec.resource);
        rec.resource.attributes[0] = Attribute::new("service.name", "other");
        out.clear();
        w.write(&mut out, &rec.span, &rec.resource);
        assert_eq!(
            out,
            serde_json::to_vec(&to_cloud_trace("proj-1", &rec)).unwrap()
        );
    }
}
