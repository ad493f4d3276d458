//! The cost on the application's thread of an OpenTelemetry API span with
//! 4 attributes (and then of a heavier one: 12 attributes and 2 events),
//! through `SpoolSpanProcessor` and, in the same run, through
//! opentelemetry_sdk 0.33's `BatchSpanProcessor` with an exporter that does
//! nothing. Both hand the span to a background thread (tracespool's writer
//! converts nothing more, encodes it and gives it to a null sink). Paired
//! rounds (alternating which peer goes first), median and quartiles of the
//! per-round ratios, on 1 and 2 threads; then each side's drops: tracespool
//! counts them, the batch processor drops silently. Everything twice: by
//! the recording threads' elapsed time, then by their own CPU time (which
//! leaves out each side's background thread taking their cores).
//!
//! `cargo bench -p tracespool-opentelemetry --bench otel_processor`
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::trace::{Span as _, SpanKind, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracer, SdkTracerProvider};
use tracespool::testing::BuildWithSink;
use tracespool::Recorder;
use tracespool_opentelemetry::SpoolSpanProcessor;

#[path = "../../../recorder/benches/support/null_peers.rs"]
mod null_peers;
#[path = "../../../recorder/benches/support/paired.rs"]
mod paired;
use null_peers::{NullExporter, NullSink};

/// A span with 4 attributes, as instrumented code writes it.
#[inline(never)]
fn workload(tracer: &SdkTracer, i: i64) {
    span_with_4_attributes(tracer, i).end();
}

#[inline(always)]
fn span_with_4_attributes(tracer: &SdkTracer, i: i64) -> opentelemetry_sdk::trace::Span {
    let mut span = tracer
        .span_builder("GET /api/items/{id}")
        .with_kind(SpanKind::Server)
        .start(tracer);
    span.set_attribute(KeyValue::new("http.request.method", "GET"));
    span.set_attribute(KeyValue::new("http.route", "/api/items/{id}"));
    span.set_attribute(KeyValue::new("http.response.status_code", 200));
    span.set_attribute(KeyValue::new("user.id", i));
    span
}

/// A heavier span: 12 attributes and 2 events with an attribute each.
#[inline(never)]
fn heavy_workload(tracer: &SdkTracer, i: i64) {
    let mut span = span_with_4_attributes(tracer, i);
    for key in [
        "server.address",
        "server.port",
        "url.scheme",
        "url.path",
        "client.address",
        "network.protocol.version",
        "user_agent.original",
        "http.request.body.size",
    ] {
        span.set_attribute(KeyValue::new(key, "a value"));
    }
    span.add_event("cache miss", vec![KeyValue::new("cache.key", i)]);
    span.add_event("retry", vec![KeyValue::new("retry.attempt", 2)]);
    span.end();
}

/// What a round measures.
#[derive(Clone, Copy)]
enum Clock {
    /// The elapsed time of the recording threads: their own work and
    /// whatever else (each side's background thread) took their cores.
    Wall,
    /// The CPU time of the recording threads only (mean per thread): the
    /// work done on the application's threads, whoever else runs.
    CallerCpu,
}

/// This thread's CPU time so far (the first field of its schedstat).
fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    Duration::from_nanos(s.split(' ').next().unwrap().parse().unwrap())
}

fn run_threads(
    threads: usize,
    iters: u64,
    tracer: &SdkTracer,
    workload: fn(&SdkTracer, i64),
    clock: Clock,
) -> Duration {
    let start = Instant::now();
    let cpu: Duration = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let cpu = thread_cpu();
                    for i in 0..iters {
                        workload(tracer, black_box(i as i64));
                    }
                    thread_cpu() - cpu
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    match clock {
        Clock::Wall => start.elapsed(),
        Clock::CallerCpu => cpu / threads as u32,
    }
}

fn main() {
    for (clock, what) in [
        (Clock::Wall, "elapsed time"),
        (Clock::CallerCpu, "CPU time of the recording threads"),
    ] {
        eprintln!("span with 4 attributes, {what}:");
        compare(workload, clock);
        eprintln!("span with 12 attributes and 2 events, {what}:");
        compare(heavy_workload, clock);
    }
}

/// Both peers, fresh, on one workload; then each side's drops.
fn compare(workload: fn(&SdkTracer, i64), clock: Clock) {
    let written = Arc::new(AtomicU64::new(0));
    let (rec, guard) = Recorder::builder("unused")
        .build_with_sink(NullSink(written.clone()))
        .unwrap();
    let ours_provider = SdkTracerProvider::builder()
        .with_span_processor(SpoolSpanProcessor::new(rec.clone()))
        .build();
    let ours = ours_provider.tracer("bench");
    let exported = Arc::new(AtomicU64::new(0));
    let theirs_provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(NullExporter(exported.clone())).build())
        .build();
    let theirs = theirs_provider.tracer("bench");
    let otel_started = paired::on_one_and_two_threads(
        ("SpoolSpanProcessor", "BatchSpanProcessor"),
        |threads, iters| run_threads(threads, iters, &ours, workload, clock),
        |threads, iters| run_threads(threads, iters, &theirs, workload, clock),
    );
    rec.flush().unwrap();
    let st = rec.stats();
    let _ = theirs_provider.force_flush();
    null_peers::report_drops(
        &st,
        written.load(Ordering::Relaxed),
        "batch processor",
        otel_started,
        exported.load(Ordering::Relaxed),
    );
    drop(guard);
    let _ = theirs_provider.shutdown();
    let _ = ours_provider.shutdown();
}
