//! `upload --sink otlp` against the stand-in's strict OTLP receiver:
//! every field arrives (40 attributes of 300 bytes whole, arrays typed,
//! scope, trace state, flags, resource with `gcp.project_id` and the
//! `x-goog-user-project` header), gzip by default, a collector without
//! credentials and with an API-key header, partial successes, the dry run,
//! doctor and `export --format otlp-json`.
use std::collections::HashSet;
use std::process::Command;

use serde_json::Value;
use tracespool::AttributeValue;
use tracespool::{OnFull, Recorder};
use tracespool_spool::{Counter, SpoolOptions, SpoolReader};
use tracespool_tests::standin::StandIn;
use tracespool_tests::{cli, record_spans, test_account, write_key_file};

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

fn otlp(extra: &[&str]) -> Vec<String> {
    let mut v = vec!["--sink".to_string(), "otlp".to_string()];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The attribute `key` of an OTLP/JSON key-value list.
fn attr<'a>(kvs: &'a Value, key: &str) -> &'a Value {
    kvs.as_array()
        .and_then(|a| a.iter().find(|kv| kv["key"] == key))
        .map(|kv| &kv["value"])
        .unwrap_or(&Value::Null)
}

#[test]
fn a_rich_span_arrives_whole_through_otlp() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("rich.spool");
    {
        let (rec, guard) = Recorder::builder(&spool)
            .service_name("kiosk")
            .on_full(OnFull::Block)
            .build()
            .unwrap();
        rec.record_finished(|s| {
            s.trace_id = tracespool::TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
            s.span_id = tracespool::SpanId::from_hex("00f067aa0ba902b7").unwrap();
            s.parent_span_id = Some(tracespool::SpanId::from_hex("53995c3f42cd8ad8").unwrap());
            s.parent_is_remote = true;
            s.name = "POST /orders".into();
            s.kind = tracespool::SpanKind::Server;
            s.start_ns = tracespool::now_ns() - 50_000_000;
            s.end_ns = tracespool::now_ns();
            s.trace_state = "rojo=00f067aa0ba902b7".into();
            s.scope.name = "checkout-lib".into();
            s.scope.version = "2.1.0".into();
            // 40 attributes with 300-byte values: Cloud Trace v2 would cut
            // to 32 and 256 bytes; the Telemetry API takes them whole.
            for i in 0..40 {
                s.attributes.push(tracespool::Attribute::new(
                    format!("attr.{i:02}"),
                    format!("{i:02}").repeat(150),
                ));
            }
            s.attributes.push(tracespool::Attribute::new(
                "tags",
                AttributeValue::from(vec!["a", "b"]),
            ));
            s.attributes
                .push(tracespool::Attribute::new("sizes", vec![1i64, 2, 3]));
        });
        rec.flush().unwrap();
        drop(guard);
    }
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.keep_accepted_otlp_spans();
    let key = write_key_file(dir.path(), &s, "proj-otlp1");
    let out = cli::upload_once(BIN, &spool, &s, &key, &args(&otlp(&[])));
    let err = cli::expect_exit(&out, 0);
    assert!(s.rejections().is_empty(), "{:?}", s.rejections());
    assert!(!err.contains("ya29."), "a token reached the log");
    // gzip by default.
    assert_eq!(s.request_encodings(), vec![Some("gzip".to_string())]);
    let got = s.accepted_otlp_spans();
    assert_eq!(got.len(), 1);
    let g = &got[0];
    let span = &g["span"];
    assert_eq!(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span["spanId"], "00f067aa0ba902b7");
    assert_eq!(span["parentSpanId"], "53995c3f42cd8ad8");
    assert_eq!(span["traceState"], "rojo=00f067aa0ba902b7");
    // Sampled; the parent is known to be remote.
    assert_eq!(span["flags"], 0x301);
    assert_eq!(span["name"], "POST /orders");
    assert_eq!(span["kind"], 2);
    for i in 0..40 {
        let v = &attr(&span["attributes"], &format!("attr.{i:02}"))["stringValue"];
        assert_eq!(v.as_str().unwrap().len(), 300, "attr.{i:02} arrives whole");
    }
    assert_eq!(span["droppedAttributesCount"].as_u64().unwrap_or(0), 0);
    let tags = &attr(&span["attributes"], "tags")["arrayValue"]["values"];
    assert_eq!(tags[1]["stringValue"], "b");
    let sizes = &attr(&span["attributes"], "sizes")["arrayValue"]["values"];
    assert_eq!(sizes.as_array().unwrap().len(), 3);
    assert_eq!(g["scope"]["name"], "checkout-lib");
    assert_eq!(g["scope"]["version"], "2.1.0");
    let res = &g["resource"]["attributes"];
    assert_eq!(attr(res, "service.name")["stringValue"], "kiosk");
    assert_eq!(attr(res, "gcp.project_id")["stringValue"], "proj-otlp1");
    // `inspect` shows the bytes sent.
    let out = cli::run(BIN, &["inspect", "--json"], &spool);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["counters"]["upload_bytes"],
        s.request_bytes().iter().sum::<usize>() as u64
    );
}

