//! `tracespool view` in Debian's Chromium, headless: the spans of the
//! OpenTelemetry and `tracing` examples and of loadgen, found with the
//! search form, a trace opened from the list, its waterfall's nesting
//! checked against the spool, a span's details opened by a click.
//! Screenshots go to `target/tmp/view-screenshots/`. Skips (or fails under
//! `TRACESPOOL_REQUIRE_EDGE_TOOLS`) where Chromium is not installed.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tracespool_tests::browser::Browser;
use tracespool_tests::cli::example;
use tracespool_tests::web::Viewer;
use tracespool_tests::{skip, spool_parents};

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("view-screenshots")
}

/// span id → parent id ("" for none) of one trace, from the spool.
fn spool_tree(spool: &Path, trace: &str) -> HashMap<String, String> {
    spool_parents(spool)
        .into_iter()
        .filter(|(_, (t, _))| t == trace)
        .map(|(span, (_, parent))| (span, parent))
        .collect()
}

/// Runs an example into `spool`; returns its trace id (its last word).
fn run_example(package: &str, name: &str, spool: &Path) -> String {
    let out = Command::new(example(package, name))
        .arg(spool)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned()
}

#[test]
fn search_open_a_trace_check_its_nesting_and_a_span_s_details() {
    let Some(browser) =
        Browser::start().or_else(|| skip("Chromium is not installed (apt install chromium)"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("apps.spool");
    let otel_trace = run_example("tracespool-opentelemetry", "otel_job", &spool);
    let tracing_trace = run_example("tracespool-tracing", "tracing_job", &spool);
    let out = Command::new(example("tracespool", "loadgen"))
        .args(["--spans", "3000", "--spool"])
        .arg(&spool)
        .output()
        .unwrap();
    assert!(out.status.success());

    let v = Viewer::start(BIN, &spool, &[]);
    let mut page = browser.page();

    // The overview, then a search by service through the form.
    page.open(&v.url);
    assert!(page.eval("document.querySelector('svg.chart') !== null") == Value::Bool(true));
    page.screenshot(&screenshots().join("overview.png"));
    page.open(&format!("{}traces", v.url));
    page.eval(
        "document.querySelector('input[name=service]').value = 'otel-job';\
         document.getElementById('search').submit(); true",
    );
    assert!(page.wait_for(
        "location.search.includes('service=otel-job') && document.readyState === 'complete' && document.body && document.body.dataset.ready === '1'",
        Duration::from_secs(30)
    ));
    let rows = page.eval(
        "[...document.querySelectorAll('#traces tr[data-trace-id]')].map(r => r.dataset.traceId)",
    );
    assert_eq!(
        rows,
        serde_json::json!([otel_trace]),
        "the search finds the OpenTelemetry job's trace alone"
    );
    page.screenshot(&screenshots().join("search.png"));

    // Open it from the list: the waterfall holds every span of the trace,
    // each under its parent.
    page.eval("document.querySelector('#traces a').click(); true");
    assert!(page.wait_for(
        &format!("location.pathname === '/trace/{otel_trace}'"),
        Duration::from_secs(30)
    ));
    page.wait_for_ready("the trace page");
    for trace in [&otel_trace, &tracing_trace] {
        if trace != &otel_trace {
            page.open(&format!("{}trace/{trace}", v.url));
            page.screenshot(&screenshots().join("waterfall-tracing.png"));
        }
        let dom = page.eval(
            "[...document.querySelectorAll('#waterfall [data-span-id]')].map(e => [e.dataset.spanId, e.dataset.parentSpanId, +e.dataset.depth])",
        );
        let dom = dom.as_array().unwrap();
        let want = spool_tree(&spool, trace);
        assert_eq!(dom.len(), want.len(), "one bar per span of {trace}");
        let mut depth_of: HashMap<String, i64> = HashMap::new();
        for e in dom {
            let (id, parent, depth) = (
                e[0].as_str().unwrap(),
                e[1].as_str().unwrap(),
                e[2].as_i64().unwrap(),
            );
            assert_eq!(want.get(id).map(String::as_str), Some(parent), "span {id}");
            match depth_of.get(parent) {
                // Nested: after its parent, one level deeper.
                Some(d) => assert_eq!(depth, d + 1, "span {id}"),
                None => assert_eq!(depth, 0, "span {id}: a root or an orphan"),
            }
            depth_of.insert(id.to_owned(), depth);
        }
    }
    page.open(&format!("{}trace/{otel_trace}", v.url));
    page.screenshot(&screenshots().join("waterfall.png"));

    // A child's details, by a click.
    let child = page.eval("document.querySelector('#waterfall [data-depth=\"1\"]').dataset.spanId");
    let child = child.as_str().unwrap().to_owned();
    page.eval(&format!(
        "document.querySelector('[data-span-id=\"{child}\"] .label').click(); true"
    ));
    assert!(page.wait_for(
        &format!("document.getElementById('details').dataset.loadedSpanId === '{child}'"),
        Duration::from_secs(30)
    ));
    let text = page.eval("document.getElementById('details').innerText");
    let text = text.as_str().unwrap();
    for want in [
        "process item",
        "Attributes",
        "item",
        "Resource",
        "service.name",
        "otel-job",
        "Scope",
        "pending",
    ] {
        assert!(text.contains(want), "{want:?} not in the details: {text}");
    }
    page.screenshot(&screenshots().join("span-details.png"));
    assert_eq!(v.stop(), Some(0));
}
