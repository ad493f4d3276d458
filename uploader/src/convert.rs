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
//!
//! # Repairs: no value makes a span undeliverable
//!
//! | what Cloud Trace refuses | repair | counted in |
//! |---|---|---|
//! | empty or blank display name ("Missing span display name") | [`UNNAMED_SPAN`] | — |
//! | empty attribute key | the attribute is dropped | `droppedAttributesCount` |
//! | key over 128 bytes | dropped | `droppedAttributesCount` |
//! | over 32 attributes (4 per annotation, 32 per link) | the rest dropped | `droppedAttributesCount` |
//! | two keys that map to one label (`http.method`, `http.request.method` → `/http/method`) | one wins, see [`select_attributes`] | `droppedAttributesCount` |
//! | string value over 256 bytes | cut on a UTF-8 boundary | `truncatedByteCount` |
//! | name over 128 bytes | cut likewise | `truncatedByteCount` |
//! | all-zero trace or span id | a non-zero id derived from the span's name and times (the same on every resend) | — |
//! | all-zero parent id, or the span's own id | sent as a root | — |
//! | link to an all-zero id | dropped | `droppedLinksCount` |
//! | over 32 annotations, 128 message events, 128 links | the rest dropped | their dropped counts |
//! | end before start | end = start | — |
//! | end more than 3 days ahead of the uploader's clock | start and end clamped to the latest time accepted (now + 3 days − 10 min) | — |
//! | start more than 14 days ago | not sent, see [`is_expired`] | spool counter `upload_expired` |
//!
//! Floats have no type in Cloud Trace v2: they are sent as text, the
//! shortest that reads back as the same `f64`, always with a `.` or an
//! exponent so that `1.0` is not mistaken for the integer `1` (`1.0`,
//! `0.1`, `1e300`, `1.7976931348623157e308`, `1e-300`); NaN is `NaN`, the
//! infinities `Infinity` and `-Infinity` (as in JSON encodings of
//! protobuf doubles). See [`float_text`].

use regex::Regex;
use tracespool_schema::{
    is_blank, Attribute, AttributeValue, Link, LinkKind, MessageKind, Resource, SpanData, SpanId,
    SpanKind, SpanRecord, StatusCode, TimeEvent, TimeEventKind, TraceId, UNNAMED_SPAN,
};

pub use crate::cloudtrace_model::*;
use crate::resource_labels::{resource_labels, ResourceLabels};
use crate::timefmt::rfc3339_nanos;
pub use crate::value_text::float_text;
use crate::value_text::value_text;

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

