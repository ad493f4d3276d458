//! The OpenCensus quick-start snippet this project replaces, written with
//! tracespool. The original (Go, Stackdriver exporter):
//!
//! ```text
//! exporter, _ := stackdriver.NewExporter(stackdriver.Options{ProjectID: projectID})
//! trace.RegisterExporter(exporter)
//! trace.ApplyConfig(trace.Config{DefaultSampler: trace.AlwaysSample()})
//! ctx, span := trace.StartSpan(context.Background(), "doingWork")
//! for i := 0; i < 10; i++ { doWork(ctx, i) }   // each iteration a child span
//! span.End()
//! exporter.Flush()
//! ```
//!
//! With OpenCensus the spans live in RAM and are lost if the network or the
//! credentials are missing at `Flush`. Here they go to a local spool, and
//! `tracespool upload` sends them whenever it can.
//!
//! ```text
//! cargo run --example opencensus_port -- /tmp/demo.spool
//! ```
use std::time::Duration;

#[path = "support/spool_arg.rs"]
mod spool_arg;

use tracespool::{Recorder, Sampler, StatusCode};

fn do_work(rec: &Recorder, i: i64) {
    let mut span = rec.span("doWork").entered();
    span.set_attribute("iteration", i);
    let spin = std::time::Instant::now();
    while spin.elapsed() < Duration::from_millis(2) {
        std::hint::spin_loop();
    }
    span.add_annotation("work done", vec![]);
}

fn main() {
    let path = spool_arg::spool_path(
        "opencensus_port",
        "The OpenCensus quick-start, recorded with tracespool into a spool.",
        "opencensus.spool",
    );
    let (recorder, guard) = Recorder::builder(&path)
        .service_name("opencensus-port")
        .sampler(Sampler::AlwaysOn)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("opencensus_port: {e}");
            std::process::exit(2)
        });
    {
        let mut span = recorder.span("doingWork").entered();
        for i in 0..10 {
            do_work(&recorder, i);
        }
        span.set_status(StatusCode::Ok, "");
    }
    if let Err(e) = recorder.flush() {
        eprintln!("opencensus_port: {e}");
    }
    let st = recorder.stats();
    drop(guard);
    println!(
        "recorded {} spans into {} ({} written)",
        st.recorded,
        path.display(),
        st.written
    );
}
