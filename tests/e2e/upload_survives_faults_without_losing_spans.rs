//! Every fault the network, the credentials or the server can throw: every
//! span still arrives, duplicates stay within the batch in flight (and are
//! counted), a poison span is quarantined alone, nothing is ever dropped.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use tracespool_spool::{Counter, SpoolOptions, SpoolReader};
use tracespool_tests::standin::{Fault, StandIn};
use tracespool_tests::{record_spans, span_id_of, test_account, write_key_file};

fn upload(spool: &Path, endpoint: &str, key: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tracespool"));
    c.args(["upload", "--spool"])
        .arg(spool)
        .args(tracespool_tests::cli::sink_args())
        .args(["--endpoint", endpoint, "--credentials"])
        .arg(key)
        .args(extra)
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env("RUST_LOG", "info");
    c
}

fn run(mut c: Command) -> (Output, String) {
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, err)
}

struct Setup {
    dir: tempfile::TempDir,
    spool: PathBuf,
    ids: Vec<String>,
}

fn setup(n: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("s.spool");
    let ids = record_spans(&spool, n);
    Setup { dir, spool, ids }
}

/// Every recorded span arrived at least once; returns the duplicates.
fn all_arrived(s: &StandIn, ids: &[String]) -> u32 {
    let by_name = s.accepted_by_name();
    let by_id: HashMap<&str, u32> = by_name.iter().map(|(k, v)| (span_id_of(k), *v)).collect();
    for id in ids {
        assert!(by_id.contains_key(id.as_str()), "span {id} never arrived");
    }
    by_id.values().map(|n| n - 1).sum()
}

fn pending(spool: &Path) -> u64 {
    SpoolReader::open(spool, &SpoolOptions::default())
        .unwrap()
        .totals()
        .unwrap()
        .pending_rows
}

#[test]
fn resets_broken_answers_and_503_are_retried_with_retry_after() {
    let t = setup(600);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(t.dir.path(), &s, "proj-p1");
    s.push_faults([
        Fault::Reset,
        Fault::Status(503, Some(2)),
        Fault::BrokenConnection,
    ]);
    let (out, err) = run(upload(
        &t.spool,
        &s.endpoint(),
        &key,
        &["--once", "--batch-size", "200"],
    ));
    assert_eq!(out.status.code(), Some(0), "{err}");
    // The reset and the broken answer come before the stand-in stores
    // anything: no duplicate.
    assert_eq!(all_arrived(&s, &t.ids), 0);
    assert_eq!(pending(&t.spool), 0);
    let times = s.request_times();
    assert!(
        times[2] - times[1] >= Duration::from_secs(2),
        "Retry-After: 2 was not honoured"
    );
    let r = SpoolReader::open(&t.spool, &SpoolOptions::default()).unwrap();
    assert_eq!(r.counter(Counter::UploadRetries).unwrap(), 3);
    // Both are ambiguous: counted as possible duplicates (2 x 200).
    assert_eq!(
        r.counter(Counter::UploadPossibleDuplicates).unwrap(),
        400,
        "{err}"
    );
    assert_eq!(
        err.matches("upload failed; spans stay in the spool")
            .count(),
        3,
        "{err}"
    );
}

/// On the uploader's simulated clock (`--simulated-waits`): the wait is
/// the uploader's decision, and its real sleep is the one the Retry-After
/// test above proves.
#[test]
fn a_429_waits_at_least_30_seconds() {
    let t = setup(50);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(t.dir.path(), &s, "proj-p1");
    s.push_faults([Fault::Status(429, Some(1))]);
    let (out, err) = run(upload(
        &t.spool,
        &s.endpoint(),
        &key,
        &[
            "--once",
            "--max-duration",
            "120s",
            "--simulated-waits",
            "--log-format",
            "json",
        ],
    ));
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(all_arrived(&s, &t.ids), 0);
    assert_eq!(s.request_times().len(), 2);
    let waits = tracespool_tests::cli::simulated_waits(&err);
    assert_eq!(
        waits.len(),
        1,
        "one wait between the 429 and the resend: {err}"
    );
    assert!(
        waits[0] >= Duration::from_secs(30),
        "429 retried after {:?}",
        waits[0]
    );
}

