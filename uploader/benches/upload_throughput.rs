//! Upload throughput per sink and compression: spans per second from a
//! spool of pending spans (1,000,000 by default; `TRACESPOOL_BENCH_SPANS`
//! overrides; `TRACESPOOL_BENCH_RUNS` runs each, 3 by default) to the local
//! stand-in (Cloud Trace v2 JSON, or OTLP protobuf), over real HTTP on
//! 127.0.0.1 with a real OAuth token, by the real `tracespool upload
//! --once` binary. The stand-in runs as its own process (this benchmark
//! binary, started again in stand-in mode), as a real endpoint would be. In
//! the same run, the stand-in alone: the same requests posted back to back
//! on one keep-alive connection, so it is visible whether the stand-in is
//! the bottleneck. Printed per configuration: spans/s (min / median / max),
//! bytes on the wire per span (the spool's `upload_bytes`), both
//! processes' CPU per span, the uploader's peak RSS (it streams; it never
//! loads the whole spool).
//!
//! The spool is created under `TRACESPOOL_BENCH_DIR`, else under the
//! target directory (the real disk in a normal checkout); the file system
//! is printed.
//!
//! `cargo bench -p tracespool-uploader --bench upload_throughput [-- FILTER]`
//! (FILTER: e.g. `otlp`, `cloudtrace/none`)
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tracespool_spool::{Counter, SpoolOptions, SpoolReader};
use tracespool_tests::bench_dir::{bench_dir, filesystem_of};
use tracespool_tests::measure::{peak_rss_kib, range};
use tracespool_tests::standin::{KeptRequest, StandIn};
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

/// One configuration: the sink and the compression.
#[derive(Clone, Copy)]
struct Config {
    sink: &'static str,
    compression: &'static str,
}

impl Config {
    /// The upload's flags: health metrics off (one request a minute; here
    /// only span requests are measured and replayed).
    fn flags(&self) -> [&'static str; 6] {
        [
            "--sink",
            self.sink,
            "--compression",
            self.compression,
            "--otlp-metrics",
            "off",
        ]
    }
}

/// The first `max` requests the uploader sends for `spool` with `cfg`, as
/// an in-process stand-in received them (for replaying them to the
/// stand-in process alone).
fn requests(dir: &Path, spool: &Path, cfg: Config, max: usize) -> Vec<KeptRequest> {
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.keep_request_bodies(max);
    // Its own directory: the stand-in process's key file stays as it is.
    let dir = dir.join("capture");
    std::fs::create_dir_all(&dir).unwrap();
    let key = write_key_file(&dir, &s, "bench-project");
    let copy = dir.join("capture.spool");
    copy_spool(spool, &copy);
    let out = Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .args(["upload", "--once", "--spool"])
        .arg(&copy)
        .args(["--endpoint", &s.endpoint(), "--credentials"])
        .arg(&key)
        .args(cfg.flags())
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Span requests only (the uploader may also ask the server for its
    // time first).
    s.kept_requests()
        .into_iter()
        .filter(|q| q.path.ends_with("/v1/traces") || q.path.ends_with(":batchWrite"))
        .collect()
}

/// Posts every request on one keep-alive connection; returns the elapsed
/// time.
fn post_all(addr: &str, token: &str, requests: &[KeptRequest]) -> Duration {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let start = Instant::now();
    for q in requests {
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n",
            q.path,
            q.body.len()
        );
        for (k, v) in &q.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&q.body).unwrap();
        let mut status = String::new();
        r.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "{status} for POST {}", q.path);
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

/// What one upload run measured.
struct Run {
    secs: f64,
    uploader_cpu: f64,
    standin_cpu: f64,
    bytes: u64,
    peak_kib: u64,
}

