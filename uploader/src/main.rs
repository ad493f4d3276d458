//! `tracespool`: upload a spool to Google Cloud Trace, and inspect it.
//!
//! Exit codes (see `docs/operations.md`):
//! * 0: done (for `upload --once`: nothing left pending; after SIGTERM/SIGINT)
//! * 1: unexpected error
//! * 69: another uploader holds the spool
//! * 75: spans remain because the network, credentials or server were not
//!   available (cron may simply try again later)
//! * 78: configuration error (bad flags, unreadable spool, not a spool, no
//!   project)

mod auth;
mod cloudtrace_model;
mod config_check;
mod convert;
mod inspect;
mod json;
mod otlp;
mod pacing;
mod policy;
mod resource_labels;
mod sink;
mod timefmt;
mod upload;
mod value_text;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tokio::sync::{watch, Notify};

/// Exit code: another uploader holds the spool.
pub const EXIT_LOCKED: u8 = 69;
/// Exit code: spans remain (offline, no credentials, server refusing).
pub const EXIT_SPANS_REMAIN: u8 = 75;
/// Exit code: configuration error.
pub const EXIT_CONFIG: u8 = 78;

/// A configuration error: exit 78.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// An error whose exit code is already decided.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Exit {
    code: u8,
    message: String,
}

#[derive(Parser, Debug)]
#[command(
    name = "tracespool",
    version,
    about = "Upload a tracespool spool to Google Cloud Trace, and inspect it",
    after_help = "Exit codes: 0 done, 1 unexpected error, 69 another uploader holds the spool, \
                  75 spans remain (offline or no credentials; try again later), 78 configuration error."
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,
    /// More logging (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Replay pending spans to Cloud Trace `traces:batchWrite`.
    Upload(UploadArgs),
    /// Summary of a spool: counts, states, drops, upload status.
    Inspect {
        /// The spool file.
        spool: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Check the whole file's integrity even when it is over 64 MiB
        /// (smaller spools are always checked).
        #[arg(long)]
        check: bool,
    },
    /// Copy every readable span of a damaged spool into a fresh spool,
    /// keep the damaged file aside, and report what was lost.
    Recover(inspect::RecoverArgs),
    /// List spans, newest first.
    Spans(inspect::SpansArgs),
    /// Show one trace as a tree.
    Trace(inspect::TraceArgs),
    /// Export spans as JSON lines or as Cloud Trace request bodies.
    Export(inspect::ExportArgs),
    /// Put quarantined spans back to pending.
    Requeue(inspect::RequeueArgs),
    /// Delete spans: quarantined ones, or older ones.
    Purge(inspect::PurgeArgs),
    /// Check credentials, token, endpoint, project, clock and spool.
    Doctor(inspect::DoctorArgs),
}

#[derive(clap::Args, Debug)]
struct UploadArgs {
    /// The spool file.
    #[arg(long)]
    spool: PathBuf,
    /// Send what is pending, then exit (for cron).
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    cloud: CloudArgs,
    /// Spans per request.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=20_000))]
    batch_size: u64,
    /// Stop after this long, e.g. `90s`, `10m` [default: 60s with --once, unlimited otherwise].
    #[arg(long, value_parser = humantime::parse_duration)]
    max_duration: Option<Duration>,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    request_timeout: Duration,
    /// Longest wait between retries.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    max_backoff: Duration,
    /// Print the exact requests (JSON lines on stdout) instead of sending
    /// them; needs no credentials and deletes nothing.
    #[arg(long)]
    dry_run: bool,
    /// Wait for another uploader to release the spool instead of exiting 69.
    #[arg(long)]
    wait_for_lock: bool,
    /// Judge Cloud Trace's 14-day window as of this RFC 3339 time instead
    /// of now. Hidden: the tests replay golden spools, recorded long ago,
    /// with it (a real Cloud Trace still refuses spans past its window).
    #[arg(long, hide = true, value_parser = humantime::parse_rfc3339)]
    as_of: Option<std::time::SystemTime>,
    /// Cloud Trace: also send the resource attributes whose key matches
    /// this regex (besides the service and the monitored-resource labels,
    /// which are always sent), e.g. `^(service\.version|deployment\.)`.
    /// (OTLP sends every resource attribute, in the resource.)
    #[arg(long, value_name = "REGEX", value_parser = parse_key_regex)]
    resource_labels: Option<regex::Regex>,
    /// Request body compression [default: gzip for otlp, none for
    /// cloudtrace].
    #[arg(long, value_enum)]
    compression: Option<sink::Compression>,
    /// Pace uploads to this rate, e.g. `64KiB/s`, `1MB/s`, `512kbit/s`,
    /// so that a backlog after an outage does not saturate a metered or
    /// shared link [default: unlimited].
    #[arg(long, value_name = "RATE", value_parser = pacing::parse_rate)]
    max_bandwidth: Option<u64>,
}