#[test]
fn a_collector_without_credentials_gets_its_api_key_header() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("c.spool");
    let ids = record_spans(&spool, 700);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.otlp_collector_mode(&[("x-api-key", "s3cret-key")]);
    let out = Command::new(BIN)
        .args(["upload", "--once", "--sink", "otlp", "--no-auth"])
        .args(["--header", "x-api-key=s3cret-key", "--compression", "none"])
        .args([
            "--endpoint",
            &s.endpoint(),
            "--batch-size",
            "300",
            "--spool",
        ])
        .arg(&spool)
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let err = cli::expect_exit(&out, 0);
    assert!(
        !err.contains("s3cret-key"),
        "a header value reached the log"
    );
    assert_eq!(s.token_requests(), 0, "no credentials were asked for");
    assert_eq!(s.request_encodings(), vec![None, None, None]);
    let by_name = s.accepted_by_name();
    assert_eq!(by_name.len(), 700);
    assert!(by_name.values().all(|n| *n == 1));
    let got: HashSet<&str> = by_name
        .keys()
        .map(|k| tracespool_tests::span_id_of(k))
        .collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect());

    // A wrong key is refused (401), and the spans wait.
    let spool2 = dir.path().join("c2.spool");
    record_spans(&spool2, 5);
    let out = Command::new(BIN)
        .args(["upload", "--once", "--sink", "otlp", "--no-auth"])
        .args([
            "--header",
            "x-api-key=bad-k3y-value",
            "--max-duration",
            "3s",
        ])
        .args(["--endpoint", &s.endpoint(), "--spool"])
        .arg(&spool2)
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .output()
        .unwrap();
    let err = cli::expect_exit(&out, 75);
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(
        !err.contains("bad-k3y"),
        "a header value reached the log: {err}"
    );
    assert!(!err.contains("fetching a new token"), "{err}");
}

/// Cloud Trace (and Google's Telemetry API) refuse spans over 14 days old,
/// so the uploader drops them for those; a collector may send them
/// anywhere, so it gets them.
#[test]
fn a_collector_gets_spans_older_than_googles_window() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("old.spool");
    {
        let (rec, guard) = Recorder::builder(&spool)
            .on_full(OnFull::Block)
            .build()
            .unwrap();
        let day = 24 * 3600 * 1_000_000_000u64;
        rec.record_finished(|s| {
            s.trace_id = tracespool::TraceId([7; 16]);
            s.span_id = tracespool::SpanId([7; 8]);
            s.name = "three weeks offline".into();
            s.start_ns = tracespool::now_ns() - 21 * day;
            s.end_ns = s.start_ns + 1_000;
        });
        rec.flush().unwrap();
        drop(guard);
    }
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.otlp_collector_mode(&[]);
    let out = Command::new(BIN)
        .args(["upload", "--once", "--sink", "otlp", "--no-auth"])
        .args(["--endpoint", &s.endpoint(), "--spool"])
        .arg(&spool)
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .output()
        .unwrap();
    cli::expect_exit(&out, 0);
    assert_eq!(s.accepted_count(), 1);
    let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
    assert_eq!(r.counter(Counter::UploadExpired).unwrap(), 0);
    assert_eq!(r.counter(Counter::Uploaded).unwrap(), 1);
}

#[test]
fn partial_successes_quarantine_named_spans_and_count_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("p.spool");
    let ids = record_spans(&spool, 500);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "proj-p1");
    for i in [3usize, 250, 499] {
        s.poison(&ids[i]);
    }
    let out = cli::upload_once(BIN, &spool, &s, &key, &args(&otlp(&[])));
    cli::expect_exit(&out, 0);
    assert_eq!(s.accepted_count(), 497);
    assert_eq!(s.requests(), 1, "no resend: the rest was accepted");
    let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
    let t = r.totals().unwrap();
    assert_eq!((t.pending_rows, t.quarantined_rows), (0, 3));
    for q in r.quarantined(10).unwrap() {
        assert!(q.reason.starts_with("OTLP partial success: rejected spans"));
    }
    assert_eq!(r.counter(Counter::RejectedByServer).unwrap(), 0);
    drop(r);

    // A server that does not say which: counted, nothing resent.
    let spool2 = dir.path().join("p2.spool");
    let ids2 = record_spans(&spool2, 100);
    let s2 = StandIn::start(0, test_account(), 2).unwrap();
    s2.otlp_partial_success_anonymous();
    s2.poison(&ids2[7]);
    s2.poison(&ids2[8]);
    let key2 = write_key_file(dir.path(), &s2, "proj-p1");
    let out = cli::upload_once(BIN, &spool2, &s2, &key2, &args(&otlp(&[])));
    let err = cli::expect_exit(&out, 0);
    assert!(err.contains("2 spans rejected"), "{err}");
    assert_eq!(s2.accepted_count(), 98);
    let out = cli::run(BIN, &["inspect", "--json"], &spool2);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["counters"]["rejected_by_server"], 2);
    assert_eq!(v["pending"]["spans"], 0);
    let out = cli::run(BIN, &["inspect"], &spool2);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2 of them rejected by the server without a name"),
        "{text}"
    );
}

