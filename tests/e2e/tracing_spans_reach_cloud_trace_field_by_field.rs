//! `tracing` → `TracespoolLayer` → spool → the real `tracespool upload` →
//! the strict Cloud Trace stand-in, compared field by field.
use tracespool::{OnFull, Recorder};
use tracespool_tests::cli;
use tracespool_tracing::{SpanExt, TracespoolLayer};
use tracing_subscriber::prelude::*;

#[test]
fn a_tracing_request_arrives_as_cloud_trace_spans() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("t.spool");
    {
        let (rec, guard) = Recorder::builder(&spool)
            .service_name("tracing-e2e")
            .on_full(OnFull::Block)
            .build()
            .unwrap();
        let subscriber = tracing_subscriber::registry().with(TracespoolLayer::new(rec.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let server = tracing::info_span!(
                "GET /items/{id}",
                otel.kind = "server",
                http.request.method = "GET",
                http.response.status_code = 200,
                user.id = 42u64,
            );
            server
                .set_parent_from_traceparent(
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                )
                .unwrap();
            let _s = server.enter();
            tracing::info!(cache = "miss", "looked up the cache");
            let db = tracing::info_span!("SELECT items", otel.kind = "client", rows = 3);
            db.in_scope(|| tracing::error!("timeout"));
        });
        rec.flush().unwrap();
        drop(guard);
    }
    let spans = cli::upload_to_cloud_trace(env!("CARGO_BIN_EXE_tracespool"), &spool, "tracing-e2e");
    assert_eq!(spans.len(), 2);

    let server = cli::span_named(&spans, "GET /items/{id}");
    cli::assert_server_child_of_remote_parent(server);
    let m = &server["attributes"]["attributeMap"];
    assert_eq!(m["/http/method"]["stringValue"]["value"], "GET");
    assert_eq!(m["/http/status_code"]["intValue"], "200");
    assert_eq!(m["user.id"]["intValue"], "42");
    assert_eq!(
        m["g.co/gae/app/module"]["stringValue"]["value"],
        "tracing-e2e"
    );
    let ann = &server["timeEvents"]["timeEvent"][0]["annotation"];
    assert_eq!(ann["description"]["value"], "looked up the cache");
    assert_eq!(
        ann["attributes"]["attributeMap"]["cache"]["stringValue"]["value"],
        "miss"
    );
    assert_eq!(
        ann["attributes"]["attributeMap"]["level"]["stringValue"]["value"],
        "INFO"
    );

    let db = cli::span_named(&spans, "SELECT items");
    assert_eq!(db["spanKind"], "CLIENT");
    assert_eq!(db["parentSpanId"], server["spanId"]);
    assert_eq!(db["sameProcessAsParentSpan"], true);
    assert_eq!(db["status"]["code"], 2);
    assert_eq!(db["status"]["message"], "timeout");
    assert_eq!(db["attributes"]["attributeMap"]["rows"]["intValue"], "3");
}
