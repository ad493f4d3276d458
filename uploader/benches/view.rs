//! The viewer's speed and memory (issue #20), measured on the real
//! `tracespool view` binary over real HTTP on 127.0.0.1 and in Debian's
//! Chromium, headless.
//!
//! Two spools are recorded by the real recorder: 100,000 and 1,000,000
//! spans. Each holds, recorded first (so the oldest, the far end of every
//! newest-first scan), one trace of 10,000 spans (a root, 99 children, 100
//! grandchildren each; errors and events among them), then traces of 10
//! spans. For each spool and each run (`TRACESPOOL_BENCH_RUNS`, 5 by
//! default), a new viewer:
//!
//! * **first traces page**: `GET /traces` (the HTML page, 50 traces) as
//!   the first request after the viewer started, with the page cache
//!   dropped first when this runs as root ("cold"), then 10 more ("warm",
//!   median), and `GET /api/traces` warm;
//! * **memory**: the viewer's peak resident memory (VmHWM) after the same
//!   requests on both spools: overview, first and second traces page, a
//!   search that matches nothing (it reads its full budget of rows), the
//!   10,000-span trace's page and its download, quarantine;
//! * **browser** (1,000,000 spans only): the 10,000-span trace's page and
//!   the traces page opened in a new tab, timed inside the page from the
//!   navigation's start: the response's end, the viewer's script done
//!   (`body[data-ready]`) and the first frame drawn after it; the browser
//!   keeps the viewer's CSS and script in its cache, as for a person who
//!   opens a second page;
//! * **peer**: `tracespool trace SPOOL ID` (the text tree of the same
//!   trace) in the same run.
//!
//! Goals (the issue): the first traces page within 300 ms on 1,000,000
//! spans; the 10,000-span trace drawn within 1 s; memory that does not
//! grow with the spool. Printed with each figure; the benchmark does not
//! fail on a miss (it is a measurement, not a test).
//!
//! Spools go under `TRACESPOOL_BENCH_DIR`, else the target directory (the
//! real disk in a normal checkout); the file system is printed.
//!
//! `cargo bench -p tracespool-uploader --bench view`
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracespool::{OnFull, Recorder, SpanKind, StatusCode};
use tracespool_spool::SpoolReader;
use tracespool_tests::bench_dir::{bench_dir, filesystem_of};
use tracespool_tests::browser::Browser;
use tracespool_tests::measure::{peak_rss_kib, range};
use tracespool_tests::web::Viewer;

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");
/// Spans in the big trace: 1 + 99 + 99 × 100.
const BIG_TRACE_SPANS: usize = 10_000;
const MS: u64 = 1_000_000;

