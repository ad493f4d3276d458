//! Each rule of the OTLP conversion (see the module's table).
use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use tracespool_schema::{
    Attribute, Link, LinkKind, MessageKind, SpanId, Status as SpanStatus, TimeEvent, TraceId,
    UNNAMED_SPAN,
};

use super::*;

const NOW: u64 = 1_764_000_000_000_000_000;

fn opts() -> ConvertOptions {
    ConvertOptions {
        resource_labels: None,
        now_ns: NOW,
    }
}

fn base() -> SpanData {
    let mut s = SpanData::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        "GET /items",
    );
    s.start_ns = NOW - 1_000;
    s.end_ns = NOW;
    s
}

fn attr<'a>(kvs: &'a [KeyValue], k: &str) -> Option<&'a V> {
    kvs.iter()
        .find(|kv| kv.key == k)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

#[test]
fn every_field_maps() {
    let mut s = base();
    s.parent_span_id = Some(SpanId::from_hex("53995c3f42cd8ad8").unwrap());
    s.parent_is_remote = true;
    s.kind = SpanKind::Server;
    s.trace_flags = 1;
    s.trace_state = Cow::Borrowed("rojo=1");
    s.attributes = vec![
        Attribute::new("s", "v"),
        Attribute::new("i", 7i64),
        Attribute::new("b", true),
        Attribute::new("f", 0.5f64),
        Attribute::new("a", vec!["x", "y"]),
        Attribute::new("n", vec![1i64, 2]),
    ];
    s.status = SpanStatus {
        code: StatusCode::Error,
        message: Cow::Borrowed("boom"),
    };
    s.dropped.attributes = 3;
    let p = span(&s, &opts());
    assert_eq!(p.trace_id, s.trace_id.0.to_vec());
    assert_eq!(p.span_id, s.span_id.0.to_vec());
    assert_eq!(p.parent_span_id, s.parent_span_id.unwrap().0.to_vec());
    // Sampled, and the parent is known to be remote.
    assert_eq!(p.flags, 0x1 | 0x100 | 0x200);
    assert_eq!(p.trace_state, "rojo=1");
    assert_eq!(p.kind, 2);
    assert_eq!(p.name, "GET /items");
    assert_eq!(
        (p.start_time_unix_nano, p.end_time_unix_nano),
        (NOW - 1_000, NOW)
    );
    assert_eq!(attr(&p.attributes, "s"), Some(&V::StringValue("v".into())));
    assert_eq!(attr(&p.attributes, "i"), Some(&V::IntValue(7)));
    assert_eq!(attr(&p.attributes, "b"), Some(&V::BoolValue(true)));
    assert_eq!(attr(&p.attributes, "f"), Some(&V::DoubleValue(0.5)));
    let Some(V::ArrayValue(a)) = attr(&p.attributes, "a") else {
        panic!("an array");
    };
    assert_eq!(
        a.values,
        vec![
            AnyValue {
                value: Some(V::StringValue("x".into()))
            },
            AnyValue {
                value: Some(V::StringValue("y".into()))
            }
        ]
    );
    assert_eq!(p.dropped_attributes_count, 3);
    let st = p.status.unwrap();
    assert_eq!((st.code, st.message.as_str()), (2, "boom"));
    // A root span has no remote bits; an unset status is absent.
    let root = span(&base(), &opts());
    assert_eq!(root.flags, 0x1);
    assert!(root.status.is_none());
    assert!(root.parent_span_id.is_empty());
}

