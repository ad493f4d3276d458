//! What one span costs the disk: bytes written (`write_bytes` of
//! `/proc/self/io`, the WAL and its checkpoint into the spool, counted when
//! the page cache is dirtied) and bytes of spool, per span, with plain
//! records (`RecordCompression::Off`, the records of 0.1) and compressed
//! ones (`Zstd`, the default), interleaved in the same run.
//!
//! Two shapes of span:
//! - **loadgen**: `examples/loadgen.rs`'s span (a name, 4 attributes),
//!   recorded at full speed, 200,000 a round;
//! - **tracing_job**: `examples/tracing_job.rs`'s spans through
//!   `TracespoolLayer` (a job span, `process` spans with a field,
//!   `fetch` client spans with an event and code locations), 60,000 a
//!   round;
//!
//! and loadgen spans **at 100 spans/s** for 10 s, where each commit's
//! pages, not the records, are what is written: with the default 100 ms
//! flush interval (a commit every 10 spans), and with 1 s (compressed
//! records; the line `zstd 1s`).
//!
//! A fresh spool each round, under `TRACESPOOL_BENCH_DIR` or the target
//! directory (the file system is printed), closed before it is measured
//! (the last checkpoint counted). The space reserve, written once per
//! spool, is shown apart and not counted per span.
//!
//! `cargo bench -p tracespool-tracing --bench bytes_per_span`
//! (`-- --quick`: one round, fewer spans.)
use std::path::Path;
use std::time::{Duration, Instant};

use tracespool::{OnFull, RecordCompression, Recorder};
use tracing_subscriber::prelude::*;

#[path = "../../../tests/src/bench_dir.rs"]
mod bench_dir;

/// `write_bytes` of this process so far.
fn write_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io");
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("write_bytes in /proc/self/io")
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Loadgen,
    TracingJob,
    /// Loadgen spans, this many a second.
    LoadgenAt(u32),
}

impl Shape {
    fn name(self) -> String {
        match self {
            Shape::Loadgen => "loadgen".into(),
            Shape::TracingJob => "tracing_job".into(),
            Shape::LoadgenAt(r) => format!("loadgen at {r}/s"),
        }
    }
}

struct Figures {
    written_per_span: f64,
    spool_per_span: f64,
    record_per_span: f64,
    reserve: u64,
}

fn loadgen_span(rec: &Recorder, i: u64) {
    let mut s = rec.span("loadgen");
    s.set_attribute("attr.0", "GET");
    s.set_attribute("attr.1", "/api/v1/items/{id}");
    s.set_attribute("attr.2", 200i64);
    s.set_attribute("attr.3", i as i64);
}

#[tracing::instrument(fields(otel.kind = "client"))]
fn fetch(item: u32) -> u32 {
    tracing::info!(bytes = item * 100, "fetched");
    item * 100
}

#[tracing::instrument]
fn process(item: u32) -> u32 {
    let bytes = fetch(item);
    if item == 3 {
        tracing::warn!(item, "slow item");
    }
    bytes
}

/// `n` spans of the tracing_job example's shape: jobs of 6 items, each a
/// `process` span around a `fetch` span, 13 spans a job.
fn tracing_job(rec: &Recorder, n: u64) -> u64 {
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry().with(tracespool_tracing::TracespoolLayer::new(rec.clone())),
    );
    let mut made = 0;
    tracing::dispatcher::with_default(&dispatch, || {
        while made < n {
            let job = tracing::info_span!("nightly job", otel.kind = "internal");
            let _e = job.enter();
            let mut total = 0;
            for i in 0..6 {
                total += process(i);
            }
            tracing::info!(total, "job done");
            made += 13;
        }
    });
    made
}

