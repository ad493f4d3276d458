//! `--max-bandwidth` paces the upload: over a bounded run, the bytes that
//! reach the server follow the rate within 10%, and `inspect` counts the
//! bytes sent.
use serde_json::Value;
use tracespool_tests::standin::StandIn;
use tracespool_tests::{cli, record_spans, test_account, write_key_file};

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

#[test]
fn the_rate_holds_within_ten_percent() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("b.spool");
    record_spans(&spool, 3000);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "bandwidth");
    // OTLP with gzip sends about a tenth of Cloud Trace's JSON: a lower
    // rate keeps the run long enough to measure.
    let (rate, flag) = if cli::sink_is_otlp() {
        (64.0 * 1024.0, "64KiB/s")
    } else {
        (1024.0 * 1024.0, "1MiB/s")
    };
    let out = cli::upload_once(
        BIN,
        &spool,
        &s,
        &key,
        &["--max-bandwidth", flag, "--batch-size", "100"],
    );
    cli::expect_exit(&out, 0);
    assert_eq!(s.accepted_count(), 3000);
    let times = s.request_times();
    let bytes = s.request_bytes();
    assert!(times.len() >= 30, "{} requests", times.len());
    let total: usize = bytes.iter().sum();
    // Request k may start once the bytes before it fit the budget: from
    // the first request to the last, all but the last body's bytes.
    let expected = (total - bytes[bytes.len() - 1]) as f64 / rate;
    let took = (times[times.len() - 1] - times[0]).as_secs_f64();
    assert!(
        expected > 1.0,
        "a bounded run long enough to measure: {expected} s"
    );
    assert!(
        (took - expected).abs() <= 0.1 * expected,
        "{total} bytes: took {took:.3} s, the budget says {expected:.3} s"
    );
    let out = cli::run(BIN, &["inspect", "--json"], &spool);
    cli::expect_exit(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["counters"]["upload_bytes"], total as u64);
}
