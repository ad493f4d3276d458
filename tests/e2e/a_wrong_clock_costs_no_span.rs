//! A wall clock that is wrong when spans are recorded costs no span: they
//! are sent at the time they really happened whenever the truth can be
//! known later, and counted apart when it cannot.
//!
//! Recorders run in child processes with libfaketime preloaded: their wall
//! clock is 548 days (18 months) behind, or starts at 1970, while their
//! boot clock stays true. Each span carries the true boot clock of its
//! start (`boottime_ns`), so the test knows when it really happened.
use std::path::Path;
use std::process::Command;

use rusqlite::Connection;
use tracespool_spool::{Counter, SpoolOptions, SpoolReader};
use tracespool_tests::clocks::{faked_wall_clock, libfaketime, rfc3339_ns, true_wall_at};
use tracespool_tests::standin::StandIn;
use tracespool_tests::{test_account, write_key_file};

const CHILD_SPOOL: &str = "TRACESPOOL_E2E_RECORD_INTO";
const CHILD_N: &str = "TRACESPOOL_E2E_RECORD_N";
const CHILD_TAG: &str = "TRACESPOOL_E2E_RECORD_TAG";
const S: i64 = 1_000_000_000;

/// Not a test of its own: the body of the recording child processes the
/// tests below start (with this test's name and the variables set). Run
/// without them, it does nothing.
#[test]
fn recording_child() {
    let Ok(spool) = std::env::var(CHILD_SPOOL) else {
        return;
    };
    let n: usize = std::env::var(CHILD_N).unwrap().parse().unwrap();
    let tag = std::env::var(CHILD_TAG).unwrap();
    let (rec, guard) = tracespool::Recorder::builder(&spool)
        .service_name("wrong-clock")
        .on_full(tracespool::OnFull::Block)
        .build()
        .unwrap();
    for i in 0..n {
        let boottime = tracespool_tests::clocks::boottime_ns();
        let mut s = rec.span(format!("{tag} {i}"));
        s.set_attribute("boottime_ns", boottime);
        s.set_attribute("tag", tag.clone());
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    rec.flush().unwrap();
    drop(guard);
}

/// Records `n` spans tagged `tag` into `spool` in a child process, its wall
/// clock faked by `faketime` (libfaketime's spec) or true.
fn record(spool: &Path, n: usize, tag: &str, faketime: Option<(&Path, &str)>) {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "a_wrong_clock_costs_no_span::recording_child",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env(CHILD_SPOOL, spool)
    .env(CHILD_N, n.to_string())
    .env(CHILD_TAG, tag);
    if let Some((lib, spec)) = faketime {
        c.envs(faked_wall_clock(lib, spec));
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "recording child: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The accepted spans tagged `tag`: (true start, start as sent, the
/// correction attribute).
fn arrived(s: &StandIn, tag: &str) -> Vec<(i64, i64, Option<i64>)> {
    s.accepted_spans()
        .iter()
        .filter(|v| v["attributes"]["attributeMap"]["tag"]["stringValue"]["value"] == tag)
        .map(|v| {
            let m = &v["attributes"]["attributeMap"];
            let int = |k: &str| m[k]["intValue"].as_str().map(|x| x.parse::<i64>().unwrap());
            let boottime = int("boottime_ns").expect("boottime_ns");
            (
                true_wall_at(boottime),
                rfc3339_ns(v["startTime"].as_str().unwrap()),
                int("tracespool.clock.corrected_ns"),
            )
        })
        .collect()
}

/// As [`arrived`], from the OTLP route (OTLP/JSON: attributes as a list,
/// 64-bit integers as numbers or strings).
fn arrived_otlp(s: &StandIn, tag: &str) -> Vec<(i64, i64, Option<i64>)> {
    let int = |v: &serde_json::Value| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|x| x.parse().ok()))
    };
    s.accepted_otlp_spans()
        .iter()
        .map(|g| &g["span"])
        .filter_map(|span| {
            let attrs = span["attributes"].as_array()?;
            let get = |k: &str| {
                attrs
                    .iter()
                    .find(|a| a["key"] == k)
                    .map(|a| a["value"].clone())
            };
            (get("tag")?["stringValue"] == tag).then(|| {
                (
                    true_wall_at(int(&get("boottime_ns").unwrap()["intValue"]).unwrap()),
                    int(&span["startTimeUnixNano"]).unwrap(),
                    get("tracespool.clock.corrected_ns").and_then(|v| int(&v["intValue"])),
                )
            })
        })
        .collect()
}

fn counter(spool: &Path, c: Counter) -> u64 {
    SpoolReader::open(spool, &SpoolOptions::default())
        .unwrap()
        .counter(c)
        .unwrap()
}

fn upload(
    spool: &Path,
    s: &StandIn,
    key: &Path,
    faketime: Option<(&Path, &str)>,
    extra: &[&str],
) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tracespool"));
    c.args(["upload", "--once", "--spool"])
        .arg(spool)
        .args(["--endpoint", &s.endpoint(), "--credentials"])
        .arg(key)
        .args(extra)
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS");
    if let Some((lib, spec)) = faketime {
        c.envs(faked_wall_clock(lib, spec));
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    err
}

/// Rewrites the boot of every clock sample: the spans were recorded in
/// another boot than the uploader's (a reboot since).
fn move_to_another_boot(spool: &Path) {
    let c = Connection::open(spool).unwrap();
    c.execute("UPDATE clock_samples SET boot_id = zeroblob(16)", [])
        .unwrap();
}

