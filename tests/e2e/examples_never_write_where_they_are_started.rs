//! The examples (and the soak) answer `--help` with their usage and exit
//! 0, refuse an unknown flag with exit 2, and never write into the
//! directory they were started from: with no argument the spool goes to the
//! temporary directory (`TMPDIR`), and its path is printed.
//!
//! The binaries are the ones `cargo test --workspace` builds; a narrower
//! run builds the missing ones first.
use std::path::{Path, PathBuf};
use std::process::Command;

use tracespool_tests::cli::{example, profile_dir};

fn soak() -> PathBuf {
    let path = profile_dir().join("soak");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "tracespool-tests",
                "--bin",
                "soak",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --bin soak");
    }
    path
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn help_prints_usage_and_writes_nothing() {
    let binaries = [
        example("tracespool-opentelemetry", "otel_job"),
        example("tracespool-tracing", "tracing_job"),
        example("tracespool", "opencensus_port"),
        example("tracespool", "loadgen"),
        soak(),
    ];
    for bin in &binaries {
        let cwd = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        for help in ["--help", "-h"] {
            let out = Command::new(bin)
                .arg(help)
                .current_dir(cwd.path())
                .env("TMPDIR", tmp.path())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{} {help}", bin.display());
            assert!(text.contains("usage:"), "{} {help}: {text}", bin.display());
        }
        let out = Command::new(bin)
            .arg("--no-such-flag")
            .current_dir(cwd.path())
            .env("TMPDIR", tmp.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{} --no-such-flag",
            bin.display()
        );
        assert_eq!(
            entries(cwd.path()),
            Vec::<String>::new(),
            "{}",
            bin.display()
        );
        assert_eq!(
            entries(tmp.path()),
            Vec::<String>::new(),
            "{}",
            bin.display()
        );
    }
}

#[test]
fn without_an_argument_the_spool_goes_to_the_temporary_directory() {
    for (package, name) in [
        ("tracespool-opentelemetry", "otel_job"),
        ("tracespool-tracing", "tracing_job"),
        ("tracespool", "opencensus_port"),
    ] {
        let bin = example(package, name);
        let cwd = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let out = Command::new(&bin)
            .current_dir(cwd.path())
            .env("TMPDIR", tmp.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {text}");
        assert_eq!(entries(cwd.path()), Vec::<String>::new(), "{name}");
        let dir = tmp.path().join("tracespool-examples");
        let spools: Vec<String> = entries(&dir)
            .into_iter()
            .filter(|f| f.ends_with(".spool"))
            .collect();
        assert_eq!(spools.len(), 1, "{name}: {:?}", entries(&dir));
        let spool = dir.join(&spools[0]);
        assert!(
            text.contains(&spool.display().to_string()),
            "{name} must print where its spool is: {text}"
        );
    }
}
