//! A spool is set up for several processes on one WAL file, and SQLite's
//! errors reach the caller as text. (That the linked SQLite has the
//! WAL-reset fix is a unit test of the `version` module.)
use tracespool_spool::*;

#[test]
fn a_new_spool_is_in_wal_mode_with_its_marker() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.spool");
    let w = SpoolWriter::open(&path, Budget::default(), &SpoolOptions::default()).unwrap();
    // A second, independent connection (another "process") sees the
    // persistent settings.
    let c = rusqlite::Connection::open(&path).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let app: i32 = c
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, APPLICATION_ID);
    drop(w);
}

#[test]
fn an_error_names_sqlites_text_without_exposing_its_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.spool");
    let opts = SpoolOptions::default().with_max_page_count(12);
    let mut w = SpoolWriter::open(&path, Budget::default(), &opts).unwrap();
    let rec = vec![1u8; 4000];
    let e = loop {
        let row = NewRow::new(&[1; 16], &[2; 8], None, "x", (now_ns(), now_ns()), &rec);
        if let Err(e) = w.append(&[row], RecorderDrops::default()) {
            break e;
        }
    };
    assert!(e.is_disk_full(), "{e}");
    let sqlite = e.sqlite().expect("an SQLite error");
    assert_eq!(sqlite.kind(), SqliteErrorKind::DiskFull);
    assert!(e.to_string().contains("database or disk is full"), "{e}");
    assert!(e.to_string().contains("append spans"), "{e}");
}
