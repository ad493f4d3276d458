//! Every `tracespool` command in the README's shell blocks, run as written
//! (through `sh`, with the built binary first on `PATH`) on a real spool,
//! against the local stand-ins: the README cannot rot. Only what names a
//! place is substituted: the example spool path and `SPOOL` become a spool
//! of recorded spans, `TRACE_ID` one of its traces, the collector's address
//! the collector stand-in's, the header file one holding the collector's
//! key; Google's endpoint comes from `TRACESPOOL_ENDPOINT` and the credentials from
//! `GOOGLE_APPLICATION_CREDENTIALS`, as on a configured machine. A command
//! without `--once` or `--dry-run` runs as a service: it must deliver every
//! span, then stop on SIGTERM with exit 0. Every other command must exit 0.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tracespool_spool::{SpoolOptions, SpoolReader};
use tracespool_tests::standin::StandIn;
use tracespool_tests::{record_spans, test_account, write_key_file};

/// The README's shell commands that start with `tracespool`, comments
/// removed and continuation lines joined.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("read README.md");
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line.trim() == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let code = match line.find(" #") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        let code = code.trim();
        if code.starts_with('#') {
            continue;
        }
        if let Some(start) = code.strip_suffix('\\') {
            pending.push_str(start);
            pending.push(' ');
            continue;
        }
        pending.push_str(code);
        let cmd = std::mem::take(&mut pending);
        if cmd.starts_with("tracespool ") {
            out.push(cmd);
        }
    }
    out
}

fn pending(spool: &Path) -> u64 {
    SpoolReader::open(spool, &SpoolOptions::default())
        .unwrap()
        .totals()
        .unwrap()
        .pending_rows
}

#[test]
fn every_tracespool_command_in_the_readme_runs_as_written() {
    let commands = readme_commands();
    assert!(
        commands.len() >= 12,
        "the README's commands were not found: {commands:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let google = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(dir.path(), &google, "my-project");
    let collector = StandIn::start(0, test_account(), 2).unwrap();
    collector.otlp_collector_mode(&[("x-fleet-key", "fleet-secret")]);
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_tracespool"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let header_file = dir.path().join("headers");
    std::fs::write(&header_file, "x-fleet-key: fleet-secret\n").unwrap();
    for (n, cmd) in commands.iter().enumerate() {
        // A spool of its own for each command, with spans to act on.
        let spool = dir.path().join(format!("cmd{n}.spool"));
        record_spans(&spool, 30);
        let trace_id = {
            let r = SpoolReader::open_read_only(&spool).unwrap();
            let mut id = None;
            r.for_each_row(&Default::default(), Some(1), |row| {
                id = Some(tracespool_tests::hex(&row.trace_id));
                false
            })
            .unwrap();
            id.unwrap()
        };
        let spool_text = spool.display().to_string();
        let line = cmd
            .replace("/var/lib/myapp/traces.spool", &spool_text)
            .replace("https://collector.internal:4318", &collector.endpoint())
            .replace(
                "/etc/tracespool/headers",
                &header_file.display().to_string(),
            )
            .replace("TRACE_ID", &trace_id)
            .split(' ')
            .map(|w| if w == "SPOOL" { spool_text.as_str() } else { w })
            .collect::<Vec<_>>()
            .join(" ");
        let mut c = Command::new("sh");
        c.args(["-c", &format!("exec {line}")])
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("TRACESPOOL_ENDPOINT", google.endpoint())
            .env("GOOGLE_APPLICATION_CREDENTIALS", &key)
            .env("KEY", "fleet-secret")
            .env("FLEET_KEY", "fleet-secret")
            .env_remove("GOOGLE_CLOUD_PROJECT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let service = line.starts_with("tracespool upload")
            && !line.contains("--once")
            && !line.contains("--dry-run");
        if service {
            let child = c.spawn().unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            while pending(&spool) > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let delivered = pending(&spool) == 0;
            // `exec`: the signal reaches the uploader, not the shell.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                delivered,
                "{cmd}\n{line}\nnot every span was delivered: {err}"
            );
            assert_eq!(out.status.code(), Some(0), "{cmd}\n{line}\n{err}");
        } else {
            let out = c.output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{cmd}\n{line}\n{err}");
        }
    }
    // Each destination the README sends to received spans: Google (Cloud
    // Trace and the Telemetry API) for several commands, the collector for
    // one (30 spans).
    assert!(
        google.accepted_count() >= 3 * 30,
        "{}",
        google.accepted_count()
    );
    assert_eq!(collector.accepted_count(), 30);
}