/// OpenTelemetry attribute names → Cloud Trace's well-known labels, with a
/// rank: 0 for the current semantic-convention name, 1 for an older one.
/// When both are set, the current name wins (see [`select_attributes`]).
pub fn well_known_label(key: &str) -> Option<(&'static str, u8)> {
    Some(match key {
        "http.request.method" => ("/http/method", 0),
        "http.method" => ("/http/method", 1),
        "http.response.status_code" => ("/http/status_code", 0),
        "http.status_code" => ("/http/status_code", 1),
        "url.full" => ("/http/url", 0),
        "http.url" => ("/http/url", 1),
        "http.route" => ("/http/route", 0),
        "server.address" => ("/http/host", 0),
        "http.host" | "http.request.header.host" => ("/http/host", 1),
        "user_agent.original" => ("/http/user_agent", 0),
        "http.user_agent" => ("/http/user_agent", 1),
        "url.path" => ("/http/path", 0),
        "http.target" | "http.path" => ("/http/path", 1),
        "http.request.body.size" => ("/http/request/size", 0),
        "http.request_content_length" => ("/http/request/size", 1),
        "http.response.body.size" => ("/http/response/size", 0),
        "http.response_content_length" => ("/http/response/size", 1),
        "network.protocol.version" => ("/http/client_protocol", 0),
        "http.flavor" => ("/http/client_protocol", 1),
        "exception.message" => ("/error/message", 0),
        "exception.type" => ("/error/name", 0),
        "exception.stacktrace" => ("/stacktrace", 0),
        "component" => ("/component", 0),
        "k8s.cluster.name" => ("g.co/r/k8s_container/cluster_name", 0),
        "k8s.namespace.name" => ("g.co/r/k8s_container/namespace", 0),
        "k8s.pod.name" => ("g.co/r/k8s_container/pod_name", 0),
        "k8s.container.name" => ("g.co/r/k8s_container/container_name", 0),
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

/// One attribute that is sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Selected<'a> {
    /// The key as sent (a well-known label, or the attribute's own key).
    pub key: &'a str,
    /// The value.
    pub value: Val<'a>,
    /// The attribute's own key, and its rank (see [`well_known_label`]).
    original: &'a str,
    rank: u8,
}

/// The attributes that are sent, in order, with unique keys, and how many
/// were dropped: the one place the attribute rules live, shared by
/// [`to_cloud_trace`] and the direct JSON writer ([`crate::json`]).
#[derive(Debug, Default)]
pub(crate) struct Selection<'a> {
    /// What is sent, in order.
    pub items: Vec<Selected<'a>>,
    /// Attributes not sent (including those dropped at record time).
    pub dropped: u32,
}

/// Selects attributes from `fixed`, then `sources` in priority order, with
/// `cap` keys. Every attribute that is not sent is counted in `dropped`:
///
/// * an empty key, or a key over 128 bytes;
/// * a key that is already sent, from `fixed` or an earlier source (the
///   span's own attributes beat the resource's);
/// * within one source, two attributes whose keys map to the same label
///   (`http.method` and `http.request.method` → `/http/method`): the
///   current semantic-convention name wins, else the first; the same key
///   set twice is one attribute updated (the last value is sent, nothing
///   is counted);
/// * keys over the cap, in order.
pub(crate) fn select_attributes<'a>(
    sources: &[&'a [Attribute]],
    fixed: &[(&'a str, Val<'a>)],
    cap: usize,
    already_dropped: u32,
    out: &mut Selection<'a>,
) {
    out.items.clear();
    out.dropped = already_dropped;
    out.items.extend(fixed.iter().map(|&(key, value)| Selected {
        key,
        value,
        original: key,
        rank: 0,
    }));
    for source in sources {
        // Keys this source added start here (a linear scan: at most 32 keys).
        let first_of_source = out.items.len();
        for a in *source {
            let (key, rank): (&'a str, u8) = match well_known_label(&a.key) {
                Some((label, rank)) => (label, rank),
                None => (&a.key, 0),
            };
            if key.is_empty() || key.len() > limits::KEY_BYTES {
                out.dropped += 1;
                continue;
            }
            if let Some(i) = out.items.iter().position(|x| x.key == key) {
                let slot = &mut out.items[i];
                if i < first_of_source {
                    out.dropped += 1;
                } else if slot.original == &*a.key {
                    slot.value = Val::Attr(&a.value);
                } else {
                    out.dropped += 1;
                    if rank < slot.rank {
                        *slot = Selected {
                            key,
                            value: Val::Attr(&a.value),
                            original: &a.key,
                            rank,
                        };
                    }
                }
                continue;
            }
            if out.items.len() >= cap {
                out.dropped += 1;
                continue;
            }
            out.items.push(Selected {
                key,
                value: Val::Attr(&a.value),
                original: &a.key,
                rank,
            });
        }
    }
}

/// What a conversion needs besides the span.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Resource attributes to send besides the service and the monitored
    /// resource (`--resource-labels`).
    pub resource_labels: Option<Regex>,
    /// The uploader's clock (ns since the epoch), for the 3-day limit.
    pub now_ns: u64,
}

impl ConvertOptions {
    /// No opted-in resource attributes; the clock is now.
    pub fn now() -> Self {
        ConvertOptions {
            resource_labels: None,
            now_ns: tracespool_spool::now_ns(),
        }
    }

    /// The latest time Cloud Trace accepts: 3 days ahead, less a 10-minute
    /// margin for clocks and the trip.
    pub fn latest_ns(&self) -> u64 {
        const AHEAD_NS: u64 = (3 * 24 * 60 - 10) * 60 * 1_000_000_000;
        self.now_ns.saturating_add(AHEAD_NS)
    }
}

/// What a resource contributes to each of its spans, computed once per
/// distinct resource.
#[derive(Debug, Clone)]
pub(crate) struct ResourceParts {
    /// The `g.co/agent` value.
    pub agent: String,
    /// Service, monitored-resource and opted-in labels.
    pub labels: ResourceLabels,
}

impl ResourceParts {
    pub(crate) fn new(resource: &Resource, opts: &ConvertOptions) -> Self {
        ResourceParts {
            agent: agent(resource),
            labels: resource_labels(resource, opts.resource_labels.as_ref()),
        }
    }

    /// Selects a span's attributes: `g.co/agent`, `g.co/gae/app/module`
    /// (when the resource names a service) and `otel.scope.name` and
    /// `otel.scope.version` (when set, as Google's exporters send them)
    /// first, then the span's own, then the resource's labels.
    pub(crate) fn select<'a>(&'a self, s: &'a SpanData, out: &mut Selection<'a>) {
        let mut fixed = [("g.co/agent", Val::Str(&self.agent)); 4];
        let mut n = 1;
        for (key, value) in [
            ("g.co/gae/app/module", self.labels.module.as_deref()),
            ("otel.scope.name", Some(&*s.scope.name)),
            ("otel.scope.version", Some(&*s.scope.version)),
        ] {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                fixed[n] = (key, Val::Str(v));
                n += 1;
            }
        }
        select_attributes(
            &[&s.attributes, &self.labels.labels],
            &fixed[..n],
            limits::ATTRIBUTES,
            s.dropped.attributes,
            out,
        );
    }
}

