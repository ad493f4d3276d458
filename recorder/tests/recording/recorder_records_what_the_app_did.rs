//! Spans recorded through the public API arrive in the spool with every
//! field, the right parents and the right sampling.
use std::time::Duration;

use crate::spool_records;
use spool_records::{find, read_all};
use tracespool::*;
use tracespool_schema::TimeEventKind;
use tracespool_spool::{SpoolOptions, SpoolReader};

#[test]
fn nesting_fields_and_resource_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.spool");
    let (rec, guard) = Recorder::builder(&path)
        .service_name("unit")
        .resource_attribute("service.version", "9.9")
        .build()
        .unwrap();
    let other = rec.span("other").context();
    {
        let mut root = rec.span("root").entered();
        root.set_kind(SpanKind::Server);
        root.set_attribute("http.request.method", "GET");
        root.set_attribute("http.response.status_code", 200i64);
        root.set_attribute("http.response.status_code", 503i64); // replaces
        root.set_attribute("ok", false);
        root.set_attribute("ratio", 0.5);
        root.add_annotation("started", vec![Attribute::new("k", "v")]);
        root.add_message_event(MessageKind::Received, 1, 100, 40);
        root.add_link(other, LinkKind::ParentLinkedSpan, vec![]);
        root.set_status(StatusCode::Error, "boom");
        {
            let _child = rec.span("child").entered();
            let _grandchild = rec.span("grandchild");
        }
        let _explicit_root = rec.span_builder("explicit root").root().start();
    }
    // A span moved to another thread and ended there.
    let moved = rec.span_builder("moved").kind(SpanKind::Producer).start();
    std::thread::spawn(move || drop(moved)).join().unwrap();
    rec.flush().unwrap();
    drop(guard);

    let recs = read_all(&path);
    assert_eq!(
        recs.len(),
        6,
        "other, root, child, grandchild, explicit root, moved"
    );
    let root = find(&recs, "root");
    let child = find(&recs, "child");
    let grandchild = find(&recs, "grandchild");
    assert_eq!(root.span.parent_span_id, None);
    assert_eq!(child.span.parent_span_id, Some(root.span.span_id));
    assert_eq!(grandchild.span.parent_span_id, Some(child.span.span_id));
    assert_eq!(grandchild.span.trace_id, root.span.trace_id);
    assert_ne!(
        find(&recs, "explicit root").span.trace_id,
        root.span.trace_id
    );
    assert_eq!(find(&recs, "moved").span.kind, SpanKind::Producer);
    assert_eq!(
        find(&recs, "moved").span.parent_span_id,
        None,
        "no span was current"
    );

    let s = &root.span;
    assert_eq!(s.kind, SpanKind::Server);
    assert_eq!(s.attributes.len(), 4);
    assert_eq!(s.attributes[1].value, AttributeValue::Int(503));
    assert_eq!(s.status.code, StatusCode::Error);
    assert_eq!(s.status.message, "boom");
    assert_eq!(s.events.len(), 2);
    assert!(matches!(
        &s.events[1].kind,
        TimeEventKind::Message {
            id: 1,
            uncompressed_size: 100,
            compressed_size: 40,
            ..
        }
    ));
    assert_eq!(s.links[0].span_id, other.span_id());
    assert!(s.start_ns <= s.end_ns);
    assert!(child.span.start_ns >= s.start_ns && child.span.end_ns <= s.end_ns);
    let res = &root.resource.attributes;
    assert!(res
        .iter()
        .any(|a| a.key == "service.name" && a.value == AttributeValue::from("unit")));
    assert!(res.iter().any(|a| a.key == "service.version"));
}

