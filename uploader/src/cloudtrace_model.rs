//! The Cloud Trace v2 JSON model (`traces:batchWrite`, proto3 JSON in
//! lowerCamelCase) and its documented limits: plain serde types, the
//! readable reference that [`crate::json`] must match byte for byte.

use serde::Serialize;

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