#[test]
fn events_and_links_keep_their_details() {
    let mut s = base();
    s.events = vec![
        TimeEvent {
            time_ns: NOW - 500,
            kind: TimeEventKind::Annotation {
                description: Cow::Borrowed("cache miss"),
                attributes: vec![Attribute::new("k", "v")],
                dropped_attributes: 2,
            },
        },
        TimeEvent {
            time_ns: NOW - 400,
            kind: TimeEventKind::Message {
                kind: MessageKind::Received,
                id: 9,
                uncompressed_size: 100,
                compressed_size: 40,
            },
        },
    ];
    s.dropped.annotations = 1;
    s.dropped.message_events = 1;
    let mut l = Link::new(TraceId([7; 16]), SpanId([8; 8]), LinkKind::ParentLinkedSpan);
    l.trace_state = Cow::Borrowed("v=1");
    l.trace_flags = 1;
    l.is_remote = true;
    l.dropped_attributes = 4;
    s.links = vec![
        l,
        Link::new(TraceId([0; 16]), SpanId([8; 8]), LinkKind::Unspecified),
    ];
    let p = span(&s, &opts());
    assert_eq!(p.events.len(), 2);
    assert_eq!(p.events[0].name, "cache miss");
    assert_eq!(p.events[0].time_unix_nano, NOW - 500);
    assert_eq!(p.events[0].dropped_attributes_count, 2);
    assert_eq!(p.events[1].name, "message");
    assert_eq!(
        attr(&p.events[1].attributes, "message.type"),
        Some(&V::StringValue("RECEIVED".into()))
    );
    assert_eq!(
        attr(&p.events[1].attributes, "message.compressed_size"),
        Some(&V::IntValue(40))
    );
    assert_eq!(p.dropped_events_count, 2);
    // The zero-id link is dropped and counted.
    assert_eq!(p.links.len(), 1);
    assert_eq!(p.dropped_links_count, 1);
    let link = &p.links[0];
    assert_eq!(link.trace_state, "v=1");
    assert_eq!(link.flags, 0x1 | 0x100 | 0x200);
    assert_eq!(link.dropped_attributes_count, 4);
    assert_eq!(
        attr(&link.attributes, "tracespool.link.kind"),
        Some(&V::StringValue("PARENT_LINKED_SPAN".into()))
    );
}

#[test]
fn limits_are_the_telemetry_apis() {
    let mut s = base();
    s.name = Cow::Owned("é".repeat(600)); // 1200 bytes
    s.attributes = (0..1030)
        .map(|i| Attribute::new(format!("k{i}"), i as i64))
        .collect();
    s.attributes[0] = Attribute::new("k".repeat(513), 1i64);
    s.attributes[1] = Attribute::new("long", "v".repeat(70_000));
    s.attributes[2] = Attribute::new("", 1i64);
    s.events = (0..300)
        .map(|i| TimeEvent {
            time_ns: NOW - 100 + i,
            kind: TimeEventKind::Annotation {
                description: Cow::Borrowed("e"),
                attributes: vec![],
                dropped_attributes: 0,
            },
        })
        .collect();
    s.links = (0..130)
        .map(|i| {
            Link::new(
                TraceId([1; 16]),
                SpanId([i as u8 + 1; 8]),
                LinkKind::Unspecified,
            )
        })
        .collect();
    let p = span(&s, &opts());
    assert!(p.name.len() <= limits::NAME_BYTES && p.name.len() >= limits::NAME_BYTES - 1);
    assert_eq!(p.attributes.len(), limits::ATTRIBUTES);
    // 2 invalid keys and 1030 - 2 - 1024 over the cap.
    assert_eq!(p.dropped_attributes_count, 2 + 4);
    let Some(V::StringValue(v)) = attr(&p.attributes, "long") else {
        panic!("kept, cut");
    };
    assert_eq!(v.len(), limits::VALUE_BYTES);
    assert_eq!(p.events.len(), limits::EVENTS);
    assert_eq!(p.dropped_events_count, 44);
    assert_eq!(p.links.len(), limits::LINKS);
    assert_eq!(p.dropped_links_count, 2);
}

