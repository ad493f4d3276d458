//! The uploader reports its spool's health where a fleet's operator looks:
//! a Prometheus text file (node_exporter's textfile collector) and OTLP
//! metrics to the collector it sends spans to. The numbers are the ones
//! `inspect --json` shows, for a run that failed and for one that
//! delivered; reporting never sends a token, never breaks an upload, and
//! is off when asked.
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tracespool_tests::cli::expect_exit;

use serde_json::Value;
use tracespool_tests::standin::StandIn;
use tracespool_tests::{record_spans, test_account, write_key_file};

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

fn inspect(spool: &Path) -> Value {
    tracespool_tests::cli::inspect_json(BIN, spool)
}

/// The samples of a Prometheus text file, by metric name; every sample
/// must carry the spool's label.
fn samples(text: &str, spool: &Path) -> BTreeMap<String, f64> {
    let label = format!("{{spool=\"{}\"}}", spool.display());
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name_labels, value) = l.rsplit_once(' ').unwrap();
            let name = name_labels
                .strip_suffix(&label)
                .unwrap_or_else(|| panic!("no spool label: {l}"));
            (name.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn rfc3339_seconds(v: &Value) -> f64 {
    match v.as_str() {
        None => 0.0,
        Some(t) => humantime::parse_rfc3339(t)
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64(),
    }
}

/// Checks a reading (by Prometheus name) against `inspect --json`.
fn matches_inspect(m: &BTreeMap<String, f64>, i: &Value) {
    assert_eq!(
        m["tracespool_spool_pending_spans"],
        i["pending"]["spans"].as_f64().unwrap()
    );
    assert_eq!(
        m["tracespool_spool_pending_bytes"],
        i["pending"]["bytes"].as_f64().unwrap()
    );
    assert_eq!(
        m["tracespool_spool_quarantined_spans"],
        i["quarantined"]["spans"].as_f64().unwrap()
    );
    assert_eq!(
        m["tracespool_upload_failing"],
        if i["upload"]["last_error_is_current"].as_bool().unwrap() {
            1.0
        } else {
            0.0
        }
    );
    for (key, name) in [
        (
            "last_success",
            "tracespool_upload_last_success_timestamp_seconds",
        ),
        (
            "last_attempt",
            "tracespool_upload_last_attempt_timestamp_seconds",
        ),
    ] {
        let want = rfc3339_seconds(&i["upload"][key]);
        assert!(
            (m[name] - want).abs() < 1e-3,
            "{name}: {} vs {want}",
            m[name]
        );
    }
    let counters = i["counters"].as_object().unwrap();
    assert!(counters.len() >= 19);
    for (k, v) in counters {
        let name = format!("tracespool_spool_{k}_total");
        assert_eq!(m.get(&name).copied(), v.as_f64(), "{name}");
    }
}

#[test]
fn the_text_file_holds_the_state_inspect_shows_after_each_run() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("fleet.spool");
    let ids = record_spans(&spool, 200);
    let prom = dir.path().join("tracespool.prom");
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "my-project");

    // Offline: a port nobody listens on. Spans remain (75), uploads fail.
    let closed = tracespool_tests::cli::closed_port();
    let out = Command::new(BIN)
        .args([
            "upload",
            "--once",
            "--max-duration",
            "1s",
            "--simulated-waits",
        ])
        .args([
            "--endpoint",
            &format!("http://127.0.0.1:{closed}"),
            "--project",
            "my-project",
        ])
        .arg("--credentials")
        .arg(&key)
        .arg("--metrics-textfile")
        .arg(&prom)
        .arg(&spool)
        .output()
        .unwrap();
    expect_exit(&out, 75);
    let m = samples(&std::fs::read_to_string(&prom).unwrap(), &spool);
    assert_eq!(m["tracespool_spool_pending_spans"], 200.0);
    assert!(m["tracespool_spool_oldest_pending_age_seconds"] > 0.0);
    assert_eq!(m["tracespool_upload_failing"], 1.0);
    matches_inspect(&m, &inspect(&spool));

    // Online, with one span the server refuses: 199 delivered, 1 quarantined.
    s.poison(&ids[7]);
    let out = Command::new(BIN)
        .args([
            "upload",
            "--once",
            "--endpoint",
            &s.endpoint(),
            "--project",
            "my-project",
        ])
        .arg("--credentials")
        .arg(&key)
        .env("TRACESPOOL_METRICS_TEXTFILE", &prom)
        .arg(&spool)
        .output()
        .unwrap();
    expect_exit(&out, 0);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains("# TYPE tracespool_spool_uploaded_total counter"));
    let m = samples(&text, &spool);
    assert_eq!(m["tracespool_spool_pending_spans"], 0.0);
    assert_eq!(m["tracespool_spool_oldest_pending_age_seconds"], 0.0);
    assert_eq!(m["tracespool_spool_uploaded_total"], 199.0);
    assert_eq!(m["tracespool_spool_quarantined_spans"], 1.0);
    assert!(m["tracespool_spool_upload_bytes_total"] > 0.0);
    assert_eq!(m["tracespool_upload_failing"], 0.0);
    matches_inspect(&m, &inspect(&spool));
    assert_eq!(s.metrics_received().len(), 0, "Cloud Trace gets no metrics");
}

