//! A batch job instrumented only with `tracing` (spans, `#[instrument]`,
//! events), recorded into a spool by `tracespool-tracing`: concurrent tasks
//! on a multi-threaded tokio runtime, one trace.
//!
//! ```sh
//! cargo run -p tracespool-tracing --example tracing_job -- /tmp/job.spool
//! cargo run -p tracespool-uploader --bin tracespool -- trace /tmp/job.spool TRACE_ID
//! ```
//! (the job prints the trace id; `tracespool upload` sends it on.)
use std::time::Duration;

#[path = "support/spool_arg.rs"]
mod spool_arg;

use tracing::Instrument;
use tracing_subscriber::prelude::*;

#[tracing::instrument(fields(otel.kind = "client"))]
async fn fetch(item: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(5 + u64::from(item) * 3)).await;
    tracing::info!(bytes = item * 100, "fetched");
    item * 100
}

#[tracing::instrument]
async fn process(item: u32) -> u32 {
    let bytes = fetch(item).await;
    if item == 3 {
        tracing::warn!(item, "slow item");
    }
    bytes
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spool = spool_arg::spool_path(
        "tracing_job",
        "An async job instrumented with `tracing`, recorded into a spool.",
        "tracing.spool",
    );
    let (recorder, guard) = tracespool::Recorder::builder(&spool)
        .service_name("tracing-job")
        .build()?;
    tracing_subscriber::registry()
        .with(tracespool_tracing::TracespoolLayer::new(recorder.clone()))
        .init();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()?;
    let job = tracing::info_span!("nightly job", otel.kind = "internal");
    let trace_id = {
        use tracespool_tracing::SpanExt;
        job.spool_context().map(|c| c.trace_id().to_string())
    };
    let total: u32 = rt.block_on(
        async {
            let tasks: Vec<_> = (0..6)
                .map(|i| tokio::spawn(process(i).in_current_span()))
                .collect();
            let mut total = 0;
            for t in tasks {
                total += t.await.unwrap_or(0);
            }
            tracing::info!(total, "job done");
            total
        }
        .instrument(job),
    );
    recorder.flush()?;
    drop(guard);
    println!(
        "recorded the job ({total} bytes) into {}; trace {}",
        spool.display(),
        trace_id.unwrap_or_default()
    );
    Ok(())
}
