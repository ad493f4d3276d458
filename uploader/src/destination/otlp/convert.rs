//! A spool span → an OTLP `Span` (and its resource and scope), within the
//! Telemetry API's documented limits. Pure functions, unit-tested without a
//! network.
//!
//! Limits (Telemetry API, `../shared/reference/cloud-trace-api.md` §3;
//! a collector accepts at least as much):
//!
//! | item | limit | over it |
//! |---|---|---|
//! | span name, event name | 1024 bytes | cut at a character boundary |
//! | attribute key | 512 bytes | attribute dropped, counted in `dropped_attributes_count` |
//! | attribute value (a string, each string of an array) | 64 KiB | cut at a character boundary |
//! | attributes per span, event, link, scope | 1024 | first 1024 kept, rest counted |
//! | resource attributes | 1024 | first 1024 kept, rest counted |
//! | events per span | 256 | first 256 kept, rest counted in `dropped_events_count` |
//! | links per span | 128 | first 128 kept, rest counted in `dropped_links_count` |
//! | attributes per ResourceSpans, with its resource's, scopes', spans', events' and links' | 8192 | the request puts the spans in several ResourceSpans (see `body`) |
//! | attributes of one span with its events' and links' | 6144 (ours: 8192 less a full resource's and scope's 1024 each, so that any span fits a ResourceSpans) | the last events' attributes dropped first, then the links', then the span's, counted in each one's `dropped_attributes_count` |
//!
//! The repairs every destination applies ([`crate::repair`]): a blank
//! name becomes `(unnamed span)`, zero ids get a stable derived id, a zero
//! or self parent is sent as none, an end before the start becomes the
//! start, times more than 3 days ahead are clamped. Links to zero ids are
//! dropped and counted.
//!
//! What has no OTLP field: a message event becomes an event named
//! `message` with OpenTelemetry's RPC attributes (`message.type` `SENT` /
//! `RECEIVED`, `message.id`, `message.uncompressed_size`,
//! `message.compressed_size`); a link's Cloud Trace kind (child / parent)
//! becomes the attribute `tracespool.link.kind`.

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope as ProtoScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::{span, status, Span, Status};
use tracespool_schema::{
    Attribute, AttributeValue, InstrumentationScope, LinkKind, MessageKind, Resource, SpanData,
    SpanKind, StatusCode, TimeEventKind,
};

use crate::repair::{cut, sent_ids, sent_name, sent_times, ConvertOptions};

/// The Telemetry API's limits.
pub mod limits {
    /// Span and event names, bytes.
    pub const NAME_BYTES: usize = 1024;
    /// Attribute keys, bytes.
    pub const KEY_BYTES: usize = 512;
    /// String values, bytes.
    pub const VALUE_BYTES: usize = 64 * 1024;
    /// Attributes per span, event, link, scope or resource.
    pub const ATTRIBUTES: usize = 1024;
    /// Events per span.
    pub const EVENTS: usize = 256;
    /// Links per span.
    pub const LINKS: usize = 128;
    /// Attributes per ResourceSpans, its children's included (Resource,
    /// ScopeSpans, Span, Event, Link).
    pub const RESOURCE_SPANS_ATTRIBUTES: usize = 8192;
    /// Attributes of one span, its events' and its links' together: ours,
    /// so that a span, a resource and a scope at their limits fit one
    /// ResourceSpans.
    pub const SPAN_TOTAL_ATTRIBUTES: usize = RESOURCE_SPANS_ATTRIBUTES - 2 * ATTRIBUTES;
}

/// The attributes an OTLP span carries, its events' and links' included.
pub fn attribute_count(s: &Span) -> usize {
    s.attributes.len()
        + s.events.iter().map(|e| e.attributes.len()).sum::<usize>()
        + s.links.iter().map(|l| l.attributes.len()).sum::<usize>()
}