fn run(
    dir: &Path,
    round: usize,
    shape: Shape,
    (c, flush): (RecordCompression, Duration),
    n: u64,
) -> Figures {
    let path = dir.join(format!(
        "r{round}-{}-{:?}-{}ms.spool",
        shape.name().replace(' ', "_").replace('/', ""),
        c,
        flush.as_millis()
    ));
    let before = write_bytes();
    let (rec, guard) = Recorder::builder(&path)
        .service_name("bench")
        .on_full(OnFull::Block)
        .record_compression(c)
        .flush_interval(flush)
        .build()
        .unwrap();
    let spans = match shape {
        Shape::Loadgen => {
            for i in 0..n {
                loadgen_span(&rec, i);
            }
            n
        }
        Shape::TracingJob => tracing_job(&rec, n),
        Shape::LoadgenAt(rate) => {
            let start = Instant::now();
            let every = Duration::from_secs(1) / rate;
            for i in 0..n {
                loadgen_span(&rec, i);
                let next = every * (i as u32 + 1);
                if let Some(wait) = next.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            n
        }
    };
    rec.flush().unwrap();
    assert_eq!(rec.stats().written, spans, "every span written");
    let (record_bytes, rows) = {
        let r = tracespool_spool::SpoolReader::open(&path, &Default::default()).unwrap();
        let t = r.totals().unwrap();
        (
            t.pending_bytes - t.pending_rows * tracespool_spool::row_bytes(0),
            t.pending_rows,
        )
    };
    assert_eq!(rows, spans);
    drop(rec);
    drop(guard);
    let written = write_bytes() - before;
    let reserve_path = {
        let mut p = path.clone().into_os_string();
        p.push(".reserve");
        p
    };
    let reserve = std::fs::metadata(&reserve_path).map_or(0, |m| m.len());
    let spool = std::fs::metadata(&path).unwrap().len();
    for suffix in ["", "-wal", "-shm", ".reserve"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    Figures {
        written_per_span: written.saturating_sub(reserve) as f64 / spans as f64,
        spool_per_span: spool as f64 / spans as f64,
        record_per_span: record_bytes as f64 / spans as f64,
        reserve,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn range(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let base = bench_dir::bench_dir(env!("CARGO_TARGET_TMPDIR"));
    let dir = tempfile::tempdir_in(&base).unwrap();
    println!(
        "bytes_per_span: spools under {} ({})",
        base.display(),
        bench_dir::filesystem_of(&base)
    );
    let rounds = if quick { 1 } else { 5 };
    let shapes = [
        (Shape::Loadgen, if quick { 20_000 } else { 200_000 }, rounds),
        (
            Shape::TracingJob,
            if quick { 6_500 } else { 60_000 },
            rounds,
        ),
        (
            Shape::LoadgenAt(100),
            if quick { 200 } else { 1_000 },
            rounds.min(3),
        ),
    ];
    println!(
        "{:<18} {:>7} {:>16} {:>16} {:>14}   ratio to off",
        "spans", "", "written/span", "spool/span", "record/span"
    );
    let mut reserve = 0;
    for (shape, n, rounds) in shapes {
        const DEFAULT: Duration = Duration::from_millis(100);
        let mut variants = vec![
            ("off", (RecordCompression::Off, DEFAULT)),
            ("zstd", (RecordCompression::Zstd, DEFAULT)),
        ];
        if matches!(shape, Shape::LoadgenAt(_)) {
            variants.push(("zstd 1s", (RecordCompression::Zstd, Duration::from_secs(1))));
        }
        let mut figures: Vec<Vec<Figures>> = variants.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            // Rotate which goes first.
            for k in 0..variants.len() {
                let v = (k + round) % variants.len();
                let f = run(dir.path(), round, shape, variants[v].1, n);
                reserve = f.reserve;
                figures[v].push(f);
            }
        }
        let per = |v: &[Figures], g: fn(&Figures) -> f64| v.iter().map(g).collect::<Vec<f64>>();
        for (v, (label, _)) in variants.iter().enumerate() {
            let w = per(&figures[v], |f| f.written_per_span);
            let (wl, wh) = range(&w);
            let ratio = if v == 0 {
                String::new()
            } else {
                let of = |g: fn(&Figures) -> f64| -> Vec<f64> {
                    figures[v]
                        .iter()
                        .zip(&figures[0])
                        .map(|(x, o)| g(x) / g(o))
                        .collect()
                };
                let rw = of(|f| f.written_per_span);
                let (lo, hi) = range(&rw);
                format!(
                    "   written {:.2} ({lo:.2}-{hi:.2}), spool {:.2}",
                    median(rw),
                    median(of(|f| f.spool_per_span))
                )
            };
            println!(
                "{:<18} {:>7} {:>7.0} ({:.0}-{:.0}) {:>9.0} {:>14.0}{ratio}",
                shape.name(),
                label,
                median(w.clone()),
                wl,
                wh,
                median(per(&figures[v], |f| f.spool_per_span)),
                median(per(&figures[v], |f| f.record_per_span)),
            );
        }
    }
    println!(
        "(the space reserve, written once per spool, is not counted above: {reserve} bytes here)"
    );
}
