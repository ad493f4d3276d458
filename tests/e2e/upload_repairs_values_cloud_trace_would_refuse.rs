//! Values Cloud Trace would refuse or misread, recorded with the public
//! recorder API, uploaded by the real binary to the strict stand-in: every
//! span arrives, each with its documented repair and counts.
use std::path::Path;

use serde_json::Value;
use tracespool::{OnFull, Recorder, SpanContext};
use tracespool_schema::{SpanId, TraceId};
use tracespool_spool::{Counter, SpoolOptions, SpoolReader};
use tracespool_tests::cli;
use tracespool_tests::standin::StandIn;
use tracespool_tests::{test_account, write_key_file};

fn upload(spool: &Path, s: &StandIn, key: &Path, extra: &[&str]) {
    let out = cli::upload_once(env!("CARGO_BIN_EXE_tracespool"), spool, s, key, extra);
    cli::expect_exit(&out, 0);
}

fn by_name<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["displayName"]["value"] == name)
        .unwrap_or_else(|| panic!("no span {name:?} in {spans:#?}"))
}

fn label<'a>(span: &'a Value, key: &str) -> &'a Value {
    &span["attributes"]["attributeMap"][key]
}

fn string(span: &Value, key: &str) -> String {
    label(span, key)["stringValue"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing: {span:#}"))
        .to_owned()
}

#[test]
fn every_span_with_a_problem_value_arrives_repaired_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("f.spool");
    let end_at;
    {
        let (rec, _guard) = Recorder::builder(&spool)
            .service_name("fidelity")
            .resource_attribute("service.version", "2.0")
            .resource_attribute("deployment.environment", "test")
            .remove_resource_attribute("host.name")
            .on_full(OnFull::Block)
            .build()
            .unwrap();
        // An empty name and an empty key.
        let mut s = rec.span("");
        s.set_attribute("", "lost key");
        s.set_attribute("kept", 1i64);
        drop(s);
        // Extreme numbers.
        let mut s = rec.span("numbers");
        s.set_attribute("max", f64::MAX);
        s.set_attribute("tiny", 1e-300);
        s.set_attribute("one", 1.0);
        s.set_attribute("int_one", 1i64);
        s.set_attribute("big_u64", u64::MAX);
        s.set_attribute("f32", 0.1f32);
        s.set_attribute("nan", f64::NAN);
        s.set_attribute("u8", 7u8);
        drop(s);
        // Two keys for one label.
        let mut s = rec.span("two methods");
        s.set_attribute("http.method", "GET");
        s.set_attribute("http.request.method", "POST");
        drop(s);
        // Forty attributes of its own.
        let mut s = rec.span("forty");
        for i in 0..40 {
            s.set_attribute(format!("own.{i:02}"), i as i64);
        }
        drop(s);
        // An event with its own time, a link to nothing, an explicit end.
        let mut s = rec.span("timed").entered();
        s.add_annotation_at(1_000, "long ago", vec![]);
        s.add_link(
            SpanContext::remote(TraceId([0; 16]), SpanId([0; 8]), true),
            tracespool::LinkKind::Unspecified,
            vec![],
        );
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        end_at = now_ns + 5_000_000;
        s.end_at(end_at);
        rec.flush().unwrap();
    }
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.keep_accepted_spans();
    let key = write_key_file(dir.path(), &s, "fid-project");
    upload(&spool, &s, &key, &[]);
    assert!(s.rejections().is_empty(), "{:?}", s.rejections());
    let spans = s.accepted_spans();
    assert_eq!(spans.len(), 5, "every span arrives");

    let unnamed = by_name(&spans, tracespool_schema::UNNAMED_SPAN);
    assert_eq!(label(unnamed, "kept")["intValue"], "1");
    assert_eq!(
        unnamed["attributes"]["droppedAttributesCount"], 1,
        "the empty key is counted"
    );

    let n = by_name(&spans, "numbers");
    assert_eq!(string(n, "max"), "1.7976931348623157e308");
    assert_eq!(string(n, "tiny"), "1e-300");
    assert_eq!(string(n, "one"), "1.0");
    assert_eq!(label(n, "int_one")["intValue"], "1");
    assert_eq!(string(n, "big_u64"), "18446744073709551615");
    assert_eq!(string(n, "f32"), "0.1");
    assert_eq!(string(n, "nan"), "NaN");
    assert_eq!(label(n, "u8")["intValue"], "7");

    let m = by_name(&spans, "two methods");
    assert_eq!(string(m, "/http/method"), "POST");
    assert_eq!(m["attributes"]["droppedAttributesCount"], 1);

    let f = by_name(&spans, "forty");
    let own = f["attributes"]["attributeMap"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("own."))
        .count();
    assert_eq!(own, 30);
    assert_eq!(string(f, "g.co/gae/app/module"), "fidelity");

    for span in &spans {
        // The service as the Trace UI shows it, on every span.
        assert_eq!(string(span, "g.co/gae/app/module"), "fidelity");
        // No host name left the device; other resource attributes only
        // when opted in.
        let keys: Vec<&String> = span["attributes"]["attributeMap"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert!(
            !keys
                .iter()
                .any(|k| k.contains("host") || k.contains("node_id")),
            "{keys:?}"
        );
        assert!(!keys.iter().any(|k| *k == "service.version"), "{keys:?}");
        assert!(
            !keys.iter().any(|k| k.starts_with("telemetry.")),
            "{keys:?}"
        );
    }

    let t = by_name(&spans, "timed");
    assert_eq!(
        t["timeEvents"]["timeEvent"][0]["time"],
        "1970-01-01T00:00:00.000001000Z"
    );
    assert_eq!(t["links"]["droppedLinksCount"], 1);
    let end = t["endTime"].as_str().unwrap();
    let nanos = end_at % 1_000_000_000;
    assert!(end.ends_with(&format!(".{nanos:09}Z")), "{end} vs {end_at}");

    let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
    assert_eq!(r.counter(Counter::Uploaded).unwrap(), 5);
    assert_eq!(r.counter(Counter::Quarantined).unwrap(), 0);
}

#[test]
fn resource_attributes_are_sent_when_the_operator_opts_in() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("o.spool");
    {
        let (rec, _guard) = Recorder::builder(&spool)
            .service_name("opt-in")
            .resource_attribute("service.version", "2.0")
            .resource_attribute("deployment.environment", "test")
            .build()
            .unwrap();
        drop(rec.span("one"));
        rec.flush().unwrap();
    }
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.keep_accepted_spans();
    let key = write_key_file(dir.path(), &s, "fid-project");
    upload(
        &spool,
        &s,
        &key,
        &["--resource-labels", r"^(service\.version|deployment\.)"],
    );
    let spans = s.accepted_spans();
    let one = by_name(&spans, "one");
    assert_eq!(string(one, "service.version"), "2.0");
    assert_eq!(string(one, "deployment.environment"), "test");
    // The host name is on by default, as the monitored resource's node id.
    assert!(label(one, "g.co/r/generic_node/node_id")["stringValue"]["value"].is_string());
    assert!(label(one, "host.name").is_null());
}
