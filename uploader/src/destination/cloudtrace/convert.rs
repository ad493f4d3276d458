//! The rules of the span → Cloud Trace v2 mapping: which attributes,
//! events and links are sent, under which keys and names. Pure functions,
//! shared by the request writer ([`super::json`]) and the readable
//! reference model the tests hold it to (`reference.rs`).
//!
//! Cloud Trace rejects a whole request for one invalid span and does not
//! say what happens over its limits, so every documented limit
//! ([`super::limits`]) is enforced: display name 128 bytes, attribute keys
//! 128 bytes (longer keys are dropped and counted), string values 256
//! bytes (cut on a UTF-8 boundary with `truncatedByteCount`), at most 32
//! attributes per span, 4 per annotation, 32 per link, 32 annotations, 128
//! message events, 128 links, each with its dropped count. int64 values are
//! JSON strings.
//!
//! # Repairs: no value makes a span undeliverable
//!
//! Besides the repairs every destination applies ([`crate::repair`]: blank
//! names, zero ids, times out of range, Google's 14-day window):
//!
//! | what Cloud Trace refuses | repair | counted in |
//! |---|---|---|
//! | empty attribute key | the attribute is dropped | `droppedAttributesCount` |
//! | key over 128 bytes | dropped | `droppedAttributesCount` |
//! | over 32 attributes (4 per annotation, 32 per link) | the rest dropped | `droppedAttributesCount` |
//! | two keys that map to one label (`http.method`, `http.request.method` → `/http/method`) | one wins, see [`select_attributes`] | `droppedAttributesCount` |
//! | string value over 256 bytes | cut on a UTF-8 boundary | `truncatedByteCount` |
//! | name over 128 bytes | cut likewise | `truncatedByteCount` |
//! | link to an all-zero id | dropped | `droppedLinksCount` |
//! | over 32 annotations, 128 message events, 128 links | the rest dropped | their dropped counts |
//!
//! Floats have no type in Cloud Trace v2: they are sent as text, the
//! shortest that reads back as the same `f64`, always with a `.` or an
//! exponent so that `1.0` is not mistaken for the integer `1` (`1.0`,
//! `0.1`, `1e300`, `1.7976931348623157e308`, `1e-300`); NaN is `NaN`, the
//! infinities `Infinity` and `-Infinity` (as in JSON encodings of
//! protobuf doubles). See [`crate::value_text::float_text`].

use tracespool_schema::{
    Attribute, AttributeValue, Link, LinkKind, MessageKind, Resource, SpanData, SpanKind,
    TimeEvent, TimeEventKind,
};

use super::limits;
use super::resource_labels::{resource_labels, ResourceLabels};
use crate::repair::ConvertOptions;

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
/// the request writer ([`super::json`]) and the reference model.
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

/// The links that are sent: those to a valid span, the first 128.
pub(crate) fn sent_links(s: &SpanData) -> impl Iterator<Item = &Link> {
    s.links
        .iter()
        .filter(|l| !l.trace_id.is_zero() && !l.span_id.is_zero())
        .take(limits::LINKS)
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
