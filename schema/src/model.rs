//! The span model: plain data, complete enough for Cloud Trace v2 and for
//! OpenTelemetry.
//!
//! Strings are [`Str`] (`Cow<'static, str>`), so names and keys known at
//! compile time cost no allocation when recorded; decoding always gives owned
//! strings. Times are nanoseconds since the Unix epoch.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::ids::{SpanId, TraceId};

/// A string that is either `'static` or owned.
pub type Str = Cow<'static, str>;

/// The name given to a span whose name is empty or only white space:
/// Cloud Trace refuses such a span ("Missing span display name"), and one
/// bad span would fail its whole request. The recorder's writer thread
/// applies it before a span is stored, the uploader again before sending
/// (records written by older recorders).
pub const UNNAMED_SPAN: &str = "(unnamed span)";

/// Whether `s` is empty or only white space. On the recording hot path:
/// a name that starts with a visible ASCII character is decided by its
/// first byte.
#[inline]
pub fn is_blank(s: &str) -> bool {
    match s.as_bytes().first() {
        None => true,
        Some(b) if b.is_ascii_graphic() => false,
        Some(_) => s.trim().is_empty(),
    }
}

/// The W3C trace flag "sampled" (bit 0 of [`SpanData::trace_flags`]).
pub const TRACE_FLAG_SAMPLED: u8 = 0x01;

/// An attribute value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AttributeValue {
    /// A UTF-8 string.
    String(Str),
    /// A signed 64-bit integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A 64-bit float (Cloud Trace has no float type; the uploader sends its
    /// decimal text).
    Float(f64),
    /// An array of strings (record version 3; OpenTelemetry's arrays).
    /// Cloud Trace v2 has no arrays: the uploader sends it as JSON text.
    StringArray(Vec<Str>),
    /// An array of signed 64-bit integers (record version 3).
    IntArray(Vec<i64>),
    /// An array of booleans (record version 3).
    BoolArray(Vec<bool>),
    /// An array of 64-bit floats (record version 3).
    FloatArray(Vec<f64>),
}

/// One key/value attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// The key, e.g. `http.request.method`.
    pub key: Str,
    /// The value.
    pub value: AttributeValue,
}

impl Attribute {
    /// A new attribute.
    pub fn new(key: impl Into<Str>, value: impl Into<AttributeValue>) -> Self {
        Attribute {
            key: key.into(),
            value: value.into(),
        }
    }
}

