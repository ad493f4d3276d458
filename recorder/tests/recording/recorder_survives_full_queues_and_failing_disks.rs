//! A full queue, a full disk, a failing sink and a deleted spool file: the
//! app keeps running, never blocks (with the drop policy), never panics, and
//! every lost span is counted exactly.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use tracespool::adapter::FinishedSpan;
use tracespool::testing::{BuildWithSink, SpanSink, SqliteSink};
use tracespool::*;
use tracespool_spool::*;

/// A sink that blocks until released, then fails while `fail` is set.
struct FaultySink {
    inner: Option<SqliteSink>,
    gate: Option<Arc<Barrier>>,
    fail: Arc<AtomicBool>,
    appended: Arc<AtomicU64>,
}

impl SpanSink for FaultySink {
    fn append(
        &mut self,
        rows: &[NewRow<'_>],
        drops: RecorderDrops,
    ) -> Result<AppendOutcome, SpoolError> {
        if let Some(g) = self.gate.take() {
            g.wait();
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(SpoolError::Open(OpenError::Io {
                path: "injected".into(),
                source: std::io::Error::other("injected write failure"),
            }));
        }
        self.appended.fetch_add(rows.len() as u64, Ordering::SeqCst);
        match &mut self.inner {
            Some(s) => s.append(rows, drops),
            None => Ok(AppendOutcome::all_written(rows.len() as u64)),
        }
    }
}

/// A recorder with a 64-span queue whose writer blocks in its sink (on the
/// first batch, at most 64 spans: a writer draining while the test records
/// would otherwise take up to a default batch, 4,096) until `gate` is
/// passed.
struct Gated {
    rec: Recorder,
    guard: FlushGuard,
    gate: Arc<Barrier>,
    /// Spans the sink received.
    appended: Arc<AtomicU64>,
}

fn gated_recorder() -> Gated {
    let gate = Arc::new(Barrier::new(2));
    let sink = FaultySink {
        inner: None,
        gate: Some(gate.clone()),
        fail: Arc::new(AtomicBool::new(false)),
        appended: Arc::new(AtomicU64::new(0)),
    };
    let appended = sink.appended.clone();
    let (rec, guard) = Recorder::builder("unused")
        .queue_capacity(64)
        .max_batch(64)
        .build_with_sink(sink)
        .unwrap();
    Gated {
        rec,
        guard,
        gate,
        appended,
    }
}

/// Every one of `total` spans was either dropped (and counted) or
/// recorded, and every recorded one reached the sink.
fn assert_every_span_accounted_for(rec: &Recorder, appended: &AtomicU64, total: u64) {
    let st = rec.stats();
    assert_eq!(st.recorded + st.dropped_queue_full, total);
    assert_eq!(st.written, appended.load(Ordering::SeqCst));
    assert_eq!(st.written, st.recorded);
}

#[test]
fn full_queue_drops_are_counted_and_the_caller_never_blocks() {
    let Gated {
        rec,
        guard,
        gate,
        appended,
    } = gated_recorder();
    // The writer is stuck in the sink until the gate opens; recording 10,000
    // spans must still finish (bounded wait: a blocked caller fails here).
    let (tx, rx) = mpsc::channel();
    let r2 = rec.clone();
    std::thread::spawn(move || {
        for _ in 0..10_000 {
            drop(r2.span("x"));
        }
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("recording blocked on a full queue");
    let st = rec.stats();
    assert!(st.dropped_queue_full > 0);
    gate.wait();
    rec.flush().unwrap();
    assert_every_span_accounted_for(&rec, &appended, 10_000);
    drop(guard);
}

#[test]
fn an_adapter_s_span_is_not_built_when_the_queue_is_full() {
    // An overloaded application pays less per dropped span, not more: once
    // a span of this thread was dropped and the queue is still full, an
    // adapter's span is counted as dropped without running its `fill`.
    let Gated {
        rec, guard, gate, ..
    } = gated_recorder();
    let built = AtomicU64::new(0);
    let record = |n: u64| {
        for _ in 0..n {
            rec.record_finished(|s| {
                built.fetch_add(1, Ordering::Relaxed);
                s.name = "adapter".into();
            });
        }
    };
    // The writer takes the first spans and blocks in the sink; the lanes
    // (64 spans) fill up behind it.
    record(10_000);
    let full = rec.stats();
    assert!(full.dropped_queue_full > 9_000, "{full:?}");
    let built_while_full = built.load(Ordering::Relaxed);
    assert!(
        built_while_full < 10_000 - 9_000 + 100,
        "spans built only to be dropped: {built_while_full}"
    );
    gate.wait();
    rec.flush().unwrap();
    // Room again: spans are built and kept.
    built.store(0, Ordering::Relaxed);
    record(10);
    rec.flush().unwrap();
    assert_eq!(built.load(Ordering::Relaxed), 10);
    let st = rec.stats();
    assert_eq!(st.recorded + st.dropped_queue_full, 10_010);
    assert_eq!(st.written, st.recorded);
    drop(guard);
}

/// An adapter's span value, built on the writer.
struct Value(u64);

impl FinishedSpan for Value {
    fn fill(self, out: &mut tracespool_schema::SpanData) {
        out.span_id = tracespool_schema::SpanId((self.0 + 1).to_be_bytes());
        out.name = "deferred".into();
    }
}

#[test]
fn a_full_deferred_queue_drops_and_counts_and_never_blocks() {
    let Gated {
        rec,
        guard,
        gate,
        appended,
    } = gated_recorder();
    let queue = rec.deferred_queue::<Value>();
    let (tx, rx) = mpsc::channel();
    let q2 = queue.clone();
    std::thread::spawn(move || {
        for i in 0..10_000 {
            q2.record(Value(i));
        }
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("recording blocked on a full deferred queue");
    assert!(rec.stats().dropped_queue_full > 9_000);
    gate.wait();
    // The queue's handles go away before the flush: its spans and its drop
    // count stay.
    drop(queue);
    rec.flush().unwrap();
    assert_every_span_accounted_for(&rec, &appended, 10_000);
    drop(guard);
}

#[test]
fn block_policy_loses_no_deferred_span_with_a_tiny_queue() {
    assert_block_policy_keeps_every_span(|rec| {
        let queue = rec.deferred_queue::<Value>();
        move |n| queue.record(Value(n))
    });
}

/// With a 4-span queue and `OnFull::Block`, two threads each record 5,000
/// spans with the recorder `make` returns; every one of them is written.
fn assert_block_policy_keeps_every_span<F: Fn(u64) + Sync>(make: impl FnOnce(&Recorder) -> F) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.spool");
    let (rec, guard) = Recorder::builder(&path)
        .queue_capacity(4)
        .on_full(OnFull::Block)
        .build()
        .unwrap();
    let record = make(&rec);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let record = &record;
            s.spawn(move || {
                for i in 0..5_000 {
                    record(t * 5_000 + i);
                }
            });
        }
    });
    rec.flush().unwrap();
    let st = rec.stats();
    assert_eq!((st.written, st.dropped_queue_full), (10_000, 0));
    drop(guard);
    let r = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    assert_eq!(r.totals().unwrap().pending_rows, 10_000);
}

#[test]
fn block_policy_loses_nothing_with_a_tiny_queue() {
    assert_block_policy_keeps_every_span(|rec| {
        let rec = rec.clone();
        move |_| drop(rec.span("x"))
    });
}

#[test]
fn failing_writes_are_counted_and_reported_to_the_spool_later() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.spool");
    let fail = Arc::new(AtomicBool::new(true));
    let sink = FaultySink {
        inner: Some(SqliteSink::open(&path, Budget::default(), SpoolOptions::default()).unwrap()),
        gate: None,
        fail: fail.clone(),
        appended: Arc::new(AtomicU64::new(0)),
    };
    let (rec, guard) = Recorder::builder("unused").build_with_sink(sink).unwrap();
    for _ in 0..100 {
        drop(rec.span("lost"));
    }
    assert_eq!(rec.flush(), Err(FlushError::WriteErrors(100)));
    fail.store(false, Ordering::SeqCst);
    for _ in 0..10 {
        drop(rec.span("kept"));
    }
    rec.flush().unwrap();
    let st = rec.stats();
    assert_eq!(
        (st.written, st.dropped_write_error, st.recorded),
        (10, 100, 110)
    );
    drop(guard);
    let r = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    assert_eq!(r.totals().unwrap().pending_rows, 10);
    assert_eq!(r.counter(Counter::RecorderWriteErrors).unwrap(), 100);
}

