//! Every read command works on a spool on a read-only file system, as a
//! spool pulled off a device for debugging arrives: with or without its
//! `-wal` and `-shm` files. Needs root to mount a read-only tmpfs;
//! elsewhere the test says why it skipped.
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tracespool_tests::tmpfs::Tmpfs;
use tracespool_tests::{cli, record_spans};

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

fn read_commands_work(spool: &Path, spans: u64) {
    let out = cli::run(BIN, &["inspect", "--json"], spool);
    cli::expect_exit(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pending"]["spans"], spans);
    assert_eq!(v["integrity"], "ok");
    for args in [&["spans", "--limit", "5"][..], &["export"][..]] {
        let out = cli::run(BIN, args, spool);
        cli::expect_exit(&out, 0);
        assert!(!out.stdout.is_empty());
    }
}

#[test]
fn a_spool_on_a_read_only_mount_can_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let Some(m) = Tmpfs::mount(64 << 20) else {
        return;
    };
    // Copied off a device as a whole file, without -wal and -shm.
    let src = dir.path().join("src.spool");
    record_spans(&src, 300);
    std::fs::copy(&src, m.join("bare.spool")).unwrap();
    // And one with a -wal that still holds commits: a recorder killed
    // mid-flight leaves one (copied while the writer had it open).
    let live = m.join("live.spool");
    record_spans(&live, 200);
    m.set_read_only(true);
    read_commands_work(&m.join("bare.spool"), 300);
    read_commands_work(&live, 200);
    // Nothing was created on the read-only file system.
    let out = Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .args(["upload", "--once", "--project", "proj-p1", "--spool"])
        .arg(m.join("bare.spool"))
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "upload cannot work read-only");
}
