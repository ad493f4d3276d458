//! On a small file system (real 4 MiB and 8 MiB tmpfs mounts, as edge
//! boxes keep state on `/run` or a small eMMC partition), a recorder
//! records until the file system is full but for the documented margin
//! (the space reserve, a sixteenth of the file system and at least
//! 256 KiB, held in `SPOOL.reserve` for the uploader; and 64 KiB), then
//! counts what it drops; `inspect` works; `upload --once` drains every
//! span, once; recording resumes in the room the upload freed, and the
//! drops reach the spool's counters with the first batch written.
use std::time::{Duration, Instant};

use serde_json::Value;
use tracespool::Recorder;
use tracespool_spool::{
    reserve_for, reserve_path, Counter, SpoolOptions, SpoolReader, MARGIN_BYTES,
};
use tracespool_tests::standin::StandIn;
use tracespool_tests::tmpfs::Tmpfs;
use tracespool_tests::{cli, test_account, write_key_file};

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

fn free_bytes(dir: &std::path::Path) -> u64 {
    tracespool_spool::fs_info(&dir.join("x"))
        .unwrap()
        .free_bytes
}

/// Records at about 10,000 spans a second, committed every 10 ms (small
/// batches, as a steady load makes them), until spans are dropped for
/// lack of room, then a second more.
fn record_until_no_room(rec: &Recorder) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut full_since = None;
    let mut i = 0i64;
    loop {
        for _ in 0..100 {
            let mut s = rec.span("GET /status");
            s.set_attribute("i", i);
            s.set_attribute("http.route", "/status");
            i += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
        if rec.stats().dropped_no_room > 0 && full_since.is_none() {
            full_since = Some(Instant::now());
        }
        if full_since.is_some_and(|t| t.elapsed() > Duration::from_secs(1)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never ran out of room: {:?}",
            rec.stats()
        );
    }
    let _ = rec.flush();
}

#[test]
fn a_recorder_fills_a_small_disk_and_the_uploader_drains_it() {
    for mib in [4u64, 8] {
        let size = mib << 20;
        let Some(fs) = Tmpfs::mount(size) else { return };
        let spool = fs.join("app.spool");
        let (rec, guard) = Recorder::builder(&spool)
            .service_name("kiosk")
            .flush_interval(Duration::from_millis(10))
            .build()
            .unwrap();
        record_until_no_room(&rec);
        let before = rec.stats();
        assert!(before.written > 1000, "{mib} MiB: only {before:?}");
        // Full, but for the margin: the reserve holds the uploader's room,
        // and what is free is less than the margin plus a batch.
        let reserve = reserve_for(size);
        assert_eq!(
            std::fs::metadata(reserve_path(&spool)).unwrap().len(),
            reserve,
            "{mib} MiB"
        );
        let free = free_bytes(fs.path());
        assert!(
            free < MARGIN_BYTES + (256 << 10),
            "{mib} MiB: {free} bytes left free"
        );

        // Inspect works on the full disk, and already shows the drops
        // (committed alone while no row fits).
        let out = cli::run(BIN, &["inspect", "--json"], &spool);
        cli::expect_exit(&out, 0);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["pending"]["spans"], before.written, "{mib} MiB");
        let noted = v["recorder_dropped"]["no_room"].as_u64().unwrap();
        assert!(
            noted > 0 && noted <= before.dropped_no_room,
            "{mib} MiB: {noted} of {} no-room drops in the spool",
            before.dropped_no_room
        );

        // The uploader drains it, every span once.
        let dir = tempfile::tempdir().unwrap();
        let s = StandIn::start(0, test_account(), 2).unwrap();
        let key = write_key_file(dir.path(), &s, "proj-p1");
        let out = cli::upload_once(BIN, &spool, &s, &key, &[]);
        cli::expect_exit(&out, 0);
        let accepted = s.accepted_by_name();
        assert_eq!(accepted.len() as u64, before.written, "{mib} MiB");
        assert!(accepted.values().all(|n| *n == 1), "a span was sent twice");

        // Recording resumes in the freed room; the drops arrive with the
        // first batch written.
        for i in 0..500i64 {
            let mut sp = rec.span("after the upload");
            sp.set_attribute("i", i);
        }
        rec.flush().unwrap_or_else(|e| panic!("{mib} MiB: {e}"));
        let after = rec.stats();
        assert_eq!(after.written, before.written + 500, "{mib} MiB: {after:?}");
        let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
        assert_eq!(
            r.counter(Counter::RecorderNoRoom).unwrap(),
            after.dropped_no_room
        );
        assert_eq!(
            r.counter(Counter::RecorderWriteErrors).unwrap(),
            after.dropped_write_error
        );
        assert!(after.dropped_no_room > 0);
        drop(r);
        drop(guard);
    }
}