impl From<&'static str> for AttributeValue {
    fn from(v: &'static str) -> Self {
        AttributeValue::String(Cow::Borrowed(v))
    }
}
impl From<String> for AttributeValue {
    fn from(v: String) -> Self {
        AttributeValue::String(Cow::Owned(v))
    }
}
impl From<Str> for AttributeValue {
    fn from(v: Str) -> Self {
        AttributeValue::String(v)
    }
}
impl From<i64> for AttributeValue {
    fn from(v: i64) -> Self {
        AttributeValue::Int(v)
    }
}
impl From<i32> for AttributeValue {
    fn from(v: i32) -> Self {
        AttributeValue::Int(v.into())
    }
}
impl From<u32> for AttributeValue {
    fn from(v: u32) -> Self {
        AttributeValue::Int(v.into())
    }
}
impl From<bool> for AttributeValue {
    fn from(v: bool) -> Self {
        AttributeValue::Bool(v)
    }
}
impl From<f64> for AttributeValue {
    fn from(v: f64) -> Self {
        AttributeValue::Float(v)
    }
}
/// A `u64` up to `i64::MAX` is an `Int`; a larger one (which no int64 can
/// hold) is kept exactly as its decimal digits, a `String`.
impl From<u64> for AttributeValue {
    fn from(v: u64) -> Self {
        match i64::try_from(v) {
            Ok(i) => AttributeValue::Int(i),
            Err(_) => AttributeValue::String(Cow::Owned(v.to_string())),
        }
    }
}
/// As `u64`.
impl From<usize> for AttributeValue {
    fn from(v: usize) -> Self {
        AttributeValue::from(v as u64)
    }
}
impl From<i16> for AttributeValue {
    fn from(v: i16) -> Self {
        AttributeValue::Int(v.into())
    }
}
impl From<u16> for AttributeValue {
    fn from(v: u16) -> Self {
        AttributeValue::Int(v.into())
    }
}
impl From<i8> for AttributeValue {
    fn from(v: i8) -> Self {
        AttributeValue::Int(v.into())
    }
}
impl From<u8> for AttributeValue {
    fn from(v: u8) -> Self {
        AttributeValue::Int(v.into())
    }
}
/// The `f64` nearest to the `f32`'s shortest decimal text, so `0.1f32`
/// is recorded as `0.1`, not as `0.10000000149011612` (the exact value of
/// the `f32`, which is what `as f64` gives). Infinities and NaN stay so.
impl From<f32> for AttributeValue {
    fn from(v: f32) -> Self {
        if !v.is_finite() {
            return AttributeValue::Float(f64::from(v));
        }
        // An f32's shortest round-trip text is at most about 16 bytes.
        let mut buf = [0u8; 48];
        let mut w = &mut buf[..];
        let f = match std::io::Write::write_fmt(&mut w, format_args!("{v:e}")) {
            Ok(()) => {
                let len = 48 - w.len();
                std::str::from_utf8(&buf[..len])
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .unwrap_or(f64::from(v))
            }
            Err(_) => f64::from(v),
        };
        AttributeValue::Float(f)
    }
}
impl From<Vec<Str>> for AttributeValue {
    fn from(v: Vec<Str>) -> Self {
        AttributeValue::StringArray(v)
    }
}
impl From<Vec<&'static str>> for AttributeValue {
    fn from(v: Vec<&'static str>) -> Self {
        AttributeValue::StringArray(v.into_iter().map(Cow::Borrowed).collect())
    }
}
impl From<Vec<String>> for AttributeValue {
    fn from(v: Vec<String>) -> Self {
        AttributeValue::StringArray(v.into_iter().map(Cow::Owned).collect())
    }
}
impl From<Vec<i64>> for AttributeValue {
    fn from(v: Vec<i64>) -> Self {
        AttributeValue::IntArray(v)
    }
}
impl From<Vec<bool>> for AttributeValue {
    fn from(v: Vec<bool>) -> Self {
        AttributeValue::BoolArray(v)
    }
}
impl From<Vec<f64>> for AttributeValue {
    fn from(v: Vec<f64>) -> Self {
        AttributeValue::FloatArray(v)
    }
}
/// Copies the string.
impl From<&String> for AttributeValue {
    fn from(v: &String) -> Self {
        AttributeValue::String(Cow::Owned(v.clone()))
    }
}

impl AttributeValue {
    /// A string value copied from a borrowed `&str` of any lifetime (a
    /// `&'static str` converts without a copy through `From`).
    pub fn copied(v: &str) -> Self {
        AttributeValue::String(Cow::Owned(v.to_owned()))
    }
}

/// What role a span plays (OpenTelemetry's and Cloud Trace's span kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SpanKind {
    /// Not specified.
    #[default]
    Unspecified,
    /// An internal operation.
    Internal,
    /// The server side of a remote call.
    Server,
    /// The client side of a remote call.
    Client,
    /// The sender of an asynchronous message.
    Producer,
    /// The receiver of an asynchronous message.
    Consumer,
}

/// A span's status code (OpenTelemetry's three states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum StatusCode {
    /// No status was set.
    #[default]
    Unset,
    /// The operation succeeded.
    Ok,
    /// The operation failed.
    Error,
}

/// A span's status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Status {
    /// The code.
    pub code: StatusCode,
    /// A message, usually set with [`StatusCode::Error`].
    pub message: Str,
}

/// Whether a message event was sent or received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MessageKind {
    /// Not specified.
    #[default]
    Unspecified,
    /// Sent.
    Sent,
    /// Received.
    Received,
}

/// What happened at a [`TimeEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TimeEventKind {
    /// A free-text annotation with its own attributes.
    Annotation {
        /// What happened.
        description: Str,
        /// Details.
        attributes: Vec<Attribute>,
        /// Attributes the producer dropped over its limits (OpenTelemetry's
        /// `dropped_attributes_count`; record version 3).
        dropped_attributes: u32,
    },
    /// A message sent or received.
    Message {
        /// Sent or received.
        kind: MessageKind,
        /// An id for the message, unique within the span.
        id: u64,
        /// Uncompressed size in bytes.
        uncompressed_size: u64,
        /// Compressed size in bytes (0: same as uncompressed).
        compressed_size: u64,
    },
}

/// An event at a point in time within a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeEvent {
    /// When, in nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// What.
    pub kind: TimeEventKind,
}

/// How a linked span relates to this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LinkKind {
    /// Not specified.
    #[default]
    Unspecified,
    /// The linked span is a child of this one.
    ChildLinkedSpan,
    /// The linked span is a parent of this one.
    ParentLinkedSpan,
}

