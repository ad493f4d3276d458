//! Unit tests of the span → Cloud Trace conversion rules.
use super::*;
use crate::repair::{is_expired, MAX_AGE_NS};
use std::borrow::Cow;
use tracespool_schema::{Attribute, LinkKind, MessageKind, SpanKind, TimeEventKind, UNNAMED_SPAN};
use tracespool_schema::{
    DroppedCounts, Link, Resource, SpanData, SpanId, Status, TimeEvent, TraceId,
};

fn rec(span: SpanData) -> SpanRecord {
    SpanRecord {
        version: 1,
        span,
        resource: Resource::new(vec![
            Attribute::new("telemetry.sdk.version", "0.1.0"),
            Attribute::new("service.name", "kiosk"),
            Attribute::new("host.name", "edge-1"),
        ]),
    }
}

/// 2025-11-24T16:00:00Z, the spans' time.
const NOW_NS: u64 = 1_764_000_000 * 1_000_000_000;

fn opts() -> ConvertOptions {
    ConvertOptions {
        resource_labels: None,
        now_ns: NOW_NS,
    }
}

fn base() -> SpanData {
    let mut s = SpanData::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        "GET /items",
    );
    s.start_ns = 1_764_000_000_123_456_789;
    s.end_ns = 1_764_000_001_000_000_000;
    s
}

#[test]
fn every_field_maps() {
    let mut s = base();
    s.parent_span_id = Some(SpanId::from_hex("53995c3f42cd8ad8").unwrap());
    s.parent_is_remote = true;
    s.kind = SpanKind::Server;
    s.attributes = vec![
        Attribute::new("http.request.method", "GET"),
        Attribute::new("http.response.status_code", 200i64),
        Attribute::new("cache.hit", true),
        Attribute::new("ratio", 0.25),
    ];
    s.events = vec![
        TimeEvent {
            time_ns: 1_764_000_000_500_000_000,
            kind: TimeEventKind::Annotation {
                description: Cow::Borrowed("cache miss"),
                attributes: vec![Attribute::new("k", "v")],
                dropped_attributes: 0,
            },
        },
        TimeEvent {
            time_ns: 1_764_000_000_600_000_000,
            kind: TimeEventKind::Message {
                kind: MessageKind::Received,
                id: 7,
                uncompressed_size: 100,
                compressed_size: 0,
            },
        },
    ];
    s.links = vec![Link::new(
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        SpanId::from_hex("b7ad6b7169203331").unwrap(),
        LinkKind::ChildLinkedSpan,
    )];
    s.status = Status {
        code: StatusCode::Error,
        message: Cow::Borrowed("boom"),
    };
    let j = serde_json::to_value(to_cloud_trace("my-proj", &rec(s), &opts())).unwrap();
    assert_eq!(
        j["name"],
        "projects/my-proj/traces/4bf92f3577b34da6a3ce929d0e0e4736/spans/00f067aa0ba902b7"
    );
    assert_eq!(j["spanId"], "00f067aa0ba902b7");
    assert_eq!(j["parentSpanId"], "53995c3f42cd8ad8");
    assert_eq!(j["displayName"]["value"], "GET /items");
    assert!(j["displayName"].get("truncatedByteCount").is_none());
    assert_eq!(j["startTime"], "2025-11-24T16:00:00.123456789Z");
    assert_eq!(j["endTime"], "2025-11-24T16:00:01.000000000Z");
    let m = &j["attributes"]["attributeMap"];
    assert_eq!(m["/http/method"]["stringValue"]["value"], "GET");
    assert_eq!(m["/http/status_code"]["intValue"], "200");
    assert_eq!(m["cache.hit"]["boolValue"], true);
    assert_eq!(m["ratio"]["stringValue"]["value"], "0.25");
    assert_eq!(m["service.name"]["stringValue"]["value"], "kiosk");
    assert_eq!(m["g.co/gae/app/module"]["stringValue"]["value"], "kiosk");
    // The host travels only as the monitored resource's node id.
    assert!(m.get("host.name").is_none());
    assert_eq!(
        m["g.co/r/generic_node/node_id"]["stringValue"]["value"],
        "edge-1"
    );
    assert_eq!(
        m["g.co/r/generic_node/location"]["stringValue"]["value"],
        "global"
    );
    assert!(m["g.co/agent"]["stringValue"]["value"]
        .as_str()
        .unwrap()
        .starts_with("tracespool-uploader "));
    let ev = &j["timeEvents"]["timeEvent"];
    assert_eq!(ev[0]["annotation"]["description"]["value"], "cache miss");
    assert_eq!(
        ev[0]["annotation"]["attributes"]["attributeMap"]["k"]["stringValue"]["value"],
        "v"
    );
    assert_eq!(ev[1]["messageEvent"]["type"], "RECEIVED");
    assert_eq!(ev[1]["messageEvent"]["id"], "7");
    assert_eq!(ev[1]["messageEvent"]["compressedSizeBytes"], "100");
    assert_eq!(j["links"]["link"][0]["type"], "CHILD_LINKED_SPAN");
    assert_eq!(j["status"]["code"], 2);
    assert_eq!(j["status"]["message"], "boom");
    assert_eq!(j["sameProcessAsParentSpan"], false);
    assert_eq!(j["spanKind"], "SERVER");
}

