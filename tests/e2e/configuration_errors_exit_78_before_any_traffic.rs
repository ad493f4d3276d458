//! A configuration mistake exits 78 at once, before any network traffic
//! (no token request, no upload), whether spans are pending or not: cron
//! alerts instead of retrying an "outage" until the deadline.
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tracespool_spool::{SpoolOptions, SpoolReader};
use tracespool_tests::standin::StandIn;
use tracespool_tests::{record_spans, test_account, write_key_file};

fn upload(
    spool: &Path,
    endpoint: &str,
    creds: Option<&Path>,
    env_creds: Option<&Path>,
    project: Option<&str>,
) -> (Option<i32>, String, Duration) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tracespool"));
    c.args(["upload", "--once", "--spool"])
        .arg(spool)
        .args(["--endpoint", endpoint])
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS");
    if let Some(p) = creds {
        c.arg("--credentials").arg(p);
    }
    if let Some(p) = env_creds {
        c.env("GOOGLE_APPLICATION_CREDENTIALS", p);
    }
    if let Some(p) = project {
        c.args(["--project", p]);
    }
    let started = Instant::now();
    let out = c.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn every_mistake_exits_78_without_a_request_pending_spans_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let pending = dir.path().join("pending.spool");
    record_spans(&pending, 20);
    let drained = dir.path().join("drained.spool");
    record_spans(&drained, 1);
    {
        let mut r = SpoolReader::open(&drained, &SpoolOptions::default()).unwrap();
        let all = r.lease(0, 10).unwrap();
        r.ack(all[0].row_id, all[0].row_id).unwrap();
    }
    let s = StandIn::start(0, test_account(), 1).unwrap();
    let good_key = write_key_file(dir.path(), &s, "proj-ok-1");
    let ep = s.endpoint();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let not_json = write("not-json.json", "this is not json");
    let no_key = write(
        "no-key.json",
        r#"{"type":"service_account","client_email":"a@b","token_uri":"http://127.0.0.1:9/token"}"#,
    );
    let user = write(
        "user.json",
        r#"{"type":"authorized_user","client_id":"x","client_secret":"y","refresh_token":"z"}"#,
    );
    let a_dir = dir.path().join("creds-dir");
    std::fs::create_dir(&a_dir).unwrap();

    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a Path>,
        Option<&'a Path>,
        Option<&'a str>,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "endpoint not a URL",
            "cloudtrace.googleapis.com",
            Some(&good_key),
            None,
            None,
            "not a URL",
        ),
        (
            "ftp endpoint",
            "ftp://127.0.0.1/",
            Some(&good_key),
            None,
            None,
            "scheme",
        ),
        (
            "key not JSON",
            &ep,
            Some(&not_json),
            None,
            None,
            "not a JSON key file",
        ),
        (
            "key without private_key",
            &ep,
            Some(&no_key),
            None,
            None,
            "no private_key",
        ),
        (
            "user credential",
            &ep,
            Some(&user),
            None,
            None,
            "authorized_user",
        ),
        (
            "env names a directory",
            &ep,
            None,
            Some(&a_dir),
            Some("proj-ok-1"),
            "is a directory",
        ),
        (
            "env key not JSON",
            &ep,
            None,
            Some(&not_json),
            Some("proj-ok-1"),
            "not a JSON key file",
        ),
        (
            "path-changing project",
            &ep,
            Some(&good_key),
            None,
            Some("../../x"),
            "not valid",
        ),
        (
            "short project",
            &ep,
            Some(&good_key),
            None,
            Some("abc"),
            "not valid",
        ),
    ];
    for spool in [&pending, &drained] {
        for (what, endpoint, creds, env_creds, project, says) in &cases {
            let (code, err, took) = upload(spool, endpoint, *creds, *env_creds, *project);
            assert_eq!(code, Some(78), "{what}: {err}");
            assert!(err.contains(says), "{what}: {err}");
            assert!(took < Duration::from_secs(5), "{what}: took {took:?}");
        }
    }
    assert_eq!(s.requests(), 0, "a batchWrite went out");
    assert_eq!(s.token_requests(), 0, "a token was requested");
    let r = SpoolReader::open(&pending, &SpoolOptions::default()).unwrap();
    assert_eq!(r.totals().unwrap().pending_rows, 20, "nothing lost");

    // The same good configuration works.
    let (code, err, _) = upload(&pending, &ep, Some(&good_key), None, None);
    assert_eq!(code, Some(0), "{err}");
}
