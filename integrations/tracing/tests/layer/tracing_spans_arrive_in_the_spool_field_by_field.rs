//! `tracing` spans, fields, events, links, `otel.*` fields and remote
//! parents arrive in the spool, field by field.
use crate::spool_records;
use spool_records::{find, read_all};
use tracespool::{OnFull, Recorder, SpanKind, StatusCode};
use tracespool_schema::{AttributeValue, SpanRecord, TimeEventKind};
use tracespool_tracing::{SpanExt, TracespoolLayer};
use tracing_subscriber::prelude::*;

fn attr(r: &SpanRecord, key: &str) -> Option<AttributeValue> {
    r.span
        .attributes
        .iter()
        .rev()
        .find(|a| a.key == key)
        .map(|a| a.value.clone())
}

/// Records with a subscriber of this layer (plus `fmt` beside it, writing
/// to a sink) for the duration of `f`; returns the spool's records.
fn record(f: impl FnOnce()) -> Vec<SpanRecord> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.spool");
    let (rec, guard) = Recorder::builder(&path)
        .service_name("tracing-test")
        .on_full(OnFull::Block)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
        .with(TracespoolLayer::new(rec.clone()));
    tracing::subscriber::with_default(subscriber, f);
    rec.flush().unwrap();
    drop(guard);
    read_all(&path)
}

#[test]
fn spans_fields_events_and_parents() {
    let recs = record(|| {
        let root = tracing::info_span!(
            "handle request",
            http.request.method = "GET",
            retries = 3u64,
            big = u64::MAX,
            ratio = 0.5,
            cached = false,
            user = tracing::field::Empty,
            otel.kind = "server",
        );
        let _e = root.enter();
        root.record("user", 42i64);
        tracing::info!(rows = 7, "loaded the user");
        {
            let child = tracing::debug_span!("query", db.statement = "SELECT 1");
            let _c = child.enter();
            tracing::warn!(target: "db", code = ?Some(5), "slow");
        }
        let other = tracing::info_span!(parent: None, "detached");
        other.follows_from(&root);
        drop(other);
        let explicit = tracing::info_span!(parent: &root, "explicit child");
        drop(explicit);
    });
    let root = find(&recs, "handle request");
    assert_eq!(root.span.kind, SpanKind::Server);
    assert_eq!(
        attr(root, "http.request.method"),
        Some(AttributeValue::from("GET"))
    );
    assert_eq!(attr(root, "retries"), Some(AttributeValue::Int(3)));
    assert_eq!(
        attr(root, "big"),
        Some(AttributeValue::from(u64::MAX.to_string()))
    );
    assert_eq!(attr(root, "ratio"), Some(AttributeValue::Float(0.5)));
    assert_eq!(attr(root, "cached"), Some(AttributeValue::Bool(false)));
    assert_eq!(
        attr(root, "user"),
        Some(AttributeValue::Int(42)),
        "Span::record"
    );
    assert!(
        attr(root, "otel.kind").is_none(),
        "otel fields steer, not attributes"
    );
    assert!(root.span.parent_span_id.is_none());
    // The event, at its own time, with its fields, level and target.
    let TimeEventKind::Annotation {
        description,
        attributes,
        ..
    } = &root.span.events[0].kind
    else {
        panic!("an annotation")
    };
    assert_eq!(description, "loaded the user");
    let get = |k: &str| {
        attributes
            .iter()
            .find(|a| a.key == k)
            .map(|a| a.value.clone())
    };
    assert_eq!(get("rows"), Some(AttributeValue::Int(7)));
    assert_eq!(get("level"), Some(AttributeValue::from("INFO")));
    // The event's target is its span's (kept once, as `code.namespace`).
    assert!(get("target").is_none());
    assert!(attr(root, "code.namespace").is_some());
    assert!(root.span.events[0].time_ns >= root.span.start_ns);
    assert!(root.span.events[0].time_ns <= root.span.end_ns);

    let child = find(&recs, "query");
    let TimeEventKind::Annotation { attributes, .. } = &child.span.events[0].kind else {
        panic!("an annotation")
    };
    let target = attributes
        .iter()
        .find(|a| a.key == "target")
        .map(|a| a.value.clone());
    assert_eq!(
        target,
        Some(AttributeValue::from("db")),
        "another target is kept"
    );
    assert_eq!(child.span.parent_span_id, Some(root.span.span_id));
    assert_eq!(child.span.trace_id, root.span.trace_id);
    let explicit = find(&recs, "explicit child");
    assert_eq!(explicit.span.parent_span_id, Some(root.span.span_id));
    let detached = find(&recs, "detached");
    assert!(
        detached.span.parent_span_id.is_none(),
        "parent: None is a root"
    );
    assert_ne!(detached.span.trace_id, root.span.trace_id);
    assert_eq!(detached.span.links.len(), 1, "follows_from is a link");
    assert_eq!(detached.span.links[0].span_id, root.span.span_id);
    assert_eq!(recs.len(), 4);
}

