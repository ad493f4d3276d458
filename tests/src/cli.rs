//! Running the real `tracespool` binary from end-to-end tests. The tests
//! pass the binary's path (`env!("CARGO_BIN_EXE_tracespool")`, known only
//! to the uploader package's tests).
use std::path::Path;
use std::process::{Command, Output};

use crate::standin::StandIn;

/// The sink the end-to-end suite runs against: `--sink otlp` in the test
/// binaries whose name starts with `otlp_` (the uploader's `Cargo.toml`
/// builds each sink-neutral test file twice, once under that prefix) or
/// when `TRACESPOOL_E2E_SINK=otlp`; else Cloud Trace (no flag). So
/// `cargo test --workspace` runs the suite against both sinks.
pub fn sink_args() -> Vec<String> {
    let by_binary = std::env::current_exe()
        .ok()
        .and_then(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().starts_with("otlp_"))
        })
        .unwrap_or(false);
    let by_env = std::env::var("TRACESPOOL_E2E_SINK").as_deref() == Ok("otlp");
    if by_binary || by_env {
        vec!["--sink".into(), "otlp".into()]
    } else {
        Vec::new()
    }
}

/// Whether the suite runs against the OTLP sink.
pub fn sink_is_otlp() -> bool {
    !sink_args().is_empty()
}

/// `tracespool upload --once` of `spool` to the stand-in, credentials from
/// `key` only (no project or credentials from the environment), with
/// `extra` flags, to the sink of [`sink_args`].
pub fn upload_once(bin: &str, spool: &Path, s: &StandIn, key: &Path, extra: &[&str]) -> Output {
    Command::new(bin)
        .args(["upload", "--once", "--spool"])
        .arg(spool)
        .args(sink_args())
        .args(["--endpoint", &s.endpoint(), "--credentials"])
        .arg(key)
        .args(extra)
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .output()
        .expect("run tracespool")
}

/// `tracespool ARGS... PATH`.
pub fn run(bin: &str, args: &[&str], path: &Path) -> Output {
    Command::new(bin)
        .args(args)
        .arg(path)
        .output()
        .expect("run tracespool")
}

/// Asserts the exit code; returns stderr (shown on failure).
pub fn expect_exit(out: &Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{err}");
    err
}

/// Uploads `spool` (`--once`) with `bin` to a fresh Cloud Trace stand-in
/// for `project`, asserts that it exits 0 with nothing rejected, and
/// returns the accepted spans' JSON in arrival order.
pub fn upload_to_cloud_trace(bin: &str, spool: &Path, project: &str) -> Vec<serde_json::Value> {
    let dir = spool.parent().unwrap_or(Path::new("."));
    let s = StandIn::start(0, crate::test_account(), 2).expect("start the stand-in");
    s.keep_accepted_spans();
    let key = crate::write_key_file(dir, &s, project);
    let out = upload_once(bin, spool, &s, &key, &[]);
    expect_exit(&out, 0);
    assert!(s.rejections().is_empty(), "{:?}", s.rejections());
    s.accepted_spans()
}

/// The accepted span whose display name is `name`.
pub fn span_named<'a>(spans: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    spans
        .iter()
        .find(|s| s["displayName"]["value"] == name)
        .unwrap_or_else(|| panic!("no span {name}"))
}

/// Asserts that `span` is a server span whose parent is the remote span of
/// the W3C example `traceparent`
/// (`00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`), in its trace.
pub fn assert_server_child_of_remote_parent(span: &serde_json::Value) {
    assert_eq!(span["spanKind"], "SERVER");
    assert_eq!(span["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(span["sameProcessAsParentSpan"], false);
    assert!(span["name"]
        .as_str()
        .unwrap()
        .contains("/traces/4bf92f3577b34da6a3ce929d0e0e4736/spans/"));
}

/// The waits an uploader run with `--simulated-waits --log-format json`
/// took on its simulated clock, in order (its `simulated wait` events).
pub fn simulated_waits(stderr: &str) -> Vec<std::time::Duration> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "simulated wait")
        .filter_map(|v| v["fields"]["wait_ms"].as_u64())
        .map(std::time::Duration::from_millis)
        .collect()
}

/// `target/<profile>` of the running test (its executable is in `deps/`).
pub fn profile_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The example `name` of `package`, built if this run has not built it
/// (`cargo test --workspace` builds every example).
pub fn example(package: &str, name: &str) -> std::path::PathBuf {
    let path = profile_dir().join("examples").join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", package, "--example", name])
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --example {name}");
    }
    path
}

/// `tracespool inspect --json SPOOL` with `bin`, asserting exit 0.
pub fn inspect_json(bin: &str, spool: &Path) -> serde_json::Value {
    let out = run(bin, &["inspect", "--json"], spool);
    expect_exit(&out, 0);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A port on 127.0.0.1 nobody listens on (bound, then closed).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