/// A `--resource-labels` regex.
pub fn parse_key_regex(s: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(s).map_err(|e| e.to_string())
}

/// Where spans go: which sink, endpoint, project and credentials (`upload`
/// and `doctor`).
#[derive(clap::Args, Debug, Clone)]
pub struct CloudArgs {
    /// The destination API: `cloudtrace` (Cloud Trace v2) or `otlp`
    /// (OTLP/HTTP protobuf: Google's Telemetry API, any OpenTelemetry
    /// Collector or OTLP backend).
    #[arg(long, value_enum, default_value_t = sink::Sink::Cloudtrace)]
    pub sink: sink::Sink,
    /// Cloud project id [default: $GOOGLE_CLOUD_PROJECT, then the credentials' project;
    /// optional for `--sink otlp --no-auth`].
    #[arg(long)]
    pub project: Option<String>,
    /// The sink's root endpoint [default: https://cloudtrace.googleapis.com for cloudtrace,
    /// https://telemetry.googleapis.com for otlp; OTLP requests go to {endpoint}/v1/traces].
    #[arg(long, env = "TRACESPOOL_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Service-account key file [default: gcp_auth's chain: $GOOGLE_APPLICATION_CREDENTIALS,
    /// gcloud application default credentials, the metadata server].
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// Send no credentials (a collector on a trusted network, or one
    /// authenticated by --header).
    #[arg(long, conflicts_with = "credentials")]
    pub no_auth: bool,
    /// An extra request header, `NAME=VALUE` (repeatable), e.g. a
    /// collector's API key. Values are never logged.
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = sink::parse_header)]
    pub headers: Vec<(String, String)>,
    /// A CA certificate (PEM) to trust besides the system roots, e.g. a
    /// collector's private CA.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

impl CloudArgs {
    /// The credential source these flags select.
    pub fn source(&self) -> auth::Source {
        match &self.credentials {
            _ if self.no_auth => auth::Source::None,
            Some(p) => auth::Source::KeyFile(p.clone()),
            None => auth::Source::Default,
        }
    }

    /// The endpoint: `--endpoint`, or the sink's.
    pub fn endpoint(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| self.sink.default_endpoint().to_owned())
    }

    /// The CA certificate is readable PEM (exit 78 otherwise).
    pub fn check_ca_cert(&self) -> anyhow::Result<()> {
        if let Some(p) = &self.ca_cert {
            sink::read_ca_certs(p).map_err(|e| ConfigError(format!("--ca-cert: {e:#}")))?;
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => EXIT_CONFIG,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.log_format, cli.verbose);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            if let Some(x) = e.downcast_ref::<Exit>() {
                eprintln!("tracespool: {}", x.message);
                return ExitCode::from(x.code);
            }
            // The whole chain, once.
            eprintln!("tracespool: {e:#}");
            let damaged = e.chain().any(|c| {
                c.downcast_ref::<tracespool_spool::SpoolError>()
                    .is_some_and(|s| s.is_corrupt())
            });
            if damaged {
                eprintln!(
                    "tracespool: the spool is damaged; `tracespool recover SPOOL` moves every readable span into a fresh spool and keeps the damaged file aside"
                );
            }
            let config = damaged
                || e.chain().any(|c| {
                    c.downcast_ref::<ConfigError>().is_some()
                        || c.downcast_ref::<tracespool_spool::OpenError>()
                            .is_some_and(is_config_open_error)
                        || matches!(
                            c.downcast_ref::<tracespool_spool::SpoolError>(),
                            Some(tracespool_spool::SpoolError::Open(o)) if is_config_open_error(o)
                        )
                });
            ExitCode::from(if config { EXIT_CONFIG } else { 1 })
        }
    }
}