/// Spans the writer failed to write before `flush()` was called are still
/// reported by it: `Ok` means every span ended before the call is in the
/// spool.
#[test]
fn a_flush_reports_write_errors_that_happened_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.spool");
    let fail = Arc::new(AtomicBool::new(true));
    let sink = FaultySink {
        inner: Some(SqliteSink::open(&path, Budget::default(), SpoolOptions::default()).unwrap()),
        gate: None,
        fail: fail.clone(),
        appended: Arc::new(AtomicU64::new(0)),
    };
    let (rec, guard) = Recorder::builder("unused")
        .flush_interval(Duration::from_millis(5))
        .build_with_sink(sink)
        .unwrap();
    for _ in 0..50 {
        drop(rec.span("lost"));
    }
    // The writer fails them on its own timer, before any flush.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rec.stats().dropped_write_error < 50 {
        assert!(std::time::Instant::now() < deadline, "the writer never ran");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(rec.flush(), Err(FlushError::WriteErrors(50)));
    // Reported once: the next flush has nothing to report.
    fail.store(false, Ordering::SeqCst);
    drop(rec.span("kept"));
    assert_eq!(rec.flush(), Ok(()));
    drop(guard);
}

#[test]
fn a_full_disk_drops_and_counts_then_recovers_room() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.spool");
    let opts = SpoolOptions::default().with_max_page_count(64);
    let (rec, guard) = Recorder::builder(&path)
        .spool_options(opts)
        .build()
        .unwrap();
    let big = "x".repeat(2000);
    let mut flush_errors = 0;
    for _ in 0..20 {
        for _ in 0..20 {
            let mut s = rec.span("fill");
            s.set_attribute("payload", big.clone());
        }
        if rec.flush().is_err() {
            flush_errors += 1;
        }
    }
    let st = rec.stats();
    assert!(flush_errors > 0 && st.dropped_write_error > 0, "{st:?}");
    assert_eq!(st.written + st.dropped_write_error, 400);
    // What was committed is intact and readable.
    let mut r = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    let t = r.totals().unwrap();
    assert_eq!(t.pending_rows, st.written);
    // The uploader frees room; the recorder writes again (after its 1 s
    // reopen back-off) without being restarted.
    let lease = r.lease(0, 1_000_000).unwrap();
    r.ack(lease[0].row_id, lease.last().unwrap().row_id)
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        drop(rec.span("after"));
        if rec.flush().is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recovered: {:?}",
            rec.stats()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(guard);
}

#[test]
fn a_deleted_spool_file_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.spool");
    let (rec, guard) = Recorder::builder(&path).build().unwrap();
    drop(rec.span("before"));
    rec.flush().unwrap();
    for f in ["d.spool", "d.spool-wal", "d.spool-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    drop(rec.span("after"));
    rec.flush().unwrap();
    drop(guard);
    let r = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    assert_eq!(r.totals().unwrap().pending_rows, 1);
}
