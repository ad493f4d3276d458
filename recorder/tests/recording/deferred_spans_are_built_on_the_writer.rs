//! An adapter's own span values, queued with `DeferredQueue::record`, are
//! built on the writer thread with the same caps, resource, flush and
//! shutdown guarantees as spans built on the caller's thread; a panicking
//! `fill` loses its span, not the writer; a queue dropped with spans still
//! in it loses none.
use std::sync::{Arc, Mutex};

use tracespool::adapter::FinishedSpan;
use tracespool::testing::{
    AppendOutcome, BuildWithSink, NewRow, RecorderDrops, SpanSink, SpoolError,
};
use tracespool::*;
use tracespool_schema::{Attribute, Resource, SpanData, SpanId, SpanRecord, TraceId};

use crate::spool_records;

/// A span as an adapter might hold it: plain values, converted by `fill`.
struct Foreign {
    n: u8,
    attributes: usize,
    /// Where `fill` ran, by thread name.
    seen_on: Arc<Mutex<Vec<String>>>,
    panic: bool,
}

impl FinishedSpan for Foreign {
    fn fill(self, out: &mut SpanData) {
        self.seen_on.lock().unwrap().push(
            std::thread::current()
                .name()
                .unwrap_or("unnamed")
                .to_owned(),
        );
        assert!(!self.panic, "an adapter's bug");
        out.trace_id = TraceId([self.n; 16]);
        out.span_id = SpanId([self.n; 8]);
        out.name = format!("foreign {}", self.n).into();
        out.start_ns = 2_000;
        out.end_ns = 1_000;
        out.attributes
            .extend((0..self.attributes).map(|i| Attribute::new(format!("k{i}"), i as i64)));
    }
}

fn service_name(r: &SpanRecord) -> &AttributeValue {
    &r.resource
        .attributes
        .iter()
        .find(|a| a.key == "service.name")
        .unwrap()
        .value
}

fn foreign(n: u8, seen_on: &Arc<Mutex<Vec<String>>>) -> Foreign {
    Foreign {
        n,
        attributes: 1,
        seen_on: seen_on.clone(),
        panic: false,
    }
}

#[test]
fn spans_are_built_on_the_writer_with_caps_and_resource() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.spool");
    let (rec, guard) = Recorder::builder(&path)
        .service_name("recorder-service")
        .build()
        .unwrap();
    let seen_on = Arc::new(Mutex::new(Vec::new()));
    let queue = rec.deferred_queue::<Foreign>();
    queue.record(foreign(1, &seen_on));
    let resource = rec
        .span_resource(Resource::new(vec![Attribute::new(
            "service.name",
            "adapter-service",
        )]))
        .unwrap();
    queue.set_resource(&resource);
    queue.record(Foreign {
        attributes: limits::MAX_ATTRIBUTES + 8,
        ..foreign(2, &seen_on)
    });
    rec.flush().unwrap();
    assert_eq!(
        *seen_on.lock().unwrap(),
        ["tracespool-writer", "tracespool-writer"]
    );
    let st = rec.stats();
    assert_eq!((st.recorded, st.written), (2, 2));
    drop(guard);

    let recs = spool_records::read_all(&path);
    let first = spool_records::find(&recs, "foreign 1");
    assert_eq!(first.span.trace_id, TraceId([1; 16]));
    assert_eq!(
        first.span.end_ns, 2_000,
        "an end before the start is the start"
    );
    assert_eq!(
        service_name(first),
        &AttributeValue::from("recorder-service")
    );
    let second = spool_records::find(&recs, "foreign 2");
    assert_eq!(second.span.attributes.len(), limits::MAX_ATTRIBUTES);
    assert_eq!(second.span.dropped.attributes, 8);
    assert_eq!(
        service_name(second),
        &AttributeValue::from("adapter-service")
    );
}

#[test]
fn a_panicking_fill_loses_its_span_not_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.spool");
    let (rec, guard) = Recorder::builder(&path).build().unwrap();
    let seen_on = Arc::new(Mutex::new(Vec::new()));
    let queue = rec.deferred_queue::<Foreign>();
    for n in 0..10 {
        queue.record(Foreign {
            panic: n == 3,
            ..foreign(n, &seen_on)
        });
    }
    rec.flush().unwrap();
    // The writer is alive: spans recorded afterwards, natively too, are
    // written.
    drop(rec.span("native, after the panic"));
    queue.record(foreign(10, &seen_on));
    rec.flush().unwrap();
    let st = rec.stats();
    assert_eq!((st.written, st.dropped_other), (11, 1));
    drop(guard);
    let recs = spool_records::read_all(&path);
    assert_eq!(recs.len(), 11);
    assert!(recs.iter().all(|r| r.span.name != "foreign 3"));
}

#[test]
fn spans_left_in_a_dropped_queue_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.spool");
    let (rec, guard) = Recorder::builder(&path).build().unwrap();
    let seen_on = Arc::new(Mutex::new(Vec::new()));
    let queue = rec.deferred_queue::<Foreign>();
    let clone = queue.clone();
    for n in 0..100 {
        clone.record(foreign(n, &seen_on));
    }
    drop(queue);
    drop(clone);
    rec.flush().unwrap();
    assert_eq!(rec.stats().written, 100);
    drop(guard);
    assert_eq!(spool_records::read_all(&path).len(), 100);
}

#[test]
fn after_shutdown_spans_are_counted_not_queued() {
    let (rec, guard) = Recorder::builder("unused")
        .build_with_sink(DiscardingSink)
        .unwrap();
    let seen_on = Arc::new(Mutex::new(Vec::new()));
    let queue = rec.deferred_queue::<Foreign>();
    queue.record(foreign(1, &seen_on));
    assert!(rec.shutdown(std::time::Duration::from_secs(10)));
    queue.record(foreign(2, &seen_on));
    let st = rec.stats();
    assert_eq!((st.written, st.dropped_other), (1, 1));
    assert_eq!(seen_on.lock().unwrap().len(), 1, "built only once");
    drop(guard);
}

struct DiscardingSink;

impl SpanSink for DiscardingSink {
    fn append(
        &mut self,
        rows: &[NewRow<'_>],
        _: RecorderDrops,
    ) -> Result<AppendOutcome, SpoolError> {
        Ok(AppendOutcome::all_written(rows.len() as u64))
    }
}