/// Whether opening the spool failed for a reason the operator must fix
/// (exit 78), not SQLite trouble that may pass.
fn is_config_open_error(e: &tracespool_spool::OpenError) -> bool {
    !matches!(e, tracespool_spool::OpenError::Sqlite { .. })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(format: LogFormat, verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => b
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => b.json().init(),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.cmd {
        Cmd::Upload(a) => runtime()?.block_on(upload(a)),
        Cmd::Inspect { spool, json, check } => inspect::inspect(&spool, json, check),
        Cmd::Recover(a) => inspect::recover(a),
        Cmd::Spans(a) => inspect::spans(a),
        Cmd::Trace(a) => inspect::trace(a),
        Cmd::Export(a) => inspect::export(a),
        Cmd::Requeue(a) => inspect::requeue(a),
        Cmd::Purge(a) => inspect::purge(a),
        Cmd::Doctor(a) => runtime()?.block_on(inspect::doctor(a)),
    }
}

/// The project: `--project`, then `$GOOGLE_CLOUD_PROJECT`, then the
/// credentials'.
pub(crate) async fn resolve_project(
    flag: Option<String>,
    auth: Option<&mut auth::Auth>,
) -> anyhow::Result<String> {
    if let Some(p) = flag.filter(|p| !p.is_empty()) {
        return Ok(p);
    }
    if let Some(p) = std::env::var("GOOGLE_CLOUD_PROJECT")
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok(p);
    }
    if let Some(auth) = auth {
        if let Ok(p) = auth.project_id().await {
            return Ok(p);
        }
    }
    Err(ConfigError(
        "no project: pass --project, set GOOGLE_CLOUD_PROJECT, or use credentials that name one"
            .into(),
    )
    .into())
}

/// Refuses at once what cannot be a spool: a missing or empty file, a
/// directory, a device (exit 78, nothing created, not even the lock file).
fn check_spool_path(spool: &Path) -> anyhow::Result<()> {
    tracespool_spool::check_spool_path(spool).context("open the spool")?;
    Ok(())
}

