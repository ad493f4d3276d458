//! Durable throughput: spans per second recorded through the recorder and
//! committed to a real spool (WAL, `synchronous=NORMAL`), against, in the
//! same run, the ceiling of raw batched rusqlite inserts of rows of the same
//! size into a table with the same columns (4096 rows per transaction).
//! Also: the cost of a secondary index on the random trace id, which the
//! spool deliberately does not have.
//!
//! The spools are created under `TRACESPOOL_BENCH_DIR`, else under the
//! target directory (the real disk in a normal checkout); the file system
//! is printed. Besides criterion's groups (run one after the other), a
//! **paired** ratio: 11 interleaved rounds of 200,000 spans through the
//! recorder (with compressed records, the default, and with plain ones)
//! and 200,000 raw rows of the plain records' size, median and range of
//! the per-round ratios, so that a disk or a neighbour that slows down
//! hits every side.
//!
//! `cargo bench -p tracespool --bench spool_throughput`
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rusqlite::{params, Connection};
use tracespool::{OnFull, RecordCompression, Recorder};

#[path = "../../tests/src/bench_dir.rs"]
mod bench_dir;

const BATCH: u64 = 4096;

fn dir() -> tempfile::TempDir {
    tempfile::tempdir_in(bench_dir::bench_dir(env!("CARGO_TARGET_TMPDIR"))).unwrap()
}

fn record(rec: &Recorder, i: u64) {
    let mut s = rec.span("GET /api/items/{id}");
    s.set_attribute("http.request.method", "GET");
    s.set_attribute("http.route", "/api/items/{id}");
    s.set_attribute("http.response.status_code", 200i64);
    s.set_attribute("user.id", i as i64);
}

/// The encoded size of the span `record` makes, read back from a spool,
/// as a plain record (version 3, the records of 0.1): the raw ceiling
/// inserts rows of the original size, whatever the recorder compresses
/// them to.
fn record_size() -> usize {
    let dir = dir();
    let path = dir.path().join("size.spool");
    let (rec, guard) = Recorder::builder(&path)
        .service_name("bench")
        .record_compression(tracespool::RecordCompression::Off)
        .build()
        .unwrap();
    record(&rec, 123_456);
    rec.flush().unwrap();
    drop(guard);
    let c = Connection::open(&path).unwrap();
    c.query_row("SELECT length(record) FROM spans", [], |r| {
        r.get::<_, i64>(0)
    })
    .unwrap() as usize
}

fn raw_inserts(iters: u64, record_len: usize, trace_index: bool) -> Duration {
    let dir = dir();
    let c = Connection::open(dir.path().join("raw.db")).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE spans (id INTEGER PRIMARY KEY AUTOINCREMENT, trace_id BLOB NOT NULL,
           span_id BLOB NOT NULL, parent_span_id BLOB, name TEXT NOT NULL, start_ns INTEGER NOT NULL,
           end_ns INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0, reason TEXT,
           quarantined_at_ns INTEGER, record BLOB NOT NULL);",
    )
    .unwrap();
    if trace_index {
        c.execute_batch("CREATE INDEX spans_trace ON spans(trace_id)")
            .unwrap();
    }
    let mut rec = vec![0u8; record_len];
    let start = Instant::now();
    let mut done = 0;
    while done < iters {
        let n = BATCH.min(iters - done);
        let tx = c.unchecked_transaction().unwrap();
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO spans(trace_id, span_id, parent_span_id, name, start_ns, end_ns, record) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .unwrap();
            for i in 0..n {
                let t = fastrand_u128().to_be_bytes();
                rec[..16].copy_from_slice(&t);
                st.execute(params![
                    &t[..],
                    &t[..8],
                    None::<&[u8]>,
                    "GET /api/items/{id}",
                    i as i64,
                    i as i64 + 1000,
                    &rec
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
        done += n;
    }
    start.elapsed()
}

fn fastrand_u128() -> u128 {
    tracespool::TraceId::random().to_u128()
}

/// Records `iters` spans into a new spool and waits until all are
/// committed.
fn recorder_into_spool(iters: u64, c: RecordCompression) -> Duration {
    let dir = dir();
    let (rec, guard) = Recorder::builder(dir.path().join("t.spool"))
        .service_name("bench")
        .on_full(OnFull::Block)
        .record_compression(c)
        .build()
        .unwrap();
    let start = Instant::now();
    for i in 0..iters {
        record(&rec, i);
    }
    rec.flush_timeout(Duration::from_secs(600)).unwrap();
    let t = start.elapsed();
    assert_eq!(rec.stats().written, iters, "every span committed");
    drop(guard);
    t
}

/// Interleaved rounds: the recorder with compressed records (the
/// default), with plain ones, then raw inserts of the plain size, of the
/// same count. Prints the median and range of recorder/raw throughput
/// ratios, for each kind of record.
fn paired_ratio(record_len: usize) {
    const ROUNDS: usize = 11;
    const SPANS: u64 = 200_000;
    let kinds = [
        ("compressed records (default)", RecordCompression::Zstd),
        ("plain records", RecordCompression::Off),
    ];
    let mut ratios = vec![Vec::with_capacity(ROUNDS); kinds.len()];
    let mut rates = vec![Vec::with_capacity(ROUNDS); kinds.len()];
    for _ in 0..ROUNDS {
        let ours: Vec<Duration> = kinds
            .iter()
            .map(|(_, c)| recorder_into_spool(SPANS, *c))
            .collect();
        let raw = raw_inserts(SPANS, record_len, false);
        for (k, t) in ours.iter().enumerate() {
            // Throughput ratio: raw time over our time.
            ratios[k].push(raw.as_secs_f64() / t.as_secs_f64());
            rates[k].push(SPANS as f64 / t.as_secs_f64() / 1000.0);
        }
    }
    for (k, (label, _)) in kinds.iter().enumerate() {
        ratios[k].sort_by(f64::total_cmp);
        rates[k].sort_by(f64::total_cmp);
        eprintln!(
            "paired durable throughput, recorder ({label}) / raw rusqlite ({record_len}-byte records): median {:.2} (range {:.2}-{:.2}) over {ROUNDS} rounds of {SPANS} spans; recorder {:.0}-{:.0} k spans/s",
            ratios[k][ROUNDS / 2],
            ratios[k][0],
            ratios[k][ROUNDS - 1],
            rates[k][0],
            rates[k][ROUNDS - 1],
        );
    }
}

fn bench(c: &mut Criterion) {
    let where_: PathBuf = bench_dir::bench_dir(env!("CARGO_TARGET_TMPDIR"));
    eprintln!(
        "spools in {} ({})",
        where_.display(),
        bench_dir::filesystem_of(Path::new(&where_))
    );
    let record_len = record_size();
    eprintln!("record size: {record_len} bytes");
    paired_ratio(record_len);
    let mut g = c.benchmark_group("durable_throughput");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.bench_function("recorder_into_spool", |b| {
        b.iter_custom(|iters| recorder_into_spool(iters, RecordCompression::Zstd))
    });
    g.bench_function("raw_rusqlite_ceiling", |b| {
        b.iter_custom(|iters| raw_inserts(iters, record_len, false))
    });
    g.bench_function("raw_rusqlite_with_trace_id_index", |b| {
        b.iter_custom(|iters| raw_inserts(iters, record_len, true))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
