//! Span → Cloud Trace v2 JSON: a pure function, so every rule is unit-tested
//! without a network.
//!
//! Cloud Trace rejects a whole request for one invalid span and does not say
//! what happens over its limits, so every documented limit is enforced
//! here: display name 128 bytes, attribute keys 128 bytes (longer keys are
//! dropped and counted), string values 256 bytes (cut on a UTF-8 boundary
//! with `truncatedByteCount`), at most 32 attributes per span, 4 per
//! annotation, 32 per link, 32 annotations, 128 message events, 128 links,
//! each with its dropped count. int64 values are JSON strings.

use tracespool_schema::{
    Attribute, AttributeValue, LinkKind, MessageKind, Resource, SpanData, SpanKind, SpanRecord,
    StatusCode, TimeEvent, TimeEventKind,
};

pub use crate::cloudtrace_model::*;
use crate::timefmt::rfc3339_nanos;

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> TruncatableString {
    let kept = cut(s, max);
    TruncatableString {
        value: kept.to_owned(),
        truncated_byte_count: (s.len() - kept.len()) as u32,
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// OpenTelemetry attribute names → Cloud Trace's well-known labels.
pub fn well_known_label(key: &str) -> Option<&'static str> {
    Some(match key {
        "http.method" | "http.request.method" => "/http/method",
        "http.status_code" | "http.response.status_code" => "/http/status_code",
        "http.url" | "url.full" => "/http/url",
        "http.route" => "/http/route",
        "http.host" | "http.request.header.host" | "server.address" => "/http/host",
        "http.user_agent" | "user_agent.original" => "/http/user_agent",
        "http.target" | "http.path" | "url.path" => "/http/path",
        "http.request_content_length" | "http.request.body.size" => "/http/request/size",
        "http.response_content_length" | "http.response.body.size" => "/http/response/size",
        "http.flavor" | "network.protocol.version" => "/http/client_protocol",
        "exception.message" => "/error/message",
        "exception.type" => "/error/name",
        "exception.stacktrace" => "/stacktrace",
        "component" => "/component",
        "k8s.cluster.name" => "g.co/r/k8s_container/cluster_name",
        "k8s.namespace.name" => "g.co/r/k8s_container/namespace",
        "k8s.pod.name" => "g.co/r/k8s_container/pod_name",
        "k8s.container.name" => "g.co/r/k8s_container/container_name",
        _ => return None,
    })
}

/// The value of one attribute that is sent.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'a> {
    /// A recorded value.
    Attr(&'a AttributeValue),
    /// A string the uploader adds (`g.co/agent`).
    Str(&'a str),
}

/// The attributes that are sent, in order, with unique keys, and how many
/// were dropped: the one place the attribute rules live, shared by
/// [`to_cloud_trace`] and the direct JSON writer ([`crate::json`]).
#[derive(Debug, Default)]
pub(crate) struct Selection<'a> {
    /// (key as sent, value).
    pub items: Vec<(&'a str, Val<'a>)>,
    /// Attributes not sent (including those dropped at record time).
    pub dropped: u32,
}

/// Selects attributes from sources in priority order, with `cap` keys.
/// Later values of the same key within a source replace earlier ones (the
/// recorder may store duplicates); a key already set by an earlier source
/// is kept. Keys over 128 bytes and keys over the cap are dropped and
/// counted.
pub(crate) fn select_attributes<'a>(
    sources: &[&'a [Attribute]],
    fixed: &[(&'a str, Val<'a>)],
    cap: usize,
    already_dropped: u32,
    out: &mut Selection<'a>,
) {
    out.items.clear();
    out.dropped = already_dropped;
    out.items.extend_from_slice(fixed);
    for source in sources {
        // Keys this source added start here; a repeated key within the
        // source replaces its value (a linear scan: at most 32 keys).
        let first_of_source = out.items.len();
        for a in *source {
            let key: &'a str = well_known_label(&a.key).unwrap_or(&a.key);
            if key.len() > limits::KEY_BYTES {
                out.dropped += 1;
                continue;
            }
            if let Some(slot) = out.items[first_of_source..]
                .iter_mut()
                .find(|(k, _)| *k == key)
            {
                slot.1 = Val::Attr(&a.value);
                continue;
            }
            if out.items[..first_of_source].iter().any(|(k, _)| *k == key) {
                continue;
            }
            if out.items.len() >= cap {
                out.dropped += 1;
                continue;
            }
            out.items.push((key, Val::Attr(&a.value)));
        }
    }
}

/// The resource attributes sent as labels, split into those that go before
/// the span's own attributes (`service.name`) and the rest. The SDK's own
/// name and version are left out: they travel in `g.co/agent`.
pub(crate) fn split_resource(resource: &Resource) -> (Vec<Attribute>, Vec<Attribute>) {
    resource
        .attributes
        .iter()
        .filter(|a| !a.key.starts_with("telemetry.sdk."))
        .cloned()
        .partition(|a| a.key == "service.name")
}

fn val(v: Val<'_>) -> CtValue {
    match v {
        Val::Attr(a) => value(a),
        Val::Str(s) => CtValue::StringValue(truncate(s, limits::STRING_VALUE_BYTES)),
    }
}

fn value(v: &AttributeValue) -> CtValue {
    match v {
        AttributeValue::String(s) => CtValue::StringValue(truncate(s, limits::STRING_VALUE_BYTES)),
        AttributeValue::Int(i) => CtValue::IntValue(i.to_string()),
        AttributeValue::Bool(b) => CtValue::BoolValue(*b),
        // Cloud Trace has no float; send the shortest decimal text.
        AttributeValue::Float(f) => {
            CtValue::StringValue(truncate(&f.to_string(), limits::STRING_VALUE_BYTES))
        }
        // A kind of value newer than this uploader: its debug text.
        other => CtValue::StringValue(truncate(&format!("{other:?}"), limits::STRING_VALUE_BYTES)),
    }
}

/// Builds `Attributes` (see [`select_attributes`]).
fn build_attributes<'a>(
    sources: &[&'a [Attribute]],
    fixed: &[(&'a str, Val<'a>)],
    cap: usize,
    already_dropped: u32,
) -> CtAttributes {
    let mut sel = Selection::default();
    select_attributes(sources, fixed, cap, already_dropped, &mut sel);
    CtAttributes {
        attribute_map: indexmap_like::OrderedMap(
            sel.items
                .into_iter()
                .map(|(k, v)| (k.to_owned(), val(v)))
                .collect(),
        ),
        dropped_attributes_count: sel.dropped,
    }
}

fn non_empty(a: CtAttributes) -> Option<CtAttributes> {
    (!a.attribute_map.is_empty() || a.dropped_attributes_count > 0).then_some(a)
}

/// The `g.co/agent` value.
pub fn agent(resource: &Resource) -> String {
    let recorder = resource
        .attributes
        .iter()
        .find(|a| a.key == "telemetry.sdk.version")
        .and_then(|a| match &a.value {
            AttributeValue::String(s) => Some(s.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "unknown".into());
    format!(
        "tracespool-uploader {}; tracespool {recorder}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The time events that are sent, in order: the first 32 annotations and
/// the first 128 message events.
pub(crate) fn sent_events(s: &SpanData) -> impl Iterator<Item = &TimeEvent> {
    let (mut annotations, mut messages) = (0usize, 0usize);
    s.events.iter().filter(move |e| match e.kind {
        TimeEventKind::Annotation { .. } => {
            annotations += 1;
            annotations <= limits::ANNOTATIONS
        }
        TimeEventKind::Message { .. } => {
            messages += 1;
            messages <= limits::MESSAGE_EVENTS
        }
    })
}

/// (annotations, message events) not sent: dropped at record time or over
/// the limits.
pub(crate) fn dropped_events(s: &SpanData) -> (u32, u32) {
    let annotations = s
        .events
        .iter()
        .filter(|e| matches!(e.kind, TimeEventKind::Annotation { .. }))
        .count();
    let messages = s.events.len() - annotations;
    let over = |n: usize, cap: usize| n.saturating_sub(cap) as u32;
    (
        s.dropped.annotations + over(annotations, limits::ANNOTATIONS),
        s.dropped.message_events + over(messages, limits::MESSAGE_EVENTS),
    )
}

/// Links not sent: dropped at record time or over the limit.
pub(crate) fn dropped_links(s: &SpanData) -> u32 {
    s.dropped.links + s.links.len().saturating_sub(limits::LINKS) as u32
}

/// An int64 field from a `u64` (values above `i64::MAX` cannot be sent).
pub(crate) fn int64(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

/// `compressedSizeBytes`: the uncompressed size when none was recorded.
pub(crate) fn compressed_or_not(compressed: u64, uncompressed: u64) -> u64 {
    if compressed == 0 {
        uncompressed
    } else {
        compressed
    }
}

/// The JSON name of a message event type.
pub(crate) fn message_type(k: MessageKind) -> &'static str {
    match k {
        MessageKind::Unspecified => "TYPE_UNSPECIFIED",
        MessageKind::Sent => "SENT",
        MessageKind::Received => "RECEIVED",
    }
}

/// The JSON name of a link type.
pub(crate) fn link_type(k: LinkKind) -> &'static str {
    match k {
        LinkKind::Unspecified => "TYPE_UNSPECIFIED",
        LinkKind::ChildLinkedSpan => "CHILD_LINKED_SPAN",
        LinkKind::ParentLinkedSpan => "PARENT_LINKED_SPAN",
    }
}

/// The JSON name of a span kind.
pub(crate) fn span_kind(k: SpanKind) -> &'static str {
    match k {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "INTERNAL",
        SpanKind::Server => "SERVER",
        SpanKind::Client => "CLIENT",
        SpanKind::Producer => "PRODUCER",
        SpanKind::Consumer => "CONSUMER",
    }
}

/// Converts one recorded span for project `project`.
pub fn to_cloud_trace(project: &str, rec: &SpanRecord) -> CtSpan {
    let s = &rec.span;
    let span_id = s.span_id.to_string();
    // Resource attributes that matter most go first, then the span's own,
    // then the rest of the resource. The SDK's own name and version travel
    // in `g.co/agent` instead of three labels on every span.
    let (res_first, res_rest) = split_resource(&rec.resource);
    let agent = agent(&rec.resource);
    let attributes = build_attributes(
        &[&res_first[..], &s.attributes[..], &res_rest[..]],
        &[("g.co/agent", Val::Str(&agent))],
        limits::ATTRIBUTES,
        s.dropped.attributes,
    );

    let (dropped_annotations, dropped_messages) = dropped_events(s);
    let time_event: Vec<CtTimeEvent> = sent_events(s)
        .map(|e| match &e.kind {
            TimeEventKind::Annotation {
                description,
                attributes: attrs,
            } => CtTimeEvent {
                time: rfc3339_nanos(e.time_ns),
                annotation: Some(CtAnnotation {
                    description: truncate(description, limits::STRING_VALUE_BYTES),
                    attributes: non_empty(build_attributes(
                        &[&attrs[..]],
                        &[],
                        limits::ANNOTATION_ATTRIBUTES,
                        0,
                    )),
                }),
                message_event: None,
            },
            TimeEventKind::Message {
                kind,
                id,
                uncompressed_size,
                compressed_size,
            } => CtTimeEvent {
                time: rfc3339_nanos(e.time_ns),
                annotation: None,
                message_event: Some(CtMessageEvent {
                    kind: message_type(*kind),
                    id: int64(*id).to_string(),
                    uncompressed_size_bytes: int64(*uncompressed_size).to_string(),
                    compressed_size_bytes: int64(compressed_or_not(
                        *compressed_size,
                        *uncompressed_size,
                    ))
                    .to_string(),
                }),
            },
        })
        .collect();
    let time_events = (!time_event.is_empty() || dropped_annotations > 0 || dropped_messages > 0)
        .then_some(CtTimeEvents {
            time_event,
            dropped_annotations_count: dropped_annotations,
            dropped_message_events_count: dropped_messages,
        });

    let dropped_links = dropped_links(s);
    let link: Vec<CtLink> = s
        .links
        .iter()
        .take(limits::LINKS)
        .map(|l| CtLink {
            trace_id: l.trace_id.to_string(),
            span_id: l.span_id.to_string(),
            kind: link_type(l.kind),
            attributes: non_empty(build_attributes(
                &[&l.attributes[..]],
                &[],
                limits::ATTRIBUTES,
                0,
            )),
        })
        .collect();
    let links = (!link.is_empty() || dropped_links > 0).then_some(CtLinks {
        link,
        dropped_links_count: dropped_links,
    });

    CtSpan {
        name: format!("projects/{project}/traces/{}/spans/{span_id}", s.trace_id),
        span_id,
        parent_span_id: s.parent_span_id.map(|p| p.to_string()),
        display_name: truncate(&s.name, limits::DISPLAY_NAME_BYTES),
        start_time: rfc3339_nanos(s.start_ns),
        end_time: rfc3339_nanos(s.end_ns.max(s.start_ns)),
        attributes,
        time_events,
        links,
        status: match s.status.code {
            StatusCode::Unset => None,
            StatusCode::Ok => Some(CtStatus {
                code: 0,
                message: String::new(),
            }),
            StatusCode::Error => Some(CtStatus {
                code: 2,
                message: s.status.message.to_string(),
            }),
        },
        same_process_as_parent_span: s.parent_span_id.map(|_| !s.parent_is_remote),
        span_kind: span_kind(s.kind),
    }
}

/// Whether a span is too old for Cloud Trace (its start is more than 14
/// days, less a 10-minute safety margin for the trip, before `now_ns`).
pub fn is_expired(span: &SpanData, now_ns: u64) -> bool {
    const MARGIN_NS: u64 = 10 * 60 * 1_000_000_000;
    span.start_ns < now_ns.saturating_sub(limits::MAX_AGE_NS - MARGIN_NS)
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