async fn upload(a: UploadArgs) -> anyhow::Result<u8> {
    use tracespool_spool::UploaderLock;
    check_spool_path(&a.spool)?;
    // Mistakes exit 78 now, before any traffic, even with nothing pending.
    let endpoint = a.cloud.endpoint();
    config_check::check_endpoint(&endpoint)?;
    a.cloud.check_ca_cert()?;
    if !a.dry_run && !a.cloud.no_auth {
        config_check::check_credentials(a.cloud.credentials.as_deref())?;
    }
    let mut auth = auth::Auth::new(a.cloud.source());
    let optional_project = a.cloud.sink == sink::Sink::Otlp && a.cloud.no_auth;
    let project = if optional_project {
        // A collector needs no project; with one, spans carry gcp.project_id.
        resolve_project(a.cloud.project.clone(), None)
            .await
            .unwrap_or_default()
    } else if a.dry_run {
        resolve_project(a.cloud.project.clone(), None).await?
    } else {
        // A missing credential is not a configuration error when the project
        // is known: it may appear later (exit 75 then).
        match resolve_project(a.cloud.project.clone(), None).await {
            Ok(p) => p,
            Err(_) => resolve_project(None, Some(&mut auth)).await?,
        }
    };
    if !project.is_empty() {
        config_check::check_project_id(&project)?;
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        tracing::info!("stopping: finishing the request in flight");
        let _ = shutdown_tx.send(true);
    });

    let _lock = if a.dry_run {
        None
    } else {
        match UploaderLock::try_acquire(&a.spool).context("take the uploader lock")? {
            Some(l) => Some(l),
            None if a.wait_for_lock => {
                tracing::info!(spool = %a.spool.display(), "another uploader holds the spool; waiting");
                let path = a.spool.clone();
                let mut sd = shutdown_rx.clone();
                tokio::select! {
                    l = tokio::task::spawn_blocking(move || UploaderLock::acquire(&path)) => {
                        Some(l.context("wait for the uploader lock")??)
                    }
                    _ = sd.changed() => return Ok(0),
                }
            }
            None => {
                return Err(Exit {
                    code: EXIT_LOCKED,
                    message: format!(
                        "{}: another uploader is working on this spool (lock {}); exiting",
                        a.spool.display(),
                        tracespool_spool::lock_path(&a.spool).display()
                    ),
                }
                .into())
            }
        }
    };

    let wake = Arc::new(Notify::new());
    let _watcher = if a.once || a.dry_run {
        None
    } else {
        watch_spool(&a.spool, wake.clone())
    };
    let cfg = upload::UploadConfig {
        spool: a.spool.clone(),
        once: a.once,
        project,
        sink: a.cloud.sink,
        endpoint,
        compression: a
            .compression
            .unwrap_or_else(|| a.cloud.sink.default_compression()),
        headers: a.cloud.headers.clone(),
        ca_cert: a.cloud.ca_cert.clone(),
        batch_size: a.batch_size as usize,
        max_duration: a.max_duration.or(a.once.then_some(Duration::from_secs(60))),
        dry_run: a.dry_run,
        request_timeout: a.request_timeout,
        max_backoff: a.max_backoff,
        resource_labels: a.resource_labels.clone(),
        max_bandwidth: a.max_bandwidth,
        expiry_as_of_ns: a.as_of.map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        }),
    };
    tracing::info!(spool = %cfg.spool.display(), sink = cfg.sink.name(), project = %cfg.project,
        endpoint = %cfg.endpoint, compression = ?cfg.compression,
        credentials = %auth.source().describe(), once = cfg.once, "uploading");
    let mut up = upload::Uploader::new(cfg, auth, shutdown_rx, wake)?;
    let outcome = up.run().await?;
    let s = up.stats;
    tracing::info!(
        uploaded = s.uploaded,
        quarantined = s.quarantined,
        expired = s.expired,
        retries = s.retries,
        possible_duplicates = s.possible_duplicates,
        requests = s.requests,
        bytes_sent = s.bytes_sent,
        rejected_by_server = s.rejected_by_server,
        "upload finished"
    );
    Ok(match outcome {
        upload::Outcome::Delivered | upload::Outcome::Interrupted => 0,
        upload::Outcome::SpansRemain { pending, reason } => {
            tracing::warn!(pending, %reason, "spans remain in the spool; try again later");
            EXIT_SPANS_REMAIN
        }
    })
}

/// Watches the spool's directory; every change of the spool or its WAL
/// wakes the uploader. `None` (polling only) if watching is unavailable.
fn watch_spool(spool: &Path, wake: Arc<Notify>) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let name = spool.file_name()?.to_os_string();
    let dir = match spool.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let handler = move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev {
            let ours = ev.paths.iter().any(|p| {
                p.file_name()
                    .is_some_and(|f| f.as_encoded_bytes().starts_with(name.as_encoded_bytes()))
            });
            if ours {
                wake.notify_one();
            }
        }
    };
    match notify::recommended_watcher(handler) {
        Ok(mut w) => match w.watch(&dir, RecursiveMode::NonRecursive) {
            Ok(()) => Some(w),
            Err(e) => {
                tracing::info!(error = %e, "file watching unavailable; polling the spool every second");
                None
            }
        },
        Err(e) => {
            tracing::info!(error = %e, "file watching unavailable; polling the spool every second");
            None
        }
    }
}
