//! What the uploader says about a run can be trusted: a receiver's error
//! text reaches the log (never a secret it echoes), bytes are counted only
//! for requests that reached a server, a dry run leaves the spool as it
//! was, `inspect` puts the last error and the last success in time order,
//! `doctor` names the root cause, gcp_auth's retries stay below `-v`, and
//! `NO_COLOR` turns colours off on a terminal.
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use tracespool_tests::cli::{closed_port, expect_exit};
use tracespool_tests::standin::{Fault, StandIn};
use tracespool_tests::{record_spans, test_account};

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

fn inspect(spool: &Path) -> Value {
    tracespool_tests::cli::inspect_json(BIN, spool)
}

fn collector_upload(spool: &Path, endpoint: &str, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args([
            "upload",
            "--once",
            "--sink",
            "otlp",
            "--no-auth",
            "--endpoint",
            endpoint,
        ])
        .args(["--simulated-waits"])
        .args(extra)
        .arg(spool)
        .output()
        .unwrap()
}

#[test]
fn a_receiver_s_error_text_is_logged_without_the_secrets_it_echoes() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("e.spool");
    record_spans(&spool, 10);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.otlp_collector_mode(&[("x-fleet-key", "fleet-key-123")]);
    s.push_faults([
        Fault::Body(503, r#"{"detail": "queue full, try later"}"#.into()),
        Fault::Body(401, "Invalid token for key fleet-key-123\n".into()),
    ]);
    let out = collector_upload(
        &spool,
        &s.endpoint(),
        &["--header", "x-fleet-key=fleet-key-123"],
    );
    // Without credentials a 401 ends the run: the spans wait.
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(
        err.contains(r#"HTTP 503: {"detail": "queue full, try later"}"#),
        "{err}"
    );
    assert!(
        err.contains("HTTP 401: Invalid token for key <redacted>"),
        "{err}"
    );
    assert!(
        !err.contains("fleet-key-123"),
        "a header value reached the log: {err}"
    );
    // The spool keeps the reason, redacted too.
    let v = inspect(&spool);
    let last = v["upload"]["last_error"].as_str().unwrap();
    assert!(
        last.contains("Invalid token") && !last.contains("fleet-key-123"),
        "{last}"
    );
    assert_eq!(v["upload"]["last_error_is_current"], true);
    // The next run delivers; the error is then history.
    let out = collector_upload(
        &spool,
        &s.endpoint(),
        &["--header", "x-fleet-key=fleet-key-123"],
    );
    expect_exit(&out, 0);
    assert_eq!(s.accepted_count(), 10);
    assert_eq!(inspect(&spool)["upload"]["last_error_is_current"], false);
}

#[test]
fn bytes_are_counted_only_for_requests_that_reached_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("b.spool");
    record_spans(&spool, 50);
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let out = collector_upload(&spool, &endpoint, &["--max-duration", "3s"]);
    expect_exit(&out, 75);
    let v = inspect(&spool);
    assert_eq!(v["counters"]["upload_bytes"], 0, "nothing reached a server");
    assert_eq!(v["upload"]["last_error_is_current"], true);
    assert!(v["upload"]["last_error"]
        .as_str()
        .unwrap()
        .contains("refused"));

    // Then a server answers: the bytes of what it received.
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.otlp_collector_mode(&[]);
    let out = collector_upload(&spool, &s.endpoint(), &["--compression", "none"]);
    expect_exit(&out, 0);
    let v = inspect(&spool);
    let received: usize = s.request_bytes().iter().sum();
    assert_eq!(v["counters"]["upload_bytes"], received as u64);
    assert_eq!(v["upload"]["last_error_is_current"], false);
    // In time order for people: the error, then the success.
    let out = Command::new(BIN)
        .arg("inspect")
        .arg(&spool)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (e, ok) = (
        text.find("last error").unwrap(),
        text.find("last success").unwrap(),
    );
    assert!(e < ok, "{text}");
    assert!(text.contains("(before the last success)"), "{text}");
}

#[test]
fn a_dry_run_leaves_the_spool_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("d.spool");
    record_spans(&spool, 20);
    let before = inspect(&spool);
    let bytes = |p: &Path| std::fs::read(p).unwrap();
    let file_before = bytes(&spool);
    let wal = spool.with_extension("spool-wal");
    let wal_before = std::fs::metadata(&wal).map(|m| m.len()).ok();
    let out = Command::new(BIN)
        .args([
            "upload",
            "--once",
            "--dry-run",
            "--sink",
            "otlp",
            "--no-auth",
        ])
        .args(["--endpoint", "http://127.0.0.1:9"])
        .arg(&spool)
        .output()
        .unwrap();
    expect_exit(&out, 0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        1,
        "one request printed"
    );
    assert_eq!(bytes(&spool), file_before, "the file changed");
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).ok(), wal_before);
    let after = inspect(&spool);
    assert_eq!(
        after["upload"], before["upload"],
        "no last attempt, no last success"
    );
    assert_eq!(after["counters"], before["counters"]);
}

#[test]
fn doctor_names_the_root_cause() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let out = Command::new(BIN)
        .args([
            "doctor",
            "--sink",
            "otlp",
            "--no-auth",
            "--endpoint",
            &endpoint,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Connection refused"), "{text}");
}

#[test]
fn gcp_auth_retries_stay_below_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("g.spool");
    record_spans(&spool, 1);
    // A key file whose token endpoint does not answer.
    let key = dir.path().join("key.json");
    let json = test_account().key_file_json(
        &format!("http://127.0.0.1:{}/token", closed_port()),
        "proj-g",
    );
    std::fs::write(&key, json).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let run = |v: &[&str]| {
        Command::new(BIN)
            .args([
                "upload",
                "--once",
                "--simulated-waits",
                "--max-duration",
                "20s",
            ])
            .args(["--endpoint", "http://127.0.0.1:9", "--credentials"])
            .arg(&key)
            .args(v)
            .arg(&spool)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(
        !err.contains("trying again"),
        "gcp_auth's retries at the default level: {err}"
    );
    assert!(
        err.contains("Connection refused"),
        "the uploader's own message, with the root cause: {err}"
    );
}

#[test]
fn no_color_turns_colours_off_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("c.spool");
    record_spans(&spool, 1);
    let cmd = format!(
        "{BIN} upload --once --dry-run --sink otlp --no-auth --endpoint http://127.0.0.1:9 {} >/dev/null",
        spool.display()
    );
    // `script` gives the command a terminal.
    let on_tty = |no_color: Option<&str>| {
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"])
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        let out = c.output().expect("run script (util-linux)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_tty(None);
    assert!(coloured.contains("uploading"), "{coloured}");
    assert!(
        coloured.contains("\u{1b}["),
        "colours on a terminal: {coloured:?}"
    );
    let plain = on_tty(Some("1"));
    assert!(plain.contains("uploading"), "{plain}");
    assert!(!plain.contains("\u{1b}["), "NO_COLOR: {plain:?}");
}
