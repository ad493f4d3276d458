//! The readable reference of the span → Cloud Trace v2 mapping: the
//! `traces:batchWrite` JSON model (proto3 JSON in lowerCamelCase) as plain
//! serde types, and [`to_cloud_trace`], built from the same rules
//! ([`super::convert`]) as the request writer. Compiled for tests only: the
//! writer ([`super::json`]) must produce the same bytes as
//! `serde_json::to_vec` of this model, for hand-made and arbitrary spans.

use tracespool_schema::{Attribute, AttributeValue, SpanRecord, StatusCode, TimeEventKind};

use super::convert::*;
use super::limits;
use crate::repair::{cut, sent_ids, sent_name, sent_times, ConvertOptions};
use crate::timefmt::rfc3339_nanos;
use crate::value_text::{float_text, value_text};
use serde::Serialize;

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
    pub attribute_map: OrderedMap,
    /// Attributes not sent.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_attributes_count: u32,
}

/// A small insertion-ordered map (deterministic JSON, cheap for ≤ 32 keys):
/// ordered (key, value) pairs with unique keys.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderedMap(pub Vec<(String, CtValue)>);

impl OrderedMap {
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&CtValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl Serialize for OrderedMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
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
        attribute_map: OrderedMap(
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

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
