//! Unit tests of the span → Cloud Trace conversion rules.
use super::*;
use std::borrow::Cow;
use tracespool_schema::{
    DroppedCounts, Link, Resource, SpanData, SpanId, Status, TimeEvent, TraceId,
};

fn rec(span: SpanData) -> SpanRecord {
    SpanRecord {
        version: 1,
        span,
        resource: Resource {
            attributes: vec![
                Attribute::new("telemetry.sdk.version", "0.1.0"),
                Attribute::new("service.name", "kiosk"),
                Attribute::new("host.name", "edge-1"),
            ],
        },
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
    s.links = vec![Link {
        trace_id: TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        span_id: SpanId::from_hex("b7ad6b7169203331").unwrap(),
        kind: LinkKind::ChildLinkedSpan,
        attributes: vec![],
    }];
    s.status = Status {
        code: StatusCode::Error,
        message: Cow::Borrowed("boom"),
    };
    let j = serde_json::to_value(to_cloud_trace("my-proj", &rec(s))).unwrap();
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
    assert_eq!(m["host.name"]["stringValue"]["value"], "edge-1");
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
    let j = serde_json::to_value(to_cloud_trace("p", &rec(base()))).unwrap();
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
    let c = to_cloud_trace("p", &rec(s));
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
        s.links.push(Link {
            trace_id: s.trace_id,
            span_id: s.span_id,
            kind: LinkKind::Unspecified,
            attributes: vec![],
        });
    }
    let c = to_cloud_trace("p", &rec(s));
    assert_eq!(c.attributes.attribute_map.len(), 32);
    // g.co/agent and service.name, then 30 span keys fit; 10 span keys,
    // the long key and host.name are cut.
    let sent_span_keys = c
        .attributes
        .attribute_map
        .0
        .iter()
        .filter(|(k, _)| k.starts_with('k'))
        .count();
    assert_eq!(sent_span_keys, 30);
    // 2 from the recorder + 10 span keys + the long key + host.name.
    assert_eq!(c.attributes.dropped_attributes_count, 2 + 10 + 1 + 1);
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

#[test]
fn duplicate_keys_last_wins_and_span_beats_resource() {
    let mut s = base();
    s.attributes = vec![
        Attribute::new("a", 1i64),
        Attribute::new("a", 2i64),
        Attribute::new("host.name", "from-span"),
    ];
    let c = to_cloud_trace("p", &rec(s));
    assert_eq!(
        c.attributes.attribute_map.get("a"),
        Some(&CtValue::IntValue("2".into()))
    );
    let CtValue::StringValue(h) = c.attributes.attribute_map.get("host.name").unwrap() else {
        panic!()
    };
    assert_eq!(h.value, "from-span");
}

#[test]
fn expiry_window() {
    let now = 100 * 24 * 3600 * 1_000_000_000u64;
    let mut s = base();
    s.start_ns = now - limits::MAX_AGE_NS;
    assert!(is_expired(&s, now));
    s.start_ns = now - limits::MAX_AGE_NS + 3600 * 1_000_000_000;
    assert!(!is_expired(&s, now));
}

#[test]
fn well_known_labels() {
    assert_eq!(well_known_label("http.method"), Some("/http/method"));
    assert_eq!(well_known_label("url.full"), Some("/http/url"));
    assert_eq!(
        well_known_label("user_agent.original"),
        Some("/http/user_agent")
    );
    assert_eq!(
        well_known_label("k8s.pod.name"),
        Some("g.co/r/k8s_container/pod_name")
    );
    assert_eq!(well_known_label("k8s.other"), None);
    assert_eq!(well_known_label("db.system"), None);
}
