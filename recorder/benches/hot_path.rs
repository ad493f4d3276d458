//! Hot path: one span with 4 attributes, start to end, on the caller's
//! thread, through tracespool and, in the same run, through the
//! OpenTelemetry SDK (batch span processor, exporter that does nothing).
//! Both hand spans to a background thread that discards them, so the figure
//! is the cost paid by the application's thread. At the end, each side's
//! drops are printed: tracespool counts its drops in `stats()`,
//! OpenTelemetry's batch processor drops silently.
//!
//! After criterion's figures, a **paired** measurement: rounds that run
//! the two peers back to back on the same threads (alternating which goes
//! first), and the median of the per-round ratios. On a noisy 2-core VM the
//! two criterion groups run seconds apart and their ratio moves with
//! whatever the machine does meanwhile; the paired ratio does not.
//!
//! `cargo bench -p tracespool --bench hot_path`
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use tracespool::testing::BuildWithSink;
use tracespool::Recorder;

#[path = "support/null_peers.rs"]
mod null_peers;
#[path = "support/paired.rs"]
mod paired;
use null_peers::{NullExporter, NullSink};

fn tracespool_span(rec: &Recorder, i: i64) {
    let mut s = rec.span("GET /api/items/{id}");
    s.set_attribute("http.request.method", "GET");
    s.set_attribute("http.route", "/api/items/{id}");
    s.set_attribute("http.response.status_code", 200i64);
    s.set_attribute("user.id", i);
}

fn otel_span(tracer: &opentelemetry_sdk::trace::Tracer, i: i64) {
    let mut s = tracer.start("GET /api/items/{id}");
    s.set_attribute(KeyValue::new("http.request.method", "GET"));
    s.set_attribute(KeyValue::new("http.route", "/api/items/{id}"));
    s.set_attribute(KeyValue::new("http.response.status_code", 200i64));
    s.set_attribute(KeyValue::new("user.id", i));
    s.end();
}

fn run_threads(threads: usize, iters: u64, f: impl Fn(i64) + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for i in 0..iters {
                    f(black_box(i as i64));
                }
            });
        }
    });
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let written = Arc::new(AtomicU64::new(0));
    let (rec, guard) = Recorder::builder("unused")
        .build_with_sink(NullSink(written.clone()))
        .unwrap();
    let exported = Arc::new(AtomicU64::new(0));
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(NullExporter(exported.clone())).build())
        .build();
    let tracer = provider.tracer("bench");
    let otel_started = AtomicU64::new(0);

    for threads in [1usize, 2] {
        let mut g = c.benchmark_group(format!("hot_path/{threads}_thread"));
        g.bench_function("tracespool", |b| {
            b.iter_custom(|iters| run_threads(threads, iters, |i| tracespool_span(&rec, i)))
        });
        g.bench_function("opentelemetry_sdk", |b| {
            b.iter_custom(|iters| {
                otel_started.fetch_add(iters * threads as u64, Ordering::Relaxed);
                run_threads(threads, iters, |i| otel_span(&tracer, i))
            })
        });
        g.finish();
    }

    for threads in [1usize, 2] {
        paired(threads, &rec, &tracer, &otel_started);
    }

    rec.flush().unwrap();
    let st = rec.stats();
    let _ = provider.force_flush();
    let started = otel_started.load(Ordering::Relaxed);
    null_peers::report_drops(
        &st,
        written.load(Ordering::Relaxed),
        "opentelemetry_sdk",
        started,
        exported.load(Ordering::Relaxed),
    );
    drop(guard);
    let _ = provider.shutdown();
}

/// Rounds of (tracespool, OpenTelemetry) back to back, ~0.1 s each; prints
/// the median and quartiles of the per-round ratio of ns per span.
fn paired(
    threads: usize,
    rec: &Recorder,
    tracer: &opentelemetry_sdk::trace::Tracer,
    otel_started: &AtomicU64,
) {
    let iters = 400_000 / threads as u64;
    paired::paired_rounds(
        &format!("{threads} thread(s)"),
        ("tracespool", "opentelemetry_sdk"),
        21,
        iters,
        || run_threads(threads, iters, |i| tracespool_span(rec, i)),
        || {
            otel_started.fetch_add(iters * threads as u64, Ordering::Relaxed);
            run_threads(threads, iters, |i| otel_span(tracer, i))
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
