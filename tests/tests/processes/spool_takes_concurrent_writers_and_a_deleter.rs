//! Two processes with four threads each append 100,000 spans in total to one
//! spool while a third party leases and deletes: nobody sees an error, and
//! every count is exact.
use std::process::Command;
use std::time::{Duration, Instant};

use tracespool_spool::{Counter, SpoolOptions, SpoolReader};

#[test]
fn two_writer_processes_and_a_deleter_count_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("multi.spool");
    // Create the spool first so the deleter can open it.
    drop(
        tracespool_spool::SpoolWriter::open(&path, Default::default(), &SpoolOptions::default())
            .unwrap(),
    );
    let spawn = |n: u64| {
        Command::new(env!("CARGO_BIN_EXE_spool-child"))
            .args(["append", path.to_str().unwrap(), &n.to_string(), "4"])
            .output()
    };
    let deleter_path = path.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let deleter = std::thread::spawn(move || {
        let mut r = SpoolReader::open(&deleter_path, &SpoolOptions::default()).unwrap();
        let mut deleted = 0u64;
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let done = stop2.load(std::sync::atomic::Ordering::SeqCst);
            let lease = r.lease(0, 2000).unwrap();
            if let (Some(a), Some(b)) = (lease.first(), lease.last()) {
                deleted += r.ack(a.row_id, b.row_id).unwrap();
            } else if done {
                return deleted;
            } else {
                std::thread::sleep(Duration::from_millis(2));
            }
            assert!(Instant::now() < deadline);
        }
    });
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn(60_000));
        let b = s.spawn(|| spawn(40_000));
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let deleted = deleter.join().unwrap();
    for (out, n) in [(a, 60_000), (b, 40_000)] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("written {n}")
        );
    }
    let r = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    let left = r.totals().unwrap().pending_rows;
    assert_eq!(left, 0, "the deleter drained everything");
    assert_eq!(deleted + left, 100_000);
    assert_eq!(r.counter(Counter::Appended).unwrap(), 100_000);
    assert_eq!(r.counter(Counter::Uploaded).unwrap(), 100_000);
    assert_eq!(r.counter(Counter::RecorderQueueFull).unwrap(), 0);
    assert_eq!(r.counter(Counter::RecorderWriteErrors).unwrap(), 0);
}

/// Opening a second connection in a process must not drop the POSIX locks
/// of the first (closing any descriptor of the file would): otherwise a
/// writer process that exits believes it is the last user, deletes the WAL,
/// and this process keeps reading a stale copy.
#[test]
fn a_second_connection_does_not_split_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("split.spool");
    let append = |n: u64| {
        let out = Command::new(env!("CARGO_BIN_EXE_spool-child"))
            .args(["append", path.to_str().unwrap(), &n.to_string(), "1"])
            .output()
            .unwrap();
        assert!(out.status.success());
    };
    append(10);
    let mut first = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    assert_eq!(first.totals().unwrap().pending_rows, 10);
    let second = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    let third = SpoolReader::open_read_only(&path).unwrap();
    // Another process writes and exits.
    append(5);
    for r in [&first, &second, &third] {
        assert_eq!(
            r.totals().unwrap().pending_rows,
            15,
            "a connection missed the other process's commit"
        );
    }
    // And what this process deletes, the others see deleted.
    let lease = first.lease(0, 100).unwrap();
    first.ack(lease[0].row_id, lease[14].row_id).unwrap();
    append(1);
    let fresh = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    for r in [&first, &second, &third, &fresh] {
        assert_eq!(r.totals().unwrap().pending_rows, 1);
    }
}
