//! Upload throughput: spans per second from a spool of pending spans
//! (1,000,000 by default; `TRACESPOOL_BENCH_SPANS` overrides) to the local
//! Cloud Trace stand-in, over real HTTP on 127.0.0.1 with a real OAuth
//! token, by the real `tracespool upload --once` binary. The stand-in runs
//! as its own process (this benchmark binary, started again in stand-in
//! mode), as a real Cloud Trace endpoint would be. In the same run, the
//! stand-in alone: the same request bodies posted back to back on one
//! keep-alive connection, so it is visible whether the stand-in is the
//! bottleneck. The uploader's peak RSS and both processes' CPU time are
//! printed (the uploader streams; it never loads the whole spool).
//!
//! The spool is created under `TRACESPOOL_BENCH_DIR`, else under the
//! target directory (the real disk in a normal checkout); the file system
//! is printed.
//!
//! `cargo bench -p tracespool-uploader --bench upload_throughput`
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, SamplingMode, Throughput};
use tracespool_spool::{Counter, SpoolOptions, SpoolReader};
use tracespool_tests::bench_dir::{bench_dir, filesystem_of};
use tracespool_tests::standin::StandIn;
use tracespool_tests::{record_spans, test_account, write_key_file};

/// Set in the child process that runs the stand-in.
const STANDIN_MODE: &str = "TRACESPOOL_BENCH_STANDIN_DIR";

/// Stand-in mode: serves on 127.0.0.1, writes its key file into the given
/// directory, prints its endpoint, and when stdin closes prints
/// `accepted N rejected R` and exits.
fn run_standin(dir: &Path) {
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir, &s, "bench-project");
    println!("{} {}", s.endpoint(), key.display());
    let mut sink = String::new();
    let _ = std::io::stdin().read_line(&mut sink);
    println!(
        "accepted {} rejected {}",
        s.accepted_count(),
        s.rejections().len()
    );
}

/// The stand-in's process.
struct StandInProcess {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
    endpoint: String,
    key: PathBuf,
}

impl StandInProcess {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(STANDIN_MODE, dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let (endpoint, key) = line.trim().split_once(' ').unwrap();
        StandInProcess {
            endpoint: endpoint.to_owned(),
            key: key.into(),
            child,
            out,
        }
    }

    /// CPU seconds (user + system) the stand-in used so far.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id())
    }

    /// Stops it; returns (accepted spans, rejected requests).
    fn stop(mut self) -> (u64, u64) {
        drop(self.child.stdin.take());
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        let _ = self.child.wait();
        let w: Vec<&str> = line.split_whitespace().collect();
        (w[1].parse().unwrap(), w[3].parse().unwrap())
    }
}

/// If the child `pid` exited: its exit code and the CPU seconds (user +
/// system) it used, reaped with `wait4`.
fn exited(pid: u32) -> Option<(i32, f64)> {
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 only writes to it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: plain system call on our own child, with valid pointers.
    let r = unsafe { libc::wait4(pid as i32, &mut status, libc::WNOHANG, &mut ru) };
    if r != pid as i32 {
        return None;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Some((code, secs(ru.ru_utime) + secs(ru.ru_stime)))
}

/// CPU seconds (user + system) of a running process.
fn cpu_seconds(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which is in parentheses).
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    ticks as f64 / 100.0
}

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
        .args([
            "upload",
            "--dry-run",
            "--project",
            "bench-project",
            "--spool",
        ])
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
    let base = bench_dir(env!("CARGO_TARGET_TMPDIR"));
    eprintln!("spool in {} ({})", base.display(), filesystem_of(&base));
    let dir = tempfile::tempdir_in(&base).unwrap();
    let tpl = template(dir.path(), n);
    let s = StandInProcess::start(dir.path());
    let key = s.key.clone();
    let addr = s.endpoint.trim_start_matches("http://").to_owned();
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
    let mut runs = 0u64;
    let (mut uploader_cpu, mut standin_cpu, mut wall) = (0.0, 0.0, 0.0);
    g.bench_function("uploader_end_to_end", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                copy_spool(&tpl, &spool);
                let standin_before = s.cpu_seconds();
                let start = Instant::now();
                let child = Command::new(env!("CARGO_BIN_EXE_tracespool"))
                    .args(["upload", "--once", "--max-duration", "30m", "--spool"])
                    .arg(&spool)
                    .args(["--endpoint", &s.endpoint, "--credentials"])
                    .arg(&key)
                    .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap();
                let (code, cpu) = loop {
                    if let Some(done) = exited(child.id()) {
                        break done;
                    }
                    if let Some(kib) = peak_rss_kib(child.id()) {
                        peak = peak.max(kib);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                };
                drop(child);
                let took = start.elapsed();
                total += took;
                runs += 1;
                wall += took.as_secs_f64();
                uploader_cpu += cpu;
                standin_cpu += s.cpu_seconds() - standin_before;
                assert_eq!(code, 0, "uploader exit code");
                let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
                assert_eq!(r.totals().unwrap().rows(), 0, "every span left the spool");
                assert_eq!(r.counter(Counter::Uploaded).unwrap(), n as u64);
            }
            total
        })
    });
    g.finish();
    let (accepted, rejected) = s.stop();
    let posted_alone = accepted - runs * n as u64;
    eprintln!(
        "uploader peak RSS: {peak} KiB (for {n} pending spans); per run: {:.2} s wall, \
         uploader {:.2} s CPU, stand-in {:.2} s CPU",
        wall / runs as f64,
        uploader_cpu / runs as f64,
        standin_cpu / runs as f64
    );
    assert_eq!(rejected, 0, "the stand-in rejected requests");
    assert_eq!(
        posted_alone % sample_spans,
        0,
        "the stand-in accepted {accepted} spans: every span exactly once per run"
    );
}

criterion_group!(benches, bench);

fn main() {
    if let Some(dir) = std::env::var_os(STANDIN_MODE) {
        run_standin(Path::new(&dir));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
