//! Runs the Cloud Trace stand-in and its OAuth token endpoint on 127.0.0.1
//! until killed, for trying tracespool without a Google account:
//!
//! ```text
//! cargo run -p tracespool-tests --bin cloudtrace-standin -- --port 8085 --key-file /tmp/key.json
//! tracespool upload --spool demo.spool --once --endpoint http://127.0.0.1:8085 --credentials /tmp/key.json
//! ```
//!
//! It writes a service-account key file whose `token_uri` points at itself,
//! validates every request as Cloud Trace documents it (and, on
//! `/v1/traces`, as Google's Telemetry API does for OTLP: `tracespool
//! upload --sink otlp --endpoint http://127.0.0.1:8085 ...`), and prints a
//! line for each accepted or rejected request.
use std::time::Duration;

fn main() {
    let mut port = 8085u16;
    let mut key_file = std::path::PathBuf::from("standin-key.json");
    let mut project = "standin-project".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--key-file" => key_file = args.next().unwrap_or_else(|| usage()).into(),
            "--project" => project = args.next().unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    let account = tracespool_tests::standin::ServiceAccount::generate();
    let s = tracespool_tests::standin::StandIn::start(port, account, 2).unwrap_or_else(|e| {
        eprintln!("cloudtrace-standin: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1)
    });
    let dir = key_file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let written = tracespool_tests::write_key_file(dir, &s, &project);
    if written != key_file {
        std::fs::rename(&written, &key_file).expect("place the key file");
    }
    println!(
        "cloudtrace-standin: endpoint {} project {project} key file {}",
        s.endpoint(),
        key_file.display()
    );
    let (mut seen, mut rejected) = (0, 0);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let (n, r) = (s.accepted_count(), s.rejections().len());
        if n != seen || r != rejected {
            println!(
                "cloudtrace-standin: {n} spans accepted, {r} requests rejected, {} requests",
                s.requests()
            );
            if let Some(last) = s.rejections().last() {
                if r != rejected {
                    println!("cloudtrace-standin: last rejection: {last}");
                }
            }
            (seen, rejected) = (n, r);
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: cloudtrace-standin [--port PORT] [--key-file PATH] [--project ID]");
    std::process::exit(2)
}