#[test]
fn roots_and_unset_status_omit_fields() {
    let j = serde_json::to_value(to_cloud_trace("p", &rec(base()), &opts())).unwrap();
    for absent in [
        "parentSpanId",
        "status",
        "sameProcessAsParentSpan",
        "timeEvents",
        "links",
    ] {
        assert!(j.get(absent).is_none(), "{absent} present");
    }
    assert_eq!(j["spanKind"], "SPAN_KIND_UNSPECIFIED");
}

#[test]
fn truncation_respects_utf8_and_counts_bytes() {
    let t = truncate(&"é".repeat(100), 128); // 200 bytes of 2-byte chars
    assert_eq!(t.value.len(), 128);
    assert_eq!(t.truncated_byte_count, 72);
    let t = truncate(&format!("a{}", "é".repeat(100)), 128); // boundary falls mid-char
    assert_eq!(t.value.len(), 127);
    assert_eq!(t.truncated_byte_count, 74);
    assert!(std::str::from_utf8(t.value.as_bytes()).is_ok());
    let mut s = base();
    s.name = "n".repeat(300).into();
    s.attributes = vec![Attribute::new("long", "v".repeat(1000))];
    let c = to_cloud_trace("p", &rec(s), &opts());
    assert_eq!(c.display_name.value.len(), 128);
    assert_eq!(c.display_name.truncated_byte_count, 172);
    let CtValue::StringValue(v) = c.attributes.attribute_map.get("long").unwrap() else {
        panic!()
    };
    assert_eq!((v.value.len(), v.truncated_byte_count), (256, 744));
}

