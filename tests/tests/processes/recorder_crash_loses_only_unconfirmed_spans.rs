//! A recording process is killed with SIGKILL mid-run, several times. The
//! spool opens again and holds every span that `flush()` had confirmed before
//! the kill, each exactly once, and no partial record: compressed records
//! included, whose dictionary is there with them.
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tracespool_schema::{decode_record_with, AttributeValue, Dictionaries, COMPRESSED_VERSION};
use tracespool_spool::{SpoolOptions, SpoolReader};

#[test]
fn sigkill_mid_run_keeps_every_confirmed_span() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.spool");
    let mut compressed = 0;
    for run in 0..3u32 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spool-child"))
            .args(["crash", path.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Let it confirm a few rounds (a different number each run), then kill
        // it while it is recording the next one.
        let rounds = 3 + run * 4;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut confirmed = 0i64;
        // The first run goes on until the spool has a record dictionary
        // (trained on a helper thread), so the kills hit compressed
        // writes too: the later runs reuse it from their first span.
        let has_dictionary = || {
            SpoolReader::open_read_only(&path)
                .ok()
                .and_then(|r| r.dictionaries().ok())
                .is_some_and(|d| !d.is_empty())
        };
        let mut n = 0;
        while n < rounds || (run == 0 && !has_dictionary()) {
            let line = lines.next().expect("child ended early").unwrap();
            confirmed = line.strip_prefix("confirmed ").unwrap().parse().unwrap();
            assert!(Instant::now() < deadline, "child too slow");
            n += 1;
        }
        // SIGKILL: no destructor, no flush, no checkpoint.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        child.wait().unwrap();

        let r = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
        let rows = r.lease(0, 10_000_000).unwrap();
        let mut dictionaries = Dictionaries::new();
        for (_, d) in r.dictionaries().unwrap() {
            dictionaries.add(&d).unwrap();
        }
        let mut seqs = HashSet::new();
        let mut this_run = 0;
        for row in &rows {
            // Every row decodes: no partial record.
            let rec = decode_record_with(&row.record, &mut dictionaries)
                .expect("a committed row is whole");
            if rec.version == COMPRESSED_VERSION {
                compressed += 1;
            }
            let seq = rec.span.attributes.iter().find(|a| a.key == "seq").unwrap();
            let AttributeValue::Int(seq) = seq.value else {
                panic!()
            };
            let pid = rec
                .resource
                .attributes
                .iter()
                .find(|a| a.key == "process.pid")
                .unwrap();
            if pid.value == AttributeValue::Int(i64::from(child.id())) {
                assert!(seqs.insert(seq), "seq {seq} twice");
                this_run += 1;
            }
        }
        for s in 1..=confirmed {
            assert!(
                seqs.contains(&s),
                "run {run}: confirmed span {s} lost (confirmed {confirmed})"
            );
        }
        assert!(this_run as i64 >= confirmed);
        // The tallies agree with the rows after the crash.
        let n: i64 = rusqlite::Connection::open(r.path())
            .unwrap()
            .query_row("SELECT count(*) FROM spans", [], |x| x.get(0))
            .unwrap();
        assert_eq!(r.totals().unwrap().pending_rows as i64, n);
        assert_eq!(rows.len() as i64, n);
    }
    // The child writes 500 spans a round: past the first 256, compressed.
    assert!(compressed > 0, "no compressed record was written");
}
