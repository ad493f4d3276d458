//! `tracespool view` serves a spool read-only: on 127.0.0.1 by default
//! (its URL first on stdout, other `Host`s refused), with a token on any
//! other address, every page and its `/api/` twin agreeing with the spool,
//! nothing written (not even on a read-only mount), GET only, and it stops
//! on SIGTERM or `--exit-after`. The browser's side is in
//! `the_viewer_works_in_a_real_browser`.
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tracespool_tests::cli::{expect_exit, upload_once};

use serde_json::Value;
use tracespool_tests::standin::StandIn;
use tracespool_tests::tmpfs::Tmpfs;
use tracespool_tests::web::{request, Viewer};
use tracespool_tests::{record_spans, spool_parents, test_account, write_key_file};

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

/// A spool with pending traces and one quarantined span (refused by the
/// stand-in); returns the quarantined span's id.
fn spool_with_quarantine(dir: &Path, spool: &Path) -> String {
    let ids = record_spans(spool, 10);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.poison(&ids[3]);
    let key = write_key_file(dir, &s, "my-project");
    let out = upload_once(BIN, spool, &s, &key, &["--project", "my-project"]);
    expect_exit(&out, 0);
    record_spans(spool, 25);
    ids[3].clone()
}

fn file_fingerprint(p: &Path) -> (Vec<u8>, std::time::SystemTime) {
    (
        std::fs::read(p).unwrap(),
        std::fs::metadata(p).unwrap().modified().unwrap(),
    )
}

