//! OpenTelemetry `SpanData` with every field set → `SpoolSpanProcessor` →
//! the real spool → decoded record, compared field by field. Also: the
//! provider's resource, unsampled spans, flush and shutdown, the exporter.
use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Event, Link as OtelLink, SpanContext, SpanId as OtelSpanId, SpanKind as OtelKind, Status,
    TraceFlags, TraceId as OtelTraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::{SpanData as OtelSpan, SpanEvents, SpanLinks, SpanProcessor};
use tracespool::{OnFull, Recorder};
use tracespool_opentelemetry::SpoolSpanProcessor;
use tracespool_schema::*;
#[path = "../../../recorder/tests/support/spool_records.rs"]
mod spool_records;
use spool_records::read_all;

const T: u128 = 0x4bf92f3577b34da6a3ce929d0e0e4736;
const S: u64 = 0x00f067aa0ba902b7;
const P: u64 = 0x53995c3f42cd8ad8;

fn at(ns: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(ns)
}

fn full_span() -> OtelSpan {
    let state =
        TraceState::from_key_value([("rojo", "00f067aa0ba902b7"), ("congo", "t61rcWkgMzE")])
            .unwrap();
    let ctx = SpanContext::new(
        OtelTraceId::from(T),
        OtelSpanId::from(S),
        TraceFlags::SAMPLED,
        false,
        state,
    );
    let linked = SpanContext::new(
        OtelTraceId::from(0x0af7651916cd43dd8448eb211c80319c_u128),
        OtelSpanId::from(0xb7ad6b7169203331_u64),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("vendor", "x")]).unwrap(),
    );
    let mut events = SpanEvents::default();
    events.events.push(Event::new(
        "cache miss",
        at(1_764_000_000_150_000_000),
        vec![KeyValue::new("key", "item:42")],
        3,
    ));
    events.dropped_count = 2;
    let mut links = SpanLinks::default();
    let mut link = OtelLink::with_context(linked);
    link.attributes = vec![KeyValue::new("reason", "batch")];
    link.dropped_attributes_count = 4;
    links.links.push(link);
    links.dropped_count = 5;
    OtelSpan {
        span_context: ctx,
        parent_span_id: OtelSpanId::from(P),
        parent_span_is_remote: true,
        span_kind: OtelKind::Server,
        name: Cow::Borrowed("GET /api/items/{id}"),
        start_time: at(1_764_000_000_123_456_789),
        end_time: at(1_764_000_000_223_456_789),
        attributes: vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 200i64),
            KeyValue::new("cache.hit", false),
            KeyValue::new("load", 0.75),
            KeyValue::new(
                "tags",
                Value::Array(Array::String(vec!["a".into(), "ü".into()])),
            ),
            KeyValue::new("ports", Value::Array(Array::I64(vec![80, 443]))),
            KeyValue::new("flags", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("ratios", Value::Array(Array::F64(vec![0.5, 1.5]))),
        ],
        dropped_attributes_count: 1,
        events,
        links,
        status: Status::error("upstream timeout"),
        instrumentation_scope: InstrumentationScope::builder("my-crate::db")
            .with_version("0.4.1")
            .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
            .with_attributes([KeyValue::new("db.driver", "sqlx")])
            .build(),
    }
}

fn expected() -> SpanData {
    let mut s = SpanData::new(
        TraceId(T.to_be_bytes()),
        SpanId(S.to_be_bytes()),
        "GET /api/items/{id}",
    );
    s.parent_span_id = Some(SpanId(P.to_be_bytes()));
    s.parent_is_remote = true;
    s.kind = SpanKind::Server;
    s.start_ns = 1_764_000_000_123_456_789;
    s.end_ns = 1_764_000_000_223_456_789;
    s.attributes = vec![
        Attribute::new("http.request.method", "GET"),
        Attribute::new("http.response.status_code", 200i64),
        Attribute::new("cache.hit", false),
        Attribute::new("load", 0.75f64),
        Attribute::new("tags", vec!["a", "ü"]),
        Attribute::new("ports", vec![80i64, 443]),
        Attribute::new("flags", vec![true, false]),
        Attribute::new("ratios", vec![0.5f64, 1.5]),
    ];
    s.events = vec![TimeEvent {
        time_ns: 1_764_000_000_150_000_000,
        kind: TimeEventKind::Annotation {
            description: "cache miss".into(),
            attributes: vec![Attribute::new("key", "item:42")],
            dropped_attributes: 3,
        },
    }];
    let mut link = Link::new(
        TraceId(0x0af7651916cd43dd8448eb211c80319c_u128.to_be_bytes()),
        SpanId(0xb7ad6b7169203331_u64.to_be_bytes()),
        LinkKind::Unspecified,
    );
    link.attributes = vec![Attribute::new("reason", "batch")];
    link.trace_flags = 1;
    link.trace_state = "vendor=x".into();
    link.is_remote = true;
    link.dropped_attributes = 4;
    s.links = vec![link];
    s.status = tracespool_schema::Status {
        code: StatusCode::Error,
        message: "upstream timeout".into(),
    };
    s.dropped = DroppedCounts {
        attributes: 1,
        annotations: 2,
        message_events: 0,
        links: 5,
    };
    s.trace_flags = 1;
    s.trace_state = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into();
    s.scope = tracespool_schema::InstrumentationScope {
        name: "my-crate::db".into(),
        version: "0.4.1".into(),
        schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
        attributes: vec![Attribute::new("db.driver", "sqlx")],
    };
    s
}