#[test]
fn remote_parents_and_sampling() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.spool");
    let (rec, guard) = Recorder::builder(&path).build().unwrap();
    let sampled =
        parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    let unsampled = parse_x_cloud_trace_context("105445aa7843bc8bf206b12000100000/1;o=0").unwrap();
    {
        let s = rec
            .span_builder("joined")
            .parent(sampled)
            .kind(SpanKind::Server)
            .start();
        assert!(s.is_recording());
        let not = rec.span_builder("not sampled").parent(unsampled).start();
        assert!(!not.is_recording());
        // Its children inherit the decision and the trace.
        let _e = not.enter();
        let kid = rec.span("kid of unsampled");
        assert!(!kid.is_recording());
        assert_eq!(kid.context().trace_id(), unsampled.trace_id());
        assert_eq!(format_traceparent(&kid.context()).len(), 55);
    }
    rec.flush().unwrap();
    assert_eq!(rec.stats().sampled_out, 2);
    drop(guard);
    let recs = read_all(&path);
    assert_eq!(recs.len(), 1);
    let j = &recs[0].span;
    assert_eq!(j.trace_id, sampled.trace_id());
    assert_eq!(j.parent_span_id, Some(sampled.span_id()));
    assert!(j.parent_is_remote);

    let (rec, guard) = Recorder::builder(&path)
        .sampler(Sampler::AlwaysOff)
        .build()
        .unwrap();
    drop(rec.span("x"));
    rec.flush().unwrap();
    drop(guard);
    assert_eq!(read_all(&path).len(), 1);
}

#[test]
fn in_span_makes_the_span_current() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.spool");
    let (rec, guard) = Recorder::builder(&path).build().unwrap();
    let outer_ctx = rec.in_span("outer", |outer| {
        outer.set_attribute("x", 1i64);
        drop(rec.span("inner"));
        outer.context()
    });
    assert_eq!(SpanContext::current(), None, "the stack is unwound");
    rec.flush().unwrap();
    drop(guard);
    let recs = read_all(&path);
    assert_eq!(
        find(&recs, "inner").span.parent_span_id,
        Some(outer_ctx.span_id())
    );
}

#[test]
fn flush_confirms_every_span_ended_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.spool");
    let (rec, guard) = Recorder::builder(&path)
        .flush_interval(Duration::from_secs(3600)) // only flush() commits
        .build()
        .unwrap();
    let r = SpoolReader::open(&path, &SpoolOptions::default()).unwrap();
    for round in 1..=5u64 {
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..250 {
                        drop(rec.span("x"));
                    }
                });
            }
        });
        rec.flush().unwrap();
        assert_eq!(r.totals().unwrap().pending_rows, round * 1000);
    }
    assert!(rec.shutdown(Duration::from_secs(5)));
    assert!(rec.shutdown(Duration::from_secs(5)), "idempotent");
    drop(rec.span("after shutdown"));
    assert_eq!(rec.stats().dropped_other, 1);
    assert_eq!(rec.flush(), Err(FlushError::ShutDown));
    drop(guard);
}

#[test]
fn span_caps_count_what_they_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.spool");
    let (rec, guard) = Recorder::builder(&path).build().unwrap();
    {
        let mut s = rec.span("big");
        for i in 0..(limits::MAX_ATTRIBUTES + 5) {
            s.set_attribute(format!("k{i}"), i as i64);
        }
        for _ in 0..(limits::MAX_ANNOTATIONS + 3) {
            s.add_annotation("a", vec![]);
        }
    }
    rec.flush().unwrap();
    drop(guard);
    let recs = read_all(&path);
    let s = &recs[0].span;
    assert_eq!(s.attributes.len(), limits::MAX_ATTRIBUTES);
    assert_eq!(s.dropped.attributes, 5);
    assert_eq!(s.dropped.annotations, 3);
}

