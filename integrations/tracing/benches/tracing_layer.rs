//! The cost on the application's thread of a `tracing` span with 4 fields
//! and one event, through `TracespoolLayer` and, in the same run, through
//! `tracing-opentelemetry` 0.34 with opentelemetry_sdk 0.33's batch span
//! processor and an exporter that does nothing. Both hand spans to a
//! background thread that discards them (tracespool's writer encodes them
//! first, into a null sink). Paired rounds (alternating which peer goes
//! first), median and quartiles of the per-round ratios, on 1 and 2
//! threads; then each side's drops: tracespool counts them, the batch
//! processor drops silently.
//!
//! `cargo bench -p tracespool-tracing --bench tracing_layer`
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use tracespool::testing::BuildWithSink;
use tracespool::Recorder;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

#[path = "../../../recorder/benches/support/null_peers.rs"]
mod null_peers;
#[path = "../../../recorder/benches/support/paired.rs"]
mod paired;
use null_peers::{NullExporter, NullSink};

/// A span with 4 fields and one event, as instrumented code writes it.
#[inline(never)]
fn workload(i: i64) {
    let span = tracing::info_span!(
        "GET /api/items/{id}",
        http.request.method = "GET",
        http.route = "/api/items/{id}",
        http.response.status_code = 200,
        user.id = i,
    );
    let _e = span.enter();
    tracing::info!(cache = "miss", "looked up the cache");
}

fn run_threads(threads: usize, iters: u64, d: &Dispatch) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                tracing::dispatcher::with_default(d, || {
                    for i in 0..iters {
                        workload(black_box(i as i64));
                    }
                })
            });
        }
    });
    start.elapsed()
}

fn main() {
    let written = Arc::new(AtomicU64::new(0));
    let (rec, guard) = Recorder::builder("unused")
        .build_with_sink(NullSink(written.clone()))
        .unwrap();
    let ours = Dispatch::new(
        tracing_subscriber::registry().with(tracespool_tracing::TracespoolLayer::new(rec.clone())),
    );
    let exported = Arc::new(AtomicU64::new(0));
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(NullExporter(exported.clone())).build())
        .build();
    let theirs = Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"))),
    );
    let otel_started = paired::on_one_and_two_threads(
        ("TracespoolLayer", "tracing-opentelemetry"),
        |threads, iters| run_threads(threads, iters, &ours),
        |threads, iters| run_threads(threads, iters, &theirs),
    );
    rec.flush().unwrap();
    let st = rec.stats();
    let _ = provider.force_flush();
    null_peers::report_drops(
        &st,
        written.load(Ordering::Relaxed),
        "tracing-opentelemetry",
        otel_started,
        exported.load(Ordering::Relaxed),
    );
    drop(guard);
    let _ = provider.shutdown();
}
