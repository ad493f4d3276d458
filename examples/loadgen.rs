//! Records N spans into a spool as fast as possible (or at `--rate` spans
//! a second), waits until all are committed, and prints one JSON line:
//! `{"spans":N,"seconds":S,"spans_per_s":R,"written":W,"dropped":D,...}`.
//!
//! ```text
//! cargo run --release --example loadgen -- --spool PATH --spans N [--threads T] [--name NAME] [--attrs K]
//!     [--rate R] [--flush-ms MS] [--plain-records]
//! ```
//!
//! What the disk paid is in the line too: `write_bytes_per_span` (this
//! process's `write_bytes` in `/proc/self/io`, the spool's space reserve
//! excluded, over the spans written) and `spool_bytes_per_span` (the
//! file's size after closing, over the spans written), with
//! `dropped_no_room` for spans a full file system refused.
//!
//! It also samples its resident memory (VmRSS) every 50 ms and reports it
//! after the first 10% of spans (`rss_warm_kib`), at its peak from then on
//! (`rss_peak_kib`) and at the end (`rss_end_kib`): with 10 million spans
//! the difference shows whether memory stays flat.
//!
//! The queue policy is `OnFull::Block`, so the figure is *durable*
//! throughput: every span is in the spool when the clock stops.
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tracespool::{OnFull, RecordCompression, Recorder};

struct Args {
    spool: String,
    spans: u64,
    threads: u64,
    name: String,
    attrs: usize,
    rate: Option<f64>,
    flush: Duration,
    plain: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        spool: String::new(),
        spans: 100_000,
        threads: 1,
        name: "loadgen".into(),
        attrs: 4,
        rate: None,
        flush: Duration::from_millis(100),
        plain: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--spool" => a.spool = val()?,
            "--spans" => a.spans = val()?.parse().map_err(|e| format!("--spans: {e}"))?,
            "--threads" => a.threads = val()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--name" => a.name = val()?,
            "--attrs" => a.attrs = val()?.parse().map_err(|e| format!("--attrs: {e}"))?,
            "--rate" => {
                let r: f64 = val()?.parse().map_err(|e| format!("--rate: {e}"))?;
                a.rate = (r > 0.0).then_some(r);
            }
            "--flush-ms" => {
                let ms: u64 = val()?.parse().map_err(|e| format!("--flush-ms: {e}"))?;
                a.flush = Duration::from_millis(ms);
            }
            "--plain-records" => a.plain = true,
            "-h" | "--help" => {
                println!(
                    "Records synthetic spans into a spool as fast as asked.\n\n\
                     usage: loadgen --spool PATH [--spans N] [--threads T] [--name NAME] \
                     [--attrs K] [--rate R] [--flush-ms MS] [--plain-records]"
                );
                std::process::exit(0)
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.spool.is_empty() {
        return Err("--spool PATH is required".into());
    }
    a.threads = a.threads.max(1);
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let before = write_bytes();
    let (rec, guard) = match Recorder::builder(&args.spool)
        .service_name("loadgen")
        .on_full(OnFull::Block)
        .flush_interval(args.flush)
        .record_compression(if args.plain {
            RecordCompression::Off
        } else {
            RecordCompression::Zstd
        })
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    const KEYS: [&str; 8] = [
        "http.request.method",
        "http.route",
        "http.response.status_code",
        "user.id",
        "db.system",
        "db.rows",
        "cache.hit",
        "retry",
    ];
    let done = std::sync::atomic::AtomicU64::new(0);
    let finished = std::sync::atomic::AtomicBool::new(false);
    let (warm, peak) = (
        std::sync::atomic::AtomicU64::new(0),
        std::sync::atomic::AtomicU64::new(0),
    );
    let t0 = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !finished.load(std::sync::atomic::Ordering::Relaxed) {
                let rss = rss_kib();
                if warm.load(std::sync::atomic::Ordering::Relaxed) == 0 {
                    if done.load(std::sync::atomic::Ordering::Relaxed) * 10 >= args.spans {
                        warm.store(rss, std::sync::atomic::Ordering::Relaxed);
                    }
                } else {
                    peak.fetch_max(rss, std::sync::atomic::Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let done = &done;
        let finished = &finished;
        let workers: Vec<_> = (0..args.threads)
            .map(|t| {
                let rec = rec.clone();
                // A 'static name costs no allocation per span.
                let name: &'static str = Box::leak(args.name.clone().into_boxed_str());
                let n = args.spans / args.threads + u64::from(t < args.spans % args.threads);
                let attrs = args.attrs;
                // Each thread's share of the rate.
                let every = args
                    .rate
                    .map(|r| Duration::from_secs_f64(args.threads as f64 / r));
                s.spawn(move || {
                    let start = Instant::now();
                    for i in 0..n {
                        if let Some(every) = every {
                            let due = every.mul_f64(i as f64);
                            if let Some(wait) = due.checked_sub(start.elapsed()) {
                                std::thread::sleep(wait);
                            }
                        }
                        if i % 1024 == 0 {
                            done.fetch_add(1024.min(n - i), std::sync::atomic::Ordering::Relaxed);
                        }
                        let mut span = rec.span(name);
                        for k in 0..attrs {
                            let key: tracespool::Str = KEYS
                                .get(k)
                                .copied()
                                .map(Into::into)
                                .unwrap_or_else(|| format!("attr.{k}").into());
                            match k % 4 {
                                0 => span.set_attribute(key, "GET"),
                                1 => span.set_attribute(key, "/api/v1/items/{id}"),
                                2 => span.set_attribute(key, 200i64),
                                _ => span.set_attribute(key, i as i64),
                            }
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let flushed = rec.flush_timeout(Duration::from_secs(600));
    let secs = t0.elapsed().as_secs_f64();
    let st = rec.stats();
    drop(rec);
    drop(guard);
    let reserve = std::fs::metadata(format!("{}.reserve", args.spool)).map_or(0, |m| m.len());
    let written_bytes = write_bytes().saturating_sub(before).saturating_sub(reserve);
    let spool_bytes = std::fs::metadata(&args.spool).map_or(0, |m| m.len());
    let per = |b: u64| b as f64 / st.written.max(1) as f64;
    println!(
        "{{\"spans\":{},\"seconds\":{:.3},\"spans_per_s\":{:.0},\"written\":{},\"dropped\":{},\"dropped_no_room\":{},\"write_bytes_per_span\":{:.0},\"spool_bytes_per_span\":{:.0},\"rss_warm_kib\":{},\"rss_peak_kib\":{},\"rss_end_kib\":{}}}",
        args.spans,
        secs,
        args.spans as f64 / secs,
        st.written,
        st.dropped_queue_full + st.dropped_write_error + st.dropped_budget + st.dropped_other,
        st.dropped_no_room,
        per(written_bytes),
        per(spool_bytes),
        warm.into_inner(),
        peak.into_inner(),
        rss_kib()
    );
    if let Err(e) = flushed {
        eprintln!("loadgen: flush: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Bytes this process made the kernel write (`write_bytes` in
/// `/proc/self/io`; 0 where unavailable).
fn write_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("write_bytes: "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Resident memory of this process, from /proc (0 where unavailable).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
