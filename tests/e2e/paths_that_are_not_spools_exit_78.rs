//! A path that is not a spool file is refused by every command with exit
//! 78, a message that names the path once and says what it is, and
//! nothing written: a directory, a device, a FIFO, an empty file, a
//! truncated spool.
use std::path::Path;
use std::process::{Command, Output};

use tracespool_tests::record_spans;

fn run(args: &[&str], path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .args(args)
        .arg(path)
        .args(
            ["--project", "proj-p1"]
                .iter()
                .filter(|_| args[0] == "upload"),
        )
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .output()
        .unwrap()
}

fn commands() -> [&'static [&'static str]; 5] {
    [
        &["inspect"],
        &["spans"],
        &["export"],
        &["purge", "--quarantined"],
        &["upload", "--once", "--dry-run", "--spool"],
    ]
}

fn refused_by_every_command(path: &Path, says: &str) {
    for args in commands() {
        let out = run(args, path);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(78),
            "{args:?} on {}: {err}",
            path.display()
        );
        assert!(err.contains(says), "{args:?}: {err}");
        let shown = path.display().to_string();
        assert_eq!(
            err.matches(&shown).count(),
            1,
            "{args:?}: path not named once: {err}"
        );
    }
}

#[test]
fn a_directory_a_device_and_a_fifo_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("a-directory");
    std::fs::create_dir(&d).unwrap();
    refused_by_every_command(&d, "is a directory");
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);

    let dev = dir.path().join("to-dev-null");
    std::os::unix::fs::symlink("/dev/null", &dev).unwrap();
    refused_by_every_command(&dev, "is a device");

    let fifo = dir.path().join("a-fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    refused_by_every_command(&fifo, "is a FIFO");
    // No lock file, no WAL next to any of them.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn an_empty_file_is_not_a_spool_for_any_command_and_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.spool");
    std::fs::write(&empty, b"").unwrap();
    refused_by_every_command(&empty, "empty file, not a spool yet");
    let out = Command::new(env!("CARGO_BIN_EXE_tracespool"))
        .args(["upload", "--once", "--project", "proj-p1", "--spool"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert_eq!(
        std::fs::metadata(&empty).unwrap().len(),
        0,
        "upload wrote into it"
    );
}

#[test]
fn a_truncated_spool_exits_78_and_points_to_recover() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("t.spool");
    record_spans(&spool, 2000);
    let len = std::fs::metadata(&spool).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&spool)
        .unwrap();
    f.set_len(len / 2 + 100).unwrap();
    drop(f);
    for args in commands() {
        let out = run(args, &spool);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {err}");
        assert!(err.contains("tracespool recover"), "{args:?}: {err}");
    }
}
