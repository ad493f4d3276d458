//! The spool's budget, states and tallies, against a real SQLite file.
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use tracespool_spool::*;

/// A plain SQLite connection on the spool file, as `sqlite3` would open it.
fn sql(r: &SpoolReader) -> rusqlite::Connection {
    rusqlite::Connection::open(r.path()).unwrap()
}

fn row<'a>(
    name: &'a str,
    record: &'a [u8],
    end_ns: u64,
    ids: &'a ([u8; 16], [u8; 8]),
) -> NewRow<'a> {
    NewRow::new(
        &ids.0,
        &ids.1,
        None,
        name,
        (end_ns.saturating_sub(1000), end_ns),
        record,
    )
}

const IDS: ([u8; 16], [u8; 8]) = ([1; 16], [2; 8]);

fn append_named(w: &mut SpoolWriter, names: &[String], rec: &[u8], end_ns: u64) -> AppendOutcome {
    let rows: Vec<NewRow<'_>> = names.iter().map(|n| row(n, rec, end_ns, &IDS)).collect();
    w.append(&rows, RecorderDrops::default()).unwrap()
}

fn names(r: &SpoolReader) -> Vec<String> {
    let c = sql(r);
    let mut stmt = c.prepare("SELECT name FROM spans ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn batch(from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("s{i:03}")).collect()
}

#[test]
fn drop_oldest_keeps_the_newest_and_counts_each_eviction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.spool");
    let rec = vec![0u8; 100];
    let budget = Budget::default().with_max_bytes(10 * row_bytes(100));
    let mut w = SpoolWriter::open(&path, budget, &SpoolOptions::default()).unwrap();
    let now = now_ns();
    let mut evicted = 0;
    for b in 0..5 {
        evicted += append_named(&mut w, &batch(b * 5, 5), &rec, now).evicted_oldest;
    }
    assert_eq!(evicted, 15);
    let r = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    assert_eq!(names(&r), batch(15, 10));
    let t = r.totals().unwrap();
    assert_eq!((t.pending_rows, t.pending_bytes), (10, 10 * row_bytes(100)));
    assert_eq!(r.counter(Counter::BudgetDroppedOldest).unwrap(), 15);
    assert_eq!(r.counter(Counter::Appended).unwrap(), 25);

    // A batch larger than the whole budget keeps its newest rows only.
    let out = append_named(&mut w, &batch(100, 12), &rec, now);
    assert_eq!(
        (out.written, out.refused_oversize, out.evicted_oldest),
        (10, 2, 10)
    );
    assert_eq!(names(&r), batch(102, 10));
    assert_eq!(r.counter(Counter::BudgetDroppedOldest).unwrap(), 27);
}

#[test]
fn drop_newest_keeps_the_oldest_and_counts_each_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.spool");
    let rec = vec![0u8; 50];
    let budget = Budget::default()
        .with_max_bytes(7 * row_bytes(50))
        .with_on_budget(OnBudget::DropNewest);
    let mut w = SpoolWriter::open(&path, budget, &SpoolOptions::default()).unwrap();
    let mut refused = 0;
    for b in 0..4 {
        refused += append_named(&mut w, &batch(b * 4, 4), &rec, now_ns()).refused_newest;
    }
    assert_eq!(refused, 9);
    let r = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    assert_eq!(names(&r), batch(0, 7));
    assert_eq!(r.counter(Counter::BudgetDroppedNewest).unwrap(), 9);
    // Room made by the uploader is used again.
    let lease = r.lease(0, 3).unwrap();
    let mut r = r;
    assert_eq!(r.ack(lease[0].row_id, lease[2].row_id).unwrap(), 3);
    let out = append_named(&mut w, &batch(50, 5), &rec, now_ns());
    assert_eq!((out.written, out.refused_newest), (3, 2));
}

