//! A spool of format 1 with version-1 records, written by the first build
//! (`tests/fixtures/spool_v1.sqlite`,
//! never regenerated) still opens, inspects and uploads exactly with this
//! build: the spool format is the contract between versions.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use tracespool_tests::cli::expect_exit;

use serde_json::Value;
use tracespool_spool::{Counter, SpoolOptions, SpoolReader};
use tracespool_tests::cli;
use tracespool_tests::standin::StandIn;
use tracespool_tests::{span_id_of, test_account, write_key_file};

/// The spans were recorded on 2025-12-01 starting at 00:00:00Z.
const RECORDED_AT: &str = "2025-12-01T12:00:00Z";
const RECORDED_AT_S: u64 = 1_764_590_400;

/// A private copy of the fixture (the committed file is never written).
fn golden_copy(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/spool_v1.sqlite");
    let dst = dir.join("golden.spool");
    std::fs::copy(&src, &dst).unwrap();
    dst
}

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

fn tracespool(args: &[&str], spool: &Path) -> std::process::Output {
    cli::run(BIN, args, spool)
}

#[test]
fn inspect_reads_every_count_of_the_golden_spool() {
    let dir = tempfile::tempdir().unwrap();
    let spool = golden_copy(dir.path());
    let out = tracespool(&["inspect", "--json"], &spool);
    expect_exit(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["pending"]["spans"], 5);
    assert_eq!(v["pending"]["bytes"], 1266);
    assert_eq!(v["quarantined"]["spans"], 1);
    assert_eq!(v["quarantined"]["bytes"], 254);
    assert_eq!(
        v["quarantined"]["reasons"][0]["reason"],
        "400 Bad Request: invalid span (golden)"
    );
    let c = &v["counters"];
    assert_eq!(c["appended"], 6);
    assert_eq!(c["quarantined"], 1);
    assert_eq!(c["recorder_queue_full"], 3);
    assert_eq!(c["recorder_write_errors"], 2);
    assert_eq!(c["upload_retries"], 4);
    assert_eq!(c["upload_possible_duplicates"], 1);
    assert_eq!(v["oldest_pending"]["name"], "step 0");
    assert_eq!(v["newest_pending"]["name"], "step 5");
    assert_eq!(v["newest_pending"]["row"], 6);
    assert_eq!(v["upload"]["last_error"], "offline (golden)");

    // The tree of the one trace: the root and its five children.
    let out = tracespool(&["trace"], &spool);
    assert_ne!(out.status.code(), Some(0), "trace needs an id");
    let out = Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .args(["trace", "--json"])
        .arg(&spool)
        .arg("5f1c0a6b2e9d4c3b8a7f6e5d4c3b2a19")
        .output()
        .unwrap();
    expect_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    for i in 0..=5 {
        assert!(
            text.contains(&format!("step {i}")),
            "step {i} missing: {text}"
        );
    }
}

#[test]
fn upload_sends_exactly_the_pending_spans_of_the_golden_spool() {
    let dir = tempfile::tempdir().unwrap();
    let spool = golden_copy(dir.path());
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.judge_times_as_of(RECORDED_AT_S);
    let key = write_key_file(dir.path(), &s, "golden-project");
    let out = cli::upload_once(BIN, &spool, &s, &key, &["--as-of", RECORDED_AT]);
    cli::expect_exit(&out, 0);
    assert!(s.rejections().is_empty(), "{:?}", s.rejections());
    let accepted = s.accepted_by_name();
    assert!(accepted.values().all(|n| *n == 1), "duplicates");
    let got: HashSet<&str> = accepted.keys().map(|k| span_id_of(k)).collect();
    // Rows 1-4 and 6 are pending; row 5 (`step 4`, span 0x1004) is quarantined.
    let want: HashSet<&str> = [
        "0000000000001000",
        "0000000000001001",
        "0000000000001002",
        "0000000000001003",
        "0000000000001005",
    ]
    .into();
    assert_eq!(got, want);
    assert!(accepted.keys().all(
        |k| k.starts_with("projects/golden-project/traces/5f1c0a6b2e9d4c3b8a7f6e5d4c3b2a19/spans/")
    ));

    let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
    let t = r.totals().unwrap();
    assert_eq!((t.pending_rows, t.quarantined_rows), (0, 1));
    assert_eq!(r.counter(Counter::Uploaded).unwrap(), 5);
    assert_eq!(r.counter(Counter::UploadExpired).unwrap(), 0);
    assert_eq!(r.counter(Counter::Appended).unwrap(), 6);
    assert_eq!(r.counter(Counter::RecorderQueueFull).unwrap(), 3);
}

#[test]
fn export_of_the_golden_spool_carries_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let spool = golden_copy(dir.path());
    let out = tracespool(&["export", "--format", "jsonl"], &spool);
    expect_exit(&out, 0);
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "pending and quarantined rows");
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["ünïcödé 3", "began 2", "boom", "golden", "service.version"] {
        assert!(text.contains(needle), "{needle} missing");
    }
}
