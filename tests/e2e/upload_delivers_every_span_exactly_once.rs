//! Record with the recorder, upload with the real binary over real HTTP to
//! the stand-in, with a real OAuth flow: every span arrives exactly once and
//! leaves the spool.
use std::collections::HashSet;
use std::path::Path;
use std::process::Output;
use tracespool_tests::cli::expect_exit;

use tracespool_spool::{Counter, SpoolOptions, SpoolReader};
use tracespool_tests::cli;
use tracespool_tests::standin::StandIn;
use tracespool_tests::{record_spans, span_id_of, test_account, write_key_file};

/// `tracespool upload --once` to the stand-in, credentials from `key` only.
fn upload_once(spool: &Path, s: &StandIn, key: &Path, extra: &[&str]) -> Output {
    cli::upload_once(env!("CARGO_BIN_EXE_tracespool"), spool, s, key, extra)
}

#[test]
fn once_delivers_everything_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("s.spool");
    let ids = record_spans(&spool, 2500);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "proj-from-key");
    let out = upload_once(&spool, &s, &key, &["--batch-size", "400"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let accepted = s.accepted_by_name();
    assert_eq!(accepted.len(), 2500);
    assert!(
        accepted.values().all(|n| *n == 1),
        "duplicates without faults"
    );
    let got: HashSet<&str> = accepted.keys().map(|k| span_id_of(k)).collect();
    let want: HashSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(got, want);
    // The project came from the key file, the token from the token endpoint.
    assert!(accepted
        .keys()
        .all(|k| k.starts_with("projects/proj-from-key/")));
    assert!(s.token_requests() >= 1);
    assert!(s.rejections().is_empty(), "{:?}", s.rejections());
    // The sink this binary runs against was the one used: OTLP requests
    // (gzipped by default) or Cloud Trace ones (no OTLP request at all).
    let encodings = s.request_encodings();
    if cli::sink_is_otlp() {
        assert_eq!(encodings.len(), 7, "2500 spans in batches of 400");
        assert!(encodings.iter().all(|e| e.as_deref() == Some("gzip")));
    } else {
        assert!(encodings.is_empty());
    }
    let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
    assert_eq!(r.totals().unwrap().rows(), 0);
    assert_eq!(r.counter(Counter::Uploaded).unwrap(), 2500);
    assert!(r.meta("last_success_ns").unwrap().is_some());
    // No secret in the logs.
    assert!(!stderr.contains("ya29."), "a token reached the log");
    assert!(!stderr.contains("PRIVATE KEY"));
}

/// A run killed after Cloud Trace accepted a batch, but before its rows were
/// deleted, leaves them below the spool's delivered mark: the next run
/// deletes them (counted as uploaded) and never sends them again.
#[test]
fn spans_marked_delivered_are_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("m.spool");
    let ids = record_spans(&spool, 1000);
    let mut r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
    let lease = r.lease(0, 1000).unwrap();
    // As a killed run leaves it: the first 300 delivered and marked, not
    // deleted; one of them quarantined since (the mark covers only pending
    // rows and must leave it alone).
    r.mark_delivered(lease[299].row_id).unwrap();
    r.mark_delivered(lease[10].row_id).unwrap(); // never moves back
    r.quarantine(&[(lease[5].row_id, "test")]).unwrap();
    drop(r);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "proj-p1");
    let out = upload_once(&spool, &s, &key, &[]);
    expect_exit(&out, 0);
    let accepted = s.accepted_by_name();
    let got: HashSet<&str> = accepted.keys().map(|k| span_id_of(k)).collect();
    let want: HashSet<&str> = ids[300..].iter().map(String::as_str).collect();
    assert_eq!(got.len(), 700, "only the spans above the mark are sent");
    assert!(got == want, "only the spans above the mark are sent");
    assert!(accepted.values().all(|n| *n == 1));
    let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
    let t = r.totals().unwrap();
    assert_eq!((t.pending_rows, t.quarantined_rows), (0, 1));
    assert_eq!(r.counter(Counter::Uploaded).unwrap(), 999);
}
