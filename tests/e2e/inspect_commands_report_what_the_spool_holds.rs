//! The operator commands against real spools: normal, with quarantined rows,
//! with a corrupt row, empty, and not a spool. Assertions are on the JSON
//! output; requeue and purge change exactly what they say.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use tracespool_tests::cli::expect_exit;

use serde_json::Value;
use tracespool_spool::{SpoolOptions, SpoolReader};
use tracespool_tests::{record_spans, standin, test_account, validate, write_key_file};

fn ts(args: &[&str], spool: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .args(&args[..1])
        .arg(spool)
        .args(&args[1..])
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .output()
        .unwrap()
}

fn ok_json(out: &Output) -> Value {
    expect_exit(out, 0);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn json_lines(out: &Output) -> Vec<Value> {
    expect_exit(out, 0);
    out.stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
fn inspect_spans_and_trace_on_a_normal_spool() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("n.spool");
    let ids = record_spans(&spool, 25); // 5 traces of 5 spans
    let before = std::fs::read(&spool).unwrap();

    let v = ok_json(&ts(&["inspect", "--json"], &spool));
    assert_eq!(v["pending"]["spans"], 25);
    assert_eq!(v["quarantined"]["spans"], 0);
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["oldest_pending"]["row"], 1);
    assert_eq!(v["newest_pending"]["row"], 25);
    assert_eq!(v["oldest_pending"]["record_version"], 3);
    assert_eq!(v["upload"]["uploader_holds_lock"], false);
    assert_eq!(v["counters"]["appended"], 25);
    assert_eq!(v["recorder_dropped"]["queue_full"], 0);

    let lines = json_lines(&ts(&["spans", "--json", "--limit", "7"], &spool));
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[0]["row"], 25, "newest first");
    assert_eq!(lines[6]["row"], 19);
    let first = &lines[0];
    for field in [
        "trace_id",
        "span_id",
        "name",
        "start_time",
        "end_time",
        "attributes",
        "events",
        "links",
        "status",
        "resource",
        "kind",
    ] {
        assert!(first.get(field).is_some(), "{field} missing");
    }
    assert_eq!(first["resource"]["service.name"], "e2e");

    let trace_id = lines[0]["trace_id"].as_str().unwrap().to_owned();
    let in_trace = json_lines(&ts(&["spans", "--json", "--trace", &trace_id], &spool));
    assert_eq!(in_trace.len(), 5);
    assert!(in_trace.iter().all(|l| l["trace_id"] == trace_id.as_str()));
    let roots = json_lines(&ts(&["spans", "--json", "--name", "GET *"], &spool));
    assert_eq!(roots.len(), 5);
    let none = json_lines(&ts(
        &[
            "spans",
            "--json",
            "--since",
            "2000-01-01T00:00:00Z",
            "--state",
            "quarantined",
        ],
        &spool,
    ));
    assert!(none.is_empty());
    let recent = json_lines(&ts(&["spans", "--json", "--since", "1h"], &spool));
    assert_eq!(recent.len(), 25);

    // The tree: the root at depth 0, its four children at depth 1.
    let tree = json_lines(&ts(&["trace", &trace_id, "--json"], &spool));
    assert_eq!(tree.len(), 5);
    assert_eq!(tree[0]["depth"], 0);
    assert_eq!(tree[0]["name"], "GET /api/items");
    assert!(tree[1..]
        .iter()
        .all(|t| t["depth"] == 1 && t["parent_span_id"] == tree[0]["span_id"]));
    let text = ts(&["trace", &trace_id, "--attributes", "--events"], &spool);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("  SELECT items"),
        "children are indented: {text}"
    );
    assert!(text.contains("db.rows = "), "{text}");
    assert!(text.contains("query planned"), "{text}");
    assert!(text.contains('#'), "bars: {text}");

    // People's tables work too.
    let table = String::from_utf8(ts(&["inspect"], &spool).stdout).unwrap();
    assert!(table.contains("pending        25 spans"), "{table}");
    let listing = String::from_utf8(ts(&["spans", "--limit", "3"], &spool).stdout).unwrap();
    assert_eq!(listing.lines().count(), 4, "{listing}");
    assert!(ids.iter().any(|id| listing.contains(id.as_str())));

    // Reading changed nothing.
    assert_eq!(
        std::fs::read(&spool).unwrap(),
        before,
        "a read-only command changed the spool"
    );
}

