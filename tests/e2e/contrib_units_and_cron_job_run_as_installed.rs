//! The files in `contrib/` work as installed: the systemd units pass
//! `systemd-analyze verify`; the service's `ExecStart`, run with the
//! environment its `EnvironmentFile` gives, delivers every span and stops
//! with exit 0 on SIGTERM; the timer's one-shot run delivers and counts
//! "locked" (69) and "spans remain" (75) as success; the cron job, run by
//! `sh` as cron would, sources the same environment file and drains the
//! spool. Only places are substituted: the binary, the spool, the key
//! file, the log, the environment file; the endpoint is the stand-in's
//! (`TRACESPOOL_ENDPOINT`).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tracespool_tests::cli::expect_exit;

use tracespool_spool::{SpoolOptions, SpoolReader};
use tracespool_tests::standin::StandIn;
use tracespool_tests::{record_spans, skip, test_account, write_key_file};

const INSTALLED_BIN: &str = "/usr/local/bin/tracespool";
const INSTALLED_ENV: &str = "/etc/tracespool/upload.env";

fn contrib(file: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../contrib/").to_owned() + file;
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tracespool")
}

/// The `key=` values of a unit file's `[section]`.
fn unit_values(unit: &str, section: &str, key: &str) -> Vec<String> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == format!("[{section}]");
        } else if inside {
            if let Some(v) = line.strip_prefix(&format!("{key}=")) {
                out.push(v.to_owned());
            }
        }
    }
    out
}

/// The `NAME=value` lines of an environment file, as systemd reads them.
fn environment_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("NAME=value");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

struct Box {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    spool: PathBuf,
    key: PathBuf,
    google: StandIn,
}

fn a_box(spans: usize) -> Box {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let google = StandIn::start(0, test_account(), 2).unwrap();
    let key = write_key_file(&path, &google, "my-project");
    let spool = path.join("traces.spool");
    record_spans(&spool, spans);
    Box {
        _dir: dir,
        dir: path,
        spool,
        key,
        google,
    }
}

impl Box {
    /// The contrib environment file with this box's places.
    fn environment(&self) -> BTreeMap<String, String> {
        let mut env = environment_file(&contrib("upload.env"));
        assert_eq!(env["TRACESPOOL_PROJECT"], "my-project");
        env.insert("TRACESPOOL_SPOOL".into(), self.spool.display().to_string());
        env.insert(
            "GOOGLE_APPLICATION_CREDENTIALS".into(),
            self.key.display().to_string(),
        );
        env.insert("TRACESPOOL_ENDPOINT".into(), self.google.endpoint());
        env
    }

    /// A unit's `ExecStart`, with the built binary, in this box's
    /// environment.
    fn exec_start(&self, unit: &str) -> Command {
        let exec = unit_values(unit, "Service", "ExecStart");
        assert_eq!(exec.len(), 1, "{exec:?}");
        let mut words = exec[0].split_whitespace();
        assert_eq!(words.next(), Some(INSTALLED_BIN));
        let mut c = Command::new(bin());
        c.args(words)
            .env_clear()
            .envs(self.environment())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    fn pending(&self) -> u64 {
        SpoolReader::open(&self.spool, &SpoolOptions::default())
            .unwrap()
            .totals()
            .unwrap()
            .pending_rows
    }
}

#[test]
fn the_systemd_units_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        return skip("systemd-analyze is not installed (apt install systemd)").unwrap_or(());
    }
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for unit in [
        "tracespool-upload.service",
        "tracespool-upload-once.service",
        "tracespool-upload-once.timer",
    ] {
        let path = dir.path().join(unit);
        std::fs::write(
            &path,
            contrib(&format!("systemd/{unit}")).replace(INSTALLED_BIN, bin()),
        )
        .unwrap();
        files.push(path);
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&files)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // verify reports a bad value as a warning and still exits 0.
    assert!(err.trim().is_empty(), "{err}");

    for unit in [
        "tracespool-upload.service",
        "tracespool-upload-once.service",
    ] {
        let text = contrib(&format!("systemd/{unit}"));
        assert_eq!(
            unit_values(&text, "Service", "EnvironmentFile"),
            [INSTALLED_ENV]
        );
    }
    let timer = contrib("systemd/tracespool-upload-once.timer");
    assert!(!unit_values(&timer, "Timer", "OnUnitActiveSec").is_empty());
}

