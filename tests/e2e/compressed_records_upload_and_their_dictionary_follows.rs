//! Compressed records (version 4, the recorder's default) read and upload
//! like plain ones: inspect, spans, trace and export show them field by
//! field, every span reaches Cloud Trace with its attributes, the emptied
//! spool drops its dictionary, and a recorder still running puts it back
//! with its next batch.
use std::time::{Duration, Instant};

use serde_json::Value;
use tracespool::{OnFull, Recorder};
use tracespool_schema::COMPRESSED_VERSION;
use tracespool_spool::{SpoolOptions, SpoolReader};
use tracespool_tests::cli;

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

fn record(rec: &Recorder, n: usize, name: &str) {
    for i in 0..n {
        let mut s = rec.span(name.to_owned());
        s.set_attribute("app.route", "/api/v1/items/{id}");
        s.set_attribute("item", i as i64);
    }
    rec.flush().unwrap();
}

fn dictionaries(spool: &std::path::Path) -> usize {
    SpoolReader::open(spool, &SpoolOptions::default())
        .unwrap()
        .dictionaries()
        .unwrap()
        .len()
}

#[test]
fn compressed_spans_inspect_and_upload_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("c.spool");
    let (rec, guard) = Recorder::builder(&spool)
        .service_name("kiosk")
        .on_full(OnFull::Block)
        .flush_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    // Plain records until the dictionary is trained (on a helper thread),
    // then one more round: compressed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut spans = 0;
    while dictionaries(&spool) == 0 {
        assert!(
            Instant::now() < deadline,
            "no dictionary after {spans} spans"
        );
        record(&rec, 100, "GET /api/v1/items/{id}");
        spans += 100;
        // Pacing, not synchronisation: the helper thread gets the CPU.
        std::thread::sleep(Duration::from_millis(5));
    }
    record(&rec, 100, "GET /api/v1/items/{id}");
    spans += 100;

    // Inspect sees the newest record's version and the dictionary.
    let out = cli::run(BIN, &["inspect", "--json"], &spool);
    cli::expect_exit(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["newest_pending"]["record_version"], COMPRESSED_VERSION);
    assert_eq!(v["record_dictionaries"], 1);
    // Spans: every field of a compressed record.
    let out = cli::run(BIN, &["spans", "--json", "--limit", "1"], &spool);
    cli::expect_exit(&out, 0);
    let row: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(row["record_version"], COMPRESSED_VERSION, "{row}");
    assert!(row.get("corrupt").is_none(), "{row}");
    assert_eq!(row["attributes"]["item"], 99, "{row}");
    assert_eq!(row["attributes"]["app.route"], "/api/v1/items/{id}");
    // One trace as a tree, and an export, with no corrupt record.
    let trace_id = row["trace_id"].as_str().unwrap().to_owned();
    let out = std::process::Command::new(BIN)
        .args(["trace", "--attributes"])
        .arg(&spool)
        .arg(&trace_id)
        .output()
        .unwrap();
    cli::expect_exit(&out, 0);
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("item"), "{tree}");
    assert!(!tree.to_lowercase().contains("corrupt"), "{tree}");
    let out = cli::run(BIN, &["export"], &spool);
    cli::expect_exit(&out, 0);
    let lines = String::from_utf8_lossy(&out.stdout);
    assert_eq!(lines.lines().count(), spans);
    assert!(!lines.contains("\"corrupt\""));

    // Every span reaches Cloud Trace with its attributes.
    let sent = spans;
    let spans = cli::upload_to_cloud_trace(BIN, &spool, "proj-c");
    assert_eq!(spans.len(), sent);
    let mut items: Vec<i64> = spans
        .iter()
        .map(|s| {
            s["attributes"]["attributeMap"]["item"]["intValue"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    items.sort_unstable();
    items.dedup();
    assert_eq!(items, (0..100).collect::<Vec<_>>());
    assert!(spans.iter().all(
        |s| s["attributes"]["attributeMap"]["app.route"]["stringValue"]["value"]
            == "/api/v1/items/{id}"
    ));
    // The empty spool dropped its dictionary...
    assert_eq!(dictionaries(&spool), 0);

    // ...and the recorder, still running, puts it back with its next batch.
    record(&rec, 50, "after the upload");
    assert_eq!(dictionaries(&spool), 1);
    let spans = cli::upload_to_cloud_trace(BIN, &spool, "proj-c");
    assert_eq!(spans.len(), 50);
    drop(guard);
}
