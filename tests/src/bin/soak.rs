//! The kill soak: recorders and an uploader on one spool, each killed with
//! SIGKILL over and over at random moments, then a count. Every span a
//! recorder confirmed (its flush returned) must reach the stand-in;
//! duplicates are counted against their bound (one batch per uploader
//! kill).
//!
//! ```sh
//! cargo build --release --bins -p tracespool-tests -p tracespool-uploader
//! target/release/soak --kills 100        # 50 recorder and 50 uploader kills
//! ```
//!
//! Loopback only: the stand-in and its OAuth endpoint run in this process.
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracespool_tests::standin::StandIn;
use tracespool_tests::{test_account, write_key_file};

fn exe(name: &str) -> PathBuf {
    let dir = std::env::current_exe().unwrap();
    dir.parent().unwrap().join(name)
}

struct Recorder {
    child: Child,
}

fn start_recorder(spool: &Path, run: i64, confirmed: &Arc<Mutex<HashMap<i64, i64>>>) -> Recorder {
    let mut child = Command::new(exe("spool-child"))
        .args(["crash"])
        .arg(spool)
        .arg(run.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spool-child (build it with --bins)");
    let out = child.stdout.take().unwrap();
    let c = confirmed.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if let Some(n) = line.strip_prefix("confirmed ").and_then(|n| n.parse().ok()) {
                c.lock().unwrap().insert(run, n);
            }
        }
    });
    Recorder { child }
}

fn start_uploader(spool: &Path, s: &StandIn, key: &Path) -> Child {
    Command::new(exe("tracespool"))
        .args(["upload", "--batch-size", "500", "--spool"])
        .arg(spool)
        .args(["--endpoint", &s.endpoint(), "--credentials"])
        .arg(key)
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .stderr(Stdio::null())
        .spawn()
        .expect("tracespool (build it with --bins)")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        None => {}
        Some("-h" | "--help") => {
            println!(
                "The kill soak: recorders and an uploader on one spool, killed over and over.\n\n\
                 usage: soak [--kills N]   (default 20; half recorder, half uploader kills)"
            );
            return;
        }
        Some("--kills") if args.len() == 3 && args[2].parse::<u32>().is_ok() => {}
        Some(_) => {
            eprintln!("soak: usage: soak [--kills N]");
            std::process::exit(2)
        }
    }
    let kills: u32 = args
        .iter()
        .position(|a| a == "--kills")
        .and_then(|i| args.get(i + 1))
        .and_then(|k| k.parse().ok())
        .unwrap_or(20);
    let dir = tempfile_dir();
    let spool = dir.join("soak.spool");
    let s = StandIn::start(0, test_account(), 2).unwrap();
    s.count_accepted_by("run", "seq");
    let key = write_key_file(&dir, &s, "soak-project");
    let confirmed = Arc::new(Mutex::new(HashMap::new()));
    let started = Instant::now();

    let mut run = 1;
    let mut rec = start_recorder(&spool, run, &confirmed);
    let mut up = start_uploader(&spool, &s, &key);
    let (mut recorder_kills, mut uploader_kills) = (0u64, 0u64);
    for k in 0..kills {
        std::thread::sleep(Duration::from_millis(100 + u64::from(fastrand_u32() % 400)));
        if k % 2 == 0 {
            let _ = rec.child.kill();
            let _ = rec.child.wait();
            recorder_kills += 1;
            run += 1;
            rec = start_recorder(&spool, run, &confirmed);
        } else {
            let _ = up.kill();
            let _ = up.wait();
            uploader_kills += 1;
            up = start_uploader(&spool, &s, &key);
        }
    }
    let _ = rec.child.kill();
    let _ = rec.child.wait();
    let _ = up.kill();
    let _ = up.wait();
    // Drain what is left.
    let out = Command::new(exe("tracespool"))
        .args(["upload", "--once", "--max-duration", "300s", "--spool"])
        .arg(&spool)
        .args(["--endpoint", &s.endpoint(), "--credentials"])
        .arg(&key)
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .output()
        .unwrap();
    let drained = out.status.code() == Some(0);

    // Count: (run, seq) of every accepted span.
    let seen = s.accepted_counts();
    let confirmed = confirmed.lock().unwrap().clone();
    let mut expected = 0u64;
    let mut missing = 0u64;
    for (run, upto) in &confirmed {
        for seq in 1..=*upto {
            expected += 1;
            if !seen.contains_key(&(*run, seq)) {
                missing += 1;
            }
        }
    }
    let duplicates: u64 = seen.values().map(|n| u64::from(n - 1)).sum();
    let runs: HashSet<i64> = seen.keys().map(|(r, _)| *r).collect();
    println!(
        "soak: {recorder_kills} recorder kills, {uploader_kills} uploader kills, {} s; \
         {expected} confirmed spans, {missing} missing; {} spans arrived from {} recorder runs; \
         {duplicates} duplicates (bound: {} = uploader kills x 500); final drain {}",
        started.elapsed().as_secs(),
        seen.len(),
        runs.len(),
        uploader_kills * 500,
        if drained { "ok" } else { "FAILED" }
    );
    let ok = missing == 0 && drained && duplicates <= uploader_kills * 500;
    let _ = std::fs::remove_dir_all(&dir);
    std::process::exit(if ok { 0 } else { 1 });
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("tracespool-soak-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fastrand_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now()) as u32
}