fn upload_run(s: &StandInProcess, tpl: &Path, spool: &Path, n: usize, cfg: Config) -> Run {
    copy_spool(tpl, spool);
    let standin_before = s.cpu_seconds();
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .args(["upload", "--once", "--max-duration", "30m", "--spool"])
        .arg(spool)
        .args(["--endpoint", &s.endpoint, "--credentials"])
        .arg(&s.key)
        .args(cfg.flags())
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut peak_kib = 0;
    let (code, uploader_cpu) = loop {
        if let Some(done) = exited(child.id()) {
            break done;
        }
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(child);
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(code, 0, "uploader exit code");
    let r = SpoolReader::open(spool, &SpoolOptions::default()).unwrap();
    assert_eq!(r.totals().unwrap().rows(), 0, "every span left the spool");
    assert_eq!(r.counter(Counter::Uploaded).unwrap(), n as u64);
    Run {
        secs,
        uploader_cpu,
        standin_cpu: s.cpu_seconds() - standin_before,
        bytes: r.counter(Counter::UploadBytes).unwrap(),
        peak_kib,
    }
}

fn main() {
    if let Some(dir) = std::env::var_os(STANDIN_MODE) {
        run_standin(Path::new(&dir));
        return;
    }
    // `cargo bench` passes `--bench`; a filter picks configurations, e.g.
    // `-- otlp` or `-- cloudtrace/none`.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runs: usize = std::env::var("TRACESPOOL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let n = spans();
    let base = bench_dir(env!("CARGO_TARGET_TMPDIR"));
    eprintln!("spool in {} ({})", base.display(), filesystem_of(&base));
    let dir = tempfile::tempdir_in(&base).unwrap();
    let tpl = template(dir.path(), n);
    let s = StandInProcess::start(dir.path());
    let addr = s.endpoint.trim_start_matches("http://").to_owned();
    let tok = token(&s.key);
    let spool = dir.path().join("run.spool");
    let mut alone_spans = 0u64;
    eprintln!(
        "{n} pending spans per run, {runs} runs per configuration; spans/s as min / median / max"
    );
    for cfg in [
        Config {
            sink: "cloudtrace",
            compression: "none",
        },
        Config {
            sink: "cloudtrace",
            compression: "gzip",
        },
        Config {
            sink: "otlp",
            compression: "none",
        },
        Config {
            sink: "otlp",
            compression: "gzip",
        },
    ] {
        let name = format!("{}/{}", cfg.sink, cfg.compression);
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        // The stand-in alone, on the same requests (batches of 1000).
        let sample = requests(dir.path(), &tpl, cfg, 100);
        let sample_spans = 1000 * sample.len() as u64;
        let mut alone: Vec<f64> = (0..3)
            .map(|_| sample_spans as f64 / post_all(&addr, &tok, &sample).as_secs_f64())
            .collect();
        alone_spans += 3 * sample_spans;
        let (mut rate, mut up_cpu, mut si_cpu) = (Vec::new(), Vec::new(), Vec::new());
        let (mut bytes, mut peak) = (0u64, 0u64);
        for _ in 0..runs {
            let r = upload_run(&s, &tpl, &spool, n, cfg);
            rate.push(n as f64 / r.secs);
            up_cpu.push(r.uploader_cpu * 1e9 / n as f64);
            si_cpu.push(r.standin_cpu * 1e9 / n as f64);
            bytes = r.bytes;
            peak = peak.max(r.peak_kib);
        }
        let (a0, a1, a2) = range(&mut alone);
        let (r0, r1, r2) = range(&mut rate);
        let (_, u1, _) = range(&mut up_cpu);
        let (_, s1, _) = range(&mut si_cpu);
        eprintln!(
            "{name:<16} uploader {r0:>7.0} / {r1:>7.0} / {r2:>7.0} spans/s | stand-in alone {a0:>7.0} / {a1:>7.0} / {a2:>7.0} | \
             {:.1} bytes/span on the wire | uploader CPU {u1:.0} ns/span, stand-in CPU {s1:.0} ns/span | peak RSS {peak} KiB",
            bytes as f64 / n as f64
        );
    }
    let (accepted, rejected) = s.stop();
    assert_eq!(rejected, 0, "the stand-in rejected requests");
    assert_eq!(
        (accepted - alone_spans) % n as u64,
        0,
        "the stand-in accepted {accepted} spans: every span exactly once per run"
    );
}
