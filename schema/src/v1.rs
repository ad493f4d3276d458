//! The model of record versions 1 and 2, frozen: their payloads are
//! `bincode(SpanData) ++ bincode(Resource)` with exactly these types. Never
//! change them; a decoded old record is converted to the current model
//! ([`crate::SpanData`]), where the fields version 3 added take the values
//! that describe such a span: trace flags "sampled" (the recorder only
//! stores sampled spans), no trace state, no instrumentation scope, nothing
//! dropped from events or links.
//!
//! [`AttributeValue`] is shared: version 3 only appended variants, and an
//! appended variant does not change how the older ones are encoded.

use serde::Deserialize;

use crate::ids::{SpanId, TraceId};
use crate::model::{self, Attribute, DroppedCounts, LinkKind, MessageKind, SpanKind, Status, Str};

#[derive(Deserialize)]
pub(crate) struct SpanData {
    trace_id: TraceId,
    span_id: SpanId,
    parent_span_id: Option<SpanId>,
    parent_is_remote: bool,
    name: Str,
    kind: SpanKind,
    start_ns: u64,
    end_ns: u64,
    attributes: Vec<Attribute>,
    events: Vec<TimeEvent>,
    links: Vec<Link>,
    status: Status,
    dropped: DroppedCounts,
}

#[derive(Deserialize)]
struct TimeEvent {
    time_ns: u64,
    kind: TimeEventKind,
}

#[derive(Deserialize)]
enum TimeEventKind {
    Annotation {
        description: Str,
        attributes: Vec<Attribute>,
    },
    Message {
        kind: MessageKind,
        id: u64,
        uncompressed_size: u64,
        compressed_size: u64,
    },
}

#[derive(Deserialize)]
struct Link {
    trace_id: TraceId,
    span_id: SpanId,
    kind: LinkKind,
    attributes: Vec<Attribute>,
}

#[derive(Deserialize)]
pub(crate) struct Resource {
    attributes: Vec<Attribute>,
}

impl From<SpanData> for model::SpanData {
    fn from(s: SpanData) -> Self {
        let mut span = model::SpanData::new(s.trace_id, s.span_id, s.name);
        span.parent_span_id = s.parent_span_id;
        span.parent_is_remote = s.parent_is_remote;
        span.kind = s.kind;
        span.start_ns = s.start_ns;
        span.end_ns = s.end_ns;
        span.attributes = s.attributes;
        span.events = s.events.into_iter().map(Into::into).collect();
        span.links = s.links.into_iter().map(Into::into).collect();
        span.status = s.status;
        span.dropped = s.dropped;
        span
    }
}

impl From<TimeEvent> for model::TimeEvent {
    fn from(e: TimeEvent) -> Self {
        let kind = match e.kind {
            TimeEventKind::Annotation {
                description,
                attributes,
            } => model::TimeEventKind::Annotation {
                description,
                attributes,
                dropped_attributes: 0,
            },
            TimeEventKind::Message {
                kind,
                id,
                uncompressed_size,
                compressed_size,
            } => model::TimeEventKind::Message {
                kind,
                id,
                uncompressed_size,
                compressed_size,
            },
        };
        model::TimeEvent {
            time_ns: e.time_ns,
            kind,
        }
    }
}

impl From<Link> for model::Link {
    fn from(l: Link) -> Self {
        let mut link = model::Link::new(l.trace_id, l.span_id, l.kind);
        link.attributes = l.attributes;
        link
    }
}

impl From<Resource> for model::Resource {
    fn from(r: Resource) -> Self {
        model::Resource::new(r.attributes)
    }
}