/// Every span of `tag` arrived within `tolerance` of when it happened.
fn assert_on_time(spans: &[(i64, i64, Option<i64>)], n: usize, tolerance: i64, repaired: bool) {
    assert_eq!(spans.len(), n, "every span arrived, once");
    for (truth, sent, corrected) in spans {
        assert!(
            (sent - truth).abs() < tolerance,
            "sent at {sent}, happened at {truth}: {} s off",
            (sent - truth) / S
        );
        assert_eq!(corrected.is_some(), repaired, "{corrected:?}");
        if let Some(c) = corrected {
            assert!((c - 548 * 86_400 * S).abs() < 5 * S, "corrected by {c}");
        }
    }
}

/// The scenario: recorded with the clock 18 months behind; then
/// the clock is right (NTP answered) and more spans are recorded; the
/// upload sends every span at its true time, none expired. Then the same
/// after a reboot: the later sample of that boot still tells.
#[test]
fn spans_recorded_18_months_behind_arrive_on_time_once_the_clock_is_stepped() {
    let Some(lib) = libfaketime() else { return };
    for rebooted in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("clock.spool");
        record(&spool, 40, "behind", Some((&lib, "-548d")));
        record(&spool, 10, "stepped", None);
        if rebooted {
            move_to_another_boot(&spool);
        }
        let s = StandIn::start(0, test_account(), 2).unwrap();
        s.keep_accepted_spans();
        let key = write_key_file(dir.path(), &s, "proj-p1");
        upload(&spool, &s, &key, None, &[]);
        assert!(s.rejections().is_empty(), "{:?}", s.rejections());
        assert_on_time(&arrived(&s, "behind"), 40, S, true);
        assert_on_time(&arrived(&s, "stepped"), 10, S, false);
        assert_eq!(counter(&spool, Counter::ClockRepaired), 40);
        assert_eq!(counter(&spool, Counter::UploadExpired), 0);
        assert_eq!(counter(&spool, Counter::UploadUndatable), 0);
    }
}

/// No NTP at all, HTTPS only: the recorders and the uploader share a
/// clock 18 months behind, and nothing in the spool knows better. The
/// collector's `Date` does: the uploader trusts it (its own clock reads
/// before this build's release), and every span arrives within the
/// header's resolution of its true time. (With a service-account key, so
/// wrong a clock gets no token at all: the signed request is refused, and
/// the uploader says why; see the next test.)
#[test]
fn a_collector_s_date_repairs_a_boot_that_never_saw_ntp() {
    let Some(lib) = libfaketime() else { return };
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("date.spool");
    record(&spool, 30, "no-ntp", Some((&lib, "-548d")));
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.otlp_collector_mode(&[]);
    s.keep_accepted_otlp_spans();
    let mut c = Command::new(env!("CARGO_BIN_EXE_tracespool"));
    c.args(["upload", "--once", "--sink", "otlp", "--no-auth", "--spool"])
        .arg(&spool)
        .args(["--endpoint", &s.endpoint()])
        .envs(faked_wall_clock(&lib, "-548d"));
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("disagrees with the server's Date"), "{err}");
    assert_on_time(&arrived_otlp(&s, "no-ntp"), 30, 2 * S, true);
    assert_eq!(counter(&spool, Counter::ClockRepaired), 30);
    assert_eq!(counter(&spool, Counter::UploadExpired), 0);
}

/// A service-account token is a JWT signed with this machine's clock: 18
/// months off, the token endpoint refuses it (as Google's does). Nothing
/// is lost (exit 75, every span pending), and the uploader says that the
/// clock is the cause.
#[test]
fn a_clock_too_wrong_for_a_token_is_named_as_the_cause() {
    let Some(lib) = libfaketime() else { return };
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("token.spool");
    record(&spool, 5, "token", Some((&lib, "-548d")));
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "proj-p1");
    let out = Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .args(["upload", "--once", "--max-duration", "3s", "--spool"])
        .arg(&spool)
        .args(["--endpoint", &s.endpoint(), "--credentials"])
        .arg(&key)
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .envs(faked_wall_clock(&lib, "-548d"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(err.contains("this machine's clock is"), "{err}");
    let r = SpoolReader::open(&spool, &SpoolOptions::default()).unwrap();
    assert_eq!(r.totals().unwrap().pending_rows, 5);
}

/// A boot that started at 1970 and was never set, seen from another boot:
/// nothing can tell when its spans happened. They keep the 14-day rule on
/// the times they carry, counted as undatable, not as expired.
#[test]
fn spans_of_a_boot_whose_clock_was_never_set_are_counted_undatable() {
    let Some(lib) = libfaketime() else { return };
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("epoch.spool");
    record(&spool, 20, "epoch", Some((&lib, "@1970-01-02 00:00:00")));
    move_to_another_boot(&spool);
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.keep_accepted_spans();
    let key = write_key_file(dir.path(), &s, "proj-p1");
    let err = upload(&spool, &s, &key, None, &["--server-clock", "ignore"]);
    assert!(arrived(&s, "epoch").is_empty());
    assert_eq!(counter(&spool, Counter::UploadUndatable), 20, "{err}");
    assert_eq!(counter(&spool, Counter::UploadExpired), 0);
    let out = Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .arg("inspect")
        .arg(&spool)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("20 undatable"), "{text}");
}
