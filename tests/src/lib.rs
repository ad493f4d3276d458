//! Test support shared by the end-to-end tests: the Cloud Trace stand-in
//! and local OAuth token endpoint ([`standin`]).
//!
//! The end-to-end tests of the uploader live in `tests/e2e/` and are run
//! as tests of the `tracespool-uploader` package (so they can start the real
//! `tracespool` binary); the recorder's process-level tests live in
//! `tests/tests/`.
#[path = "bench_dir.rs"]
pub mod bench_dir;
pub mod browser;
pub mod cli;
pub mod clocks;
pub mod http;
pub mod ids;
pub mod measure;
pub mod sshfs;
pub mod standin;
pub mod tls;
pub mod tmpfs;
pub mod validate;
pub mod web;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use ids::hex;

/// Reports that a test cannot run here (a tool or a permission is
/// missing) and returns `None`, so the test skips: or, where
/// `TRACESPOOL_REQUIRE_EDGE_TOOLS` is set (`.ci/run` sets it after
/// installing them), fails, so CI never passes by skipping.
pub fn skip<T>(why: &str) -> Option<T> {
    if std::env::var_os("TRACESPOOL_REQUIRE_EDGE_TOOLS").is_some() {
        panic!("cannot run here, and TRACESPOOL_REQUIRE_EDGE_TOOLS is set: {why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// One generated service account per test process (RSA key generation is
/// the slow part).
pub fn test_account() -> standin::ServiceAccount {
    static ACCOUNT: OnceLock<standin::ServiceAccount> = OnceLock::new();
    ACCOUNT
        .get_or_init(standin::ServiceAccount::generate)
        .clone()
}

/// Writes a key file for `stand_in`'s token endpoint into `dir` (mode 0600).
pub fn write_key_file(dir: &Path, stand_in: &standin::StandIn, project: &str) -> PathBuf {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("service-account.json");
    let json = stand_in
        .account
        .key_file_json(&stand_in.token_uri(), project);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .expect("create the key file");
    std::io::Write::write_all(&mut f, json.as_bytes()).expect("write the key file");
    path
}

/// Records `n` spans (trees of up to 5, with attributes and an event) into
/// `spool` with the real recorder and returns their span ids (hex).
pub fn record_spans(spool: &Path, n: usize) -> Vec<String> {
    use tracespool::{OnFull, Recorder, SpanKind};
    let (rec, guard) = Recorder::builder(spool)
        .service_name("e2e")
        .on_full(OnFull::Block)
        .build()
        .expect("open the spool");
    let mut ids = Vec::with_capacity(n);
    let mut made = 0;
    while made < n {
        let mut root = rec
            .span_builder("GET /api/items")
            .kind(SpanKind::Server)
            .start();
        root.set_attribute("http.request.method", "GET");
        root.set_attribute("http.response.status_code", 200i64);
        ids.push(root.context().span_id().to_string());
        made += 1;
        let _e = root.enter();
        for i in 0..4 {
            if made == n {
                break;
            }
            let mut c = rec.span("SELECT items");
            c.set_attribute("db.rows", i as i64);
            c.add_annotation("query planned", vec![]);
            ids.push(c.context().span_id().to_string());
            made += 1;
        }
    }
    rec.flush().expect("flush");
    drop(guard);
    ids
}

/// The span id at the end of an accepted span's name.
pub fn span_id_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or("")
}

/// Every row of `spool`, read as a reader would: span id → (trace id,
/// parent span id or "" for a root), all in hex.
pub fn spool_parents(spool: &Path) -> HashMap<String, (String, String)> {
    let r = tracespool_spool::SpoolReader::open_read_only(spool).expect("open the spool");
    let mut m = HashMap::new();
    r.for_each_row(&Default::default(), None, |row| {
        m.insert(
            hex(&row.span_id),
            (
                hex(&row.trace_id),
                row.parent_span_id.as_deref().map(hex).unwrap_or_default(),
            ),
        );
        true
    })
    .expect("read the spool");
    m
}
