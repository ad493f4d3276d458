//! A spool with a damaged SQLite page: every command reports it (exit 78,
//! with what to do), `tracespool recover` moves every readable span into a
//! fresh spool and reports exactly what was lost, and the sound spans then
//! upload.
use std::collections::HashSet;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Output;

use serde_json::Value;
use tracespool_spool::{Counter, SpoolOptions, SpoolReader};
use tracespool_tests::cli;
use tracespool_tests::standin::StandIn;
use tracespool_tests::{record_spans, span_id_of, test_account, write_key_file};

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

fn ts(args: &[&str], spool: &Path) -> Output {
    cli::run(BIN, args, spool)
}

/// Overwrites one page in the middle of the spans table with garbage.
fn damage_a_page(spool: &Path) {
    let page_size: i64 = rusqlite::Connection::open(spool)
        .unwrap()
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    let page_size = page_size as u64;
    let pages = std::fs::metadata(spool).unwrap().len() / page_size;
    let mut f = std::fs::OpenOptions::new().write(true).open(spool).unwrap();
    f.seek(SeekFrom::Start(page_size * (pages / 2))).unwrap();
    f.write_all(&vec![0xa5; page_size as usize]).unwrap();
}

#[test]
fn every_command_reports_the_damage_and_recover_keeps_every_readable_span() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("c.spool");
    let ids: HashSet<String> = record_spans(&spool, 3000).into_iter().collect();
    damage_a_page(&spool);

    for args in [
        &["inspect"][..],
        &["spans", "--limit", "100000"][..],
        &["export"][..],
    ] {
        let out = ts(args, &spool);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {err}");
        assert!(err.contains("tracespool recover"), "{args:?}: {err}");
    }
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "rec-project");
    let upload =
        |expect: i32| cli::expect_exit(&cli::upload_once(BIN, &spool, &s, &key, &[]), expect);
    assert!(upload(78).contains("tracespool recover"));
    let sent_before = s.accepted_by_name().len();

    let out = ts(&["recover", "--json"], &spool);
    cli::expect_exit(&out, 0);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let recovered = report["pending_rows"].as_u64().unwrap();
    let lost = report["rows_lost"].as_u64().unwrap();
    assert!(lost > 0 && recovered > 0, "{report:#}");
    eprintln!("sent before the damage was met: {sent_before}; report: {report}");
    assert_eq!(
        recovered + lost + sent_before as u64,
        3000,
        "every span is recovered, lost or was sent: {report:#}"
    );
    let aside = report["damaged_kept_as"].as_str().unwrap();
    assert!(Path::new(aside).exists(), "the damaged file is kept");

    // The fresh spool is sound and says what was lost.
    let out = ts(&["inspect", "--json"], &spool);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["integrity"], "ok");
    assert_eq!(v["counters"]["lost_to_damage"], lost);
    assert_eq!(v["counters"]["appended"], 3000, "counters survive");

    upload(0);
    let accepted = s.accepted_by_name();
    assert_eq!(accepted.len() as u64, recovered + sent_before as u64);
    assert!(accepted.values().all(|n| *n == 1), "no duplicates");
    assert!(accepted.keys().all(|k| ids.contains(span_id_of(k))));
    let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
    assert_eq!(r.totals().unwrap().rows(), 0);
    assert_eq!(r.counter(Counter::LostToDamage).unwrap(), lost);
}