/// A pointer to a span in this or another trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// The linked trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// The relation.
    pub kind: LinkKind,
    /// Details.
    pub attributes: Vec<Attribute>,
    /// The linked span's W3C trace flags (bit 0: sampled; record version 3).
    pub trace_flags: u8,
    /// The linked span's W3C `tracestate` (record version 3).
    pub trace_state: Str,
    /// Whether the linked span lives in another process (record version 3).
    pub is_remote: bool,
    /// Attributes the producer dropped over its limits (record version 3).
    pub dropped_attributes: u32,
}

impl Link {
    /// A link with no attributes and nothing else set.
    pub fn new(trace_id: TraceId, span_id: SpanId, kind: LinkKind) -> Self {
        Link {
            trace_id,
            span_id,
            kind,
            attributes: Vec::new(),
            trace_flags: 0,
            trace_state: Cow::Borrowed(""),
            is_remote: false,
            dropped_attributes: 0,
        }
    }
}

/// The library that produced a span (OpenTelemetry's instrumentation scope,
/// e.g. `tracing-opentelemetry` or `my-crate::db`; record version 3). Empty
/// for spans recorded through tracespool's own API.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InstrumentationScope {
    /// The scope's name; empty: none.
    pub name: Str,
    /// Its version; may be empty.
    pub version: Str,
    /// Its schema URL; may be empty.
    pub schema_url: Str,
    /// Its attributes.
    pub attributes: Vec<Attribute>,
}

impl InstrumentationScope {
    /// Whether nothing is set (spans of tracespool's own API).
    pub fn is_empty(&self) -> bool {
        self.name.is_empty()
            && self.version.is_empty()
            && self.schema_url.is_empty()
            && self.attributes.is_empty()
    }
}

/// What the recorder dropped from a span while recording it (over its
/// per-span caps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DroppedCounts {
    /// Attributes dropped.
    pub attributes: u32,
    /// Annotations dropped.
    pub annotations: u32,
    /// Message events dropped.
    pub message_events: u32,
    /// Links dropped.
    pub links: u32,
}

/// One finished span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanData {
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// Its id.
    pub span_id: SpanId,
    /// Its parent, if any.
    pub parent_span_id: Option<SpanId>,
    /// Whether the parent lives in another process (joined through a
    /// `traceparent` or `X-Cloud-Trace-Context` header).
    pub parent_is_remote: bool,
    /// The display name.
    pub name: Str,
    /// The kind.
    pub kind: SpanKind,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// End, in nanoseconds since the Unix epoch.
    pub end_ns: u64,
    /// Attributes.
    pub attributes: Vec<Attribute>,
    /// Annotations and message events.
    pub events: Vec<TimeEvent>,
    /// Links.
    pub links: Vec<Link>,
    /// Status.
    pub status: Status,
    /// What was dropped at record time.
    pub dropped: DroppedCounts,
    /// The W3C trace flags (bit 0: sampled; record version 3; spans of
    /// older records decode with 1).
    pub trace_flags: u8,
    /// The W3C `tracestate` header value, e.g. `vendor=value` (record
    /// version 3); empty: none.
    pub trace_state: Str,
    /// The library that produced the span (record version 3).
    pub scope: InstrumentationScope,
}

impl SpanData {
    /// A span with the given ids and name and nothing else.
    pub fn new(trace_id: TraceId, span_id: SpanId, name: impl Into<Str>) -> Self {
        SpanData {
            trace_id,
            span_id,
            parent_span_id: None,
            parent_is_remote: false,
            name: name.into(),
            kind: SpanKind::Unspecified,
            start_ns: 0,
            end_ns: 0,
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            status: Status::default(),
            dropped: DroppedCounts::default(),
            trace_flags: TRACE_FLAG_SAMPLED,
            trace_state: Cow::Borrowed(""),
            scope: InstrumentationScope::default(),
        }
    }
}

/// Attributes of the process that recorded a span (service name, host,
/// version, ...).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Resource {
    /// Attributes, e.g. `service.name`.
    pub attributes: Vec<Attribute>,
    /// The schema URL of the attributes' semantic conventions (record
    /// version 3); may be empty.
    pub schema_url: Str,
}

impl Resource {
    /// A resource with these attributes and no schema URL.
    pub fn new(attributes: Vec<Attribute>) -> Self {
        Resource {
            attributes,
            schema_url: Cow::Borrowed(""),
        }
    }
}

/// A decoded record: a span and the resource of the process that recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    /// The record version it was decoded from.
    pub version: u8,
    /// The span.
    pub span: SpanData,
    /// The recording process's resource.
    pub resource: Resource,
}
