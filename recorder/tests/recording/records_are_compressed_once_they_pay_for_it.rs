//! Records are compressed (version 4) once a process has written enough
//! spans to pay for a dictionary (trained on a helper thread meanwhile), or
//! at once with the dictionary the spool already has; never at the cost of
//! a span.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracespool::testing::{BuildWithSink, SpanSink, SqliteSink};
use tracespool::*;
use tracespool_schema::{COMPRESSED_VERSION, RECORD_VERSION};
use tracespool_spool::*;

use crate::spool_records::read_all;

fn record(rec: &Recorder, n: usize, name: &str) {
    for i in 0..n {
        let mut s = rec.span(name.to_owned());
        s.set_attribute("http.route", "/api/v1/items/{id}");
        s.set_attribute("i", i as i64);
    }
    rec.flush().unwrap();
}

/// Records rounds of 100 spans (each flushed) until `done`, for at most
/// 60 s (the dictionary is trained on a helper thread, slowly in a debug
/// build); returns the rounds recorded.
fn record_until(rec: &Recorder, name: &str, done: impl Fn() -> bool) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut rounds = 0;
    while !done() {
        assert!(Instant::now() < deadline, "not done after {rounds} rounds");
        record(rec, 100, name);
        rounds += 1;
        // Pacing, not synchronisation: the helper thread gets the CPU.
        std::thread::sleep(Duration::from_millis(5));
    }
    rounds
}

fn versions(path: &std::path::Path) -> (usize, usize) {
    let recs = read_all(path);
    let plain = recs.iter().filter(|r| r.version == RECORD_VERSION).count();
    let packed = recs
        .iter()
        .filter(|r| r.version == COMPRESSED_VERSION)
        .count();
    assert_eq!(plain + packed, recs.len());
    (plain, packed)
}

fn dictionaries(path: &std::path::Path) -> usize {
    SpoolReader::open(path, &SpoolOptions::default())
        .unwrap()
        .dictionaries()
        .unwrap()
        .len()
}

#[test]
fn a_short_job_writes_plain_records_and_no_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.spool");
    let (rec, guard) = Recorder::builder(&path).build().unwrap();
    record(&rec, 100, "short");
    drop(guard);
    assert_eq!(versions(&path), (100, 0));
    assert_eq!(dictionaries(&path), 0);
}

#[test]
fn a_long_run_compresses_after_its_first_spans_and_the_next_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.spool");
    let (rec, guard) = Recorder::builder(&path)
        .service_name("kiosk")
        .build()
        .unwrap();
    // Plain while learning (the batch that passes 256 spans starts the
    // training) and while the dictionary is trained; then compressed.
    let rounds = record_until(&rec, "long", || versions(&path).1 > 0);
    record(&rec, 100, "long");
    drop(guard);
    let recs = read_all(&path);
    let first_packed = recs
        .iter()
        .position(|r| r.version == COMPRESSED_VERSION)
        .unwrap();
    assert!(first_packed >= 300, "compressed after {first_packed} spans");
    assert!(
        recs[first_packed..]
            .iter()
            .all(|r| r.version == COMPRESSED_VERSION),
        "every record after the first compressed one is compressed"
    );
    assert_eq!(recs.len(), rounds * 100 + 100);
    let (plain, packed) = versions(&path);
    assert_eq!(dictionaries(&path), 1);
    let bytes = SpoolReader::open(&path, &SpoolOptions::default())
        .unwrap()
        .totals()
        .unwrap()
        .pending_bytes;

    // The next run of the program (another pid, same shape of span)
    // reuses the spool's dictionary from its first span.
    let (rec, guard) = Recorder::builder(&path)
        .service_name("kiosk")
        .build()
        .unwrap();
    record(&rec, 10, "next run");
    drop(guard);
    assert_eq!(versions(&path), (plain, packed + 10));
    assert_eq!(dictionaries(&path), 1, "no second dictionary");
    let more = SpoolReader::open(&path, &SpoolOptions::default())
        .unwrap()
        .totals()
        .unwrap()
        .pending_bytes
        - bytes;
    let plain_row = bytes / (plain + packed) as u64; // (an average over both)
    assert!(more / 10 < plain_row, "{} bytes a span", more / 10);
}

#[test]
fn compression_off_writes_version_3_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("off.spool");
    let (rec, guard) = Recorder::builder(&path)
        .record_compression(RecordCompression::Off)
        .build()
        .unwrap();
    record(&rec, 600, "off");
    drop(guard);
    assert_eq!(versions(&path), (600, 0));
    assert_eq!(dictionaries(&path), 0);
}

/// The spool, but it claims another dictionary is stored under ours:
/// when registered (`refuse_use`) or with the batch (`refuse_append`).
struct Conflicting {
    inner: SqliteSink,
    refuse_use: bool,
    refuse_append: Arc<AtomicU64>,
    use_calls: Arc<AtomicU64>,
}

impl SpanSink for Conflicting {
    fn append(
        &mut self,
        rows: &[NewRow<'_>],
        drops: RecorderDrops,
    ) -> Result<AppendOutcome, SpoolError> {
        let packed = rows.iter().any(|r| r.record[4] == COMPRESSED_VERSION);
        if packed && self.refuse_append.load(Ordering::SeqCst) > 0 {
            self.refuse_append.fetch_sub(1, Ordering::SeqCst);
            return Err(SpoolError::DictionaryConflict { id: 1 });
        }
        self.inner.append(rows, drops)
    }
    fn newest_dictionary(&mut self) -> Result<Option<(u32, Vec<u8>)>, SpoolError> {
        self.inner.newest_dictionary()
    }
    fn use_dictionary(&mut self, id: u32, dictionary: &[u8]) -> Result<bool, SpoolError> {
        self.use_calls.fetch_add(1, Ordering::SeqCst);
        if self.refuse_use {
            return Err(SpoolError::DictionaryConflict { id });
        }
        self.inner.use_dictionary(id, dictionary)
    }
}

fn rec_count(path: &std::path::Path) -> u64 {
    SpoolReader::open(path, &SpoolOptions::default())
        .unwrap()
        .totals()
        .unwrap()
        .pending_rows
}

#[test]
fn a_dictionary_conflict_costs_no_span() {
    for (refuse_use, refuse_append) in [(true, 0), (false, 1)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.spool");
        let inner = SqliteSink::open(&path, Budget::default(), SpoolOptions::default()).unwrap();
        let refusals = Arc::new(AtomicU64::new(refuse_append));
        let use_calls = Arc::new(AtomicU64::new(0));
        let sink = Conflicting {
            inner,
            refuse_use,
            refuse_append: refusals.clone(),
            use_calls: use_calls.clone(),
        };
        let (rec, guard) = Recorder::builder("unused").build_with_sink(sink).unwrap();
        // Until the dictionary was offered to the sink, and its first
        // batch refused if that is the case; then some more.
        record_until(&rec, "conflict", || {
            use_calls.load(Ordering::SeqCst) > 0 && refusals.load(Ordering::SeqCst) == 0
        });
        for _ in 0..3 {
            record(&rec, 100, "conflict");
        }
        assert_eq!(rec.stats().dropped_write_error, 0);
        drop(guard);
        let (plain, packed) = versions(&path);
        assert_eq!(plain as u64, rec_count(&path));
        assert_eq!(packed, 0, "plain records after a conflict");
        assert_eq!(use_calls.load(Ordering::SeqCst), 1, "offered once");
    }
}