#[test]
fn max_age_refuses_old_spans_and_sweeps_old_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.spool");
    let rec = vec![0u8; 10];
    let opts = SpoolOptions::default();
    // Rows written without an age limit...
    let mut w = SpoolWriter::open(&path, Budget::default(), &opts).unwrap();
    let old = now_ns() - 3_600_000_000_000;
    append_named(&mut w, &batch(0, 6), &rec, old);
    // ...are swept by a writer with one, and old new spans are refused.
    let budget = Budget::default().with_max_age(Duration::from_secs(60));
    let mut w = SpoolWriter::open(&path, budget, &opts).unwrap();
    let names_new = batch(10, 3);
    let rows: Vec<NewRow<'_>> = names_new
        .iter()
        .enumerate()
        .map(|(i, n)| row(n, &rec, if i == 1 { old } else { now_ns() }, &IDS))
        .collect();
    let out = w.append(&rows, RecorderDrops::default()).unwrap();
    assert_eq!((out.written, out.refused_age, out.evicted_age), (2, 1, 6));
    let r = SpoolReader::open(&path, &opts).unwrap();
    assert_eq!(names(&r), vec!["s010".to_string(), "s012".to_string()]);
    assert_eq!(r.counter(Counter::AgeExpired).unwrap(), 7);
    assert_eq!(r.totals().unwrap().pending_rows, 2);
}

#[test]
fn lease_ack_quarantine_requeue_keep_tallies_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.spool");
    let opts = SpoolOptions::default();
    let mut w = SpoolWriter::open(&path, Budget::default(), &opts).unwrap();
    let rec = vec![9u8; 20];
    append_named(&mut w, &batch(0, 10), &rec, now_ns());
    let mut r = SpoolReader::open(&path, &opts).unwrap();
    let lease = r.lease(0, 4).unwrap();
    assert_eq!(lease.len(), 4);
    assert_eq!(lease[0].record, rec);
    // Quarantine the 2nd, deliver the rest of the lease.
    assert_eq!(r.quarantine(&[(lease[1].row_id, "bad span")]).unwrap(), 1);
    assert_eq!(r.ack(lease[0].row_id, lease[3].row_id).unwrap(), 3);
    let t = r.totals().unwrap();
    assert_eq!((t.pending_rows, t.quarantined_rows), (6, 1));
    assert_eq!(t.quarantined_bytes, row_bytes(20));
    let q = r.quarantined(10).unwrap();
    assert_eq!(
        (q[0].row_id, q[0].reason.as_str()),
        (lease[1].row_id, "bad span")
    );
    // The next lease continues after the cursor and skips the quarantined row.
    let next = r.lease(lease[3].row_id, 100).unwrap();
    assert_eq!(next.len(), 6);
    // Requeue moves the row to the tail with a new id.
    assert_eq!(r.requeue(None).unwrap(), 1);
    let all = r.lease(0, 100).unwrap();
    assert_eq!(all.len(), 7);
    assert!(all.last().unwrap().row_id > next.last().unwrap().row_id);
    assert_eq!(names(&r).last().unwrap(), "s001");
    // Remove (expiry) and purge are counted.
    assert_eq!(
        r.remove(&[all[0].row_id], Counter::UploadExpired).unwrap(),
        1
    );
    assert_eq!(r.quarantine(&[(all[1].row_id, "x")]).unwrap(), 1);
    assert_eq!(r.purge_quarantined().unwrap(), 1);
    let t = r.totals().unwrap();
    assert_eq!(
        (t.pending_rows, t.quarantined_rows, t.quarantined_bytes),
        (5, 0, 0)
    );
    assert_eq!(t.pending_bytes, 5 * row_bytes(20));
    let c: std::collections::HashMap<_, _> = r.counters().unwrap().into_iter().collect();
    assert_eq!(c[&Counter::Uploaded], 3);
    assert_eq!(c[&Counter::Quarantined], 2);
    assert_eq!(c[&Counter::Requeued], 1);
    assert_eq!(c[&Counter::UploadExpired], 1);
    assert_eq!(c[&Counter::Purged], 1);
    // Tallies match a real count.
    let n: i64 = sql(&r)
        .query_row("SELECT count(*) FROM spans", [], |x| x.get(0))
        .unwrap();
    assert_eq!(n, 5);
}