#[test]
fn every_field_of_span_data_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("otel.spool");
    let (rec, guard) = Recorder::builder(&path)
        .service_name("kiosk")
        .on_full(OnFull::Block)
        .build()
        .unwrap();
    let mut p = SpoolSpanProcessor::new(rec.clone());
    p.set_resource(
        &opentelemetry_sdk::Resource::builder_empty()
            .with_attributes([
                KeyValue::new("service.name", "checkout"),
                KeyValue::new("deployment.environment.name", "prod"),
            ])
            .with_schema_url([], "https://opentelemetry.io/schemas/1.26.0")
            .build(),
    );
    p.on_end(full_span());
    // An unsampled span is not recorded (as the batch processor skips it).
    let mut unsampled = full_span();
    unsampled.span_context = SpanContext::new(
        OtelTraceId::from(1u128),
        OtelSpanId::from(1u64),
        TraceFlags::default(),
        false,
        TraceState::default(),
    );
    p.on_end(unsampled);
    p.force_flush().unwrap();

    let records = read_all(&path);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].version, RECORD_VERSION);
    assert_eq!(records[0].span, expected());
    let res = &records[0].resource;
    let get = |k: &str| {
        res.attributes
            .iter()
            .find(|a| a.key == k)
            .map(|a| a.value.clone())
    };
    assert_eq!(get("service.name"), Some("checkout".into()));
    assert_eq!(get("deployment.environment.name"), Some("prod".into()));
    assert!(get("host.name").is_some(), "the recorder's host stays");
    assert_eq!(res.schema_url, "https://opentelemetry.io/schemas/1.26.0");

    // Shutdown is the recorder's: it stops, and later spans are counted.
    p.shutdown().unwrap();
    p.on_end(full_span());
    assert_eq!(rec.stats().dropped_other, 1);
    drop(guard);
    assert_eq!(read_all(&path).len(), 1);
}

#[test]
fn spans_of_the_sdk_reach_the_spool_through_the_provider() {
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sdk.spool");
    let (rec, _guard) = Recorder::builder(&path)
        .service_name("kiosk")
        .on_full(OnFull::Block)
        .build()
        .unwrap();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(SpoolSpanProcessor::new(rec))
        .build();
    let tracer = provider.tracer_with_scope(
        InstrumentationScope::builder("checkout")
            .with_version("1.0.0")
            .build(),
    );
    tracer.in_span("parent", |cx| {
        let mut child = tracer.start_with_context("child", &cx);
        child.set_attribute(KeyValue::new("n", 1i64));
        child.add_event("step", vec![KeyValue::new("i", 2i64)]);
        child.end();
    });
    provider.force_flush().unwrap();
    let records = read_all(&path);
    assert_eq!(records.len(), 2);
    let child = records.iter().find(|r| r.span.name == "child").unwrap();
    let parent = records.iter().find(|r| r.span.name == "parent").unwrap();
    assert_eq!(child.span.parent_span_id, Some(parent.span.span_id));
    assert_eq!(child.span.trace_id, parent.span.trace_id);
    assert_eq!(child.span.scope.name, "checkout");
    assert_eq!(child.span.scope.version, "1.0.0");
    assert_eq!(child.span.attributes, vec![Attribute::new("n", 1i64)]);
    assert!(child.span.end_ns >= child.span.start_ns);
    // The SDK's default service name does not replace the recorder's.
    assert!(child
        .resource
        .attributes
        .contains(&Attribute::new("service.name", "kiosk")));
    provider.shutdown().unwrap();
}

#[test]
fn the_exporter_records_what_it_is_given() {
    use opentelemetry_sdk::trace::SpanExporter;
    use std::future::Future;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exp.spool");
    let (rec, _guard) = Recorder::builder(&path)
        .on_full(OnFull::Block)
        .build()
        .unwrap();
    let exporter = tracespool_opentelemetry::SpoolSpanExporter::new(rec);
    let fut = exporter.export(vec![full_span(), full_span()]);
    // The future is ready at once: there is no network to wait for.
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut fut = std::pin::pin!(fut);
    assert!(matches!(
        fut.as_mut().poll(&mut cx),
        std::task::Poll::Ready(Ok(()))
    ));
    exporter.force_flush().unwrap();
    let records = read_all(&path);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].span, expected());
}