#[test]
fn the_otlp_sink_reports_to_its_collector_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("fleet.spool");
    record_spans(&spool, 300);
    let collector = StandIn::start(0, test_account(), 2).unwrap();
    collector.otlp_collector_mode(&[("x-fleet-key", "fleet-secret")]);
    let headers = dir.path().join("headers");
    std::fs::write(&headers, "x-fleet-key: fleet-secret\n").unwrap();
    let mut child = Command::new(BIN)
        .args([
            "upload",
            "--sink",
            "otlp",
            "--no-auth",
            "--endpoint",
            &collector.endpoint(),
        ])
        .arg("--header-file")
        .arg(&headers)
        .args(["--metrics-interval", "100ms"])
        .arg(&spool)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let caught_up = collector.wait_for_metrics(Duration::from_secs(60), |m| {
        m.values.get("tracespool.spool.uploaded") == Some(&300.0)
            && m.values.get("tracespool.spool.pending.spans") == Some(&0.0)
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    let caught_up = caught_up.unwrap_or_else(|| panic!("no report of the delivery: {err}"));
    assert_eq!(collector.accepted_count(), 300);

    let all = collector.metrics_received();
    assert!(all.len() >= 2, "at start and at the end at least");
    assert!(all.iter().all(|m| !m.had_authorization), "never a token");
    let last = all.last().unwrap();
    assert_eq!(
        last.resource["tracespool.spool.path"],
        spool.display().to_string()
    );
    assert_eq!(last.resource["service.name"], "tracespool-uploader");
    assert!(!last.resource["host.name"].is_empty());
    assert_eq!(
        caught_up.kinds["tracespool.spool.uploaded"],
        "sum (cumulative, monotonic)"
    );
    assert_eq!(caught_up.kinds["tracespool.spool.pending.spans"], "gauge");
    // The last report is the spool's final state.
    let i = inspect(&spool);
    let by_prom_name: BTreeMap<String, f64> = last
        .values
        .iter()
        .map(|(k, v)| {
            let name = match k.strip_prefix("tracespool.spool.") {
                Some(c) if last.kinds[k] != "gauge" => format!("tracespool_spool_{c}_total"),
                _ => PROM_NAMES
                    .iter()
                    .find(|(o, _)| o == k)
                    .map(|(_, p)| p.to_string())
                    .unwrap_or_else(|| panic!("unknown gauge {k}")),
            };
            (name, *v)
        })
        .collect();
    matches_inspect(&by_prom_name, &i);
}

/// The gauges' OTLP and Prometheus names (the uploader's health::metrics table).
const PROM_NAMES: &[(&str, &str)] = &[
    (
        "tracespool.spool.pending.spans",
        "tracespool_spool_pending_spans",
    ),
    (
        "tracespool.spool.pending.bytes",
        "tracespool_spool_pending_bytes",
    ),
    (
        "tracespool.spool.quarantined.spans",
        "tracespool_spool_quarantined_spans",
    ),
    ("tracespool.spool.size", "tracespool_spool_size_bytes"),
    (
        "tracespool.spool.oldest_pending.age",
        "tracespool_spool_oldest_pending_age_seconds",
    ),
    (
        "tracespool.upload.last_attempt.time",
        "tracespool_upload_last_attempt_timestamp_seconds",
    ),
    (
        "tracespool.upload.last_success.time",
        "tracespool_upload_last_success_timestamp_seconds",
    ),
    ("tracespool.upload.failing", "tracespool_upload_failing"),
];

#[test]
fn reporting_is_off_when_asked_and_never_breaks_an_upload() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("fleet.spool");
    record_spans(&spool, 50);
    let collector = StandIn::start(0, test_account(), 2).unwrap();
    collector.otlp_collector_mode(&[]);
    let out = Command::new(BIN)
        .args([
            "upload",
            "--once",
            "--sink",
            "otlp",
            "--no-auth",
            "--endpoint",
            &collector.endpoint(),
        ])
        .args(["--otlp-metrics", "off"])
        // A text file where none can be written.
        .args(["--metrics-textfile", "/nonexistent-dir/tracespool.prom"])
        .arg(&spool)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(collector.accepted_count(), 50);
    assert_eq!(collector.metrics_received().len(), 0);
    assert_eq!(
        err.matches("writing the metrics text file failed").count(),
        1,
        "warned once: {err}"
    );
}