/// No recorded value forces a loss: empty names and keys are repaired when
/// recorded, events and ends keep the caller's times, and integers of every
/// width, `f32` and borrowed strings are accepted.
#[test]
fn problem_values_are_repaired_or_kept_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.spool");
    let (rec, guard) = Recorder::builder(&path)
        .service_name("unit")
        .remove_resource_attribute("host.name")
        .remove_resource_attribute("process.pid")
        .resource_attribute("telemetry.sdk.language", "rust-edge")
        .build()
        .unwrap();
    let borrowed = String::from("from a borrowed string");
    {
        let mut s = rec.span("").entered();
        s.set_attribute("", 1i64);
        s.set_attribute("u64", u64::MAX);
        s.set_attribute("u64_small", 5u64);
        s.set_attribute("usize", 6usize);
        s.set_attribute("f32", 0.1f32);
        s.set_attribute("i8", -3i8);
        s.set_attribute("u16", 65535u16);
        s.set_attribute("borrowed", &borrowed);
        s.set_attribute("copied", AttributeValue::copied(borrowed.as_str()));
        s.add_annotation_at(1_000, "long ago", vec![Attribute::new("", "x")]);
        s.add_message_event_at(2_000, MessageKind::Sent, 1, 10, 5);
        s.update_name("   ");
        s.end_at(1_700_000_000_000_000_000);
    }
    rec.flush().unwrap();
    drop(guard);
    let recs = read_all(&path);
    let r = find(&recs, tracespool_schema::UNNAMED_SPAN);
    let a = |k: &str| {
        r.span
            .attributes
            .iter()
            .find(|a| a.key == k)
            .map(|a| a.value.clone())
    };
    assert_eq!(a(""), None);
    // The span's empty key is counted; the annotation's is left to the
    // uploader, which counts it on the annotation.
    assert_eq!(r.span.dropped.attributes, 1, "the empty key is counted");
    assert_eq!(
        a("u64"),
        Some(AttributeValue::from("18446744073709551615".to_string()))
    );
    assert_eq!(a("u64_small"), Some(AttributeValue::Int(5)));
    assert_eq!(a("usize"), Some(AttributeValue::Int(6)));
    assert_eq!(a("f32"), Some(AttributeValue::Float(0.1)));
    assert_eq!(a("i8"), Some(AttributeValue::Int(-3)));
    assert_eq!(a("u16"), Some(AttributeValue::Int(65535)));
    assert_eq!(
        a("borrowed"),
        Some(AttributeValue::from("from a borrowed string"))
    );
    assert_eq!(a("copied"), a("borrowed"));
    assert_eq!(r.span.events[0].time_ns, 1_000);
    assert_eq!(r.span.events[1].time_ns, 2_000);
    assert_eq!(
        r.span.end_ns,
        1_700_000_000_000_000_000.max(r.span.start_ns)
    );
    let keys: Vec<&str> = r.resource.attributes.iter().map(|a| &*a.key).collect();
    assert!(!keys.contains(&"host.name") && !keys.contains(&"process.pid"));
    assert!(
        r.resource
            .attributes
            .iter()
            .any(|a| a.key == "telemetry.sdk.language"
                && a.value == AttributeValue::from("rust-edge"))
    );
}

/// A destructor that records during the thread's teardown, after the
/// thread-local stack of current spans was freed, neither panics (which
/// would abort the process) nor loses the span.
#[test]
fn a_span_recorded_during_thread_teardown_is_kept() {
    struct RecordOnDrop(Recorder);
    impl Drop for RecordOnDrop {
        fn drop(&mut self) {
            let mut s = self.0.span("during teardown").entered();
            s.set_attribute("late", true);
            let _child = self.0.span("child during teardown");
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<Option<RecordOnDrop>> =
            const { std::cell::RefCell::new(None) };
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("teardown.spool");
    let (rec, guard) = Recorder::builder(&path).build().unwrap();
    let r = rec.clone();
    std::thread::spawn(move || {
        // Registered first, so destroyed last: after the span stack, which
        // the entered span below registers now.
        LATE.with(|l| *l.borrow_mut() = Some(RecordOnDrop(r.clone())));
        let _warm = r.span("before teardown").entered();
    })
    .join()
    .expect("the thread did not panic");
    rec.flush().unwrap();
    drop(guard);
    let names: Vec<String> = read_all(&path)
        .iter()
        .map(|r| r.span.name.to_string())
        .collect();
    for n in [
        "before teardown",
        "during teardown",
        "child during teardown",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
}
