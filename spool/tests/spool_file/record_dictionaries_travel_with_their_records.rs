//! Record dictionaries (which compressed records name) are in the spool
//! whenever a record that needs one is: a writer puts its dictionary back
//! with every batch, an uploader drops them only from an empty spool, and
//! recovery copies them.
use tracespool_spool::*;

const IDS: ([u8; 16], [u8; 8]) = ([1; 16], [2; 8]);

fn append(w: &mut SpoolWriter, n: usize) {
    let rec = vec![7u8; 40];
    let now = now_ns();
    let rows: Vec<NewRow<'_>> = (0..n)
        .map(|_| NewRow::new(&IDS.0, &IDS.1, None, "s", (now - 1000, now), &rec))
        .collect();
    w.append(&rows, RecorderDrops::default()).unwrap();
}

fn delete_all(r: &mut SpoolReader) {
    let rows = r.lease(0, 1_000).unwrap();
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        r.ack(first.row_id, last.row_id).unwrap();
    }
}

#[test]
fn a_writer_keeps_its_dictionary_beside_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.spool");
    let mut w = SpoolWriter::open(&path, Budget::default(), &SpoolOptions::default()).unwrap();
    assert_eq!(w.newest_dictionary().unwrap(), None);
    w.use_dictionary(42, b"dictionary one").unwrap();
    // Twice is once.
    w.use_dictionary(42, b"dictionary one").unwrap();
    append(&mut w, 3);
    let mut r = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    assert_eq!(
        r.dictionaries().unwrap(),
        vec![(42, b"dictionary one".to_vec())]
    );
    assert_eq!(
        r.dictionary(42).unwrap().as_deref(),
        Some(&b"dictionary one"[..])
    );
    assert_eq!(r.dictionary(43).unwrap(), None);

    // Rows left: the uploader keeps the dictionaries.
    assert_eq!(r.drop_dictionaries_if_empty().unwrap(), 0);
    assert_eq!(r.dictionaries().unwrap().len(), 1);
    // Empty: dropped...
    delete_all(&mut r);
    assert_eq!(r.drop_dictionaries_if_empty().unwrap(), 1);
    assert!(r.dictionaries().unwrap().is_empty());
    // ...and back with the writer's next batch, in the same transaction.
    append(&mut w, 1);
    assert_eq!(
        r.dictionaries().unwrap(),
        vec![(42, b"dictionary one".to_vec())]
    );

    // A second writer finds it, newest first, and adds its own.
    let mut w2 = SpoolWriter::open(&path, Budget::default(), &SpoolOptions::default()).unwrap();
    assert_eq!(
        w2.newest_dictionary().unwrap(),
        Some((42, b"dictionary one".to_vec()))
    );
    w2.use_dictionary(7, b"dictionary two").unwrap();
    assert_eq!(w2.newest_dictionary().unwrap().unwrap().0, 7);
    assert_eq!(r.dictionaries().unwrap().len(), 2);
}

#[test]
fn another_dictionary_under_the_same_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.spool");
    let mut w = SpoolWriter::open(&path, Budget::default(), &SpoolOptions::default()).unwrap();
    w.use_dictionary(42, b"dictionary one").unwrap();
    let mut w2 = SpoolWriter::open(&path, Budget::default(), &SpoolOptions::default()).unwrap();
    let e = w2.use_dictionary(42, b"not the same").unwrap_err();
    assert!(e.is_dictionary_conflict(), "{e}");
    assert!(e.to_string().contains("42"), "{e}");
    // That writer writes plain records as before.
    append(&mut w2, 2);

    // The race after an uploader dropped them: the other content got in
    // first; the batch is refused, not written against the wrong one.
    let mut r = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    delete_all(&mut r);
    r.drop_dictionaries_if_empty().unwrap();
    let mut w3 = SpoolWriter::open(&path, Budget::default(), &SpoolOptions::default()).unwrap();
    w3.use_dictionary(42, b"not the same").unwrap();
    let rec = vec![1u8; 10];
    let now = now_ns();
    let row = NewRow::new(&IDS.0, &IDS.1, None, "s", (now - 1, now), &rec);
    let e = w.append(&[row], RecorderDrops::default()).unwrap_err();
    assert!(e.is_dictionary_conflict(), "{e}");
    assert_eq!(r.totals().unwrap().pending_rows, 0, "nothing written");
    // It forgot its dictionary: the caller's plain records go in.
    let row = NewRow::new(&IDS.0, &IDS.1, None, "s", (now - 1, now), &rec);
    w.append(&[row], RecorderDrops::default()).unwrap();
    assert_eq!(r.totals().unwrap().pending_rows, 1);
}

#[test]
fn recovery_copies_the_dictionaries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.spool");
    {
        let mut w = SpoolWriter::open(&path, Budget::default(), &SpoolOptions::default()).unwrap();
        w.use_dictionary(9, b"kept through recovery").unwrap();
        append(&mut w, 5);
    }
    let report = recover(&path, &SpoolOptions::default()).unwrap();
    assert_eq!(report.pending_rows, 5);
    let r = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    assert_eq!(
        r.dictionaries().unwrap(),
        vec![(9, b"kept through recovery".to_vec())]
    );
}
