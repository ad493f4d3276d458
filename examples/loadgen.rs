//! Records N spans into a spool as fast as possible, waits until all are
//! committed, and prints one JSON line:
//! `{"spans":N,"seconds":S,"spans_per_s":R,"dropped":D}`.
//!
//! ```text
//! cargo run --release --example loadgen -- --spool PATH --spans N [--threads T] [--name NAME] [--attrs K]
//! ```
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
                return Err("usage: loadgen --spool PATH --spans N [--threads T] [--name NAME] [--attrs K]".into())
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
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for t in 0..args.threads {
            let rec = rec.clone();
            let name = args.name.clone();
            let n = args.spans / args.threads + u64::from(t < args.spans % args.threads);
            let attrs = args.attrs;
            s.spawn(move || {
                for i in 0..n {
                    let mut span = rec.span(name.clone());
                    for k in 0..attrs {
                        let key: tracespool::schema::Str = KEYS.get(k).copied().map(Into::into).unwrap_or_else(|| format!("attr.{k}").into());
                        match k % 4 {
                            0 => span.set_attribute(key, "GET"),
                            1 => span.set_attribute(key, "/api/v1/items/{id}"),
                            2 => span.set_attribute(key, 200i64),
                            _ => span.set_attribute(key, i as i64),
                        }
                    }
                }
            });
        }
    });
    let flushed = rec.flush_timeout(Duration::from_secs(600));
    let secs = t0.elapsed().as_secs_f64();
    let st = rec.stats();
    drop(guard);
    println!(
        "{{\"spans\":{},\"seconds\":{:.3},\"spans_per_s\":{:.0},\"written\":{},\"dropped\":{}}}",
        args.spans,
        secs,
        args.spans as f64 / secs,
        st.written,
        st.dropped_queue_full + st.dropped_write_error + st.dropped_budget + st.dropped_other
    );
    if let Err(e) = flushed {
        eprintln!("loadgen: flush: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
