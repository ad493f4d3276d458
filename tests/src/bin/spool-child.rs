//! A program that records spans, for the crash and multi-process tests.
//!
//! * `spool-child crash SPOOL [RUN]` records spans forever in rounds of 500
//!   (each with attribute `seq`, and `run` when given), flushing after each
//!   round and printing `confirmed <highest seq>` once the flush returned.
//! * `spool-child append SPOOL SPANS THREADS` records SPANS spans over
//!   THREADS threads (blocking on a full queue), flushes, prints
//!   `written <n>` and exits.
use std::io::Write;

use tracespool::{OnFull, Recorder};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("crash") => crash(&args[2], args.get(3).map(|r| r.parse().unwrap())),
        Some("append") => append(&args[2], args[3].parse().unwrap(), args[4].parse().unwrap()),
        _ => {
            eprintln!("usage: spool-child crash SPOOL | append SPOOL SPANS THREADS");
            std::process::exit(2);
        }
    }
}

fn crash(spool: &str, run: Option<i64>) {
    let (rec, _guard) = Recorder::builder(spool)
        .flush_interval(std::time::Duration::from_millis(5))
        .on_full(OnFull::Block)
        .build()
        .unwrap();
    let mut seq = 0i64;
    let mut out = std::io::stdout().lock();
    loop {
        for _ in 0..500 {
            seq += 1;
            let mut s = rec.span("crash-test");
            s.set_attribute("seq", seq);
            if let Some(run) = run {
                s.set_attribute("run", run);
            }
            s.set_attribute("pad", "some text to make the record a realistic size");
        }
        rec.flush().unwrap();
        writeln!(out, "confirmed {seq}").unwrap();
        out.flush().unwrap();
    }
}

fn append(spool: &str, spans: u64, threads: u64) {
    let (rec, guard) = Recorder::builder(spool)
        .on_full(OnFull::Block)
        .build()
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..threads {
            let rec = rec.clone();
            s.spawn(move || {
                let n = spans / threads + u64::from(t < spans % threads);
                for i in 0..n {
                    let mut span = rec.span("multi");
                    span.set_attribute("i", i as i64);
                }
            });
        }
    });
    rec.flush().unwrap();
    println!("written {}", rec.stats().written);
    drop(guard);
}
