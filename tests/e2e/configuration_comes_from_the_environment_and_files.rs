//! Configuration without secrets on the command line: every `upload` flag
//! has a `TRACESPOOL_*` variable, headers come from a file or a variable,
//! and with `--sink otlp` the OpenTelemetry exporter variables are
//! honoured with the specification's precedence (flag, then
//! `OTEL_EXPORTER_OTLP_TRACES_*`, then `OTEL_EXPORTER_OTLP_*`).
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tracespool_tests::cli::expect_exit;

use tracespool_tests::record_spans;
use tracespool_tests::standin::StandIn;

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

/// `tracespool ARGS` with only `vars` of ours set.
fn run(args: &[&str], vars: &[(&str, String)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("TRACESPOOL_") || k.starts_with("OTEL_") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    c.env_remove("GOOGLE_CLOUD_PROJECT")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS");
    for (k, v) in vars {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn header_file(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let p = dir.join("headers");
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn closed() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

fn collector() -> StandIn {
    let s = StandIn::start(0, tracespool_tests::test_account(), 2).unwrap();
    s.otlp_collector_mode(&[("x-fleet-key", "k-9f3a")]);
    s
}

#[test]
fn an_upload_configured_by_the_environment_alone() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("env.spool");
    record_spans(&spool, 250);
    let s = collector();
    let headers = header_file(
        dir.path(),
        "# the fleet's key\nx-fleet-key: k-9f3a\n",
        0o600,
    );
    let out = run(
        &["upload"],
        &[
            ("TRACESPOOL_SPOOL", spool.display().to_string()),
            ("TRACESPOOL_SINK", "otlp".into()),
            ("TRACESPOOL_NO_AUTH", "1".into()),
            ("TRACESPOOL_ONCE", "yes".into()),
            ("TRACESPOOL_ENDPOINT", s.endpoint()),
            ("TRACESPOOL_HEADER_FILE", headers.display().to_string()),
            ("TRACESPOOL_BATCH_SIZE", "100".into()),
            ("TRACESPOOL_COMPRESSION", "none".into()),
            ("TRACESPOOL_LOG_FORMAT", "json".into()),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(s.accepted_count(), 250);
    assert_eq!(s.requests(), 3, "batches of 100");
    assert!(s.request_encodings().iter().all(Option::is_none));
    assert!(err.lines().all(|l| l.starts_with('{')), "JSON logs: {err}");
    assert!(!err.contains("k-9f3a"));
}

#[test]
fn the_opentelemetry_variables_in_the_specification_s_order() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("otel.spool");
    let s = collector();
    let base = ["upload", "--once", "--sink", "otlp", "--no-auth"];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter()
            .chain(extra)
            .map(|x| x.to_string())
            .chain([spool.display().to_string()])
            .collect()
    };

    // The traces URL wins over the general base; the headers and the
    // compression come from the variables.
    record_spans(&spool, 40);
    let a = with(&[]);
    let out = run(
        &args(&a),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", closed()),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                format!("{}/v1/traces", s.endpoint()),
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-fleet-key=wrong,x-team=edge".into(),
            ),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "x-fleet-key=k-9f3a".into(),
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none".into()),
        ],
    );
    expect_exit(&out, 0);
    assert_eq!(s.accepted_count(), 40);
    assert!(s.request_encodings().iter().all(Option::is_none));

    // The general base alone: {base}/v1/traces.
    record_spans(&spool, 10);
    let out = run(
        &args(&a),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("{}/", s.endpoint())),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-fleet-key=k-9f3a".into()),
        ],
    );
    expect_exit(&out, 0);
    assert_eq!(s.accepted_count(), 50);

    // A flag wins over both variables.
    record_spans(&spool, 10);
    let a = with(&[
        "--endpoint",
        &s.endpoint(),
        "--header",
        "x-fleet-key=k-9f3a",
    ]);
    let out = run(
        &args(&a),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", closed()),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", closed()),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-fleet-key=wrong".into()),
        ],
    );
    expect_exit(&out, 0);
    assert_eq!(s.accepted_count(), 60);
}

#[test]
fn unsafe_or_malformed_configuration_is_refused_before_any_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("bad.spool");
    record_spans(&spool, 1);
    let s = collector();
    let sp = spool.display().to_string();
    let up = |extra: &[&str], vars: &[(&str, String)]| {
        let mut a = vec![
            "upload",
            "--once",
            "--sink",
            "otlp",
            "--no-auth",
            "--endpoint",
        ];
        let e = s.endpoint();
        a.push(&e);
        a.extend(extra);
        a.push(&sp);
        run(&a, vars)
    };
    // A header file others may write: 78, naming the file.
    let h = header_file(dir.path(), "x-fleet-key: k-9f3a\n", 0o666);
    let out = up(&["--header-file", h.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("writable by other users") && err.contains("headers"),
        "{err}"
    );
    // A malformed line: its number, never its value.
    let h = header_file(dir.path(), "x-ok: 1\nk-9f3a\n", 0o600);
    let out = up(&["--header-file", h.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("line 2") && !err.contains("k-9f3a"), "{err}");
    // A malformed OpenTelemetry variable: 78, naming it.
    let out = up(&[], &[("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli".into())]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("OTEL_EXPORTER_OTLP_COMPRESSION"), "{err}");
    // A malformed flag variable is a usage error, as the flag would be.
    let out = up(&[], &[("TRACESPOOL_BATCH_SIZE", "many".into())]);
    expect_exit(&out, 64);
    assert_eq!(s.requests(), 0, "no traffic");
}
