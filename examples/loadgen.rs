//! Records N spans into a spool as fast as possible, waits until all are
//! committed, and prints one JSON line:
//! `{"spans":N,"seconds":S,"spans_per_s":R,"dropped":D}`.
//!
//! ```text
//! cargo run --release --example loadgen -- --spool PATH --spans N [--threads T] [--name NAME] [--attrs K]
//! ```
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

use tracespool::{OnFull, Recorder};

struct Args {
    spool: String,
    spans: u64,
    threads: u64,
    name: String,
    attrs: usize,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        spool: String::new(),
        spans: 100_000,
        threads: 1,
        name: "loadgen".into(),
        attrs: 4,
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
            "-h" | "--help" => {
                return Err(
                    "usage: loadgen --spool PATH --spans N [--threads T] [--name NAME] [--attrs K]"
                        .into(),
                )
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
    let (rec, guard) = match Recorder::builder(&args.spool)
        .service_name("loadgen")
        .on_full(OnFull::Block)
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
                s.spawn(move || {
                    for i in 0..n {
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
    drop(guard);
    println!(
        "{{\"spans\":{},\"seconds\":{:.3},\"spans_per_s\":{:.0},\"written\":{},\"dropped\":{},\"rss_warm_kib\":{},\"rss_peak_kib\":{},\"rss_end_kib\":{}}}",
        args.spans,
        secs,
        args.spans as f64 / secs,
        st.written,
        st.dropped_queue_full + st.dropped_write_error + st.dropped_budget + st.dropped_other,
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
