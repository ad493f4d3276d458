//! `tracespool doctor`: credentials, token, endpoint, project, clock and spool.
//!
//! The endpoint is checked as the destination says ([`Probe`]): Cloud
//! Trace's by any HTTP answer to a `GET`; OTLP's by posting an empty
//! `ExportTraceServiceRequest` to `{endpoint}/v1/traces` with the upload's
//! headers and credentials, a valid request that stores nothing, so a 2xx
//! proves the URL, TLS (`--ca-cert`), the headers, the token and the
//! project header together.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tracespool_spool::{lock_path, now_ns, SpoolReader, UploaderLock};

use crate::auth::{Auth, SCOPE};
use crate::cli::cloud::CloudArgs;
use crate::cli::project::resolve_project;
use crate::compression::Compression;
use crate::destination::Probe;
use crate::timefmt::rfc3339_secs;

/// Arguments of `tracespool doctor`.
#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Also check this spool.
    #[arg(long)]
    spool: Option<PathBuf>,
    #[command(flatten)]
    cloud: CloudArgs,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
    fix: Option<String>,
}

/// `tracespool doctor`: exits 0 when every check passes, 1 otherwise.
pub async fn doctor(a: DoctorArgs) -> anyhow::Result<u8> {
    let mut checks = Vec::new();
    let source = a.cloud.source();
    let dest = a.cloud.resolve()?;
    let client = crate::http::http_client(Duration::from_secs(10), dest.ca_cert.as_deref())?;
    checks.push(Check {
        name: "tls",
        ok: true,
        detail: format!(
            "trusting {}{}",
            crate::http::roots(),
            match &dest.ca_cert {
                Some(p) => format!(" and {}", p.display()),
                None => String::new(),
            }
        ),
        fix: None,
    });
    let mut auth = Auth::new(source.clone(), client.clone());
    let token = auth.token_if_enabled().await;
    checks.push(Check {
        name: "credentials",
        ok: token.is_ok(),
        detail: match &token {
            Ok(_) if !auth.is_enabled() => "off (--no-auth): requests carry no token".into(),
            Ok(_) => format!("a token for {} was obtained from {}", SCOPE, source.describe()),
            Err(e) => e.to_string(),
        },
        fix: token.is_err().then(|| {
            "pass --credentials KEY.json or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key \
             with roles/cloudtrace.agent; check the key's token_uri is reachable"
                .to_string()
        }),
    });
    let project = resolve_project(a.cloud.project.clone(), Some(&mut auth)).await;
    let project_optional = !a.cloud.needs_project();
    checks.push(Check {
        name: "project",
        ok: project.is_ok() || project_optional,
        detail: match &project {
            Ok(p) => format!("project {p}"),
            Err(_) if project_optional => {
                "none (not needed by a collector without credentials)".into()
            }
            Err(e) => e.to_string(),
        },
        fix: (project.is_err() && !project_optional)
            .then(|| "pass --project or set GOOGLE_CLOUD_PROJECT".into()),
    });
    let endpoint = dest.endpoint.clone();
    let sink = a.cloud.sink;
    let probe = sink.probe();
    let (answer, target) = match probe {
        Probe::AnyAnswer => (client.get(&endpoint).send().await, endpoint.clone()),
        Probe::EmptyRequest => {
            let project = project.as_deref().unwrap_or("");
            let url = dest
                .traces_url
                .clone()
                .unwrap_or_else(|| sink.url(&endpoint, project));
            // The upload's headers, uncompressed (an empty body).
            let headers = crate::http::request_headers(
                sink,
                Compression::None,
                project,
                auth.is_enabled(),
                &dest.headers,
            )?;
            let mut req = client.post(&url).headers(headers);
            if let (Ok(t), true) = (&token, auth.is_enabled()) {
                req = req.bearer_auth(t);
            }
            (req.body(Vec::new()).send().await, url)
        }
    };
    let refused =
        probe == Probe::EmptyRequest && answer.as_ref().is_ok_and(|r| !r.status().is_success());
    let server_date = answer.as_ref().ok().and_then(|r| {
        r.headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    checks.push(Check {
        name: "endpoint",
        ok: answer.is_ok() && !refused,
        detail: match &answer {
            Ok(r) => format!("{target} answered HTTP {}", r.status().as_u16()),
            Err(e) => format!("{target}: {}", crate::http::error_chain(e)),
        },
        fix: if answer.is_err() {
            Some("check the network, proxy, firewall and --ca-cert; spans wait in the spool meanwhile".into())
        } else if refused {
            Some(format!(
                "an empty {0} request was refused: {1} (or --no-auth); is the endpoint an {0} receiver?",
                sink.display_name(),
                sink.config_hint()
            ))
        } else {
            None
        },
    });
    let now_s = now_ns() / 1_000_000_000;
    let skew = server_date
        .as_deref()
        .and_then(|d| crate::answer::clock_skew_secs(d, now_s));
    let plausible = now_s > 1_700_000_000;
    let clock_ok = plausible && skew.is_none_or(|s| s.abs() < 300);
    checks.push(Check {
        name: "clock",
        ok: clock_ok,
        detail: match skew {
            Some(s) => format!(
                "local time {}, {} the server's ({s:+} s)",
                rfc3339_secs(now_ns()),
                skew_text(s)
            ),
            None => format!("local time {} (no server time to compare)", rfc3339_secs(now_ns())),
        },
        fix: (!clock_ok).then(|| "synchronise the clock (NTP): Cloud Trace rejects spans over 14 days old or 3 days ahead".into()),
    });
    if let Some(spool) = &a.spool {
        let ro = SpoolReader::open_read_only(spool);
        // Asked of the kernel (`faccessat` with the effective ids): group
        // and other permission bits, root, and read-only mounts all count.
        // Not by opening the file, which would drop SQLite's locks.
        let writable_path = |p: &Path| {
            use rustix::fs::{accessat, Access, AtFlags, CWD};
            accessat(CWD, p, Access::WRITE_OK, AtFlags::EACCESS).is_ok()
        };
        let dir = match spool.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let writable = ro.is_ok() && writable_path(spool) && writable_path(dir);
        checks.push(Check {
            name: "spool",
            ok: writable,
            detail: match &ro {
                Ok(r) => format!(
                    "{}: {} pending, {} quarantined; {}; uploader lock {} {}",
                    spool.display(),
                    r.totals().map(|t| t.pending_rows).unwrap_or(0),
                    r.totals().map(|t| t.quarantined_rows).unwrap_or(0),
                    if writable { "writable" } else { "NOT writable" },
                    lock_path(spool).display(),
                    if UploaderLock::is_held(spool).unwrap_or(false) { "held" } else { "free" },
                ),
                Err(e) => e.to_string(),
            },
            fix: (!writable).then(|| "the recorder's user needs write access to the spool file and its directory (for -wal and -shm)".into()),
        });
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    let mut out = std::io::stdout().lock();
    if a.json {
        let v: Vec<Value> = checks
            .iter()
            .map(|c| json!({"check": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix}))
            .collect();
        serde_json::to_writer_pretty(&mut out, &json!({"ok": failed == 0, "checks": v}))?;
        writeln!(out)?;
    } else {
        for c in &checks {
            writeln!(
                out,
                "{} {:<12} {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            )?;
            if let Some(f) = &c.fix {
                writeln!(out, "     {:<12} fix: {f}", "")?;
            }
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

/// `2 h 0 min ahead of`, `3 s behind`, `in step with`.
fn skew_text(s: i64) -> String {
    let a = s.unsigned_abs();
    let amount = if a >= 3600 {
        format!("{} h {} min", a / 3600, a % 3600 / 60)
    } else if a >= 60 {
        format!("{} min {} s", a / 60, a % 60)
    } else {
        format!("{a} s")
    };
    match s {
        0 => "in step with".into(),
        s if s > 0 => format!("{amount} ahead of"),
        _ => format!("{amount} behind"),
    }
}
