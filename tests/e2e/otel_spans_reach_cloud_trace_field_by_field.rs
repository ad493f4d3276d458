//! OpenTelemetry SDK → `SpoolSpanProcessor` → spool → the real
//! `tracespool upload` → the strict Cloud Trace stand-in, field by field:
//! what Cloud Trace v2 has a field for arrives in it; arrays arrive as JSON
//! text; the scope as `otel.scope.name` / `otel.scope.version`.
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer, TracerProvider as _,
};
use opentelemetry::{Array, Context, InstrumentationScope, KeyValue, Value};
use tracespool::{OnFull, Recorder};
use tracespool_opentelemetry::SpoolSpanProcessor;
use tracespool_tests::cli;

#[test]
fn an_opentelemetry_request_arrives_as_cloud_trace_spans() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("otel.spool");
    let start = SystemTime::now() - Duration::from_secs(60);
    {
        let (rec, guard) = Recorder::builder(&spool)
            .service_name("otel-e2e")
            .on_full(OnFull::Block)
            .build()
            .unwrap();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_span_processor(SpoolSpanProcessor::new(rec))
            .build();
        let tracer = provider.tracer_with_scope(
            InstrumentationScope::builder("checkout-lib")
                .with_version("2.1.0")
                .build(),
        );
        // A remote parent, as a propagator would extract it.
        let remote = SpanContext::new(
            TraceId::from(0x4bf92f3577b34da6a3ce929d0e0e4736_u128),
            SpanId::from(0x00f067aa0ba902b7_u64),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let parent_cx = Context::new().with_remote_span_context(remote);
        let linked = SpanContext::new(
            TraceId::from(0x0af7651916cd43dd8448eb211c80319c_u128),
            SpanId::from(0xb7ad6b7169203331_u64),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let server = tracer
            .span_builder("POST /orders")
            .with_kind(SpanKind::Server)
            .with_start_time(start)
            .with_attributes([
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("http.response.status_code", 201i64),
                KeyValue::new("retry", true),
                KeyValue::new("ratio", 0.25),
                KeyValue::new(
                    "items",
                    Value::Array(Array::String(vec!["a".into(), "b".into()])),
                ),
                KeyValue::new("sizes", Value::Array(Array::I64(vec![1, 2, 3]))),
            ])
            .with_links(vec![Link::with_context(linked)])
            .start_with_context(&tracer, &parent_cx);
        let server_cx = parent_cx.with_span(server);
        {
            use opentelemetry::trace::Span as _;
            let span = server_cx.span();
            span.add_event_with_timestamp(
                "validated",
                start + Duration::from_millis(5),
                vec![KeyValue::new("lines", 3i64)],
            );
            let mut db = tracer
                .span_builder("INSERT orders")
                .with_kind(SpanKind::Client)
                .with_start_time(start + Duration::from_millis(10))
                .start_with_context(&tracer, &server_cx);
            db.set_status(Status::error("deadlock"));
            db.end_with_timestamp(start + Duration::from_millis(30));
            span.end_with_timestamp(start + Duration::from_millis(40));
        }
        provider.force_flush().unwrap();
        provider.shutdown().unwrap();
        drop(guard);
    }
    let spans = cli::upload_to_cloud_trace(env!("CARGO_BIN_EXE_tracespool"), &spool, "otel-e2e");
    assert_eq!(spans.len(), 2);

    let server = cli::span_named(&spans, "POST /orders");
    cli::assert_server_child_of_remote_parent(server);
    let m = &server["attributes"]["attributeMap"];
    assert_eq!(m["/http/method"]["stringValue"]["value"], "POST");
    assert_eq!(m["/http/status_code"]["intValue"], "201");
    assert_eq!(m["retry"]["boolValue"], true);
    assert_eq!(m["ratio"]["stringValue"]["value"], "0.25");
    assert_eq!(m["items"]["stringValue"]["value"], r#"["a","b"]"#);
    assert_eq!(m["sizes"]["stringValue"]["value"], "[1,2,3]");
    assert_eq!(m["otel.scope.name"]["stringValue"]["value"], "checkout-lib");
    assert_eq!(m["otel.scope.version"]["stringValue"]["value"], "2.1.0");
    assert_eq!(m["g.co/gae/app/module"]["stringValue"]["value"], "otel-e2e");
    let ann = &server["timeEvents"]["timeEvent"][0];
    assert_eq!(ann["annotation"]["description"]["value"], "validated");
    assert_eq!(
        ann["annotation"]["attributes"]["attributeMap"]["lines"]["intValue"],
        "3"
    );
    let link = &server["links"]["link"][0];
    assert_eq!(link["traceId"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(link["spanId"], "b7ad6b7169203331");
    // Times survive to the nanosecond's text.
    let t0 = server["startTime"].as_str().unwrap();
    let t1 = server["endTime"].as_str().unwrap();
    assert!(t0 < t1, "{t0} < {t1}");

    let db = cli::span_named(&spans, "INSERT orders");
    assert_eq!(db["spanKind"], "CLIENT");
    assert_eq!(db["parentSpanId"], server["spanId"]);
    assert_eq!(db["sameProcessAsParentSpan"], true);
    assert_eq!(db["status"]["code"], 2);
    assert_eq!(db["status"]["message"], "deadlock");
}
