//! The upload path's Cloud Trace JSON: spans written straight into the
//! request body, with no intermediate values.
//!
//! The readable reference of the mapping (`reference.rs`, `to_cloud_trace`,
//! compiled for tests) and this writer produce **the same bytes**, which
//! the test `direct_json_is_byte_identical_to_the_reference` checks for
//! hand-made and arbitrary spans. Both take their attribute rules from
//! [`super::convert::select_attributes`]. Strings are escaped by
//! serde_json's own escaper.

use std::io::Write as _;

use tracespool_schema::{Attribute, AttributeValue, Resource, SpanData, StatusCode, TimeEventKind};

use super::convert::{
    compressed_or_not, dropped_events, dropped_links, int64, link_type, message_type,
    select_attributes, sent_events, sent_links, span_kind, ResourceParts, Selection, Val,
};
use super::limits;
use crate::repair::{cut, sent_ids, sent_name, sent_times, ConvertOptions};
use crate::timefmt::write_rfc3339_nanos;
use crate::value_text::float_text;

/// Writes spans of one project as Cloud Trace v2 JSON. Keeps what can be
/// reused from span to span: the converted resource and scratch space.
pub struct SpanJsonWriter {
    /// `"projects/P/traces/`.
    name_prefix: String,
    opts: ConvertOptions,
    /// The last resource seen and what it contributes to each span.
    resource: Option<(Resource, ResourceParts)>,
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
        Val::Attr(AttributeValue::Float(f)) => string_value(out, &float_text(*f)),
        // Arrays as JSON text, as `convert::value`.
        Val::Attr(other) => string_value(out, &crate::value_text::value_text(other)),
    }
    out.push(b'}');
}

fn attributes(out: &mut Vec<u8>, sel: &Selection<'_>) {
    out.extend_from_slice(b"{\"attributeMap\":{");
    for (i, x) in sel.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        escaped(out, x.key);
        out.push(b':');
        value(out, x.value);
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
    already_dropped: u32,
    sel: &mut Selection<'a>,
) {
    select_attributes(&[attrs], &[], cap, already_dropped, sel);
    if !sel.items.is_empty() || sel.dropped > 0 {
        out.extend_from_slice(b",\"attributes\":");
        attributes(out, sel);
    }
}

impl SpanJsonWriter {
    /// A writer for spans of `project`.
    pub fn new(project: &str, opts: ConvertOptions) -> Self {
        SpanJsonWriter {
            name_prefix: format!("\"projects/{project}/traces/"),
            opts,
            resource: None,
        }
    }

    /// Sets the uploader's clock (for the 3-day limit).
    pub fn set_now_ns(&mut self, now_ns: u64) {
        self.opts.now_ns = now_ns;
    }