#[test]
fn pages_and_api_agree_with_the_spool_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("app.spool");
    let quarantined = spool_with_quarantine(dir.path(), &spool);
    let before = file_fingerprint(&spool);
    let files_before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let all = spool_parents(&spool);

    let v = Viewer::start(BIN, &spool, &[]);
    assert!(
        v.url.starts_with("http://127.0.0.1:") && v.url.ends_with('/'),
        "loopback by default, URL first: {}",
        v.url
    );

    // Overview: the numbers inspect gives.
    let o = v.get("/api/overview");
    assert_eq!(o.status, 200);
    let o = o.json();
    assert_eq!(o["pending_spans"], 25);
    assert_eq!(o["quarantined_spans"], 1);
    assert!(
        o["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["spans"].as_u64().unwrap())
            .sum::<u64>()
            == 26
    );
    let page = v.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.text().contains("<b id=\"pending\">25</b>"),
        "{}",
        page.text()
    );
    assert_eq!(
        page.header("content-security-policy")
            .map(|c| c.contains("default-src 'self'")),
        Some(true)
    );

    // Traces: newest first, each with its spans counted.
    let t = v.get("/api/traces").json();
    let traces = t["traces"].as_array().unwrap();
    let mut want: HashMap<String, u64> = HashMap::new();
    for (trace, _) in all.values() {
        *want.entry(trace.clone()).or_default() += 1;
    }
    assert_eq!(traces.len(), want.len());
    for tr in traces {
        assert_eq!(
            tr["spans"].as_u64(),
            want.get(tr["trace_id"].as_str().unwrap()).copied(),
            "{tr}"
        );
    }
    let list = v.get("/traces");
    assert_eq!(list.status, 200);
    for tr in traces {
        assert!(list.text().contains(&format!(
            "href=\"/trace/{}\"",
            tr["trace_id"].as_str().unwrap()
        )));
    }
    // A search: only traces with a span named like this, with an error...
    let none = v.get("/api/traces?errors=on").json();
    assert_eq!(none["traces"].as_array().unwrap().len(), 0);
    let some = v.get("/api/traces?name=select&limit=2").json();
    assert_eq!(some["traces"].as_array().unwrap().len(), 2);
    assert!(some["next_before_row"].is_i64());
    let bad = v.get("/traces?min_duration=soon");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("at least"), "{}", bad.text());

    // One trace: every span once, each with its parent as in the spool.
    let first = traces[0]["trace_id"].as_str().unwrap().to_owned();
    let tv = v.get(&format!("/api/trace/{first}")).json();
    let spans = tv["spans"].as_array().unwrap();
    let in_spool: Vec<_> = all.iter().filter(|(_, (t, _))| *t == first).collect();
    assert_eq!(spans.len(), in_spool.len());
    for s in spans {
        let (t, parent) = &all[s["span_id"].as_str().unwrap()];
        assert_eq!(t, &first);
        assert_eq!(s["parent_span_id"].as_str().unwrap_or(""), parent);
    }
    assert_eq!(spans[0]["depth"], 0);
    let html = v.get(&format!("/trace/{first}")).text();
    for s in spans {
        let id = s["span_id"].as_str().unwrap();
        assert!(html.contains(&format!(
            "data-span-id=\"{id}\" data-parent-span-id=\"{}\"",
            s["parent_span_id"].as_str().unwrap_or("")
        )));
    }
    // A span's details: every field.
    let child = spans.iter().find(|s| s["depth"] == 1).unwrap();
    let d = v
        .get(&format!(
            "/api/trace/{first}/span/{}",
            child["span_id"].as_str().unwrap()
        ))
        .json();
    assert_eq!(d["name"], "SELECT items");
    assert!(d["attributes"]["db.rows"].is_i64(), "{d}");
    assert_eq!(d["events"][0]["annotation"], "query planned");
    assert_eq!(d["state"], "pending");
    assert!(d["record_version"].is_u64());
    // Downloads: as export writes them.
    let ct = v.get(&format!("/api/trace/{first}/export?format=cloudtrace"));
    assert_eq!(ct.status, 200);
    let line: Value = serde_json::from_str(ct.text().lines().next().unwrap()).unwrap();
    assert_eq!(line["spans"].as_array().unwrap().len(), spans.len());
    let otlp = v.get(&format!("/api/trace/{first}/export?format=otlp-json"));
    assert!(otlp.text().contains("resourceSpans"));

    // The quarantine: the refused span, under its reason, linked.
    let q = v.get("/api/quarantine").json();
    assert_eq!(q[0]["spans"], 1);
    assert_eq!(q[0]["listed"][0]["span_id"], quarantined.as_str());
    let (qt, _) = &all[&quarantined];
    let qd = v.get(&format!("/api/trace/{qt}/span/{quarantined}")).json();
    assert_eq!(qd["state"], "quarantined");
    assert!(qd["state_detail"]
        .as_str()
        .unwrap()
        .starts_with("quarantined: "));
    assert!(v
        .get("/quarantine")
        .text()
        .contains(&format!("/trace/{qt}#span-{quarantined}")));

    // Unknown things: 404 or 400, never a crash.
    assert_eq!(
        v.get(&format!("/trace/{}", "0".repeat(31) + "1")).status,
        404
    );
    assert_eq!(v.get("/trace/nothex").status, 400);
    assert_eq!(v.get("/nothing-here").status, 404);

    // GET only; the Host it printed only.
    let origin = v.origin();
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        assert_eq!(
            request(method, &format!("{origin}/api/overview"), &[]).status,
            405,
            "{method}"
        );
    }
    assert_eq!(
        request(
            "GET",
            &format!("{origin}/"),
            &[("Host", "attacker.example")]
        )
        .status,
        403
    );

    assert_eq!(v.stop(), Some(0), "SIGTERM stops it cleanly");
    assert!(
        file_fingerprint(&spool) == before,
        "the spool file was not touched"
    );
    // SQLite's reading protocol may leave its empty -wal and the -shm
    // beside a spool whose writers had closed; nothing else appears, and
    // the -wal holds nothing.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if files_before.contains(&e.file_name()) {
            continue;
        }
        assert!(
            name == "app.spool-shm" || name == "app.spool-wal",
            "{name} appeared"
        );
        if name.ends_with("-wal") {
            assert_eq!(e.metadata().unwrap().len(), 0, "the -wal stays empty");
        }
    }
}