#[test]
fn quarantined_and_corrupt_rows_are_shown_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("q.spool");
    record_spans(&spool, 10);
    {
        let mut r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
        r.quarantine(&[
            (2, "HTTP 400: bad name"),
            (3, "HTTP 400: bad name"),
            (4, "HTTP 400: too old"),
        ])
        .unwrap();
        // Corrupt row 6 behind the spool's back.
        rusqlite::Connection::open(&spool)
            .unwrap()
            .execute(
                "UPDATE spans SET record = x'54535052010203' WHERE id = 6",
                [],
            )
            .unwrap();
    }
    let v = ok_json(&ts(&["inspect", "--json"], &spool));
    assert_eq!(v["quarantined"]["spans"], 3);
    assert_eq!(
        v["quarantined"]["reasons"][0]["reason"],
        "HTTP 400: bad name"
    );
    assert_eq!(v["quarantined"]["reasons"][0]["spans"], 2);
    assert_eq!(v["quarantined"]["reasons"][1]["spans"], 1);
    assert_eq!(v["pending"]["spans"], 7);

    let q = json_lines(&ts(&["spans", "--json", "--state", "quarantined"], &spool));
    assert_eq!(q.len(), 3);
    assert_eq!(q[2]["quarantine_reason"], "HTTP 400: bad name");

    let all = json_lines(&ts(&["spans", "--json"], &spool));
    let corrupt: Vec<&Value> = all.iter().filter(|l| l.get("corrupt").is_some()).collect();
    assert_eq!(corrupt.len(), 1);
    assert_eq!(corrupt[0]["row"], 6);
    let text = String::from_utf8(ts(&["spans"], &spool).stdout).unwrap();
    assert!(text.contains("CORRUPT"), "{text}");
    let trace = corrupt[0]["trace_id"].as_str().unwrap().to_owned();
    let t = ts(&["trace", &trace], &spool);
    assert_eq!(t.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&t.stdout).contains("CORRUPT row 6"));
    let exported = json_lines(&ts(&["export"], &spool));
    assert_eq!(exported.len(), 10);
    // A dry run prints the requests and changes nothing, not even the
    // corrupt row it would quarantine.
    let dry = Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .args(["upload", "--dry-run", "--project", "proj-p1", "--spool"])
        .arg(&spool)
        .output()
        .unwrap();
    assert_eq!(dry.status.code(), Some(0));
    let requests = json_lines(&dry);
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0]["body"]["spans"].as_array().unwrap().len(),
        6,
        "10 - 3 quarantined - 1 corrupt"
    );
    let v = ok_json(&ts(&["inspect", "--json"], &spool));
    assert_eq!(
        (
            v["pending"]["spans"].as_u64(),
            v["quarantined"]["spans"].as_u64()
        ),
        (Some(7), Some(3))
    );
    let e = ts(
        &["export", "--format", "cloudtrace", "--project", "proj-p1"],
        &spool,
    );
    assert!(String::from_utf8_lossy(&e.stderr).contains("1 corrupt rows"));

    // Requeue one by span id, then the rest; purge changes exactly what it says.
    let span2 = q.iter().find(|l| l["row"] == 2).unwrap()["span_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = ts(&["requeue", "--span", &span2], &spool);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "requeued 1 spans"
    );
    let v = ok_json(&ts(&["inspect", "--json"], &spool));
    assert_eq!(
        (
            v["pending"]["spans"].as_u64(),
            v["quarantined"]["spans"].as_u64()
        ),
        (Some(8), Some(2))
    );
    assert_eq!(
        v["newest_pending"]["row"], 11,
        "requeued rows go to the tail"
    );
    let out = ts(&["purge", "--quarantined"], &spool);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "purged 2 spans"
    );
    let out = ts(&["requeue", "--all-quarantined"], &spool);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "requeued 0 spans"
    );
    let out = ts(&["purge", "--older-than", "1h"], &spool);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "purged 0 spans"
    );
    let out = ts(&["purge", "--older-than", "0s"], &spool);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "purged 8 spans"
    );
    let v = ok_json(&ts(&["inspect", "--json"], &spool));
    assert_eq!(v["pending"]["spans"], 0);
    assert_eq!(v["counters"]["purged"], 10);
    assert_eq!(v["counters"]["requeued"], 1);
    // requeue/purge need a choice: a usage error.
    assert_eq!(ts(&["purge"], &spool).status.code(), Some(64));
}