#[test]
fn caps_drop_and_count() {
    let mut s = base();
    s.attributes = (0..40)
        .map(|i| Attribute::new(format!("k{i}"), i as i64))
        .collect();
    s.attributes.push(Attribute::new("x".repeat(129), 1i64));
    s.dropped = DroppedCounts {
        attributes: 2,
        annotations: 1,
        message_events: 0,
        links: 0,
    };
    for i in 0..40u64 {
        s.events.push(TimeEvent {
            time_ns: s.start_ns + i,
            kind: TimeEventKind::Annotation {
                description: Cow::Borrowed("a"),
                attributes: (0..6)
                    .map(|j| Attribute::new(format!("a{j}"), j as i64))
                    .collect(),
                dropped_attributes: 0,
            },
        });
    }
    for i in 0..130u64 {
        s.events.push(TimeEvent {
            time_ns: s.start_ns + i,
            kind: TimeEventKind::Message {
                kind: MessageKind::Sent,
                id: i,
                uncompressed_size: 1,
                compressed_size: 1,
            },
        });
        s.links
            .push(Link::new(s.trace_id, s.span_id, LinkKind::Unspecified));
    }
    let c = to_cloud_trace("p", &rec(s), &opts());
    assert_eq!(c.attributes.attribute_map.len(), 32);
    // g.co/agent and g.co/gae/app/module, then 30 span keys fit; 10 span
    // keys, the long key and the three resource labels are cut.
    let sent_span_keys = c
        .attributes
        .attribute_map
        .0
        .iter()
        .filter(|(k, _)| k.starts_with('k'))
        .count();
    assert_eq!(sent_span_keys, 30);
    // 2 from the recorder + 10 span keys + the long key + service.name,
    // g.co/r/generic_node/{location,node_id}.
    assert_eq!(c.attributes.dropped_attributes_count, 2 + 10 + 1 + 3);
    assert!(c
        .attributes
        .attribute_map
        .get("g.co/gae/app/module")
        .is_some());
    let te = c.time_events.unwrap();
    let anns = te
        .time_event
        .iter()
        .filter(|e| e.annotation.is_some())
        .count();
    assert_eq!(anns, 32);
    assert_eq!(te.dropped_annotations_count, 1 + 8);
    assert_eq!(te.time_event.len() - anns, 128);
    assert_eq!(te.dropped_message_events_count, 2);
    let first = te.time_event[0]
        .annotation
        .as_ref()
        .unwrap()
        .attributes
        .as_ref()
        .unwrap();
    assert_eq!(
        (first.attribute_map.len(), first.dropped_attributes_count),
        (4, 2)
    );
    let links = c.links.unwrap();
    assert_eq!((links.link.len(), links.dropped_links_count), (128, 2));
}

fn sent(c: &CtSpan, key: &str) -> Option<CtValue> {
    c.attributes.attribute_map.get(key).cloned()
}

fn text(v: &str) -> Option<CtValue> {
    Some(CtValue::StringValue(truncate(v, 256)))
}

#[test]
fn one_key_set_twice_sends_the_last_value_and_counts_nothing() {
    let mut s = base();
    s.attributes = vec![Attribute::new("a", 1i64), Attribute::new("a", 2i64)];
    let c = to_cloud_trace("p", &rec(s), &opts());
    assert_eq!(sent(&c, "a"), Some(CtValue::IntValue("2".into())));
    assert_eq!(c.attributes.dropped_attributes_count, 0);
}

#[test]
fn two_keys_for_one_label_keep_the_current_name_and_count_the_other() {
    for attrs in [
        [
            Attribute::new("http.method", "GET"),
            Attribute::new("http.request.method", "POST"),
        ],
        [
            Attribute::new("http.request.method", "POST"),
            Attribute::new("http.method", "GET"),
        ],
    ] {
        let mut s = base();
        s.attributes = attrs.to_vec();
        let c = to_cloud_trace("p", &rec(s), &opts());
        assert_eq!(sent(&c, "/http/method"), text("POST"));
        assert_eq!(c.attributes.dropped_attributes_count, 1);
    }
    // Two old names for one label: the first wins.
    let mut s = base();
    s.attributes = vec![
        Attribute::new("http.target", "/a"),
        Attribute::new("http.path", "/b"),
    ];
    let c = to_cloud_trace("p", &rec(s), &opts());
    assert_eq!(sent(&c, "/http/path"), text("/a"));
    assert_eq!(c.attributes.dropped_attributes_count, 1);
}

#[test]
fn the_spans_own_attribute_beats_the_resources_and_the_loser_is_counted() {
    let mut s = base();
    s.attributes = vec![Attribute::new("service.name", "from-span")];
    let c = to_cloud_trace("p", &rec(s), &opts());
    assert_eq!(sent(&c, "service.name"), text("from-span"));
    // The module label still names the resource's service.
    assert_eq!(sent(&c, "g.co/gae/app/module"), text("kiosk"));
    assert_eq!(c.attributes.dropped_attributes_count, 1);
}

#[test]
fn a_span_with_many_attributes_keeps_them_before_resource_labels() {
    let mut s = base();
    s.attributes = (0..40)
        .map(|i| Attribute::new(format!("own.{i}"), i as i64))
        .collect();
    let c = to_cloud_trace("p", &rec(s), &opts());
    let own = c
        .attributes
        .attribute_map
        .0
        .iter()
        .filter(|(k, _)| k.starts_with("own."))
        .count();
    assert_eq!(own, 30, "32 slots less g.co/agent and g.co/gae/app/module");
    assert_eq!(sent(&c, "g.co/gae/app/module"), text("kiosk"));
    assert_eq!(c.attributes.dropped_attributes_count, 10 + 3);
}

