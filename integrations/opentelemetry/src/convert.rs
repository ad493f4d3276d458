//! OpenTelemetry's `SpanData` → the spool's span, every field kept.
//!
//! A pure function of its input ([`fill_span`]), unit-tested on its own.
//! Strings move without a copy where OpenTelemetry owns them (span names,
//! owned values, status messages); keys, the scope's name and version and
//! repeating short string values are interned (`tracespool::adapter::intern`), because
//! OpenTelemetry does not hand out its `'static` strings.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::{SpanContext, SpanKind as OtelKind, Status as OtelStatus};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData as OtelSpan;
use tracespool::adapter::intern;
use tracespool::adapter::{Link, SpanData, Status, Str, TimeEvent, TimeEventKind};
use tracespool::{Attribute, AttributeValue, LinkKind, SpanId, SpanKind, StatusCode, TraceId};

/// Fills `out` (a cleared span) from `span`, moving what it can.
pub fn fill_span(out: &mut SpanData, span: OtelSpan) {
    let ctx = &span.span_context;
    out.trace_id = TraceId(ctx.trace_id().to_bytes());
    out.span_id = SpanId(ctx.span_id().to_bytes());
    out.trace_flags = ctx.trace_flags().to_u8();
    out.trace_state = trace_state(ctx);
    out.parent_span_id = (span.parent_span_id != opentelemetry::trace::SpanId::INVALID)
        .then(|| SpanId(span.parent_span_id.to_bytes()));
    out.parent_is_remote = span.parent_span_is_remote;
    out.kind = kind(&span.span_kind);
    out.name = span.name;
    out.start_ns = unix_ns(span.start_time);
    out.end_ns = unix_ns(span.end_time);
    out.attributes
        .extend(span.attributes.into_iter().map(attribute));
    out.dropped.attributes = span.dropped_attributes_count;
    out.events
        .extend(span.events.events.into_iter().map(|e| TimeEvent {
            time_ns: unix_ns(e.timestamp),
            kind: TimeEventKind::Annotation {
                description: e.name,
                attributes: e.attributes.into_iter().map(attribute).collect(),
                dropped_attributes: e.dropped_attributes_count,
            },
        }));
    out.dropped.annotations = span.events.dropped_count;
    out.links.extend(span.links.links.into_iter().map(|l| {
        let c = &l.span_context;
        let mut link = Link::new(
            TraceId(c.trace_id().to_bytes()),
            SpanId(c.span_id().to_bytes()),
            LinkKind::Unspecified,
        );
        link.trace_flags = c.trace_flags().to_u8();
        link.trace_state = trace_state(c);
        link.is_remote = c.is_remote();
        link.dropped_attributes = l.dropped_attributes_count;
        link.attributes = l.attributes.into_iter().map(attribute).collect();
        link
    }));
    out.dropped.links = span.links.dropped_count;
    out.status = match span.status {
        OtelStatus::Unset => Status::default(),
        OtelStatus::Ok => Status {
            code: StatusCode::Ok,
            message: Cow::Borrowed(""),
        },
        OtelStatus::Error { description } => Status {
            code: StatusCode::Error,
            message: description,
        },
    };
    let scope = &span.instrumentation_scope;
    out.scope.name = intern::key(scope.name());
    out.scope.version = intern::key(scope.version().unwrap_or_default());
    out.scope.schema_url = intern::key(scope.schema_url().unwrap_or_default());
    out.scope
        .attributes
        .extend(scope.attributes().cloned().map(attribute));
}

fn trace_state(ctx: &SpanContext) -> Str {
    let h = ctx.trace_state().header();
    if h.is_empty() {
        Cow::Borrowed("")
    } else {
        Cow::Owned(h)
    }
}

/// Nanoseconds since the Unix epoch; a time before it is 0.
#[inline]
pub fn unix_ns(t: SystemTime) -> u64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d
            .as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(d.subsec_nanos())),
        Err(_) => 0,
    }
}

fn kind(k: &OtelKind) -> SpanKind {
    match k {
        OtelKind::Client => SpanKind::Client,
        OtelKind::Server => SpanKind::Server,
        OtelKind::Producer => SpanKind::Producer,
        OtelKind::Consumer => SpanKind::Consumer,
        OtelKind::Internal => SpanKind::Internal,
    }
}

/// One attribute; arrays stay arrays.
#[inline]
pub fn attribute(kv: KeyValue) -> Attribute {
    Attribute {
        key: intern::key(kv.key.as_str()),
        value: value(kv.value),
    }
}

#[inline]
fn value(v: Value) -> AttributeValue {
    match v {
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::I64(i) => AttributeValue::Int(i),
        Value::F64(f) => AttributeValue::Float(f),
        Value::String(s) => AttributeValue::String(match intern::repeated_value(s.as_str()) {
            Some(t) => Cow::Borrowed(t),
            // Moved, not copied, when OpenTelemetry owns it.
            None => Cow::Owned(String::from(s)),
        }),
        Value::Array(Array::Bool(v)) => AttributeValue::BoolArray(v),
        Value::Array(Array::I64(v)) => AttributeValue::IntArray(v),
        Value::Array(Array::F64(v)) => AttributeValue::FloatArray(v),
        Value::Array(Array::String(v)) => AttributeValue::StringArray(
            v.into_iter().map(|s| Cow::Owned(String::from(s))).collect(),
        ),
        // A kind of value newer than this adapter: its text.
        other => AttributeValue::String(Cow::Owned(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_types() {
        assert_eq!(value(Value::I64(-3)), AttributeValue::Int(-3));
        assert_eq!(value(Value::F64(0.5)), AttributeValue::Float(0.5));
        assert_eq!(value(Value::Bool(true)), AttributeValue::Bool(true));
        assert_eq!(value("s".into()), AttributeValue::from("s"));
        assert_eq!(
            value(Value::Array(Array::String(vec!["a".into(), "b".into()]))),
            AttributeValue::from(vec!["a", "b"])
        );
        assert_eq!(
            value(Value::Array(Array::I64(vec![1, 2]))),
            AttributeValue::IntArray(vec![1, 2])
        );
        assert_eq!(
            value(Value::Array(Array::F64(vec![1.5]))),
            AttributeValue::FloatArray(vec![1.5])
        );
        assert_eq!(
            value(Value::Array(Array::Bool(vec![false]))),
            AttributeValue::BoolArray(vec![false])
        );
    }

    #[test]
    fn times_before_the_epoch_are_zero() {
        assert_eq!(
            unix_ns(SystemTime::UNIX_EPOCH - std::time::Duration::from_secs(1)),
            0
        );
        assert_eq!(
            unix_ns(SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(7)),
            7
        );
    }
}