/// Records `n` spans into a new spool at `path`; returns the big trace's
/// id.
fn record_spool(path: &Path, n: usize) -> String {
    for suffix in ["", "-wal", "-shm", ".reserve"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let (rec, guard) = Recorder::builder(path)
        .service_name("bench-app")
        .on_full(OnFull::Block)
        .build()
        .expect("open the spool");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let t0 = now - 120_000 * MS;
    let mut root = rec
        .span_builder("batch import")
        .kind(SpanKind::Server)
        .start_time_ns(t0)
        .start();
    root.set_attribute("job.id", 42i64);
    let big = root.context().trace_id().to_string();
    let rc = root.context();
    for i in 0..99u64 {
        let s0 = t0 + i * 500 * MS;
        let mut shard = rec
            .span_builder("import shard")
            .parent(rc)
            .start_time_ns(s0)
            .start();
        shard.set_attribute("shard", i as i64);
        shard.add_annotation_at(s0 + MS, "shard opened", vec![]);
        let sc = shard.context();
        for j in 0..100u64 {
            let g0 = s0 + j * 4 * MS;
            let mut g = rec
                .span_builder("write row group")
                .parent(sc)
                .start_time_ns(g0)
                .start();
            g.set_attribute("rows", 1000i64);
            g.set_attribute("row_group", j as i64);
            if (i * 100 + j) % 97 == 0 {
                g.set_status(StatusCode::Error, "disk busy");
            }
            g.end_at(g0 + 3 * MS);
        }
        shard.end_at(s0 + 450 * MS);
    }
    root.end_at(t0 + 50_000 * MS);
    let mut made = BIG_TRACE_SPANS;
    while made < n {
        let mut r = rec
            .span_builder("GET /api/items")
            .kind(SpanKind::Server)
            .start();
        r.set_attribute("http.request.method", "GET");
        r.set_attribute("http.response.status_code", 200i64);
        made += 1;
        let ctx = r.context();
        for k in 0..9 {
            if made == n {
                break;
            }
            let mut c = rec.span_builder("SELECT items").parent(ctx).start();
            c.set_attribute("db.rows", k as i64);
            c.end();
            made += 1;
        }
        r.end();
    }
    rec.flush().expect("flush");
    drop(guard);
    let r = SpoolReader::open_read_only(path).unwrap();
    assert_eq!(r.totals().unwrap().rows(), n as u64, "every span recorded");
    big
}

/// Empties the kernel's page cache (root only); whether it did.
fn drop_page_cache() -> bool {
    // SAFETY: sync(2) has no arguments and cannot fail.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `GET path` on the viewer, asserting 200; the time it took.
fn timed_get(v: &Viewer, path: &str) -> f64 {
    let t = Instant::now();
    let a = v.get(path);
    let ms = millis(t.elapsed());
    assert_eq!(a.status, 200, "GET {path}: {}", a.text());
    ms
}

/// What one viewer run measured.
struct ViewerRun {
    cold_ms: f64,
    warm_ms: f64,
    api_warm_ms: f64,
    peak_kib: u64,
}

fn viewer_run(spool: &Path, big: &str, cold: bool) -> ViewerRun {
    if cold {
        drop_page_cache();
    }
    let v = Viewer::start(BIN, spool, &[]);
    let cold_ms = timed_get(&v, "/traces");
    let mut warm: Vec<f64> = (0..10).map(|_| timed_get(&v, "/traces")).collect();
    let mut api: Vec<f64> = (0..10).map(|_| timed_get(&v, "/api/traces")).collect();
    let next = v.get("/api/traces").json()["next_before_row"].as_i64();
    // The rest of the memory workload.
    timed_get(&v, "/");
    if let Some(before) = next {
        timed_get(&v, &format!("/traces?before={before}"));
    }
    timed_get(&v, "/traces?service=nobody");
    timed_get(&v, &format!("/trace/{big}"));
    timed_get(&v, &format!("/api/trace/{big}/export?format=otlp-json"));
    timed_get(&v, "/quarantine");
    let pid = v.pid();
    let peak_kib = peak_rss_kib(pid).unwrap_or(0);
    v.stop();
    ViewerRun {
        cold_ms,
        warm_ms: range(&mut warm).1,
        api_warm_ms: range(&mut api).1,
        peak_kib,
    }
}

/// Marks `tracespool-ready` when the viewer's script has set
/// `body[data-ready]`, and `tracespool-drawn` after the next frame (a
/// message posted from a frame callback runs once that frame is painted).
const MARKS: &str = r#"
(() => {
  const seen = () => {
    if (!document.body || document.body.dataset.ready !== "1" ||
        performance.getEntriesByName("tracespool-ready").length) return;
    performance.mark("tracespool-ready");
    requestAnimationFrame(() => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => performance.mark("tracespool-drawn");
      ch.port2.postMessage(0);
    });
  };
  new MutationObserver(seen).observe(document, {
    subtree: true, attributes: true, attributeFilter: ["data-ready"]
  });
})();
"#;

/// Page timings from the navigation's start, in ms.
struct Drawn {
    response_end: f64,
    ready: f64,
    drawn: f64,
    spans: u64,
}

/// Opens `url` in a new tab; its timings and the number of waterfall bars.
fn draw(browser: &Browser, url: &str) -> Drawn {
    let mut page = browser.page();
    page.add_script_on_new_document(MARKS);
    page.open(url);
    assert!(
        page.wait_for(
            "performance.getEntriesByName('tracespool-drawn').length === 1",
            Duration::from_secs(30)
        ),
        "{url} was not drawn"
    );
    let v = page.eval(
        "[performance.getEntriesByType('navigation')[0].responseEnd,\
          performance.getEntriesByName('tracespool-ready')[0].startTime,\
          performance.getEntriesByName('tracespool-drawn')[0].startTime,\
          document.querySelectorAll('#waterfall [data-span-id]').length]",
    );
    let f = |i: usize| v[i].as_f64().unwrap();
    Drawn {
        response_end: f(0),
        ready: f(1),
        drawn: f(2),
        spans: v[3].as_u64().unwrap(),
    }
}

/// `tracespool trace SPOOL ID` to /dev/null; its wall time.
fn cli_trace(spool: &Path, big: &str) -> f64 {
    let t = Instant::now();
    let st = Command::new(BIN)
        .arg("trace")
        .arg(spool)
        .arg(big)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let ms = millis(t.elapsed());
    assert!(st.success(), "tracespool trace");
    ms
}

fn main() {
    let runs: usize = std::env::var("TRACESPOOL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = bench_dir(env!("CARGO_TARGET_TMPDIR")).join("view");
    std::fs::create_dir_all(&dir).unwrap();
    let cold = drop_page_cache();
    println!(
        "spools on {} ({}); {runs} runs; cold = {}",
        dir.display(),
        filesystem_of(&dir),
        if cold {
            "page cache dropped before the viewer starts"
        } else {
            "not measured (dropping the page cache needs root): first request after start"
        }
    );
    let browser = Browser::start();
    match &browser {
        Some(b) => println!("browser: {}", b.version()),
        None => println!("browser: Chromium is not installed (apt install chromium); skipped"),
    }

    let mut peaks = Vec::new();
    for n in [100_000usize, 1_000_000] {
        let spool = dir.join(format!("view-{n}.spool"));
        let t = Instant::now();
        let big = record_spool(&spool, n);
        let size = std::fs::metadata(&spool).map(|m| m.len()).unwrap_or(0);
        println!(
            "\n{n} spans ({:.1} MB, recorded in {:.1} s), the 10,000-span trace {big}",
            size as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
        let mut cold_ms = Vec::new();
        let mut warm_ms = Vec::new();
        let mut api_ms = Vec::new();
        let mut peak_mb = Vec::new();
        for _ in 0..runs {
            let r = viewer_run(&spool, &big, cold);
            cold_ms.push(r.cold_ms);
            warm_ms.push(r.warm_ms);
            api_ms.push(r.api_warm_ms);
            peak_mb.push(r.peak_kib as f64 / 1024.0);
        }
        let goal = |ms: f64| if ms <= 300.0 { "within" } else { "OVER" };
        let (c0, c1, c2) = range(&mut cold_ms);
        let (w0, w1, w2) = range(&mut warm_ms);
        let (a0, a1, a2) = range(&mut api_ms);
        let (p0, p1, p2) = range(&mut peak_mb);
        println!(
            "  first traces page, {} (min/median/max): {c0:.0} / {c1:.0} / {c2:.0} ms ({} 300 ms)",
            if cold { "cold" } else { "first request" },
            goal(c2)
        );
        println!(
            "  first traces page, warm: {w0:.0} / {w1:.0} / {w2:.0} ms ({} 300 ms)",
            goal(w2)
        );
        println!("  /api/traces, warm: {a0:.0} / {a1:.0} / {a2:.0} ms");
        println!("  viewer peak memory (VmHWM): {p0:.1} / {p1:.1} / {p2:.1} MB");
        peaks.push((n, p1));

        let mut peer = Vec::new();
        for _ in 0..runs {
            peer.push(cli_trace(&spool, &big));
        }
        let (t0, t1, t2) = range(&mut peer);
        println!("  peer: tracespool trace (text tree of the 10,000 spans): {t0:.0} / {t1:.0} / {t2:.0} ms");

        if let (Some(b), true) = (&browser, n == 1_000_000) {
            let v = Viewer::start(BIN, &spool, &[]);
            let (mut resp, mut ready, mut drawn) = (Vec::new(), Vec::new(), Vec::new());
            let (mut lresp, mut lready, mut ldrawn) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..runs {
                let d = draw(b, &format!("{}trace/{big}", v.url));
                assert_eq!(d.spans, BIG_TRACE_SPANS as u64, "one bar per span");
                resp.push(d.response_end);
                ready.push(d.ready);
                drawn.push(d.drawn);
                let l = draw(b, &format!("{}traces", v.url));
                lresp.push(l.response_end);
                lready.push(l.ready);
                ldrawn.push(l.drawn);
            }
            let (r0, r1, r2) = range(&mut resp);
            let (s0, s1, s2) = range(&mut ready);
            let (d0, d1, d2) = range(&mut drawn);
            println!(
                "  Chromium, the 10,000-span trace: response {r0:.0} / {r1:.0} / {r2:.0} ms, \
                 script done {s0:.0} / {s1:.0} / {s2:.0} ms, drawn {d0:.0} / {d1:.0} / {d2:.0} ms ({} 1 s)",
                if d2 <= 1000.0 { "within" } else { "OVER" }
            );
            let (r0, r1, r2) = range(&mut lresp);
            let (s0, s1, s2) = range(&mut lready);
            let (d0, d1, d2) = range(&mut ldrawn);
            println!(
                "  Chromium, the first traces page: response {r0:.0} / {r1:.0} / {r2:.0} ms, \
                 script done {s0:.0} / {s1:.0} / {s2:.0} ms, drawn {d0:.0} / {d1:.0} / {d2:.0} ms"
            );
            v.stop();
        }
    }
    if let [(n0, p0), (n1, p1)] = peaks[..] {
        println!(
            "\nmemory: {p1:.1} MB at {n1} spans vs {p0:.1} MB at {n0} spans: ×{:.2} for ×{} the spans",
            p1 / p0,
            n1 / n0
        );
    }
}