/// Drops attributes past [`limits::SPAN_TOTAL_ATTRIBUTES`]: the last
/// events' first, then the last links', then the span's own, each counted
/// where it was dropped.
fn cap_total_attributes(s: &mut Span) {
    let mut over = attribute_count(s).saturating_sub(limits::SPAN_TOTAL_ATTRIBUTES);
    let mut take = |attributes: &mut Vec<KeyValue>, dropped: &mut u32| {
        let n = over.min(attributes.len());
        attributes.truncate(attributes.len() - n);
        *dropped = dropped.saturating_add(n as u32);
        over -= n;
    };
    for e in s.events.iter_mut().rev() {
        take(&mut e.attributes, &mut e.dropped_attributes_count);
    }
    for l in s.links.iter_mut().rev() {
        take(&mut l.attributes, &mut l.dropped_attributes_count);
    }
    take(&mut s.attributes, &mut s.dropped_attributes_count);
}

/// The resource attribute the Telemetry API routes data by.
pub const PROJECT_ATTRIBUTE: &str = "gcp.project_id";

/// OTLP's span flag bits: the context's remote flag is known (bit 8) and
/// set (bit 9).
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

/// Attributes within the limits, and how many were dropped.
fn key_values<'a>(
    attrs: impl IntoIterator<Item = &'a Attribute>,
    already_dropped: u32,
) -> (Vec<KeyValue>, u32) {
    let mut out = Vec::new();
    let mut dropped = already_dropped;
    for a in attrs {
        if a.key.is_empty() || a.key.len() > limits::KEY_BYTES || out.len() >= limits::ATTRIBUTES {
            dropped = dropped.saturating_add(1);
            continue;
        }
        out.push(kv(&a.key, value(&a.value)));
    }
    (out, dropped)
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn text(s: &str) -> any_value::Value {
    any_value::Value::StringValue(cut(s, limits::VALUE_BYTES).to_owned())
}

/// One value; arrays stay arrays.
pub fn value(v: &AttributeValue) -> any_value::Value {
    use any_value::Value as V;
    let array = |values: Vec<V>| {
        V::ArrayValue(ArrayValue {
            values: values
                .into_iter()
                .map(|v| AnyValue { value: Some(v) })
                .collect(),
        })
    };
    match v {
        AttributeValue::String(s) => text(s),
        AttributeValue::Int(i) => V::IntValue(*i),
        AttributeValue::Bool(b) => V::BoolValue(*b),
        AttributeValue::Float(f) => V::DoubleValue(*f),
        AttributeValue::StringArray(a) => array(a.iter().map(|s| text(s)).collect()),
        AttributeValue::IntArray(a) => array(a.iter().map(|i| V::IntValue(*i)).collect()),
        AttributeValue::BoolArray(a) => array(a.iter().map(|b| V::BoolValue(*b)).collect()),
        AttributeValue::FloatArray(a) => array(a.iter().map(|f| V::DoubleValue(*f)).collect()),
        // A kind of value newer than this uploader: its text.
        other => text(&crate::value_text::value_text(other)),
    }
}

fn kind(k: SpanKind) -> i32 {
    match k {
        SpanKind::Unspecified => 0,
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn remote_flags(is_remote: bool) -> u32 {
    HAS_IS_REMOTE | if is_remote { IS_REMOTE } else { 0 }
}

/// The OTLP span for a spool span.
pub fn span(s: &SpanData, opts: &ConvertOptions) -> Span {
    let ids = sent_ids(s);
    let (start, end) = sent_times(s, opts);
    let (attributes, dropped_attributes_count) = key_values(&s.attributes, s.dropped.attributes);
    let mut events = Vec::new();
    let mut dropped_events = s
        .dropped
        .annotations
        .saturating_add(s.dropped.message_events);
    for e in &s.events {
        if events.len() >= limits::EVENTS {
            dropped_events = dropped_events.saturating_add(1);
            continue;
        }
        events.push(match &e.kind {
            TimeEventKind::Annotation {
                description,
                attributes,
                dropped_attributes,
            } => {
                let (attributes, dropped) = key_values(attributes, *dropped_attributes);
                span::Event {
                    time_unix_nano: e.time_ns,
                    name: cut(description, limits::NAME_BYTES).to_owned(),
                    attributes,
                    dropped_attributes_count: dropped,
                }
            }
            TimeEventKind::Message {
                kind,
                id,
                uncompressed_size,
                compressed_size,
            } => {
                use any_value::Value as V;
                let mut attributes = vec![
                    kv("message.id", V::IntValue(*id as i64)),
                    kv(
                        "message.uncompressed_size",
                        V::IntValue(*uncompressed_size as i64),
                    ),
                ];
                if *compressed_size > 0 {
                    attributes.push(kv(
                        "message.compressed_size",
                        V::IntValue(*compressed_size as i64),
                    ));
                }
                match kind {
                    MessageKind::Sent => attributes.insert(0, kv("message.type", text("SENT"))),
                    MessageKind::Received => {
                        attributes.insert(0, kv("message.type", text("RECEIVED")))
                    }
                    _ => {}
                }
                span::Event {
                    time_unix_nano: e.time_ns,
                    name: "message".into(),
                    attributes,
                    dropped_attributes_count: 0,
                }
            }
        });
    }
    let mut links = Vec::new();
    let mut dropped_links = s.dropped.links;
    for l in &s.links {
        if l.trace_id.is_zero() || l.span_id.is_zero() || links.len() >= limits::LINKS {
            dropped_links = dropped_links.saturating_add(1);
            continue;
        }
        let (mut attributes, dropped) = key_values(&l.attributes, l.dropped_attributes);
        let link_kind = match l.kind {
            LinkKind::ChildLinkedSpan => Some("CHILD_LINKED_SPAN"),
            LinkKind::ParentLinkedSpan => Some("PARENT_LINKED_SPAN"),
            LinkKind::Unspecified => None,
        };
        if let Some(k) = link_kind {
            if attributes.len() < limits::ATTRIBUTES {
                attributes.push(kv("tracespool.link.kind", text(k)));
            }
        }
        links.push(span::Link {
            trace_id: l.trace_id.0.to_vec(),
            span_id: l.span_id.0.to_vec(),
            trace_state: l.trace_state.to_string(),
            attributes,
            dropped_attributes_count: dropped,
            flags: u32::from(l.trace_flags) | remote_flags(l.is_remote),
        });
    }
    let status = match s.status.code {
        StatusCode::Unset => None,
        StatusCode::Ok => Some(Status {
            message: String::new(),
            code: status::StatusCode::Ok as i32,
        }),
        StatusCode::Error => Some(Status {
            message: cut(&s.status.message, limits::VALUE_BYTES).to_owned(),
            code: status::StatusCode::Error as i32,
        }),
    };
    let mut out = Span {
        trace_id: ids.trace.0.to_vec(),
        span_id: ids.span.0.to_vec(),
        trace_state: s.trace_state.to_string(),
        parent_span_id: ids.parent.map(|p| p.0.to_vec()).unwrap_or_default(),
        flags: u32::from(s.trace_flags)
            | if ids.parent.is_some() {
                remote_flags(s.parent_is_remote)
            } else {
                0
            },
        name: cut(sent_name(s), limits::NAME_BYTES).to_owned(),
        kind: kind(s.kind),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        dropped_attributes_count,
        events,
        dropped_events_count: dropped_events,
        links,
        dropped_links_count: dropped_links,
        status,
    };
    cap_total_attributes(&mut out);
    out
}

/// The OTLP resource for a spool resource, with `gcp.project_id` added
/// when `project` is given and the resource has none.
pub fn resource(r: &Resource, project: Option<&str>) -> ProtoResource {
    let (mut attributes, mut dropped) = key_values(&r.attributes, 0);
    if let Some(p) = project {
        if !r.attributes.iter().any(|a| a.key == PROJECT_ATTRIBUTE) {
            if attributes.len() >= limits::ATTRIBUTES {
                attributes.pop();
                dropped += 1;
            }
            attributes.push(kv(PROJECT_ATTRIBUTE, text(p)));
        }
    }
    ProtoResource {
        attributes,
        dropped_attributes_count: dropped,
        ..Default::default()
    }
}

/// The OTLP instrumentation scope for a span's scope.
pub fn scope(s: &InstrumentationScope) -> ProtoScope {
    let (attributes, dropped) = key_values(&s.attributes, 0);
    ProtoScope {
        name: s.name.to_string(),
        version: s.version.to_string(),
        attributes,
        dropped_attributes_count: dropped,
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
