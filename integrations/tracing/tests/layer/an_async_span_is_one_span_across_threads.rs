//! A span entered many times across `.await` points, on the worker
//! threads of a multi-threaded runtime, is one span with its true
//! duration, and its children are its children.
use std::time::Duration;

use crate::spool_records;
use spool_records::read_all;
use tracespool::{OnFull, Recorder};
use tracespool_tracing::TracespoolLayer;
use tracing::Instrument;
use tracing_subscriber::prelude::*;

#[test]
fn one_span_from_creation_to_close_over_awaits_and_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.spool");
    let (rec, guard) = Recorder::builder(&path)
        .on_full(OnFull::Block)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(TracespoolLayer::new(rec.clone()));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let job = async {
            let mut tasks = Vec::new();
            for i in 0..4 {
                tasks.push(tokio::spawn(
                    async move {
                        for _ in 0..5 {
                            tokio::time::sleep(Duration::from_millis(4)).await;
                            tokio::task::yield_now().await;
                        }
                        tracing::info!(i, "task done");
                    }
                    .instrument(tracing::info_span!("task", i)),
                ));
            }
            for t in tasks {
                t.await.unwrap();
            }
        };
        job.instrument(tracing::info_span!("job")).await;
    });
    rec.flush().unwrap();
    drop(guard);
    let recs = read_all(&path);
    assert_eq!(recs.len(), 5, "one job and four tasks, each once");
    let job = recs.iter().find(|r| r.span.name == "job").unwrap();
    for t in recs.iter().filter(|r| r.span.name == "task") {
        assert_eq!(t.span.parent_span_id, Some(job.span.span_id));
        assert_eq!(t.span.trace_id, job.span.trace_id);
        // Five sleeps of 4 ms: its true duration, not one poll's.
        assert!(
            t.span.end_ns - t.span.start_ns >= 20_000_000,
            "{} ns",
            t.span.end_ns - t.span.start_ns
        );
        assert_eq!(t.span.events.len(), 1);
        assert!(t.span.start_ns >= job.span.start_ns && t.span.end_ns <= job.span.end_ns);
    }
}