    /// Appends one span (with the resource of its record) as a Cloud Trace
    /// v2 `Span` object to `out`.
    pub fn write_span(&mut self, out: &mut Vec<u8>, s: &SpanData, resource: &Resource) {
        if self.resource.as_ref().is_none_or(|(r, _)| r != resource) {
            self.resource = Some((resource.clone(), ResourceParts::new(resource, &self.opts)));
        }
        let (_, res) = self.resource.as_ref().expect("set above");
        let ids = sent_ids(s);
        out.extend_from_slice(b"{\"name\":");
        out.extend_from_slice(self.name_prefix.as_bytes());
        hex(out, &ids.trace.0);
        out.extend_from_slice(b"/spans/");
        hex(out, &ids.span.0);
        out.extend_from_slice(b"\",\"spanId\":");
        quoted_hex(out, &ids.span.0);
        if let Some(p) = ids.parent {
            out.extend_from_slice(b",\"parentSpanId\":");
            quoted_hex(out, &p.0);
        }
        out.extend_from_slice(b",\"displayName\":");
        truncatable(out, sent_name(s), limits::DISPLAY_NAME_BYTES);
        let (start, end) = sent_times(s, &self.opts);
        out.extend_from_slice(b",\"startTime\":");
        time(out, start);
        out.extend_from_slice(b",\"endTime\":");
        time(out, end);

        let mut sel = Selection::default();
        res.select(s, &mut sel);
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
        if ids.parent.is_some() {
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
                    dropped_attributes,
                } => {
                    out.extend_from_slice(b",\"annotation\":{\"description\":");
                    truncatable(out, description, limits::STRING_VALUE_BYTES);
                    optional_attributes(
                        out,
                        attrs,
                        limits::ANNOTATION_ATTRIBUTES,
                        *dropped_attributes,
                        sel,
                    );
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
        for (n, l) in sent_links(s).enumerate() {
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
            optional_attributes(
                out,
                &l.attributes,
                limits::ATTRIBUTES,
                l.dropped_attributes,
                sel,
            );
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

    use super::super::reference::to_cloud_trace;
    use super::*;
    use crate::repair::is_expired;

    /// 2025-11-24T16:00:00Z.
    const NOW_NS: u64 = 1_764_000_000 * 1_000_000_000;

    fn opts() -> ConvertOptions {
        ConvertOptions {
            resource_labels: Some(regex::Regex::new(r"^(deployment|service)\.").unwrap()),
            now_ns: NOW_NS,
        }
    }

    fn same_bytes(rec: &SpanRecord) {
        let reference = serde_json::to_vec(&to_cloud_trace("proj-1", rec, &opts())).unwrap();
        let mut w = SpanJsonWriter::new("proj-1", opts());
        let mut out = Vec::new();
        w.write_span(&mut out, &rec.span, &rec.resource);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&reference)
        );
        // Again with the resource cached.
        out.clear();
        w.write_span(&mut out, &rec.span, &rec.resource);
        assert_eq!(out, reference);
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z./_]{0,12}",
            Just(String::new()),
            Just(" \t ".to_string()),
            "[\u{0}-\u{1f}\u{7f}]{0,6}",
            Just("http.method".to_string()),
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
                prop::collection::vec(text(), 0..3).prop_map(AttributeValue::from),
                prop::collection::vec(any::<i64>(), 0..3).prop_map(AttributeValue::from),
                prop::collection::vec(any::<bool>(), 0..3).prop_map(AttributeValue::from),
                prop::collection::vec(any::<f64>(), 0..3).prop_map(AttributeValue::from),
                any::<i64>().prop_map(AttributeValue::Int),
                any::<bool>().prop_map(AttributeValue::Bool),
                any::<f64>().prop_map(AttributeValue::Float),
                prop_oneof![
                    Just(f64::MAX),
                    Just(f64::MIN_POSITIVE),
                    Just(1e-300),
                    Just(1.0),
                    Just(f64::NAN),
                    Just(f64::NEG_INFINITY)
                ]
                .prop_map(AttributeValue::Float),
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
                (text(), prop::collection::vec(attribute(), 0..7), 0u32..3).prop_map(
                    |(d, a, n)| {
                        TimeEventKind::Annotation {
                            description: Cow::Owned(d),
                            attributes: a,
                            dropped_attributes: n,
                        }
                    }
                ),
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
            zero_ids in 0u8..8,
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
            scope in (text(), text()),
        ) -> SpanRecord {
            // Now and then all-zero ids (repaired on both paths).
            let trace = if zero_ids == 1 { [0; 16] } else { ids.0 };
            let span = if zero_ids == 2 { [0; 8] } else { ids.1 };
            let parent = match zero_ids { 3 => Some([0; 8]), 4 => Some(span), _ => ids.2 };
            let mut s = SpanData::new(TraceId(trace), SpanId(span), name);
            s.parent_span_id = parent.map(SpanId);
            s.parent_is_remote = ids.3;
            s.scope.name = Cow::Owned(scope.0);
            s.scope.version = Cow::Owned(scope.1);
            s.kind = [SpanKind::Unspecified, SpanKind::Internal, SpanKind::Server,
                SpanKind::Client, SpanKind::Producer, SpanKind::Consumer][usize::from(kind)];
            s.start_ns = start;
            // Sometimes an end before the start, or far in the future
            // (clamped on both paths).
            s.end_ns = match len % 11 {
                0 => start.saturating_sub(5),
                1 => u64::MAX,
                _ => start + u64::from(len),
            };
            s.attributes = attrs;
            s.events = events;
            if many_events {
                let e = s.events.clone();
                for _ in 0..4 { s.events.extend(e.iter().cloned()); }
            }
            s.links = links.into_iter().map(|((t, i, k), a)| {
                let mut l = Link::new(
                    TraceId(if k > 200 { [0; 16] } else { t }),
                    SpanId(i),
                    [LinkKind::Unspecified, LinkKind::ChildLinkedSpan, LinkKind::ParentLinkedSpan][usize::from(k % 3)],
                );
                l.attributes = a;
                l.dropped_attributes = u32::from(k % 2);
                l
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
            SpanRecord { version: 1, span: s, resource: Resource::new(resource) }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn direct_json_is_byte_identical_to_the_reference(rec in record()) {
            same_bytes(&rec);
        }

        /// No value makes a span undeliverable: every span that is not
        /// past the 14-day window (those are counted, not sent) passes the
        /// project's strict Cloud Trace stand-in.
        #[test]
        fn the_strict_stand_in_accepts_every_arbitrary_span(
            rec in record(),
            recent in any::<bool>(),
        ) {
            let mut rec = rec;
            if recent {
                // Inside the window, so most cases are really sent.
                rec.span.start_ns = NOW_NS - rec.span.start_ns % (10 * 86_400 * 1_000_000_000);
            }
            prop_assume!(!is_expired(&rec.span, NOW_NS));
            let mut body = b"{\"spans\":[".to_vec();
            SpanJsonWriter::new("proj-1", opts()).write_span(&mut body, &rec.span, &rec.resource);
            body.extend_from_slice(b"]}");
            let verdict = tracespool_tests::validate::validate_body(
                &body,
                "proj-1",
                NOW_NS / 1_000_000_000,
                &Default::default(),
                |_| {},
            );
            prop_assert!(verdict.is_ok(), "{:?}\n{}", verdict, String::from_utf8_lossy(&body));
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
            resource: Resource::new(vec![
                Attribute::new("service.name", "kiosk"),
                Attribute::new("telemetry.sdk.version", "0.1.0"),
            ]),
        };
        same_bytes(&rec);
        let mut w = SpanJsonWriter::new("proj-1", opts());
        let mut out = Vec::new();
        w.write_span(&mut out, &rec.span, &rec.resource);
        rec.resource.attributes[0] = Attribute::new("service.name", "other");
        out.clear();
        w.write_span(&mut out, &rec.span, &rec.resource);
        assert_eq!(
            out,
            serde_json::to_vec(&to_cloud_trace("proj-1", &rec, &opts())).unwrap()
        );
    }
}
