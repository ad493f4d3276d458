//! Upload throughput: spans per second from a spool of pending spans
//! (1,000,000 by default; `TRACESPOOL_BENCH_SPANS` overrides) to the local
//! Cloud Trace stand-in, over real HTTP on 127.0.0.1 with a real OAuth
//! token, by the real `tracespool upload --once` binary. In the same run,
//! the stand-in alone: the same request bodies posted back to back on one
//! keep-alive connection, so it is visible whether the stand-in is the
//! bottleneck. The uploader's peak RSS is printed (it streams; it never
//! loads the whole spool).
//!
//! `cargo bench -p tracespool-uploader --bench upload_throughput`
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use tracespool_tests::standin::StandIn;
use tracespool_tests::{record_spans, test_account, write_key_file};

fn spans() -> usize {
    std::env::var("TRACESPOOL_BENCH_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn template(dir: &Path, n: usize) -> PathBuf {
    let p = dir.join("template.spool");
    record_spans(&p, n);
    p
}

fn copy_spool(from: &Path, to: &Path) {
    for suffix in ["-wal", "-shm", ".lock", ""] {
        let mut t = to.as_os_str().to_owned();
        t.push(suffix);
        let _ = std::fs::remove_file(&t);
    }
    std::fs::copy(from, to).unwrap();
}

fn token(key: &Path) -> String {
    use gcp_auth::TokenProvider;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sa = gcp_auth::CustomServiceAccount::from_file(key).unwrap();
        sa.token(&["https://www.googleapis.com/auth/trace.append"])
            .await
            .unwrap()
            .as_str()
            .to_owned()
    })
}

/// The bodies `upload --dry-run` would send.
fn bodies(spool: &Path, max: usize) -> Vec<Vec<u8>> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .args(["upload", "--dry-run", "--project", "bench", "--spool"])
        .arg(spool)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(max)
    {
        let line = line.unwrap();
        let at = line.find(",\"body\":").unwrap() + 8;
        out.push(line.as_bytes()[at..line.len() - 1].to_vec());
    }
    let _ = child.kill();
    let _ = child.wait();
    out
}

/// Posts every body on one keep-alive connection; returns the elapsed time.
fn post_all(addr: &str, token: &str, bodies: &[Vec<u8>]) -> Duration {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let start = Instant::now();
    for b in bodies {
        let head = format!(
            "POST /v2/projects/bench/traces:batchWrite HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            b.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(b).unwrap();
        let mut status = String::new();
        r.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "{status}");
        let mut len = 0;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
    }
    start.elapsed()
}

/// The peak resident memory (VmHWM) of a running process.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn bench(c: &mut Criterion) {
    let n = spans();
    let dir = tempfile::tempdir().unwrap();
    let tpl = template(dir.path(), n);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "bench");
    let addr = s.endpoint().trim_start_matches("http://").to_owned();
    let tok = token(&key);
    let sample = bodies(&tpl, 100);
    let sample_spans: u64 = 1000 * sample.len() as u64;

    let mut g = c.benchmark_group("upload");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(sample_spans));
    g.bench_function("standin_alone_one_connection", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| post_all(&addr, &tok, &sample)).sum())
    });
    g.throughput(Throughput::Elements(n as u64));
    let spool = dir.path().join("run.spool");
    let mut peak = 0u64;
    g.bench_function("uploader_end_to_end", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                copy_spool(&tpl, &spool);
                let before = s.accepted_count();
                let start = Instant::now();
                let mut child = Command::new(env!("CARGO_BIN_EXE_tracespool"))
                    .args(["upload", "--once", "--max-duration", "30m", "--spool"])
                    .arg(&spool)
                    .args(["--endpoint", &s.endpoint(), "--credentials"])
                    .arg(&key)
                    .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap();
                let status = loop {
                    if let Some(st) = child.try_wait().unwrap() {
                        break st;
                    }
                    if let Some(kib) = peak_rss_kib(child.id()) {
                        peak = peak.max(kib);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                };
                total += start.elapsed();
                assert_eq!(status.code(), Some(0));
                assert_eq!(s.accepted_count() - before, n, "every span delivered once");
            }
            total
        })
    });
    g.finish();
    eprintln!("uploader peak RSS: {peak} KiB (for {n} pending spans)");
}

criterion_group!(benches, bench);
criterion_main!(benches);
