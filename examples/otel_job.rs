//! A batch job instrumented only with the OpenTelemetry API, recorded into
//! a spool by `tracespool-opentelemetry`: worker threads, one trace, events
//! and an error status. Nothing is sent from the job; `tracespool upload`
//! sends the spool on later.
//!
//! ```sh
//! cargo run -p tracespool-opentelemetry --example otel_job -- /tmp/otel.spool
//! cargo run -p tracespool-uploader --bin tracespool -- trace /tmp/otel.spool TRACE_ID
//! ```
//! (the job prints the trace id.)
use std::time::Duration;

#[path = "support/spool_arg.rs"]
mod spool_arg;

use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spool = spool_arg::spool_path(
        "otel_job",
        "A batch job instrumented with the OpenTelemetry API, recorded into a spool.",
        "otel.spool",
    );
    let (recorder, guard) = tracespool::Recorder::builder(&spool)
        .service_name("otel-job")
        .build()?;
    // The one line that changes: the processor (was a batch exporter).
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_attributes([KeyValue::new("deployment.environment.name", "edge")])
                .build(),
        )
        .with_span_processor(tracespool_opentelemetry::SpoolSpanProcessor::new(recorder))
        .build();
    let tracer = provider.tracer_with_scope(
        InstrumentationScope::builder("otel-job")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );

    let job = tracer
        .span_builder("nightly job")
        .with_kind(SpanKind::Internal)
        .start(&tracer);
    let trace_id = job.span_context().trace_id();
    let cx = Context::current_with_span(job);
    std::thread::scope(|s| {
        for item in 0..4i64 {
            let (tracer, cx) = (&tracer, &cx);
            s.spawn(move || {
                let mut span = tracer
                    .span_builder("process item")
                    .with_kind(SpanKind::Client)
                    .with_attributes([KeyValue::new("item", item)])
                    .start_with_context(tracer, cx);
                std::thread::sleep(Duration::from_millis(5 + item as u64 * 3));
                span.add_event("fetched", vec![KeyValue::new("bytes", item * 100)]);
                if item == 3 {
                    span.set_status(Status::error("item 3 is slow"));
                }
                span.end();
            });
        }
    });
    cx.span().add_event("job done", vec![]);
    cx.span().end();
    provider.force_flush()?;
    provider.shutdown()?;
    drop(guard);
    println!(
        "recorded the job into {}; trace {trace_id}",
        spool.display()
    );
    Ok(())
}