#[test]
fn floats_are_short_exact_text_that_is_not_an_integer() {
    for (f, t) in [
        (1.0, "1.0"),
        (0.25, "0.25"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (f64::MAX, "1.7976931348623157e308"),
        (1e300, "1e300"),
        (1e-300, "1e-300"),
        (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
        (123456789.0, "123456789.0"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
    ] {
        assert_eq!(float_text(f), t);
        if f.is_finite() {
            assert_eq!(float_text(f).parse::<f64>().unwrap(), f, "{t} round-trips");
        }
    }
    let mut s = base();
    s.attributes = vec![Attribute::new("max", f64::MAX)];
    let c = to_cloud_trace("p", &rec(s), &opts());
    assert_eq!(sent(&c, "max"), text("1.7976931348623157e308"));
}

#[test]
fn an_empty_name_and_an_empty_key_cannot_lose_the_span() {
    for name in ["", "   ", "\t\n"] {
        let mut s = base();
        s.name = name.to_string().into();
        s.attributes = vec![Attribute::new("", 1i64), Attribute::new("ok", 2i64)];
        let c = to_cloud_trace("p", &rec(s), &opts());
        assert_eq!(c.display_name.value, UNNAMED_SPAN);
        assert!(sent(&c, "").is_none());
        assert_eq!(sent(&c, "ok"), Some(CtValue::IntValue("2".into())));
        assert_eq!(c.attributes.dropped_attributes_count, 1);
    }
}

#[test]
fn zero_ids_are_repaired_and_links_to_nothing_dropped() {
    let mut s = base();
    s.trace_id = TraceId([0; 16]);
    s.span_id = SpanId([0; 8]);
    s.parent_span_id = Some(SpanId([0; 8]));
    s.links = vec![Link::new(
        TraceId([0; 16]),
        SpanId([1; 8]),
        LinkKind::Unspecified,
    )];
    let c = to_cloud_trace("p", &rec(s.clone()), &opts());
    assert_ne!(c.span_id, "0000000000000000");
    assert!(!c.name.contains("/traces/00000000000000000000000000000000/"));
    assert!(c.parent_span_id.is_none(), "a zero parent is a root");
    let links = c.links.unwrap();
    assert!(links.link.is_empty());
    assert_eq!(links.dropped_links_count, 1);
    // The same ids on every resend.
    assert_eq!(to_cloud_trace("p", &rec(s), &opts()).name, c.name);
}

#[test]
fn times_beyond_what_cloud_trace_accepts_are_clamped() {
    let mut s = base();
    s.end_ns = u64::MAX;
    let c = to_cloud_trace("p", &rec(s.clone()), &opts());
    assert_eq!(c.end_time, rfc3339_nanos(opts().latest_ns()));
    s.start_ns = u64::MAX - 1;
    let c = to_cloud_trace("p", &rec(s), &opts());
    assert_eq!(c.start_time, c.end_time);
}

#[test]
fn expiry_window() {
    let now = 100 * 24 * 3600 * 1_000_000_000u64;
    let mut s = base();
    s.start_ns = now - MAX_AGE_NS;
    assert!(is_expired(&s, now));
    s.start_ns = now - MAX_AGE_NS + 3600 * 1_000_000_000;
    assert!(!is_expired(&s, now));
}

#[test]
fn well_known_labels() {
    assert_eq!(well_known_label("http.method"), Some(("/http/method", 1)));
    assert_eq!(well_known_label("url.full"), Some(("/http/url", 0)));
    assert_eq!(
        well_known_label("user_agent.original"),
        Some(("/http/user_agent", 0))
    );
    assert_eq!(
        well_known_label("k8s.pod.name"),
        Some(("g.co/r/k8s_container/pod_name", 0))
    );
    assert_eq!(well_known_label("k8s.other"), None);
    assert_eq!(well_known_label("db.system"), None);
}