/// The simulated clock counts toward `--max-duration`: waits that would
/// pass it stop the run with the spans kept (75), at once.
#[test]
fn repeated_429s_reach_the_deadline_on_the_simulated_clock() {
    let t = setup(20);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(t.dir.path(), &s, "proj-p1");
    s.push_faults((0..10).map(|_| Fault::Status(429, None)));
    let started = Instant::now();
    let (out, err) = run(upload(
        &t.spool,
        &s.endpoint(),
        &key,
        &[
            "--once",
            "--max-duration",
            "100s",
            "--simulated-waits",
            "--log-format",
            "json",
        ],
    ));
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let waits = tracespool_tests::cli::simulated_waits(&err);
    // 30 s or more each: three fit in 100 s, a fourth would pass it.
    assert!((2..=3).contains(&waits.len()), "{waits:?}");
    assert!(waits.iter().all(|w| *w >= Duration::from_secs(30)));
    assert_eq!(pending(&t.spool), 20);
}

#[test]
fn slow_answers_past_the_timeout_duplicate_only_the_batch_in_flight() {
    let t = setup(1000);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(t.dir.path(), &s, "proj-p1");
    // The stand-in stores the batch, then answers after the client gave up.
    s.push_faults([Fault::Slow(Duration::from_millis(2500))]);
    let (out, err) = run(upload(
        &t.spool,
        &s.endpoint(),
        &key,
        &["--once", "--batch-size", "250", "--request-timeout", "1s"],
    ));
    assert_eq!(out.status.code(), Some(0), "{err}");
    let dups = all_arrived(&s, &t.ids);
    assert!(
        dups <= 250,
        "{dups} duplicates, more than the batch in flight"
    );
    assert_eq!(dups, 250, "the timed-out batch was stored and resent");
    let r = SpoolReader::open(&t.spool, &SpoolOptions::default()).unwrap();
    assert!(r.counter(Counter::UploadPossibleDuplicates).unwrap() >= u64::from(dups));
}

#[test]
fn a_401_gets_a_new_token() {
    let t = setup(100);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(t.dir.path(), &s, "proj-p1");
    s.push_faults([Fault::Unauthorized]);
    let (out, err) = run(upload(&t.spool, &s.endpoint(), &key, &["--once"]));
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(all_arrived(&s, &t.ids), 0);
    assert_eq!(
        s.token_requests(),
        2,
        "the token was not refreshed after 401"
    );
}

#[test]
fn a_poison_span_is_quarantined_alone() {
    let t = setup(1000);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(t.dir.path(), &s, "proj-p1");
    let poison = t.ids[617].clone();
    s.poison(&poison);
    let (out, err) = run(upload(
        &t.spool,
        &s.endpoint(),
        &key,
        &["--once", "--batch-size", "500"],
    ));
    assert_eq!(out.status.code(), Some(0), "{err}");
    let by_name = s.accepted_by_name();
    assert_eq!(by_name.len(), 999);
    assert!(
        by_name.values().all(|n| *n == 1),
        "a 400 must not cause duplicates"
    );
    assert!(!by_name.keys().any(|k| span_id_of(k) == poison));
    let r = SpoolReader::open(&t.spool, &SpoolOptions::default()).unwrap();
    let t2 = r.totals().unwrap();
    assert_eq!((t2.pending_rows, t2.quarantined_rows), (0, 1));
    let q = r.quarantined(10).unwrap();
    // Cloud Trace refuses the request (400: split until the span is alone);
    // an OTLP server accepts the rest and names the span in a partial
    // success.
    let how = if tracespool_tests::cli::sink_is_otlp() {
        "OTLP partial success"
    } else {
        "HTTP 400"
    };
    assert!(
        q[0].reason.contains(how) && q[0].reason.contains("poison"),
        "{}",
        q[0].reason
    );
}