#[test]
fn a_400_splits_the_batch_and_loses_nothing() {
    use tracespool_tests::standin::Fault;
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("s.spool");
    let ids = record_spans(&spool, 40);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "proj-p1");
    // The whole batch refused once, then one half refused once more.
    s.push_faults([Fault::Status(400, None), Fault::Status(400, None)]);
    let out = cli::upload_once(BIN, &spool, &s, &key, &args(&otlp(&[])));
    cli::expect_exit(&out, 0);
    // 40 → 20 (refused) → 10 + 10, then the other 20: five requests, each
    // span accepted once, none quarantined (no single span was refused).
    assert_eq!(s.requests(), 5);
    let by_name = s.accepted_by_name();
    assert_eq!(by_name.len(), ids.len());
    assert!(by_name.values().all(|n| *n == 1));
    let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
    let t = r.totals().unwrap();
    assert_eq!((t.pending_rows, t.quarantined_rows), (0, 0));
}

#[test]
fn dry_run_doctor_and_export_speak_otlp() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("d.spool");
    let ids = record_spans(&spool, 5);
    // The dry run shows the request in OTLP/JSON and changes nothing.
    let out = Command::new(BIN)
        .args([
            "upload",
            "--dry-run",
            "--sink",
            "otlp",
            "--project",
            "proj-p1",
        ])
        .args(["--endpoint", "http://127.0.0.1:9", "--spool"])
        .arg(&spool)
        .output()
        .unwrap();
    cli::expect_exit(&out, 0);
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["url"], "http://127.0.0.1:9/v1/traces");
    assert_eq!(line["headers"]["content-encoding"], "gzip");
    assert_eq!(line["headers"]["x-goog-user-project"], "proj-p1");
    let spans = &line["body"]["resourceSpans"][0]["scopeSpans"][0]["spans"];
    let got: HashSet<&str> = spans
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["spanId"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect());

    // export --format otlp-json: the same content, one request per line.
    let out = Command::new(BIN)
        .args(["export", "--format", "otlp-json", "--project", "proj-p1"])
        .arg(&spool)
        .output()
        .unwrap();
    cli::expect_exit(&out, 0);
    let req: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(req["resourceSpans"][0]["scopeSpans"][0]["spans"], *spans);
    assert_eq!(
        attr(
            &req["resourceSpans"][0]["resource"]["attributes"],
            "gcp.project_id"
        )["stringValue"],
        "proj-p1"
    );

    // doctor posts an empty export with the upload's credentials.
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "proj-p1");
    let doctor = |extra: &[&str]| {
        Command::new(BIN)
            .args([
                "doctor",
                "--json",
                "--sink",
                "otlp",
                "--endpoint",
                &s.endpoint(),
            ])
            .args(extra)
            .env_remove("GOOGLE_CLOUD_PROJECT")
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .output()
            .unwrap()
    };
    let out = doctor(&["--credentials", key.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(s.accepted_count(), 0, "the check stores nothing");
    // Without credentials the Telemetry API (the stand-in) refuses it.
    let out = doctor(&["--no-auth"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false, "{v}");
    let endpoint = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "endpoint")
        .unwrap();
    assert_eq!(endpoint["ok"], false);
    assert!(endpoint["detail"].as_str().unwrap().contains("HTTP 401"));
}

#[test]
fn otlp_configuration_errors_exit_78_and_usage_errors_64() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("e.spool");
    record_spans(&spool, 1);
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    for (flags, why, code) in [
        (
            vec!["--ca-cert", not_pem.to_str().unwrap()],
            "--ca-cert",
            78,
        ),
        (vec!["--header", "no-equals-sign"], "NAME=VALUE", 64),
        (vec!["--compression", "brotli"], "brotli", 64),
    ] {
        let out = Command::new(BIN)
            .args(["upload", "--once", "--sink", "otlp", "--no-auth"])
            .args(["--endpoint", "http://127.0.0.1:9", "--spool"])
            .arg(&spool)
            .args(&flags)
            .output()
            .unwrap();
        let err = cli::expect_exit(&out, code);
        assert!(err.contains(why), "{why}: {err}");
    }
}
