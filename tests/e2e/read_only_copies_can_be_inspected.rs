//! Every read command works on a spool on a read-only file system, as a
//! spool pulled off a device for debugging arrives: with or without its
//! `-wal` and `-shm` files. Needs root to mount a read-only tmpfs;
//! elsewhere the test says why it skipped.
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tracespool_tests::{cli, record_spans};

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

/// A tmpfs mounted at a temporary directory, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path) -> Option<Mount> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(at.to_owned()))
    }

    fn read_only(&self) -> bool {
        Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

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
    let Some(m) = Mount::tmpfs(&dir.path().join("media")) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    // Copied off a device as a whole file, without -wal and -shm.
    let src = dir.path().join("src.spool");
    record_spans(&src, 300);
    std::fs::copy(&src, m.0.join("bare.spool")).unwrap();
    // And one with a -wal that still holds commits: a recorder killed
    // mid-flight leaves one (copied while the writer had it open).
    let live = m.0.join("live.spool");
    record_spans(&live, 200);
    assert!(m.read_only(), "remount read-only");
    read_commands_work(&m.0.join("bare.spool"), 300);
    read_commands_work(&live, 200);
    // Nothing was created on the read-only file system.
    let out = Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .args(["upload", "--once", "--project", "proj-p1", "--spool"])
        .arg(m.0.join("bare.spool"))
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "upload cannot work read-only");
}