#[test]
fn otel_fields_errors_and_error_events_set_the_status() {
    let recs = record(|| {
        drop(tracing::info_span!(
            "renamed",
            otel.name = "GET /items",
            otel.status_code = "ok"
        ));
        let s = tracing::info_span!("failing");
        s.in_scope(|| tracing::error!("the database went away"));
        drop(s);
        let e = std::io::Error::other("disk");
        drop(tracing::info_span!("with error", error = %e));
        let s = tracing::info_span!("explicit ok", otel.status_code = "ok");
        s.in_scope(|| tracing::error!("logged but handled"));
        drop(s);
    });
    let r = find(&recs, "GET /items");
    assert_eq!(r.span.status.code, StatusCode::Ok);
    let f = find(&recs, "failing");
    assert_eq!(f.span.status.code, StatusCode::Error);
    assert_eq!(f.span.status.message, "the database went away");
    let w = find(&recs, "with error");
    assert_eq!(w.span.status.code, StatusCode::Error);
    assert_eq!(w.span.status.message, "disk");
    assert_eq!(
        attr(w, "exception.message"),
        Some(AttributeValue::from("disk"))
    );
    let k = find(&recs, "explicit ok");
    assert_eq!(k.span.status.code, StatusCode::Ok, "otel.status_code wins");
}

#[test]
fn a_remote_parent_from_a_header_and_the_header_for_the_next_hop() {
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut outgoing = None;
    let recs = record(|| {
        let server = tracing::info_span!("server", otel.kind = "server");
        server.set_parent_from_traceparent(tp).unwrap();
        let _e = server.enter();
        let client = tracing::info_span!("client call", otel.kind = "client");
        outgoing = client.traceparent();
        drop(client);
    });
    let server = find(&recs, "server");
    assert_eq!(
        server.span.trace_id.to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        server.span.parent_span_id.unwrap().to_string(),
        "00f067aa0ba902b7"
    );
    assert!(server.span.parent_is_remote);
    let client = find(&recs, "client call");
    assert_eq!(client.span.trace_id, server.span.trace_id);
    assert_eq!(client.span.parent_span_id, Some(server.span.span_id));
    assert!(!client.span.parent_is_remote);
    let header = outgoing.unwrap();
    assert!(
        header.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{header}"
    );
    assert!(header.contains(&client.span.span_id.to_string()));
}

#[test]
fn a_per_layer_filter_skips_spans_and_children_attach_to_the_nearest_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.spool");
    let (rec, guard) = Recorder::builder(&path).build().unwrap();
    let filter = tracing_subscriber::filter::filter_fn(|m| m.name() != "noisy");
    let subscriber =
        tracing_subscriber::registry().with(TracespoolLayer::new(rec.clone()).with_filter(filter));
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("outer");
        let _o = outer.enter();
        let noisy = tracing::info_span!("noisy");
        let _n = noisy.enter();
        drop(tracing::info_span!("inner"));
    });
    rec.flush().unwrap();
    drop(guard);
    let recs = read_all(&path);
    assert_eq!(recs.len(), 2, "the filtered span is not recorded");
    let outer = find(&recs, "outer");
    let inner = find(&recs, "inner");
    assert_eq!(inner.span.parent_span_id, Some(outer.span.span_id));
}
