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

use serde::Serialize;
use tracespool_schema::{
    Attribute, AttributeValue, LinkKind, MessageKind, Resource, SpanData, SpanKind, SpanRecord,
    StatusCode, TimeEvent, TimeEventKind,
};

use crate::timefmt::rfc3339_nanos;

/// Cloud Trace v2 limits.
pub mod limits {
    /// Bytes of a display name.
    pub const DISPLAY_NAME_BYTES: usize = 128;
    /// Bytes of an attribute key.
    pub const KEY_BYTES: usize = 128;
    /// Bytes of a string attribute value or annotation description.
    pub const STRING_VALUE_BYTES: usize = 256;
    /// Attributes per span (and per link).
    pub const ATTRIBUTES: usize = 32;
    /// Attributes per annotation.
    pub const ANNOTATION_ATTRIBUTES: usize = 4;
    /// Annotations per span.
    pub const ANNOTATIONS: usize = 32;
    /// Message events per span.
    pub const MESSAGE_EVENTS: usize = 128;
    /// Links per span.
    pub const LINKS: usize = 128;
    /// The oldest span Cloud Trace accepts.
    pub const MAX_AGE_NS: u64 = 14 * 24 * 3600 * 1_000_000_000;
}

/// A `TruncatableString`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TruncatableString {
    /// The kept prefix.
    pub value: String,
    /// Bytes cut off.
    #[serde(skip_serializing_if = "is_zero")]
    pub truncated_byte_count: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// An `AttributeValue` (one of three). The names are Cloud Trace's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(clippy::enum_variant_names)]
pub enum CtValue {
    /// A string.
    StringValue(TruncatableString),
    /// An int64, written as a decimal string.
    IntValue(String),
    /// A boolean.
    BoolValue(bool),
}

/// `Attributes`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CtAttributes {
    /// Key → value.
    pub attribute_map: indexmap_like::OrderedMap,
    /// Attributes not sent.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_attributes_count: u32,
}

/// A small insertion-ordered map (deterministic JSON, cheap for ≤ 32 keys).
pub mod indexmap_like {
    use serde::ser::{Serialize, SerializeMap, Serializer};

    use super::CtValue;

    /// Ordered (key, value) pairs with unique keys.
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct OrderedMap(pub Vec<(String, CtValue)>);

    impl OrderedMap {
        /// Number of keys.
        #[cfg(test)]
        pub fn len(&self) -> usize {
            self.0.len()
        }
        /// Whether empty.
        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        /// The value of `key`.
        #[cfg(test)]
        pub fn get(&self, key: &str) -> Option<&CtValue> {
            self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
        }
    }

    impl Serialize for OrderedMap {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in &self.0 {
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }
}

/// An annotation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CtAnnotation {
    /// What happened.
    pub description: TruncatableString,
    /// Details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<CtAttributes>,
}

/// A message event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CtMessageEvent {
    /// `SENT`, `RECEIVED` or `TYPE_UNSPECIFIED`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// int64 as a string.
    pub id: String,
    /// int64 as a string.
    pub uncompressed_size_bytes: String,
    /// int64 as a string.
    pub compressed_size_bytes: String,
}

/// A `TimeEvent`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CtTimeEvent {
    /// RFC 3339.
    pub time: String,
    /// Set for an annotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotation: Option<CtAnnotation>,
    /// Set for a message event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_event: Option<CtMessageEvent>,
}

/// `TimeEvents`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CtTimeEvents {
    /// The events.
    pub time_event: Vec<CtTimeEvent>,
    /// Annotations not sent.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_annotations_count: u32,
    /// Message events not sent.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_message_events_count: u32,
}

/// A `Link`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CtLink {
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// `TYPE_UNSPECIFIED`, `CHILD_LINKED_SPAN` or `PARENT_LINKED_SPAN`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<CtAttributes>,
}

/// `Links`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CtLinks {
    /// The links.
    pub link: Vec<CtLink>,
    /// Links not sent.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_links_count: u32,
}

/// A `google.rpc.Status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CtStatus {
    /// 0 OK, 2 UNKNOWN.
    pub code: i32,
    /// Why.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// A Cloud Trace v2 `Span`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CtSpan {
    /// `projects/P/traces/T/spans/S`.
    pub name: String,
    /// 16 hex digits.
    pub span_id: String,
    /// 16 hex digits, absent for a root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    /// At most 128 bytes.
    pub display_name: TruncatableString,
    /// RFC 3339.
    pub start_time: String,
    /// RFC 3339.
    pub end_time: String,
    /// Attributes.
    pub attributes: CtAttributes,
    /// Annotations and message events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_events: Option<CtTimeEvents>,
    /// Links.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<CtLinks>,
    /// Status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<CtStatus>,
    /// Whether the parent is in this process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_process_as_parent_span: Option<bool>,
    /// The kind.
    pub span_kind: &'static str,
}

/// The `traces:batchWrite` body.
#[derive(Debug, Serialize)]
pub struct BatchWrite<'a> {
    /// The spans.
    pub spans: &'a [CtSpan],
}

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
mod tests {
    use super::*;
    use std::borrow::Cow;
    use tracespool_schema::{
        DroppedCounts, Link, Resource, SpanData, SpanId, Status, TimeEvent, TraceId,
    };

