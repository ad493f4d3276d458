//! A full file system never strands the spool: `inspect` works, the
//! uploader starts, sends, marks and deletes (spending the spool's space
//! reserve), with or without a recorder still writing, and no batch is
//! sent twice. A real full file system: a 24 MiB tmpfs (needs root to
//! mount; elsewhere the test says why it skipped).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tracespool::{OnFull, Recorder};
use tracespool_spool::{reserve_path, Counter, SpoolOptions, SpoolReader};
use tracespool_tests::cli;
use tracespool_tests::standin::StandIn;
use tracespool_tests::tmpfs::Tmpfs;
use tracespool_tests::{test_account, write_key_file};

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

/// Fills what is left of the file system with a file, as another program
/// would. Returns its path.
fn fill_the_rest(dir: &Path) -> PathBuf {
    let p = dir.join("other-program.bin");
    let mut f = std::fs::File::create(&p).unwrap();
    let chunk = vec![1u8; 64 << 10];
    while f.write_all(&chunk).is_ok() {}
    let small = [1u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
    p
}

/// Records spans until the recorder can write no more.
fn record_until_full(spool: &Path) -> u64 {
    let (rec, guard) = Recorder::builder(spool)
        .service_name("full")
        .on_full(OnFull::Block)
        .build()
        .unwrap();
    let mut n = 0u64;
    while rec.stats().dropped_write_error == 0 && n < 2_000_000 {
        for _ in 0..500 {
            let mut s = rec.span("fill");
            s.set_attribute("n", n as i64);
            s.set_attribute("pad", "some text to make the record a realistic size");
            n += 1;
        }
        let _ = rec.flush();
    }
    let written = rec.stats().written;
    drop(guard);
    assert!(written > 1000, "only {written} spans fit");
    written
}

fn upload(spool: &Path, s: &StandIn, key: &Path, max: &str) -> (Option<i32>, String) {
    let out = cli::upload_once(BIN, spool, s, key, &["--max-duration", max]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn with_the_disk_full_inspect_works_and_the_uploader_drains_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let Some(m) = Tmpfs::mount(24 << 20) else {
        return;
    };
    let spool = m.join("s.spool");
    let written = record_until_full(&spool);
    assert!(
        reserve_path(&spool).exists(),
        "the recorder keeps a reserve"
    );
    fill_the_rest(m.path());

    let out = cli::run(BIN, &["inspect", "--json"], &spool);
    cli::expect_exit(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pending"]["spans"], written);

    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "full-disk");
    let (code, err) = upload(&spool, &s, &key, "60s");
    assert_eq!(code, Some(0), "{err}");
    let accepted = s.accepted_by_name();
    assert_eq!(accepted.len() as u64, written);
    assert!(accepted.values().all(|n| *n == 1), "a batch was sent twice");
    let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
    assert_eq!(r.totals().unwrap().rows(), 0);
    assert_eq!(r.counter(Counter::Uploaded).unwrap(), written);
}

#[test]
fn with_the_disk_full_and_a_recorder_writing_nothing_is_sent_twice() {
    let dir = tempfile::tempdir().unwrap();
    let Some(m) = Tmpfs::mount(24 << 20) else {
        return;
    };
    let spool = m.join("s.spool");
    record_until_full(&spool);
    fill_the_rest(m.path());
    // A recorder keeps writing as fast as it can, dropping (and counting)
    // what does not fit.
    let stop = Arc::new(AtomicBool::new(false));
    let recorder = {
        let (spool, stop) = (spool.clone(), stop.clone());
        std::thread::spawn(move || {
            let (rec, guard) = Recorder::builder(&spool)
                .flush_interval(Duration::from_millis(5))
                .build()
                .unwrap();
            let mut i = 0i64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let mut s = rec.span("more");
                s.set_attribute("i", i);
                s.set_attribute("pad", "some text to make the record a realistic size");
                drop(s);
                if i % 500 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let _ = rec.flush();
            drop(guard);
        })
    };

    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "full-disk");
    // Two runs while the recorder keeps writing into the freed pages.
    for _ in 0..2 {
        let (code, err) = upload(&spool, &s, &key, "4s");
        assert!(matches!(code, Some(0) | Some(75)), "{err}");
        assert!(!err.contains("disk is full"), "{err}");
    }
    stop.store(true, Ordering::Relaxed);
    recorder.join().unwrap();
    let (code, err) = upload(&spool, &s, &key, "60s");
    assert_eq!(code, Some(0), "{err}");
    let accepted = s.accepted_by_name();
    assert!(accepted.len() > 1000);
    assert!(accepted.values().all(|n| *n == 1), "a batch was sent twice");
    let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
    assert_eq!(r.totals().unwrap().rows(), 0, "the spool drained");
    assert_eq!(r.counter(Counter::Uploaded).unwrap(), accepted.len() as u64);
}
