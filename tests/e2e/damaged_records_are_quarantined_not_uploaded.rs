//! Records damaged on disk (flipped bytes) are never uploaded with altered
//! content: each is quarantined alone with a short reason that groups well,
//! and every sound span is delivered.
use std::collections::HashSet;

use tracespool_spool::{Counter, SpoolOptions, SpoolReader};
use tracespool_tests::cli;
use tracespool_tests::standin::StandIn;
use tracespool_tests::{record_spans, span_id_of, test_account, write_key_file};

#[test]
fn flipped_bytes_quarantine_the_record_with_one_reason() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("d.spool");
    record_spans(&spool, 200);
    // Damage 29 records behind the spool's back, each at another offset
    // (header, ids, times, strings, resource), one bit or one byte.
    let damaged: Vec<i64> = (0..29).map(|i| 3 + i * 6).collect();
    let mut damaged_ids = HashSet::new();
    {
        let c = rusqlite::Connection::open(&spool).unwrap();
        for (n, id) in damaged.iter().enumerate() {
            let span_id: Vec<u8> = c
                .query_row("SELECT span_id FROM spans WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .unwrap();
            damaged_ids.insert(tracespool_tests::hex(&span_id));
            let mut rec: Vec<u8> = c
                .query_row("SELECT record FROM spans WHERE id = ?1", [id], |r| r.get(0))
                .unwrap();
            let at = 5 + (n * 37) % (rec.len() - 5);
            rec[at] ^= if n % 2 == 0 { 0x01 } else { 0xff };
            c.execute(
                "UPDATE spans SET record = ?1 WHERE id = ?2",
                rusqlite::params![rec, id],
            )
            .unwrap();
        }
    }
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "dmg-project");
    let out = cli::upload_once(env!("CARGO_BIN_EXE_tracespool"), &spool, &s, &key, &[]);
    cli::expect_exit(&out, 0);
    let accepted = s.accepted_by_name();
    assert_eq!(accepted.len(), 200 - damaged.len(), "only sound spans sent");
    for name in accepted.keys() {
        assert!(
            !damaged_ids.contains(span_id_of(name)),
            "a damaged record was uploaded"
        );
    }
    let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
    assert_eq!(r.totals().unwrap().quarantined_rows, damaged.len() as u64);
    assert_eq!(
        r.counter(Counter::Uploaded).unwrap(),
        200 - damaged.len() as u64
    );
    // One group, a reason people can read.
    let reasons = r.quarantine_reasons().unwrap();
    assert_eq!(
        reasons,
        vec![(
            "damaged record: checksum mismatch".to_string(),
            damaged.len() as u64
        )]
    );
}