    fn rec(span: SpanData) -> SpanRecord {
        SpanRecord {
            version: 1,
            span,
            resource: Resource {
                attributes: vec![
                    Attribute::new("telemetry.sdk.version", "0.1.0"),
                    Attribute::new("service.name", "kiosk"),
                    Attribute::new("host.name", "edge-1"),
                ],
            },
        }
    }

    fn base() -> SpanData {
        let mut s = SpanData::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            "GET /items",
        );
        s.start_ns = 1_764_000_000_123_456_789;
        s.end_ns = 1_764_000_001_000_000_000;
        s
    }

    #[test]
    fn every_field_maps() {
        let mut s = base();
        s.parent_span_id = Some(SpanId::from_hex("53995c3f42cd8ad8").unwrap());
        s.parent_is_remote = true;
        s.kind = SpanKind::Server;
        s.attributes = vec![
            Attribute::new("http.request.method", "GET"),
            Attribute::new("http.response.status_code", 200i64),
            Attribute::new("cache.hit", true),
            Attribute::new("ratio", 0.25),
        ];
        s.events = vec![
            TimeEvent {
                time_ns: 1_764_000_000_500_000_000,
                kind: TimeEventKind::Annotation {
                    description: Cow::Borrowed("cache miss"),
                    attributes: vec![Attribute::new("k", "v")],
                },
            },
            TimeEvent {
                time_ns: 1_764_000_000_600_000_000,
                kind: TimeEventKind::Message {
                    kind: MessageKind::Received,
                    id: 7,
                    uncompressed_size: 100,
                    compressed_size: 0,
                },
            },
        ];
        s.links = vec![Link {
            trace_id: TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            span_id: SpanId::from_hex("b7ad6b7169203331").unwrap(),
            kind: LinkKind::ChildLinkedSpan,
            attributes: vec![],
        }];
        s.status = Status {
            code: StatusCode::Error,
            message: Cow::Borrowed("boom"),
        };
        let j = serde_json::to_value(to_cloud_trace("my-proj", &rec(s))).unwrap();
        assert_eq!(
            j["name"],
            "projects/my-proj/traces/4bf92f3577b34da6a3ce929d0e0e4736/spans/00f067aa0ba902b7"
        );
        assert_eq!(j["spanId"], "00f067aa0ba902b7");
        assert_eq!(j["parentSpanId"], "53995c3f42cd8ad8");
        assert_eq!(j["displayName"]["value"], "GET /items");
        assert!(j["displayName"].get("truncatedByteCount").is_none());
        assert_eq!(j["startTime"], "2025-11-24T16:00:00.123456789Z");
        assert_eq!(j["endTime"], "2025-11-24T16:00:01.000000000Z");
        let m = &j["attributes"]["attributeMap"];
        assert_eq!(m["/http/method"]["stringValue"]["value"], "GET");
        assert_eq!(m["/http/status_code"]["intValue"], "200");
        assert_eq!(m["cache.hit"]["boolValue"], true);
        assert_eq!(m["ratio"]["stringValue"]["value"], "0.25");
        assert_eq!(m["service.name"]["stringValue"]["value"], "kiosk");
        assert_eq!(m["host.name"]["stringValue"]["value"], "edge-1");
        assert!(m["g.co/agent"]["stringValue"]["value"]
            .as_str()
            .unwrap()
            .starts_with("tracespool-uploader "));
        let ev = &j["timeEvents"]["timeEvent"];
        assert_eq!(ev[0]["annotation"]["description"]["value"], "cache miss");
        assert_eq!(
            ev[0]["annotation"]["attributes"]["attributeMap"]["k"]["stringValue"]["value"],
            "v"
        );
        assert_eq!(ev[1]["messageEvent"]["type"], "RECEIVED");
        assert_eq!(ev[1]["messageEvent"]["id"], "7");
        assert_eq!(ev[1]["messageEvent"]["compressedSizeBytes"], "100");
        assert_eq!(j["links"]["link"][0]["type"], "CHILD_LINKED_SPAN");
        assert_eq!(j["status"]["code"], 2);
        assert_eq!(j["status"]["message"], "boom");
        assert_eq!(j["sameProcessAsParentSpan"], false);
        assert_eq!(j["spanKind"], "SERVER");
    }

    #[test]
    fn roots_and_unset_status_omit_fields() {
        let j = serde_json::to_value(to_cloud_trace("p", &rec(base()))).unwrap();
        for absent in [
            "parentSpanId",
            "status",
            "sameProcessAsParentSpan",
            "timeEvents",
            "links",
        ] {
            assert!(j.get(absent).is_none(), "{absent} present");
        }
        assert_eq!(j["spanKind"], "SPAN_KIND_UNSPECIFIED");
    }

    #[test]
    fn truncation_respects_utf8_and_counts_bytes() {
        let t = truncate(&"é".repeat(100), 128); // 200 bytes of 2-byte chars
        assert_eq!(t.value.len(), 128);
        assert_eq!(t.truncated_byte_count, 72);
        let t = truncate(&format!("a{}", "é".repeat(100)), 128); // boundary falls mid-char
        assert_eq!(t.value.len(), 127);
        assert_eq!(t.truncated_byte_count, 74);
        assert!(std::str::from_utf8(t.value.as_bytes()).is_ok());
        let mut s = base();
        s.name = "n".repeat(300).into();
        s.attributes = vec![Attribute::new("long", "v".repeat(1000))];
        let c = to_cloud_trace("p", &rec(s));
        assert_eq!(c.display_name.value.len(), 128);
        assert_eq!(c.display_name.truncated_byte_count, 172);
        let CtValue::StringValue(v) = c.attributes.attribute_map.get("long").unwrap() else {
            panic!()
        };
        assert_eq!((v.value.len(), v.truncated_byte_count), (256, 744));
    }

    #[test]
    fn caps_drop_and_count() {
        let mut s = base();
        s.attributes = (0..40)
            .map(|i| Attribute::new(format!("k{i}"), i as i64))
            .collect();
        s.attributes.push(Attribute::new("x".repeat(129), 1i64));
        s.dropped = DroppedCounts {
            attributes: 2,
            annotations: 1,
            message_events: 0,
            links: 0,
        };
        for i in 0..40u64 {
            s.events.push(TimeEvent {
                time_ns: s.start_ns + i,
                kind: TimeEventKind::Annotation {
                    description: Cow::Borrowed("a"),
                    attributes: (0..6)
                        .map(|j| Attribute::new(format!("a{j}"), j as i64))
                        .collect(),
                },
            });
        }
        for i in 0..130u64 {
            s.events.push(TimeEvent {
                time_ns: s.start_ns + i,
                kind: TimeEventKind::Message {
                    kind: MessageKind::Sent,
                    id: i,
                    uncompressed_size: 1,
                    compressed_size: 1,
                },
            });
            s.links.push(Link {
                trace_id: s.trace_id,
                span_id: s.span_id,
                kind: LinkKind::Unspecified,
                attributes: vec![],
            });
        }
        let c = to_cloud_trace("p", &rec(s));
        assert_eq!(c.attributes.attribute_map.len(), 32);
        // g.co/agent and service.name, then 30 span keys fit; 10 span keys,
        // the long key and host.name are cut.
        let sent_span_keys = c
            .attributes
            .attribute_map
            .0
            .iter()
            .filter(|(k, _)| k.starts_with('k'))
            .count();
        assert_eq!(sent_span_keys, 30);
        // 2 from the recorder + 10 span keys + the long key + host.name.
        assert_eq!(c.attributes.dropped_attributes_count, 2 + 10 + 1 + 1);
        let te = c.time_events.unwrap();
        let anns = te
            .time_event
            .iter()
            .filter(|e| e.annotation.is_some())
            .count();
        assert_eq!(anns, 32);
        assert_eq!(te.dropped_annotations_count, 1 + 8);
        assert_eq!(te.time_event.len() - anns, 128);
        assert_eq!(te.dropped_message_events_count, 2);
        let first = te.time_event[0]
            .annotation
            .as_ref()
            .unwrap()
            .attributes
            .as_ref()
            .unwrap();
        assert_eq!(
            (first.attribute_map.len(), first.dropped_attributes_count),
            (4, 2)
        );
        let links = c.links.unwrap();
        assert_eq!((links.link.len(), links.dropped_links_count), (128, 2));
    }

    #[test]
    fn duplicate_keys_last_wins_and_span_beats_resource() {
        let mut s = base();
        s.attributes = vec![
            Attribute::new("a", 1i64),
            Attribute::new("a", 2i64),
            Attribute::new("host.name", "from-span"),
        ];
        let c = to_cloud_trace("p", &rec(s));
        assert_eq!(
            c.attributes.attribute_map.get("a"),
            Some(&CtValue::IntValue("2".into()))
        );
        let CtValue::StringValue(h) = c.attributes.attribute_map.get("host.name").unwrap() else {
            panic!()
        };
        assert_eq!(h.value, "from-span");
    }

    #[test]
    fn expiry_window() {
        let now = 100 * 24 * 3600 * 1_000_000_000u64;
        let mut s = base();
        s.start_ns = now - limits::MAX_AGE_NS;
        assert!(is_expired(&s, now));
        s.start_ns = now - limits::MAX_AGE_NS + 3600 * 1_000_000_000;
        assert!(!is_expired(&s, now));
    }

    #[test]
    fn well_known_labels() {
        assert_eq!(well_known_label("http.method"), Some("/http/method"));
        assert_eq!(well_known_label("url.full"), Some("/http/url"));
        assert_eq!(
            well_known_label("user_agent.original"),
            Some("/http/user_agent")
        );
        assert_eq!(
            well_known_label("k8s.pod.name"),
            Some("g.co/r/k8s_container/pod_name")
        );
        assert_eq!(well_known_label("k8s.other"), None);
        assert_eq!(well_known_label("db.system"), None);
    }
}