#[test]
fn empty_spools_and_files_that_are_not_spools() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("e.spool");
    drop(
        tracespool_spool::SpoolWriter::open(&spool, Default::default(), &SpoolOptions::default())
            .unwrap(),
    );
    let v = ok_json(&ts(&["inspect", "--json"], &spool));
    assert_eq!(v["pending"]["spans"], 0);
    assert!(v["oldest_pending"].is_null());
    assert!(json_lines(&ts(&["spans", "--json"], &spool)).is_empty());
    let t = ts(&["trace", "4bf92f3577b34da6a3ce929d0e0e4736"], &spool);
    assert_eq!(t.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&t.stderr).contains("is not in"));

    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "not a database at all, just some text that is long enough",
    )
    .unwrap();
    for cmd in [
        &["inspect"][..],
        &["spans"],
        &["export"],
        &["purge", "--quarantined"],
        &["requeue", "--all-quarantined"],
    ] {
        let out = ts(cmd, &text);
        assert_eq!(out.status.code(), Some(78), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("notes.txt") && err.contains("not a tracespool spool"),
            "{cmd:?}: {err}"
        );
        assert_eq!(
            err.lines().count(),
            1,
            "the error chain is printed once: {err}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&text).unwrap(),
        "not a database at all, just some text that is long enough"
    );
    let missing = dir.path().join("missing.spool");
    assert_eq!(ts(&["inspect"], &missing).status.code(), Some(78));
    assert!(!missing.exists(), "inspect must not create a spool");
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("p.spool");
    record_spans(&spool, 3000);
    for args in [
        &["spans", "--limit", "100000"][..],
        &["export"],
        &["spans", "--json", "--limit", "100000"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracespool"))
            .arg(args[0])
            .arg(&spool)
            .args(&args[1..])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap(); // then `head` closes
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn export_cloudtrace_is_what_the_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("x.spool");
    record_spans(&spool, 2300);
    let bodies = json_lines(&ts(
        &["export", "--format", "cloudtrace", "--project", "proj-p1"],
        &spool,
    ));
    assert_eq!(bodies.len(), 3);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut n = 0;
    for b in &bodies {
        let bytes = serde_json::to_vec(b).unwrap();
        n += validate::validate_body(&bytes, "proj-p1", now, &Default::default(), |_| {}).unwrap();
    }
    assert_eq!(n, 2300);
}

/// Every Google answer carries `Date`; the doctor compares it with the
/// local clock as an HTTP date (the stand-in's clock runs 2 hours ahead).
#[test]
fn doctor_reports_a_two_hour_clock_skew_as_two_hours() {
    let dir = tempfile::tempdir().unwrap();
    let s = standin::StandIn::start(0, test_account(), 1).unwrap();
    s.set_clock_offset_secs(2 * 3600);
    let key = write_key_file(dir.path(), &s, "doctor-proj");
    let out = Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .args(["doctor", "--json"])
        .args(["--endpoint", &s.endpoint(), "--credentials"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a 2-hour skew fails the check");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let clock = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "clock")
        .unwrap();
    assert_eq!(clock["ok"], false);
    let detail = clock["detail"].as_str().unwrap();
    assert!(detail.contains("2 h 0 min behind the server's"), "{detail}");
    let secs: i64 = detail
        .rsplit('(')
        .next()
        .and_then(|t| t.trim_end_matches(" s)").parse().ok())
        .unwrap();
    assert!((-7202..=-7198).contains(&secs), "{detail}");
}

#[test]
fn doctor_says_what_works_and_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("d.spool");
    record_spans(&spool, 1);
    let s = standin::StandIn::start(0, test_account(), 1).unwrap();
    let key = write_key_file(dir.path(), &s, "doctor-proj");
    let out = Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .args(["doctor", "--json", "--spool"])
        .arg(&spool)
        .args(["--endpoint", &s.endpoint(), "--credentials"])
        .arg(&key)
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .output()
        .unwrap();
    let v = ok_json(&out);
    assert_eq!(v["ok"], true, "{v:#}");
    let checks: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "tls",
            "credentials",
            "project",
            "endpoint",
            "clock",
            "spool"
        ]
    );
    assert!(v["checks"][0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("trusting "));
    assert!(v["checks"][2]["detail"]
        .as_str()
        .unwrap()
        .contains("doctor-proj"));
    // The stand-in sends `Date` like Google: the clocks agree.
    let clock = v["checks"][4]["detail"].as_str().unwrap();
    assert!(clock.contains("the server's ("), "{clock}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("ya29."),
        "a token was printed"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .args(["doctor", "--credentials"])
        .arg(dir.path().join("missing.json"))
        .args(["--endpoint", "http://127.0.0.1:9", "--project", "proj-p1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL credentials") && text.contains("fix:"),
        "{text}"
    );
    assert!(text.contains("FAIL endpoint"), "{text}");
}

/// Writability is the kernel's answer, not the mode bits: a spool on a
/// read-only mount is not writable even for root.
#[test]
fn doctor_finds_a_spool_on_a_read_only_mount_not_writable() {
    let Some(fs) = tracespool_tests::tmpfs::Tmpfs::mount(64 << 20) else {
        return;
    };
    let spool = fs.join("ro.spool");
    record_spans(&spool, 3);
    let doctor = || {
        let out = Command::new(env!("CARGO_BIN_EXE_tracespool"))
            .args(["doctor", "--json", "--no-auth", "--sink", "otlp", "--spool"])
            .arg(&spool)
            .args(["--endpoint", "http://127.0.0.1:9"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let spool_check = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "spool")
            .cloned()
            .unwrap();
        (
            spool_check["ok"].as_bool().unwrap(),
            spool_check["detail"].to_string(),
        )
    };
    let (ok, detail) = doctor();
    assert!(ok, "{detail}");
    assert!(
        detail.contains("writable") && !detail.contains("NOT"),
        "{detail}"
    );
    fs.set_read_only(true);
    let (ok, detail) = doctor();
    assert!(!ok, "{detail}");
    assert!(detail.contains("NOT writable"), "{detail}");
    assert!(detail.contains("3 pending"), "{detail}");
}