#[test]
fn new_spool_is_private_and_marked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.spool");
    let mut w = SpoolWriter::open(&path, Budget::default(), &SpoolOptions::default()).unwrap();
    append_named(&mut w, &batch(0, 1), b"x", now_ns());
    for f in ["p.spool", "p.spool-wal", "p.spool-shm"] {
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let r = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    let app: i32 = sql(&r)
        .query_row("PRAGMA application_id", [], |x| x.get(0))
        .unwrap();
    assert_eq!(app, APPLICATION_ID);
    let view: (String, Option<String>, String) = sql(&r)
        .query_row(
            "SELECT trace_id, parent_span_id, state FROM spans_readable",
            [],
            |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)),
        )
        .unwrap();
    assert_eq!(view, ("01".repeat(16), None, "pending".into()));
}

#[test]
fn files_that_are_not_spools_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, vec![b'x'; 8192]).unwrap();
    let e = SpoolReader::open(&text, &SpoolOptions::default()).unwrap_err();
    assert!(matches!(e, OpenError::NotASpool { .. }), "{e}");
    assert!(e.to_string().contains("notes.txt"), "{e}");
    assert_eq!(
        std::fs::read(&text).unwrap(),
        vec![b'x'; 8192],
        "file was changed"
    );

    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t(x)")
        .unwrap();
    let e = SpoolWriter::open(&other, Budget::default(), &SpoolOptions::default()).unwrap_err();
    assert!(matches!(e, OpenError::NotASpool { .. }), "{e}");

    let newer = dir.path().join("newer.spool");
    drop(SpoolWriter::open(&newer, Budget::default(), &SpoolOptions::default()).unwrap());
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let e = SpoolReader::open(&newer, &SpoolOptions::default()).unwrap_err();
    assert!(matches!(e, OpenError::NewerFormat { found: 99, .. }), "{e}");

    let missing = dir.path().join("missing.spool");
    let e = SpoolReader::open(&missing, &SpoolOptions::default()).unwrap_err();
    assert!(matches!(e, OpenError::Io { .. }), "{e}");
    assert!(!missing.exists(), "a reader must not create a spool");
}

#[test]
fn one_uploader_lock_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.spool");
    assert!(!UploaderLock::is_held(&path).unwrap());
    let a = UploaderLock::try_acquire(&path)
        .unwrap()
        .expect("first lock");
    assert!(UploaderLock::try_acquire(&path).unwrap().is_none());
    assert!(UploaderLock::is_held(&path).unwrap());
    drop(a);
    assert!(!UploaderLock::is_held(&path).unwrap());
    assert!(UploaderLock::try_acquire(&path).unwrap().is_some());
}

#[test]
fn disk_full_is_a_typed_error_and_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.spool");
    let opts = SpoolOptions::default().with_max_page_count(40);
    let mut w = SpoolWriter::open(&path, Budget::default(), &opts).unwrap();
    let rec = vec![7u8; 1000];
    let mut committed = 0u64;
    let err = loop {
        let names = batch(0, 10);
        let rows: Vec<NewRow<'_>> = names.iter().map(|n| row(n, &rec, now_ns(), &IDS)).collect();
        match w.append(&rows, RecorderDrops::default()) {
            Ok(o) => committed += o.written,
            Err(e) => break e,
        }
        assert!(committed < 100_000, "never filled");
    };
    assert!(err.is_disk_full(), "{err}");
    let r = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    assert_eq!(r.totals().unwrap().pending_rows, committed);
    assert_eq!(r.lease(0, 1_000_000).unwrap().len() as u64, committed);
}