#[test]
fn offline_once_exits_75_and_keeps_everything() {
    let t = setup(100);
    // A port nothing listens on, and a key file pointing there too.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let key = t.dir.path().join("key.json");
    std::fs::write(
        &key,
        test_account().key_file_json(&format!("{endpoint}/token"), "proj-p1"),
    )
    .unwrap();
    let start = Instant::now();
    let (out, err) = run(upload(
        &t.spool,
        &endpoint,
        &key,
        &["--once", "--max-duration", "3s"],
    ));
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(pending(&t.spool), 100);
    assert!(err.contains("spans remain"), "{err}");
    let r = SpoolReader::open(&t.spool, &SpoolOptions::default()).unwrap();
    assert!(r.meta("last_error").unwrap().is_some());
}

#[test]
fn missing_credentials_exit_75_with_a_clear_reason() {
    let t = setup(10);
    let s = StandIn::start(0, test_account(), 1).unwrap();
    let missing = t.dir.path().join("no-such-key.json");
    let (out, err) = run(upload(
        &t.spool,
        &s.endpoint(),
        &missing,
        &["--once", "--project", "proj-p1", "--max-duration", "2s"],
    ));
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(err.contains("no credentials from key file"), "{err}");
    assert_eq!(pending(&t.spool), 10);
    assert_eq!(s.requests(), 0);
}

#[test]
fn configuration_errors_exit_78_and_a_second_uploader_exits_69() {
    let t = setup(10);
    let s = StandIn::start(0, test_account(), 1).unwrap();
    let key = write_key_file(t.dir.path(), &s, "proj-p1");
    let not_spool = t.dir.path().join("notes.txt");
    std::fs::write(&not_spool, "hello").unwrap();
    let (out, err) = run(upload(&not_spool, &s.endpoint(), &key, &["--once"]));
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("notes.txt") && err.contains("not a tracespool spool"),
        "{err}"
    );
    let (out, _) = run(upload(
        &t.dir.path().join("missing.spool"),
        &s.endpoint(),
        &key,
        &["--once"],
    ));
    assert_eq!(out.status.code(), Some(78));
    let (out, _) = run(upload(
        &t.spool,
        &s.endpoint(),
        &key,
        &["--once", "--batch-size", "0"],
    ));
    assert_eq!(out.status.code(), Some(64), "a usage error");

    let lock = tracespool_spool::UploaderLock::try_acquire(&t.spool)
        .unwrap()
        .unwrap();
    let (out, err) = run(upload(&t.spool, &s.endpoint(), &key, &["--once"]));
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(err.contains("another uploader"), "{err}");
    drop(lock);
    assert_eq!(pending(&t.spool), 10);
}

fn wait_child(c: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn service_mode_waits_for_the_network_follows_new_spans_and_stops_on_sigterm() {
    let t = setup(300);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let account = test_account();
    let key = t.dir.path().join("key.json");
    std::fs::write(
        &key,
        account.key_file_json(&format!("{endpoint}/token"), "proj-p1"),
    )
    .unwrap();
    let log = t.dir.path().join("uploader.log");
    let mut child = upload(&t.spool, &endpoint, &key, &["--max-backoff", "1s"])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    // Offline: the uploader fails, waits, and keeps every span.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log_text().contains("upload failed; spans stay in the spool") {
        assert!(
            Instant::now() < deadline,
            "no failure logged: {}",
            log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(pending(&t.spool), 300);
    // The network comes back.
    let s = StandIn::start(port, account, 2).unwrap();
    assert!(
        s.wait_for_count(300, Duration::from_secs(30)),
        "never delivered"
    );
    // New spans are sent within about a second of their commit.
    let more = record_spans(&t.spool, 7);
    let committed = Instant::now();
    let delivered = s.wait_for_count(307, Duration::from_secs(10));
    if !delivered {
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    }
    assert!(delivered, "new spans not sent: {}", log_text());
    assert!(
        committed.elapsed() < Duration::from_secs(3),
        "took {:?}",
        committed.elapsed()
    );
    let mut all = t.ids.clone();
    all.extend(more);
    assert_eq!(all_arrived(&s, &all), 0);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = wait_child(&mut child, Duration::from_secs(20)).expect("did not stop on SIGTERM");
    assert_eq!(st.code(), Some(0));
    assert_eq!(pending(&t.spool), 0);
}