#[test]
fn another_address_needs_the_printed_token() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("app.spool");
    record_spans(&spool, 5);
    let v = Viewer::start(BIN, &spool, &["--listen", "0.0.0.0:0"]);
    let (base, token) = v.url.split_once("/?token=").expect("a token in the URL");
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let port = base.rsplit(':').next().unwrap();
    let origin = format!("http://127.0.0.1:{port}");
    assert_eq!(request("GET", &format!("{origin}/"), &[]).status, 401);
    assert_eq!(
        request("GET", &format!("{origin}/api/overview"), &[]).status,
        401
    );
    assert_eq!(
        request("GET", &format!("{origin}/?token={}", "0".repeat(32)), &[]).status,
        401
    );
    let with = request("GET", &format!("{origin}/?token={token}"), &[]);
    assert_eq!(with.status, 200);
    let cookie = with
        .header("set-cookie")
        .expect("a cookie for the pages' own requests");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(
        request(
            "GET",
            &format!("{origin}/api/overview"),
            &[("Cookie", pair)]
        )
        .status,
        200
    );
    let bearer = format!("Bearer {token}");
    assert_eq!(
        request(
            "GET",
            &format!("{origin}/api/traces"),
            &[("Authorization", &bearer)]
        )
        .status,
        200
    );
    assert_eq!(v.stop(), Some(0));
}

#[test]
fn a_copy_on_a_read_only_mount_is_served_and_exit_after_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(m) = Tmpfs::mount(32 << 20) else {
        return;
    };
    let src = dir.path().join("box.spool");
    record_spans(&src, 40);
    std::fs::copy(&src, m.join("box.spool")).unwrap();
    m.set_read_only(true);
    let started = Instant::now();
    let v = Viewer::start(BIN, &m.join("box.spool"), &["--exit-after", "2s"]);
    let t = v.get("/api/traces").json();
    assert_eq!(
        t["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["spans"].as_u64().unwrap())
            .sum::<u64>(),
        40
    );
    assert_eq!(v.get("/").status, 200);
    assert_eq!(v.wait(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(30));
    let names: Vec<_> = std::fs::read_dir(m.join(""))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "nothing created beside the copy: {names:?}");
}

#[test]
fn a_live_spool_is_served_while_recorders_and_the_uploader_work() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("live.spool");
    record_spans(&spool, 20);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "my-project");
    let v = Viewer::start(BIN, &spool, &[]);
    let mut uploader = Command::new(BIN)
        .args([
            "upload",
            "--endpoint",
            &s.endpoint(),
            "--project",
            "my-project",
        ])
        .arg("--credentials")
        .arg(&key)
        .arg(&spool)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let writer = {
        let spool = spool.clone();
        std::thread::spawn(move || {
            for _ in 0..20 {
                record_spans(&spool, 50);
            }
        })
    };
    // The viewer answers throughout; the uploader delivers everything.
    let mut answers = 0;
    while !writer.is_finished() {
        assert_eq!(v.get("/api/overview").status, 200);
        assert_eq!(v.get("/api/traces").status, 200);
        answers += 1;
    }
    writer.join().unwrap();
    assert!(
        s.wait_for_count(1020, Duration::from_secs(60)),
        "{} of 1020",
        s.accepted_count()
    );
    // The uploader deletes what was accepted on its own thread: the
    // viewer sees the spool empty soon after.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut pending = v.get("/api/overview").json()["pending_spans"].clone();
    while pending != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        pending = v.get("/api/overview").json()["pending_spans"].clone();
    }
    assert_eq!(pending, 0);
    assert!(answers > 0);
    unsafe { libc::kill(uploader.id() as i32, libc::SIGTERM) };
    assert_eq!(uploader.wait().unwrap().code(), Some(0));
    assert_eq!(v.stop(), Some(0));
}
