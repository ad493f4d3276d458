//! The uploader is killed with SIGKILL again and again during a long upload.
//! In the end every span has arrived, and only spans of batches in flight at
//! a kill were sent twice.
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tracespool_spool::{SpoolOptions, SpoolReader};
use tracespool_tests::standin::{Fault, StandIn};
use tracespool_tests::{cli, record_spans, span_id_of, test_account, write_key_file};

#[test]
fn repeated_sigkill_during_upload() {
    const N: usize = 6000;
    const BATCH: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("k.spool");
    let ids = record_spans(&spool, N);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "proj-p1");
    // Slow every answer a little so that kills land mid-request too.
    s.push_faults((0..N / BATCH + 20).map(|_| Fault::Slow(Duration::from_millis(15))));
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_tracespool"))
            .args(["upload", "--batch-size", &BATCH.to_string(), "--spool"])
            .arg(&spool)
            .args(tracespool_tests::cli::sink_args())
            .args(["--endpoint", &s.endpoint(), "--credentials"])
            .arg(&key)
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while kills < 8 {
        let before = s.accepted_count();
        let mut child = spawn();
        // Kill once it made some progress (or after a bounded wait).
        s.wait_for_count(before + 300 + kills * 37, Duration::from_secs(10));
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        child.wait().unwrap();
        kills += 1;
        assert!(Instant::now() < deadline);
    }
    // Finish the job.
    let out = cli::upload_once(
        env!("CARGO_BIN_EXE_tracespool"),
        &spool,
        &s,
        &key,
        &["--max-duration", "120s", "--batch-size", &BATCH.to_string()],
    );
    cli::expect_exit(&out, 0);
    let by_id: HashMap<String, u32> = s
        .accepted_by_name()
        .into_iter()
        .map(|(k, v)| (span_id_of(&k).to_owned(), v))
        .collect();
    for id in &ids {
        assert!(by_id.contains_key(id), "span {id} lost");
    }
    let dups: u32 = by_id.values().map(|n| n - 1).sum();
    assert!(
        dups as usize <= kills * BATCH,
        "{dups} duplicates after {kills} kills of batches of {BATCH}"
    );
    let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
    assert_eq!(r.totals().unwrap().rows(), 0);
}
