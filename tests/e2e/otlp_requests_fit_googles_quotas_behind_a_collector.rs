//! OTLP requests stay within the Telemetry API's quotas whatever the batch
//! size, so a collector that answers 200 and forwards them to Google
//! unchanged never loses them after its 200: 3,000 spans of 12 attributes
//! (12,000 attributes a batch of 1,000: more than one ResourceSpans holds)
//! all arrive, through a forwarding collector and directly, without a
//! single 400 or split; and a batch larger than 4 MiB goes out in parts.
use tracespool::{OnFull, Recorder};
use tracespool_spool::{SpoolOptions, SpoolReader};
use tracespool_tests::cli::expect_exit;
use tracespool_tests::standin::StandIn;
use tracespool_tests::{test_account, write_key_file};

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

/// `n` spans of `attrs` attributes of `value_len` bytes each.
fn record(spool: &std::path::Path, n: usize, attrs: usize, value_len: usize) {
    let (rec, guard) = Recorder::builder(spool)
        .service_name("fleet-box")
        .on_full(OnFull::Block)
        .build()
        .unwrap();
    let value = "v".repeat(value_len);
    for i in 0..n {
        let mut s = rec.span(format!("span {i}"));
        for k in 0..attrs {
            s.set_attribute(format!("attr.{k}"), value.clone());
        }
    }
    rec.flush().unwrap();
    drop(guard);
}

fn upload(spool: &std::path::Path, s: &StandIn, auth: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args([
            "upload",
            "--once",
            "--sink",
            "otlp",
            "--endpoint",
            &s.endpoint(),
        ])
        .args(auth)
        .arg(spool)
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .output()
        .unwrap()
}

fn pending(spool: &std::path::Path) -> u64 {
    SpoolReader::open(spool, &SpoolOptions::default())
        .unwrap()
        .totals()
        .unwrap()
        .pending_rows
}

#[test]
fn a_forwarding_collector_loses_none_of_3000_spans_of_12_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("c.spool");
    record(&spool, 3000, 12, 16);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.otlp_collector_forwarding_to_google();
    let out = upload(&spool, &s, &["--no-auth"]);
    expect_exit(&out, 0);
    assert!(s.lost_after_200().is_empty(), "{:?}", s.lost_after_200());
    assert_eq!(s.accepted_count(), 3000);
    assert_eq!(s.requests(), 3, "batches of 1,000, none split");
    assert_eq!(pending(&spool), 0);
}

#[test]
fn google_takes_them_directly_without_a_400() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("g.spool");
    record(&spool, 3000, 12, 16);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "proj-q");
    let out = upload(&spool, &s, &["--credentials", key.to_str().unwrap()]);
    expect_exit(&out, 0);
    assert!(s.rejections().is_empty(), "{:?}", s.rejections());
    assert_eq!(s.accepted_count(), 3000);
    assert_eq!(s.requests(), 3);
}

#[test]
fn a_batch_over_4_mib_goes_out_in_parts_that_fit() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("b.spool");
    // 1,000 spans of 8 KiB: 8 MiB a batch, uncompressed.
    record(&spool, 1000, 4, 2048);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.otlp_collector_forwarding_to_google();
    s.keep_request_bodies(100);
    let out = upload(&spool, &s, &["--no-auth", "--compression", "none"]);
    expect_exit(&out, 0);
    assert!(s.lost_after_200().is_empty(), "{:?}", s.lost_after_200());
    assert_eq!(s.accepted_count(), 1000);
    let sizes: Vec<usize> = s.kept_requests().iter().map(|r| r.body.len()).collect();
    assert!(sizes.len() >= 2, "{sizes:?}");
    assert!(sizes.iter().all(|n| *n <= 4 << 20), "{sizes:?}");
}