#[test]
fn the_service_delivers_then_stops_cleanly_on_sigterm() {
    let b = a_box(300);
    let unit = contrib("systemd/tracespool-upload.service");
    let child = b.exec_start(&unit).spawn().unwrap();
    assert!(
        b.google.wait_for_count(300, Duration::from_secs(60)),
        "{} of 300",
        b.google.accepted_count()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.pending() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(b.pending(), 0);

    // While it runs, the timer's one-shot finds the spool locked: 69,
    // which the unit counts as success.
    let once = contrib("systemd/tracespool-upload-once.service");
    let success: Vec<String> = unit_values(&once, "Service", "SuccessExitStatus")
        .iter()
        .flat_map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    assert!(success.contains(&"75".to_owned()), "{success:?}");
    let locked = b.exec_start(&once).output().unwrap();
    let code = locked.status.code().unwrap().to_string();
    assert!(
        success.contains(&code),
        "exit {code}: {}",
        String::from_utf8_lossy(&locked.stderr)
    );

    let stop = unit_values(&unit, "Service", "TimeoutStopSec");
    let stop: u64 = stop[0].parse().unwrap();
    let started = Instant::now();
    // systemd's default KillSignal.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(stop));
    expect_exit(&out, 0);
    assert_eq!(b.google.accepted_count(), 300);
}

#[test]
fn the_timer_s_one_shot_drains_the_spool() {
    let b = a_box(250);
    let once = contrib("systemd/tracespool-upload-once.service");
    assert_eq!(unit_values(&once, "Service", "Type"), ["oneshot"]);
    let out = b.exec_start(&once).output().unwrap();
    expect_exit(&out, 0);
    assert_eq!(b.pending(), 0);
    assert_eq!(b.google.accepted_count(), 250);
}

#[test]
fn the_cron_job_sources_the_environment_file_and_drains_the_spool() {
    let b = a_box(200);
    let cron = contrib("cron/tracespool-upload");
    let mut env = BTreeMap::new();
    let mut jobs = Vec::new();
    for line in cron.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let first = line.split_whitespace().next().unwrap();
        if let Some((k, v)) = first.split_once('=').filter(|_| !line.contains(' ')) {
            env.insert(k.to_owned(), v.to_owned());
        } else {
            jobs.push(line.to_owned());
        }
    }
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    // /etc/cron.d: five schedule fields, the user, the command.
    let fields: Vec<&str> = jobs[0].splitn(7, ' ').collect();
    assert_eq!(fields.len(), 7, "{}", jobs[0]);
    for (f, max) in fields[..5].iter().zip([59, 23, 31, 12, 7]) {
        let ok = f.split(',').all(|part| {
            let (range, step) = part.split_once('/').unwrap_or((part, "1"));
            step.parse::<u32>().is_ok()
                && (range == "*"
                    || range
                        .split('-')
                        .all(|n| n.parse::<u32>().is_ok_and(|n| n <= max)))
        });
        assert!(ok, "schedule field {f:?} in {}", jobs[0]);
    }
    assert!(!fields[6].contains('%'), "cron turns % into a newline");

    let env_file = b.dir.join("upload.env");
    let text: String = b
        .environment()
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    std::fs::write(&env_file, text).unwrap();
    let log = b.dir.join("upload.log");
    let command = fields[6]
        .replace(INSTALLED_ENV, &env_file.display().to_string())
        .replace("/var/log/tracespool-upload.log", &log.display().to_string());
    let bin_dir = Path::new(bin()).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), env["PATH"]);
    let out = Command::new(&env["SHELL"])
        .args(["-c", &command])
        .env_clear()
        .env("PATH", path)
        .env("SHELL", &env["SHELL"])
        .output()
        .unwrap();
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{logged}");
    assert_eq!(b.pending(), 0, "{logged}");
    assert_eq!(b.google.accepted_count(), 200);
    // TRACESPOOL_LOG_FORMAT=json from the environment file.
    let first = logged.lines().next().unwrap_or_default();
    assert!(
        serde_json::from_str::<serde_json::Value>(first).is_ok(),
        "{logged}"
    );
}