#[test]
fn the_cloud_trace_repairs_apply() {
    let mut s = base();
    s.name = Cow::Borrowed("  ");
    s.trace_id = TraceId([0; 16]);
    s.span_id = SpanId([0; 8]);
    s.parent_span_id = Some(SpanId([0; 8]));
    s.end_ns = s.start_ns - 5;
    let p = span(&s, &opts());
    assert_eq!(p.name, UNNAMED_SPAN);
    assert!(p.trace_id.iter().any(|b| *b != 0));
    assert!(p.span_id.iter().any(|b| *b != 0));
    assert!(p.parent_span_id.is_empty());
    assert_eq!(p.end_time_unix_nano, p.start_time_unix_nano);
    // The same span gives the same derived ids.
    assert_eq!(span(&s, &opts()).span_id, p.span_id);
}

#[test]
fn resources_carry_the_project_and_scopes_their_fields() {
    let r = Resource::new(vec![Attribute::new("service.name", "kiosk")]);
    let p = resource(&r, Some("proj-p1"));
    assert_eq!(
        attr(&p.attributes, PROJECT_ATTRIBUTE),
        Some(&V::StringValue("proj-p1".into()))
    );
    // One already set is kept as it is.
    let r2 = Resource::new(vec![Attribute::new(PROJECT_ATTRIBUTE, "other")]);
    let p2 = resource(&r2, Some("proj-p1"));
    assert_eq!(p2.attributes.len(), 1);
    assert_eq!(
        attr(&p2.attributes, PROJECT_ATTRIBUTE),
        Some(&V::StringValue("other".into()))
    );
    assert!(attr(&resource(&r, None).attributes, PROJECT_ATTRIBUTE).is_none());
    let sc = scope(&InstrumentationScope {
        name: Cow::Borrowed("lib"),
        version: Cow::Borrowed("1.0"),
        schema_url: Cow::Borrowed("https://x"),
        attributes: vec![Attribute::new("a", 1i64)],
    });
    assert_eq!((sc.name.as_str(), sc.version.as_str()), ("lib", "1.0"));
    assert_eq!(sc.attributes.len(), 1);
}

#[test]
fn one_span_never_carries_more_attributes_than_a_resource_spans_can_hold() {
    let attrs = |n: usize, p: &str| -> Vec<Attribute> {
        (0..n)
            .map(|i| Attribute::new(format!("{p}{i}"), i as i64))
            .collect()
    };
    let mut s = base();
    s.attributes = attrs(1000, "a");
    // 256 events of 30 attributes and 10 links of 100: 1000 + 7680 + 1000.
    for i in 0..256u64 {
        s.events.push(TimeEvent {
            time_ns: NOW - 500 + i,
            kind: TimeEventKind::Annotation {
                description: Cow::Owned(format!("e{i}")),
                attributes: attrs(30, "e"),
                dropped_attributes: 0,
            },
        });
    }
    for i in 0..10u8 {
        let mut l = Link::new(
            TraceId([i + 1; 16]),
            SpanId([i + 1; 8]),
            LinkKind::Unspecified,
        );
        l.attributes = attrs(100, "l");
        s.links.push(l);
    }
    let out = span(&s, &opts());
    assert_eq!(attribute_count(&out), limits::SPAN_TOTAL_ATTRIBUTES);
    // The span's own and the links' are kept; the last events' went first.
    assert_eq!(out.attributes.len(), 1000);
    assert!(out.links.iter().all(|l| l.attributes.len() == 100));
    let dropped: u32 = out.events.iter().map(|e| e.dropped_attributes_count).sum();
    assert_eq!(
        dropped as usize,
        1000 + 7680 + 1000 - limits::SPAN_TOTAL_ATTRIBUTES
    );
    assert_eq!(
        out.events[0].attributes.len(),
        30,
        "the first events keep theirs"
    );
    assert!(out.events.last().unwrap().attributes.is_empty());
    // With the largest resource and scope it still fits a ResourceSpans.
    assert!(attribute_count(&out) + 2 * limits::ATTRIBUTES <= limits::RESOURCE_SPANS_ATTRIBUTES);
}