/// The ids a span is sent with (see the repairs table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SentIds {
    pub trace: TraceId,
    pub span: SpanId,
    pub parent: Option<SpanId>,
}

/// FNV-1a over the span's name and times, never 0: a stand-in for an
/// all-zero id that is the same each time the span is sent.
fn derived_id(s: &SpanData, seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    let times = [s.start_ns.to_le_bytes(), s.end_ns.to_le_bytes()];
    for b in s.name.bytes().chain(times.iter().flatten().copied()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h.max(1)
}

pub(crate) fn sent_ids(s: &SpanData) -> SentIds {
    let trace = if s.trace_id.is_zero() {
        let hi = u128::from(derived_id(s, 1));
        TraceId(((hi << 64) | u128::from(derived_id(s, 2))).to_be_bytes())
    } else {
        s.trace_id
    };
    let span = if s.span_id.is_zero() {
        SpanId::from_u64(derived_id(s, 3))
    } else {
        s.span_id
    };
    let parent = s.parent_span_id.filter(|p| !p.is_zero() && *p != span);
    SentIds {
        trace,
        span,
        parent,
    }
}

/// (start, end) as sent: end not before start, both no later than Cloud
/// Trace accepts.
pub(crate) fn sent_times(s: &SpanData, opts: &ConvertOptions) -> (u64, u64) {
    let latest = opts.latest_ns();
    let start = s.start_ns.min(latest);
    (start, s.end_ns.max(start).min(latest))
}

/// The display name as sent (before truncation): [`UNNAMED_SPAN`] for an
/// empty or blank name (records of recorders before 0.2 kept them).
pub(crate) fn sent_name(s: &SpanData) -> &str {
    if is_blank(&s.name) {
        UNNAMED_SPAN
    } else {
        &s.name
    }
}

/// The links that are sent: those to a valid span, the first 128.
pub(crate) fn sent_links(s: &SpanData) -> impl Iterator<Item = &Link> {
    s.links
        .iter()
        .filter(|l| !l.trace_id.is_zero() && !l.span_id.is_zero())
        .take(limits::LINKS)
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
        // Cloud Trace has no float: its shortest exact text.
        AttributeValue::Float(f) => {
            CtValue::StringValue(truncate(&float_text(*f), limits::STRING_VALUE_BYTES))
        }
        // Arrays as JSON text; a kind of value newer than this uploader
        // as its debug text.
        other => CtValue::StringValue(truncate(&value_text(other), limits::STRING_VALUE_BYTES)),
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
    ct_attributes(sel)
}

fn ct_attributes(sel: Selection<'_>) -> CtAttributes {
    CtAttributes {
        attribute_map: indexmap_like::OrderedMap(
            sel.items
                .into_iter()
                .map(|x| (x.key.to_owned(), val(x.value)))
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
    s.dropped.links + (s.links.len() - sent_links(s).count()) as u32
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
pub fn to_cloud_trace(project: &str, rec: &SpanRecord, opts: &ConvertOptions) -> CtSpan {
    let s = &rec.span;
    let ids = sent_ids(s);
    let span_id = ids.span.to_string();
    let parts = ResourceParts::new(&rec.resource, opts);
    let mut sel = Selection::default();
    parts.select(s, &mut sel);
    let attributes = ct_attributes(sel);

    let (dropped_annotations, dropped_messages) = dropped_events(s);
    let time_event: Vec<CtTimeEvent> = sent_events(s)
        .map(|e| match &e.kind {
            TimeEventKind::Annotation {
                description,
                attributes: attrs,
                dropped_attributes,
            } => CtTimeEvent {
                time: rfc3339_nanos(e.time_ns),
                annotation: Some(CtAnnotation {
                    description: truncate(description, limits::STRING_VALUE_BYTES),
                    attributes: non_empty(build_attributes(
                        &[&attrs[..]],
                        &[],
                        limits::ANNOTATION_ATTRIBUTES,
                        *dropped_attributes,
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
    let link: Vec<CtLink> = sent_links(s)
        .map(|l| CtLink {
            trace_id: l.trace_id.to_string(),
            span_id: l.span_id.to_string(),
            kind: link_type(l.kind),
            attributes: non_empty(build_attributes(
                &[&l.attributes[..]],
                &[],
                limits::ATTRIBUTES,
                l.dropped_attributes,
            )),
        })
        .collect();
    let links = (!link.is_empty() || dropped_links > 0).then_some(CtLinks {
        link,
        dropped_links_count: dropped_links,
    });

    let (start, end) = sent_times(s, opts);
    CtSpan {
        name: format!("projects/{project}/traces/{}/spans/{span_id}", ids.trace),
        span_id,
        parent_span_id: ids.parent.map(|p| p.to_string()),
        display_name: truncate(sent_name(s), limits::DISPLAY_NAME_BYTES),
        start_time: rfc3339_nanos(start),
        end_time: rfc3339_nanos(end),
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
        same_process_as_parent_span: ids.parent.map(|_| !s.parent_is_remote),
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
