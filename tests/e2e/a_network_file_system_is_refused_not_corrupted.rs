//! A spool on a network file system (a real sshfs mount of a directory
//! served by sshd on 127.0.0.1) is refused for writing, with the file
//! system named, before SQLite's WAL can corrupt it; reading it works; and
//! the explicit single-host allowance records and uploads in rollback
//! journal mode.
use std::process::Command;

use tracespool::{BuildError, NetworkFs, OnFull, Recorder, SpoolOptions};
use tracespool_spool::OpenError;
use tracespool_tests::sshfs::Sshfs;
use tracespool_tests::standin::StandIn;
use tracespool_tests::{cli, record_spans, test_account, write_key_file};

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

#[test]
fn a_spool_on_sshfs_is_refused_for_writing_and_read_as_it_is() {
    let Some(fs) = Sshfs::mount() else { return };
    // A recorder refuses, naming the file system, and creates nothing.
    let spool = fs.path().join("app.spool");
    match Recorder::builder(&spool).build() {
        Err(BuildError::Spool(OpenError::NetworkFileSystem { fs_type, .. })) => {
            assert_eq!(fs_type, "fuse.sshfs")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!fs.served().join("app.spool").exists());

    // A spool copied there: the uploader refuses it (78, before any
    // traffic); inspect, spans and export read it.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("copy.spool");
    record_spans(&local, 25);
    std::fs::copy(&local, fs.served().join("copy.spool")).unwrap();
    let remote = fs.path().join("copy.spool");
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "proj-p1");
    let out = cli::upload_once(BIN, &remote, &s, &key, &[]);
    let err = cli::expect_exit(&out, 78);
    assert!(err.contains("network file system (fuse.sshfs)"), "{err}");
    assert_eq!(s.requests(), 0);
    for args in [&["inspect", "--json"][..], &["spans"], &["export"]] {
        let out = cli::run(BIN, args, &remote);
        cli::expect_exit(&out, 0);
    }
    let out = cli::run(BIN, &["inspect", "--json"], &remote);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pending"]["spans"], 25);
}

#[test]
fn allowed_for_one_host_it_records_and_uploads_in_rollback_journal_mode() {
    let Some(fs) = Sshfs::mount() else { return };
    let spool = fs.path().join("job.spool");
    let (rec, guard) = Recorder::builder(&spool)
        .service_name("batch-job")
        .on_full(OnFull::Block)
        .spool_options(SpoolOptions::default().with_network_fs(NetworkFs::SingleHost))
        .build()
        .unwrap();
    for i in 0..300i64 {
        let mut s = rec.span("step");
        s.set_attribute("i", i);
    }
    rec.flush().unwrap();
    drop(guard);
    let c = rusqlite::Connection::open(fs.served().join("job.spool")).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "no WAL on a network file system");
    drop(c);

    let dir = tempfile::tempdir().unwrap();
    let s = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &s, "proj-p1");
    let out = Command::new(BIN)
        .args(["upload", "--once", "--allow-network-fs", "--spool"])
        .arg(&spool)
        .args(cli::sink_args())
        .args(["--endpoint", &s.endpoint(), "--credentials"])
        .arg(&key)
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .output()
        .unwrap();
    cli::expect_exit(&out, 0);
    let accepted = s.accepted_by_name();
    assert_eq!(accepted.len(), 300);
    assert!(accepted.values().all(|n| *n == 1));
}
