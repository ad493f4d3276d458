//! `tracing` field values → tracespool attributes, and the `otel.*`
//! fields that steer a span instead of becoming attributes.

use std::borrow::Cow;
use std::fmt;

use tracespool::adapter::Str;
use tracespool::{Attribute, AttributeValue, SpanKind, StatusCode};
use tracing_core::field::{Field, Visit};

/// What the fields of a span said, besides its attributes.
#[derive(Debug, Default)]
pub(crate) struct Steering {
    pub name: Option<String>,
    pub kind: Option<SpanKind>,
    pub status: Option<StatusCode>,
    pub status_message: Option<String>,
    /// The text of an `error` field.
    pub error: Option<String>,
}

/// Where attributes go: straight into a span (no intermediate vector on
/// the hot path), or into an event's list.
pub(crate) trait AttributeSink {
    fn put(&mut self, key: Str, value: AttributeValue);
}

impl AttributeSink for Vec<Attribute> {
    fn put(&mut self, key: Str, value: AttributeValue) {
        self.push(Attribute { key, value });
    }
}

impl AttributeSink for tracespool::Span {
    fn put(&mut self, key: Str, value: AttributeValue) {
        self.set_attribute(key, value);
    }
}

/// Collects the fields of a span (or of an event) as attributes.
#[derive(Debug, Default)]
pub(crate) struct Fields<T> {
    pub attributes: T,
    pub steering: Steering,
    /// An event's `message`.
    pub message: Option<String>,
}

fn u64_value(v: u64) -> AttributeValue {
    AttributeValue::from(v)
}

fn parse_kind(s: &str) -> Option<SpanKind> {
    Some(match s.to_ascii_lowercase().as_str() {
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => return None,
    })
}

fn parse_status(s: &str) -> Option<StatusCode> {
    Some(match s.to_ascii_lowercase().as_str() {
        "ok" => StatusCode::Ok,
        "error" => StatusCode::Error,
        "unset" => StatusCode::Unset,
        _ => return None,
    })
}

impl<T: AttributeSink> Fields<T> {
    /// Fields going into `attributes`.
    pub fn into(attributes: T) -> Self {
        Fields {
            attributes,
            steering: Steering::default(),
            message: None,
        }
    }

    fn put(&mut self, field: &Field, value: AttributeValue) {
        self.attributes.put(Cow::Borrowed(field.name()), value);
    }

    /// Text values: the `otel.*` and `error` fields steer, `message` is an
    /// event's description, the rest are attributes.
    fn text(&mut self, field: &Field, text: String) {
        match field.name() {
            "otel.name" => self.steering.name = Some(text),
            "otel.kind" => self.steering.kind = parse_kind(&text),
            "otel.status_code" => self.steering.status = parse_status(&text),
            "otel.status_message" => self.steering.status_message = Some(text),
            "message" => self.message = Some(text),
            "error" => {
                self.attributes.put(
                    Cow::Borrowed("exception.message"),
                    AttributeValue::from(text.clone()),
                );
                self.steering.error = Some(text);
            }
            _ => self.put(field, AttributeValue::from(text)),
        }
    }
}

impl<T: AttributeSink> Visit for Fields<T> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, AttributeValue::Int(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, u64_value(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        match i64::try_from(value) {
            Ok(v) => self.put(field, AttributeValue::Int(v)),
            Err(_) => self.put(field, AttributeValue::from(value.to_string())),
        }
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        match i64::try_from(value) {
            Ok(v) => self.put(field, AttributeValue::Int(v)),
            Err(_) => self.put(field, AttributeValue::from(value.to_string())),
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "error" && value {
            self.steering.error = Some(String::new());
        }
        self.put(field, AttributeValue::Bool(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, AttributeValue::Float(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "otel.name"
            | "otel.kind"
            | "otel.status_code"
            | "otel.status_message"
            | "message"
            | "error" => self.text(field, value.to_owned()),
            // Not copied when the same text comes from the same place again
            // (a literal, usually): see `tracespool::adapter::intern`.
            _ => self.put(
                field,
                AttributeValue::String(tracespool::adapter::intern::value(value)),
            ),
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The error and its sources, as `err: source: source`.
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        self.text(field, text);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, format!("{value:?}"));
    }
}
